"""Learners of the design space against independent oracles (closed forms, token dynamics, scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest

from aievo.errors import InvalidParameterError
from aievo.evolving import (
    GD,
    KNN,
    LSA,
    Branch,
    ContextLength,
    InputRange,
    MesaLayer,
    Ridge,
    TrainedLSA,
)
from aievo.mesa import (
    concat_tokens,
    gdpp_weights,
    lsa_forward,
    regression_readout,
    sample_regression_tasks,
    train_lsa,
)


@pytest.fixture(scope="module")
def tasks():
    X, y, xq, _, _ = sample_regression_tasks(3, 64, 3, 12, x_halfwidth=0.8, noise=0.1)
    return X, y, xq


def gd_closed_form(X, y, xq, eta, K):
    """W_K = (I - (I - eta H)^K) H^{-1} b with H = X^T X / N, b = X^T y / N (W_0 = 0)."""
    B, N, d = X.shape
    out = np.empty(B)
    for b in range(B):
        H = X[b].T @ X[b] / N
        g = X[b].T @ y[b] / N
        A = np.linalg.matrix_power(np.eye(d) - eta * H, K)
        W = (np.eye(d) - A) @ np.linalg.solve(H, g)
        out[b] = W @ xq[b]
    return out


@pytest.mark.parametrize("eta,K", [(0.5, 1), (2.0, 3), (8.0, 2)])
def test_gd_equals_closed_form(tasks, eta, K):
    np.testing.assert_allclose(GD(eta, K).predict(*tasks), gd_closed_form(*tasks, eta, K), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("gamma", [0.01, 0.05])
def test_gdpp_equals_its_lsa_token_dynamics(tasks, gamma):
    X, y, xq = tasks
    _, N, d = X.shape
    E = lsa_forward(concat_tokens(X, y, xq), [gdpp_weights(d, N, 1.5, gamma)] * 3, n_context=N)
    np.testing.assert_allclose(GD(1.5, 3, gamma).predict(X, y, xq), regression_readout(E), rtol=1e-9, atol=1e-12)


def test_lsa_is_gd_at_its_context_length_and_rescaled_elsewhere(tasks):
    X, y, xq = tasks
    N = X.shape[1]
    np.testing.assert_allclose(LSA(2.0, 3, N).predict(X, y, xq), gd_closed_form(X, y, xq, 2.0, 3), rtol=1e-9)
    # built for N/2 = 6 pairs, run on 12: the step on the sum doubles
    np.testing.assert_allclose(LSA(1.0, 2, N // 2).predict(X, y, xq), gd_closed_form(X, y, xq, 2.0, 2), rtol=1e-9)


def test_ridge_and_mesa_layer_match_scikit_learn(tasks):
    sk = pytest.importorskip("sklearn.linear_model")
    X, y, xq = tasks
    lam = 0.3
    ref = np.array([sk.Ridge(alpha=lam, fit_intercept=False).fit(X[b], y[b]).predict(xq[b][None])[0]
                    for b in range(X.shape[0])])
    np.testing.assert_allclose(Ridge(lam).predict(X, y, xq), ref, rtol=1e-8)
    np.testing.assert_allclose(MesaLayer(1 / lam).predict(X, y, xq), ref, rtol=1e-8)


def test_knn_matches_scikit_learn(tasks):
    sk = pytest.importorskip("sklearn.neighbors")
    X, y, xq = tasks
    ref = np.array([sk.KNeighborsRegressor(3).fit(X[b], y[b]).predict(xq[b][None])[0] for b in range(X.shape[0])])
    np.testing.assert_allclose(KNN(3).predict(X, y, xq), ref, rtol=1e-12)


def test_branch_runs_inside_on_detected_tasks_only():
    Xn, yn, qn, _, _ = sample_regression_tasks(0, 20, 2, 10, x_halfwidth=0.5)
    Xw, yw, qw, _, _ = sample_regression_tasks(1, 20, 2, 10, x_halfwidth=1.5)
    X, y, xq = np.concatenate([Xn, Xw]), np.concatenate([yn, yw]), np.concatenate([qn, qw])
    det = InputRange(0.5)
    mask = det.detects(X, y, xq)
    assert mask[:20].all() and not mask[20:].any()
    inside, outside = GD(8.0, 3), Ridge(0.01)
    out = Branch(det, inside, outside).predict(X, y, xq)
    np.testing.assert_array_equal(out[:20], inside.predict(Xn, yn, qn))
    np.testing.assert_array_equal(out[20:], outside.predict(Xw, yw, qw))


def test_context_length_detector():
    X, y, xq, _, _ = sample_regression_tasks(0, 5, 2, 10)
    assert ContextLength(10).detects(X, y, xq).all()
    assert not ContextLength(11).detects(X, y, xq).any()


@pytest.mark.parametrize(
    "make,arg",
    [(lambda: GD(-1.0, 1), "eta"), (lambda: GD(1.0, 0), "K"), (lambda: GD(1.0, 1, gamma=-0.1), "gamma"),
     (lambda: Ridge(0.0), "lam"), (lambda: KNN(0), "k"), (lambda: LSA(1.0, 1, 0), "N"),
     (lambda: InputRange(0.0), "halfwidth"), (lambda: TrainedLSA(-1.0), "x_halfwidth"),
     (lambda: TrainedLSA(1.0, steps=0), "steps"),
     (lambda: Branch(InputRange(0.5), Branch(InputRange(0.5), GD(1.0, 1), GD(1.0, 1)), GD(1.0, 1)), "inside")],
)
def test_bad_parameters_are_refused_by_name(make, arg):
    with pytest.raises(InvalidParameterError, match=rf"^{arg}="):
        make()


def test_learners_are_hashable_values():
    assert GD(1.0, 2) == GD(1, 2) and hash(GD(1.0, 2)) == hash(GD(1, 2))
    assert len({Branch(InputRange(0.5), GD(1.0, 1), GD(2.0, 1)), Branch(InputRange(0.5), GD(1.0, 1), GD(2.0, 1))}) == 1


def test_trained_lsa_is_the_layer_train_lsa_trains(tasks):
    pytest.importorskip("jax")  # the layer is trained through the JAX layer
    X, y, xq = tasks
    learner = TrainedLSA(0.8, N=12, steps=40, batch=16, lr=0.02, seed=3)
    ref = train_lsa(d=3, N=12, steps=40, batch=16, lr=0.02, x_halfwidth=0.8, eval_every=40, eval_tasks=100, rng=3)
    np.testing.assert_array_equal(learner.predict(X, y, xq), ref.predict(X, y, xq))
    assert learner.model(3) is learner.model(3)  # trained once
