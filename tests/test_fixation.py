"""Finite-population fate estimators against closed forms (aievo.fixation).

Every estimate is checked against its oracle through its own confidence
interval. The tests use confidence 0.999 so that a correct estimator fails a
given seed with probability 0.001; the seeds are fixed, so each test is
deterministic on a given numba random-number implementation.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import aievo as ae
from aievo._fate_kernels import moran_event
from aievo.errors import InvalidParameterError, ShapeError
from aievo.fixation import (
    FateWarning,
    concentration_cell,
    moran_fixation,
    proportion_ci,
    race_graph,
)

CONF = 0.999


def two_types(r):
    """Resident (fitness 1) and mutant (fitness r), no design change."""
    return ae.DesignGraph.from_matrix([1.0, r], np.eye(2))


# ------------------------------------------------------------------ intervals
def test_wilson_matches_formula_and_clopper_pearson_matches_scipy():
    from scipy.stats import binomtest

    lo, hi = proportion_ci(7, 40, 0.95, "wilson")
    z = 1.959963984540054
    p, n = 7 / 40, 40
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert abs(lo - (c - h)) < 1e-12 and abs(hi - (c + h)) < 1e-12
    ref = binomtest(7, 40).proportion_ci(0.95, method="exact")
    lo, hi = proportion_ci(7, 40, 0.95, "clopper_pearson")
    assert abs(lo - ref.low) < 1e-10 and abs(hi - ref.high) < 1e-10
    assert proportion_ci(0, 10, method="clopper_pearson")[0] == 0.0
    assert proportion_ci(10, 10, method="clopper_pearson")[1] == 1.0


def test_moran_closed_form():
    assert moran_fixation(1.0, 8, 3) == 3 / 8
    r, K = 1.3, 12
    assert abs(moran_fixation(r, K) - (1 - 1 / r) / (1 - r ** -K)) < 1e-15
    # r -> 1 is continuous
    assert abs(moran_fixation(1 + 1e-9, 10) - 0.1) < 1e-8


# ------------------------------------------------------------------ fixation
@pytest.mark.parametrize("process", ["moran", "wright_fisher"])
@pytest.mark.parametrize("K,i", [(10, 1), (20, 5)])
def test_neutral_fixation_is_i_over_K(process, K, i):
    est = ae.fixation_probability(
        two_types(1.0), K, {0: K - i, 1: i}, target=1, process=process, runs=4000, rng=11, confidence=CONF
    )
    assert est.contains(i / K), str(est)
    assert est.unresolved == 0


@pytest.mark.parametrize("r,K", [(1.5, 10), (2.0, 20), (0.8, 8)])
def test_moran_fixation_with_relative_fitness(r, K):
    est = ae.fixation_probability(two_types(r), K, {0: K - 1, 1: 1}, target=1, runs=6000, rng=3, confidence=CONF)
    assert est.contains(moran_fixation(r, K)), str(est)


def test_clopper_pearson_option_and_reproducibility():
    g = two_types(1.2)
    a = ae.fixation_probability(g, 10, {0: 9, 1: 1}, 1, runs=500, rng=5, interval="clopper_pearson")
    b = ae.fixation_probability(g, 10, {0: 9, 1: 1}, 1, runs=500, rng=np.random.default_rng(5))
    assert a.successes == b.successes
    assert a.interval == "clopper_pearson"
    assert a.ci == proportion_ci(a.successes, 500, 0.95, "clopper_pearson")
    assert a.times.shape == (500,) and (a.times >= 1).all()


def test_unresolved_runs_warn():
    # the mutant designs residents and back: never absorbed in 2 generations of a large population
    g = ae.DesignGraph.from_matrix([1.0, 1.0], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.warns(FateWarning, match="neither fixed nor lost"):
        est = ae.fixation_probability(g, 200, {0: 100, 1: 100}, 1, runs=20, rng=0, max_generations=2)
    assert est.unresolved == 20 and est.estimate == 0.0


def test_bad_inputs_name_the_argument():
    g = two_types(1.0)
    with pytest.raises(InvalidParameterError, match="process"):
        ae.fixation_probability(g, 10, 0, 1, process="moron")
    with pytest.raises(InvalidParameterError, match="initial"):
        ae.fixation_probability(g, 10, {0: 3}, 1)
    with pytest.raises(ShapeError, match="initial"):
        ae.fixation_probability(g, 10, [1, 2, 7], 1)
    with pytest.raises(InvalidParameterError, match="target"):
        ae.fixation_probability(g, 10, 0, [5])
    with pytest.raises(InvalidParameterError, match="population"):
        ae.fixation_probability(g, 0, 0, 1)
    with pytest.raises(InvalidParameterError, match="level"):
        ae.concentration_probability(g, 10, 5, 0.1, level=0)
    with pytest.raises(InvalidParameterError, match="eps"):
        ae.concentration_probability(g, 10, 5, -1.0)


# ------------------------------------------------------------------ concentration
def test_deterministic_limit_as_K_grows():
    """As K grows the probability tends to 1 where the infinite population concentrates."""
    g = race_graph(0.1)
    small = ae.concentration_probability(g, 10, 60, 0.0, runs=1000, rng=1, confidence=CONF)
    large = ae.concentration_probability(g, 2000, 60, 0.0, runs=200, rng=1, confidence=CONF)
    assert small.params["deterministic_share"] > 0.999
    assert small.ci[1] < 0.8  # drift often loses the locked copies of H in small populations
    assert large.estimate == 1.0
    # and to 0 where it does not: without locking the infinite population leaves H's clade
    nolock = ae.concentration_probability(race_graph(0), 2000, 60, 0.0, runs=100, rng=1)
    assert nolock.params["deterministic_share"] < 1e-6 and nolock.estimate == 0.0


def test_mean_share_approaches_deterministic_share():
    """The replicates' mean share near F* converges to the infinite population's share."""
    g = race_graph(0.3)
    est = ae.concentration_probability(g, 5000, 4, 0.0, runs=200, rng=2)
    det = est.params["deterministic_share"]
    assert 0.05 < det < 0.95  # mid-way: a meaningful comparison
    se = est.shares.std() / np.sqrt(est.runs)
    assert abs(est.shares.mean() - det) < 5 * se + 1e-3


def test_moran_and_wright_fisher_both_run_and_cell_for_sweeps(tmp_path):
    g = race_graph(0.3)
    m = ae.concentration_probability(g, 100, 30, 0.0, process="moran", runs=100, rng=0)
    assert 0.0 <= m.estimate <= 1.0 and m.shares.shape == (100,)
    from aievo.sweep import SerialExecutor, sweep

    res = sweep(concentration_cell, {"K": [10, 400], "eta": [0.3], "runs": [100]},
                out=tmp_path / "s", executor=SerialExecutor(), rng=4)
    est = res.collect("estimate")
    assert est.shape == (2, 1, 1) and est[0, 0, 0] < est[1, 0, 0]


# ------------------------------------------------------------------ one step of each process
def three_programs():
    T = np.array([[0.7, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 0.9]])
    return ae.DesignGraph.from_matrix([1.0, 1.6, 0.7], T)


def test_one_wright_fisher_generation_is_multinomial():
    """Mean and variance of a program's share after one generation: p and p (1 - p) / K."""
    g = three_programs()
    counts = np.array([10, 25, 15])
    K = 50
    x = counts / K
    p = (x * g.fitness) @ g.T.toarray() / (x @ g.fitness)
    runs = 20000
    for w in range(3):
        mask = np.zeros(3, dtype=bool)
        mask[w] = True
        from aievo._fate_kernels import share_runs
        from aievo.fixation import _kernel_args

        no_payoff = (np.zeros((0, 0)), np.zeros(3, dtype=np.int64))
        s = share_runs(*_kernel_args(g), *no_payoff, counts.astype(np.int64), np.int64(K), mask, False, np.int64(1),
                       np.random.default_rng(w).integers(0, 2**32, runs, dtype=np.int64))[:, 1]
        var = p[w] * (1 - p[w]) / K
        assert abs(s.mean() - p[w]) < 5 * np.sqrt(var / runs)
        assert abs(s.var() / var - 1) < 0.06  # sampling error of a variance over 20000 draws is ~1%


@njit(cache=True)
def many_events(indptr, indices, data, f, counts, K, runs, seed):
    """Count changes after one Moran event, from the same counts, ``runs`` times."""
    np.random.seed(seed)
    out = np.zeros((runs, counts.shape[0]), dtype=np.int64)
    for r in range(runs):
        c = counts.copy()
        moran_event(indptr, indices, data, f, c, K)
        out[r] = c - counts
    return out


def test_one_moran_event_has_the_documented_law():
    """P(child = w) = sum_v n_v f_v T(v, w) / W and P(death = w) = n_w / K."""
    from aievo.fixation import _kernel_args

    g = three_programs()
    counts = np.array([10, 25, 15], dtype=np.int64)
    K, runs = 50, 200000
    d = many_events(*_kernel_args(g), counts, K, runs, 4)
    h = counts * g.fitness
    birth = h @ g.T.toarray() / h.sum()
    death = counts / K
    mean = d.mean(axis=0)
    se = d.std(axis=0) / np.sqrt(runs)
    assert np.all(np.abs(mean - (birth - death)) < 5 * se)
    assert np.all(d.sum(axis=1) == 0)  # the population size never changes


# ------------------------------------------------------------------ frequency dependence
def moran_fixation_frequency_dependent(fit_mutant, fit_resident, K):
    """rho_1 = 1 / (1 + sum_k prod_{i<=k} g_i / f_i) for count-dependent fitness (birth-death Moran)."""
    ratios = np.array([fit_resident(i) / fit_mutant(i) for i in range(1, K)])
    return 1.0 / (1.0 + np.cumprod(ratios).sum())


@pytest.mark.parametrize("A", [[[0.0, 1.0], [2.0, 0.5]], [[1.0, 0.2], [0.5, 1.2]]])
def test_frequency_dependent_moran_fixation(A):
    A = np.array(A)
    K, base = 12, 1.0
    g = ae.DesignGraph.from_matrix([base, base], np.eye(2))

    def fit(row, i):  # i mutants (program 1) among K, self-interaction included
        return base + A[row, 0] * (K - i) / K + A[row, 1] * i / K

    rho = moran_fixation_frequency_dependent(lambda i: fit(1, i), lambda i: fit(0, i), K)
    est = ae.fixation_probability(g, K, {0: K - 1, 1: 1}, 1, runs=6000, rng=8, payoff=A, confidence=CONF)
    assert est.contains(rho), (str(est), rho)


def test_payoff_that_can_turn_fitness_negative_is_refused():
    from aievo.errors import InvalidFitnessError

    g = ae.DesignGraph.from_matrix([1.0, 1.0], np.eye(2))
    with pytest.raises(InvalidFitnessError, match="payoff: fitness"):
        ae.fixation_probability(g, 10, {0: 9, 1: 1}, 1, payoff=[[0.0, -2.0], [0.0, 0.0]])
    hd = ae.concentration_probability(g, 50, 200, 0.0, initial={0: 25, 1: 25}, level=0.5, runs=50, rng=0,
                                      payoff=[[-0.5, 0.5], [0.0, 0.25]])
    assert hd.params["payoff"] and 0.0 <= hd.estimate <= 1.0


def test_by_generation_t_is_at_least_at_generation_t():
    g = race_graph(0.05)
    at = ae.concentration_probability(g, 30, 60, 0.0, runs=500, rng=9)
    by = ae.concentration_probability(g, 30, 60, 0.0, runs=500, rng=9, when="by")
    assert np.all(by.shares >= at.shares) and by.successes >= at.successes
    assert by.params["when"] == "by"
    with pytest.raises(InvalidParameterError, match="when"):
        ae.concentration_probability(g, 30, 60, 0.0, when="ever")
