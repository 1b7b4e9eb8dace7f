"""Engine invariants a wrong engine fails (docs/explanation/model.md), checked on drawn graphs.

Oracles: a plain numpy iteration of n_{t+1} = n_t M, the path-product formula
on trees, and the unfolding of a type graph.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo.testing import strategies as aest


@given(g=aest.type_graphs(max_types=8), G=st.integers(0, 40), data=st.data())
def test_shares_are_a_distribution_and_match_numpy(g, G, data):
    x0 = data.draw(aest.share_vectors(g.n))
    tr = ae.simulate(g, G, initial=x0, record_shares=range(G + 1))
    snaps = tr.snapshots
    assert snaps.shape == (G + 1, g.n)
    assert (snaps >= 0).all()
    np.testing.assert_allclose(snaps.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # oracle: plain numpy abundances, n_{t+1} = n_t diag(f) T
    M = np.diag(g.fitness) @ g.T.toarray()
    n = x0.copy()
    for t in range(G + 1):
        N = n.sum()
        np.testing.assert_allclose(snaps[t], n / N, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(tr.log_growth[t], np.log(N), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(tr.mean_fitness[t], (n / N) @ g.fitness, rtol=1e-10)
        n = n @ M


@given(g=aest.design_trees(max_nodes=14))
def test_path_product_formula_on_trees(g):
    """n_t(w) = prod_k f(v_k) T(v_k, v_{k+1}) along the root-to-w path, for w at depth t."""
    depth = g.attrs["depth"]
    D = int(depth.max())
    tr = ae.simulate(g, D, record_shares=range(D + 1))
    T = g.T.toarray()
    par = g.parent
    for w in range(g.n):
        prod, v = 1.0, w
        while par[v] >= 0:
            prod *= g.fitness[par[v]] * T[par[v], v]
            v = par[v]
        t = int(depth[w])
        n_tw = tr.shares_at(t)[w] * np.exp(tr.log_growth[t])
        np.testing.assert_allclose(n_tw, prod, rtol=1e-10)


@given(g=aest.type_graphs(max_types=4, max_out=2), depth=st.integers(0, 6))
def test_type_graph_and_unfolding_agree(g, depth):
    tree = ae.unfold(g, depth)
    a = ae.simulate(g, depth, record_shares=range(depth + 1))
    b = ae.simulate(tree, depth, record_shares=range(depth + 1))
    typ = tree.attrs["type"]
    for t in range(depth + 1):
        by_type = np.bincount(typ, weights=b.shares_at(t), minlength=g.n)
        np.testing.assert_allclose(by_type, a.shares_at(t), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.mean_fitness, b.mean_fitness, rtol=1e-10)
    np.testing.assert_allclose(a.log_growth, b.log_growth, rtol=1e-10, atol=1e-12)
