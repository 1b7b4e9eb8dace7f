"""The result of :func:`aievo.mesa.train_transformer`: a trained model as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, bad_argument
from .config import (
    InterleavedRegressionTask,
    LDSTask,
    OptimConfig,
    RegressionTask,
    SineRegressionTask,
    TransformerConfig,
)

__all__ = ["TrainedTransformer", "BACKENDS", "resolve_backend"]


@dataclass
class TrainedTransformer:
    """A transformer's configuration, parameters and training history.

    Attributes
    ----------
    config : TransformerConfig
        The architecture.
    params : dict
        Parameter pytree of float numpy arrays (see :mod:`aievo.mesa.nn.model`).
    history : dict of str to ndarray
        ``train_loss`` (one per step), ``lr`` (rate used at every step),
        ``eval_step`` and ``eval_loss`` (mean loss on a fixed evaluation set,
        step 0 included) and ``eval_per_position`` (its per-position loss at
        each evaluation, shape ``(n_evals, P)``).
    task : LDSTask or RegressionTask or None
        The training task.
    optim : OptimConfig or None
        The optimiser.
    meta : dict
        ``steps``, ``batch_size``, ``seed``, ``dtype``, ``seconds``, versions.
    """

    config: TransformerConfig
    params: dict
    history: dict[str, np.ndarray] = field(default_factory=dict)
    task: LDSTask | RegressionTask | InterleavedRegressionTask | SineRegressionTask | None = None
    optim: OptimConfig | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, inputs: Any, *, backend: str = "auto") -> np.ndarray:
        """Predictions ``(B, P, out)`` for task inputs.

        Parameters
        ----------
        inputs : array
            Task inputs (see :func:`aievo.mesa.nn.model.tokens`).
        backend : {"auto", "jax", "numpy"}, default "auto"
            ``"jax"``: the jitted JAX model (float32, or float64 inside
            ``jax.enable_x64(True)``; needs the ``jax`` extra). ``"numpy"``: the
            float64 reference forward (:mod:`aievo.mesa.nn.reference`).
            ``"auto"``: JAX when it can be imported, numpy otherwise.
        """
        if resolve_backend(backend) == "numpy":
            from .reference import predict

            return predict(self.params, self.config, inputs)
        from .model import compiled

        return np.asarray(compiled(self.config, "predict")(self.params, inputs))

    def activations(self, inputs: Any, *, backend: str = "auto") -> list[np.ndarray]:
        """Residual stream ``[embedded tokens, layer 1, ..., layer L]``, each ``(B, T, E)``; ``backend`` as :meth:`predict`."""
        if resolve_backend(backend) == "numpy":
            from .reference import activations

            return activations(self.params, self.config, inputs)
        from .model import forward

        return [np.asarray(a) for a in forward(self.params, self.config, inputs, return_all=True)]

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (configs), atomically; returns the JSON path."""
        from .checkpoint import save_transformer

        return save_transformer(path, self.config, self.params, self.history, self.task, self.optim, self.meta)

    @classmethod
    def load(cls, path: str | Path) -> TrainedTransformer:
        """Read a checkpoint written by :meth:`save` (no pickle; JAX not needed)."""
        from .checkpoint import load_transformer

        return load_transformer(path)


#: Backends of :meth:`TrainedTransformer.predict` and :meth:`TrainedTransformer.activations`.
BACKENDS = ("auto", "jax", "numpy")


def resolve_backend(backend: str) -> str:
    """``"jax"`` or ``"numpy"``: ``backend``, with ``"auto"`` resolved by whether JAX can be imported."""
    if backend not in BACKENDS:
        raise bad_argument(InvalidParameterError, "backend", backend, f"one of {BACKENDS}")
    if backend != "auto":
        return backend
    from ._deps import MissingExtraError, require_jax

    try:
        require_jax()
    except MissingExtraError:
        return "numpy"
    return "jax"
