"""SPD, implicit weights and ILWD (Akyürek et al. 2022) against closed forms; SGD and fake LSQ against plain loops."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.baselines import fake_lsq_predict, gd_steps, knn_predict, ols_minnorm, ridge_predict, sgd_predict
from aievo.mesa.implicit import ilwd, implicit_weights, learner_queries, online_predictions, spd
from aievo.mesa.nn.config import InterleavedRegressionTask


def _prompts(B=200, d=4, N=10, noise=0.0, seed=0):
    return InterleavedRegressionTask(d=d, N=N, noise=noise).sample_raw(np.random.default_rng(seed), B)


def _probes(B, N, m, d, seed=1):
    return np.random.default_rng(seed).standard_normal((B, N, m, d))


def test_sgd_matches_a_plain_loop_one_prompt_at_a_time():
    g = np.random.default_rng(3)
    X, y, xq = g.normal(size=(5, 7, 3)), g.normal(size=(5, 7)), g.normal(size=(5, 3))
    yhat, W = sgd_predict(X, y, xq, 0.05, return_weights=True)
    for b in range(5):
        w = [0.0, 0.0, 0.0]
        for i in range(7):
            r = y[b, i] - sum(w[k] * X[b, i, k] for k in range(3))
            w = [w[k] + 2 * 0.05 * r * X[b, i, k] for k in range(3)]
        np.testing.assert_allclose(W[b], w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(yhat[b], sum(w[k] * xq[b, k] for k in range(3)), rtol=1e-12, atol=1e-14)


def test_fake_lsq_is_moment_over_n_and_one_gd_step_with_eta_one():
    g = np.random.default_rng(4)
    X, y, xq = g.normal(size=(6, 5, 3)), g.normal(size=(6, 5)), g.normal(size=(6, 3))
    _, W = fake_lsq_predict(X, y, xq, return_weights=True)
    np.testing.assert_allclose(W, np.stack([X[b].T @ y[b] / 5 for b in range(6)]), rtol=1e-13)
    np.testing.assert_allclose(fake_lsq_predict(X, y, xq), gd_steps(X, y, xq, 1.0, 1), rtol=1e-12, atol=1e-13)


def test_ridge_weights_solve_the_augmented_least_squares_problem():
    g = np.random.default_rng(5)
    X, y, xq = g.normal(size=(4, 6, 3)), g.normal(size=(4, 6)), g.normal(size=(4, 3))
    _, W = ridge_predict(X, y, xq, 0.7, return_weights=True)
    for b in range(4):  # min ||Xw - y||^2 + lam ||w||^2 == lstsq on [X; sqrt(lam) I], [y; 0]
        A = np.vstack([X[b], np.sqrt(0.7) * np.eye(3)])
        w = np.linalg.lstsq(A, np.concatenate([y[b], np.zeros(3)]), rcond=None)[0]
        np.testing.assert_allclose(W[b], w, rtol=1e-10)


def test_online_predictions_use_only_the_earlier_pairs():
    X, y, _ = _prompts(B=8, N=6)
    pred = online_predictions(learner_queries(ols_minnorm), X, y)
    assert np.all(pred[:, 0] == 0)  # no context: predicts 0
    for i in range(1, 6):
        np.testing.assert_allclose(pred[:, i], ols_minnorm(X[:, :i], y[:, :i], X[:, i]), rtol=1e-12)
    y2 = y.copy()
    y2[:, 3:] += 100.0  # later labels must not change earlier predictions
    np.testing.assert_array_equal(online_predictions(learner_queries(ols_minnorm), X, y2)[:, :4], pred[:, :4])


def test_knn_neighbours_are_capped_at_the_context_size():
    X, y, _ = _prompts(B=5, N=5)
    pred = online_predictions(learner_queries(knn_predict, k=3), X, y)
    np.testing.assert_allclose(pred[:, 1], y[:, 0])  # one pair: its label
    np.testing.assert_allclose(pred[:, 2], y[:, :2].mean(axis=1))  # two pairs, k capped at 2


def test_spd_of_vanishing_ridge_and_ols_is_zero_once_n_reaches_d():
    d, N = 4, 10
    X, y, _ = _prompts(d=d, N=N, noise=0.5)
    a = online_predictions(learner_queries(ridge_predict, lam=1e-9), X, y)
    b = online_predictions(learner_queries(ols_minnorm), X, y)
    s = spd(a, b)
    # n >= d + 1 pairs: X^T X is well conditioned, ridge(1e-9) = OLS to ~1e-9 relative
    assert np.all(s[d + 1:] < 1e-10)
    assert s[0] == 0.0


def test_implicit_weights_of_a_linear_learner_are_its_weights():
    d, N, m = 3, 7, 5
    X, y, _ = _prompts(B=20, d=d, N=N, noise=0.3)
    W = implicit_weights(learner_queries(ridge_predict, lam=0.5), X, y, _probes(20, N, m, d))
    for i in range(1, N):
        _, Wi = ridge_predict(X[:, :i], y[:, :i], X[:, i], 0.5, return_weights=True)
        np.testing.assert_allclose(W[:, i], Wi, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(W[:, 0], 0.0, atol=1e-15)


def test_ilwd_of_ols_against_the_true_weights_closed_form():
    d, N, B = 4, 8, 2000
    X, y, w = _prompts(B=B, d=d, N=N)
    W = implicit_weights(learner_queries(ols_minnorm), X, y, _probes(B, N, d, d))
    dist = ilwd(W, np.broadcast_to(w[:, None, :], W.shape))
    # noiseless, n >= d pairs: OLS recovers w exactly (rounding only)
    assert np.all(dist[d:] < 1e-16 * 1e6)
    # n < d pairs: min-norm OLS is the projection of w on span(x_1..x_n),
    # so E||w - Pw||^2 = d - n for w ~ N(0, I); chi-square with d - n dof, 5 standard errors
    for n in range(d):
        assert abs(dist[n] - (d - n)) < 5 * np.sqrt(2 * (d - n) / B)


def test_a_learner_against_itself_is_zero_and_the_metrics_are_symmetric():
    X, y, _ = _prompts(B=30, N=6)
    P = _probes(30, 6, 4, 4)
    a, b = learner_queries(sgd_predict, lr=0.1), learner_queries(fake_lsq_predict)
    Wa, Wb = implicit_weights(a, X, y, P), implicit_weights(b, X, y, P)
    pa, pb = online_predictions(a, X, y), online_predictions(b, X, y)
    assert np.all(ilwd(Wa, Wa) == 0) and np.all(spd(pa, pa) == 0)
    np.testing.assert_array_equal(ilwd(Wa, Wb), ilwd(Wb, Wa))
    np.testing.assert_array_equal(spd(pa, pb), spd(pb, pa))


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 5), st.integers(1, 6), st.floats(-3, 3), st.integers(0, 10_000))
def test_spd_of_a_shifted_predictor_is_the_squared_shift(B, N, c, seed):
    a = np.random.default_rng(seed).normal(size=(B, N))
    np.testing.assert_allclose(spd(a, a + c), np.full(N, c * c), rtol=1e-12, atol=1e-12)


def test_bad_shapes_are_refused():
    X, y, _ = _prompts(B=4, N=5)
    with pytest.raises(ShapeError, match="probes.shape"):
        implicit_weights(learner_queries(ols_minnorm), X, y, _probes(4, 5, 2, 4))  # m < d
    with pytest.raises(ShapeError, match="pred_b.shape"):
        spd(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(InvalidParameterError, match="lr="):
        sgd_predict(X, y, X[:, 0], -0.1)
