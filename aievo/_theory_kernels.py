"""Numba kernels of the theory layer: arrays and scalars in, arrays out.

Nothing here validates input; :mod:`aievo.lineage` does that and passes
contiguous ``int64`` / ``float64`` arrays. Graphs are passed in CSR form
(``indptr``, ``indices``). Callers pass ``int64`` index arrays and ``float64``
values (read-only views are fine), so each kernel compiles once per layout.

* :func:`dag_max` propagates a per-component value to every component that can
  reach it in the condensation DAG (the maximum over reachable components).
* :func:`component_max_cycle_mean` runs Karp's algorithm on every strongly
  connected component: the largest mean node weight over the cycles inside it.
* :func:`maxplus_lineage` iterates ``L_{t+1}(v) = w(v) + max_{v -> u} L_t(u)``:
  the best total node weight over the walks of length ``t`` that start at ``v``.
* :func:`log_clade_abundance` iterates ``N_t^v`` with a per-program exponent,
  so slowly growing clades do not underflow next to fast ones.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["component_max_cycle_mean", "dag_max", "log_clade_abundance", "maxplus_lineage", "split_exponent"]


@njit(cache=True, nogil=True)
def dag_max(indptr, indices, value):
    """``best[c] = max(value[c], best[d] for every successor d of c)`` on a DAG.

    Iterative depth-first search: a component is final once all its
    successors are, so each edge is used once. Self-edges are ignored.
    """
    m = value.shape[0]
    best = value.copy()
    state = np.zeros(m, dtype=np.int8)  # 0 unseen, 1 on the stack, 2 done
    stack = np.empty(m, dtype=np.int64)
    pos = np.empty(m, dtype=np.int64)
    for s in range(m):
        if state[s] != 0:
            continue
        top = 0
        stack[0] = s
        pos[0] = indptr[s]
        state[s] = 1
        while top >= 0:
            c = stack[top]
            p = pos[top]
            if p < indptr[c + 1]:
                pos[top] = p + 1
                d = indices[p]
                if state[d] == 0:
                    state[d] = 1
                    top += 1
                    stack[top] = d
                    pos[top] = indptr[d]
                elif state[d] == 2:
                    best[c] = max(best[c], best[d])
            else:
                state[c] = 2
                top -= 1
                if top >= 0:
                    parent = stack[top]
                    best[parent] = max(best[parent], best[c])
    return best


@njit(cache=True, nogil=True)
def component_max_cycle_mean(indptr, indices, weight, comp, order, comp_start, local):
    """Largest mean node weight over the cycles of each strongly connected component.

    Karp's theorem, with every node of the component as a start:
    ``D_j(w)`` is the largest weight of a walk of exactly ``j`` edges ending at
    ``w`` (a walk's weight sums ``weight`` over the nodes it leaves), and the
    maximum cycle mean is ``max_w min_{j < k} (D_k(w) - D_j(w)) / (k - j)``
    over ``w`` with ``D_k(w) > -inf``. Edges leaving the component are ignored.

    Parameters
    ----------
    indptr, indices : int64[:]
        CSR adjacency of the whole graph.
    weight : float64[:]
        Node weights (``-inf`` makes a node unusable).
    comp : int64[:]
        Component label of each node.
    order : int64[:]
        Nodes sorted by component.
    comp_start : int64[:]
        ``order[comp_start[c]:comp_start[c+1]]`` are the nodes of component ``c``.
    local : int64[:]
        Position of each node within its component.

    Returns
    -------
    float64[n_components]
        ``-inf`` for a component without a cycle of finite weight.
    """
    n_comp = comp_start.shape[0] - 1
    out = np.full(n_comp, -np.inf)
    for c in range(n_comp):
        lo = comp_start[c]
        k = comp_start[c + 1] - lo
        D = np.full((k + 1, k), -np.inf)
        for a in range(k):
            D[0, a] = 0.0
        for j in range(k):
            for a in range(k):
                dv = D[j, a]
                if dv == -np.inf:
                    continue
                v = order[lo + a]
                wv = weight[v]
                if wv == -np.inf:
                    continue
                for e in range(indptr[v], indptr[v + 1]):
                    u = indices[e]
                    if comp[u] != c:
                        continue
                    b = local[u]
                    cand = dv + wv
                    D[j + 1, b] = max(D[j + 1, b], cand)
        best = -np.inf
        for a in range(k):
            dk = D[k, a]
            if dk == -np.inf:
                continue
            worst = np.inf
            for j in range(k):
                dj = D[j, a]
                if dj == -np.inf:
                    continue
                r = (dk - dj) / (k - j)
                worst = min(worst, r)
            best = max(best, worst)
        out[c] = best
    return out


@njit(cache=True, nogil=True)
def maxplus_lineage(indptr, indices, weight, times, t_max):
    """Best walk weight ``L_t(v)`` of length ``t`` from every node, at each requested time.

    ``L_0 = 0`` and ``L_{t+1}(v) = weight(v) + max_{v -> u} L_t(u)`` (``-inf`` if
    ``v`` has no successor or ``weight(v) = -inf``). ``times`` must be sorted.

    Returns float64[len(times), n].
    """
    n = weight.shape[0]
    a = np.zeros(n)
    b = np.empty(n)
    out = np.full((times.shape[0], n), -np.inf)
    ti = 0
    for t in range(t_max + 1):
        while ti < times.shape[0] and times[ti] == t:
            for v in range(n):
                out[ti, v] = a[v]
            ti += 1
        if t == t_max:
            break
        for v in range(n):
            m = -np.inf
            for e in range(indptr[v], indptr[v + 1]):
                x = a[indices[e]]
                m = max(m, x)
            if m == -np.inf or weight[v] == -np.inf:
                b[v] = -np.inf
            else:
                b[v] = weight[v] + m
        for v in range(n):
            a[v] = b[v]
    return out


@njit(cache=True, nogil=True)
def split_exponent(values, up, down):
    """Write each positive value as ``m * up**k`` with ``m`` in ``[down, 1]`` (``up = 1/down``).

    Returns ``(m, k)``; zero values give ``m = 0, k = 0``. Repeated scaling by
    the float ``up`` (not ``exp``), so the representation is the one the
    kernels multiply with, and subnormal inputs terminate.
    """
    n = values.shape[0]
    m = np.zeros(n)
    k = np.zeros(n, dtype=np.int64)
    for i in range(n):
        v = values[i]
        if not v > 0.0:
            continue
        kk = 0
        while v > 1.0:
            v *= down
            kk += 1
        while v < down:
            v *= up
            kk -= 1
        m[i] = v
        k[i] = kk
    return m, k


@njit(cache=True, nogil=True)
def log_clade_abundance(indptr, indices, data, f, times, t_max):
    """``log N_t^v`` for every program ``v`` at each time in ``times``, without underflow.

    The backward recursion ``a_{t+1}(v) = f(v) sum_w T(v, w) a_t(w)`` from
    ``a_0 = 1``, with every value, every design probability and every fitness
    stored as ``m * up**k``: a mantissa ``m`` in ``[down, 1]`` (``down = 1/up =
    exp(-150)``) and an integer exponent ``k``. A term ``T(v, w) a_t(w)`` has a
    mantissa in ``[down**2, 1]`` and the exponent ``k_T + k_w``, so the row sum
    aligns its terms on the largest such exponent ``K``, weighing the terms one
    and two exponents below by ``down`` and ``down**2`` (all normal floats);
    terms three or more below are below ``down**3`` while the largest term is
    at least ``down**2``, a relative ``exp(-150)`` that is dropped. The
    probability is part of the exponent, so a term with a tiny probability on a
    fast-growing clade is kept when it dominates, and the loop that normalises
    the mantissa always ends (the sum is a normal float). Every clade keeps
    full relative precision, however much more slowly it grows than the
    fastest one. ``times`` must be sorted.

    Returns float64[len(times), n] (``-inf`` only where the clade is extinct).
    """
    n = f.shape[0]
    up = np.exp(150.0)
    down = 1.0 / up
    down2 = down * down
    L = np.log(up)
    dm, dk = split_exponent(data, up, down)
    fm, fk = split_exponent(f, up, down)
    m = np.ones(n)
    k = np.zeros(n, dtype=np.int64)
    m2 = np.zeros(n)
    k2 = np.zeros(n, dtype=np.int64)
    out = np.full((times.shape[0], n), -np.inf)
    ti = 0
    for t in range(t_max + 1):
        while ti < times.shape[0] and times[ti] == t:
            for v in range(n):
                if m[v] > 0.0:
                    out[ti, v] = np.log(m[v]) + L * k[v]
            ti += 1
        if t == t_max:
            break
        for v in range(n):
            m2[v] = 0.0
            k2[v] = 0
            if fm[v] <= 0.0:
                continue
            found = False
            K = 0
            for e in range(indptr[v], indptr[v + 1]):
                w = indices[e]
                if m[w] > 0.0 and dm[e] > 0.0:
                    kw = k[w] + dk[e]
                    if not found or kw > K:
                        K = kw
                        found = True
            if not found:
                continue
            s = 0.0
            for e in range(indptr[v], indptr[v + 1]):
                w = indices[e]
                if m[w] > 0.0 and dm[e] > 0.0:
                    d = K - k[w] - dk[e]
                    if d == 0:
                        s += dm[e] * m[w]
                    elif d == 1:
                        s += dm[e] * m[w] * down
                    elif d == 2:
                        s += (dm[e] * m[w]) * down2
            s *= fm[v]
            kk = K + fk[v]
            while s > 1.0:
                s *= down
                kk += 1
            while s < down:
                s *= up
                kk -= 1
            m2[v] = s
            k2[v] = kk
        for v in range(n):
            m[v] = m2[v]
            k[v] = k2[v]
    return out
