"""Regressors of aievo.mesa.regressors: the blog's rows against scikit-learn itself, the in-context
learners and baselines against closed forms."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import AievoError, InvalidParameterError, ShapeError
from aievo.mesa import regressors as R


def _data(seed: int, n: int = 30, p: int = 4, scale=None):
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, p))
    if scale is not None:
        X = X * np.asarray(scale)
    y = X @ g.normal(size=p) + 3.0 + 0.3 * g.normal(size=n)
    Xq = g.normal(size=(7, p)) * (1 if scale is None else np.asarray(scale))
    return X, y, Xq


seeds = st.integers(0, 2**31 - 1)


def _ols(X, y, Xq):
    A = np.hstack([np.ones((len(X), 1)), X])
    beta = np.linalg.lstsq(A, y, rcond=None)[0]  # least squares with an intercept column
    return beta[0] + Xq @ beta[1:]


# --------------------------------------------------------------------------- the blog's scikit-learn rows
#: what the blog's sklearn_regressors.py builds for each name (class name, non-default parameters)
BLOG_DEFINITIONS = {
    "ridge": [("Ridge", {})],
    "lasso": [("Lasso", {})],
    "mlp_uat_1": [("MLPRegressor", {"hidden_layer_sizes": (10,), "activation": "relu", "solver": "lbfgs"})],
    "mlp_uat_2": [("MLPRegressor", {"hidden_layer_sizes": (100,), "activation": "relu", "solver": "lbfgs"})],
    "mlp_uat_3": [("MLPRegressor", {"hidden_layer_sizes": (1000,), "activation": "relu", "solver": "lbfgs"})],
    "mlp_deep1": [("MLPRegressor", {"hidden_layer_sizes": (10, 10), "activation": "relu", "solver": "lbfgs"})],
    "mlp_deep2": [("MLPRegressor", {"hidden_layer_sizes": (10, 20, 10), "activation": "relu", "solver": "lbfgs"})],
    "mlp_deep3": [("MLPRegressor", {"hidden_layer_sizes": (10, 20, 30, 20, 10), "activation": "relu",
                                    "solver": "lbfgs"})],
    "random_forest": [("RandomForestRegressor", {"max_depth": 3})],
    "bagging": [("BaggingRegressor", {})],
    "gradient_boosting": [("GradientBoostingRegressor", {})],
    "adaboost": [("AdaBoostRegressor", {"n_estimators": 100})],
    "bayesian_regression": [("PolynomialFeatures", {"degree": 10, "include_bias": False}), ("StandardScaler", {}),
                            ("BayesianRidge", {})],
    "svm": [("SVR", {})],
    "svm_w_s": [("StandardScaler", {}), ("SVR", {})],
    "knn": [("KNeighborsRegressor", {})],
    "knn_v2": [("KNeighborsRegressor", {"weights": "distance"})],
    "knn_v3": [("KNeighborsRegressor", {"n_neighbors": 3, "weights": "distance"})],
    "knn_v4": [("KNeighborsRegressor", {"n_neighbors": 1, "weights": "distance"})],
    "knn_v5_adaptable": [("KNeighborsRegressor", {"weights": "distance"})],  # k = 5 (the default) from 7 rows
    "kernel_ridge": [("KernelRidge", {})],
}


def _steps(est):
    return [s for _, s in est.steps] if hasattr(est, "steps") else [est]


@pytest.mark.parametrize("name", sorted(BLOG_DEFINITIONS))
def test_blog_rows_are_the_blogs_estimators(name):
    pytest.importorskip("sklearn")
    X, y, _ = _data(0, n=20)
    m = R.get_regressor(name, random_state=7).fit(X, y)
    steps = _steps(m.estimator_)
    assert [type(s).__name__ for s in steps] == [c for c, _ in BLOG_DEFINITIONS[name]]
    for step, (_, params) in zip(steps, BLOG_DEFINITIONS[name]):
        default = type(step)().get_params()
        got = step.get_params()
        if "random_state" in default:
            assert got["random_state"] == 7  # the blog passed its seed to every estimator taking one
        assert {k: got[k] for k in params} == params
        changed = {k for k, v in got.items() if k != "random_state" and v != default[k]}
        assert changed <= set(params)  # nothing else differs from scikit-learn's defaults


def test_blog_names_cover_the_table():
    from aievo.mesa.regression import (
        BLOG_REGRESSORS,
        PUBLISHED_BLOG_MSE,
        REFERENCE_ONLY,
    )

    assert len(BLOG_REGRESSORS) == 24 and set(BLOG_REGRESSORS) == set(BLOG_DEFINITIONS) | {"average", "last", "random"}
    assert set(PUBLISHED_BLOG_MSE) == set(BLOG_REGRESSORS) | set(REFERENCE_ONLY)
    assert set(BLOG_REGRESSORS) <= set(R.REGRESSORS)


@pytest.mark.parametrize("name", ["mlp_uat_1", "gradient_boosting", "bagging", "svm_w_s", "bayesian_regression"])
def test_blog_rows_predict_what_scikit_learn_predicts(name):
    """Same machine, same estimator called directly on the blog's input layout: identical predictions."""
    sklearn = pytest.importorskip("sklearn")
    import warnings

    X, y, Xq = _data(3, n=40, scale=[1, 100, 0.01, 10])
    ours = R.get_regressor(name, random_state=3).fit(X, y).predict(Xq)
    est = sklearn.base.clone(R.get_regressor(name, random_state=3).fit(X, y).estimator_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(np.asfortranarray(X), y)
    np.testing.assert_array_equal(ours, est.predict(np.asfortranarray(Xq)))


def test_knn_v5_adapts_k_to_the_number_of_rows():
    pytest.importorskip("sklearn")
    g = np.random.default_rng(0)
    for n, k in [(1, 1), (2, 1), (3, 3), (6, 3), (7, 5), (20, 5)]:
        X, y = g.normal(size=(n, 2)), g.normal(size=n)
        m = R.get_regressor("knn_v5_adaptable").fit(X, y)
        assert m.estimator_.n_neighbors == k
        # brute force: inverse-distance average of the k nearest labels
        Xq = g.normal(size=(3, 2))
        d = np.linalg.norm(Xq[:, None, :] - X[None, :, :], axis=2)
        idx = np.argsort(d, axis=1, kind="stable")[:, :k]
        w = 1 / np.take_along_axis(d, idx, axis=1)
        np.testing.assert_allclose(m.predict(Xq), (w * y[idx]).sum(1) / w.sum(1), rtol=1e-12)


def test_sklearn_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.svm", None)  # makes "import sklearn.svm" fail
    X, y, _ = _data(0)
    with pytest.raises(R.MissingExtraError, match=r"aievo\[sklearn\]") as info:
        R.get_regressor("svm").fit(X, y)
    assert isinstance(info.value, AievoError) and isinstance(info.value, ImportError)


def test_sklearn_regressor_errors():
    X, y, Xq = _data(0)
    with pytest.raises(InvalidParameterError, match="name="):
        R.SklearnRegressor("nope")
    with pytest.raises(InvalidParameterError, match="random_state="):
        R.SklearnRegressor("ridge", random_state=-1)
    with pytest.raises(InvalidParameterError, match="before fit"):
        R.SklearnRegressor("ridge").predict(Xq)
    with pytest.raises(ShapeError):
        R.SklearnRegressor("ridge").fit(X, y[:-1])


@given(seeds, st.floats(-1e3, 1e3), st.sampled_from(["linear_regression", "ridge", "lasso", "knn", "knn_v2",
                                                       "knn_v5_adaptable", "kernel_ridge"]))
def test_sklearn_rows_label_shift(seed, c, name):
    """Intercept models shift with the labels; kNN predictions are label averages; kernel ridge (no
    intercept) does not shift."""
    pytest.importorskip("sklearn")
    X, y, Xq = _data(seed)
    p0 = R.get_regressor(name).fit(X, y).predict(Xq)
    p1 = R.get_regressor(name).fit(X, y + c).predict(Xq)
    if name == "kernel_ridge":
        Xp = np.vstack([X, Xq])  # closed form: X_q X^T (X X^T + I)^-1 y
        np.testing.assert_allclose(p0, Xq @ X.T @ np.linalg.solve(X @ X.T + np.eye(len(X)), y), rtol=1e-8)
        assert Xp.shape[0] == len(X) + len(Xq)
    else:
        np.testing.assert_allclose(p1, p0 + c, rtol=1e-9, atol=1e-7 * (1 + abs(c)))


def test_icl_gd_many_steps_converges_to_ols():
    """K-step GD on standardised data tends to OLS with intercept (centring = intercept)."""
    from aievo.mesa.baselines import gd_steps

    X, y, Xq = _data(5, n=40, p=3, scale=[1, 100, 0.01])
    m = R.InContextRegressor(lambda A, b, q: gd_steps(A, b, q, eta=1.0, K=3000))
    np.testing.assert_allclose(m.fit(X, y).predict(Xq), _ols(X, y, Xq), rtol=1e-7)


def test_icl_one_step_closed_form():
    """One GD step from 0 on z-scores: yhat = mean(y) + sd(y) * (1/n) sum_i t_i z_i.z_q."""
    X, y, Xq = _data(6, n=25, p=4, scale=[1, 50, 0.2, 3])
    zx = (X - X.mean(0)) / X.std(0)
    t = (y - y.mean()) / y.std()
    zq = (Xq - X.mean(0)) / X.std(0)
    expected = y.mean() + y.std() * (zq @ (zx.T @ t)) / len(X)
    np.testing.assert_allclose(R.get_icl_regressor("icl_gd_1step").fit(X, y).predict(Xq), expected, rtol=1e-10)


def test_icl_ridge_closed_form():
    X, y, Xq = _data(7, n=25, p=4)
    zx = (X - X.mean(0)) / X.std(0)
    t = (y - y.mean()) / y.std()
    zq = (Xq - X.mean(0)) / X.std(0)
    w = np.linalg.solve(zx.T @ zx + np.eye(4), zx.T @ t)
    np.testing.assert_allclose(R.get_icl_regressor("icl_ridge").fit(X, y).predict(Xq), y.mean() + y.std() * zq @ w,
                               rtol=1e-10)


def test_lsa_regressor_equals_gd_for_constructed_weights():
    """An LSA whose weights are the GD construction predicts like 1-step GD (after the scaling)."""
    d, N, eta = 10, 10, 6.0

    class Fake:
        config = {"N": N, "x_halfwidth": 0.5}
        params = {"Wq": np.eye(d + 1), "Wk": np.eye(d + 1), "Wv": np.eye(d + 1), "P": np.eye(d + 1)}

        @staticmethod
        def predict(X, y, xq):
            return (eta / N) * np.einsum("bn,bnd,bd->b", y, X, xq)

    X, y, Xq = _data(8, n=30, p=4)
    m = R.lsa_regressor(Fake()).fit(X, y)
    zx = (X - X.mean(0)) / X.std(0)
    t = (y - y.mean()) / y.std()
    zq = (Xq - X.mean(0)) / X.std(0)
    # scalings: x by 1/sqrt(12), y by sqrt(4/12), output by N/n, then back
    sx = 1 / np.sqrt(12)
    inner = (eta / N) * (zq * sx) @ ((zx * sx).T @ (t * sx * 2)) * N / len(X)
    np.testing.assert_allclose(m.predict(Xq), y.mean() + y.std() * inner / (sx * 2), rtol=1e-10)


def test_function_regressor_and_errors():
    X, y, Xq = _data(9)
    f = R.FunctionRegressor(lambda A, b, Q: np.full(len(Q), b.max()))
    assert np.all(f.fit(X, y).predict(Xq) == y.max())
    with pytest.raises(InvalidParameterError, match="name="):
        R.get_regressor("nope")
    with pytest.raises(ShapeError):
        R.Average().fit(X, y[:-1])
    with pytest.raises(ShapeError):
        R.Average().fit(X, y).predict(Xq[:, :2])
    with pytest.raises(InvalidParameterError, match="before fit"):
        R.Last().predict(Xq)
    with pytest.raises(InvalidParameterError, match="X="):
        R.Average().fit(np.full((3, 2), np.nan), np.zeros(3))
    with pytest.raises(AievoError):
        R.get_icl_regressor("nope")


def test_icl_mesa_is_ridge_with_the_query_key_included():
    """Mesa layer at the query: ridge on the context plus a (x_q, 0) row, penalty 1 (lambda = 1)."""
    X, y, Xq = _data(11, n=25, p=4)
    zx = (X - X.mean(0)) / X.std(0)
    t = (y - y.mean()) / y.std()
    zq = (Xq - X.mean(0)) / X.std(0)
    expected = []
    for q in zq:
        w = np.linalg.solve(zx.T @ zx + np.outer(q, q) + np.eye(4), zx.T @ t)
        expected.append(y.mean() + y.std() * q @ w)
    np.testing.assert_allclose(R.get_icl_regressor("icl_mesa").fit(X, y).predict(Xq), expected, rtol=1e-9)


@given(seeds, st.floats(-1e3, 1e3), st.sampled_from(["average", "last", "icl_gd_1step", "icl_ridge", "icl_mesa"]))
def test_label_shift_equivariance(seed, c, name):
    """Adding a constant to every label shifts every prediction by it (intercepts are unpenalised)."""
    X, y, Xq = _data(seed)
    make = R.get_icl_regressor if name.startswith("icl_") else R.get_regressor
    p0 = make(name).fit(X, y).predict(Xq)
    p1 = make(name).fit(X, y + c).predict(Xq)
    np.testing.assert_allclose(p1, p0 + c, rtol=1e-9, atol=1e-7 * (1 + abs(c)))


def test_baselines():
    X, y, Xq = _data(1)
    assert np.all(R.get_regressor("average").fit(X, y).predict(Xq) == np.mean(y))
    assert np.all(R.get_regressor("last").fit(X, y).predict(Xq) == y[-1])
    r = random.Random(17)
    expected = [r.choice(list(y)) for _ in range(len(Xq))]
    assert R.get_regressor("random", random_state=17).fit(X, y).predict(Xq).tolist() == expected


def test_icl_lsa_is_the_shipped_layer_the_recorded_benchmark_used():
    """icl_lsa loads a shipped LSA (no training, no JAX): it reproduces the recorded result's per-seed MSEs.

    Only the summation order of BLAS can differ from the recording machine: 1e-9 relative.
    """
    import json

    from aievo.mesa import regression as RG

    meta = json.loads(R.ICL_LSA_FILE.with_suffix(".json").read_text())
    assert meta["config"]["steps"] == 3000 and "benchmarks/_numpy_trainer.py" in meta["recipe"]
    rec = RG.figure_result()
    now = RG.regression_benchmark("original2", ["icl_lsa"], seeds=range(2), protocol="consistent", progress=False)
    np.testing.assert_allclose(now.metrics[0, :, 0], rec.metrics[rec.methods.index("icl_lsa"), :2, 0], rtol=1e-9)
