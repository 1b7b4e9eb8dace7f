"""The design kernel: rows sum to one, hand-written rows, lazily built trees equal explicit ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo.errors import InvalidParameterError
from aievo.evolving import (
    GD,
    KNN,
    LSA,
    Branch,
    DesignRules,
    DesignSpace,
    InputRange,
    MesaLayer,
    Ridge,
    TrainedLSA,
    lazy_design_tree,
)

SMALL = DesignRules(eta_grid=(1.0, 2.0, 4.0), K_max=2, gamma_grid=(0.0, 0.03), detector=InputRange(0.5))


def test_hand_written_kernel_of_a_two_learner_space():
    rules = DesignRules(eta_grid=(1.0, 2.0), K_max=1, gamma_grid=(0.0,))
    space = DesignSpace.explore(rules, GD(1.0, 1))
    assert [v.name for v in space.learners] == ["GD(eta=1, K=1)", "GD(eta=2, K=1)"]
    # from GD(1): eta+ (0.15) leads to GD(2); step, eta-, gamma+-, branch (no detector) and copy stay
    np.testing.assert_allclose(space.T.toarray(), [[0.85, 0.15], [0.15, 0.85]], rtol=0, atol=1e-15)


def test_branch_moves_one_side_at_a_time():
    b = Branch(InputRange(0.5), GD(1.0, 1), GD(2.0, 2))
    row = SMALL.successors(b)
    side = SMALL.moves(GD(1.0, 1), nested=True)
    # inside eta+ : half of the side's eta+ probability
    p_up = sum(p for m, s, p in side if m == "eta+")
    assert row[Branch(InputRange(0.5), GD(2.0, 1), GD(2.0, 2))] == pytest.approx(0.5 * p_up, abs=1e-15)
    assert all(isinstance(s, Branch) for s in row)  # branches do not unbranch, nor nest
    assert sum(row.values()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    "root", [GD(1.0, 1), LSA(2.0, 1, 10), Ridge(0.1), MesaLayer(1.0), KNN(2), TrainedLSA(1.0, steps=250)]
)
def test_kernel_rows_sum_to_one(root):
    rules = DesignRules(eta_grid=(1.0, 2.0, 4.0), K_max=2, gamma_grid=(0.0, 0.03), lam_grid=(0.1, 1.0),
                        k_max=3, train_halfwidth_grid=(0.5, 1.0), train_steps_max=500, detector=InputRange(0.5))
    space = DesignSpace.explore(rules, root)
    sums = np.asarray(space.T.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-12)
    assert space.T.min() >= 0
    g = space.graph(np.ones(space.n))  # the engine's own validation accepts it
    assert g.n == space.n


@given(
    p=st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 0.25)), min_size=4, max_size=4),
    n_eta=st.integers(1, 4),
    K_max=st.integers(1, 3),
    n_gamma=st.integers(1, 3),
)
def test_kernel_rows_sum_to_one_for_any_rules(p, n_eta, K_max, n_gamma):
    rules = DesignRules(
        eta_grid=tuple(2.0 ** np.arange(n_eta)), K_max=K_max, gamma_grid=(0.0, 0.01, 0.03)[:n_gamma],
        p_step=p[0], p_retune=p[1], p_precondition=p[2], p_branch=p[3], detector=InputRange(0.5),
    )
    space = DesignSpace.explore(rules, GD(1.0, 1))
    np.testing.assert_allclose(np.asarray(space.T.sum(axis=1)).ravel(), 1.0, rtol=0, atol=1e-12)
    # the base learners reachable by the moves with positive probability, and with p_branch > 0
    # every ordered pair of them as a branch
    n_base = (K_max if p[0] > 0 else 1) * (n_eta if p[1] > 0 else 1) * (n_gamma if p[2] > 0 else 1)
    assert space.n == (n_base + n_base**2 if p[3] > 0 else n_base)


def test_bad_rules_are_refused():
    with pytest.raises(InvalidParameterError, match="p_step"):
        DesignRules(p_step=0.6, p_retune=0.6)
    with pytest.raises(InvalidParameterError, match="eta_grid"):
        DesignRules(eta_grid=(2.0, 1.0))
    with pytest.raises(InvalidParameterError, match=r"GD\(eta=3, K=1\)\.eta"):
        DesignSpace.explore(SMALL, GD(3.0, 1))
    with pytest.raises(InvalidParameterError, match="max_learners"):
        DesignSpace.explore(SMALL, GD(1.0, 1), max_learners=10)


@pytest.fixture(scope="module")
def small_space():
    space = DesignSpace.explore(
        DesignRules(eta_grid=(1.0, 2.0), K_max=2, gamma_grid=(0.0,), detector=InputRange(0.5)), GD(1.0, 1)
    )
    rng = np.random.default_rng(0)
    return space, rng.uniform(0.5, 1.0, space.n)


def test_lazily_built_tree_equals_the_explicit_unfolding(small_space):
    space, f = small_space
    D, eta = 5, 0.2
    explicit = ae.with_locking(ae.unfold(space.graph(f), D), eta)
    tr = ae.simulate(explicit, D)
    lz = ae.simulate_lazy(lazy_design_tree(space, f), D, locking=eta)
    np.testing.assert_allclose(lz.mean_fitness, tr.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(lz.log_growth, tr.log_growth, rtol=1e-12, atol=1e-14)
    # the final shares, gathered by learner (designing and locked together)
    by_type_explicit = np.bincount(explicit.attrs["type"], weights=tr.shares, minlength=space.n)
    by_type_lazy = np.bincount(lz.states[:, 0].astype(int), weights=lz.shares, minlength=space.n)
    np.testing.assert_allclose(by_type_lazy, by_type_explicit, rtol=1e-11, atol=1e-15)


def test_lumped_lazy_tree_equals_the_type_graph(small_space):
    space, f = small_space
    G, eta = 40, 0.2
    tr = ae.simulate(ae.with_locking(space.graph(f), eta), G)
    lz = ae.simulate_lazy(lazy_design_tree(space, f), G, locking=eta, lump=True)
    np.testing.assert_allclose(lz.mean_fitness, tr.mean_fitness, rtol=1e-11)


def test_trained_lsa_moves():
    rules = DesignRules(train_halfwidth_grid=(0.5, 1.0), train_steps_max=500, detector=None)
    row = rules.successors(TrainedLSA(1.0, steps=250))
    assert row[TrainedLSA(1.0, steps=500)] == pytest.approx(rules.p_step)
    assert row[TrainedLSA(0.5, steps=250)] == pytest.approx(rules.p_retune / 2)
    space = DesignSpace.explore(rules, TrainedLSA(1.0, steps=250))
    assert space.n == 4  # two ranges x two training lengths, nothing trained to find them
