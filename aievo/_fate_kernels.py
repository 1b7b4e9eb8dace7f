"""Numba kernels of the finite-population fate estimators (:mod:`aievo.fixation`).

Arrays and scalars in, arrays out; nothing here validates input. The design
kernel comes in CSR form (``indptr`` int64, ``indices`` int64, ``data``
float64), counts are ``int64``, masks ``bool``.

Random numbers come from numba's own generator, seeded once per replicate
with ``np.random.seed(seeds[r])`` (``seeds`` are drawn by the caller from a
:class:`numpy.random.Generator`), so replicate ``r`` depends only on its seed.

Two processes, both with ``K`` individuals:

* **Wright-Fisher**: every generation all ``K`` are replaced by ``K``
  offspring, multinomial with cell probabilities ``sum_v n(v) f(v) T(v, w) /
  sum_v n(v) f(v)`` (drawn as a chain of conditional binomials);
* **Moran** (birth-death): one event picks a parent with probability
  proportional to ``n(v) f(v)``, its offspring's program by ``T(v, .)``, and
  the offspring replaces an individual picked uniformly among the ``K``
  (possibly the parent). ``K`` events make one generation.

With a payoff (``A`` of shape ``(m, m)`` over the groups ``groups``) the fitness
is recomputed before every draw from the current counts:
``f + (A g)[groups]``, ``g`` the group shares (:func:`effective_fitness`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["effective_fitness", "wf_step", "moran_event", "fixation_runs", "share_runs"]

#: outcome codes of :func:`fixation_runs`
LOST, FIXED, UNRESOLVED = 0, 1, -1


@njit(cache=True, nogil=True)
def effective_fitness(f, A, groups, counts, K, gs, fit):
    """``fit = f + (A g)[groups]`` with ``g`` the group shares of ``counts / K``; returns ``fit``.

    With ``A`` of size 0 returns ``f`` itself (no payoff).
    """
    m = A.shape[0]
    if m == 0:
        return f
    n = f.shape[0]
    for j in range(m):
        gs[j] = 0.0
    for v in range(n):
        gs[groups[v]] += counts[v] / K
    for v in range(n):
        s = f[v]
        row = groups[v]
        for k in range(m):
            s += A[row, k] * gs[k]
        fit[v] = s
    return fit


@njit(cache=True, nogil=True)
def wf_step(indptr, indices, data, f, counts, K, p, out):
    """One Wright-Fisher generation: ``out`` receives the new counts (``p`` is scratch).

    Returns ``False`` if the population has zero total fitness (extinct).
    """
    n = f.shape[0]
    for w in range(n):
        p[w] = 0.0
    W = 0.0
    for v in range(n):
        if counts[v] > 0:
            hv = counts[v] * f[v]
            if hv != 0.0:
                W += hv
                for e in range(indptr[v], indptr[v + 1]):
                    p[indices[e]] += hv * data[e]
    if W <= 0.0:
        return False
    remaining = K
    rest = 1.0
    for w in range(n):
        out[w] = 0
    for w in range(n):
        if remaining == 0:
            break
        pw = p[w] / W
        if pw <= 0.0:
            continue
        if pw >= rest:
            out[w] = remaining
            remaining = 0
            break
        k = np.random.binomial(remaining, pw / rest)
        out[w] = k
        remaining -= k
        rest -= pw
    if remaining > 0:  # rounding left a few individuals undrawn: the last cell takes them
        for w in range(n - 1, -1, -1):
            if p[w] > 0.0:
                out[w] += remaining
                break
    return True


@njit(cache=True, nogil=True)
def moran_event(indptr, indices, data, f, counts, K):
    """One Moran birth-death event, in place. Returns ``False`` if total fitness is zero."""
    n = f.shape[0]
    W = 0.0
    for v in range(n):
        if counts[v] > 0:
            W += counts[v] * f[v]
    if W <= 0.0:
        return False
    # parent proportional to n(v) f(v)
    u = np.random.random() * W
    parent = -1
    acc = 0.0
    for v in range(n):
        if counts[v] > 0 and f[v] > 0.0:
            acc += counts[v] * f[v]
            parent = v
            if u < acc:
                break
    # offspring's program by T(parent, .)
    u = np.random.random()
    child = indices[indptr[parent + 1] - 1]
    acc = 0.0
    for e in range(indptr[parent], indptr[parent + 1]):
        acc += data[e]
        if u < acc:
            child = indices[e]
            break
    # the individual that dies: uniform among the K
    k = np.random.randint(0, K)
    dead = -1
    acc_i = 0
    for v in range(n):
        acc_i += counts[v]
        if k < acc_i:
            dead = v
            break
    counts[dead] -= 1
    counts[child] += 1
    return True


@njit(cache=True, nogil=True)
def _in_target(counts, target):
    s = 0
    for v in range(counts.shape[0]):
        if target[v]:
            s += counts[v]
    return s


@njit(cache=True, nogil=True)
def fixation_runs(indptr, indices, data, f, A, groups, counts0, K, target, moran, max_generations, seeds):
    """First passage of the target set to all ``K`` individuals (fixed) or to none (lost).

    Returns ``outcome`` (int64 per replicate: 1 fixed, 0 lost, -1 unresolved
    after ``max_generations`` generations or on extinction) and ``time`` (the
    generation of the outcome; for Moran, events / K rounded up).
    """
    runs = seeds.shape[0]
    n = f.shape[0]
    outcome = np.full(runs, UNRESOLVED, dtype=np.int64)
    time = np.full(runs, max_generations, dtype=np.int64)
    counts = np.empty(n, dtype=np.int64)
    nxt = np.empty(n, dtype=np.int64)
    p = np.empty(n, dtype=np.float64)
    fit = np.empty(n, dtype=np.float64)
    gs = np.empty(max(A.shape[0], 1), dtype=np.float64)
    for r in range(runs):
        np.random.seed(seeds[r])
        for v in range(n):
            counts[v] = counts0[v]
        m = _in_target(counts, target)
        if m == K:
            outcome[r] = FIXED
            time[r] = 0
            continue
        if m == 0:
            outcome[r] = LOST
            time[r] = 0
            continue
        if moran:
            events = 0
            max_events = max_generations * K
            while events < max_events:
                if not moran_event(indptr, indices, data, effective_fitness(f, A, groups, counts, K, gs, fit),
                                   counts, K):
                    break
                events += 1
                m = _in_target(counts, target)
                if m == K or m == 0:
                    outcome[r] = FIXED if m == K else LOST
                    time[r] = (events + K - 1) // K
                    break
        else:
            for t in range(1, max_generations + 1):
                if not wf_step(indptr, indices, data, effective_fitness(f, A, groups, counts, K, gs, fit),
                               counts, K, p, nxt):
                    break
                for v in range(n):
                    counts[v] = nxt[v]
                m = _in_target(counts, target)
                if m == K or m == 0:
                    outcome[r] = FIXED if m == K else LOST
                    time[r] = t
                    break
    return outcome, time


@njit(cache=True, nogil=True)
def share_runs(indptr, indices, data, f, A, groups, counts0, K, mask, moran, generations, seeds):
    """Share of ``mask`` at each generation ``0 .. generations`` of every replicate.

    Returns a ``(runs, generations + 1)`` float64 array; after extinction
    (zero total fitness) the remaining entries are NaN.
    """
    runs = seeds.shape[0]
    n = f.shape[0]
    out = np.full((runs, generations + 1), np.nan)
    counts = np.empty(n, dtype=np.int64)
    nxt = np.empty(n, dtype=np.int64)
    p = np.empty(n, dtype=np.float64)
    fit = np.empty(n, dtype=np.float64)
    gs = np.empty(max(A.shape[0], 1), dtype=np.float64)
    for r in range(runs):
        np.random.seed(seeds[r])
        for v in range(n):
            counts[v] = counts0[v]
        out[r, 0] = _in_target(counts, mask) / K
        for t in range(1, generations + 1):
            alive = True
            if moran:
                for _ in range(K):
                    if not moran_event(indptr, indices, data, effective_fitness(f, A, groups, counts, K, gs, fit),
                                       counts, K):
                        alive = False
                        break
            else:
                alive = wf_step(indptr, indices, data, effective_fitness(f, A, groups, counts, K, gs, fit),
                                counts, K, p, nxt)
                if alive:
                    for v in range(n):
                        counts[v] = nxt[v]
            if not alive:
                break
            out[r, t] = _in_target(counts, mask) / K
    return out
