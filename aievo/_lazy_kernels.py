"""Numba kernels of the lazy tree engine (:mod:`aievo.lazy`).

Arrays and scalars in, arrays out; nothing here validates the caller's input
(:mod:`aievo.lazy` does). The one kernel that calls the user's child rule is
:func:`expand`: it is compiled once per rule (numba specialises it on the
rule's type), everything else in :mod:`aievo.lazy` is vectorised numpy.

The rule contract (see :class:`aievo.lazy.LazyTree`)::

    rule(state: float64[:], depth: int64, params: float64[:],
         child_state: float64[:, :], child_fitness: float64[:],
         child_prob: float64[:], child_bound: float64[:]) -> int64

On entry ``child_fitness`` and ``child_prob`` hold NaN (so forgotten entries
are caught) and ``child_bound`` holds the declared ``F_max``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "expand",
    "bin_of",
    "OK",
    "BAD_COUNT",
    "BAD_FITNESS",
    "BAD_PROB",
    "BAD_PROB_SUM",
    "ABOVE_BOUND",
    "BOUND_ABOVE_PARENT",
]

OK = 0
BAD_COUNT = 1  # the rule returned a count outside [0, max_children]
BAD_FITNESS = 2  # a child's fitness is negative, NaN or infinite
BAD_PROB = 3  # a child's probability is negative, NaN or infinite
BAD_PROB_SUM = 4  # the children's probabilities do not sum to one
ABOVE_BOUND = 5  # a child's fitness exceeds the bound declared for its clade
BOUND_ABOVE_PARENT = 6  # a child's clade bound exceeds its parent's clade bound


@njit(cache=True, nogil=True)
def bin_of(c, edges, log_r):
    """Index ``b`` of the smallest geometric edge with ``edges[b] >= c``.

    ``edges[b] = edges[0] * r**-b`` decreases with ``b``; the last bin takes
    every ``c`` below its edge (so its edge is still ``>= c``).
    """
    nb = edges.shape[0]
    if c <= 0.0:
        return nb - 1
    x = np.log(edges[0] / c) / log_r
    if x >= nb - 1:
        b = nb - 1
    elif x <= 0.0:
        b = 0
    else:
        b = int(np.floor(x))
    while b > 0 and edges[b] < c:  # guard against rounding of the logarithm
        b -= 1
    return b


@njit(cache=True, nogil=True)
def expand(
    rule,
    params,
    S,
    f,
    c,
    depth,
    h,
    pid,
    kid_base,
    next_id,
    w_self,
    w_design,
    f_max,
    max_children,
    prob_tol,
    theta,
    edges,
    log_r,
    bins,
    out_S,
    out_f,
    out_c,
    out_depth,
    out_w,
    out_parent,
    out_self,
    out_pid,
    out_kb,
):
    """One generation of the unlocked programs' offspring (the locked part excluded).

    Parameters
    ----------
    rule : numba dispatcher
        The child rule.
    params : float64[:]
        Passed through to the rule.
    S, f, c, depth : float64[n, d], float64[n], float64[n], int64[n]
        State, fitness, clade bound and depth of each unlocked program.
    h : float64[n]
        ``x_t(v) f(v) / F_t``: the share of the next generation descended from ``v``.
    pid, kid_base : int64[n]
        Program identity of each entry, and the identity of its first child
        (``-1`` until it is first expanded; set here). Child ``j`` of a program
        is program ``kid_base + j`` at every expansion, so the entries that a
        preserved program creates in successive generations can be merged.
    next_id : int64
        The next unused program identity.
    w_self, w_design : float64
        Fractions of ``v``'s offspring that are ``v`` itself (preservation) and
        that follow the rule (the rest goes to the locked copy, handled outside).
    f_max : float64
        Declared upper bound on every fitness (pre-filled into ``child_bound``).
    max_children : int64
    prob_tol : float64
        Tolerance on the children's probability sum.
    theta : float64
        Entries whose new share is below ``theta`` are not emitted: their share
        is added to ``bins[bin_of(clade bound)]`` instead (pruning at emission).
    edges, log_r, bins : float64[nb], float64, float64[nb]
        The geometric bins of clade bounds and the pruned shares per bin.
    out_S, out_f, out_c, out_depth, out_w, out_parent, out_self, out_pid, out_kb : arrays
        Output buffers of the emitted entries (capacity checked by the caller).

    Returns
    -------
    m : int64
        Number of emitted entries.
    n_calls : int64
        Number of rule calls (programs expanded).
    n_pruned : int64
        Number of entries pruned at emission.
    code, at, child : int64
        Error code (``OK`` = 0), the offending parent and child index.
    next_id : int64
        The next unused program identity after this expansion.
    """
    n = S.shape[0]
    d = S.shape[1]
    cs = np.zeros((max_children, d))
    cf = np.empty(max_children)
    cp = np.empty(max_children)
    cb = np.empty(max_children)
    m = 0
    n_calls = 0
    n_pruned = 0
    cap = out_w.shape[0]
    for i in range(n):
        hi = h[i]
        if hi == 0.0:
            continue
        k = 0
        if w_design > 0.0:
            for j in range(max_children):
                cf[j] = np.nan
                cp[j] = np.nan
                cb[j] = f_max
            k = rule(S[i], depth[i], params, cs, cf, cp, cb)
            n_calls += 1
            if k < 0 or k > max_children:
                return m, n_calls, n_pruned, BAD_COUNT, i, k, next_id
            total = 0.0
            for j in range(k):
                fj = cf[j]
                if not (np.isfinite(fj) and fj >= 0.0):
                    return m, n_calls, n_pruned, BAD_FITNESS, i, j, next_id
                pj = cp[j]
                if not (np.isfinite(pj) and pj >= 0.0):
                    return m, n_calls, n_pruned, BAD_PROB, i, j, next_id
                if not (cb[j] >= fj):
                    return m, n_calls, n_pruned, ABOVE_BOUND, i, j, next_id
                if not (cb[j] <= c[i]):
                    return m, n_calls, n_pruned, BOUND_ABOVE_PARENT, i, j, next_id
                total += pj
            if k > 0 and not (abs(total - 1.0) <= prob_tol):
                return m, n_calls, n_pruned, BAD_PROB_SUM, i, k, next_id
            if k > 0 and kid_base[i] < 0:
                kid_base[i] = next_id
                next_id += k
        # the program itself: preservation, plus all of the design part for a leaf
        ws = w_self
        if k == 0:
            ws += w_design
        if ws > 0.0:
            w = hi * ws
            if w < theta:
                bins[bin_of(c[i], edges, log_r)] += w
                n_pruned += 1
            else:
                if m >= cap:
                    return m, n_calls, n_pruned, -1, i, -1, next_id
                for a in range(d):
                    out_S[m, a] = S[i, a]
                out_f[m] = f[i]
                out_c[m] = c[i]
                out_depth[m] = depth[i]
                out_w[m] = w
                out_parent[m] = i
                out_self[m] = True
                out_pid[m] = pid[i]
                out_kb[m] = kid_base[i]
                m += 1
        for j in range(k):
            w = hi * w_design * cp[j]
            if w == 0.0:
                continue
            if w < theta:
                bins[bin_of(cb[j], edges, log_r)] += w
                n_pruned += 1
                continue
            if m >= cap:
                return m, n_calls, n_pruned, -1, i, j, next_id
            for a in range(d):
                out_S[m, a] = cs[j, a]
            out_f[m] = cf[j]
            out_c[m] = cb[j]
            out_depth[m] = depth[i] + 1
            out_w[m] = w
            out_parent[m] = i
            out_self[m] = False
            out_pid[m] = kid_base[i] + j
            out_kb[m] = -1
            m += 1
    return m, n_calls, n_pruned, 0, -1, -1, next_id
