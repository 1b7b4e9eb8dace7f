"""JAX transformers for in-context learning: configs, model, training, checkpoints.

The configurations (:class:`TransformerConfig`, :class:`OptimConfig`,
:class:`LDSTask`, :class:`RegressionTask`, :func:`official_setup`) are plain
data and import without JAX, as do the parameters (:mod:`aievo.mesa.nn.params`),
checkpoints and the float64 numpy forward pass (:mod:`aievo.mesa.nn.reference`),
which :meth:`TrainedTransformer.predict` falls back to when JAX is missing.
Training and the JAX model (:func:`train_transformer`, :func:`evaluate`, the
``model`` and ``layers`` modules) need the optional ``jax`` extra
(``pip install "aievo[jax]"``) and import it on first use; without it they
raise :class:`MissingExtraError`.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._deps import MissingExtraError as MissingExtraError
from .checkpoint import load_transformer as load_transformer
from .config import OFFICIAL_SETUPS as OFFICIAL_SETUPS
from .config import FewShotTask as FewShotTask
from .config import InterleavedRegressionTask as InterleavedRegressionTask
from .config import LDSTask as LDSTask
from .config import OfficialSetup as OfficialSetup
from .config import OptimConfig as OptimConfig
from .config import RegressionTask as RegressionTask
from .config import SineRegressionTask as SineRegressionTask
from .config import TransformerConfig as TransformerConfig
from .config import official_setup as official_setup
from .result import TrainedTransformer as TrainedTransformer

__all__ = [
    "MissingExtraError",
    "TransformerConfig",
    "OptimConfig",
    "LDSTask",
    "RegressionTask",
    "InterleavedRegressionTask",
    "FewShotTask",
    "SineRegressionTask",
    "OfficialSetup",
    "OFFICIAL_SETUPS",
    "official_setup",
    "TrainedTransformer",
    "load_transformer",
    "train_transformer",
    "evaluate",
]

_LAZY = {"train_transformer": "train", "evaluate": "train"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from ._deps import require_jax

        require_jax()
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
