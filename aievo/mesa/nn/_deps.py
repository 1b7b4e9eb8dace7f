"""The optional JAX dependency: one place that imports it and says how to install it."""

from __future__ import annotations

from types import ModuleType

from ..._extras import MissingExtraError, require_extra

__all__ = ["MissingExtraError", "require_jax"]

def require_jax() -> tuple[ModuleType, ModuleType]:
    """Import and return ``(jax, optax)``, or raise :class:`MissingExtraError` naming the ``jax`` extra."""
    jax, optax = require_extra("jax", "jax", "optax", purpose="the JAX models of aievo.mesa")
    return jax, optax
