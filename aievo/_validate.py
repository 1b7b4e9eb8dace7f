"""Private argument checks shared by every public entry point of aievo.

One rule per kind of argument, so the API, the TOML readers and the command
line refuse the same inputs with the same words. Every check raises an
:class:`~aievo.errors.AievoError` subclass whose message names the argument,
the value it had and what was expected; nothing is truncated, clipped or
silently converted:

* integers are integers: ``1.5``, ``True``, ``"3"`` are refused (``1.0`` too:
  an index or a count is never a float);
* real numbers are real: complex values (even with a zero imaginary part),
  booleans and strings are refused instead of being cast with a
  ``ComplexWarning``;
* sizes are computed with Python integers or logarithms, never by building the
  number ``k ** (depth + 1)``, so an absurd request fails at once;
* the memory a tree of ``n`` programs needs is predicted from one constant per
  kind of graph (:data:`BYTES_PER_PROGRAM`, :data:`BYTES_PER_TREE_PROGRAM` for
  trees) and compared with the memory available, for :func:`aievo.kary_tree`
  and its relatives as well as for scenario files.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from typing import Any

import numpy as np

from .errors import AievoError, InvalidParameterError, ShapeError, bad_argument

__all__ = [
    "BYTES_PER_PROGRAM",
    "BYTES_PER_TREE_PROGRAM",
    "MAX_INDEX_PROGRAMS",
    "available_memory",
    "check_int",
    "check_real",
    "check_rng",
    "real_array",
    "int_array",
    "kary_size",
    "kary_log2",
    "check_tree_fits",
]

#: Bytes one program of an explicit tree costs from construction to the end of
#: :func:`aievo.simulate` for as many generations as its depth (int32 parent and
#: depths, fitness, design probabilities, the run's gather arrays, schedule and
#: shares). Measured peak (``python benchmarks/run.py --only construction``,
#: 2026-12-07): 77-79 bytes per program for ``binary_pm_tree``, ``kary_tree`` and
#: ``unfold``, 81-94 for ``random_tree``; 92 is within 22 % of each. A chain has
#: its own constant (its depth is its size, and a run keeps a few numbers per
#: generation): measured 117-126, predicted 128.
BYTES_PER_TREE_PROGRAM = 92

#: The same prediction for every kind of explicit graph the guard checks: the
#: trees above, and graphs stored as a CSR kernel (measured the same way:
#: ``lattice`` 171 bytes per program, :func:`aievo.traits.deception_grid` 334,
#: the scenario files' ``trait_grid``, with a label per program, 251).
BYTES_PER_PROGRAM = {"tree": BYTES_PER_TREE_PROGRAM, "chain": 128, "lattice": 176, "deception_grid": 336, "trait_grid": 256}

#: An explicit graph has at most this many programs (indices must fit in int32
#: for the compact tree kernels; beyond that aievo.lazy is the tool).
MAX_INDEX_PROGRAMS = 2**31 - 2


# ---------------------------------------------------------------------- scalars
def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(
    value: Any,
    name: str,
    lo: int | None = None,
    hi: int | None = None,
    *,
    cls: type[AievoError] = InvalidParameterError,
) -> int:
    """``value`` as a Python int in ``[lo, hi]``; floats, bools and strings are refused."""
    if _is_bool(value) or isinstance(value, (float, complex, str, bytes, np.floating, np.complexfloating)):
        i = None
    else:
        try:
            i = operator.index(value)
        except TypeError:
            i = None
    if i is None or (lo is not None and i < lo) or (hi is not None and i > hi):
        if lo is not None and hi is not None:
            what = f"an integer in [{lo}, {hi}]"
        elif lo is not None:
            what = f"an integer >= {lo}"
        elif hi is not None:
            what = f"an integer <= {hi}"
        else:
            what = "an integer"
        raise bad_argument(cls, name, value, what)
    return int(i)


def check_real(
    value: Any,
    name: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = True,
    cls: type[AievoError] = InvalidParameterError,
    expected: str | None = None,
) -> float:
    """``value`` as a float in the given interval; complex, bool and str are refused."""
    if expected is None:
        lb = "" if lo is None else ("(" if lo_open else "[") + f"{lo:g}"
        ub = "" if hi is None else f"{hi:g}" + (")" if hi_open else "]")
        if lo is not None and hi is not None:
            expected = f"a real number in {lb}, {ub}"
        elif lo is not None:
            expected = f"a real number {'>' if lo_open else '>='} {lo:g}"
        elif hi is not None:
            expected = f"a real number {'<' if hi_open else '<='} {hi:g}"
        else:
            expected = "a finite real number" if finite else "a real number"
    ok = not _is_bool(value) and isinstance(value, (numbers.Real, np.integer, np.floating))
    if not ok and isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value, ok = value.item(), True
    if not ok:
        raise bad_argument(cls, name, value, expected)
    try:
        x = float(value)
    except (OverflowError, TypeError, ValueError):
        raise bad_argument(cls, name, value, expected) from None
    if math.isnan(x) or (finite and math.isinf(x)):
        raise bad_argument(cls, name, value, expected)
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise bad_argument(cls, name, value, expected)
    if hi is not None and (x > hi or (hi_open and x == hi)):
        raise bad_argument(cls, name, value, expected)
    return x


def check_rng(value: Any, name: str = "rng") -> np.random.Generator:
    """A Generator from ``None``, a non-negative int seed, a SeedSequence or a Generator."""
    if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
        return np.random.default_rng(value)
    if not _is_bool(value):
        try:
            seed = operator.index(value)
        except TypeError:
            seed = None
        if seed is not None and seed >= 0:
            return np.random.default_rng(seed)
    raise bad_argument(
        InvalidParameterError, name, value,
        "None, an integer seed >= 0, a numpy.random.SeedSequence or a numpy.random.Generator",
    )


# ---------------------------------------------------------------------- arrays
def _as_array(value: Any, name: str, cls: type[AievoError], what: str) -> np.ndarray:
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise bad_argument(cls, name, value, what)
    try:
        with np.errstate(all="ignore"):
            arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        raise bad_argument(cls, name, value, what) from None
    if arr.dtype == object:  # ragged, None entries, huge Python ints, Decimal ...
        raise bad_argument(cls, name, value, what)
    return arr


def real_array(
    value: Any,
    name: str,
    *,
    ndim: int | None = None,
    finite: bool = True,
    cls: type[AievoError] = InvalidParameterError,
    what: str = "an array of real numbers",
    allow_bool: bool = False,
    copy: bool = True,
) -> np.ndarray:
    """A float64 copy of ``value``; complex and string arrays (and boolean ones, unless allowed) are refused.

    With ``copy=False`` a float64 array is returned as it is (for a caller that only reads it).
    """
    arr = _as_array(value, name, cls, what)
    kinds = "iufb" if allow_bool else "iuf"
    if arr.dtype.kind not in kinds and not (arr.size == 0 and arr.dtype.kind in "iufbUS"):
        raise bad_argument(cls, name, value, what)
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{name} has shape {arr.shape}: expected a {ndim}-D array ({what})")
    out = np.array(arr, dtype=np.float64) if copy else np.asarray(arr, dtype=np.float64)
    if finite and not np.all(np.isfinite(out)):
        bad = np.flatnonzero(~np.isfinite(out.ravel()))
        i = np.unravel_index(int(bad[0]), out.shape)
        where = f"{name}[{', '.join(str(int(k)) for k in i)}]" if out.ndim else name
        raise bad_argument(cls, where, out[i].item() if out.ndim else float(out), f"a finite real number ({what})")
    return out


def int_array(
    value: Any,
    name: str,
    *,
    lo: int | None = None,
    hi: int | None = None,
    cls: type[AievoError] = InvalidParameterError,
    what: str = "integers",
) -> np.ndarray:
    """An int64 copy of ``value`` (any shape); non-integer values are refused, not truncated."""
    arr = _as_array(value, name, cls, what)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise bad_argument(cls, name, value, what)
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and int(arr.max()) > np.iinfo(np.int64).max:
        raise bad_argument(cls, name, value, what)
    out = arr.astype(np.int64)
    bad = np.zeros(out.shape, dtype=bool)
    if lo is not None:
        bad |= out < lo
    if hi is not None:
        bad |= out > hi
    if bad.any():
        k = int(np.flatnonzero(bad.ravel())[0])
        rng_text = f"in [{lo}, {hi}]" if lo is not None and hi is not None else (
            f">= {lo}" if lo is not None else f"<= {hi}")
        raise bad_argument(cls, name, int(out.ravel()[k]), f"{what} {rng_text}")
    return out


# ---------------------------------------------------------------------- sizes
def available_memory() -> int:
    """Bytes of memory available to this process now (``MemAvailable``, capped by a cgroup limit)."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 16 * 2**30
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(limit_file, encoding="ascii") as fh:
                text = fh.read().strip()
            if text.isdigit():
                avail = min(avail, int(text))
        except OSError:
            continue
    return int(avail)


def kary_size(k: int, depth: int) -> int | None:
    """Programs of a complete ``k``-ary tree of depth ``depth``, or ``None`` if above 2**62.

    Decided with logarithms first, so ``k = 3, depth = 10**8`` costs nothing.
    """
    if k == 1:
        return depth + 1
    if depth + 1 > 62 or (depth + 1) * math.log2(k) > 62:  # k >= 2: k**(depth+1) >= 2**(depth+1)
        return None
    return (k ** (depth + 1) - 1) // (k - 1)


def kary_log2(k: int, depth: int) -> float:
    """``log2`` of the programs of a complete ``k``-ary tree (``inf`` when too large for a float)."""
    if k == 1:
        return math.log2(depth + 1)
    try:
        return float(depth + 1) * math.log2(k)
    except OverflowError:
        return math.inf


def _human(n_bytes: float) -> str:
    if n_bytes >= 1024**6:
        return f"about 2^{int(n_bytes).bit_length() - 1} B"
    n_bytes = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.3g} PiB"  # pragma: no cover


def check_tree_fits(n: int | None, name: str, value: Any, *, cls: type[AievoError] = InvalidParameterError,
                    log2_n: float | None = None, kind: str = "tree") -> int:
    """Refuse a tree (or graph) of ``n`` programs whose predicted memory exceeds what is available.

    ``n = None`` means "more than 2**62" (``log2_n`` then says how many). The rule
    is the same for the API and for scenario files: ``n * BYTES_PER_PROGRAM[kind]``
    bytes must fit in :func:`available_memory`, and ``n <= MAX_INDEX_PROGRAMS``.
    The message points to :mod:`aievo.lazy`, which simulates trees of any size.
    """
    hint = (
        "for trees too large to build, use aievo.lazy (LazyTree, simulate_lazy), "
        "which expands only the programs that matter"
    )
    if n is None:
        size = f"about 2^{log2_n:.4g} programs" if log2_n is not None else "more than 2^62 programs"
        raise bad_argument(cls, name, value, f"a tree that fits in memory (this one has {size}); {hint}")
    per_program = BYTES_PER_PROGRAM[kind]
    need = n * per_program
    avail = available_memory()
    if n > MAX_INDEX_PROGRAMS or need > avail:
        raise bad_argument(
            cls, name, value,
            f"a tree that fits in memory: this one has {n if n < 10**18 else f'about 10^{len(str(n)) - 1}'} "
            f"programs and needs about {_human(need)} "
            f"({per_program} bytes per program), {_human(avail)} are available; {hint}",
        )
    return n
