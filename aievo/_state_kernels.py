"""Numba kernel of state-dependent fitness (:mod:`aievo.state`).

Arrays and scalars in, arrays out; :mod:`aievo.state` validates everything.
Each generation the fitness of every program is recomputed from the current
shares and the evaluator's state, checked, and used for the usual update::

    g_t(j)   = sum_{v in group j} x_t(v)                        (group shares)
    f_t(v)   = f(v) + sum_k A[group(v), k] g_t(k) - (1 + penalty) p_t d(v)
    F_t      = sum_v x_t(v) f_t(v)
    x_{t+1}  = (x_t f_t) T / F_t,      log N_{t+1} = log N_t + log F_t
    p_{t+1}  = (1 - rate) p_t + rate (1 - exp(-sensitivity * dbar_t)),
               dbar_t = sum_v x_t(v) d(v)

With ``A`` of size 0 there is no payoff term; with ``d = 0`` no evaluator.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["run_state_dependent", "state_fitness"]


@njit(cache=True, nogil=True)
def state_fitness(f, A, groups, m, d, coef, x, gs, out):
    """``out = f + A[groups] @ gs - coef * d`` with ``gs`` the group shares of ``x``.

    Returns the index of the first program whose fitness is negative or not
    finite, or ``-1``.
    """
    n = f.shape[0]
    if m > 0:
        for j in range(m):
            gs[j] = 0.0
        for v in range(n):
            gs[groups[v]] += x[v]
    bad = -1
    for v in range(n):
        s = f[v]
        if m > 0:
            row = groups[v]
            for k in range(m):
                s += A[row, k] * gs[k]
        if coef != 0.0:
            s -= coef * d[v]
        out[v] = s
        if bad < 0 and not (s >= 0.0 and s < np.inf):
            bad = v
    return bad


@njit(cache=True, nogil=True)
def run_state_dependent(
    indptr, indices, data, f, y0, generations, Z, snap_times, A, groups, d, penalty, rate, sensitivity, p0
):
    """Run the state-dependent dynamics for ``generations`` steps.

    Parameters
    ----------
    indptr, indices, data : int64[:], int64[:], float64[:]
        CSR design kernel.
    f : float64[:]
        Base fitness.
    y0 : float64[:]
        Initial shares.
    generations : int64
    Z : float64[:, :]
        Traits whose means are recorded.
    snap_times : int64[:]
        Sorted times of the recorded share vectors.
    A : float64[:, :]
        Payoff matrix over groups (``(0, 0)``: none).
    groups : int64[:]
        Group of each program.
    d : float64[:]
        Deception trait read by the evaluator.
    penalty, rate, sensitivity, p0 : float64
        Evaluator parameters (``rate = 0`` and ``p0 = 0``: no evaluator).

    Returns
    -------
    mean_f, log_n, zmeans, snaps, x_final, extinct_at, p, bad_t, bad_v, bad_f
        As :func:`aievo._kernels.run_deterministic`, plus the detection
        probability ``p_t`` (float64[G+1]) and, if the fitness of program
        ``bad_v`` became negative or not finite at generation ``bad_t``, those
        and its value (``bad_t = -1`` otherwise; the run stops there).
    """
    n = f.shape[0]
    G = generations
    k = Z.shape[0]
    m = A.shape[0]
    mean_f = np.full(G + 1, np.nan)
    log_n = np.full(G + 1, -np.inf)
    log_n[0] = 0.0
    zmeans = np.full((k, G + 1), np.nan)
    snaps = np.zeros((snap_times.shape[0], n))
    p_series = np.full(G + 1, np.nan)
    x = y0.copy()
    y = np.zeros(n)
    fit = np.zeros(n)
    gs = np.zeros(max(m, 1))
    p = p0
    extinct_at = -1
    bad_t = -1
    bad_v = -1
    bad_f = 0.0
    snap_i = 0
    for t in range(G + 1):
        p_series[t] = p
        bad = state_fitness(f, A, groups, m, d, (1.0 + penalty) * p, x, gs, fit)
        if bad >= 0:
            bad_t = t
            bad_v = bad
            bad_f = fit[bad]
            break
        F = 0.0
        dbar = 0.0
        for j in range(k):
            zmeans[j, t] = 0.0
        for v in range(n):
            xv = x[v]
            if xv != 0.0:
                F += xv * fit[v]
                dbar += xv * d[v]
                for j in range(k):
                    zmeans[j, t] += xv * Z[j, v]
        mean_f[t] = F
        while snap_i < snap_times.shape[0] and snap_times[snap_i] == t:
            for v in range(n):
                snaps[snap_i, v] = x[v]
            snap_i += 1
        if t == G:
            break
        if F == 0.0:
            extinct_at = t
            break
        log_n[t + 1] = log_n[t] + np.log(F)
        inv = 1.0 / F
        for v in range(n):
            y[v] = 0.0
        for v in range(n):
            hv = x[v] * fit[v] * inv
            if hv != 0.0:
                for e in range(indptr[v], indptr[v + 1]):
                    y[indices[e]] += hv * data[e]
        for v in range(n):
            x[v] = y[v]
        p = (1.0 - rate) * p - rate * np.expm1(-sensitivity * dbar)
    return mean_f, log_n, zmeans, snaps, x.copy(), extinct_at, p_series, bad_t, bad_v, bad_f
