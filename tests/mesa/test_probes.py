"""Tests of aievo.mesa.probes against closed forms (hat matrices, explicit per-position
solves, analytic Jacobians)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.probes import linear_probe, probe_over_time, probe_targets, sensitivity, token_binding_probe
from aievo.mesa.tasks import construct_full_tokens, sample_lds
from aievo.mesa.train import linear_tf_forward, linear_tf_init

seeds = st.integers(0, 2**31 - 1)


@given(st.integers(1, 5), st.integers(1, 3), st.integers(0, 10), seeds)
def test_linear_probe_equals_hat_matrix_residual(F, Dt, extra, seed):
    g = np.random.default_rng(seed)
    n = F + 2 + extra
    A = g.normal(size=(n, F))
    Y = g.normal(size=(n, Dt))
    hat = A @ np.linalg.inv(A.T @ A) @ A.T
    res = Y - hat @ Y
    assert linear_probe(A, Y) == pytest.approx(np.sum(res**2) / (2 * n), rel=1e-9)
    sst = np.sum((Y - Y.mean(0)) ** 2)
    assert linear_probe(A, Y, metric="r2") == pytest.approx(1 - np.sum(res**2) / sst, rel=1e-9, abs=1e-12)


@given(st.integers(1, 5), st.integers(1, 3), seeds)
def test_linear_probe_exact_map_and_held_out(F, Dt, seed):
    g = np.random.default_rng(seed)
    W = g.normal(size=(F, Dt))
    A, At = g.normal(size=(3 * F + 2, F)), g.normal(size=(7, F))
    assert linear_probe(A, A @ W) == pytest.approx(0.0, abs=1e-20)
    assert linear_probe(A, A @ W, metric="r2") == pytest.approx(1.0, abs=1e-10)
    assert linear_probe(A, A @ W, test=(At, At @ W)) == pytest.approx(0.0, abs=1e-18)
    # held-out score of a noisy fit: the fitted W applied to the test rows
    Y = A @ W + g.normal(size=(A.shape[0], Dt))
    Wfit = np.linalg.lstsq(A, Y, rcond=None)[0]
    Yt = g.normal(size=(7, Dt))
    assert linear_probe(A, Y, test=(At, Yt)) == pytest.approx(np.sum((At @ Wfit - Yt) ** 2) / 14, rel=1e-9)


@given(st.integers(1, 3), st.integers(2, 8), st.floats(1e-4, 1.0), seeds)
def test_probe_targets_preconditioned_explicit(D, T, lam, seed):
    inputs, targets, _ = sample_lds(seed, 2, D=D, T=T)
    out = probe_targets(inputs, targets, lam)
    np.testing.assert_array_equal(out["current"], inputs)
    np.testing.assert_array_equal(out["next"], targets)
    for b in range(2):
        for t in range(T):
            Sp = inputs[b, :t]
            expected = np.linalg.inv(Sp.T @ Sp + lam * np.eye(D)) @ inputs[b, t]
            np.testing.assert_allclose(out["preconditioned"][b, t], expected, rtol=1e-7, atol=1e-9)


def test_probe_over_time_on_tokens_that_hold_the_state():
    inputs, targets, _ = sample_lds(0, 200, D=3, T=8)
    tokens = construct_full_tokens(inputs)
    tg = probe_targets(inputs, targets)
    out = probe_over_time([tokens, 2 * tokens], tg, positions=[0, 3, 7])
    assert set(out) == {"current", "next", "preconditioned"} and out["current"].shape == (2, 3)
    np.testing.assert_allclose(out["current"], 0.0, atol=1e-20)
    # next state: per position the same as a direct probe
    assert out["next"][0, 1] == pytest.approx(linear_probe(tokens[:, 3], targets[:, 3]), rel=1e-12)
    r2 = probe_over_time([tokens], tg, positions=[5], metric="r2")
    assert r2["current"][0, 0] == pytest.approx(1.0, abs=1e-10)


def test_token_binding_probe_on_constructed_tokens():
    S, _, _ = sample_lds(1, 300, D=2, T=10)
    tokens = construct_full_tokens(S)  # slot s_t and slot s_{t-1}
    out = token_binding_probe(tokens, S, 5, k_max=4)
    assert out[0] == pytest.approx(0.0, abs=1e-20) and out[1] == pytest.approx(0.0, abs=1e-20)
    assert np.all(out[2:] > 1e-3)
    early = token_binding_probe(tokens, S, 1, k_max=3)
    assert np.isnan(early[2:]).all() and not np.isnan(early[:2]).any()


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), seeds)
def test_sensitivity_of_causal_linear_map_is_frobenius_norm(F, T, G, seed):
    g = np.random.default_rng(seed)
    A = g.normal(size=(G, F))
    E = g.normal(size=(2, T, F))

    def f(E):
        return np.cumsum(E @ A.T, axis=1)  # out_t = A sum_{t' <= t} e_t'

    t = T - 1
    np.testing.assert_allclose(sensitivity(f, E, t), np.linalg.norm(A), rtol=1e-7)
    if T > 1:
        assert sensitivity(f, E, 0, t_primes=[T - 1])[0] == 0.0


def test_sensitivity_of_one_lsa_head_matches_analytic_jacobian():
    """Single causal head, out_t = e_t + P sum_{t'<=t} v_t' k_t'^T q_t: d out_t / d e_t' for t' < t is
    P (v_t' q_t^T W_K + (k_t'^T q_t) W_V) -- a closed form."""
    g = np.random.default_rng(5)
    (layer,) = linear_tf_init(1, 1, 1, 2, init_std=0.7, rng=g)
    E = g.normal(size=(3, 5, 4))
    f = lambda Z: linear_tf_forward([layer], Z)[-1]  # noqa: E731
    Wq, Wk, Wv, P = (layer[k][0] for k in ("Wq", "Wk", "Wv", "P"))
    t, tp = 4, 2
    norms = []
    for b in range(3):
        q, k, v = Wq @ E[b, t], Wk @ E[b, tp], Wv @ E[b, tp]
        J = P @ (np.outer(v, q) @ Wk + (k @ q) * Wv)
        norms.append(np.linalg.norm(J))
    assert sensitivity(f, E, t, t_primes=[tp])[0] == pytest.approx(np.mean(norms), rel=1e-7)


def test_probe_errors():
    with pytest.raises(InvalidParameterError, match="metric"):
        linear_probe(np.zeros((3, 2)), np.zeros(3), metric="mae")
    with pytest.raises(ShapeError, match="target.shape"):
        linear_probe(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(InvalidParameterError, match="t="):
        token_binding_probe(np.zeros((2, 3, 4)), np.zeros((2, 3, 1)), 3)
    with pytest.raises(InvalidParameterError, match="f="):
        sensitivity(None, np.zeros((1, 2, 2)), 0)
    with pytest.raises(ShapeError, match="F >= 1"):  # was a bare numpy AxisError (found by mypy)
        sensitivity(lambda E: E, np.zeros((2, 3, 0)), 1)
