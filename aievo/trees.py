"""Generators of design graphs: chains, k-ary and random trees, lattices, type graphs.

Every generator returns a :class:`~aievo.graph.DesignGraph` whose nodes are in
breadth-first order (the root first) with ``attrs["depth"]`` for trees.

The tree generators write their arrays once (numba kernels of
:mod:`aievo._tree_kernels` filling arrays numpy allocated), with ``int32``
node indices, and leave the CSR kernel to be built on first access: a tree
keeps its parent, depth, fitness and the probability of each design (and of
each self-loop, when a program other than a leaf has one). Building one peaks
at 24-40 bytes per program (``python benchmarks/run.py --only construction``),
plus what a ``fitness`` callable allocates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validate import check_int, check_real, check_rng, check_tree_fits, kary_log2, kary_size, real_array
from .errors import (
    InvalidFitnessError,
    InvalidGraphError,
    InvalidKernelError,
    InvalidParameterError,
    ShapeError,
    bad_argument,
)
from .graph import ROW_SUM_TOL, DesignGraph, _check_fitness_values, _probs, index_dtype, tree_depths

__all__ = ["chain", "kary_tree", "binary_pm_tree", "random_tree", "lattice", "type_graph", "unfold"]


#: :func:`random_tree` draws its parents this many at a time (the same stream as one draw of all).
_DRAW_CHUNK = 1 << 16


def _int_arg(name: str, value: Any, lo: int) -> int:
    return check_int(value, name, lo)


def _callable(name: str, value: Any, expected: str) -> Callable[..., Any]:
    if not callable(value):
        raise bad_argument(InvalidParameterError, name, value, expected)
    return value


def chain(fitness: Any) -> DesignGraph:
    """A chain ``0 -> 1 -> ... -> n-1``; each program designs the next with probability 1.

    The last program has no successor and reproduces itself (absorbing).

    Examples
    --------
    >>> import aievo as ae
    >>> g = ae.chain([1.0, 1.5, 2.0])
    >>> g.parent.tolist(), g.T.toarray()[2, 2]
    ([-1, 0, 1], 1.0)
    """
    f = real_array(fitness, "fitness", finite=False, cls=InvalidFitnessError, what="a 1-D array of real numbers")
    if f.ndim != 1 or f.size == 0:
        raise ShapeError(f"fitness has shape {f.shape}: expected a non-empty 1-D array")
    n = check_tree_fits(f.size, "fitness", f"an array of {f.size} programs", kind="chain")
    f = _check_fitness_values(f)
    from ._tree_kernels import chain_arrays

    parent, depth, prob = chain_arrays(n)
    for a in (parent, depth, f):
        a.flags.writeable = False
    # every row but the last designs its successor with probability 1; the last keeps it all
    return DesignGraph._from_tree(
        parent, depth, f, prob, np.empty(0), None, {"depth": depth}, rows_checked=True, root=0
    )


def kary_tree(
    k: int,
    depth: int,
    fitness_rule: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
    *,
    root_fitness: float = 1.0,
    prob: Any = None,
) -> DesignGraph:
    """A complete ``k``-ary tree of the given depth with a fitness rule.

    Parameters
    ----------
    k : int
        Children per internal program.
    depth : int
        Depth of the leaves (the root has depth 0).
    fitness_rule : callable
        ``fitness_rule(parent_fitness, child_index, d)`` returns the fitness of the
        children at depth ``d``: ``parent_fitness`` and ``child_index`` (in
        ``0 .. k-1``) are arrays over all children at that depth.
    root_fitness : float
        Fitness of the root.
    prob : array_like of length k, optional
        Probability of designing child ``j`` (default ``1/k`` each).

    Notes
    -----
    Nodes are in breadth-first order: the children of node ``i`` are
    ``k*i + 1 .. k*i + k``. Leaves reproduce themselves.
    """
    k = _int_arg("k", k, 1)
    depth = _int_arg("depth", depth, 0)
    n = check_tree_fits(kary_size(k, depth), "depth", depth, log2_n=kary_log2(k, depth))
    _callable("fitness_rule", fitness_rule, "a callable fitness_rule(parent_fitness, child_index, d) -> array")
    rf = check_real(root_fitness, "root_fitness", lo=0.0, cls=InvalidFitnessError)
    if prob is None:
        p = np.full(k, 1.0 / k)
    else:
        p = real_array(prob, "prob", cls=InvalidParameterError, what=f"{k} probabilities")
        if p.shape != (k,):
            raise ShapeError(f"prob has shape {p.shape}: expected ({k},)")
    p = _probs(p, k, "prob")
    if depth > 0 and abs(p.sum() - 1.0) > ROW_SUM_TOL:
        raise bad_argument(
            InvalidKernelError, "prob.sum()", float(p.sum()),
            f"the {k} probabilities of designing each child summing to 1 within {ROW_SUM_TOL:g}",
        )
    from ._tree_kernels import kary_arrays

    parent, j, d_arr, probs = kary_arrays(k, depth, np.ascontiguousarray(p))
    for a in (parent, j):
        a.flags.writeable = False
    f = np.empty(n)
    f[0] = rf
    lo = 1
    for d in range(1, depth + 1):
        hi = lo + k**d
        pf = np.repeat(f[lo - k ** (d - 1):lo], k)  # = f[parent[lo:hi]]: the children of i are k*i+1 .. k*i+k
        vals = real_array(  # not copied: it is written into f at once
            fitness_rule(pf, j[lo:hi], d), f"fitness_rule(..., d={d})", finite=False,
            cls=InvalidFitnessError, what="an array of real fitness values", copy=False,
        )
        if vals.shape != (hi - lo,):
            raise ShapeError(f"fitness_rule returned shape {vals.shape} at depth {d}: expected ({hi - lo},)")
        f[lo:hi] = vals
        del pf, vals
        lo = hi
    return _kary_graph(parent, j, d_arr, probs, f)


def _kary_graph(parent: np.ndarray, j: np.ndarray, depth: np.ndarray, probs: np.ndarray, f: np.ndarray) -> DesignGraph:
    """The k-ary tree of :func:`kary_arrays` with fitness ``f`` (checked here); its rows sum to 1 (checked)."""
    f = _check_fitness_values(f)
    for a in (parent, f, depth, j):
        a.flags.writeable = False
    return DesignGraph._from_tree(
        parent, depth, f, probs, np.empty(0), None, {"depth": depth, "child_index": j}, rows_checked=True, root=0
    )


def binary_pm_tree(depth: int, root_fitness: float = 1.0) -> DesignGraph:
    """The binary ``+/-`` tree of paper figure 5, docs/figures.md.

    A program at depth ``k`` with fitness ``f`` designs two children with fitness
    ``f - 2^-(k+1)`` and ``f + 2^-(k+1)``, probability 1/2 each. The supremum of
    fitness, ``root_fitness + 1``, is approached along the all-``+`` ray and never
    attained. ``attrs["plus"]`` marks the nodes of that ray.
    """

    depth = _int_arg("depth", depth, 0)
    n = check_tree_fits(kary_size(2, depth), "depth", depth, log2_n=kary_log2(2, depth))
    rf = check_real(root_fitness, "root_fitness", lo=0.0, cls=InvalidFitnessError)
    from ._tree_kernels import kary_arrays, pm_fitness

    # kary_tree(2, depth, rule) with the rule f(child) = f(parent) -/+ 2**-d, in one pass
    parent, j, d_arr, probs = kary_arrays(2, depth, np.full(2, 0.5))
    g = _kary_graph(parent, j, d_arr, probs, pm_fitness(depth, rf))
    plus = np.zeros(n, dtype=bool)
    plus[2 ** np.arange(depth + 1) * 2 - 2] = True  # 0, 2, 6, 14, ...: i -> 2i + 2
    return g.with_attrs(plus=plus)


def random_tree(
    n: int,
    rng: Any = None,
    *,
    fitness: Callable[[np.random.Generator, int], np.ndarray] | None = None,
    self_prob: float = 0.0,
) -> DesignGraph:
    """A random recursive tree on ``n`` programs.

    Program ``i >= 1`` is designed by a uniformly chosen earlier program; the
    design probabilities of a program's children are a uniform random split
    (Dirichlet(1, ..., 1)) of ``1 - self_prob``.

    Parameters
    ----------
    n : int
        Number of programs.
    rng : int or numpy.random.Generator, optional
        Seed or generator.
    fitness : callable, optional
        ``fitness(rng, n)`` returning the fitness vector; default ``Uniform(0, 2)``.
    self_prob : float in [0, 1)
        Probability that an internal program designs a copy of itself.
    """
    n = check_tree_fits(_int_arg("n", n, 1), "n", n)
    self_prob = check_real(self_prob, "self_prob", lo=0.0, hi=1.0, hi_open=True)
    gen = check_rng(rng)
    if fitness is not None:
        _callable("fitness", fitness, "a callable fitness(rng, n) -> array of n fitness values")
    from ._tree_kernels import random_parents, random_split

    parent = np.empty(n, dtype=index_dtype(n))
    parent[0] = -1
    for lo in range(1, n, _DRAW_CHUNK):  # the same draws as gen.random(n - 1), a chunk at a time
        random_parents(parent, gen.random(min(_DRAW_CHUNK, n - lo)), np.int64(lo))
    parent.flags.writeable = False
    f = gen.uniform(0.0, 2.0, n) if fitness is None else real_array(
        fitness(gen, n), "fitness(rng, n)", finite=False, cls=InvalidFitnessError, what="an array of real fitness values"
    )
    if f.ndim != 1:
        raise ShapeError(f"fitness has shape {f.shape}: expected a 1-D array")
    if f.size != n:
        raise ShapeError(f"fitness has length {f.size}: expected {n} to match len(parent)")
    f = _check_fitness_values(f)
    prob = gen.exponential(size=n)
    diag = random_split(parent, prob, self_prob)
    depth = tree_depths(parent)  # one pass: parent[i] < i
    f.flags.writeable = False
    # the rows sum to 1 up to rounding: checked in _from_tree
    return DesignGraph._from_tree(parent, depth, f, prob, diag, None, {"depth": depth}, root=0)


def lattice(n: int, fitness: Any, mutation_rate: float, *, start: int | None = None) -> DesignGraph:
    """A 1-D genotype lattice with symmetric mutations (the biological contrast).

    Each genotype mutates with probability ``mutation_rate``, half to each
    neighbour: ``T(i, i) = 1 - mu``, ``T(i, i +/- 1) = mu / 2``. At the two ends the
    missing neighbour's half stays put (``T(0, 0) = 1 - mu/2``).

    Parameters
    ----------
    n : int
        Number of genotypes.
    fitness : array_like of length n, or callable ``fitness(positions) -> array``
    mutation_rate : float in [0, 1]
    start : int, optional
        The starting genotype (``root``); default the middle one.
    """
    n = check_tree_fits(_int_arg("n", n, 1), "n", n, kind="lattice")
    mu = check_real(mutation_rate, "mutation_rate", lo=0.0, hi=1.0)
    if start is not None:
        start = check_int(start, "start", 0, n - 1)
    pos = np.arange(n)
    f = fitness(pos) if callable(fitness) else fitness
    half = np.full(n - 1, mu / 2)
    diag = np.full(n, 1.0 - mu)
    if n == 1:
        diag[:] = 1.0
    else:
        diag[0] += mu / 2
        diag[-1] += mu / 2
    T = sp.diags_array([half, diag, half], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    return DesignGraph.from_matrix(f, T, root=n // 2 if start is None else start, attrs={"position": pos})


def type_graph(fitness: Any, T: Any, *, root: int = 0, labels: Any = None) -> DesignGraph:
    """A type graph: finitely many program types, each with a fitness and a design policy.

    Programs of the same type have the same fitness and design policy, so the
    shares by type evolve exactly as on the (infinite) tree obtained by
    :func:`unfold`; simulating the type graph simulates that tree exactly.
    This is :meth:`DesignGraph.from_matrix` with ``attrs["type"]`` set.
    """
    g = DesignGraph.from_matrix(fitness, T, root=root, labels=labels)
    return g.with_attrs(type=np.arange(g.n))


def unfold(g: DesignGraph, depth: int, *, root: int | None = None, max_nodes: int = 10_000_000) -> DesignGraph:
    """Unfold a type graph into an explicit tree of the given depth.

    Each tree program of type ``a`` at depth ``< depth`` has one child per edge
    ``a -> b`` of the type graph (self-loops included), with probability
    ``T(a, b)``; programs at ``depth`` are leaves and reproduce themselves. For
    ``t <= depth`` the shares by type on the tree equal the shares on ``g``.

    Returns
    -------
    DesignGraph
        With ``attrs["type"]`` (the type of each program) and ``attrs["depth"]``.
    """
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidGraphError, "g", type(g).__name__, "an aievo.DesignGraph")
    depth = _int_arg("depth", depth, 0)
    max_nodes = check_int(max_nodes, "max_nodes", 1)
    r = g.root if root is None else check_int(root, "root", 0, g.n - 1)
    if depth + 1 > max_nodes:  # every program has a design, so each level holds >= 1 program
        raise bad_argument(
            InvalidParameterError, "depth", depth, f"an unfolding of at most max_nodes={max_nodes} programs"
        )
    T = g.T
    outdeg = np.diff(T.indptr)
    counts = np.zeros(g.n, dtype=np.int64)  # programs of each type on the current level
    counts[r] = 1
    total = 1
    for _ in range(depth):
        size = int(counts @ outdeg)
        total += size
        if total > max_nodes:
            raise bad_argument(
                InvalidParameterError, "depth", depth, f"an unfolding of at most max_nodes={max_nodes} programs"
            )
        check_tree_fits(total, "depth", depth)
        # the next level has, of type b, one program per edge a -> b from each program of type a
        counts = np.bincount(T.indices, weights=np.repeat(counts, outdeg), minlength=g.n).astype(np.int64)
    from ._tree_kernels import unfold_arrays

    par, typ, d, prob, f = unfold_arrays(T.indptr, T.indices, T.data, g.fitness, r, depth, total, index_dtype(total))
    for a in (par, typ, d, f):
        a.flags.writeable = False
    attrs = {k: v[typ] for k, v in g.attrs.items() if k != "type"}
    for v in attrs.values():
        v.flags.writeable = False
    attrs.update(type=typ, depth=d)
    # each program's designs are its type's row of T, which sums to 1 (checked when g was built);
    # the leaves reproduce themselves
    return DesignGraph._from_tree(par, d, f, prob, np.empty(0), None, attrs, rows_checked=True, root=0)
