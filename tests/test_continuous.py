"""The replicator-mutator ODE (aievo.continuous) and the discrete model's small-step limit.

Oracles: the Hawk-Dove equilibrium V/C; the conserved product x_0 x_1 x_2 of
zero-sum rock-paper-scissors in continuous time; the closed form of a single
self-copying program pair (logistic shares); first-order convergence of
simulate(discretize(g, dt)) as dt halves.
"""

from __future__ import annotations

import numpy as np
import pytest

import aievo as ae
from aievo.continuous import discretize
from aievo.errors import InvalidFitnessError, InvalidParameterError
from aievo.state import hawk_dove, rock_paper_scissors


def test_two_types_have_logistic_shares():
    # no design change: x_1(t) = x_1 e^{f_1 t} / (x_0 e^{f_0 t} + x_1 e^{f_1 t})
    g = ae.DesignGraph.from_matrix([1.0, 1.7], np.eye(2))
    sol = ae.replicator_mutator_ode(g, 10.0, [0.99, 0.01])
    t = sol.t
    x1 = 0.01 * np.exp(1.7 * t) / (0.99 * np.exp(t) + 0.01 * np.exp(1.7 * t))
    np.testing.assert_allclose(sol.shares[:, 1], x1, atol=1e-8)
    logN = np.log(0.99 * np.exp(t) + 0.01 * np.exp(1.7 * t))
    np.testing.assert_allclose(sol.log_growth, logN, atol=1e-7)


def test_hawk_dove_and_rps_in_continuous_time():
    g, A = hawk_dove(1.0, 4.0)
    assert abs(ae.replicator_mutator_ode(g, 80.0, [0.1, 0.9], payoff=A).shares[-1, 0] - 0.25) < 1e-8
    g, A = rock_paper_scissors(2.0)
    sol = ae.replicator_mutator_ode(g, 40.0, [0.6, 0.3, 0.1], payoff=A)
    prod = sol.shares.prod(axis=1)
    assert np.ptp(prod) < 1e-8 * prod[0]  # conserved up to the solver tolerance
    assert np.ptp(sol.shares[100:, 0]) > 0.3  # and the orbit keeps cycling


@pytest.mark.parametrize("with_payoff", [False, True])
def test_discrete_model_converges_to_the_ode(with_payoff):
    if with_payoff:
        g, A = rock_paper_scissors(2.0)
        g = g.with_fitness([1.5, 2.0, 2.5])
        x0 = np.array([0.6, 0.3, 0.1])
    else:
        g, A = ae.lattice(9, np.linspace(1.0, 2.0, 9), 0.3), None
        x0 = np.full(9, 1 / 9)
    t_end = 3.0
    sol = ae.replicator_mutator_ode(g, t_end, x0, payoff=A, t_eval=np.linspace(0, t_end, 31))
    errs, lerrs = [], []
    for dt in (0.05, 0.025, 0.0125):
        gd, Ad = discretize(g, dt, A)
        steps = round(t_end / dt)
        tr = ae.simulate(gd, steps, initial=x0, payoff=Ad, record_shares=list(range(0, steps + 1, round(0.1 / dt))))
        errs.append(np.abs(tr.snapshots - sol.shares).max())
        # log N_t = sum log(1 + dt F) -> int F
        lerrs.append(abs(tr.log_growth[-1] - sol.log_growth[-1]))
    for e in (np.array(errs), np.array(lerrs)):
        ratios = e[:-1] / e[1:]
        assert np.all((ratios > 1.8) & (ratios < 2.2)), ratios  # first order in dt
    assert errs[-1] < 0.05


def test_discretize_is_a_valid_graph_and_errors():
    g = ae.with_locking(ae.binary_pm_tree(3), 0.3)
    gd, _ = discretize(g, 0.2)
    np.testing.assert_allclose(gd.fitness, 1 + 0.2 * g.fitness)
    assert gd.attrs.keys() == g.attrs.keys()
    with pytest.raises(InvalidParameterError, match="dt"):
        discretize(g, 0.0)
    with pytest.raises(InvalidParameterError, match="payoff"):
        discretize(g, 0.1, np.zeros((g.n, g.n)))
    with pytest.raises(InvalidParameterError, match="t_end"):
        ae.replicator_mutator_ode(g, -1.0)
    g2 = ae.DesignGraph.from_matrix([0.5, 0.5, 0.5], np.eye(3))
    _, A = rock_paper_scissors(3.0)
    with pytest.raises(InvalidFitnessError, match="offspring rate"):
        ae.replicator_mutator_ode(g2, 50.0, [0.8, 0.1, 0.1], payoff=A)
