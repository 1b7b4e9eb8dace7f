"""Theory checkers: every hypothesis they name is checked, decisions use error bounds, no floating-point range limit."""

import numpy as np
import pytest

import aievo as ae
from aievo.theory import (
    check_dominance,
    check_locking,
    check_preservation,
    check_utility,
)


def test_locking_accepts_a_valid_instance_whose_unlocked_share_is_subnormal():
    # unlocked mass (0.1 * 0.5)^t = 1e-429 at t = 330: its share is below the float range
    rep = check_locking(ae.with_locking(ae.chain([0.5]), 0.9), 0.9, 330)
    assert rep.locking and rep.bound_holds
    assert rep.log_unlocked_mass[-1] == pytest.approx(330 * np.log(0.05), rel=1e-12)


def test_locking_checks_that_locked_copies_keep_the_fitness():
    g = ae.with_locking(ae.chain([0.5, 1.0]), 0.9)
    assert check_locking(g, 0.9, 5).locking
    f = g.fitness.copy()
    f[g.attrs["locked"].astype(bool)] *= 2.0  # f(l(v)) != f(v)
    bad = ae.DesignGraph.from_matrix(f, g.T).with_attrs(**g.attrs)
    assert not check_locking(bad, 0.9, 5).locking
    assert check_utility(bad, 5, utility=np.zeros(g.n)).locking == 0.0
    assert check_utility(g, 5, utility=np.zeros(g.n)).locking == pytest.approx(0.9)


def _two_clades_with_equal_exponents():
    # root -> u (a 3-cycle, f = 2, 3, 4/3: exponent log 2 up to rounding) and -> v (copies itself, f = 2)
    n = 5
    T = np.zeros((n, n))
    T[0, 1] = T[0, 4] = 0.5
    T[1, 2] = T[2, 3] = T[3, 1] = 1.0
    T[4, 4] = 1.0
    return ae.type_graph([1.0, 2.0, 3.0, 4.0 / 3.0, 2.0], T)


@pytest.mark.parametrize("method", ["exact", "estimate"])
def test_equal_exponents_never_dominate(method):
    g = _two_clades_with_equal_exponents()
    for u, v in ((1, 4), (4, 1)):
        rep = check_dominance(g, u, v, 300, method=method)
        assert rep.disjoint
        assert not rep.predicted


def test_a_real_gap_is_still_predicted():
    from aievo.theory import dominance_pair

    rep = check_dominance(dominance_pair(), generations=100)
    assert rep.predicted


def test_preservation_bounds_decided_with_certified_brackets():
    g = ae.with_preservation(ae.chain([1.0, 2.0, 0.5]), 0.3)
    rep = check_preservation(g, 0.3, 10)
    assert rep.preserving and rep.bounds_hold
