"""Tests of aievo.mesa.compressed against independent oracles (closed forms, the
attention module, the sequence baselines, Chebyshev polynomials from numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial import chebyshev as C

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.attention import gd_sequence_weights
from aievo.mesa.baselines import gd_sequence_predict, lsq_sequence_predict
from aievo.mesa.compressed import (
    CompressedLayer,
    approx_ridge_sequence_predict,
    block_diag_means,
    block_scalar_fraction,
    chebyshev_inverse,
    compressed_layers,
    extract_compressed,
    momentum_inverse,
    neumann_inverse,
    newton_schulz_inverse,
    prop1_params,
    revalg_one_layer,
    revalg_params_from_blocks,
)
from aievo.mesa.tasks import construct_full_tokens, sample_lds
from aievo.mesa.train import linear_tf_forward

seeds = st.integers(0, 2**31 - 1)


def _spd(g, n, cond=30.0):
    Q, _ = np.linalg.qr(g.normal(size=(n, n)))
    ev = np.geomspace(1.0, cond, n)
    return (Q * ev) @ Q.T, ev


# --------------------------------------------------------------------------- block scalars
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 4), seeds)
def test_block_diag_means_recovers_scalars_under_off_diagonal_noise(D, a, b, seed):
    g = np.random.default_rng(seed)
    S = g.normal(size=(a, b))
    noise = g.normal(size=(a * D, b * D))
    for i in range(a):
        for j in range(b):
            np.fill_diagonal(noise[i * D:(i + 1) * D, j * D:(j + 1) * D], 0.0)
    np.testing.assert_allclose(block_diag_means(np.kron(S, np.eye(D)) + noise, D), S, atol=1e-12)
    assert block_scalar_fraction(np.kron(S, np.eye(D)), D) == pytest.approx(1.0, abs=1e-12)
    frac = block_scalar_fraction(np.kron(S, np.eye(D)) + noise, D)
    total = np.sum((np.kron(S, np.eye(D)) + noise) ** 2)
    assert frac == pytest.approx(1 - np.sum(noise**2) / total, rel=1e-9, abs=1e-12)


@given(st.integers(1, 3), st.integers(1, 3), seeds)
def test_compressed_layers_round_trip(D, H, seed):
    g = np.random.default_rng(seed)
    qk, vp = g.normal(size=(H, 4, 4)), g.normal(size=(H, 4, 4))
    layers = compressed_layers([(qk, vp)], D)
    (c,) = extract_compressed(layers, D)
    np.testing.assert_allclose(c.qk, qk, atol=1e-12)
    np.testing.assert_allclose(c.vp, vp, atol=1e-12)
    np.testing.assert_allclose(c.qk_fraction, 1.0, atol=1e-12)


@given(st.integers(1, 4), st.integers(1, 3), seeds)
def test_revalg_formula_equals_block_scalar_transformer(D, H, seed):
    """The section-2.5 formula (direct) == a linear TF with scalar * I blocks on (0, s_t, s_t, s_{t-1})."""
    g = np.random.default_rng(seed)
    S, _, _ = sample_lds(g, 3, D=D, T=9)
    qk, vp = g.normal(size=(H, 4, 4)), g.normal(size=(H, 4, 4))
    layers = compressed_layers([CompressedLayer(qk, vp, np.ones(H), np.ones(H))], D)
    tf = linear_tf_forward(layers, construct_full_tokens(S))[-1][..., :D]
    np.testing.assert_allclose(revalg_one_layer(S, revalg_params_from_blocks(qk, vp)), tf, rtol=1e-9, atol=1e-11)


@given(st.integers(1, 5), st.floats(-2.0, 2.0), seeds)
def test_proposition1_is_a_revalg_special_case(D, eta, seed):
    S, _, _ = sample_lds(seed, 2, D=D, T=15)
    np.testing.assert_allclose(revalg_one_layer(S, prop1_params(eta)), gd_sequence_predict(S, eta),
                               rtol=1e-10, atol=1e-12)
    # and the compressed form of the constructed Prop-1 head gives the same parameters
    w = gd_sequence_weights(D, eta)
    (c,) = extract_compressed([{k: np.asarray(getattr(w, k)).reshape((1,) + np.shape(getattr(w, k))[-2:])
                                for k in ("Wq", "Wk", "Wv", "P")}], D)
    params = revalg_params_from_blocks(c.qk, c.vp)
    np.testing.assert_allclose(params[:, 1] * params[:, 4], eta, rtol=1e-12)
    np.testing.assert_allclose(params[:, [0, 2, 3, 5]], 0.0, atol=1e-15)


def test_block_errors():
    with pytest.raises(ShapeError, match="multiples of D=3"):
        block_diag_means(np.zeros((4, 6)), 3)
    with pytest.raises(ShapeError, match="params.shape"):
        revalg_one_layer(np.zeros((1, 3, 2)), np.zeros((2, 5)))


# --------------------------------------------------------------------------- inverses
@given(st.integers(1, 6), st.integers(0, 30), seeds)
def test_neumann_residual_identity_and_convergence(n, K, seed):
    g = np.random.default_rng(seed)
    A, ev = _spd(g, n, 10.0)
    c = ev[-1]  # ||I - A/c|| = 1 - 1/10 < 1
    X = neumann_inverse(A, K, c)
    eye = np.eye(n)
    np.testing.assert_allclose(eye - A @ X, np.linalg.matrix_power(eye - A / c, K + 1), atol=1e-10)
    if K == 30:
        assert np.linalg.norm(X - np.linalg.inv(A), 2) <= 0.9**31 / ev[0] * (1 + 1e-9) + 1e-12


def test_neumann_diverges_when_scale_too_small():
    A, ev = _spd(np.random.default_rng(0), 4, 10.0)
    c = ev[-1] / 2.5  # 1 - lambda_max / c = -1.5
    err = [np.linalg.norm(neumann_inverse(A, K, c) - np.linalg.inv(A)) for K in (5, 10, 20)]
    assert err[0] < err[1] < err[2]


@given(st.integers(1, 6), seeds)
def test_newton_schulz_squares_the_residual(n, seed):
    g = np.random.default_rng(seed)
    A, _ = _spd(g, n, 50.0)
    eye = np.eye(n)
    R0 = eye - A / np.trace(A)
    for k in range(4):
        np.testing.assert_allclose(eye - A @ newton_schulz_inverse(A, k), np.linalg.matrix_power(R0, 2**k),
                                   atol=1e-10)
    np.testing.assert_allclose(newton_schulz_inverse(A, 40), np.linalg.inv(A), rtol=1e-8, atol=1e-10)


@given(st.integers(1, 5), st.lists(st.floats(-0.5, 1.5), min_size=0, max_size=6), seeds)
def test_richardson_residual_is_product(n, omegas, seed):
    g = np.random.default_rng(seed)
    A, _ = _spd(g, n, 5.0)
    A = A / 5.0
    eye = np.eye(n)
    expected = eye.copy()
    for w in omegas:
        expected = (eye - w * A) @ expected
    np.testing.assert_allclose(eye - A @ momentum_inverse(A, omegas), expected, atol=1e-10)


@given(st.integers(2, 6), st.integers(1, 12), st.floats(2.0, 200.0), seeds)
def test_chebyshev_residual_is_scaled_chebyshev_polynomial(n, K, cond, seed):
    g = np.random.default_rng(seed)
    A, ev = _spd(g, n, cond)
    lo, hi = ev[0], ev[-1]
    theta, delta = (hi + lo) / 2, (hi - lo) / 2
    coef = np.zeros(K + 1)
    coef[K] = 1.0
    expected = C.chebval((theta - ev) / delta, coef) / C.chebval(theta / delta, coef)
    resid = np.linalg.eigvalsh(np.eye(n) - A @ chebyshev_inverse(A, K, lo, hi))
    np.testing.assert_allclose(np.sort(resid), np.sort(expected), atol=1e-9)


def test_chebyshev_beats_best_richardson_constant_step():
    A, ev = _spd(np.random.default_rng(1), 8, 100.0)
    K = 10
    omega = 2 / (ev[0] + ev[-1])
    rich = np.linalg.norm(np.eye(8) - A @ momentum_inverse(A, [omega] * K), 2)
    cheb = np.linalg.norm(np.eye(8) - A @ chebyshev_inverse(A, K, ev[0], ev[-1]), 2)
    assert cheb < rich


def test_inverse_errors():
    with pytest.raises(ShapeError, match="square"):
        neumann_inverse(np.zeros((2, 3)), 2, 1.0)
    with pytest.raises(InvalidParameterError, match="hi"):
        chebyshev_inverse(np.eye(2), 3, 1.0, 1.0)
    with pytest.raises(InvalidParameterError, match="c="):
        neumann_inverse(np.eye(2), 3, 0.0)


# --------------------------------------------------------------------------- preconditioned readout
@given(st.integers(1, 4), st.floats(1e-3, 1.0), seeds)
def test_exact_readout_is_inclusive_ridge(D, lam, seed):
    S, _, _ = sample_lds(seed, 2, D=D, T=12)
    np.testing.assert_allclose(approx_ridge_sequence_predict(S, lam),
                               lsq_sequence_predict(S, lam, inclusive=True), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method,steps", [("neumann", 400), ("newton_schulz", 40), ("chebyshev", 200)])
def test_approximate_readouts_converge_to_ridge(method, steps):
    S, _, _ = sample_lds(4, 3, D=3, T=10)
    exact = approx_ridge_sequence_predict(S, 0.1)
    few = approx_ridge_sequence_predict(S, 0.1, method=method, steps=2)
    many = approx_ridge_sequence_predict(S, 0.1, method=method, steps=steps)
    assert np.abs(many - exact).max() < 1e-6 < np.abs(few - exact).max()


@pytest.mark.slow
def test_compressed_one_layer_reproduces_trained_layer():
    """A trained 1-layer, 2-head linear TF and its block-scalar RevAlg form have the same loss, and the
    summed step p1 * eta is the Prop-1 step."""
    from aievo.mesa.baselines import scan_eta_sequence, sequence_loss
    from aievo.mesa.train import train_linear_tf

    pytest.importorskip("jax")
    tf = train_linear_tf(n_layers=1, n_heads=2, steps=600, batch=32, lr=2e-3, warmup=50, decay_steps=None,
                         end_lr=2e-5, init_std=0.02, act_clip=None, rng=0)  # RevAlg has no activation clip
    inputs, targets, _ = sample_lds(9, 1000)
    (c,) = extract_compressed(tf.layers, 10)
    params = revalg_params_from_blocks(c.qk, c.vp)
    rev = sequence_loss(revalg_one_layer(inputs, params), targets).mean()
    assert rev == pytest.approx(tf.loss(inputs, targets), abs=0.02)
    eta, _, _ = scan_eta_sequence(inputs, targets)
    assert np.sum(params[:, 1] * params[:, 4]) == pytest.approx(eta, rel=0.2)
