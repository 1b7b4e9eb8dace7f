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
    "dfs",
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


@njit(cache=True, nogil=True)
def dfs(
    rule,
    params,
    root_state,
    root_fitness,
    f_max,
    max_children,
    prob_tol,
    generations,
    eta,
    levels,
    log_n_lb,
    theta,
    max_nodes,
    edges,
    log_r,
    final,
):
    """Depth-first evaluation of a tree without self-loops (memory ``O(generations)``).

    On such a tree (eta-locking allowed, no preservation) the unlocked
    programs alive at time ``t`` are exactly those at depth ``t``, with
    abundance the product of ``f (1 - eta) p`` along their path; a program's
    locked copy (and, for a leaf, the program itself) then grows by its own
    fitness. One walk of the tree adds every program's abundance to every time.
    Abundances are scaled by ``f_max^-t`` to stay in range.

    A child whose abundance relative to ``exp(log_n_lb[t])`` (a lower bound on
    ``N_t``) is below ``theta`` is not visited: its scaled abundance goes to
    ``pruned[t, bin]`` of its clade bound. When ``max_nodes`` programs have
    been visited, every child not yet visited is pruned the same way. With
    ``final`` the test is on what the child's clade could hold at the last
    time instead: ``w (c / f_max)^(G - t) < theta * exp(log_n_lb[G])``.

    Returns
    -------
    N, S : float64[G+1]
        Retained scaled abundance and abundance times fitness per time.
    Lv : float64[len(levels), G+1]
        Retained scaled abundance with fitness ``>= level``.
    pruned : float64[G+1, nb]
        Pruned scaled abundance by time of pruning and bin of clade bound.
    visited : int64[G+1]
        Programs visited per depth.
    n_calls, n_pruned, code, at_depth, child : int64
        Rule calls, pruned subtrees, error code and where it happened.
    err_state : float64[d]
        State of the offending program (on error).
    """
    G = generations
    d = root_state.shape[0]
    nl = levels.shape[0]
    nb = edges.shape[0]
    N = np.zeros(G + 1)
    S = np.zeros(G + 1)
    Lv = np.zeros((nl, G + 1))
    pruned = np.zeros((G + 1, nb))
    visited = np.zeros(G + 1, np.int64)
    # the stack: the program at each depth and its children
    st_S = np.zeros((G + 1, d))
    st_f = np.zeros(G + 1)
    st_c = np.zeros(G + 1)
    st_a = np.zeros(G + 1)
    kid_S = np.zeros((G + 1, max_children, d))
    kid_f = np.empty((G + 1, max_children))
    kid_p = np.empty((G + 1, max_children))
    kid_c = np.empty((G + 1, max_children))
    n_kids = np.zeros(G + 1, np.int64)
    pos = np.zeros(G + 1, np.int64)
    err_state = np.zeros(d)
    cs = np.zeros((max_children, d))
    cf = np.empty(max_children)
    cp = np.empty(max_children)
    cb = np.empty(max_children)
    sbuf = np.empty(d)
    # the lower bound on N_t, in scaled units
    n_lb = np.empty(G + 1)
    for t in range(G + 1):
        n_lb[t] = np.exp(log_n_lb[t] - t * np.log(f_max))
    n_calls = 0
    n_pruned = 0
    n_nodes = 0
    for a in range(d):
        st_S[0, a] = root_state[a]
    st_f[0] = root_fitness
    st_c[0] = f_max
    st_a[0] = 1.0
    k = 0
    entering = True
    while k >= 0:
        if entering:
            n_nodes += 1
            visited[k] += 1
            f = st_f[k]
            n_kids[k] = 0
            pos[k] = 0
            if k < G and eta < 1.0:
                for j in range(max_children):
                    cf[j] = np.nan
                    cp[j] = np.nan
                    cb[j] = f_max
                for a in range(d):
                    sbuf[a] = st_S[k, a]
                nk = rule(sbuf, k, params, cs, cf, cp, cb)
                n_calls += 1
                code = 0
                jj = 0
                if nk < 0 or nk > max_children:
                    code = 1
                    jj = nk
                else:
                    total = 0.0
                    for j in range(nk):
                        fj = cf[j]
                        pj = cp[j]
                        if not (np.isfinite(fj) and fj >= 0.0):
                            code = 2
                        elif not (np.isfinite(pj) and pj >= 0.0):
                            code = 3
                        elif not (cb[j] >= fj):
                            code = 5
                        elif not (cb[j] <= st_c[k]):
                            code = 6
                        if code != 0:
                            jj = j
                            break
                        total += pj
                        kid_f[k, j] = fj
                        kid_p[k, j] = pj
                        kid_c[k, j] = cb[j]
                        for a in range(d):
                            kid_S[k, j, a] = cs[j, a]
                    if code == 0 and nk > 0 and not (abs(total - 1.0) <= prob_tol):
                        code = 4
                        jj = nk
                if code != 0:
                    for a in range(d):
                        err_state[a] = st_S[k, a]
                    return N, S, Lv, pruned, visited, n_calls, n_pruned, code, k, jj, err_state
                n_kids[k] = nk
            leaf = n_kids[k] == 0
            # the program itself (kept only if a leaf, or at its own time) and its locked copy
            u = st_a[k]
            lk = 0.0
            g = f / f_max
            for t in range(k, G + 1):
                v = u + lk
                if v == 0.0:
                    break
                N[t] += v
                S[t] += v * f
                for i in range(nl):
                    if f >= levels[i]:
                        Lv[i, t] += v
                lk = lk * g + u * g * eta
                u = u * g * (1.0 - eta) if leaf and k < G else 0.0
                if eta == 0.0 and u == 0.0:
                    break
            entering = False
        # next child of the program at depth k
        if pos[k] < n_kids[k]:
            j = pos[k]
            pos[k] += 1
            w = st_a[k] * st_f[k] / f_max * (1.0 - eta) * kid_p[k, j]
            if w == 0.0:
                continue
            if final:
                small = w * (kid_c[k, j] / f_max) ** (G - k - 1) < theta * n_lb[G]
            else:
                small = w < theta * n_lb[k + 1]
            if small or n_nodes >= max_nodes:
                pruned[k + 1, bin_of(kid_c[k, j], edges, log_r)] += w
                n_pruned += 1
                continue
            for a in range(d):
                st_S[k + 1, a] = kid_S[k, j, a]
            st_f[k + 1] = kid_f[k, j]
            st_c[k + 1] = kid_c[k, j]
            st_a[k + 1] = w
            k += 1
            entering = True
        else:
            k -= 1
    return N, S, Lv, pruned, visited, n_calls, n_pruned, 0, -1, -1, err_state
