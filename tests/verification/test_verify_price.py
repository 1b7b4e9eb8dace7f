"""Price terms against exact rational arithmetic, on near-degenerate and offset cases."""

import numpy as np
import pytest
import scipy.sparse as sp

import aievo as ae
from aievo.errors import InvalidParameterError
from aievo.price import price_along, price_decomposition
from aievo.testing.oracle import price_terms

TERMS = ("selection", "transmission", "total", "fisher", "mean_fitness")


def _check(g, x, z=None, rel=1e-12):
    p = price_decomposition(g, x, z)
    exact = price_terms(g.fitness, g.T, x, g.fitness if z is None else z)
    for name in TERMS:
        want = float(exact[name])
        got = getattr(p, name)
        # relative to the exact term; an exact zero must come out as (nearly) zero
        assert abs(got - want) <= rel * abs(want) + 1e-300, (name, got, want)
    return p


def test_fisher_term_of_a_nearly_degenerate_variance():
    # T = I, f = (1, 1 + 1e-6), x = (1 - 1e-9, 1e-9): Var(f)/F = 1.0e-21, never negative
    g = ae.DesignGraph.from_matrix([1.0, 1.0 + 1e-6], sp.eye_array(2, format="csr"))
    p = _check(g, [1.0 - 1e-9, 1e-9])
    assert p.fisher > 0.0
    assert p.fisher == pytest.approx(1.0e-21, rel=1e-6)  # 1e-9 * (1e-6)^2, to leading order


def test_trait_on_a_large_offset():
    # z = 1e8 + N(0, 1): the one-pass E[fz] - F zbar lost 7 digits
    rng = np.random.default_rng(3)
    n = 12
    f = rng.uniform(0.5, 2.0, n)
    T = rng.uniform(0.0, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.4) + np.eye(n)
    T /= T.sum(axis=1, keepdims=True)
    g = ae.type_graph(f, T)
    x = rng.dirichlet(np.ones(n))
    _check(g, x, 1e8 + rng.standard_normal(n))


@pytest.mark.parametrize("seed", range(4))
def test_random_graphs_and_traits_exactly(seed):
    rng = np.random.default_rng(seed)
    n = 8
    f = np.exp(rng.uniform(-3, 3, n))
    T = rng.uniform(0.0, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < 0.5) + np.eye(n)
    T /= T.sum(axis=1, keepdims=True)
    g = ae.type_graph(f, T)
    x = rng.dirichlet(np.full(n, 0.3))
    # rel 1e-12 of each term; a covariance whose terms cancel is judged against the terms' size
    z = rng.standard_normal(n) * 10.0**seed
    p = price_decomposition(g, x, z)
    exact = price_terms(f, T, x, z)
    scale = float(sum(abs(float(v)) for v in exact.values()))
    for name in TERMS:
        assert abs(getattr(p, name) - float(exact[name])) <= 1e-12 * max(abs(float(exact[name])), 1e-4 * scale)


def test_price_along_matches_the_exact_terms_step_by_step():
    g = ae.DesignGraph.from_matrix([1.0, 1.0 + 1e-7, 1.0 - 1e-7], sp.eye_array(3, format="csr"))
    s = price_along(g, 3, initial=np.array([0.5, 0.25, 0.25]))
    x = np.array([0.5, 0.25, 0.25])
    for t in range(3):
        ex = price_terms(g.fitness, g.T, x, g.fitness)
        assert s.fisher[t] == pytest.approx(float(ex["fisher"]), rel=1e-12)
        x = x * g.fitness / (x @ g.fitness)


def test_overflowing_terms_raise_naming_the_input():
    g = ae.chain([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="trait"):
        price_decomposition(g, [0.5, 0.5], [1.7e308, -1.7e308])  # z_w - z_v overflows
