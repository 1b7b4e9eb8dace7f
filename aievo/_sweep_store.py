"""The on-disk layout of a parameter sweep (private; used by :mod:`aievo.sweep`).

A sweep directory holds::

    sweep.json                  the fingerprint (function, grid, seed) and provenance
    index.json                  a summary of every cell, rebuilt from the files below
    cells/cell-000012.npz       a finished cell: arrays + metadata (aievo.io format)
    cells/cell-000012.json      its JSON sidecar
    cells/cell-000012.value.*   the file(s) an object result wrote with ``.save`` (if any)
    failures/cell-000012.json   the last failure of an unfinished cell, with its traceback

A cell is finished exactly when ``cells/cell-NNNNNN.npz`` exists; it is written
last and atomically, so a crash at any moment leaves either a finished cell or
none. ``index.json`` is derived data: aievo never reads it back, it rebuilds it
from the directory listing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidParameterError, ResultFileError, bad_argument
from .io import _TMP_RE as _IO_TMP_RE
from .io import _pid_alive, atomic_write_text, load_result, provenance, save_result

#: temporary files of aievo.io: ".<name>.<pid>.<random>.tmp"
_TMP_RE = re.compile(r"^\..*" + _IO_TMP_RE.pattern)

__all__ = ["FORMAT", "MAX_CELLS", "SweepMismatchError", "SweepBusyError", "Fingerprint", "Store", "Throttle",
           "check_grid_size"]

#: Largest number of cells a sweep may have (each cell is a file; the index lists them all).
MAX_CELLS = 10_000_000
LOCK_FILE = ".aievo-sweep.lock"

#: version of the directory layout
FORMAT = 1
SWEEP_FILE = "sweep.json"
INDEX_FILE = "index.json"
CELLS_DIR = "cells"
FAILURES_DIR = "failures"
_CELL_RE = re.compile(r"^cell-(\d+)\.npz$")
_FAILURE_RE = re.compile(r"^cell-(\d+)\.json$")


def _canonical(data: Any) -> str:
    """JSON text used to compare fingerprints: 1 and 1.0, or True and 1, differ."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class SweepMismatchError(InvalidParameterError):
    """``out`` already holds a different sweep (another function, grid or seed)."""


class SweepBusyError(InvalidParameterError):
    """Another process is writing into the same sweep directory (its lock file is held)."""


def check_grid_size(shape: tuple[int, ...], cls: type = InvalidParameterError) -> int:
    """The exact number of cells (a Python int), refused above :data:`MAX_CELLS`."""
    size = math.prod(int(k) for k in shape)
    if size > MAX_CELLS:
        lengths = " x ".join(str(k) for k in shape)
        raise cls(
            f"grid has {lengths} = {size} cells: expected at most {MAX_CELLS} "
            "(split the sweep, or sweep fewer values per parameter)"
        )
    return size


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a sweep: the function's qualified name, the grid and the seed.

    ``grid`` is a tuple of ``(name, values)`` pairs in the user's order, the values
    in their JSON form; ``entropy`` and ``spawn_key`` define the root
    :class:`numpy.random.SeedSequence`.
    """

    fn: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    entropy: int | tuple[int, ...]
    spawn_key: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        entropy = list(self.entropy) if isinstance(self.entropy, tuple) else self.entropy
        return {
            "format": FORMAT,
            "fn": self.fn,
            "grid": [[name, list(values)] for name, values in self.grid],
            "seed": {"entropy": entropy, "spawn_key": list(self.spawn_key)},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Fingerprint":
        entropy = data["seed"]["entropy"]
        return cls(
            fn=str(data["fn"]),
            grid=tuple((str(name), tuple(values)) for name, values in data["grid"]),
            entropy=tuple(entropy) if isinstance(entropy, list) else int(entropy),
            spawn_key=tuple(int(k) for k in data["seed"]["spawn_key"]),
        )

    @property
    def digest(self) -> str:
        """A short hash of the fingerprint, stamped into every cell file."""
        return hashlib.sha256(_canonical(self.to_json()).encode("utf-8")).hexdigest()[:16]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.grid)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(values) for _, values in self.grid)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key)

    def cell_seed(self, index: int) -> np.random.SeedSequence:
        """The seed of cell ``index``: child ``index`` of the root's ``spawn``."""
        return np.random.SeedSequence(self.entropy, spawn_key=(*self.spawn_key, int(index)))

    def position(self, index: int) -> tuple[int, ...]:
        return tuple(int(k) for k in np.unravel_index(index, self.shape)) if self.shape else ()

    def params(self, index: int) -> dict[str, Any]:
        pos = self.position(index)
        return {name: values[k] for (name, values), k in zip(self.grid, pos)}

    def differences(self, other: "Fingerprint") -> list[str]:
        """Human-readable list of the fields in which ``other`` differs from ``self``."""
        out = []
        if self.fn != other.fn:
            out.append(f"function {other.fn!r} (stored: {self.fn!r})")
        if _canonical(self.to_json()["grid"]) != _canonical(other.to_json()["grid"]):
            given = {n: list(v) for n, v in other.grid}
            stored = {n: list(v) for n, v in self.grid}
            out.append(f"grid {given} (stored: {stored})")
        if _canonical(self.to_json()["seed"]) != _canonical(other.to_json()["seed"]):
            out.append(
                f"seed entropy={other.entropy} spawn_key={list(other.spawn_key)} "
                f"(stored: entropy={self.entropy} spawn_key={list(self.spawn_key)})"
            )
        return out


class Store:
    """Reads and writes one sweep directory (see the module docstring)."""

    def __init__(self, root: Path, fingerprint: Fingerprint):
        self.root = root
        self.fingerprint = fingerprint
        self.width = max(6, len(str(max(fingerprint.size - 1, 0))))

    # ---------------------------------------------------------------- opening
    @staticmethod
    def read_fingerprint(root: Path) -> Fingerprint | None:
        path = root / SWEEP_FILE
        if not path.exists():
            return None
        try:
            if path.stat().st_size > 256 * 2**20:
                raise ValueError(f"{path.stat().st_size} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
            fp = Fingerprint.from_json(data["fingerprint"])
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, OSError) as exc:
            raise ResultFileError(
                f"{path} is not a readable aievo sweep file ({type(exc).__name__}: {exc}); expected the JSON "
                "written by aievo.sweep"
            ) from None
        check_grid_size(fp.shape, ResultFileError)
        return fp

    @classmethod
    def open(cls, out: str | os.PathLike) -> "Store":
        """Open an existing sweep directory (read-only use)."""
        if not isinstance(out, (str, os.PathLike)) or isinstance(out, bytes) or not os.fspath(out):
            raise bad_argument(ResultFileError, "out", out, "a sweep directory path (str or path-like)")
        root = Path(out)
        fp = cls.read_fingerprint(root)
        if fp is None:
            raise ResultFileError(
                f"out={str(root)!r} is not a sweep directory: expected a directory holding "
                f"{SWEEP_FILE} written by aievo.sweep"
            )
        return cls(root, fp)

    @classmethod
    def create_or_check(
        cls, out: str | os.PathLike, fingerprint: Fingerprint, *, seed_given: bool
    ) -> "Store":
        """Open ``out`` for ``fingerprint``, creating it, or refuse a different sweep.

        With ``seed_given=False`` an existing directory's seed is adopted (so a
        sweep started without a seed can be resumed without one).
        """
        root = Path(out)
        if root.exists() and not root.is_dir():
            raise bad_argument(InvalidParameterError, "out", str(root), "a directory path")
        stored = cls.read_fingerprint(root) if root.exists() else None
        if stored is None:
            if root.exists() and any(root.iterdir()):
                raise bad_argument(
                    InvalidParameterError,
                    "out",
                    str(root),
                    f"a new or empty directory, or one holding an aievo sweep "
                    f"(this one is not empty and has no {SWEEP_FILE})",
                )
            root.mkdir(parents=True, exist_ok=True)
            doc = {"fingerprint": fingerprint.to_json(), "provenance": provenance()}
            atomic_write_text(root / SWEEP_FILE, json.dumps(doc, indent=2) + "\n")
            return cls(root, fingerprint)
        if not seed_given:
            fingerprint = Fingerprint(
                fingerprint.fn, fingerprint.grid, stored.entropy, stored.spawn_key
            )
        diffs = stored.differences(fingerprint)
        if diffs:
            raise SweepMismatchError(
                f"out={str(root)!r} holds a different sweep; this one has "
                + "; ".join(diffs)
                + ". Results of different sweeps are never mixed: use another out "
                "directory, or the stored function, grid and seed to resume."
            )
        return cls(root, stored)

    # ------------------------------------------------------------------ paths
    def stem(self, index: int) -> str:
        return f"cell-{index:0{self.width}d}"

    def cell_path(self, index: int) -> Path:
        return self.root / CELLS_DIR / f"{self.stem(index)}.npz"

    def value_path(self, index: int) -> Path:
        return self.root / CELLS_DIR / f"{self.stem(index)}.value"

    def failure_path(self, index: int) -> Path:
        return self.root / FAILURES_DIR / f"{self.stem(index)}.json"

    # ------------------------------------------------------------------- scan
    def _indices(self, folder: str, pattern: re.Pattern, suffix: str) -> set[int]:
        path = self.root / folder
        if not path.is_dir():
            return set()
        found = set()
        for name in os.listdir(path):
            m = pattern.match(name)
            if m is not None:
                i = int(m.group(1))
                if 0 <= i < self.fingerprint.size and name == self.stem(i) + suffix:
                    found.add(i)
        return found

    def scan(self) -> tuple[set[int], set[int]]:
        """Indices of finished cells and of unfinished cells with a recorded failure."""
        done = self._indices(CELLS_DIR, _CELL_RE, ".npz")
        failed = self._indices(FAILURES_DIR, _FAILURE_RE, ".json") - done
        return done, failed

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files left by killed writers (their pid, in the name, no longer runs)."""
        for folder in (self.root, self.root / CELLS_DIR, self.root / FAILURES_DIR):
            if not folder.is_dir():
                continue
            for name in os.listdir(folder):
                m = _TMP_RE.match(name)
                if m is None or _pid_alive(int(m.group(1))):
                    continue
                try:
                    os.unlink(folder / name)
                except OSError:
                    pass

    # ------------------------------------------------------------------- lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory's lock file while writing; a second writer gets :class:`SweepBusyError`.

        The lock is a file created with ``O_CREAT | O_EXCL`` holding the owner's
        host and pid. A lock whose owner (on this host) no longer runs is stale
        and is taken over; a lock held by a live process, or by another host,
        is respected.
        """
        path = self.root / LOCK_FILE
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _read_lock(path)
                if owner is None:  # being written this instant, or garbage: look again
                    time.sleep(0.05)
                    owner = _read_lock(path)
                stale = owner is None and _lock_age(path) > 10.0 or (
                    owner is not None and owner.get("host") == me["host"]
                    and not _pid_alive(int(owner.get("pid", -1)))
                )
                if stale:
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass
                    continue
                who = "an unknown process" if owner is None else f"pid {owner.get('pid')} on {owner.get('host')}"
                raise SweepBusyError(
                    f"out={str(self.root)!r} is being written by another aievo sweep ({who}; lock file "
                    f"{path}): expected one writer at a time. Wait for it to finish, or, if no such process "
                    "runs, delete the lock file"
                ) from None
            except OSError as exc:
                raise ResultFileError(f"cannot create the lock file {path}: {exc.strerror or exc}") from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(me))
                fh.flush()
                os.fsync(fh.fileno())
            break
        else:  # pragma: no cover - three stale locks replaced under us
            raise SweepBusyError(f"out={str(self.root)!r}: could not take the lock file {path}")
        try:
            yield
        finally:
            try:
                if _read_lock(path) == me:
                    os.unlink(path)
            except OSError:
                pass

    # ------------------------------------------------------------------ cells
    def cell_meta(self, index: int, kind: str, extra: dict[str, Any]) -> dict[str, Any]:
        seed = self.fingerprint.cell_seed(index)
        entropy = seed.entropy
        return {
            "aievo_sweep_cell": FORMAT,
            "fingerprint": self.fingerprint.digest,
            "fn": self.fingerprint.fn,
            "cell": int(index),
            "position": list(self.fingerprint.position(index)),
            "params": self.fingerprint.params(index),
            "seed": {
                "entropy": list(entropy) if isinstance(entropy, tuple) else entropy,
                "spawn_key": list(seed.spawn_key),
            },
            "kind": kind,
            **extra,
        }

    def write_arrays(self, index: int, arrays: dict[str, np.ndarray], extra: dict[str, Any]):
        save_result(self.cell_path(index), arrays, self.cell_meta(index, "arrays", extra))
        self.clear_failure(index)

    def write_object(self, index: int, value: Any, class_path: str, extra: dict[str, Any]):
        target = self.value_path(index)
        target.parent.mkdir(parents=True, exist_ok=True)
        value.save(target)
        meta = self.cell_meta(
            index, "object", {"class": class_path, "value_file": target.name, **extra}
        )
        save_result(self.cell_path(index), {}, meta)
        self.clear_failure(index)

    def read_cell(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = load_result(self.cell_path(index))
        if meta.get("fingerprint") != self.fingerprint.digest or meta.get("cell") != index:
            raise ResultFileError(
                f"{self.cell_path(index)} belongs to another sweep or cell "
                f"(fingerprint {meta.get('fingerprint')!r}, cell {meta.get('cell')!r}); "
                f"expected fingerprint {self.fingerprint.digest!r}, cell {index}"
            )
        return arrays, meta

    # --------------------------------------------------------------- failures
    def read_failure(self, index: int) -> dict[str, Any] | None:
        path = self.failure_path(index)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            return {"error": "unreadable failure record", "traceback": "", "attempts": 1}
        return record

    def write_failure(self, index: int, error: str, traceback_text: str, *, deterministic: bool = False) -> None:
        previous = self.read_failure(index)
        attempts = (previous or {}).get("attempts", 0)
        attempts = (attempts if isinstance(attempts, int) else 0) + 1
        record = {
            "cell": int(index),
            "params": self.fingerprint.params(index),
            "error": error,
            "traceback": traceback_text,
            "attempts": int(attempts),
            "deterministic": bool(deterministic),
            "time": provenance()["created"],
        }
        atomic_write_text(self.failure_path(index), json.dumps(record, indent=2) + "\n")

    def clear_failure(self, index: int) -> None:
        try:
            os.unlink(self.failure_path(index))
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------------ index
    def write_index(self, done: set[int], failed: set[int]) -> None:
        """Write ``index.json`` describing every cell from the given status sets."""
        fp = self.fingerprint
        cells = []
        for i in range(fp.size):
            entry: dict[str, Any] = {
                "cell": i,
                "position": list(fp.position(i)),
                "params": fp.params(i),
            }
            if i in done:
                entry["status"] = "done"
                entry["path"] = f"{CELLS_DIR}/{self.stem(i)}.npz"
            elif i in failed:
                record = self.read_failure(i) or {}
                entry["status"] = "failed"
                entry["error"] = record.get("error", "")
                entry["failure"] = f"{FAILURES_DIR}/{self.stem(i)}.json"
            else:
                entry["status"] = "pending"
            cells.append(entry)
        prov = provenance()
        doc = {
            "fingerprint": fp.to_json(),
            "names": list(fp.names),
            "shape": list(fp.shape),
            "counts": {
                "done": len(done),
                "failed": len(failed),
                "pending": fp.size - len(done) - len(failed),
            },
            "updated": prov["created"],
            "provenance": prov,
        }
        # one line per cell keeps the file readable and diffable for large grids
        head = json.dumps(doc, indent=1)[:-2]
        body = ",\n  ".join(json.dumps(c) for c in cells)
        text = f'{head},\n "cells": [\n  {body}\n ]\n}}\n'
        atomic_write_text(self.root / INDEX_FILE, text)

    def rebuild_index(self) -> tuple[set[int], set[int]]:
        """Rescan the cell files and rewrite ``index.json`` from them."""
        done, failed = self.scan()
        self.write_index(done, failed)
        return done, failed


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data


def _lock_age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


class Throttle:
    """True at most once per ``interval`` seconds (for index rewrites during a run)."""

    def __init__(self, interval: float):
        self.interval = interval
        self.last = -np.inf

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False

