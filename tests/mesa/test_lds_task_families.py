"""The LDS task families of von Oswald et al. (2023b) Fig 7 as :class:`LDSTask` configurations, and the
least-squares baselines drawn beside the models, against plain-numpy oracles (no JAX needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.baselines import lsq_sequence_predict
from aievo.mesa.experiments.vonoswald2023b import (
    FIG7_TASKS,
    delay_embed,
    feature_lsq_predict,
    nonlinear_features,
)
from aievo.mesa.nn.config import LDSTask, task_from_dict
from aievo.mesa.tasks import sample_lds


def test_partial_observations_match_a_plain_numpy_oracle():
    """Oracle: the same random stream consumed by hand; o_t = C s_t + obs_noise xi_t by explicit loops."""
    B, D, T, n, sig = 3, 4, 6, 2, 0.3
    task = LDSTask(D=D, T=T, noise=0.05, obs_dim=n, obs_noise=sig)
    x, y = task.sample(np.random.default_rng(7), B)
    g = np.random.default_rng(7)
    s_in, s_out, _ = sample_lds(g, B, D=D, T=T, noise=0.05)
    S = np.concatenate([s_in, s_out[:, -1:]], axis=1)
    C = 0.5 * g.standard_normal((B, n, D))
    xi = g.standard_normal((B, T + 1, n))
    O = np.empty((B, T + 1, n))
    for b in range(B):
        for t in range(T + 1):
            O[b, t] = C[b] @ S[b, t] + sig * xi[b, t]
    np.testing.assert_allclose(x, O[:, :-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, O[:, 1:], rtol=1e-12, atol=1e-14)
    assert task.data_dim == n


def test_fully_observed_sampling_is_unchanged_by_the_new_fields():
    """The shipped checkpoints were trained and are drawn on this stream: same draws as sample_lds."""
    for kind in ("orthogonal", "contracting", "nonlinear"):
        x, y = LDSTask(D=3, T=5, kind=kind).sample(np.random.default_rng(3), 4)
        x0, y0, _ = sample_lds(np.random.default_rng(3), 4, D=3, T=5, kind=kind)
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)


@settings(deadline=None, max_examples=25)
@given(D=st.integers(1, 6), T=st.integers(1, 8), n=st.integers(1, 6), B=st.integers(1, 4),
       sig=st.floats(0.0, 1.0), seed=st.integers(0, 2**31 - 1))
def test_observed_sequences_have_the_observation_shape_and_are_shifted_copies(D, T, n, B, sig, seed):
    task = LDSTask(D=D, T=T, obs_dim=n, obs_noise=sig)
    x, y = task.sample(np.random.default_rng(seed), B)
    assert x.shape == y.shape == (B, T, n)
    # the target at t is the very observation the model reads at t + 1 (one noise draw per time step)
    np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
    assert task.data_dim == n


@settings(deadline=None, max_examples=25)
@given(D=st.integers(1, 6), lo=st.floats(0.0, 0.95), width=st.floats(0.0, 0.5), seed=st.integers(0, 2**31 - 1))
def test_contracting_dynamics_have_spectral_radius_max_eig(D, lo, width, seed):
    """Every eigenvalue of W lies in [min_eig, max_eig] and one equals max_eig (W = U diag U^-1)."""
    hi = lo + width
    task = LDSTask(D=D, T=2, kind="contracting", min_eig=lo, max_eig=hi)
    _, W = task.sample_states(np.random.default_rng(seed), 3)
    for Wb in W:
        ev = np.linalg.eigvals(Wb)
        # a Gaussian U can be ill-conditioned: eigenvalues recovered to ~cond(U) * 1e-16
        tol = 1e-6 * max(1.0, np.linalg.cond(Wb))
        assert np.max(np.abs(ev)) == pytest.approx(hi, abs=tol)
        assert np.all(np.abs(ev.imag) <= tol)
        assert np.all(ev.real >= lo - tol) and np.all(ev.real <= hi + tol)


def test_new_fields_round_trip_and_old_task_records_still_load():
    task = LDSTask(D=10, T=30, kind="contracting", obs_dim=5, obs_noise=0.01, min_eig=0.2, max_eig=0.8)
    assert LDSTask.from_json(task.to_json()) == task
    assert task_from_dict({"type": "LDSTask", **task.to_dict()}) == task
    # checkpoints written before these fields existed name only D, T, noise and kind
    old = task_from_dict({"type": "LDSTask", "D": 5, "T": 30, "noise": 0.01, "kind": "orthogonal"})
    assert old == LDSTask(D=5, T=30) and old.obs_dim is None and old.data_dim == 5


@pytest.mark.parametrize("kw, name", [
    (dict(obs_noise=0.1), "obs_noise"),          # observation noise without partial observations
    (dict(obs_dim=0), "obs_dim"),
    (dict(obs_dim=2.5), "obs_dim"),
    (dict(obs_dim=3, obs_noise=-0.1), "obs_noise"),
    (dict(min_eig=0.5, max_eig=0.4), "max_eig"),
    (dict(min_eig=-0.1), "min_eig"),
    (dict(max_eig=float("nan")), "max_eig"),
])
def test_bad_task_fields_are_rejected_by_name(kw, name):
    with pytest.raises(InvalidParameterError, match=name):
        LDSTask(**kw)


def test_fig7_families_are_the_papers_three():
    assert set(FIG7_TASKS) == {"full", "partial", "nonlinear"}
    assert FIG7_TASKS["partial"].obs_dim is not None and FIG7_TASKS["partial"].obs_dim < FIG7_TASKS["partial"].D
    assert FIG7_TASKS["nonlinear"].kind == "nonlinear" and FIG7_TASKS["full"].kind == "orthogonal"


@settings(deadline=None, max_examples=20)
@given(F=st.integers(1, 4), D=st.integers(1, 3), T=st.integers(1, 7), lam=st.floats(1e-3, 10.0),
       seed=st.integers(0, 2**31 - 1))
def test_feature_lsq_is_the_ridge_solution_on_the_pairs_seen_so_far(F, D, T, lam, seed):
    """Oracle: at every position, ridge regression of v_i on f_{i-1} (i = 1..t) by numpy.linalg.lstsq on an augmented system."""
    g = np.random.default_rng(seed)
    Fm, V = g.normal(size=(2, T, F)), g.normal(size=(2, T, D))
    pred = feature_lsq_predict(Fm, V, lam)
    for b in range(2):
        for t in range(T):
            A = np.vstack([Fm[b, :t], np.sqrt(lam) * np.eye(F)])      # rows f_0..f_{t-1}, then the ridge rows
            Y = np.vstack([V[b, 1:t + 1], np.zeros((F, D))])
            W = np.linalg.lstsq(A, Y, rcond=None)[0]
            np.testing.assert_allclose(pred[b, t], Fm[b, t] @ W, rtol=1e-8, atol=1e-10)


def test_feature_lsq_on_the_states_is_inclusive_sequence_least_squares():
    x, _, _ = sample_lds(4, 5, D=3, T=12)
    np.testing.assert_allclose(feature_lsq_predict(x, x, 0.01), lsq_sequence_predict(x, 0.01, inclusive=True),
                               rtol=1e-10, atol=1e-12)
    # several penalties share the sums over pairs: the same as one call per penalty
    many = feature_lsq_predict(x, x, (0.01, 1.0))
    np.testing.assert_allclose(many[1], feature_lsq_predict(x, x, 1.0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(many[0], feature_lsq_predict(x, x, 0.01), rtol=1e-12, atol=1e-14)
    with pytest.raises(InvalidParameterError, match="lam"):
        feature_lsq_predict(x, x, (0.1, -1.0))
    with pytest.raises(ShapeError, match="values.shape"):
        feature_lsq_predict(x, x[:, :-1])
    with pytest.raises(InvalidParameterError, match="lam"):
        feature_lsq_predict(x, x, 0.0)


def test_delay_embedding_stacks_the_last_observations():
    O = np.arange(2 * 4 * 2, dtype=float).reshape(2, 4, 2)
    E = delay_embed(O, 3)
    assert E.shape == (2, 4, 6)
    for t in range(4):
        want = np.concatenate([O[:, t - k] if t - k >= 0 else np.zeros((2, 2)) for k in range(3)], axis=1)
        np.testing.assert_array_equal(E[:, t], want)
    np.testing.assert_array_equal(delay_embed(O, 1), O)


def test_nonlinear_features_are_what_the_nonlinear_dynamics_act_on():
    """Noise-free nonlinear sequences: s_{t+1} = W f(s_t)/|f(s_t)| exactly (the clip never binds)."""
    x, y, W = sample_lds(2, 4, D=5, T=9, noise=0.0, kind="nonlinear")
    np.testing.assert_allclose(np.einsum("bij,btj->bti", W, nonlinear_features(x)), y, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(nonlinear_features(x), axis=-1), 1.0, rtol=1e-12)
