"""The optional JAX dependency: one place that imports it and says how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from ...errors import AievoError

__all__ = ["MissingExtraError", "require_jax"]

INSTALL_HINT = 'pip install "aievo[jax]"'


class MissingExtraError(AievoError, ImportError):
    """An optional dependency of aievo is not installed."""


def require_jax() -> tuple[ModuleType, ModuleType]:
    """Import and return ``(jax, optax)``, or raise :class:`MissingExtraError` naming the ``jax`` extra."""
    try:
        jax = importlib.import_module("jax")
        optax = importlib.import_module("optax")
    except ImportError as exc:
        raise MissingExtraError(
            f"the JAX models of aievo.mesa need the optional 'jax' extra (jax, optax), which is not "
            f"installed ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    return jax, optax
