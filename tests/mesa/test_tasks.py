"""Tests of aievo.mesa.tasks against closed forms and the generators' definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import AievoError, InvalidParameterError, ShapeError
from aievo.mesa import tasks


@given(B=st.integers(1, 5), D=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_haar_orthogonal_is_orthogonal(B, D, seed):
    W = tasks.haar_orthogonal(seed, B, D)
    assert W.shape == (B, D, D)
    np.testing.assert_allclose(np.einsum("bij,bkj->bik", W, W), np.broadcast_to(np.eye(D), (B, D, D)), atol=1e-12)


def test_haar_moments():
    # Haar: E[W_ij] = 0 and E[W_ij^2] = 1/D for every entry. A QR without the
    # sign fix has a biased diagonal, which the first check catches.
    D, B = 4, 40000
    W = tasks.haar_orthogonal(3, B, D)
    se = np.sqrt(1.0 / D / B)
    assert np.all(np.abs(W.mean(axis=0)) < 5 * se)
    var_w2 = np.var(W**2, axis=0).max()
    assert np.all(np.abs((W**2).mean(axis=0) - 1.0 / D) < 5 * np.sqrt(var_w2 / B))
    # determinant +1 and -1 equally likely
    dets = np.linalg.det(W)
    assert abs(np.mean(dets)) < 5 / np.sqrt(B)


def test_regression_tasks_laws():
    B, d, N = 20000, 10, 10
    X, y, xq, yq, w = tasks.sample_regression_tasks(0, B, d, N)
    assert X.shape == (B, N, d) and y.shape == (B, N) and xq.shape == (B, d) and yq.shape == (B,) and w.shape == (B, d)
    np.testing.assert_allclose(y, np.einsum("bnd,bd->bn", X, w), atol=1e-12)
    np.testing.assert_allclose(yq, np.einsum("bd,bd->b", xq, w), atol=1e-12)
    assert X.min() >= -0.5 and X.max() <= 0.5
    # x ~ U(-1/2, 1/2): variance 1/12; w ~ N(0, 1): variance 1
    assert abs(X.var() - 1 / 12) < 0.002
    assert abs(w.var() - 1.0) < 0.03
    # zero predictor 0.5 E[yq^2] = 0.5 d / 12 = 0.4167 (reference value 0.417)
    zero = 0.5 * np.mean(yq**2)
    se = 0.5 * np.std(yq**2) / np.sqrt(B)
    assert abs(zero - 0.5 * d / 12) < 4 * se


def test_regression_distractors_and_noise():
    X, y, xq, yq, w = tasks.sample_regression_tasks(1, 500, 3, 6, n_distract=2)
    clean = np.einsum("bnd,bd->bn", X, w)
    changed = ~np.isclose(y, clean)
    assert np.all(changed.sum(axis=1) == 2)
    np.testing.assert_allclose(yq, np.einsum("bd,bd->b", xq, w))
    X, y, xq, yq, w = tasks.sample_regression_tasks(2, 20000, 2, 3, noise=0.3)
    resid = y - np.einsum("bnd,bd->bn", X, w)
    assert abs(resid.std() - 0.3) < 0.01


def test_concat_tokens_layout():
    X, y, xq, yq, w = tasks.sample_regression_tasks(0, 3, 4, 5)
    E = tasks.concat_tokens(X, y, xq)
    assert E.shape == (3, 6, 5)
    np.testing.assert_array_equal(E[:, :5, :4], X)
    np.testing.assert_array_equal(E[:, :5, 4], y)
    np.testing.assert_array_equal(E[:, 5, :4], xq)
    assert np.all(E[:, 5, 4] == 0)
    with pytest.raises(ShapeError, match="y.shape"):
        tasks.concat_tokens(X, y[:, :-1], xq)


def test_sine_tasks():
    X, y, xq, yq, p = tasks.sample_sine_tasks(0, 1000)
    assert X.shape == (1000, 10, 1)
    np.testing.assert_allclose(y, p[:, :1] * np.sin(X[:, :, 0] + p[:, 1:]))
    np.testing.assert_allclose(yq, p[:, 0] * np.sin(xq[:, 0] + p[:, 1]))
    assert p[:, 0].min() >= 0.1 and p[:, 0].max() <= 0.5
    assert p[:, 1].min() >= 0 and p[:, 1].max() <= np.pi
    assert np.abs(X).max() <= 5


@pytest.mark.parametrize("kind", ["orthogonal", "fixed", "contracting"])
def test_lds_follows_its_recursion(kind):
    inputs, targets, W = tasks.sample_lds(0, 50, D=4, T=20, noise=0.0, kind=kind)
    assert inputs.shape == (50, 20, 4) and targets.shape == (50, 20, 4) and W.shape == (50, 4, 4)
    np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])
    np.testing.assert_allclose(targets, np.clip(np.einsum("bij,btj->bti", W, inputs), -10, 10), atol=1e-12)
    assert np.abs(inputs[:, 0]).max() <= 1.0


def test_lds_noise_level():
    inputs, targets, W = tasks.sample_lds(1, 400, noise=0.01)
    eps = targets - np.einsum("bij,btj->bti", W, inputs)
    assert abs(eps.std() - 0.01) < 3e-4


def test_lds_kinds_matrices():
    _, _, W = tasks.sample_lds(2, 30, D=6, T=3, kind="contracting")
    ev = np.sort(np.abs(np.linalg.eigvals(W)), axis=1)
    assert np.all(ev >= 0.3 - 1e-9) and np.all(ev <= 0.9 + 1e-9)
    np.testing.assert_allclose(ev[:, -1], 0.9, atol=1e-9)
    _, _, W1 = tasks.sample_lds(3, 5, D=6, T=3, kind="fixed")
    _, _, W2 = tasks.sample_lds(4, 2, D=6, T=3, kind="fixed")
    np.testing.assert_array_equal(W1[0], W2[1])
    np.testing.assert_allclose(W1[0] @ W1[0].T, np.eye(6), atol=1e-12)


def test_lds_nonlinear_recursion():
    inputs, targets, W = tasks.sample_lds(5, 10, D=3, T=8, noise=0.0, kind="nonlinear", hidden=7)
    g = np.random.default_rng(0)
    A = g.standard_normal((3, 7)) / np.sqrt(3)
    Bm = g.standard_normal((7, 3)) / np.sqrt(7)
    x = inputs @ A
    f = (0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))) @ Bm
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    np.testing.assert_allclose(targets, np.einsum("bij,btj->bti", W, f), atol=1e-12)


def test_lds_zero_predictor():
    # E|s_{t+1}|^2 = D/3 + t D sigma^2 for orthogonal W (no clipping at these scales)
    B, D, T, s = 4000, 10, 50, 0.01
    _, targets, _ = tasks.sample_lds(7, B, D, T, s)
    per_seq = 0.5 * np.sum(targets**2, axis=(1, 2)) / T
    expected = 0.5 * (D / 3 + D * s**2 * np.mean(np.arange(1, T + 1)))
    assert abs(per_seq.mean() - expected) < 4 * per_seq.std() / np.sqrt(B)
    assert abs(expected - 1.67) < 0.02  # reference value ~1.67


def test_observe():
    S = np.random.default_rng(0).standard_normal((3, 5, 4))
    O, C = tasks.observe(S, 2, rng=1)
    assert C.shape == (3, 2, 4)
    np.testing.assert_allclose(O, np.einsum("bod,btd->bto", C, S))
    O2, _ = tasks.observe(S, 2, rng=1, C=C[0])
    np.testing.assert_allclose(O2, np.einsum("od,btd->bto", C[0], S))
    _, C = tasks.observe(np.zeros((20000, 1, 3)), 3, rng=2)
    assert abs(C.std() - 0.5) < 0.01


def test_full_and_lag_tokens():
    S = np.random.default_rng(0).standard_normal((2, 6, 3))
    E = tasks.construct_full_tokens(S)
    assert E.shape == (2, 6, 12)
    for t in range(6):
        prev = S[:, t - 1] if t > 0 else np.zeros((2, 3))
        np.testing.assert_array_equal(E[:, t], np.concatenate([np.zeros((2, 3)), S[:, t], S[:, t], prev], axis=1))
    L = tasks.construct_lag_tokens(S, 3)
    for t in range(6):
        for j in range(3):
            want = S[:, t - j] if t - j >= 0 else np.zeros((2, 3))
            np.testing.assert_array_equal(L[:, t, 3 * j : 3 * j + 3], want)


@pytest.mark.parametrize("eos", [None, np.arange(3.0)])
def test_icl_sequences(eos):
    inputs, targets, mask, W = tasks.icl_sequences(0, 4, D=3, n_pairs=5, eos=eos)
    period = 2 if eos is None else 3
    assert inputs.shape == (4, period * 5 - 1, 3)
    np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])
    xs = inputs[:, mask]
    assert xs.shape == (4, 5, 3)
    np.testing.assert_allclose(targets[:, mask], np.einsum("bij,bnj->bni", W, xs), atol=1e-12)
    if eos is not None:
        np.testing.assert_array_equal(inputs[:, 2::3], np.broadcast_to(eos, (4, 4, 3)))


@pytest.mark.parametrize(
    "call, err, text",
    [
        (lambda: tasks.sample_regression_tasks(0, 0), InvalidParameterError, "B=0"),
        (lambda: tasks.sample_regression_tasks("seed", 3), InvalidParameterError, "rng='seed'"),
        (lambda: tasks.sample_regression_tasks(0, 3, x_halfwidth=-1.0), InvalidParameterError, "x_halfwidth=-1.0"),
        (lambda: tasks.sample_regression_tasks(0, 3, N=4, n_distract=5), InvalidParameterError, "n_distract=5"),
        (lambda: tasks.sample_lds(0, 3, kind="rotating"), InvalidParameterError, "kind='rotating'"),
        (lambda: tasks.sample_lds(0, 3, noise=float("nan")), InvalidParameterError, "noise=nan"),
        (lambda: tasks.sample_lds(0, 3, T=2.5), InvalidParameterError, "T=2.5"),
        (lambda: tasks.construct_full_tokens(np.zeros((3, 4))), ShapeError, "S.shape"),
        (lambda: tasks.icl_sequences(0, 2, D=3, eos=np.zeros(4)), ShapeError, "eos.shape"),
    ],
)
def test_bad_arguments(call, err, text):
    with pytest.raises(err, match=text) as info:
        call()
    assert isinstance(info.value, AievoError)
    assert "expected" in str(info.value)
