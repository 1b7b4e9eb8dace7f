"""Witnesses behave as the model and the results pages (docs/explanation) say; checkers report the right quantities; traits."""

import numpy as np
import pytest

import aievo as ae
from aievo.errors import InvalidParameterError, ShapeError
from aievo.theory import (
    bounded_utility_grid,
    check_deception,
    check_dominance,
    check_fitness_path,
    check_locking,
    check_preservation,
    check_utility,
    decaying_chain,
    dominance_pair,
    falling_fitness_tree,
    oscillating_fitness_graph,
    poor_designer_tree,
    swinging_pair,
    unbounded_utility_chain,
    vanishing_fitness_chain,
)
from aievo.traits import deception_grid, human_judged_fitness, linear_utility, objective_fitness


# ---------------------------------------------------------------- docs/explanation/results.md
@pytest.mark.parametrize("eta", [0.1, 0.3, 0.6])
def test_worked_numbers_chain_locking_vs_preservation(eta):
    g = decaying_chain(40)
    np.testing.assert_allclose(g.fitness, 1 + 2.0 ** -np.arange(41), rtol=0)
    lock = check_locking(ae.with_locking(g, eta), eta, 200, eps=0.05)
    assert lock.mean_fitness[-1] == pytest.approx(2.0, abs=1e-12)
    assert lock.share_near_max[-1] == pytest.approx(1.0, abs=1e-12)
    pres = check_preservation(ae.with_preservation(g, eta), eta, 200)
    expected = 1.2 if eta == 0.6 else 1.0  # max(1, eta F*), the largest exponent
    assert pres.mean_fitness[-1] == pytest.approx(expected, abs=1e-9)
    assert pres.bounds_hold and pres.preserving


def test_worked_numbers_deception_grid():
    human = check_deception(deception_grid(5, 5, 0.2, fitness="human_judged"), 400)
    assert human.mean_c[-1] == pytest.approx(5.0, abs=1e-9)
    assert human.mean_d[-1] == pytest.approx(5.0, abs=1e-9)
    assert human.mean_fitness[-1] == pytest.approx(11.0, abs=1e-9)
    assert human.corner_share[-1] == pytest.approx(1.0, abs=1e-9)
    objective = check_deception(deception_grid(5, 5, 0.2, fitness="objective"), 400)
    assert objective.mean_c[-1] == pytest.approx(5.0, abs=1e-9)
    assert objective.mean_fitness[-1] == pytest.approx(6.0, abs=1e-9)
    assert 0.0 < objective.mean_d[-1] < 5.0
    assert objective.corner_share[-1] < 0.5  # deception is not selected for


# ---------------------------------------------------------------- R1
def test_r1_falling_fitness():
    rep = check_fitness_path(falling_fitness_tree(), 20)
    # closed form: for t >= 1 the abundances of the children (f = 1, 0.5) are 1 and 0.5^(t-1)
    t = np.arange(1, 21)
    F = (1.0 + 0.5**t) / (1.0 + 0.5 ** (t - 1))
    np.testing.assert_allclose(rep.mean_fitness[1:], F, rtol=1e-12)
    assert rep.decreases == 1 and rep.largest_drop == pytest.approx(1.25)
    # the fall is all transmission (design), the recovery all selection
    assert rep.selection[0] == 0.0 and rep.transmission[0] == pytest.approx(-1.25)
    assert np.all(rep.selection[1:] > 0) and np.all(np.abs(rep.transmission[1:]) < 1e-15)
    assert rep.final < rep.F_star


def test_r1_oscillating_fitness():
    rep = check_fitness_path(oscillating_fitness_graph(), 101)
    np.testing.assert_array_equal(rep.mean_fitness, np.where(np.arange(102) % 2 == 0, 4.0, 1.0))
    assert (rep.tail_min, rep.tail_max) == (1.0, 4.0)
    assert rep.decreases == 51


def test_r1_fitness_tending_to_zero():
    rep = check_fitness_path(vanishing_fitness_chain(300), 300)
    np.testing.assert_allclose(rep.mean_fitness, 1.0 / (np.arange(301) + 1.0), rtol=1e-12)
    assert rep.F_star == 1.0


# ---------------------------------------------------------------- R2, R3
def test_r2_exponents_and_failed_concentration():
    eta = 0.3
    rep = check_preservation(ae.with_preservation(decaying_chain(40), eta), eta, 300, eps=0.1)
    # exact exponents on this chain: max over the reachable self-loops, eta f_k or f_last
    f = 1 + 2.0 ** -np.arange(41)
    rates = np.append(eta * f[:-1], f[-1])
    expected = np.log([rates[k:].max() for k in range(41)])
    np.testing.assert_allclose(rep.exponent, expected, atol=1e-12)
    assert rep.bounds_hold
    assert rep.share_near_max[-1] < 1e-20  # no concentration on F* = 2


def test_r3_poor_designer_tree():
    g = poor_designer_tree()
    assert ae.simulate(g, 200).mean_fitness[-1] == pytest.approx(1.5, abs=1e-12)
    for eta in (0.1, 0.3, 0.6):
        rep = check_locking(ae.with_locking(g, eta), eta, 300)
        assert rep.locking and rep.bound_holds
        assert rep.mean_fitness[-1] == pytest.approx(2.0, abs=1e-9)
        assert rep.share_near_max[-1] == pytest.approx(1.0, abs=1e-9)
        # U_t by hand: U_1 = 1 - eta (root f = 1); afterwards H, L and descendants, each losing eta
        assert np.exp(rep.log_unlocked_mass[1]) == pytest.approx(1 - eta, rel=1e-12)


def test_r3_unlocked_mass_bound_is_tight_for_a_constant_chain():
    # a single self-reproducing program of fitness 2: U_t = ((1 - eta) 2)^t exactly
    g = ae.with_locking(ae.chain([2.0]), 0.25)
    rep = check_locking(g, 0.25, 30)
    np.testing.assert_allclose(rep.log_unlocked_mass, rep.log_bound, rtol=1e-12)
    np.testing.assert_allclose(rep.log_bound, np.arange(31) * np.log(1.5), rtol=1e-12)


def test_check_locking_flags_a_graph_that_is_not_locked():
    g = ae.with_locking(ae.chain([1.0, 2.0]), 0.3)
    rep = check_locking(g, 0.5, 5)  # claims more locking than the graph has
    assert not rep.locking
    with pytest.raises(InvalidParameterError, match="locked"):
        check_locking(ae.chain([1.0, 2.0]), 0.3, 5)


# ---------------------------------------------------------------- R4, R5
def test_r4_bounded_utility_reaches_g_of_fstar():
    rep = check_utility(bounded_utility_grid(5, 5, 0.2, kappa=1.0), 400, g_of_f=lambda f: f - 2.0)
    assert rep.dominated and rep.target == 4.0 and rep.F_star == 6.0
    assert rep.liminf_utility >= rep.target
    assert rep.lower_bound == pytest.approx(-5.0 / 6.0)


def test_r5_fitness_converges_while_utility_diverges():
    eta, G = 0.2, 100
    g = unbounded_utility_chain(eta, G)
    rep = check_utility(g, G)
    assert 2.0 - rep.mean_fitness[-1] < 0.01
    assert np.all(np.diff(rep.mean_utility) < 0)
    # the newest program alone: share (1 - eta)^t prod f_k / N_t, utility -(2 / (1 - eta))^t
    t = np.arange(G + 1)
    tr = ae.simulate(g, G)
    f = 2.0 - 2.0 ** -np.arange(G + 1)
    log_newest = t * np.log(1 - eta) + np.concatenate([[0.0], np.cumsum(np.log(f[:-1]))]) - tr.log_growth
    newest_term = -np.exp(log_newest + t * np.log(2.0 / (1 - eta)))
    assert np.all(rep.mean_utility <= newest_term + 1e-9)
    assert rep.mean_utility[-1] < -1e28


# ---------------------------------------------------------------- dominance
def test_dominance_pair_closed_form():
    pair = dominance_pair()
    rep = check_dominance(pair, generations=50)
    t = np.arange(1, 51)
    # N_t^u = 1.5^(t-1), N_t^v = 3 * 0.5^(t-1)
    np.testing.assert_allclose(rep.log_ratio[1:], np.log(3.0) + (t - 1) * np.log(0.5 / 1.5), rtol=1e-12, atol=1e-12)
    assert rep.predicted and rep.disjoint
    assert pair.graph.fitness[pair.v] > pair.graph.fitness[pair.u]
    assert rep.lower_u == pytest.approx(np.log(1.5)) and rep.upper_v == pytest.approx(np.log(0.5))


def test_swinging_pair_swings():
    pair = swinging_pair(9)
    rep = check_dominance(pair, generations=500, method="estimate")
    r = rep.log_ratio[1:]
    sign_changes = np.count_nonzero(np.diff(np.sign(r[np.abs(r) > 1e-9])))
    assert sign_changes >= 6
    assert not rep.predicted
    # v's line: lim sup above u's exponent (0), lim inf below it
    from aievo.lineage import lineage_exponents

    est = lineage_exponents(pair.graph, "estimate", horizon=500)
    assert abs(est.value[pair.u]) < 1e-12
    assert est.upper[pair.v] > 0.05 and est.lower[pair.v] < -0.05


def test_check_dominance_refuses_bad_nodes():
    with pytest.raises(InvalidParameterError, match="u="):
        check_dominance(dominance_pair().graph, 99, 1, 10)


# ---------------------------------------------------------------- traits
def test_trait_fitness_builders():
    np.testing.assert_array_equal(human_judged_fitness([0, 2], [1, 3]), [2.0, 6.0])
    np.testing.assert_array_equal(objective_fitness([0, 2]), [1.0, 3.0])
    np.testing.assert_array_equal(human_judged_fitness([1.0], [1.0], phi=np.exp), [np.exp(2.0)])
    np.testing.assert_array_equal(linear_utility([1.0, 2.0], [1.0, 0.5], kappa=2.0), [-1.0, 1.0])
    with pytest.raises(InvalidParameterError, match="phi"):
        objective_fitness([0.0, 1.0], phi=lambda s: -s + 5)
    with pytest.raises(InvalidParameterError, match="c="):
        objective_fitness([-1.0])
    with pytest.raises(ShapeError):
        human_judged_fitness([1.0, 2.0], [1.0])
    with pytest.raises(InvalidParameterError, match="kappa"):
        linear_utility([1.0], [1.0], kappa=-1)


def test_deception_grid_kernel():
    eta = 0.2
    g = deception_grid(2, 1, eta)
    a = g.attrs
    T = g.T.toarray()
    grid = np.flatnonzero(~a["locked"])
    for v in grid:
        c, d = a["c"][v], a["d"][v]
        up_c = grid[(a["c"][grid] == min(c + 1, 2)) & (a["d"][grid] == d)][0]
        up_d = grid[(a["c"][grid] == c) & (a["d"][grid] == min(d + 1, 1))][0]
        row = np.zeros(g.n)
        row[up_c] += (1 - eta) / 2
        row[up_d] += (1 - eta) / 2
        copy = np.flatnonzero(a["locked"] & (a["original"] == v))[0]
        row[copy] += eta
        np.testing.assert_allclose(T[v], row, atol=1e-15)
        assert g.fitness[v] == 1 + c + d
    objective = deception_grid(2, 1, eta, fitness="objective")
    np.testing.assert_array_equal(objective.fitness, 1 + objective.attrs["c"])
    with pytest.raises(InvalidParameterError, match="fitness"):
        deception_grid(2, 1, eta, fitness="judged")
    with pytest.raises(InvalidParameterError, match="C="):
        deception_grid(-1, 1, eta)


def test_checkers_refuse_bad_arguments():
    with pytest.raises(InvalidParameterError, match="g="):
        check_fitness_path("tree", 5)
    with pytest.raises(InvalidParameterError, match="generations"):
        check_fitness_path(falling_fitness_tree(), 0)
    with pytest.raises(InvalidParameterError, match="extinct"):
        check_fitness_path(ae.chain([1.0, 0.0, 1.0]), 5)
    with pytest.raises(InvalidParameterError, match="eps"):
        check_locking(ae.with_locking(ae.chain([1.0]), 0.3), 0.3, 5, eps=0.0)
    with pytest.raises(InvalidParameterError, match="eta"):
        check_preservation(ae.chain([1.0]), 1.5)
    with pytest.raises(InvalidParameterError, match="attrs"):
        check_deception(ae.chain([1.0]), 5)
    with pytest.raises(InvalidParameterError, match="eta"):
        unbounded_utility_chain(1.0)
