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

Each public function here is a plain Python wrapper that allocates the arrays
of the tree's size with ``np.empty`` and hands them to a ``_fill`` kernel that
writes each entry once. numpy asks the kernel for transparent huge pages on
large arrays and numba's own allocator does not: filling a numpy-allocated
array of 200 MB takes about a sixth of the time of allocating it inside the
kernel, which is mostly page faults. Output index arrays take the dtype of
``parent``: a tree of ``n`` programs stores 4 bytes per index, not 8.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "internal_mask",
    "tree_depths_kernel",
    "tree_row_sums_check",
    "tree_csr",
    "tree_parts",
    "tree_gather",
    "tree_nnz",
    "kary_arrays",
    "pm_fitness",
    "random_parents",
    "random_split",
    "chain_arrays",
    "unfold_arrays",
]


#: Trees of at most this many programs get the mask of internal programs and the
#: engine's gather coefficients from numpy: on a cold start that is faster
#: than compiling their kernels, and the products (so the bits) are the same.
NUMPY_MAX = 1 << 14


# ---------------------------------------------------------------------------- helpers
@njit(cache=True, nogil=True)
def _has_child_fill(parent, out):
    out[:] = False
    for w in range(parent.shape[0]):
        p = parent[w]
        if p >= 0:
            out[p] = True


def internal_mask(parent: np.ndarray, diag: np.ndarray) -> np.ndarray:
    """Whether each program designs another one, when an empty ``diag`` needs it; else an empty mask.

    The kernels read ``T(v, v)`` as ``diag[v]``, or, for an empty ``diag``, as 0
    where this mask is set and 1 elsewhere (on the leaves).
    """
    if diag.shape[0] != 0:
        return np.empty(0, dtype=np.bool_)
    n = parent.shape[0]
    if n <= NUMPY_MAX:
        out = np.zeros(n, dtype=np.bool_)
        out[parent[parent >= 0]] = True
        return out
    out = np.empty(n, dtype=np.bool_)
    _has_child_fill(parent, out)
    return out


def _gather_numpy(
    parent: np.ndarray, prob: np.ndarray, diag: np.ndarray, fs: np.ndarray, tree_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """:func:`tree_gather` in numpy (the same products, so the same bits) for a small tree."""
    child = parent >= 0
    gpar = np.where(child, parent, np.arange(parent.shape[0], dtype=parent.dtype))
    full = diag if diag.shape[0] else np.where(internal_mask(parent, diag), 0.0, 1.0)
    c = np.zeros(parent.shape[0])
    c[child] = fs[parent[child]] * prob[child]
    d = fs * full
    self_loop = full != 0.0
    real = child & (prob != 0.0) & (fs[gpar] != 0.0)
    ok = bool(np.all(c[real] >= tree_min)) and bool(np.all(d[self_loop & (fs != 0.0)] >= tree_min))
    return gpar, c, d, self_loop, ok


# ---------------------------------------------------------------------------- depths
@njit(cache=True, nogil=True)
def _depths_fill(parent, depth):
    """Depth of every node into ``depth``; ``-1`` on or below a cycle.

    ``parent[i] < 0`` marks roots. When every parent comes before its children
    (all the generators' trees) one pass suffices; otherwise children are
    bucketed by parent (counting sort) and visited breadth first, so the cost
    is O(n) whatever the order.
    """
    n = parent.shape[0]
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
        return
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


def tree_depths_kernel(parent: np.ndarray) -> np.ndarray:
    """Depth of every node of a parent array, in the dtype of ``parent``; ``-1`` on or below a cycle."""
    depth = np.empty(parent.shape[0], dtype=parent.dtype)
    _depths_fill(parent, depth)
    return depth


# ---------------------------------------------------------------------------- row sums
@njit(cache=True, nogil=True)
def _row_sums_worst(parent, prob, diag, internal, tol, sums):
    n = parent.shape[0]
    sums[:] = 0.0
    for w in range(n):
        p = parent[w]
        if p >= 0:
            sums[p] += prob[w]
    worst = 0
    worst_err = -1.0
    n_bad = 0
    for v in range(n):
        s = sums[v] + (diag[v] if diag.shape[0] else (0.0 if internal[v] else 1.0))
        sums[v] = s
        err = abs(s - 1.0)
        if err > worst_err:
            worst = v
            worst_err = err
        if err > tol:
            n_bad += 1
    return worst, sums[worst], n_bad


def tree_row_sums_check(parent: np.ndarray, prob: np.ndarray, diag: np.ndarray, tol: float) -> tuple[int, float, int]:
    """The worst row of a tree's kernel: ``(row, its sum, rows off by more than tol)``.

    Row ``v`` sums the ``prob[w]`` of its children (in ascending ``w``, as
    ``np.bincount`` does) plus ``T(v, v)``.
    """
    sums = np.empty(parent.shape[0], dtype=np.float64)
    worst, total, n_bad = _row_sums_worst(parent, prob, diag, internal_mask(parent, diag), np.float64(tol), sums)
    return int(worst), float(total), int(n_bad)


# ---------------------------------------------------------------------------- CSR kernel
@njit(cache=True, nogil=True)
def _csr_fill(parent, prob, diag, internal, indptr, indices, data, fill):
    n = parent.shape[0]
    indptr[:] = 0
    for w in range(n):
        p = parent[w]
        if p >= 0 and prob[w] != 0.0:
            indptr[p + 1] += 1
        if (diag[w] if diag.shape[0] else (0.0 if internal[w] else 1.0)) != 0.0:
            indptr[w + 1] += 1
    for v in range(n):
        indptr[v + 1] += indptr[v]
        fill[v] = indptr[v]
    for w in range(n):  # ascending w: children land in ascending order
        p = parent[w]
        if p >= 0 and prob[w] != 0.0:
            indices[fill[p]] = w
            data[fill[p]] = prob[w]
            fill[p] += 1
    # the self-loop goes where it belongs in ascending order
    for v in range(n):
        dv = diag[v] if diag.shape[0] else (0.0 if internal[v] else 1.0)
        if dv != 0.0:
            k = fill[v]
            while k > indptr[v] and indices[k - 1] > v:
                indices[k] = indices[k - 1]
                data[k] = data[k - 1]
                k -= 1
            indices[k] = v
            data[k] = dv
            fill[v] += 1


def tree_nnz(parent: np.ndarray, prob: np.ndarray, diag: np.ndarray, internal: np.ndarray | None = None) -> int:
    """Non-zero entries of a tree's kernel: designs with ``prob != 0`` (``prob`` is 0 at the root) and self-loops."""
    if diag.shape[0] != 0:
        return int(np.count_nonzero(prob)) + int(np.count_nonzero(diag))
    if internal is None:
        internal = internal_mask(parent, diag)
    return int(np.count_nonzero(prob)) + parent.shape[0] - int(np.count_nonzero(internal))


def tree_csr(parent: np.ndarray, prob: np.ndarray, diag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (``int64`` indices) of a tree's kernel: row ``v`` holds its children (ascending), then ``v``.

    ``prob[w] = T(parent[w], w)`` (0 at the root); ``diag[v] = T(v, v)``; zero entries are left out.
    """
    n = parent.shape[0]
    internal = internal_mask(parent, diag)
    nnz = tree_nnz(parent, prob, diag, internal)
    indptr = np.empty(n + 1, dtype=np.int64)
    indices = np.empty(nnz, dtype=np.int64)
    data = np.empty(nnz, dtype=np.float64)
    _csr_fill(parent, prob, diag, internal, indptr, indices, data, np.empty(n, dtype=np.int64))
    return indptr, indices, data


def tree_parts(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``prob`` and ``diag`` of a tree given as a CSR kernel whose off-diagonal entries are parent -> child."""
    rows = np.repeat(np.arange(n, dtype=indices.dtype), np.diff(indptr))
    loop = rows == indices
    prob = np.zeros(n)
    diag = np.zeros(n)
    prob[indices[~loop]] = data[~loop]
    diag[indices[loop]] = data[loop]
    return prob, diag


# ---------------------------------------------------------------------------- what the engine gathers
@njit(cache=True, nogil=True)
def _gather_fill(parent, prob, diag, internal, fs, tree_min, gpar, c, d, self_loop):
    n = parent.shape[0]
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
        dw = diag[w] if diag.shape[0] else (0.0 if internal[w] else 1.0)
        if dw != 0.0:
            x = fs[w] * dw
            d[w] = x
            self_loop[w] = True
            if fs[w] != 0.0 and x < tree_min:
                ok = False
        else:
            d[w] = 0.0
            self_loop[w] = False
    return ok


def tree_gather(
    parent: np.ndarray, prob: np.ndarray, diag: np.ndarray, fs: np.ndarray, tree_min: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """What the tree engine gathers: ``(parent with the root its own, c, d, self_loop, fast_ok)``.

    ``c[w] = fs[parent[w]] * T(parent[w], w)`` and ``d[v] = fs[v] * T(v, v)``
    over the non-zero entries of the kernel (0 elsewhere); ``fast_ok`` is False
    when one of those products with a non-zero ``fs`` falls below ``tree_min``.
    """
    n = parent.shape[0]
    if n <= NUMPY_MAX:
        return _gather_numpy(parent, prob, diag, fs, tree_min)
    gpar = np.empty(n, dtype=parent.dtype)
    c = np.empty(n, dtype=np.float64)
    d = np.empty(n, dtype=np.float64)
    self_loop = np.empty(n, dtype=np.bool_)
    ok = _gather_fill(parent, prob, diag, internal_mask(parent, diag), fs, np.float64(tree_min), gpar, c, d, self_loop)
    return gpar, c, d, self_loop, bool(ok)


# ---------------------------------------------------------------------------- generators
def _kary_size(k: int, depth: int) -> int:
    return depth + 1 if k == 1 else (k ** (depth + 1) - 1) // (k - 1)


@njit(cache=True, nogil=True)
def _kary_fill(k, depth, p, parent, child, dep, prob):
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


def kary_arrays(k: int, depth: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parent, child index, depth (``int32``) and design probability of a complete ``k``-ary tree.

    Nodes in breadth-first order (the children of ``i`` are ``k*i + 1 .. k*i + k``),
    filled level by level in one pass: ``prob[i] = p[child index of i]`` (0 at the
    root); the leaves reproduce themselves (the empty-``diag`` rule).
    The caller has checked that the tree has fewer than ``2**31 - 1`` programs.
    """
    n = _kary_size(int(k), int(depth))
    parent, child, dep = (np.empty(n, dtype=np.int32) for _ in range(3))
    prob = np.empty(n, dtype=np.float64)
    _kary_fill(np.int64(k), np.int64(depth), p, parent, child, dep, prob)
    return parent, child, dep, prob


@njit(cache=True, nogil=True)
def _pm_fill(depth, root_fitness, f):
    f[0] = root_fitness
    i = 1
    first = 0
    size = 1
    step = 1.0
    for _ in range(depth):
        step *= 0.5  # 2**-d, exactly
        for a in range(size):
            pf = f[first + a]
            f[i] = pf + -step  # child index 0
            f[i + 1] = pf + step  # child index 1
            i += 2
        first += size
        size *= 2


def pm_fitness(depth: int, root_fitness: float) -> np.ndarray:
    """Fitness on the binary +/- tree: ``f(child) = f(parent) + (-1 or +1) * 2**-d`` for child index 0 or 1."""
    f = np.empty(_kary_size(2, int(depth)), dtype=np.float64)
    _pm_fill(np.int64(depth), np.float64(root_fitness), f)
    return f


@njit(cache=True, nogil=True)
def random_parents(parent, u, start):
    """``parent[i] = floor(u[i - start] * i)`` for the ``i`` of one chunk of uniform draws ``u``."""
    for a in range(u.shape[0]):
        i = start + a
        parent[i] = math.floor(u[a] * np.float64(i))


@njit(cache=True, nogil=True)
def _split_fill(parent, w, self_prob, totals, diag):
    n = parent.shape[0]
    totals[:] = 0.0
    diag[:] = 1.0
    for i in range(1, n):
        p = parent[i]
        totals[p] += w[i]
        if diag.shape[0] != 0:
            diag[p] = self_prob
    w[0] = 0.0
    for i in range(1, n):
        w[i] = w[i] / totals[parent[i]] * (1.0 - self_prob)


def random_split(parent: np.ndarray, w: np.ndarray, self_prob: float) -> np.ndarray:
    """A random recursive tree's probabilities, written over the weights ``w``, and its self-loops.

    A program's children share ``1 - self_prob`` in proportion to their
    weights: ``prob[i] = w[i] / (sum of the weights of i's siblings) * (1 - self_prob)``
    (``prob[0] = 0``); ``diag`` is ``self_prob`` on programs with children and 1
    on leaves, or empty (that same rule) when ``self_prob`` is 0. ``w`` holds
    ``prob`` on return.
    """
    n = parent.shape[0]
    diag = np.empty(n if self_prob != 0.0 else 0, dtype=np.float64)
    _split_fill(parent, w, np.float64(self_prob), np.empty(n, dtype=np.float64), diag)
    return diag


def chain_arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parent and depth (``int32``) and design probability of the chain ``0 -> 1 -> ... -> n-1``.

    The last program is a leaf and reproduces itself (the empty-``diag`` rule).
    """
    prob = np.ones(n)
    prob[0] = 0.0
    return np.arange(-1, n - 1, dtype=np.int32), np.arange(n, dtype=np.int32), prob


@njit(cache=True, nogil=True)
def _unfold_fill(indptr, indices, data, fitness, root, depth, par, typ, dep, prob, f):
    par[0] = -1
    typ[0] = root
    dep[0] = 0
    prob[0] = 0.0
    f[0] = fitness[root]
    nxt = 1
    for i in range(par.shape[0]):
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


def unfold_arrays(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, fitness: np.ndarray, root: int, depth: int,
    n: int, index: np.dtype,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parent, type, depth (in dtype ``index``), design probability and fitness of a type graph unfolded.

    The nodes are numbered breadth first, the children of a node in the order of
    its type's row of the CSR kernel; ``n`` is the size, counted beforehand.
    """
    par, typ, dep = (np.empty(n, dtype=index) for _ in range(3))
    prob, f = np.empty(n, dtype=np.float64), np.empty(n, dtype=np.float64)
    _unfold_fill(indptr, indices, data, fitness, np.int64(root), np.int64(depth), par, typ, dep, prob, f)
    return par, typ, dep, prob, f
