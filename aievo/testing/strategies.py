"""Hypothesis strategies for design graphs, locking, traits and utilities.

Sized so that property tests stay fast: a few to a dozen programs per graph,
fitness bounded away from 0 and infinity, design probabilities bounded away
from 0. Every size and bound is a keyword argument.

Examples
--------
A conjecture as a property test::

    from hypothesis import given
    import numpy as np
    import aievo as ae
    from aievo.lineage import lineage_exponents
    from aievo.testing import strategies as aest

    @given(case=aest.locked_trees())
    def test_locking_lifts_the_root_exponent_to_log_fstar(case):
        g, eta = case
        lam = lineage_exponents(g).value[g.root]
        assert abs(lam - np.log(g.F_star)) <= 1e-9
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st

from ..graph import DesignGraph

__all__ = [
    "fitness_values",
    "fitness_vectors",
    "etas",
    "design_trees",
    "type_graphs",
    "locked_trees",
    "preserved_trees",
    "share_vectors",
    "trait_vectors",
    "GridCase",
    "deception_grids",
    "dominated_utilities",
    "GameCase",
    "payoff_games",
    "cyclic_games",
    "learning_evaluators",
    "population_counts",

    "log_uniform",
    "ill_conditioned_components",
    "long_cycles",
    "extreme_type_graphs",
    "rare_lineage_graphs",
    "LazyChainCase",
    "preserved_lazy_chains",
    "adversarial_graphs",
]


def fitness_values(min_value: float = 0.1, max_value: float = 2.0) -> st.SearchStrategy[float]:
    """Bounded fitness values in ``[min_value, max_value]``."""
    return st.floats(min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False)


def fitness_vectors(
    n: int, min_value: float = 0.1, max_value: float = 2.0
) -> st.SearchStrategy[np.ndarray]:
    """Fitness vectors of length ``n`` with entries in ``[min_value, max_value]``."""
    return st.lists(fitness_values(min_value, max_value), min_size=n, max_size=n).map(
        lambda v: np.asarray(v, dtype=np.float64)
    )


def etas(min_value: float = 0.05, max_value: float = 0.95) -> st.SearchStrategy[float]:
    """Locking / preservation probabilities ``eta`` in ``[min_value, max_value]``."""
    return st.floats(min_value=min_value, max_value=max_value, allow_nan=False)


def _weights(k: int, min_weight: float) -> st.SearchStrategy[list[float]]:
    return st.lists(st.floats(min_value=min_weight, max_value=1.0), min_size=k, max_size=k)


@st.composite
def design_trees(
    draw: Any,
    min_nodes: int = 1,
    max_nodes: int = 10,
    min_fitness: float = 0.1,
    max_fitness: float = 2.0,
    min_weight: float = 0.1,
    self_loops: bool = False,
) -> DesignGraph:
    """Random rooted design trees (random recursive shape).

    Node ``i >= 1`` is designed by a drawn earlier node; a program's children
    share its offspring in proportion to drawn weights in ``[min_weight, 1]``.
    Leaves reproduce themselves. With ``self_loops=True`` every internal
    program also designs a copy of itself with a drawn probability in
    ``[0.05, 0.5]``. ``attrs["depth"]`` is set.
    """
    n = draw(st.integers(min_value=min_nodes, max_value=max_nodes))
    parent = [-1] + [draw(st.integers(min_value=0, max_value=i - 1)) for i in range(1, n)]
    par = np.asarray(parent, dtype=np.int64)
    f = draw(fitness_vectors(n, min_fitness, max_fitness))
    w = np.asarray(draw(_weights(n, min_weight)))
    w[0] = 0.0
    totals = np.bincount(par[1:], weights=w[1:], minlength=n)
    has_children = np.bincount(par[1:], minlength=n) > 0
    if self_loops:
        sp_ = np.asarray(draw(st.lists(st.floats(0.05, 0.5), min_size=n, max_size=n)))
    else:
        sp_ = np.zeros(n)
    sp_ = np.where(has_children, sp_, 1.0)
    prob = np.zeros(n)
    prob[1:] = w[1:] / totals[par[1:]] * (1.0 - sp_[par[1:]])
    depth = np.zeros(n, dtype=np.int64)
    for i in range(1, n):
        depth[i] = depth[par[i]] + 1
    return DesignGraph.tree(par, f, prob, self_prob=sp_, attrs={"depth": depth})


@st.composite
def type_graphs(
    draw: Any,
    min_types: int = 1,
    max_types: int = 6,
    max_out: int = 3,
    min_fitness: float = 0.1,
    max_fitness: float = 2.0,
    min_weight: float = 0.1,
) -> DesignGraph:
    """Random finite type graphs (any shape: cycles, self-loops, several components).

    Each type designs between 1 and ``max_out`` distinct drawn types with
    probabilities proportional to drawn weights in ``[min_weight, 1]``; the
    root is type 0. ``attrs["type"]`` is set.
    """
    from ..trees import type_graph

    n = draw(st.integers(min_value=min_types, max_value=max_types))
    f = draw(fitness_vectors(n, min_fitness, max_fitness))
    T = np.zeros((n, n))
    for v in range(n):
        targets = draw(
            st.lists(st.integers(0, n - 1), min_size=1, max_size=min(max_out, n), unique=True)
        )
        w = np.asarray(draw(_weights(len(targets), min_weight)))
        T[v, targets] = w / w.sum()
    return type_graph(f, T)


@st.composite
def locked_trees(draw: Any, eta: st.SearchStrategy[float] | None = None, **tree_kwargs: Any) -> tuple[DesignGraph, float]:
    """``(with_locking(tree, eta), eta)`` for a drawn design tree and ``eta``."""
    from ..locking import with_locking

    g = draw(design_trees(**tree_kwargs))
    e = draw(etas() if eta is None else eta)
    return with_locking(g, e), e


@st.composite
def preserved_trees(
    draw: Any, eta: st.SearchStrategy[float] | None = None, **tree_kwargs: Any
) -> tuple[DesignGraph, float]:
    """``(with_preservation(tree, eta), eta)`` for a drawn design tree and ``eta``."""
    from ..locking import with_preservation

    g = draw(design_trees(**tree_kwargs))
    e = draw(etas() if eta is None else eta)
    return with_preservation(g, e), e


@st.composite
def share_vectors(draw: Any, n: int, min_support: int = 1) -> np.ndarray:
    """Share vectors of length ``n`` (non-negative, summing to 1, some zeros)."""
    w = np.asarray(
        draw(st.lists(st.one_of(st.just(0.0), st.floats(0.01, 1.0)), min_size=n, max_size=n))
    )
    k = min(min_support, n)
    if np.count_nonzero(w) < k:
        idx = draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True))
        w[idx] = 1.0
    return w / w.sum()


def trait_vectors(n: int, min_value: float = -5.0, max_value: float = 5.0) -> st.SearchStrategy[np.ndarray]:
    """Real trait vectors of length ``n`` (capability, utility, any ``z``)."""
    return st.lists(
        st.floats(min_value=min_value, max_value=max_value, allow_nan=False), min_size=n, max_size=n
    ).map(lambda v: np.asarray(v, dtype=np.float64))


class GridCase(NamedTuple):
    """A drawn capability-deception grid and its parameters."""

    graph: DesignGraph
    C: int
    D: int
    eta: float
    fitness: str


@st.composite
def deception_grids(
    draw: Any,
    max_C: int = 4,
    max_D: int = 4,
    fitness: str | None = None,
    eta: st.SearchStrategy[float] | None = None,
) -> GridCase:
    """eta-locked capability-deception grids (:func:`aievo.traits.deception_grid`).

    ``C`` in ``1 .. max_C``, ``D`` in ``1 .. max_D``, ``eta`` in ``[0.1, 0.6]``
    by default, and human-judged or objective fitness (drawn unless given).
    """
    from ..traits import deception_grid

    C = draw(st.integers(1, max_C))
    D = draw(st.integers(1, max_D))
    e = draw(etas(0.1, 0.6) if eta is None else eta)
    kind = draw(st.sampled_from(["human_judged", "objective"])) if fitness is None else fitness
    return GridCase(deception_grid(C, D, e, fitness=kind), C, D, e, kind)


@st.composite
def dominated_utilities(draw: Any, g: DesignGraph, slope: float = 1.0) -> np.ndarray:
    """Utilities ``u(v) = slope * f(v) + h(v)`` with drawn ``h >= 0`` in ``[0, 2]``.

    They satisfy R4's hypothesis ``u(v) >= g(f(v))`` for ``g(f) = slope * f``
    and are bounded below on a finite graph.
    """
    h = np.asarray(draw(st.lists(st.floats(0.0, 2.0), min_size=g.n, max_size=g.n)))
    return slope * np.asarray(g.fitness) + h


# ---------------------------------------------------------------------------------------------
# State-dependent fitness and finite populations (aievo.state, aievo.fixation; issue 14)
# ---------------------------------------------------------------------------------------------
class GameCase(NamedTuple):
    """A drawn game: self-copying programs (``T = I``), a payoff matrix and a start."""

    graph: DesignGraph
    payoff: np.ndarray
    initial: np.ndarray


@st.composite
def payoff_games(draw: Any, min_n: int = 2, max_n: int = 5, max_payoff: float = 2.0) -> GameCase:
    """Games on ``n`` self-copying programs with payoffs in ``[-max_payoff, max_payoff]``.

    The baseline fitness exceeds the largest possible loss, so ``f + A x`` stays
    positive for every share vector ``x``; the start is an interior share vector.
    """
    n = draw(st.integers(min_n, max_n))
    A = np.asarray(
        draw(st.lists(st.floats(-max_payoff, max_payoff), min_size=n * n, max_size=n * n)), dtype=np.float64
    ).reshape(n, n)
    base = max_payoff + draw(st.floats(0.1, 3.0))
    x0 = np.asarray(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    g = DesignGraph.from_matrix(np.full(n, base), np.eye(n))
    return GameCase(g, A, x0 / x0.sum())


@st.composite
def cyclic_games(draw: Any, min_n: int = 3, max_n: int = 6) -> GameCase:
    """Zero-sum cyclic games: ``A = C - C^T`` with ``C`` circulant, so ``A 1 = 0``.

    The uniform share vector is an interior equilibrium and ``sum_i log x_i`` is
    conserved by the continuous replicator and non-increasing in discrete time.
    """
    n = draw(st.integers(min_n, max_n))
    c = np.asarray(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    C = np.array([np.roll(c, i) for i in range(n)])
    A = C - C.T
    base = np.abs(A).sum(axis=1).max() + draw(st.floats(0.5, 5.0))
    x0 = np.asarray(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    g = DesignGraph.from_matrix(np.full(n, base), np.eye(n))
    return GameCase(g, A, x0 / x0.sum())


@st.composite
def learning_evaluators(draw: Any, max_sensitivity: float = 3.0, max_penalty: float = 3.0) -> Any:
    """:class:`aievo.LearningEvaluator` with every parameter drawn over its domain."""
    from ..state import LearningEvaluator

    return LearningEvaluator(
        rate=draw(st.floats(0.0, 1.0)),
        sensitivity=draw(st.floats(0.0, max_sensitivity)),
        penalty=draw(st.floats(0.0, max_penalty)),
        p0=draw(st.floats(0.0, 1.0)),
    )


@st.composite
def population_counts(draw: Any, n: int, min_K: int = 2, max_K: int = 60) -> tuple[int, np.ndarray]:
    """A population size ``K`` and initial counts over ``n`` programs summing to ``K``."""
    K = draw(st.integers(min_K, max_K))
    cuts = sorted(draw(st.lists(st.integers(0, K), min_size=n - 1, max_size=n - 1)))
    counts = np.diff(np.concatenate([[0], cuts, [K]])).astype(np.int64)
    return K, counts

# ---------------------------------------------------------------------- adversarial families
def log_uniform(min_exp: float, max_exp: float) -> st.SearchStrategy[float]:
    """``10**e`` with ``e`` uniform in ``[min_exp, max_exp]`` (extreme scales)."""
    return st.floats(min_value=min_exp, max_value=max_exp, allow_nan=False).map(lambda e: float(10.0**e))


@st.composite
def ill_conditioned_components(
    draw: Any, min_size: int = 2, max_size: int = 8, min_eps_exp: float = -60.0, max_scale_exp: float = 300.0
) -> DesignGraph:
    """Nearly reducible strongly connected components: a Perron root near a Jordan block.

    ``k`` programs in a line, each copying itself and designing the next with
    ``1/2, 1/2`` at fitness ``2`` (self-loop weights 1), the last (fitness 1)
    closing the loop to the first with a tiny ``eps`` in ``10**[min_eps_exp, -1]``;
    so ``rho - 1`` is about ``eps**(1/k)``, ill-conditioned as a Jordan block.
    Drawn variants: a chord (program 0 also designs program 2), a perturbed
    fitness per program, and a common fitness scale ``10**[-s, s]``, ``s = max_scale_exp``.
    """
    from ..trees import type_graph

    k = draw(st.integers(min_value=min_size, max_value=max_size))
    eps = draw(log_uniform(min_eps_exp, -1.0))
    jitter = draw(st.lists(st.floats(0.5, 2.0), min_size=k, max_size=k))
    perturb = draw(st.booleans())
    scale = draw(log_uniform(-max_scale_exp, max_scale_exp))
    f = np.array([2.0] * (k - 1) + [1.0])
    if perturb:
        f = f * np.asarray(jitter)
    T = np.zeros((k, k))
    for i in range(k - 1):
        T[i, i] = 0.5
        T[i, i + 1] = 0.5
    T[k - 1, k - 1] = 1.0 - eps
    T[k - 1, 0] = eps
    if k >= 3 and draw(st.booleans()):
        T[0, 1] = 0.25
        T[0, 2] = 0.25
    return type_graph(f * scale, T)


@st.composite
def long_cycles(
    draw: Any, min_length: int = 2, max_length: int = 60, fitness_exp: float = 30.0, self_loops: bool | None = None
) -> DesignGraph:
    """One cycle through all programs, with fitness ``10**[-e, e]`` (``e = fitness_exp``).

    Every program designs the next with a drawn probability (the rest, if
    self-loops are drawn, to itself): the exponent is the closed form
    ``prod_i (rho - d_i) = prod_i c_i``.
    """
    from ..trees import type_graph

    L = draw(st.integers(min_value=min_length, max_value=max_length))
    f = np.asarray(draw(st.lists(log_uniform(-fitness_exp, fitness_exp), min_size=L, max_size=L)))
    loops = draw(st.booleans()) if self_loops is None else self_loops
    stay = np.asarray(draw(st.lists(st.floats(0.0, 0.99), min_size=L, max_size=L))) if loops else np.zeros(L)
    T = np.zeros((L, L))
    for i in range(L):
        T[i, (i + 1) % L] = 1.0 - stay[i]
        T[i, i] += stay[i]
    return type_graph(f, T)


@st.composite
def extreme_type_graphs(draw: Any, max_types: int = 6, fitness_exp: float = 300.0) -> DesignGraph:
    """Type graphs (as :func:`type_graphs`) with fitness ``10**[-e, e]`` and probabilities down to ``1e-100``."""
    from ..trees import type_graph

    n = draw(st.integers(min_value=1, max_value=max_types))
    f = np.asarray(draw(st.lists(log_uniform(-fitness_exp, fitness_exp), min_size=n, max_size=n)))
    T = np.zeros((n, n))
    for v in range(n):
        targets = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=min(3, n), unique=True))
        w = np.asarray(draw(st.lists(log_uniform(-100.0, 0.0), min_size=len(targets), max_size=len(targets))))
        T[v, targets] = w / w.sum()
    return type_graph(f, T)


@st.composite
def rare_lineage_graphs(draw: Any, max_depth: int = 40) -> DesignGraph:
    """A root choosing between a fit self-copier and a deep, rare lineage that ends fitter.

    Root (fitness 1) designs ``A`` (fitness ``a``, copies itself) with
    probability ``1 - p`` and the head of a chain of ``m`` programs of fitness
    1 with a tiny ``p``; the chain ends in a self-copier of fitness ``b > a``.
    Early, the rare lineage's weight is exponentially small; late, it dominates.
    """
    from ..trees import type_graph

    m = draw(st.integers(min_value=1, max_value=max_depth))
    a = draw(st.floats(1.1, 3.0))
    b = a * draw(st.floats(1.5, 100.0))
    p = draw(log_uniform(-200.0, -1.0))
    n = m + 3
    T = np.zeros((n, n))
    T[0, 1] = 1.0 - p
    T[0, 2] = p
    T[1, 1] = 1.0
    for i in range(2, 2 + m):
        T[i, i + 1] = 1.0
    T[n - 1, n - 1] = 1.0
    f = np.ones(n)
    f[1] = a
    f[n - 1] = b
    return type_graph(f, T)


class LazyChainCase(NamedTuple):
    """A drawn chain for :func:`aievo.lazy.simulate_lazy` and its parameters."""

    fitness: np.ndarray
    locking: float | None
    preservation: float | None
    threshold: float
    generations: int


@st.composite
def preserved_lazy_chains(draw: Any, max_length: int = 6, max_generations: int = 40) -> LazyChainCase:
    """Chains with locking and preservation and a pruning threshold (the lazy-tree certificate's hard case)."""
    k = draw(st.integers(min_value=1, max_value=max_length))
    f = np.asarray(draw(st.lists(st.floats(0.5, 3.0), min_size=k, max_size=k)))
    lock = draw(st.one_of(st.none(), etas(0.05, 0.95)))
    pres = draw(st.one_of(st.none(), etas(0.01, 0.5)))
    theta = draw(st.sampled_from([0.0, 1e-6, 1e-4, 1e-3, 1e-2]))
    G = draw(st.integers(min_value=1, max_value=max_generations))
    return LazyChainCase(f, lock, pres, theta, G)


def adversarial_graphs() -> st.SearchStrategy[DesignGraph]:
    """One of the adversarial families above (for "the certified bracket holds" properties)."""
    return st.one_of(
        ill_conditioned_components(),
        long_cycles(),
        extreme_type_graphs(),
        rare_lineage_graphs(),
    )
