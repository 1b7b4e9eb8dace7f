"""Generators of design graphs: chains, k-ary and random trees, lattices, type graphs.

Every generator returns a :class:`~aievo.graph.DesignGraph` whose nodes are in
breadth-first order (the root first) with ``attrs["depth"]`` for trees.
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
from .graph import ROW_SUM_TOL, DesignGraph, _check_fitness_values, _probs, tree_depths

__all__ = ["chain", "kary_tree", "binary_pm_tree", "random_tree", "lattice", "type_graph", "unfold"]


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
    n = f.size
    parent = np.arange(-1, n - 1)
    return DesignGraph.tree(parent, f, np.ones(n), attrs={"depth": np.arange(n)})


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

    parent, j, d_arr, probs, diag = kary_arrays(np.int64(k), np.int64(depth), np.ascontiguousarray(p))
    f = np.empty(n)
    f[0] = rf
    lo = 1
    for d in range(1, depth + 1):
        hi = lo + k**d
        vals = real_array(
            fitness_rule(f[parent[lo:hi]], j[lo:hi], d), f"fitness_rule(..., d={d})", finite=False,
            cls=InvalidFitnessError, what="an array of real fitness values",
        )
        if vals.shape != (hi - lo,):
            raise ShapeError(f"fitness_rule returned shape {vals.shape} at depth {d}: expected ({hi - lo},)")
        f[lo:hi] = vals
        lo = hi
    f = _check_fitness_values(f)
    for a in (parent, f, d_arr, j):
        a.flags.writeable = False
    return DesignGraph._from_tree(
        parent, d_arr, f, probs, diag, None, {"depth": d_arr, "child_index": j}, rows_checked=True, root=0
    )


def binary_pm_tree(depth: int, root_fitness: float = 1.0) -> DesignGraph:
    """The binary ``+/-`` tree of paper figure 5, docs/figures.md.

    A program at depth ``k`` with fitness ``f`` designs two children with fitness
    ``f - 2^-(k+1)`` and ``f + 2^-(k+1)``, probability 1/2 each. The supremum of
    fitness, ``root_fitness + 1``, is approached along the all-``+`` ray and never
    attained. ``attrs["plus"]`` marks the nodes of that ray.
    """

    def rule(pf: np.ndarray, j: np.ndarray, d: int) -> np.ndarray:
        return pf + np.where(j == 1, 1.0, -1.0) * 2.0 ** (-d)

    depth = _int_arg("depth", depth, 0)
    check_tree_fits(kary_size(2, depth), "depth", depth, log2_n=kary_log2(2, depth))
    g = kary_tree(2, depth, rule, root_fitness=root_fitness)
    n = g.n
    plus = np.zeros(n, dtype=bool)
    i = 0
    while i < n:
        plus[i] = True
        i = 2 * i + 2
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
    parent = np.full(n, -1, dtype=np.int64)
    if n > 1:
        parent[1:] = np.floor(gen.random(n - 1) * np.arange(1, n)).astype(np.int64)
    f = gen.uniform(0.0, 2.0, n) if fitness is None else real_array(
        fitness(gen, n), "fitness(rng, n)", finite=False, cls=InvalidFitnessError, what="an array of real fitness values"
    )
    w = gen.exponential(size=n)
    w[0] = 0.0
    totals = np.bincount(parent[1:], weights=w[1:], minlength=n)
    prob = np.zeros(n)
    prob[1:] = w[1:] / totals[parent[1:]] * (1.0 - self_prob)
    has_children = np.bincount(parent[1:], minlength=n) > 0
    sp_ = np.where(has_children, self_prob, 1.0)
    return DesignGraph.tree(parent, f, prob, self_prob=sp_, attrs={"depth": tree_depths(parent)})


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
    n = check_tree_fits(_int_arg("n", n, 1), "n", n)
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
    types = [np.array([r], dtype=np.int64)]
    parents = [np.array([-1], dtype=np.int64)]
    probs = [np.array([0.0])]
    total = 1
    offset = 0
    for _ in range(depth):
        level = types[-1]
        counts = np.diff(T.indptr)[level]
        size = int(counts.sum())
        total += size
        if total > max_nodes:
            raise bad_argument(
                InvalidParameterError, "depth", depth, f"an unfolding of at most max_nodes={max_nodes} programs"
            )
        check_tree_fits(total, "depth", depth)
        starts = np.repeat(T.indptr[level], counts)
        within = np.arange(size) - np.repeat(np.cumsum(counts) - counts, counts)
        e = starts + within
        parents.append(offset + np.repeat(np.arange(level.size), counts))
        types.append(T.indices[e].astype(np.int64))
        probs.append(T.data[e])
        offset += level.size
    typ = np.concatenate(types)
    par = np.concatenate(parents)
    d = np.concatenate([np.full(a.size, i) for i, a in enumerate(types)])
    attrs = {k: v[typ] for k, v in g.attrs.items() if k != "type"}
    attrs.update(type=typ, depth=d)
    return DesignGraph.tree(par, g.fitness[typ], np.concatenate(probs), attrs=attrs)
