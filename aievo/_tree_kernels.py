"""Numba kernels of the tree model: depths of a parent array and a tree's CSR kernel.

They belong to the model (:mod:`aievo.graph`, :mod:`aievo.trees`,
:mod:`aievo.ancestry`), not to the engine (:mod:`aievo._kernels`), so that
building or validating a tree compiles only these small kernels. Nothing here
validates input; callers pass contiguous ``int64`` / ``float64`` arrays.

Arrays are allocated with ``np.empty(size, dtype=...)`` only, then filled: each
distinct numpy allocation call (``np.zeros``, ``np.full``, ``.copy()``, each
dtype) is compiled separately, a noticeable part of a cold start.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["tree_depths_kernel", "tree_csr", "kary_arrays"]


@njit(cache=True, nogil=True)
def tree_depths_kernel(parent):
    """Depth of every node of a parent array; ``-1`` for nodes on or below a cycle.

    ``parent[i] < 0`` marks roots. Children are bucketed by parent (counting
    sort) and visited breadth first, so the cost is O(n) whatever the order.
    """
    n = parent.shape[0]
    counts = np.empty(n + 1, dtype=np.int64)
    counts[:] = 0
    for i in range(n):
        p = parent[i]
        if p >= 0:
            counts[p + 1] += 1
    for i in range(n):
        counts[i + 1] += counts[i]
    children = np.empty(max(counts[n], 1), dtype=np.int64)
    fill = np.empty(n, dtype=np.int64)
    for i in range(n):
        fill[i] = counts[i]
    for i in range(n):
        p = parent[i]
        if p >= 0:
            children[fill[p]] = i
            fill[p] += 1
    depth = np.empty(n, dtype=np.int64)
    depth[:] = -1
    queue = np.empty(n, dtype=np.int64)
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
def tree_csr(parent, prob, diag):
    """CSR arrays of a tree's kernel: row ``v`` holds its children (ascending), then ``v`` itself.

    ``prob[w] = T(parent[w], w)``; ``diag[v] = T(v, v)``; zero entries are left out.
    """
    n = parent.shape[0]
    indptr = np.empty(n + 1, dtype=np.int64)
    indptr[:] = 0
    for w in range(n):
        p = parent[w]
        if p >= 0 and prob[w] != 0.0:
            indptr[p + 1] += 1
        if diag[w] != 0.0:
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
        if diag[v] != 0.0:
            k = fill[v]
            while k > indptr[v] and indices[k - 1] > v:
                indices[k] = indices[k - 1]
                data[k] = data[k - 1]
                k -= 1
            indices[k] = v
            data[k] = diag[v]
            fill[v] += 1
    return indptr, indices, data


@njit(cache=True, nogil=True)
def kary_arrays(k, depth, p):
    """Parent, child index, depth, design probability and self-loop of a complete ``k``-ary tree.

    Nodes in breadth-first order (the children of ``i`` are ``k*i + 1 .. k*i + k``),
    filled level by level in one pass: ``prob[i] = p[child index of i]`` (0 at the
    root) and ``diag`` is 1 on the leaves (they reproduce themselves), 0 elsewhere.
    """
    n = 1
    level = 1
    for _ in range(depth):
        level *= k
        n += level
    parent = np.empty(n, dtype=np.int64)
    child = np.empty(n, dtype=np.int64)
    dep = np.empty(n, dtype=np.int64)
    prob = np.empty(n, dtype=np.float64)
    diag = np.empty(n, dtype=np.float64)
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
    leaves = n - size
    for v in range(n):
        diag[v] = 1.0 if v >= leaves else 0.0
    return parent, child, dep, prob, diag

