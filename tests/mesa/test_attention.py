"""Tests of aievo.mesa.attention: LSA against a per-token loop, and the GD constructions against GD."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa import attention as at
from aievo.mesa import baselines as bl
from aievo.mesa import tasks


def _loop_lsa(E, Wq, Wk, Wv, P, n_context, causal):
    """Plain per-token oracle of one residual multi-head LSA layer (column-vector form)."""
    B, T, F = E.shape
    out = E.copy()
    for b in range(B):
        for j in range(T):
            delta = np.zeros(F)
            for h in range(Wq.shape[0]):
                for i in range(T):
                    if causal and i > j:
                        continue
                    if n_context is not None and i >= n_context:
                        continue
                    e_i, e_j = E[b, i], E[b, j]
                    delta += P[h] @ (Wv[h] @ e_i) * float((Wk[h] @ e_i) @ (Wq[h] @ e_j))
            out[b, j] += delta
    return out


@given(
    B=st.integers(1, 2), T=st.integers(1, 6), F=st.integers(1, 5), H=st.integers(1, 3), dk=st.integers(1, 4),
    dv=st.integers(1, 4), causal=st.booleans(), data=st.data(), seed=st.integers(0, 2**31),
)
def test_lsa_layer_matches_loop(B, T, F, H, dk, dv, causal, data, seed):
    n_context = data.draw(st.one_of(st.none(), st.integers(0, T)))
    g = np.random.default_rng(seed)
    E = g.standard_normal((B, T, F))
    Wq, Wk = g.standard_normal((2, H, dk, F))
    Wv = g.standard_normal((H, dv, F))
    P = g.standard_normal((H, F, dv))
    got = at.lsa_layer(E, at.LSAWeights(Wq, Wk, Wv, P), n_context=n_context, causal=causal)
    np.testing.assert_allclose(got, _loop_lsa(E, Wq, Wk, Wv, P, n_context, causal), rtol=1e-10, atol=1e-10)
    upd = at.lsa_layer(E, {"Wq": Wq, "Wk": Wk, "Wv": Wv, "P": P}, n_context=n_context, causal=causal, residual=False)
    np.testing.assert_allclose(upd, got - E, atol=1e-10)


@given(
    B=st.integers(1, 4), N=st.integers(1, 8), d=st.integers(1, 6), K=st.integers(1, 5),
    eta=st.floats(0.05, 3.0), seed=st.integers(0, 2**31),
)
def test_lsa_with_gd_weights_is_gd(B, N, d, K, eta, seed):
    X, y, xq, yq, w = tasks.sample_regression_tasks(seed, B, d, N)
    E = tasks.concat_tokens(X, y, xq)
    states = at.lsa_forward(E, [at.gd_weights(d, N, eta)] * K, n_context=N, return_all=True)
    for k in range(K + 1):
        yhat, Wk = bl.gd_steps(X, y, xq, eta, k, return_weights=True)
        np.testing.assert_allclose(at.regression_readout(states[k]), yhat, atol=1e-10)
        # context y-slots hold the residuals y_i - W_k x_i; x-slots are untouched
        np.testing.assert_allclose(states[k][:, :N, d], y - np.einsum("bnd,bd->bn", X, Wk), atol=1e-10)
        np.testing.assert_array_equal(states[k][:, :, :d], E[:, :, :d])


@given(N=st.integers(1, 6), d=st.integers(1, 5), etas=st.lists(st.floats(0.05, 2.0), min_size=1, max_size=4),
       seed=st.integers(0, 2**31))
def test_untied_gd_layers_are_gd_with_per_step_rates(N, d, etas, seed):
    X, y, xq, _, _ = tasks.sample_regression_tasks(seed, 3, d, N)
    E = tasks.concat_tokens(X, y, xq)
    out = at.lsa_forward(E, [at.gd_weights(d, N, e) for e in etas], n_context=N)
    W = np.zeros((3, d))  # plain GD with a different step each layer
    for e in etas:
        W = W + (e / N) * np.einsum("bn,bnd->bd", y - np.einsum("bnd,bd->bn", X, W), X)
    np.testing.assert_allclose(at.regression_readout(out), np.einsum("bd,bd->b", W, xq), atol=1e-10)


@given(N=st.integers(1, 6), d=st.integers(1, 5), eta=st.floats(0.05, 2.0), seed=st.integers(0, 2**31))
def test_gd_weights_with_initial_w0(N, d, eta, seed):
    # one GD step from W0 on (X, y) = W0 + one GD step from 0 on (X, y - X W0)
    X, y, xq, _, _ = tasks.sample_regression_tasks(seed, 2, d, N)
    W0 = np.random.default_rng(seed + 1).standard_normal(d)
    E = tasks.concat_tokens(X, y, xq)
    E[:, N, d] = -xq @ W0
    out = at.lsa_forward(E, [at.gd_weights(d, N, eta, W0=W0)], n_context=N)
    want = xq @ W0 + bl.gd_steps(X, y - X @ W0, xq, eta, 1)
    np.testing.assert_allclose(at.regression_readout(out), want, atol=1e-10)


@given(
    N=st.integers(1, 6), d=st.integers(1, 5), K=st.integers(1, 4), eta=st.floats(0.05, 2.0),
    gamma=st.floats(0.0, 0.2), seed=st.integers(0, 2**31),
)
def test_gdpp_weights_match_gdpp_predict(N, d, K, eta, gamma, seed):
    X, y, xq, _, _ = tasks.sample_regression_tasks(seed, 3, d, N)
    E = tasks.concat_tokens(X, y, xq)
    out = at.lsa_forward(E, [at.gdpp_weights(d, N, eta, gamma)] * K, n_context=N)
    np.testing.assert_allclose(at.regression_readout(out), bl.gdpp_predict(X, y, xq, eta, gamma, K=K), atol=1e-10)
    # gamma = 0: GD++ is GD
    out0 = at.lsa_forward(E, [at.gdpp_weights(d, N, eta, 0.0)] * K, n_context=N)
    np.testing.assert_allclose(at.regression_readout(out0), bl.gd_steps(X, y, xq, eta, K), atol=1e-10)


def test_gdpp_default_gamma_is_official_init():
    w = at.gdpp_weights(3, 5, 2.0)
    np.testing.assert_allclose(np.diag(w.P[0]), [-2.0 / 25] * 3 + [2.0 / 5])
    np.testing.assert_allclose(w.Wv[0], np.diag([1.0, 1.0, 1.0, -1.0]))


@given(B=st.integers(1, 3), T=st.integers(1, 8), D=st.integers(1, 4), eta=st.floats(-1, 1), seed=st.integers(0, 2**31))
def test_causal_head_on_constructed_tokens_is_prop1_gd(B, T, D, eta, seed):
    S = np.random.default_rng(seed).standard_normal((B, T, D))
    E = tasks.construct_full_tokens(S)
    out = at.lsa_layer(E, at.gd_sequence_weights(D, eta), causal=True)
    np.testing.assert_allclose(out[:, :, :D], bl.gd_sequence_predict(S, eta), atol=1e-10)
    np.testing.assert_array_equal(out[:, :, D:], E[:, :, D:])


@pytest.mark.parametrize(
    "call, err, text",
    [
        (lambda E: at.lsa_layer(E, at.gd_weights(3, 4, 1.0)), ShapeError, r"weights.Wq.shape"),
        (lambda E: at.lsa_layer(E[0], at.gd_weights(4, 4, 1.0)), ShapeError, r"E.shape"),
        (lambda E: at.lsa_layer(E, at.gd_weights(4, 4, 1.0), n_context=9), InvalidParameterError, "n_context=9"),
        (lambda E: at.lsa_layer(E, {"Wq": np.eye(5)}), InvalidParameterError, "weights="),
        (lambda E: at.lsa_forward(E, at.gd_weights(4, 4, 1.0)), InvalidParameterError, "layers="),
        (lambda E: at.gd_weights(0, 4, 1.0), InvalidParameterError, "d=0"),
        (lambda E: at.gd_weights(4, 4, float("inf")), InvalidParameterError, "eta=inf"),
        (lambda E: at.gd_weights(4, 4, 1.0, W0=np.zeros(3)), ShapeError, "W0.shape"),
        (lambda E: at.lsa_layer(E, (np.ones((1, 2, 5)), np.ones((1, 2, 5)), np.ones((1, 3, 5)), np.ones((1, 5, 2)))),
         ShapeError, "weights.P.shape"),
    ],
)
def test_bad_arguments(call, err, text):
    E = np.zeros((2, 5, 5))
    with pytest.raises(err, match=text) as info:
        call(E)
    assert "expected" in str(info.value)
