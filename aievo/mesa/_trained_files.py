"""Trained numpy models (:class:`~aievo.mesa.train.LSAResult`, :class:`~aievo.mesa.train.LinearTFResult`) as files.

Arrays and JSON through :func:`aievo.io.save_result` (provenance included, no
pickle), so figures can draw from models shipped with the package instead of
training them every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["KIND", "save_trained", "load_trained"]

#: The ``kind`` recorded in the files unless the caller names its own.
KIND = "trained_numpy_model"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_trained(model: Any, path: str | Path, recipe: str, kind: str = KIND) -> Path:
    """Write a trained LSA or linear transformer with its configuration and the ``recipe`` that made it."""
    from ..io import save_result

    arrays = {"train_loss": model.train_loss, "eval_steps": model.eval_steps, "eval_loss": model.eval_loss}
    if hasattr(model, "params"):
        model_type = "lsa"
        arrays.update({f"params.{k}": v for k, v in model.params.items()})
    else:
        model_type = "linear_tf"
        for i, layer in enumerate(model.layers):
            arrays.update({f"layer{i}.{k}": v for k, v in layer.items()})
    meta = {"kind": kind, "model": model_type, "config": _jsonable(model.config), "recipe": recipe,
            "final_eval_loss": float(model.eval_loss[-1])}
    return save_result(path, arrays, meta)


def load_trained(path: str | Path, kind: str = KIND) -> Any:
    """Read a model written by :func:`save_trained` (an ``LSAResult`` or a ``LinearTFResult``)."""
    from ..io import load_result
    from .train import LinearTFResult, LSAResult

    arrays, meta = load_result(path, kind, arrays_required=("train_loss", "eval_steps", "eval_loss"),
                               meta_required=("model", "config"))
    config = meta["config"]
    hist = (arrays["train_loss"], arrays["eval_steps"], arrays["eval_loss"])
    if meta["model"] == "lsa":
        params = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("params.")}
        return LSAResult(params, *hist, config)
    layers = [
        {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(f"layer{i}.")}
        for i in range(int(config["n_layers"]))
    ]
    return LinearTFResult(layers, *hist, config)
