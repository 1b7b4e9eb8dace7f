"""A high-precision oracle for the deterministic engine (mpmath).

The update ``x_{t+1}(w) = sum_v x_t(v) f(v) T(v, w) / F_t`` and
``log N_{t+1} = log N_t + log F_t`` are run in ``mpmath`` binary floating
point with ``dps`` decimal digits and an unbounded exponent, so nothing
underflows or overflows and rounding is ~10**-dps. Fitness, kernel and
initial shares are converted from float64 exactly (``mpf(float)`` is exact).

This is an independent implementation: it shares no code with
:mod:`aievo._kernels` (a plain loop over the non-zeros of ``T``).
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np
import scipy.sparse as sp


@dataclass
class ExactRun:
    """Oracle result: mean fitness, log N and final shares (mpf), ``extinct_at``."""

    mean_fitness: list
    log_growth: list
    shares: list
    extinct_at: int | None


def exact_run(fitness, T, generations: int, initial=None, root: int = 0, dps: int = 50) -> ExactRun:
    """Run the deterministic dynamics with ``dps`` digits (see module docstring).

    After extinction (``F_t = 0``) the population is empty: ``F = 0`` and
    ``log N = -inf`` from then on, and the shares are those at extinction.
    """
    ctx = mpmath.mp.clone()
    ctx.dps = dps
    f = [ctx.mpf(float(v)) for v in np.asarray(fitness, dtype=np.float64)]
    n = len(f)
    A = sp.csr_array(T)
    rows = [
        [(int(A.indices[e]), ctx.mpf(float(A.data[e]))) for e in range(A.indptr[v], A.indptr[v + 1])
         if A.data[e] != 0.0]
        for v in range(n)
    ]
    if initial is None:
        x = [ctx.mpf(0)] * n
        x[root] = ctx.mpf(1)
    else:
        x = [ctx.mpf(float(v)) for v in initial]
    F_list, L_list = [], [ctx.mpf(0)]
    y_support: set[int] = set()
    extinct = None
    for t in range(generations + 1):
        support = [v for v in range(n) if x[v] != 0] if t == 0 else sorted(y_support)
        F = ctx.fsum(x[v] * f[v] for v in support)
        F_list.append(F)
        if t == generations:
            break
        if F == 0:
            extinct = t
            F_list += [ctx.mpf(0)] * (generations - t)
            L_list += [ctx.mpf("-inf")] * (generations - t)
            break
        L_list.append(L_list[-1] + ctx.log(F))
        y = [ctx.mpf(0)] * n
        y_support = set()
        for v in support:
            if f[v] != 0:
                h = x[v] * f[v] / F
                for w, p in rows[v]:
                    y[w] += h * p
                    y_support.add(w)
        x = y
    return ExactRun(F_list, L_list, x, extinct)


def rel_err(a: float, b) -> float:
    """``|a - b| / |b|`` with ``b`` an mpf (0 when both are 0)."""
    if b == 0:
        return 0.0 if a == 0 else float("inf")
    return float(abs(mpmath.mpf(a) - b) / abs(b))


def log_of(b) -> float:
    """Natural log of an mpf as a float (``-inf`` for 0)."""
    return float("-inf") if b == 0 else float(mpmath.log(b))
