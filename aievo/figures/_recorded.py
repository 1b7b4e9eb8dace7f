"""Intermediate results of the figures, recorded with the package so that drawing stays fast.

Some figures evaluate shipped checkpoints (:mod:`aievo.mesa.nn.shipped`) on many
prompts before they draw a line: deterministic work (fixed seeds, the float64
numpy forward) that gives the same arrays every time. A :class:`Record` names
that work: the checkpoints it reads, its parameters (data), and the function
that computes its arrays. :func:`load_or_compute` returns the arrays recorded
in :data:`RECORDED_DIR` when the file's fingerprint -- the SHA-256 of every
checkpoint read and of the parameters -- matches the current ones, and computes
them afresh otherwise (a retrained or changed checkpoint, changed parameters,
``recompute=True``, a missing file), so a figure is never drawn from stale
numbers.

``python -m aievo.figures._recorded [NAME ...]`` recomputes and rewrites the
files (arrays and JSON through :func:`aievo.io.save_result`, with provenance;
no pickle). Their names and the figure functions that build each record are
listed in :data:`RECORDS`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, ResultFileError, bad_argument

__all__ = ["RECORDED_DIR", "RECORDS", "KIND", "Record", "fingerprint", "load_or_compute", "record", "main"]

#: Where the recorded files live (shipped with the package).
RECORDED_DIR = Path(__file__).resolve().parent / "recorded"

#: The ``kind`` in the files' metadata.
KIND = "figure_record"

#: Record name -> ``"module:function"`` returning its :class:`Record` (called with no arguments).
RECORDS: dict[str, str] = {
    "akyurek2022_transition": "aievo.figures.akyurek2022:transition_record",
    "akyurek2022_probes": "aievo.figures.akyurek2022:probes_record",
    "faithfulness": "aievo.figures.mesa:faithfulness_record",
    "mesa2_steps": "aievo.figures.mesa:mesa2_record",
    "vonoswald2023a_depth_gdpp": "aievo.figures.vonoswald2023a:depth_gdpp_record",
    "vonoswald2023b_fig4_prop2": "aievo.figures.vonoswald2023b:fig4_prop2_record",
    "vonoswald2023b_fig6_prop2": "aievo.figures.vonoswald2023b:fig6_prop2_record",
    "vonoswald2023b_fig8": "aievo.figures.vonoswald2023b:fig8_record",
}


@dataclass(frozen=True)
class Record:
    """Deterministic work a figure draws from.

    Attributes
    ----------
    name : str
        File stem in :data:`RECORDED_DIR`.
    checkpoints : tuple of str
        Shipped checkpoint names the computation reads (their ``.npz`` files are hashed).
    params : dict
        JSON-serialisable parameters of the computation (part of the fingerprint).
    compute : callable
        ``compute() -> dict[str, ndarray]``.
    """

    name: str
    checkpoints: tuple[str, ...]
    params: dict[str, Any] = field(hash=False)
    compute: Callable[[], Mapping[str, np.ndarray]] = field(hash=False, compare=False)


def fingerprint(rec: Record) -> str:
    """SHA-256 over the record's parameters (as canonical JSON) and each checkpoint's ``.npz`` file."""
    from ..mesa.nn.shipped import CHECKPOINT_DIR

    h = hashlib.sha256(json.dumps({"name": rec.name, "params": rec.params}, sort_keys=True).encode())
    for name in rec.checkpoints:
        path = CHECKPOINT_DIR / f"{name}.npz"
        try:
            h.update(name.encode() + b"\0" + path.read_bytes())
        except OSError as exc:
            raise bad_argument(InvalidParameterError, "checkpoint", name,
                               f"a shipped checkpoint readable at {path} ({exc.strerror or exc})") from None
    return h.hexdigest()


def load_or_compute(rec: Record, *, recompute: bool = False) -> dict[str, np.ndarray]:
    """The record's arrays: from its file when that matches :func:`fingerprint`, else computed now.

    Parameters
    ----------
    rec : Record
    recompute : bool, default False
        Compute even when a matching file exists (figures pass ``quick or retrain``).

    Returns
    -------
    dict of str to ndarray
    """
    if not recompute:
        from ..io import load_result

        path = RECORDED_DIR / f"{rec.name}.npz"
        if path.is_file():
            try:
                arrays, meta = load_result(path, KIND, meta_required=("fingerprint",))
            except ResultFileError:
                arrays, meta = {}, {}
            if meta.get("fingerprint") == fingerprint(rec):
                return arrays
    return {k: np.asarray(v) for k, v in rec.compute().items()}


def record(name: str, directory: Path | None = None) -> Path:
    """Compute the record ``name`` of :data:`RECORDS` and write it (default: into :data:`RECORDED_DIR`).

    Returns the ``.npz`` path written (atomically, by :func:`aievo.io.save_result`).
    """
    from ..io import save_result

    if name not in RECORDS:
        raise bad_argument(InvalidParameterError, "name", name, f"one of {sorted(RECORDS)}")
    module, func = RECORDS[name].split(":")
    rec: Record = getattr(importlib.import_module(module), func)()
    arrays = load_or_compute(rec, recompute=True)
    meta = {"kind": KIND, "record": rec.name, "params": rec.params, "checkpoints": list(rec.checkpoints),
            "fingerprint": fingerprint(rec), "computed_by": RECORDS[name]}
    return save_result((directory or RECORDED_DIR) / f"{rec.name}.npz", arrays, meta)


def main(argv: list[str] | None = None) -> int:
    """``python -m aievo.figures._recorded [NAME ...]``: recompute and rewrite records (default: all)."""
    from .._blas import single_threaded_blas

    names = (sys.argv[1:] if argv is None else argv) or list(RECORDS)
    with single_threaded_blas():
        for name in names:
            print(record(name))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
