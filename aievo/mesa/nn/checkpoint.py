"""Checkpoints of trained transformers: arrays in ``.npz``, everything else in a JSON sidecar.

``save_transformer(path, ...)`` writes ``<path>.npz`` (parameters and history,
no pickled objects) and then ``<path>.json`` (configs, metadata, the list of
arrays and the SHA-256 of the ``.npz``), each by an atomic rename, so a crash
leaves either the old checkpoint or the new one. Loading needs neither JAX nor
pickle, checks that the two files belong together and rebuilds the configs.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ResultFileError
from ...io import atomic_write_bytes, atomic_write_text
from .config import OptimConfig, TransformerConfig, task_from_dict

__all__ = ["save_transformer", "load_transformer", "flatten_tree", "unflatten_tree"]

FORMAT = "aievo.mesa.nn.TrainedTransformer"
VERSION = 1


def flatten_tree(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a/0/b": array}`` from nested dicts and lists of arrays."""
    out: dict[str, np.ndarray] = {}
    items: Iterable[tuple[Any, Any]]
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(tree))
    else:
        return {prefix: np.asarray(tree)}
    for k, v in items:
        if "/" in str(k):
            raise ResultFileError(f"tree key {k!r} is invalid: expected keys without '/'")
        out.update(flatten_tree(v, f"{prefix}/{k}" if prefix else str(k)))
    return out


def unflatten_tree(flat: dict[str, np.ndarray]) -> Any:
    """Inverse of :func:`flatten_tree` (dicts whose keys are 0..n-1 become lists)."""
    root: dict = {}
    for key, arr in flat.items():
        node = root
        parts = key.split("/")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = arr

    def fix(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: fix(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node) and sorted(int(k) for k in node) == list(range(len(node))):
            return [node[str(i)] for i in range(len(node))]
        return node

    return fix(root)


def _base(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".npz", ".json") else p


def save_transformer(path: str | Path, config: TransformerConfig, params: dict, history: dict,
                     task: Any = None, optim: OptimConfig | None = None, meta: dict | None = None) -> Path:
    """Write a checkpoint; returns the path of the JSON sidecar."""
    base = _base(path)
    arrays: dict[str, Any] = {f"params/{k}": v for k, v in flatten_tree(params).items()}
    arrays.update({f"history/{k}": np.asarray(v) for k, v in history.items()})
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "task": None if task is None else {"type": type(task).__name__, **task.to_dict()},
        "optim": None if optim is None else optim.to_dict(),
        "meta": meta or {},
        "arrays": sorted(arrays),
        "npz_sha256": hashlib.sha256(data).hexdigest(),
    }
    npz = base.with_name(base.name + ".npz")
    js = base.with_name(base.name + ".json")
    atomic_write_bytes(npz, data)
    atomic_write_text(js, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return js


def load_transformer(path: str | Path) -> Any:
    """Load a checkpoint written by :meth:`TrainedTransformer.save` (no pickle, no JAX needed).

    Parameters
    ----------
    path : str or Path
        The checkpoint's base path (with or without ``.npz`` / ``.json``).

    Returns
    -------
    TrainedTransformer
    """
    from .result import TrainedTransformer

    base = _base(path)
    npz = base.with_name(base.name + ".npz")
    js = base.with_name(base.name + ".json")
    for f in (npz, js):
        if not f.is_file():
            raise ResultFileError(f"path={str(f)!r} is invalid: expected an existing checkpoint file")
    try:
        doc = json.loads(js.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultFileError(f"path={str(js)!r} is invalid: expected a JSON checkpoint sidecar ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ResultFileError(f"path={str(js)!r} is invalid: expected format {FORMAT!r} version {VERSION}")
    data = npz.read_bytes()
    if hashlib.sha256(data).hexdigest() != doc.get("npz_sha256"):
        raise ResultFileError(f"path={str(npz)!r} is invalid: expected the .npz written with {js.name} "
                              "(SHA-256 differs)")
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if sorted(arrays) != doc["arrays"]:
        raise ResultFileError(f"path={str(npz)!r} is invalid: expected arrays {doc['arrays']}")
    params = unflatten_tree({k[len("params/"):]: v for k, v in arrays.items() if k.startswith("params/")})
    history = {k[len("history/"):]: v for k, v in arrays.items() if k.startswith("history/")}
    return TrainedTransformer(
        config=TransformerConfig.from_dict(doc["config"]),
        params=params,
        history=history,
        task=None if doc["task"] is None else task_from_dict(doc["task"]),
        optim=None if doc["optim"] is None else OptimConfig.from_dict(doc["optim"]),
        meta=doc["meta"],
    )
