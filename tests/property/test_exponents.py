"""Lineage exponents: exact against independent oracles, estimates against exact.

Oracles: on trees, the clade's best self-loop (max f(u) T(u, u) over its
descendants); on type graphs, the dense spectral radius of M restricted to the
programs reachable from v; for fitness alone, the best mean of log f over the
simple cycles reachable from v (enumerated by networkx).
"""

import networkx as nx
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from aievo.lineage import lineage_exponents
from aievo.testing import strategies as aest


def _reach(g, v):
    return np.flatnonzero(g.reachable(v))


@given(g=aest.design_trees(max_nodes=12))
def test_exact_on_trees_is_the_best_leaf(g):
    lam = lineage_exponents(g).value
    diag = g.T.diagonal() * g.fitness
    for v in range(g.n):
        expected = np.log(diag[_reach(g, v)].max())
        assert abs(lam[v] - expected) <= 1e-12


@given(g=aest.design_trees(max_nodes=12, self_loops=True))
def test_exact_on_preserving_trees_is_the_best_self_loop(g):
    lam = lineage_exponents(g).value
    rate = g.T.diagonal() * g.fitness
    for v in range(g.n):
        assert abs(lam[v] - np.log(rate[_reach(g, v)].max())) <= 1e-12


@given(g=aest.type_graphs(max_types=7, max_out=3))
def test_exact_on_type_graphs_matches_dense_spectral_radius(g):
    lam = lineage_exponents(g)
    M = np.diag(g.fitness) @ g.T.toarray()
    for v in range(g.n):
        R = _reach(g, v)
        rho = np.abs(np.linalg.eigvals(M[np.ix_(R, R)])).max()
        assert abs(lam.value[v] - np.log(rho)) <= 1e-9
    assert np.all(lam.error_bound <= 1e-9)


@given(g=aest.type_graphs(max_types=6, max_out=3))
def test_estimate_converges_to_exact_with_shrinking_tolerance(g):
    """|estimate_H - exact| <= K (1 + log H) / H, K from the graph's fitness and probability range."""
    exact = lineage_exponents(g).value
    f = g.fitness
    pmin = g.T.data.min()
    K = g.n * (np.log(f.max() / f.min()) + np.log(1.0 / pmin) + 1.0)
    for H in (100, 400, 1600):
        est = lineage_exponents(g, "estimate", horizon=H, tail=H // 4)
        tol = K * (1.0 + np.log(H)) / H
        np.testing.assert_array_equal(np.isfinite(est.value), np.isfinite(exact))
        fin = np.isfinite(exact)
        assert np.all(np.abs(est.value[fin] - exact[fin]) <= tol)
        assert np.all(np.abs(est.upper[fin] - exact[fin]) <= K * (1.0 + np.log(H)) / (H - H // 4))
        assert np.all(np.abs(est.lower[fin] - exact[fin]) <= K * (1.0 + np.log(H)) / (H - H // 4))


def _best_cycle_mean(g, v):
    G = nx.DiGraph()
    T = g.T.tocoo()
    for a, b in zip(T.row, T.col):
        G.add_edge(int(a), int(b))
    logf = np.log(g.fitness)
    sub = G.subgraph(_reach(g, v).tolist())
    best = -np.inf
    for cyc in nx.simple_cycles(sub):
        best = max(best, float(np.mean(logf[cyc])))
    return best


@given(g=aest.type_graphs(max_types=6, max_out=3))
def test_fitness_only_exact_is_the_best_reachable_cycle_mean(g):
    lam = lineage_exponents(g, include_design=False).value
    for v in range(g.n):
        assert abs(lam[v] - _best_cycle_mean(g, v)) <= 1e-12


@given(g=aest.type_graphs(max_types=6, max_out=3))
def test_fitness_only_estimate_converges_to_exact(g):
    exact = lineage_exponents(g, include_design=False).value
    span = 2.0 * g.n * np.abs(np.log(g.fitness)).max() + 1e-12
    for H in (50, 200, 800):
        est = lineage_exponents(g, "estimate", horizon=H, include_design=False).value
        assert np.all(np.abs(est - exact) <= span / H)


@given(g=aest.type_graphs(max_types=6, max_out=3))
def test_design_can_only_lower_the_exponent(g):
    """rho(f T) <= the best cycle's geometric-mean fitness: probabilities are <= 1."""
    with_design = lineage_exponents(g).value
    fitness_only = lineage_exponents(g, include_design=False).value
    assert np.all(with_design <= fitness_only + 1e-12)


@given(
    slow=aest.type_graphs(max_types=4, max_out=3, min_fitness=1e-3, max_fitness=1e-1),
    fast=aest.type_graphs(max_types=4, max_out=3, min_fitness=1e-1, max_fitness=1e3),
    data=st.data(),
)
def test_clade_abundance_matches_high_range_decimal_arithmetic(slow, fast, data):
    """log N_t^v against N_t = M^t 1 in Decimal arithmetic (no overflow or underflow).

    The graph joins a slow and a fast type graph side by side, so clades grow at
    rates up to 1e6 apart: a common rescaling of all clades would underflow.
    """
    import decimal

    import scipy.sparse as sp

    import aievo as ae
    from aievo.lineage import clade_abundance

    g = ae.DesignGraph.from_matrix(
        np.concatenate([slow.fitness, fast.fitness]), sp.block_diag([slow.T, fast.T], format="csr")
    )
    times = sorted(data.draw(st.lists(st.integers(0, 300), min_size=1, max_size=4)))
    ctx = decimal.Context(prec=40, Emax=10**9, Emin=-(10**9))
    D = ctx.create_decimal_from_float
    T = g.T.toarray()
    f = [D(x) for x in g.fitness]
    Tm = [[D(x) for x in row] for row in T]
    a = [D(1.0)] * g.n
    expected = {}
    for t in range(times[-1] + 1):
        expected[t] = [float(x.ln(ctx)) if x > 0 else -np.inf for x in a]
        a = [ctx.multiply(f[v], sum((ctx.multiply(Tm[v][w], a[w]) for w in range(g.n)), D(0.0))) for v in range(g.n)]
    got = clade_abundance(g, times)
    for i, t in enumerate(times):
        np.testing.assert_allclose(got[i], expected[t], rtol=1e-10, atol=1e-9)
