"""Clade abundances and lineage exponents against closed forms and dense linear algebra."""

import numpy as np
import pytest
import scipy.sparse as sp

import aievo as ae
from aievo.errors import InvalidParameterError
from aievo.lineage import LineageExponents, clade_abundance, lineage_exponents, spectral_radius_bounds


def test_clade_abundance_of_a_chain_is_a_closed_form():
    g = ae.chain([2.0, 3.0])  # 0 -> 1, 1 reproduces itself
    t = np.array([5, 0, 3, 5])
    out = clade_abundance(g, t)
    expected0 = np.where(t == 0, 0.0, np.log(2.0) + (t - 1) * np.log(3.0))
    np.testing.assert_allclose(out[:, 0], expected0, rtol=1e-14)
    np.testing.assert_allclose(out[:, 1], t * np.log(3.0), rtol=1e-14)
    np.testing.assert_allclose(clade_abundance(g, 4, log=False), [2 * 27, 81], rtol=1e-14)
    assert clade_abundance(g, 4).shape == (2,)


def test_slow_clades_do_not_underflow_next_to_fast_ones():
    # regression: a common rescaling underflows the slow clade to -inf after ~240 steps
    g = ae.DesignGraph.from_matrix([0.1, 2.0], np.eye(2))
    out = clade_abundance(g, 1000)
    np.testing.assert_allclose(out, [1000 * np.log(0.1), 1000 * np.log(2.0)], rtol=1e-12)


def test_extinct_clades_are_minus_inf():
    g = ae.chain([2.0, 0.0])  # the child has no offspring
    out = clade_abundance(g, [0, 1, 2])
    assert out[2, 0] == -np.inf and out[1, 1] == -np.inf
    lam = lineage_exponents(g)
    assert lam.value[0] == -np.inf and lam.value[1] == -np.inf
    assert lineage_exponents(g, "estimate", horizon=10).value[0] == -np.inf


def test_oscillating_chain_exponent_is_the_geometric_mean():
    g = ae.type_graph([4.0, 1.0], [[0.0, 1.0], [1.0, 0.0]])
    for method in ("exact", "estimate"):
        lam = lineage_exponents(g, method, horizon=1001)
        np.testing.assert_allclose(lam.value, np.log(2.0), atol=1e-12 if method == "exact" else 1e-3)
    est = lineage_exponents(g, "estimate", horizon=1001, tail=10)
    # (1/t) log N_t^0 = log 2 for even t and log 2 + log 2 / t for odd t
    np.testing.assert_allclose(est.upper[0], np.log(2.0) + np.log(2.0) / 991, rtol=1e-12)
    np.testing.assert_allclose(est.lower[0], np.log(2.0), rtol=1e-12)
    assert est.horizon == 1001 and est.tail == 10


def test_binary_pm_tree_best_exponent_is_exactly_the_plus_ray():
    g = ae.binary_pm_tree(8)
    lam = lineage_exponents(g).value
    best = np.isclose(lam, lam.max(), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(best, g.attrs["plus"])
    np.testing.assert_allclose(lam.max(), np.log(2.0 - 2.0**-8), rtol=1e-14)


def test_design_probability_option():
    # a program of fitness 3 that copies itself with probability 1/2 and otherwise designs fitness 1
    g = ae.DesignGraph.tree([-1, 0], [3.0, 1.0], [0.0, 0.5], self_prob=[0.5, 1.0])
    np.testing.assert_allclose(lineage_exponents(g).value, [np.log(1.5), 0.0], atol=1e-14)
    np.testing.assert_allclose(lineage_exponents(g, include_design=False).value, [np.log(3.0), 0.0], atol=1e-14)
    est = lineage_exponents(g, "estimate", horizon=400, include_design=False)
    np.testing.assert_allclose(est.value, [np.log(3.0), 0.0], atol=1e-14)


def _strongly_connected(n, seed, extra=3):
    rng = np.random.default_rng(seed)
    rows = [np.arange(n)]
    cols = [(np.arange(n) + 1) % n]
    for _ in range(extra):
        rows.append(np.arange(n))
        cols.append(rng.integers(0, n, n))
    r, c = np.concatenate(rows), np.concatenate(cols)
    w = rng.uniform(0.2, 1.0, r.size)
    T = sp.csr_array((w, (r, c)), shape=(n, n))
    T = sp.csr_array(sp.diags_array(1.0 / T.sum(axis=1)) @ T)
    return ae.type_graph(rng.uniform(0.5, 2.0, n), T)


def _dense_rho(A):
    from aievo._blas import single_threaded_blas

    with single_threaded_blas():
        return np.abs(np.linalg.eigvals(A)).max()


@pytest.mark.parametrize("n", [150, 350])
def test_large_component_matches_dense_eigenvalues(n):
    # 150: one dense solve; 350: the iterative, certified bracket
    g = _strongly_connected(n, 1)
    lam = lineage_exponents(g)
    rho = _dense_rho(g.mean_matrix().toarray())
    np.testing.assert_allclose(lam.value, np.log(rho), rtol=0, atol=1e-9)
    assert lam.error_bound.max() <= 1e-8


@pytest.mark.parametrize("n", [150, 1000])
def test_large_periodic_component(n):
    # a cycle: M is periodic and rho = the geometric mean of fitness
    rng = np.random.default_rng(3)
    f = rng.uniform(0.5, 2.0, n)
    T = sp.csr_array((np.ones(n), (np.arange(n), (np.arange(n) + 1) % n)), shape=(n, n))
    g = ae.type_graph(f, T)
    lam = lineage_exponents(g)
    exact = np.mean(np.log(f))
    # the reported error bound is honest, whichever solver ran
    assert np.all(np.abs(lam.value - exact) <= lam.error_bound + 1e-12)
    assert lam.error_bound.max() <= 1e-3
    lo, hi, est = spectral_radius_bounds(g.mean_matrix())
    assert lo <= np.exp(exact) * (1 + 1e-12) and hi >= np.exp(exact) * (1 - 1e-12) and lo <= est <= hi


def test_slowly_mixing_lattice_value_is_accurate_and_bound_honest():
    # a narrow peak on a 400-genotype lattice: the Perron vector spans many orders of magnitude
    g = ae.lattice(400, lambda p: 1.0 + np.exp(-(((p - 120) / 6.0) ** 2)), 0.1)
    lam = lineage_exponents(g)
    exact = np.log(_dense_rho(g.mean_matrix().toarray()))
    np.testing.assert_allclose(lam.value, exact, atol=1e-10)
    assert np.all(np.abs(lam.value - exact) <= lam.error_bound + 1e-12)


def test_condensation_takes_the_best_reachable_component():
    # 0 -> {1,2} cycle (rate sqrt(1.5*0.5*...)) and 0 -> 3 (self-loop 1.2); 4 isolated self-loop 5
    T = np.zeros((5, 5))
    T[0, 1], T[0, 3] = 0.5, 0.5
    T[1, 2] = T[2, 1] = 1.0
    T[3, 3] = 1.0
    T[4, 4] = 1.0
    f = np.array([9.0, 1.5, 0.5, 1.2, 5.0])
    lam = lineage_exponents(ae.type_graph(f, T))
    cyc = 0.5 * np.log(1.5 * 0.5)
    np.testing.assert_allclose(lam.value, [np.log(1.2), cyc, cyc, np.log(1.2), np.log(5.0)], atol=1e-12)
    assert isinstance(lam, LineageExponents) and lam.component is not None
    assert np.isneginf(lam.component_rate[lam.component[0]])  # node 0 alone: no cycle


def test_bad_arguments_are_refused(monkeypatch):
    g = ae.chain([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="method"):
        lineage_exponents(g, "magic")
    with pytest.raises(InvalidParameterError, match="horizon"):
        lineage_exponents(g, "estimate", horizon=0)
    with pytest.raises(InvalidParameterError, match="tail"):
        lineage_exponents(g, "estimate", horizon=10, tail=10)
    with pytest.raises(InvalidParameterError, match="include_design"):
        lineage_exponents(g, include_design="yes")
    with pytest.raises(InvalidParameterError, match="times"):
        clade_abundance(g, [-1])
    with pytest.raises(InvalidParameterError, match="g="):
        lineage_exponents([1, 2])
    import aievo.lineage as L

    monkeypatch.setattr(L, "KARP_MAX", 1)
    with pytest.raises(InvalidParameterError, match="KARP_MAX"):
        lineage_exponents(ae.type_graph([1.0, 2.0], [[0.0, 1.0], [1.0, 0.0]]), include_design=False)


@pytest.mark.slow
def test_exact_scales_to_1e5_types_and_agrees_with_the_estimate():
    g = _strongly_connected(100_000, 7, extra=2)
    lam = lineage_exponents(g)
    est = lineage_exponents(g, "estimate", horizon=400)
    assert lam.error_bound.max() <= 1e-8
    assert np.abs(est.value - lam.value).max() <= 0.05
