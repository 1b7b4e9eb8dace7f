"""Tests of aievo.mesa.mesa_layer: RLS kernel vs fresh solves vs ridge oracles, and check values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa import baselines as bl
from aievo.mesa import tasks
from aievo.mesa.mesa_layer import mesa_layer, mesa_layer_naive

shapes = dict(B=st.integers(1, 3), T=st.integers(1, 12), dk=st.integers(1, 6), dv=st.integers(1, 5),
              seed=st.integers(0, 2**31))


def _kvq(seed, B, T, dk, dv):
    g = np.random.default_rng(seed)
    return g.standard_normal((B, T, dk)), g.standard_normal((B, T, dv)), g.standard_normal((B, T, dk))


@given(lam=st.floats(1e-2, 1e2), **shapes)
def test_rls_equals_naive(B, T, dk, dv, seed, lam):
    K, V, Q = _kvq(seed, B, T, dk, dv)
    np.testing.assert_allclose(mesa_layer(K, V, Q, lam), mesa_layer_naive(K, V, Q, lam), rtol=1e-9, atol=1e-9)


@given(lam=st.floats(1e-2, 1e2), forget=st.floats(0.5, 1.0), **shapes)
def test_rls_equals_naive_with_forgetting(B, T, dk, dv, seed, lam, forget):
    K, V, Q = _kvq(seed, B, T, dk, dv)
    np.testing.assert_allclose(
        mesa_layer(K, V, Q, lam, forget), mesa_layer_naive(K, V, Q, lam, forget), rtol=1e-9, atol=1e-9
    )


@given(lam=st.floats(1e-2, 1e2), forget=st.sampled_from([1.0, 0.8]), **shapes)
def test_naive_is_weighted_ridge(B, T, dk, dv, seed, lam, forget):
    # out_t = Phi_t q_t, Phi_t = argmin sum_{t'<=t} f^(t-t') ||v - Phi k||^2 + f^(t+1)/lam ||Phi||^2,
    # solved as an augmented least-squares problem (independent of the normal equations).
    K, V, Q = _kvq(seed, B, T, dk, dv)
    got = mesa_layer_naive(K, V, Q, lam, forget)
    for b in range(B):
        for t in range(T):
            sw = np.sqrt(forget ** np.arange(t, -1, -1))[:, None]
            A = np.vstack([sw * K[b, : t + 1], np.sqrt(forget ** (t + 1) / lam) * np.eye(dk)])
            R = np.vstack([sw * V[b, : t + 1], np.zeros((dk, dv))])
            Phi = np.linalg.lstsq(A, R, rcond=None)[0].T
            np.testing.assert_allclose(got[b, t], Phi @ Q[b, t], rtol=1e-8, atol=1e-9)


def test_long_sequence_stays_accurate():
    K, V, Q = _kvq(5, 2, 400, 8, 3)
    np.testing.assert_allclose(mesa_layer(K, V, Q, 1.0), mesa_layer_naive(K, V, Q, 1.0), rtol=1e-9, atol=1e-9)


@given(B=st.integers(1, 3), T=st.integers(1, 10), D=st.integers(1, 4), lam=st.floats(1e-1, 1e3),
       seed=st.integers(0, 2**31))
def test_mesa_head_on_constructed_tokens_is_inclusive_ridge(B, T, D, lam, seed):
    # keys s_{t-1}, values s_t, queries s_t read from the tokens (0, s_t, s_t, s_{t-1});
    # equals lsq_sequence_predict(inclusive=True) with ridge penalty 1/lam.
    S = np.random.default_rng(seed).standard_normal((B, T, D))
    E = tasks.construct_full_tokens(S)
    K, V, Q = E[:, :, 3 * D :], E[:, :, D : 2 * D], E[:, :, 2 * D : 3 * D]
    np.testing.assert_allclose(
        mesa_layer(K, V, Q, lam), bl.lsq_sequence_predict(S, 1.0 / lam, inclusive=True), rtol=1e-8, atol=1e-9
    )


def test_mesa_head_lds_check_values():
    # docs/explanation/mesa-facts.md: inclusive ridge mean 0.186 (penalty 1e-3, i.e. lam = 1e3), 0.248 at the mesa init lam = 1
    B = 1000
    inputs, targets, _ = tasks.sample_lds(31, B)
    E = tasks.construct_full_tokens(inputs)
    K, V, Q = E[:, :, 30:], E[:, :, 10:20], E[:, :, 20:30]
    for lam, ref in ((1e3, 0.186), (1.0, 0.248)):
        per_seq = 0.5 * np.sum((targets - mesa_layer(K, V, Q, lam)) ** 2, axis=(1, 2)) / targets.shape[1]
        se = per_seq.std(ddof=1) / np.sqrt(B)
        assert abs(per_seq.mean() - ref) < 4 * se * np.sqrt(1 + B / 2000) + 0.0005


@pytest.mark.parametrize(
    "args, err, text",
    [
        (dict(K=np.zeros((2, 3))), ShapeError, "K.shape"),
        (dict(V=np.zeros((2, 4, 3))), ShapeError, "V.shape"),
        (dict(Q=np.zeros((2, 3, 5))), ShapeError, "Q.shape"),
        (dict(lam=0.0), InvalidParameterError, "lam=0.0"),
        (dict(forget=1.5), InvalidParameterError, "forget=1.5"),
        (dict(forget=0.0), InvalidParameterError, "forget=0.0"),
        (dict(K=np.full((2, 3, 4), np.nan)), InvalidParameterError, "K="),
    ],
)
@pytest.mark.parametrize("fn", [mesa_layer, mesa_layer_naive])
def test_bad_arguments(fn, args, err, text):
    kw = dict(K=np.zeros((2, 3, 4)), V=np.zeros((2, 3, 2)), Q=np.zeros((2, 3, 4)), lam=1.0, forget=1.0)
    kw.update(args)
    with pytest.raises(err, match=text) as info:
        fn(**kw)
    assert "expected" in str(info.value)
