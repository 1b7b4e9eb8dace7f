"""Saving and loading results: one ``.npz`` that holds its own metadata.

A result is a dict of numpy arrays and a dict of JSON-serialisable metadata.
The ``.npz`` is the only source of truth: the metadata lives inside it (as a
JSON string under the reserved key ``__aievo_meta__``), so arrays and metadata
can never disagree. Beside it, ``<stem>.json`` is a convenience copy for
people and tools that want the parameters without numpy; it is removed before
the ``.npz`` is replaced and written after it (with the ``.npz``'s SHA-256), and
aievo never reads it back.

Every write goes to a temporary file in the target's directory, is flushed and
fsync'ed, and is renamed into place (``os.replace``): an interruption leaves the
old file or the new one, never a half-written one. A temporary file is removed
when its write fails; one left by a killed process (its name carries the
writer's pid) is removed by the next write to the same target. An unwritable
or invalid path raises :class:`~aievo.errors.ResultFileError`.

Loading never unpickles, and is bounded in memory and time: only a regular
file is opened, every member's declared array size is checked against the
member's size and the memory available before anything is read, and the
metadata must be a JSON object of bounded size and depth with the keys the
reader needs. Anything else is a :class:`~aievo.errors.ResultFileError`.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._version import __version__
from .errors import ResultFileError, bad_argument

__all__ = [
    "save_result",
    "load_result",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_savefig",
    "provenance",
    "RESERVED_KEY",
]

#: The array name under which the metadata is stored; refused as a result key.
RESERVED_KEY = "__aievo_meta__"
_META_KEY = RESERVED_KEY
#: Largest metadata text accepted when loading (characters).
MAX_META_CHARS = 16 * 2**20
#: Deepest nesting of lists/objects accepted in loaded metadata.
MAX_META_DEPTH = 64


#: Distributions whose versions every result records (those installed).
CORE_DEPENDENCIES = ("numpy", "scipy", "numba", "llvmlite")
#: Optional dependencies recorded when the process has imported them (they took part in the result).
OPTIONAL_DEPENDENCIES = {
    "matplotlib": "matplotlib", "networkx": "networkx", "sklearn": "scikit-learn", "jax": "jax",
    "jaxlib": "jaxlib", "optax": "optax", "equinox": "equinox", "mpmath": "mpmath", "dask": "dask",
    "xarray": "xarray", "pandas": "pandas",
}


@functools.cache
def _version(distribution: str) -> str | None:
    """Installed version of a distribution (looked up once per process), or None."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def _platform() -> dict[str, str]:
    import platform

    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def _dependency_versions() -> dict[str, str]:
    names = list(CORE_DEPENDENCIES) + [d for m, d in OPTIONAL_DEPENDENCIES.items() if m in sys.modules]
    versions = {name: _version(name) for name in names}
    return {name: v for name, v in versions.items() if v is not None}


def provenance() -> dict[str, Any]:
    """What made a result, for its metadata: versions, platform, command line and UTC time.

    Returns
    -------
    dict
        ``aievo_version``, ``numpy_version``, ``created`` (UTC, ISO 8601),
        ``python`` (version and implementation), ``platform`` (OS, release,
        machine), ``dependencies`` (name -> version of numpy, scipy, numba,
        llvmlite, and of the optional libraries this process has imported) and
        ``argv`` (``sys.argv``: the command line that ran).
    """
    return {
        "aievo_version": __version__,
        "numpy_version": np.__version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **_platform(),
        "dependencies": _dependency_versions(),
        "argv": [str(a) for a in sys.argv],
    }


def _check_path(path: Any, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise bad_argument(ResultFileError, name, path, "a file path (str or path-like)")
    try:
        text = os.fspath(path)
    except TypeError:
        raise bad_argument(ResultFileError, name, path, "a file path (str or path-like)") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text or "\x00" in text or Path(text).name in ("", ".", ".."):
        raise bad_argument(ResultFileError, name, text, "a non-empty file path without NUL bytes")
    return Path(text)


def _npz_path(path: str | os.PathLike) -> Path:
    p = _check_path(path)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _temp_prefix(path: Path) -> str:
    # bounded, so that a long target name still leaves room for the suffix
    return f".{path.name[:80]}."


_TMP_RE = re.compile(r"\.(\d+)\.[^.]+\.tmp$")


def _remove_orphans(path: Path) -> None:
    """Delete temporaries of ``path`` left by writers that no longer run."""
    prefix = _temp_prefix(path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix) or not name.endswith(".tmp"):
            continue
        m = _TMP_RE.search(name[len(prefix) - 1:])
        if m is None or _pid_alive(int(m.group(1))):
            continue
        try:
            os.unlink(path.parent / name)
        except OSError:
            pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it into place.

    An interruption leaves either the old file or the new one, never a
    half-written one; the temporary file is removed on failure (and, if the
    process is killed, by the next write to ``path``). The file gets the usual
    permissions (``0666`` less the umask), not ``mkstemp``'s ``0600``.

    Raises
    ------
    ResultFileError
        When ``path`` is invalid or cannot be written (a directory, a read-only
        file system, a name too long, a full disk, ...).
    """
    path = _check_path(path)
    try:
        if path.is_dir():
            raise bad_argument(ResultFileError, "path", str(path), "a file path (this is a directory)")
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ResultFileError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return path
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, ResultFileError):
            raise ResultFileError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, then rename)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_savefig(fig: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """``fig.savefig`` to ``path`` atomically; the format comes from the suffix unless given."""
    p = _check_path(path)
    fmt = kwargs.pop("format", None) or (p.suffix[1:].lower() or "png")
    return atomic_write(p, lambda fh: fig.savefig(fh, format=fmt, **kwargs))


def save_result(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> Path:
    """Save arrays and metadata as ``<path>.npz`` (metadata inside), then a ``<stem>.json`` copy.

    Parameters
    ----------
    path : str or path-like
        Target file; ``.npz`` is appended when missing.
    arrays : mapping of str to array_like
        Numeric or string arrays. Object arrays, non-string keys and the
        reserved keys ``"__aievo_meta__"``, ``"file"`` and ``"allow_pickle"``
        (names :func:`numpy.savez_compressed` takes as its own arguments) are refused.
    meta : mapping
        JSON-serialisable metadata; :func:`provenance` is added. Key order
        is kept (a recorded scenario keeps the order of its tables' keys).

    Returns
    -------
    pathlib.Path
        The ``.npz`` path written.

    Raises
    ------
    ResultFileError
        For unstorable arrays or metadata, or a path that cannot be written.
        The previous result at ``path``, if any, is then left unchanged.
    """
    npz = _npz_path(path)
    if not isinstance(meta, Mapping):
        raise bad_argument(ResultFileError, "meta", meta, "a mapping of JSON-serialisable metadata")
    if not isinstance(arrays, Mapping):
        raise bad_argument(ResultFileError, "arrays", arrays, "a mapping of name -> array")
    full_meta = {**dict(meta), "provenance": provenance()}
    try:
        meta_text = json.dumps(full_meta, indent=2, allow_nan=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ResultFileError(f"meta is not JSON-serialisable: {exc}") from exc
    payload: dict[str, Any] = {}
    for key, value in arrays.items():
        # "file" and "allow_pickle" would be taken by np.savez_compressed as its own arguments
        if not isinstance(key, str) or key in ("", RESERVED_KEY, "file", "allow_pickle") or "/" in key or "\x00" in key:
            raise bad_argument(
                ResultFileError, "array name", key,
                f"a non-empty str without '/' other than the reserved {RESERVED_KEY!r}, 'file' and 'allow_pickle'",
            )
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise bad_argument(ResultFileError, f"array {key!r}", value, f"an array ({exc})") from None
        if arr.dtype == object:
            raise ResultFileError(f"array {key!r} has dtype object; expected a numeric array")
        payload[key] = arr
    payload[RESERVED_KEY] = np.array(meta_text)
    side = npz.with_suffix(".json")
    # The sidecar is only a copy: remove the old one first, so a reader never
    # sees a sidecar describing another version of the .npz, then write the
    # .npz (the source of truth), then the new copy.
    try:
        side.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ResultFileError(f"cannot write {str(side)!r}: {exc.strerror or exc}") from None
    atomic_write(npz, lambda fh: np.savez_compressed(fh, **payload))
    digest = _sha256(npz)
    side_doc = json.dumps({**full_meta, "npz_file": npz.name, "npz_sha256": digest}, indent=2,
                          allow_nan=True)
    try:
        atomic_write_text(side, side_doc + "\n")
    except ResultFileError as exc:
        raise ResultFileError(
            f"{npz} was saved completely, but its convenience copy {side.name} could not be written: {exc}"
        ) from exc
    return npz


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping at ``limit + 1`` (iterative: no recursion)."""
    stack = [(obj, 1)]
    deepest = 0
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def _nesting_of_text(text: str) -> int:
    """Upper bound on the bracket nesting of a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _parse_meta(text: str, where: Path) -> dict[str, Any]:
    if len(text) > MAX_META_CHARS:
        raise ResultFileError(f"{where}: metadata of {len(text)} characters: expected at most {MAX_META_CHARS}")
    if _nesting_of_text(text) > MAX_META_DEPTH:
        raise ResultFileError(f"{where}: metadata nested deeper than {MAX_META_DEPTH} levels: not aievo metadata")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ResultFileError(f"{where}: metadata is not valid JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise ResultFileError(f"{where}: metadata is a JSON {type(meta).__name__}: expected a JSON object")
    if _depth(meta, MAX_META_DEPTH) > MAX_META_DEPTH:  # pragma: no cover - caught by the text scan
        raise ResultFileError(f"{where}: metadata nested deeper than {MAX_META_DEPTH} levels")
    return meta


def _check_members(zf: zipfile.ZipFile, where: Path) -> None:
    """Refuse members whose declared sizes could not be read within memory."""
    from ._validate import available_memory

    limit = available_memory() // 2
    total = 0
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            raise ResultFileError(f"{where}: member {info.filename!r} is not a .npy array: not an aievo result")
        total += info.file_size
        if total > limit:
            raise ResultFileError(
                f"{where}: its arrays declare {total} bytes, more than half the available memory ({limit} bytes)"
            )
        with zf.open(info) as fh:
            try:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
                raise ResultFileError(f"{where}: member {info.filename!r} is not a readable array ({exc})") from None
        if dtype.hasobject:
            raise ResultFileError(f"{where} holds pickled objects; aievo never loads those")
        count = 1
        for s in shape:
            count *= int(s)
        if count * dtype.itemsize > info.file_size:
            raise ResultFileError(
                f"{where}: member {info.filename!r} declares {count * dtype.itemsize} bytes of data "
                f"in a member of {info.file_size} bytes: the file is damaged or tampered with"
            )


def load_result(
    path: str | os.PathLike,
    kind: str | None = None,
    *,
    arrays_required: Iterable[str] = (),
    meta_required: Iterable[str] = (),
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load arrays and metadata written by :func:`save_result`.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` (the suffix may be omitted). The JSON sidecar is not read.
    kind : str, optional
        Refuse a file whose metadata names another ``kind``.
    arrays_required, meta_required : iterable of str
        Array names and metadata keys the caller needs; a file missing one is refused.

    Raises
    ------
    ResultFileError
        If the path is not a regular file, not a zip of ``.npy`` arrays, holds
        pickled objects, declares more data than it holds or than memory allows,
        or its metadata is missing, not a JSON object, too large or too deeply
        nested, of another kind, or lacks a required key.
    """
    npz = _npz_path(path)
    if kind is not None and not isinstance(kind, str):
        raise bad_argument(ResultFileError, "kind", kind, "None or the kind of result expected (a str)")
    try:
        st = npz.stat()
    except FileNotFoundError:
        raise ResultFileError(f"path={str(npz)!r} does not exist: expected an aievo .npz result") from None
    except OSError as exc:
        raise ResultFileError(f"cannot read {str(npz)!r}: {exc.strerror or exc}") from None
    import stat as _stat

    if not _stat.S_ISREG(st.st_mode):
        raise ResultFileError(f"{npz} is not a regular file: expected an aievo .npz result")
    try:
        with open(npz, "rb") as fh:
            with zipfile.ZipFile(fh) as zf:
                _check_members(zf, npz)
            fh.seek(0)
            with np.load(fh, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
    except ResultFileError:
        raise
    except ValueError as exc:
        raise ResultFileError(f"{npz} holds pickled objects or damaged arrays; aievo never loads pickles ({exc})") \
            from None
    except Exception as exc:  # zipfile.BadZipFile, OSError, EOFError, zlib.error ...
        raise ResultFileError(f"{npz} is not a readable .npz file: {type(exc).__name__}: {exc}") from None
    if RESERVED_KEY not in arrays:
        raise ResultFileError(f"{npz} has no aievo metadata: expected a file written by aievo")
    raw = arrays.pop(RESERVED_KEY)
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise ResultFileError(f"{npz}: metadata is a {raw.dtype} array of shape {raw.shape}: expected a JSON string")
    meta = _parse_meta(str(raw), npz)
    if kind is not None and meta.get("kind") != kind:
        raise ResultFileError(f"{npz} holds {meta.get('kind')!r}: expected an {kind}")
    missing = [k for k in meta_required if k not in meta] + [k for k in arrays_required if k not in arrays]
    if missing:
        raise ResultFileError(f"{npz} lacks {missing}: expected a complete {kind or 'aievo result'}")
    return arrays, meta
