"""The Price equation and Fisher's fundamental theorem on drawn graphs, against numpy."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo.price import price_along, price_decomposition
from aievo.testing import strategies as aest


@given(g=aest.type_graphs(max_types=8, max_out=4), data=st.data())
def test_price_identity_to_1e_10(g, data):
    x = data.draw(aest.share_vectors(g.n))
    z = data.draw(aest.trait_vectors(g.n))
    p = price_decomposition(g, x, z)
    f, T = g.fitness, g.T.toarray()
    F = x @ f
    zbar = x @ z
    x_next = (x * f) @ T / F
    total = x_next @ z - zbar
    selection = np.sum(x * (f - F) * (z - zbar)) / F
    transmission = np.sum(x * f * (T @ z - z)) / F
    assert abs(p.total - total) <= 1e-10
    assert abs(p.selection - selection) <= 1e-10
    assert abs(p.transmission - transmission) <= 1e-10
    assert abs(p.selection + p.transmission - p.total) <= 1e-10
    assert abs(p.fisher - np.sum(x * (f - F) ** 2) / F) <= 1e-10


@given(f=st.integers(1, 8).flatmap(aest.fitness_vectors), G=st.integers(1, 30), data=st.data())
def test_fisher_fundamental_theorem_with_identity_design(f, G, data):
    """T = I: F_{t+1} - F_t = Var_x(f) / F_t >= 0 at every step."""
    n = f.size
    g = ae.DesignGraph.from_matrix(f, sp.eye_array(n, format="csr"))
    x0 = data.draw(aest.share_vectors(n))
    tr = ae.simulate(g, G, initial=x0, record_shares=range(G + 1))
    for t in range(G):
        x = tr.shares_at(t)
        F = x @ f
        var = x @ (f - F) ** 2
        assert tr.mean_fitness[t + 1] - tr.mean_fitness[t] >= -1e-12
        np.testing.assert_allclose(tr.mean_fitness[t + 1] - tr.mean_fitness[t], var / F, rtol=1e-8, atol=1e-12)
        p = price_decomposition(g, x)
        assert p.transmission == 0.0
        np.testing.assert_allclose(p.selection, var / F, rtol=1e-10, atol=1e-14)


@given(g=aest.type_graphs(max_types=6), G=st.integers(1, 25), data=st.data())
def test_price_along_matches_the_engines_trait_means(g, G, data):
    z = data.draw(aest.trait_vectors(g.n))
    ps = price_along(g, G, trait=z)
    tr = ae.simulate(g, G, traits={"z": z}, record_shares=range(G + 1))
    zbar = tr.trait_means["z"]
    np.testing.assert_allclose(ps.mean_trait, zbar[:-1], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ps.total, np.diff(zbar), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ps.selection + ps.transmission, np.diff(zbar), rtol=1e-7, atol=1e-9)
    from_run = price_along(g, tr, trait=z)
    np.testing.assert_allclose(from_run.selection, ps.selection, rtol=1e-9, atol=1e-12)
