"""Numba kernels of the tree model: depths, row sums, CSR kernel and gather coefficients of a tree.

They belong to the model (:mod:`aievo.graph`, :mod:`aievo.trees`,
:mod:`aievo.ancestry`), not to the engine (:mod:`aievo._kernels`), so that
building or validating a tree compiles only these small kernels. Nothing here
validates input; callers pass contiguous read-only arrays: node indices in the
graph's index dtype (``int32`` below ``2**31 - 1`` programs, ``int64`` beyond,
see :func:`aievo.graph.index_dtype`), probabilities and fitness in ``float64``.

``diag`` (``T(v, v)``) is either an array of length ``n`` or empty: an empty
``diag`` means the common case of a tree without self-loops, where only the
leaves reproduce themselves (``T(v, v) = 1`` on a program without children, 0
elsewhere), and saves 8 bytes per program.

Every kernel writes each of its results once into an array allocated with
``np.empty`` (no temporary of the tree's size that outlives the call), and
output index arrays take the dtype of the input ``parent``: a tree of ``n``
programs stores 4 bytes per index, not 8. Each distinct numpy allocation call
(``np.zeros``, ``np.full``, ``.copy()``, each dtype) is compiled separately, a
noticeable part of a cold start, so only ``np.empty`` is used.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "has_child",
    "tree_depths_kernel",
    "tree_row_sums_check",
    "tree_csr",
    "tree_parts",
    "tree_gather",
    "tree_nnz",
    "pm_fitness",
    "kary_arrays",
    "random_parents",
    "random_split",
    "chain_arrays",
    "unfold_arrays",
]


@njit(cache=True, nogil=True)
def has_child(parent):
    """Whether each program designs another one (``parent`` has it as an entry)."""
    n = parent.shape[0]
    out = np.empty(n, dtype=np.bool_)
    out[:] = False
    for w in range(n):
        p = parent[w]
        if p >= 0:
            out[p] = True
    return out


@njit(cache=True, nogil=True)
def _diag_at(diag, internal, v):
    """``T(v, v)``: ``diag[v]``, or for an empty ``diag`` 1 on a leaf and 0 elsewhere."""
    if diag.shape[0] == 0:
        return 0.0 if internal[v] else 1.0
    return diag[v]


@njit(cache=True, nogil=True)
def _internal(parent, diag):
    """``has_child(parent)`` when ``diag`` is empty (the leaf rule needs it), else an empty mask."""
    if diag.shape[0] == 0:
        return has_child(parent)
    return np.empty(0, dtype=np.bool_)


@njit(cache=True, nogil=True)
def tree_depths_kernel(parent):
    """Depth of every node of a parent array (in the dtype of ``parent``); ``-1`` on or below a cycle.

    ``parent[i] < 0`` marks roots. When every parent comes before its children
    (all the generators' trees) one pass suffices; otherwise children are
    bucketed by parent (counting sort) and visited breadth first, so the cost
    is O(n) whatever the order.
    """
    n = parent.shape[0]
    depth = np.empty(n, dtype=parent.dtype)
    ordered = True
    for i in range(n):
        p = parent[i]
        if p < 0:
            depth[i] = 0
        elif p < i:
            depth[i] = depth[p] + 1
        else:
            ordered = False
            break
    if ordered:
        return depth
    counts = np.empty(n + 1, dtype=parent.dtype)
    counts[:] = 0
    for i in range(n):
        p = parent[i]
        if p >= 0:
            counts[p + 1] += 1
    for i in range(n):
        counts[i + 1] += counts[i]
    children = np.empty(max(counts[n], 1), dtype=parent.dtype)
    fill = np.empty(n, dtype=parent.dtype)
    for i in range(n):
        fill[i] = counts[i]
    for i in range(n):
        p = parent[i]
        if p >= 0:
            children[fill[p]] = i
            fill[p] += 1
    depth[:] = -1
    queue = fill  # every fill[v] has been used: the buffer becomes the breadth-first queue
    head = 0
    tail = 0
    for i in range(n):
        if parent[i] < 0:
            depth[i] = 0
            queue[tail] = i
            tail += 1
    while head < tail:
        v = queue[head]
        head += 1
        for k in range(counts[v], counts[v + 1]):
            w = children[k]
            depth[w] = depth[v] + 1
            queue[tail] = w
            tail += 1
    return depth


@njit(cache=True, nogil=True)
def tree_row_sums_check(parent, prob, diag, tol):
    """The worst row of a tree's kernel: ``(row, its sum, rows off by more than tol)``.

    Row ``v`` sums the ``prob[w]`` of its children (in ascending ``w``, as
    ``np.bincount`` does) plus ``diag[v]``.
    """
    n = parent.shape[0]
    internal = _internal(parent, diag)
    sums = np.empty(n, dtype=np.float64)
    sums[:] = 0.0
    for w in range(n):
        p = parent[w]
        if p >= 0:
            sums[p] += prob[w]
    worst = 0
    worst_err = -1.0
    n_bad = 0
    for v in range(n):
        s = sums[v] + _diag_at(diag, internal, v)
        sums[v] = s
        err = abs(s - 1.0)
        if err > worst_err:
            worst = v
            worst_err = err
        if err > tol:
            n_bad += 1
    return worst, sums[worst], n_bad


@njit(cache=True, nogil=True)
def tree_csr(parent, prob, diag):
    """CSR arrays (``int64`` indices) of a tree's kernel: row ``v`` holds its children (ascending), then ``v``.

    ``prob[w] = T(parent[w], w)``; ``diag[v] = T(v, v)``; zero entries are left out.
    """
    n = parent.shape[0]
    internal = _internal(parent, diag)
    indptr = np.empty(n + 1, dtype=np.int64)
    indptr[:] = 0
    for w in range(n):
        p = parent[w]
        if p >= 0 and prob[w] != 0.0:
            indptr[p + 1] += 1
        if _diag_at(diag, internal, w) != 0.0:
            indptr[w + 1] += 1
    for v in range(n):
        indptr[v + 1] += indptr[v]
    nnz = indptr[n]
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=np.float64)
    fill = np.empty(n, dtype=np.int64)
    for v in range(n):
        fill[v] = indptr[v]
    for w in range(n):  # ascending w: children land in ascending order
        p = parent[w]
        if p >= 0 and prob[w] != 0.0:
            indices[fill[p]] = w
            data[fill[p]] = prob[w]
            fill[p] += 1
    # the self-loop goes where it belongs in ascending order
    for v in range(n):
        dv = _diag_at(diag, internal, v)
        if dv != 0.0:
            k = fill[v]
            while k > indptr[v] and indices[k - 1] > v:
                indices[k] = indices[k - 1]
                data[k] = data[k - 1]
                k -= 1
            indices[k] = v
            data[k] = dv
            fill[v] += 1
    return indptr, indices, data


@njit(cache=True, nogil=True)
def tree_parts(indptr, indices, data, n):
    """``prob`` and ``diag`` of a tree given as a CSR kernel whose off-diagonal entries are parent -> child."""
    prob = np.empty(n, dtype=np.float64)
    diag = np.empty(n, dtype=np.float64)
    prob[:] = 0.0
    diag[:] = 0.0
    for v in range(n):
        for k in range(indptr[v], indptr[v + 1]):
            w = indices[k]
            if w == v:
                diag[v] = data[k]
            else:
                prob[w] = data[k]
    return prob, diag


@njit(cache=True, nogil=True)
def tree_gather(parent, prob, diag, fs, tree_min):
    """What the tree engine gathers: ``(parent with the root its own, c, d, self_loop, fast_ok)``.

    ``c[w] = fs[parent[w]] * T(parent[w], w)`` and ``d[v] = fs[v] * T(v, v)``
    over the non-zero entries of the kernel (0 elsewhere); ``fast_ok`` is False
    when one of those products with a non-zero ``fs`` falls below ``tree_min``.
    """
    n = parent.shape[0]
    internal = _internal(parent, diag)
    gpar = np.empty(n, dtype=parent.dtype)
    c = np.empty(n, dtype=np.float64)
    d = np.empty(n, dtype=np.float64)
    self_loop = np.empty(n, dtype=np.bool_)
    ok = True
    for w in range(n):
        p = parent[w]
        if p < 0:
            gpar[w] = w
            c[w] = 0.0
        else:
            gpar[w] = p
            if prob[w] != 0.0:
                x = fs[p] * prob[w]
                c[w] = x
                if fs[p] != 0.0 and x < tree_min:
                    ok = False
            else:
                c[w] = 0.0
        dw = _diag_at(diag, internal, w)
        if dw != 0.0:
            x = fs[w] * dw
            d[w] = x
            self_loop[w] = True
            if fs[w] != 0.0 and x < tree_min:
                ok = False
        else:
            d[w] = 0.0
            self_loop[w] = False
    return gpar, c, d, self_loop, ok


@njit(cache=True, nogil=True)
def tree_nnz(parent, prob, diag):
    """Non-zero entries of a tree's kernel: designs with ``prob != 0`` plus non-zero self-loops."""
    n = parent.shape[0]
    internal = _internal(parent, diag)
    nnz = 0
    for w in range(n):
        if parent[w] >= 0 and prob[w] != 0.0:
            nnz += 1
        if _diag_at(diag, internal, w) != 0.0:
            nnz += 1
    return nnz


@njit(cache=True, nogil=True)
def kary_arrays(k, depth, p):
    """Parent, child index, depth (``int32``) and design probability of a complete ``k``-ary tree.

    Nodes in breadth-first order (the children of ``i`` are ``k*i + 1 .. k*i + k``),
    filled level by level in one pass: ``prob[i] = p[child index of i]`` (0 at the
    root); the leaves reproduce themselves (the empty-``diag`` rule).
    The caller has checked that the tree has fewer than ``2**31 - 1`` programs.
    """
    n = 1
    level = 1
    for _ in range(depth):
        level *= k
        n += level
    parent = np.empty(n, dtype=np.int32)
    child = np.empty(n, dtype=np.int32)
    dep = np.empty(n, dtype=np.int32)
    prob = np.empty(n, dtype=np.float64)
    parent[0] = -1
    child[0] = 0
    dep[0] = 0
    prob[0] = 0.0
    i = 1
    first = 0  # first node of the previous level
    size = 1
    for d in range(1, depth + 1):
        for a in range(size):
            for jj in range(k):
                parent[i] = first + a
                child[i] = jj
                dep[i] = d
                prob[i] = p[jj]
                i += 1
        first += size
        size *= k
    return parent, child, dep, prob


@njit(cache=True, nogil=True)
def pm_fitness(parent, child, depth, root_fitness):
    """Fitness on the binary +/- tree: ``f[i] = f[parent[i]] -/+ 2**-depth[i]`` for child index 0 / 1."""
    n = parent.shape[0]
    f = np.empty(n, dtype=np.float64)
    f[0] = root_fitness
    for i in range(1, n):
        step = math.ldexp(1.0, -depth[i])
        f[i] = f[parent[i]] + (step if child[i] == 1 else -step)
    return f


@njit(cache=True, nogil=True)
def random_parents(parent, u, start):
    """``parent[i] = floor(u[i - start] * i)`` for the ``i`` of one chunk of uniform draws ``u``."""
    for a in range(u.shape[0]):
        i = start + a
        parent[i] = math.floor(u[a] * np.float64(i))


@njit(cache=True, nogil=True)
def random_split(parent, w, self_prob):
    """A random recursive tree's probabilities, written over the weights ``w``, and its self-loops.

    A program's children share ``1 - self_prob`` in proportion to their
    weights: ``prob[i] = w[i] / (sum of the weights of i's siblings) * (1 - self_prob)``
    (``prob[0] = 0``); ``diag`` is ``self_prob`` on programs with children and 1
    on leaves, or empty (that same rule) when ``self_prob`` is 0. ``w`` holds
    ``prob`` on return.
    """
    n = parent.shape[0]
    totals = np.empty(n, dtype=np.float64)
    totals[:] = 0.0
    diag = np.empty(n if self_prob != 0.0 else 0, dtype=np.float64)
    diag[:] = 1.0
    for i in range(1, n):
        p = parent[i]
        totals[p] += w[i]
        if self_prob != 0.0:
            diag[p] = self_prob
    w[0] = 0.0
    for i in range(1, n):
        w[i] = w[i] / totals[parent[i]] * (1.0 - self_prob)
    return diag


@njit(cache=True, nogil=True)
def chain_arrays(n):
    """Parent and depth (``int32``) and design probability of the chain ``0 -> 1 -> ... -> n-1``.

    The last program is a leaf and reproduces itself (the empty-``diag`` rule).
    """
    parent = np.empty(n, dtype=np.int32)
    dep = np.empty(n, dtype=np.int32)
    prob = np.empty(n, dtype=np.float64)
    for i in range(n):
        parent[i] = i - 1
        dep[i] = i
        prob[i] = 1.0
    prob[0] = 0.0
    return parent, dep, prob


@njit(cache=True, nogil=True)
def unfold_arrays(indptr, indices, data, fitness, root, depth, n, parent):
    """Parent, type, depth, design probability and fitness of a type graph unfolded ``depth`` levels.

    The nodes are numbered breadth first, the children of a node in the order of
    its type's row of the CSR kernel; ``n`` (the size, counted beforehand) and
    the dtype of the empty ``parent`` template fix the arrays' length and index dtype.
    """
    par = np.empty(n, dtype=parent.dtype)
    typ = np.empty(n, dtype=parent.dtype)
    dep = np.empty(n, dtype=parent.dtype)
    prob = np.empty(n, dtype=np.float64)
    f = np.empty(n, dtype=np.float64)
    par[0] = -1
    typ[0] = root
    dep[0] = 0
    prob[0] = 0.0
    f[0] = fitness[root]
    nxt = 1
    for i in range(n):
        if dep[i] == depth:
            break  # breadth first: every later node is a leaf too
        a = typ[i]
        for e in range(indptr[a], indptr[a + 1]):
            b = indices[e]
            par[nxt] = i
            typ[nxt] = b
            dep[nxt] = dep[i] + 1
            prob[nxt] = data[e]
            f[nxt] = fitness[b]
            nxt += 1
    return par, typ, dep, prob, f
