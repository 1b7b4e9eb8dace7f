"""Invariants of the laws beyond the theorem (issue 14), on drawn cases from aievo.testing.strategies.

- payoffs: shares stay on the simplex and follow the numpy recursion with f_t = f + A x_t;
- zero-sum cyclic games: sum_i log x_i never increases in discrete time (Jensen) and is
  conserved by the ODE;
- the learning evaluator: p_t stays in [0, 1] and follows its documented update;
- finite populations: shares are multiples of 1/K; a target holding everyone is fixed at once;
- ancestry: the split by ancestor adds up to the trajectory.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import aievo as ae
from aievo.fixation import race_graph
from aievo.state import DETECTION
from aievo.testing import strategies as aest


@given(case=aest.payoff_games())
def test_payoff_dynamics_follow_the_numpy_recursion(case):
    g, A, x = case
    G = 25
    tr = ae.simulate(g, G, initial=x, payoff=A, record_shares=list(range(G + 1)))
    for t in range(G + 1):
        xt = tr.snapshots[t]
        assert abs(xt.sum() - 1) < 1e-12 and (xt >= 0).all()
        assert np.allclose(xt, x, rtol=1e-9, atol=1e-13)
        f = g.fitness + A @ x
        assert abs(tr.mean_fitness[t] - x @ f) <= 1e-9 * (x @ f)
        x = x * f / (x @ f)


@given(case=aest.cyclic_games())
def test_cyclic_games_log_product_never_increases(case):
    g, A, x = case
    G = 60
    tr = ae.simulate(g, G, initial=x, payoff=A, record_shares=list(range(G + 1)))
    H = np.log(tr.snapshots).sum(axis=1)
    assert np.all(np.diff(H) <= 1e-12)


@settings(max_examples=15)
@given(case=aest.cyclic_games(max_n=4))
def test_cyclic_games_log_product_is_conserved_in_continuous_time(case):
    g, A, x = case
    sol = ae.replicator_mutator_ode(g, 5.0, x, payoff=A, t_eval=np.linspace(0, 5, 11))
    H = np.log(sol.shares).sum(axis=1)
    assert np.ptp(H) < 1e-7


@given(ev=aest.learning_evaluators(), data=st.data())
def test_detection_stays_a_probability_and_follows_its_law(ev, data):
    C = data.draw(st.integers(1, 3))
    D = data.draw(st.integers(1, 3))
    g = ae.deception_grid(C, D, 0.3, phi=lambda z: 1 + ev.penalty * D + z)
    tr = ae.simulate(g, 30, traits=["d"], evaluator=ev)
    p, dbar = tr.trait_means[DETECTION], tr.trait_means["d"]
    assert np.all((p >= 0) & (p <= 1))
    expected = (1 - ev.rate) * p[:-1] + ev.rate * (1 - np.exp(-ev.sensitivity * dbar[:-1]))
    np.testing.assert_allclose(p[1:], expected, rtol=1e-12, atol=1e-15)


@settings(max_examples=25)
@given(data=st.data(), process=st.sampled_from(["moran", "wright_fisher"]))
def test_finite_population_shares_are_multiples_of_one_over_K(data, process):
    g = race_graph(data.draw(st.floats(0.05, 0.9)))
    K, counts = data.draw(aest.population_counts(g.n))
    est = ae.concentration_probability(g, K, 5, 0.0, initial=counts, process=process, runs=20,
                                       rng=data.draw(st.integers(0, 2**31)))
    s = est.shares
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s * K, np.round(s * K), atol=1e-9)
    everyone = ae.fixation_probability(g, K, counts, np.ones(g.n, dtype=bool), process=process, runs=5, rng=0)
    assert everyone.estimate == 1.0 and (everyone.times == 0).all()


@settings(max_examples=25)
@given(g=aest.preserved_trees(), data=st.data())
def test_ancestry_adds_up_to_the_trajectory(g, data):
    g, _ = g
    G = data.draw(st.integers(1, 12))
    s = data.draw(st.integers(0, G))
    anc = ae.ancestry(g, G, since=s)
    np.testing.assert_allclose(anc.shares.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(anc.final.sum(axis=0), ae.simulate(g, G).shares, rtol=1e-9, atol=1e-14)
