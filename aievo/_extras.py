"""Optional dependencies (extras): one place that imports them and says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

__all__ = ["MissingExtraError", "require_extra"]


def require_extra(extra: str, *modules: str, purpose: str) -> tuple[ModuleType, ...]:
    """Import ``modules`` or raise :class:`MissingExtraError` naming the extra that provides them.

    Parameters
    ----------
    extra : str
        The extra of ``pyproject.toml`` that installs the modules (``"labels"``, ``"jax"``, ...).
    *modules : str
        Module names to import, in order.
    purpose : str
        What needs them, for the message ("the JAX models of aievo.mesa").

    Returns
    -------
    tuple of module
        The imported modules, in the order given.
    """
    try:
        return tuple(importlib.import_module(m) for m in modules)
    except ImportError as exc:
        raise MissingExtraError(
            f"the optional {extra!r} extra ({', '.join(modules)}) is needed for {purpose} but is not "
            f"installed ({exc}); install it with: "
            f'pip install "aievo[{extra}]"'
        ) from exc
