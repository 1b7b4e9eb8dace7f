"""The finite-population counterpart: reproducible, and unbiased for one generation."""

import numpy as np
import pytest

import aievo as ae
from aievo.errors import InvalidParameterError


def test_reproducible_from_seed():
    g = ae.with_locking(ae.random_tree(40, rng=1), 0.2)
    a = ae.simulate(g, 30, population=500, rng=7)
    b = ae.simulate(g, 30, population=500, rng=7)
    c = ae.simulate(g, 30, population=500, rng=8)
    np.testing.assert_array_equal(a.mean_fitness, b.mean_fitness)
    assert not np.array_equal(a.mean_fitness, c.mean_fitness)
    assert np.all(a.shares * 500 == np.round(a.shares * 500))


def test_mean_of_many_runs_approaches_deterministic():
    """E[x_{t+1} | x_t] is the deterministic update, so averages converge to the deterministic run."""
    g = ae.DesignGraph.tree([-1, 0, 0, 1, 1], [1.0, 2.0, 1.5, 1.0, 3.0], [0, 0.4, 0.6, 0.5, 0.5], self_prob=[0, 0, 0, 1, 1])
    det = ae.simulate(g, 3, record_shares=[1, 2, 3])
    K, runs = 200, 400
    rng = np.random.default_rng(0)
    x1 = np.array([ae.simulate(g, 1, population=K, rng=rng).shares for _ in range(runs)])
    # one generation from a point mass: exactly multinomial, so mean within 4 standard errors
    p = det.shares_at(1)
    se = np.sqrt(p * (1 - p) / (K * runs))
    assert np.all(np.abs(x1.mean(axis=0) - p) <= 4 * se + 1e-12)
    # over several generations the mean stays close (drift is unbiased for linear updates only
    # up to the 1/F normalisation; the bias is O(1/K))
    x3 = np.array([ae.simulate(g, 3, population=2000, rng=rng).shares for _ in range(200)])
    np.testing.assert_allclose(x3.mean(axis=0), det.shares, atol=0.01)


def test_drift_loses_rare_lineages():
    g = ae.DesignGraph.from_matrix([1.0, 1.0], np.eye(2))
    tr = ae.simulate(g, 2000, initial=[0.5, 0.5], population=20, rng=3)
    assert sorted(tr.shares.tolist()) == [0.0, 1.0]  # neutral drift fixes one type


def test_rng_without_population_is_an_error():
    with pytest.raises(InvalidParameterError, match="rng=1"):
        ae.simulate(ae.chain([1.0]), 2, rng=1)
