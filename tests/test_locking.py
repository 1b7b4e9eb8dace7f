"""eta-locking and eta-preservation transform the kernel exactly as docs/explanation/model.md says."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 30), eta=st.floats(0.01, 1.0))
def test_locking_rows(seed, n, eta):
    g = ae.random_tree(n, rng=seed, self_prob=0.1)
    gl = ae.with_locking(g, eta)
    T, T2 = g.T.toarray(), gl.T.toarray()
    assert gl.n == 2 * n
    np.testing.assert_allclose(T2[:n, :n], (1 - eta) * T, atol=1e-15)
    np.testing.assert_allclose(T2[:n, n:], eta * np.eye(n), atol=1e-15)
    np.testing.assert_array_equal(T2[n:, n:], np.eye(n))
    np.testing.assert_array_equal(T2[n:, :n], 0)
    np.testing.assert_array_equal(gl.fitness, np.concatenate([g.fitness, g.fitness]))
    assert gl.attrs["locked"].tolist() == [False] * n + [True] * n
    assert gl.attrs["original"].tolist() == list(range(n)) * 2
    np.testing.assert_array_equal(gl.attrs["depth"], np.concatenate([g.attrs["depth"]] * 2))


def test_locking_twice_does_not_copy_locked_programs():
    gl = ae.with_locking(ae.chain([1.0, 2.0]), 0.5)
    gll = ae.with_locking(gl, 0.5)
    assert gll.n == 6  # the two locked copies get no copy of their own
    np.testing.assert_array_equal(gll.T.toarray()[2:4, 2:4], np.eye(2))


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 30), eta=st.floats(0.01, 1.0))
def test_preservation_rows(seed, n, eta):
    g = ae.random_tree(n, rng=seed)
    gp = ae.with_preservation(g, eta)
    np.testing.assert_allclose(gp.T.toarray(), (1 - eta) * g.T.toarray() + eta * np.eye(n), atol=1e-15)


def test_unlocked_mass_bound_on_a_chain():
    """R3's bound U_t <= ((1 - eta) F*)^t U_0, with U measured in abundances."""
    f = np.array([2.0, 1.0, 1.5, 1.2])
    eta = 0.3
    gl = ae.with_locking(ae.chain(f), eta)
    tr = ae.simulate(gl, 30, sets={"unlocked": ~gl.attrs["locked"]})
    U = tr.set_shares["unlocked"] * np.exp(tr.log_growth)
    bound = ((1 - eta) * 2.0) ** np.arange(31)
    assert np.all(U <= bound * (1 + 1e-12))
    assert tr.mean_fitness[-1] == pytest.approx(2.0, abs=1e-4)
