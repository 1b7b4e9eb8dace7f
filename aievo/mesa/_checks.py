"""Private argument checks shared by the mesa modules.

Every check raises an :mod:`aievo.errors` subclass whose message names the
argument, the value it had and what was expected. Nothing is clipped.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np

from .._validate import available_memory, real_array
from ..errors import AievoError, InvalidParameterError, NumericalRangeError, ShapeError, bad_argument

__all__ = [
    "as_rng",
    "spawn",
    "renamed_keyword",
    "check_int",
    "check_float",
    "check_array",
    "check_alloc",
    "finite_result",
]

F = TypeVar("F", bound=Callable[..., Any])


def check_alloc(n_values: int, name: str, value: Any, what: str = "arrays") -> None:
    """Refuse a request whose float64 arrays (``n_values`` numbers) would not fit in memory."""
    need = 8 * int(n_values)
    avail = available_memory()
    if need > avail:
        raise bad_argument(
            InvalidParameterError, name, value,
            f"sizes whose {what} fit in memory (these need {need / 2**30:.3g} GiB, "
            f"{avail / 2**30:.3g} GiB are available)",
        )


def _non_finite(out: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(out, np.ndarray):
        return out.dtype.kind in "fc" and not bool(np.all(np.isfinite(out)))
    if isinstance(out, (float, np.floating)):
        return not np.isfinite(out)
    if isinstance(out, Mapping):
        return any(_non_finite(v, depth + 1) for v in out.values())
    if isinstance(out, (tuple, list)):
        return any(_non_finite(v, depth + 1) for v in out)
    return False


def finite_result(fn: F) -> F:
    """Run ``fn`` with floating-point warnings silenced and refuse a NaN or infinite result.

    The inputs are checked finite by the functions themselves; a non-finite
    result then means their scale overflowed float64 (``1e200`` squared, for
    example), which raises :class:`~aievo.errors.NumericalRangeError` naming the
    largest input magnitude instead of returning NaN with a RuntimeWarning.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            try:
                out = fn(*args, **kwargs)
            except (MemoryError, OverflowError) as exc:
                raise NumericalRangeError(
                    f"{fn.__name__}: the arguments need more memory or range than available "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            except np.linalg.LinAlgError as exc:
                if isinstance(exc, AievoError):  # pragma: no cover
                    raise
                raise NumericalRangeError(
                    f"{fn.__name__}: a linear solve failed ({exc}); the inputs are singular or out of range"
                ) from None
        if _non_finite(out):
            scale = _largest(args, kwargs)
            raise NumericalRangeError(
                f"{fn.__name__}: the result is not finite (NaN or inf) for finite inputs of magnitude up to "
                f"{scale:.3g}: expected inputs whose products stay within float64 range (about 1e154 per "
                "factor); rescale the inputs"
            )
        return out

    return wrapper  # type: ignore[return-value]


def _largest(args: tuple, kwargs: dict) -> float:
    best = 0.0
    for v in (*args, *kwargs.values()):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if a.size and np.all(np.isfinite(a)):
            best = max(best, float(np.max(np.abs(a))))
    return best


def spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``rng.spawn(n)``: ``n`` independent child generators, also on numpy 1.24.

    ``Generator.spawn`` arrived in numpy 1.25; before it, the same children
    come from spawning the generator's seed sequence, which is what
    ``Generator.spawn`` does, so both give identical streams.
    """
    if hasattr(rng, "spawn"):
        return list(rng.spawn(n))
    bit_generator = rng.bit_generator
    children = bit_generator._seed_seq.spawn(n)  # type: ignore[attr-defined]  # numpy < 1.25 has no public name
    return [np.random.Generator(type(bit_generator)(seq)) for seq in children]


def as_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """Return a Generator from anything :func:`numpy.random.default_rng` accepts.

    ``None`` (fresh OS entropy), a non-negative int or a sequence of them, a
    :class:`~numpy.random.SeedSequence`, a :class:`~numpy.random.BitGenerator`,
    or a :class:`~numpy.random.Generator` (returned as is, so its state is
    shared). ``rng=s``, ``rng=default_rng(s)`` and ``rng=SeedSequence(s)``
    give the same numbers. Anything else (a bool, a negative int, a float, a
    string) raises :class:`~aievo.errors.InvalidParameterError`.
    """
    expected = (
        "None, a non-negative int seed (or a sequence of them), a numpy.random.SeedSequence, "
        "BitGenerator or Generator"
    )
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(rng)
    if isinstance(rng, (numbers.Integral, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if int(rng) < 0:
            raise bad_argument(InvalidParameterError, name, rng, expected)
        return np.random.default_rng(int(rng))
    if isinstance(rng, (list, tuple, np.ndarray)):
        words = np.asarray(rng, dtype=object).ravel()
        if words.size and all(
            isinstance(e, (numbers.Integral, np.integer)) and not isinstance(e, (bool, np.bool_)) and int(e) >= 0
            for e in words
        ):
            return np.random.default_rng([int(e) for e in words])
    raise bad_argument(InvalidParameterError, name, rng, expected)


def renamed_keyword(old: str, new: str) -> Callable[[F], F]:
    """Decorator: keyword ``old`` still works for one release, as ``new``, with a DeprecationWarning."""

    def decorate(fn: F) -> F:
        who = fn.__qualname__.removesuffix(".__init__")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise bad_argument(
                        InvalidParameterError, old, kwargs[old], f"only {new}= ({old}= is its deprecated name), not both"
                    )
                warnings.warn(
                    f"{who}({old}=...) is deprecated: use {new}=...; {old}= will be removed in the next release",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


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
    try:
        out = float(value)
    except OverflowError:  # an int beyond float range
        raise bad_argument(InvalidParameterError, name, value, "a finite real number") from None
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
    arr = real_array(value, name, finite=False, cls=ShapeError, what="a real-valued array")
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        what = shape_text or " or ".join(f"{k}-d" for k in allowed) + " array"
        raise bad_argument(ShapeError, f"{name}.shape", arr.shape, what)
    if not np.all(np.isfinite(arr)):
        raise bad_argument(InvalidParameterError, name, "array with NaN/inf", "finite values only")
    return arr
