"""Saving and loading results as ``.npz`` plus a JSON sidecar.

A result is a dict of numpy arrays and a dict of JSON-serialisable metadata.
The metadata is stored twice: inside the ``.npz`` (as a JSON string, so the
``.npz`` alone is complete) and beside it in ``<stem>.json`` for people and
tools that want to read parameters without numpy. Loading never unpickles.
Writes go to a temporary file in the same directory and are renamed into place,
so an interrupted save never leaves a half-written result.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

import numpy as np

from ._version import __version__
from .errors import ResultFileError

__all__ = ["save_result", "load_result", "atomic_write", "atomic_write_bytes", "atomic_write_text", "provenance"]

_META_KEY = "__aievo_meta__"


def provenance() -> dict[str, Any]:
    """Package version and UTC timestamp, for a result's metadata."""
    return {
        "aievo_version": __version__,
        "numpy_version": np.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _npz_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p if p.suffix == ".npz" else p.with_name(p.name + ".npz")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it into place.

    An interruption leaves either the old file or the new one, never a
    half-written one. The file gets the usual permissions (``0666`` less the
    umask), not ``mkstemp``'s ``0600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        return path
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename)."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_result(
    path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> Path:
    """Save arrays and metadata as ``<path>.npz`` with a ``<stem>.json`` sidecar.

    Parameters
    ----------
    path : str or path-like
        Target file; ``.npz`` is appended when missing.
    arrays : mapping of str to array_like
        Numeric arrays. Object arrays are refused.
    meta : mapping
        JSON-serialisable metadata; provenance (version, timestamp) is added.

    Returns
    -------
    pathlib.Path
        The ``.npz`` path written.
    """
    npz = _npz_path(path)
    full_meta = {**dict(meta), "provenance": provenance()}
    try:
        meta_text = json.dumps(full_meta, indent=2, sort_keys=True, allow_nan=True)
    except TypeError as exc:
        raise ResultFileError(f"meta is not JSON-serialisable: {exc}") from exc
    payload = {}
    for key, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise ResultFileError(f"array {key!r} has dtype object; expected a numeric array")
        payload[key] = arr
    payload[_META_KEY] = np.array(meta_text)
    # The sidecar first, the npz (the source of truth) last.
    atomic_write_text(npz.with_suffix(".json"), meta_text + "\n")
    atomic_write(npz, lambda fh: np.savez_compressed(fh, **payload))
    return npz


def load_result(
    path: str | os.PathLike, kind: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load arrays and metadata written by :func:`save_result`.

    Never unpickles: object arrays in the file raise :class:`ResultFileError`.
    With ``kind``, a file whose metadata names another kind is refused.
    """
    npz = _npz_path(path)
    if not npz.exists():
        raise ResultFileError(f"path={str(npz)!r} does not exist: expected an aievo .npz result")
    if not zipfile.is_zipfile(npz):
        raise ResultFileError(f"{npz} is not a readable .npz file: expected a zip archive")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        raise ResultFileError(f"{npz} holds pickled objects; aievo never loads those") from exc
    except Exception as exc:  # zipfile.BadZipFile, OSError, ...
        raise ResultFileError(f"{npz} is not a readable .npz file: {exc}") from exc
    if _META_KEY not in arrays:
        raise ResultFileError(f"{npz} has no aievo metadata: expected a file written by aievo")
    meta = json.loads(str(arrays.pop(_META_KEY)))
    if kind is not None and meta.get("kind") != kind:
        raise ResultFileError(f"{npz} holds {meta.get('kind')!r}: expected an {kind}")
    return arrays, meta
