"""State-dependent fitness (aievo.state): payoffs and the learning evaluator.

Oracles: the analytic Hawk-Dove equilibrium V/C; the zero-sum
rock-paper-scissors inequality sum_i log(1 + (Ax)_i / b) <= 0; today's engine
for payoffs that do not depend on the state; a plain-numpy loop written from
the documented update rules.
"""

from __future__ import annotations

import numpy as np
import pytest

import aievo as ae
from aievo.errors import InvalidFitnessError, InvalidParameterError, ShapeError
from aievo.state import DETECTION, hawk_dove, rock_paper_scissors


def reference(g, x0, G, law):
    """Plain numpy: x_{t+1} = (x_t f_t) T / F_t with f_t = law(t, x_t, state)."""
    T = g.T.toarray()
    x = np.asarray(x0, float)
    F = []
    xs = [x]
    for t in range(G + 1):
        f = law(t, x)
        F.append(x @ f)
        if t == G:
            break
        x = (x * f) @ T / (x @ f)
        xs.append(x)
    return np.array(F), np.array(xs)


@pytest.mark.parametrize("V,C", [(2.0, 5.0), (1.0, 4.0), (3.0, 3.5)])
def test_hawk_dove_converges_to_V_over_C(V, C):
    g, A = hawk_dove(V, C)
    for x0 in ([0.95, 0.05], [0.05, 0.95]):
        tr = ae.simulate(g, 3000, initial=x0, payoff=A)
        assert abs(tr.shares[0] - V / C) < 1e-9
        # at the mixed equilibrium hawks and doves earn the same
        f = g.fitness + A @ tr.shares
        assert abs(f[0] - f[1]) < 1e-8


def test_rock_paper_scissors_cycles_and_never_settles():
    g, A = rock_paper_scissors(baseline=40.0)
    G = 4000
    tr = ae.simulate(g, G, initial=[0.5, 0.3, 0.2], payoff=A, record_shares=list(range(G + 1)))
    X = tr.snapshots
    prod = X.prod(axis=1)
    # exact inequality: the product never increases (equality only at the centre)
    assert np.all(np.diff(prod) <= 1e-15 * prod[:-1])
    # ... and to first order in 1/baseline it is conserved: the orbit cycles round the centre
    assert prod[-1] / prod[0] > 0.5
    late = X[G // 2:, 0]
    assert late.max() - late.min() > 0.3  # still cycling: no convergence
    # every strategy takes the lead in turn
    assert set(np.argmax(X[G // 2:], axis=1)) == {0, 1, 2}


def test_zero_payoff_is_todays_engine():
    g = ae.with_locking(ae.binary_pm_tree(5), 0.2)
    a = ae.simulate(g, 30, traits={"f": g.fitness})
    b = ae.simulate(g, 30, traits={"f": g.fitness}, payoff=np.zeros((g.n, g.n)))
    # different kernels sum in different orders: agreement to rounding
    np.testing.assert_allclose(b.mean_fitness, a.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(b.log_growth, a.log_growth, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.shares, a.shares, rtol=1e-10, atol=1e-15)


def test_payoff_constant_in_the_state_shifts_fitness():
    """Rows constant: A x = a for every share vector, so f_t = f + a (today's engine on f + a)."""
    g = ae.lattice(7, np.linspace(1, 2, 7), 0.2)
    a = np.linspace(0.0, 0.6, 7)
    A = np.repeat(a[:, None], 7, axis=1)
    x0 = np.full(7, 1 / 7)
    ref = ae.simulate(g.with_fitness(g.fitness + a), 50, initial=x0)
    tr = ae.simulate(g, 50, initial=x0, payoff=A)
    np.testing.assert_allclose(tr.mean_fitness, ref.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(tr.shares, ref.shares, rtol=1e-10, atol=1e-15)


def test_grouped_payoff_matches_numpy_reference():
    rng = np.random.default_rng(0)
    g = ae.random_tree(12, 3, self_prob=0.3)
    g = g.with_fitness(g.fitness + 0.5)
    groups = rng.integers(0, 3, g.n)
    A = rng.uniform(-0.2, 0.5, (3, 3))
    x0 = np.full(g.n, 1 / g.n)

    def law(t, x):
        gs = np.bincount(groups, weights=x, minlength=3)
        return g.fitness + (A @ gs)[groups]

    F, xs = reference(g, x0, 25, law)
    tr = ae.simulate(g, 25, initial=x0, payoff=ae.Payoff(A, groups=groups))
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
    np.testing.assert_allclose(tr.shares, xs[-1], rtol=1e-10, atol=1e-14)
    # the callable escape hatch gives the same run
    tc = ae.simulate(g, 25, initial=x0, evaluator=law)
    np.testing.assert_allclose(tc.mean_fitness, F, rtol=1e-12)
    assert tc.params["fitness_law"] == "callable"


def test_negative_fitness_names_the_generation():
    g = ae.DesignGraph.from_matrix([0.5, 0.5, 0.5], np.eye(3))
    _, A = rock_paper_scissors(3.0)

    def law(t, x):
        return g.fitness + A @ x

    # the first generation at which some fitness goes negative, from the numpy loop
    x = np.array([0.5, 0.3, 0.2])
    for t in range(1000):
        f = law(t, x)
        if (f < 0).any():
            break
        x = x * f / (x @ f)
    assert t > 0
    with pytest.raises(InvalidFitnessError, match=f"at generation {t} is invalid"):
        ae.simulate(g, 1000, initial=[0.5, 0.3, 0.2], payoff=A)
    with pytest.raises(InvalidFitnessError, match=f"at generation {t} is invalid"):
        ae.simulate(g, 1000, initial=[0.5, 0.3, 0.2], evaluator=law)


def test_payoff_validation():
    g, A = hawk_dove(1.0, 2.0)
    with pytest.raises(ShapeError, match="payoff"):
        ae.simulate(g, 3, payoff=np.zeros((3, 3)))
    with pytest.raises(InvalidParameterError, match=r"payoff\[0, 1\]"):
        ae.simulate(g, 3, payoff=[[0.0, np.nan], [0.0, 0.0]])
    with pytest.raises(InvalidParameterError, match="groups"):
        ae.simulate(g, 3, payoff=ae.Payoff(np.zeros((2, 2)), groups=[0, 2]))
    with pytest.raises(InvalidParameterError, match="population"):
        ae.simulate(g, 3, payoff=A, population=10)
    with pytest.raises(ShapeError, match="evaluator"):
        ae.simulate(g, 3, evaluator=lambda t, x: np.ones(3))
    with pytest.raises(InvalidParameterError, match="evaluator"):
        ae.simulate(g, 3, evaluator="learning")


# ------------------------------------------------------------------ the learning evaluator
def test_evaluator_matches_numpy_reference():
    g = ae.deception_grid(3, 3, 0.25)
    ev = ae.LearningEvaluator(rate=0.3, sensitivity=0.7, penalty=0.0, p0=0.1)
    d = g.attrs["d"]
    state = {"p": ev.p0}
    ps = []

    def law(t, x):
        if t > 0:  # p_t from p_{t-1} and dbar_{t-1}
            state["p"] = (1 - ev.rate) * state["p"] + ev.rate * (1 - np.exp(-ev.sensitivity * state["dbar"]))
        state["dbar"] = x @ d
        ps.append(state["p"])
        return g.fitness - (1 + ev.penalty) * state["p"] * d

    x0 = np.zeros(g.n)
    x0[g.root] = 1
    F, _ = reference(g, x0, 60, law)
    tr = ae.simulate(g, 60, evaluator=ev)
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
    np.testing.assert_allclose(tr.trait_means[DETECTION], ps, rtol=1e-12, atol=1e-15)


def test_evaluator_limits_are_todays_engine():
    g = ae.deception_grid(4, 4, 0.2)
    base = ae.simulate(g, 80, traits=["c", "d"])
    idle = ae.simulate(g, 80, traits=["c", "d"], evaluator=ae.LearningEvaluator(rate=0.0, sensitivity=1.0))
    np.testing.assert_allclose(idle.mean_fitness, base.mean_fitness, rtol=1e-12)
    # an evaluator that always detects everything: deception earns nothing = objective fitness
    obj = ae.simulate(ae.deception_grid(4, 4, 0.2, fitness="objective"), 80, traits=["c", "d"])
    seer = ae.simulate(g, 80, traits=["c", "d"], evaluator=ae.LearningEvaluator(rate=0.0, sensitivity=0.0, p0=1.0))
    np.testing.assert_allclose(seer.mean_fitness, obj.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(seer.trait_means["d"], obj.trait_means["d"], rtol=1e-10)


@pytest.mark.parametrize("s,k", [(0.5, 0.25), (0.2, 1.0), (1.0, 3.0)])
def test_evaluator_holds_deception_at_break_even(s, k):
    """With a penalty, mean deception settles where (1 + k) p = 1: dbar = log((1 + k) / k) / s."""
    D = 5
    g = ae.deception_grid(5, D, 0.2, phi=lambda z: 1 + k * D + z)
    ev = ae.LearningEvaluator(rate=0.1, sensitivity=s, penalty=k)
    tr = ae.simulate(g, 800, traits=["d"], evaluator=ev)
    assert ev.break_even() < D
    assert abs(tr.trait_means["d"][-1] - ev.break_even()) < 1e-3
    assert abs(tr.trait_means[DETECTION][-1] - 1 / (1 + k)) < 1e-3


def test_evaluator_without_penalty_still_selects_deception():
    g = ae.deception_grid(5, 5, 0.2)
    tr = ae.simulate(g, 600, traits=["d"], evaluator=ae.LearningEvaluator(rate=0.1, sensitivity=0.2))
    assert tr.trait_means["d"][-1] > 5 - 1e-6


def test_evaluator_validation():
    with pytest.raises(InvalidParameterError, match="rate"):
        ae.LearningEvaluator(rate=1.5, sensitivity=1.0)
    with pytest.raises(InvalidParameterError, match="p0"):
        ae.LearningEvaluator(rate=0.1, sensitivity=1.0, p0=-0.1)
    g = ae.chain([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="deception"):
        ae.simulate(g, 3, evaluator=ae.LearningEvaluator(rate=0.1, sensitivity=1.0))
    with pytest.raises(InvalidFitnessError, match="generation"):
        # a penalty larger than the baseline can afford
        ae.simulate(ae.deception_grid(5, 5, 0.2), 100,
                    evaluator=ae.LearningEvaluator(rate=0.5, sensitivity=1.0, penalty=3.0))
