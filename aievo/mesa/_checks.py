"""Private argument checks shared by the mesa modules.

Every check raises an :mod:`aievo.errors` subclass whose message names the
argument, the value it had and what was expected. Nothing is clipped.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument

__all__ = [
    "as_rng",
    "check_int",
    "check_float",
    "check_array",
]


def as_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """Return a Generator from an int seed or a Generator; reject anything else."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise bad_argument(InvalidParameterError, name, rng, "a non-negative int seed or a numpy.random.Generator")
        return np.random.default_rng(int(rng))
    raise bad_argument(InvalidParameterError, name, rng, "an int seed or a numpy.random.Generator")


def check_int(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise bad_argument(InvalidParameterError, name, value, f"an integer >= {minimum}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        rng_text = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise bad_argument(InvalidParameterError, name, value, f"an integer {rng_text}")
    return value


def check_float(
    value: Any,
    name: str,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """Return ``value`` as a finite float, optionally positive / non-negative / in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise bad_argument(InvalidParameterError, name, value, "a finite real number")
    out = float(value)
    if not np.isfinite(out):
        raise bad_argument(InvalidParameterError, name, value, "a finite real number")
    if positive and not out > 0:
        raise bad_argument(InvalidParameterError, name, value, "a number > 0")
    if nonnegative and not out >= 0:
        raise bad_argument(InvalidParameterError, name, value, "a number >= 0")
    if low is not None and out < low or high is not None and out > high:
        raise bad_argument(InvalidParameterError, name, value, f"a number in [{low}, {high}]")
    return out


def check_array(
    value: Any,
    name: str,
    ndim: int | tuple[int, ...],
    *,
    shape_text: str | None = None,
) -> np.ndarray:
    """Return ``value`` as a finite float64 array with ``ndim`` dimensions (one of, if a tuple)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_argument(ShapeError, name, value, "a real-valued array") from None
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        what = shape_text or " or ".join(f"{k}-d" for k in allowed) + " array"
        raise bad_argument(ShapeError, f"{name}.shape", arr.shape, what)
    if not np.all(np.isfinite(arr)):
        raise bad_argument(InvalidParameterError, name, "array with NaN/inf", "finite values only")
    return arr
