"""Exceptions raised by aievo.

Every error raised for bad input is a subclass of :class:`AievoError` and says
which argument was wrong, the value it had and what was expected. Input is never
silently clipped or renormalised.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AievoError",
    "InvalidParameterError",
    "ShapeError",
    "InvalidGraphError",
    "InvalidFitnessError",
    "InvalidKernelError",
    "InvalidTreeError",
    "ScenarioError",
    "ResultFileError",
    "NumericalRangeError",
    "MissingExtraError",
]


class AievoError(Exception):
    """Base class of every error aievo raises on purpose."""


class InvalidParameterError(AievoError, ValueError):
    """A scalar or option argument is out of its domain (``eta``, ``generations``, ...)."""


class ShapeError(AievoError, ValueError):
    """Arrays whose shapes or lengths do not fit together."""


class InvalidGraphError(AievoError, ValueError):
    """A design graph that violates the model's assumptions."""


class InvalidFitnessError(InvalidGraphError):
    """Fitness values that are negative, NaN or infinite."""


class InvalidKernelError(InvalidGraphError):
    """Design probabilities that are negative, NaN, or rows that do not sum to one."""


class InvalidTreeError(InvalidGraphError):
    """Parent arrays with cycles, several roots or out-of-range indices."""


class ScenarioError(AievoError, ValueError):
    """A scenario or sweep file with a missing or ill-typed key."""


class ResultFileError(AievoError, OSError):
    """A result file that is missing, incomplete or not an aievo result."""


class NumericalRangeError(InvalidParameterError):
    """Finite inputs whose scale puts a result outside floating-point range (it would be NaN or inf)."""


class MissingExtraError(AievoError, ImportError):
    """An optional dependency of aievo is not installed (the message names the extra to install)."""


def _short(value: Any, limit: int = 80) -> str:
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars print as plain numbers
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bad_argument(cls: type[AievoError], name: str, value: Any, expected: str) -> AievoError:
    """Build an error saying that argument ``name`` had ``value`` where ``expected`` was wanted.

    Parameters
    ----------
    cls : type
        The :class:`AievoError` subclass to instantiate.
    name : str
        The argument's name as the user wrote it.
    value : object
        The offending value (shortened in the message if long).
    expected : str
        What would have been accepted, as a phrase ("a number in (0, 1]").
    """
    return cls(f"{name}={_short(value)} is invalid: expected {expected}")
