"""Regressors of aievo.mesa.regressors against closed forms and brute force."""

from __future__ import annotations

import itertools
import math
import random

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


@given(seeds)
def test_linear_regression_normal_equations(seed):
    X, y, Xq = _data(seed)
    A = np.hstack([np.ones((len(X), 1)), X])
    beta = np.linalg.solve(A.T @ A, A.T @ y)  # normal equations with an intercept column
    pred = R.LinearRegression().fit(X, y).predict(Xq)
    np.testing.assert_allclose(pred, beta[0] + Xq @ beta[1:], rtol=1e-9, atol=1e-9)


@given(seeds, st.floats(0.01, 100.0))
def test_ridge_unpenalised_intercept(seed, alpha):
    X, y, Xq = _data(seed, scale=[1, 10, 100, 0.1])
    # full problem: min ||y - A beta||^2 + alpha * ||beta[1:]||^2, intercept not penalised
    A = np.hstack([np.ones((len(X), 1)), X])
    D = np.diag([0.0] + [alpha] * X.shape[1])
    beta = np.linalg.solve(A.T @ A + D, A.T @ y)
    m = R.Ridge(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(m.predict(Xq), beta[0] + Xq @ beta[1:], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(m.coef_, beta[1:], rtol=1e-8, atol=1e-10)


@given(seeds, st.floats(0.01, 2.0))
def test_lasso_kkt_conditions(seed, alpha):
    X, y, _ = _data(seed, n=40, p=5)
    m = R.Lasso(alpha=alpha, tol=1e-10, max_iter=100000).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    grad = Xc.T @ (yc - Xc @ m.coef_) / len(X)  # subgradient condition of (1/2n)||r||^2 + alpha|w|_1
    active = m.coef_ != 0
    np.testing.assert_allclose(grad[active], alpha * np.sign(m.coef_[active]), atol=1e-6)
    assert np.all(np.abs(grad[~active]) <= alpha + 1e-6)
    assert m.intercept_ == pytest.approx(y.mean() - X.mean(0) @ m.coef_)


def test_lasso_orthogonal_design_is_soft_thresholding():
    g = np.random.default_rng(3)
    n, p = 50, 4
    Q, _ = np.linalg.qr(g.normal(size=(n, p)))
    Xc = Q - Q.mean(0)
    Q2, _ = np.linalg.qr(Xc)  # centred orthonormal columns
    X = Q2 * np.sqrt(n)  # X^T X / n = I, mean zero
    y = X @ np.array([2.0, -0.5, 0.05, 1.0]) + 0.01 * g.normal(size=n)
    alpha = 0.3
    z = X.T @ (y - y.mean()) / n
    expected = np.sign(z) * np.maximum(np.abs(z) - alpha, 0.0)
    m = R.Lasso(alpha=alpha, tol=1e-12).fit(X, y)
    np.testing.assert_allclose(m.coef_, expected, atol=1e-9)


@given(seeds, st.floats(0.1, 10.0))
def test_kernel_ridge_is_primal_ridge_without_intercept(seed, alpha):
    X, y, Xq = _data(seed)
    w = np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ y)
    np.testing.assert_allclose(R.KernelRidge(alpha).fit(X, y).predict(Xq), Xq @ w, rtol=1e-8, atol=1e-8)


def _knn_brute(X, y, Xq, k, weights):
    out = []
    for q in Xq:
        d = sorted((math.dist(q, x), i) for i, x in enumerate(X))[:k]  # ties by training index
        ys = [y[i] for _, i in d]
        if weights == "uniform":
            out.append(sum(ys) / k)
        elif any(di == 0.0 for di, _ in d):
            zs = [y[i] for di, i in d if di == 0.0]
            out.append(sum(zs) / len(zs))
        else:
            w = [1 / di for di, _ in d]
            out.append(sum(wi * yi for wi, yi in zip(w, ys)) / sum(w))
    return np.array(out)


@given(seeds, st.integers(1, 7), st.sampled_from(["uniform", "distance"]))
def test_knn_brute_force(seed, k, weights):
    g = np.random.default_rng(seed)
    X = np.round(g.uniform(0, 3, size=(20, 3)), 0)  # coarse grid: many exact ties
    y = g.normal(size=20)
    Xq = np.vstack([X[:3], np.round(g.uniform(0, 3, size=(4, 3)), 0), g.uniform(0, 3, size=(3, 3))])
    pred = R.KNN(k, weights).fit(X, y).predict(Xq)
    np.testing.assert_allclose(pred, _knn_brute(X, y, Xq, k, weights), rtol=1e-12, atol=1e-12)


def test_knn_exact_matches_are_averaged():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [5.0, 5.0]])
    y = np.array([1.0, 10.0, 3.0, 100.0])
    assert R.KNN(3, "distance").fit(X, y).predict([[0.0, 0.0]])[0] == pytest.approx(2.0)


def test_registry_knn_variants_and_adaptive_k():
    spec = {"knn": (5, "uniform"), "knn_v2": (5, "distance"), "knn_v3": (3, "distance"), "knn_v4": (1, "distance")}
    for name, (k, w) in spec.items():
        m = R.get_regressor(name)
        assert (m.n_neighbors, m.weights) == (k, w)
    g = np.random.default_rng(0)
    for n, k in [(1, 1), (2, 1), (3, 3), (6, 3), (7, 5), (20, 5)]:
        X, y = g.normal(size=(n, 2)), g.normal(size=n)
        Xq = g.normal(size=(4, 2))
        m = R.get_regressor("knn_v5_adaptable").fit(X, y)
        assert m.n_neighbors == k
        np.testing.assert_allclose(m.predict(Xq), _knn_brute(X, y, Xq, k, "distance"), rtol=1e-12)


def test_baselines():
    X, y, Xq = _data(1)
    assert np.all(R.get_regressor("average").fit(X, y).predict(Xq) == np.mean(y))
    assert np.all(R.get_regressor("last").fit(X, y).predict(Xq) == y[-1])
    r = random.Random(17)
    expected = [r.choice(list(y)) for _ in range(len(Xq))]
    assert R.get_regressor("random", seed=17).fit(X, y).predict(Xq).tolist() == expected


def test_polynomial_features_monomials():
    X = np.array([[2.0, 3.0], [-1.0, 0.5]])
    a, b = X[:, 0], X[:, 1]
    np.testing.assert_allclose(R.polynomial_features(X, 2), np.column_stack([a, b, a * a, a * b, b * b]))
    F = R.polynomial_features(np.ones((1, 4)) * 2.0, 10)
    assert F.shape == (1, math.comb(14, 4) - 1)  # all monomials of degree 1..10 in 4 variables
    degrees = [d for d in range(1, 11) for _ in itertools.combinations_with_replacement(range(4), d)]
    np.testing.assert_allclose(F[0], 2.0 ** np.array(degrees))


@pytest.mark.parametrize("n", [20, 60])
def test_bayesian_ridge_fixed_point(n):
    """At convergence: coef is the posterior mean and (alpha, lambda) satisfy MacKay's updates."""
    g = np.random.default_rng(n)
    X = g.uniform(size=(n, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.05 * g.normal(size=n)
    m = R.BayesianPolyRidge(degree=4, tol=1e-12, max_iter=5000).fit(X, y)
    F = R.polynomial_features(X, 4)
    Z = (F - F.mean(0)) / F.std(0)
    Zc, yc = Z - Z.mean(0), y - y.mean()
    A = m.lambda_ * np.eye(Z.shape[1]) + m.alpha_ * Zc.T @ Zc
    post_mean = m.alpha_ * np.linalg.solve(A, Zc.T @ yc)
    np.testing.assert_allclose(m.coef_, post_mean, rtol=1e-6, atol=1e-8)
    eig = np.linalg.eigvalsh(Zc.T @ Zc)
    gamma = np.sum(m.alpha_ * eig / (m.lambda_ + m.alpha_ * eig))
    rss = np.sum((yc - Zc @ m.coef_) ** 2)
    assert m.lambda_ == pytest.approx((gamma + 2e-6) / (m.coef_ @ m.coef_ + 2e-6), rel=1e-4)
    assert m.alpha_ == pytest.approx((n - gamma + 2e-6) / (rss + 2e-6), rel=1e-4)
    Fq = R.polynomial_features(X[:3], 4)
    Zq = (Fq - F.mean(0)) / F.std(0)
    np.testing.assert_allclose(m.predict(X[:3]), y.mean() + (Zq - Z.mean(0)) @ m.coef_, rtol=1e-9)


def test_icl_gd_many_steps_converges_to_ols():
    """K-step GD on standardised data tends to OLS with intercept (centring = intercept)."""
    from aievo.mesa.baselines import gd_steps

    X, y, Xq = _data(5, n=40, p=3, scale=[1, 100, 0.01])
    m = R.InContextRegressor(lambda A, b, q: gd_steps(A, b, q, eta=1.0, K=3000))
    np.testing.assert_allclose(m.fit(X, y).predict(Xq), R.LinearRegression().fit(X, y).predict(Xq), rtol=1e-7)


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
    with pytest.raises(InvalidParameterError, match="alpha="):
        R.Ridge(alpha=-1).fit(X, y)
    with pytest.raises(ShapeError):
        R.Ridge().fit(X, y[:-1])
    with pytest.raises(ShapeError):
        R.Ridge().fit(X, y).predict(Xq[:, :2])
    with pytest.raises(InvalidParameterError, match="before fit"):
        R.KNN().predict(Xq)
    with pytest.raises(InvalidParameterError, match="n_neighbors="):
        R.KNN(50).fit(X, y)
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


@given(seeds, st.floats(-1e3, 1e3), st.sampled_from(["linear_regression", "ridge", "lasso", "knn", "knn_v2",
                                                       "knn_v5_adaptable", "average", "last", "icl_gd_1step",
                                                       "icl_ridge", "icl_mesa"]))
def test_label_shift_equivariance(seed, c, name):
    """Adding a constant to every label shifts every prediction by it (intercepts are unpenalised)."""
    X, y, Xq = _data(seed)
    make = R.get_icl_regressor if name.startswith("icl_") else R.get_regressor
    p0 = make(name).fit(X, y).predict(Xq)
    p1 = make(name).fit(X, y + c).predict(Xq)
    np.testing.assert_allclose(p1, p0 + c, rtol=1e-9, atol=1e-7 * (1 + abs(c)))


# --------------------------------------------------------------------------- gradient boosting
from aievo.mesa import _gbrt as GB  # noqa: E402


def _brute_best_reduction(X: np.ndarray, r: np.ndarray) -> float:
    """Largest drop in the sum of squared deviations over every feature and every cut between distinct values."""
    sse = lambda v: float(np.sum((v - v.mean()) ** 2)) if v.size else 0.0  # noqa: E731
    best = 0.0
    for j in range(X.shape[1]):
        vals = np.unique(X[:, j])
        for lo, hi in zip(vals[:-1], vals[1:]):
            thr = (lo + hi) / 2
            left = X[:, j] <= thr
            best = max(best, sse(r) - sse(r[left]) - sse(r[~left]))
    return best


small_data = st.tuples(st.integers(2, 12), st.integers(1, 3), st.integers(0, 2**31 - 1), st.booleans())


def _small(args):
    n, p, seed, ties = args
    g = np.random.default_rng(seed)
    X = g.integers(0, 4, size=(n, p)).astype(np.float64) if ties else g.uniform(0, 10, size=(n, p))
    return X.astype(np.float32).astype(np.float64), g.normal(size=n)


@given(small_data)
def test_best_split_is_the_brute_force_optimum(args):
    """Friedman's proxy is n times the drop in squared error, maximised over all cuts."""
    X, r = _small(args)
    found = GB.best_split(X, r)
    best = _brute_best_reduction(X, r)
    if all(np.unique(X[:, j]).size == 1 for j in range(X.shape[1])):
        assert found is None
        return
    f, thr, proxy = found
    assert proxy / len(r) == pytest.approx(best, rel=1e-9, abs=1e-12)
    left = X[:, f] <= thr
    sse = lambda v: float(np.sum((v - v.mean()) ** 2))  # noqa: E731
    assert sse(r) - sse(r[left]) - sse(r[~left]) == pytest.approx(best, rel=1e-9, abs=1e-12)


@given(small_data, st.sampled_from([None, 7]))
def test_tree_nodes_are_greedy_brute_force_splits(args, rand_seed):
    """Every internal node holds the best cut of the rows reaching it; every leaf holds their mean."""
    X, r = _small(args)
    tree = GB.fit_tree(X, r, max_depth=3, rand_seed=rand_seed)
    for node in range(len(tree.value)):
        path_rows = []
        for i in range(len(r)):  # rows whose path passes through `node`
            cur = 0
            while cur != node and tree.left[cur] >= 0:
                cur = tree.left[cur] if X[i, tree.feature[cur]] <= tree.threshold[cur] else tree.right[cur]
            if cur == node:
                path_rows.append(i)
        rows = np.array(path_rows)
        assert rows.size == tree.n_samples[node]
        assert tree.value[node] == pytest.approx(r[rows].mean(), rel=1e-12, abs=1e-12)
        if tree.left[node] >= 0:
            Xs, rs = X[rows], r[rows]
            left = Xs[:, tree.feature[node]] <= tree.threshold[node]
            sse = lambda v: float(np.sum((v - v.mean()) ** 2))  # noqa: E731
            got = sse(rs) - sse(rs[left]) - sse(rs[~left])
            assert got == pytest.approx(_brute_best_reduction(Xs, rs), rel=1e-9, abs=1e-12)


def test_gradient_boosting_one_stump_closed_form():
    """One stage, learning rate 1, depth 1: mean 5, residuals -5/+5 split at 1.5, so predictions are exact."""
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0.0, 0.0, 10.0, 10.0])
    m = GB.GradientBoosting(n_estimators=1, learning_rate=1.0, max_depth=1).fit(X, y)
    assert m.init_ == 5.0
    assert m.estimators_[0].threshold[0] == 1.5
    np.testing.assert_array_equal(m.predict(np.array([[-1.0], [1.4], [1.6], [9.0]])), [0.0, 0.0, 10.0, 10.0])
    # shrinkage: each stage removes the fraction lr of the remaining residual in each leaf
    lr = 0.1
    m2 = GB.GradientBoosting(n_estimators=3, learning_rate=lr, max_depth=1).fit(X, y)
    np.testing.assert_allclose(m2.predict(X), 5.0 + np.array([-5, -5, 5, 5]) * (1 - (1 - lr) ** 3), rtol=1e-12)


def test_gradient_boosting_deep_tree_interpolates_and_float32_merges():
    g = np.random.default_rng(3)
    X = g.uniform(size=(16, 2))
    y = g.normal(size=16) * 100
    m = GB.GradientBoosting(n_estimators=1, learning_rate=1.0, max_depth=16).fit(X, y)
    np.testing.assert_allclose(m.predict(X), y, rtol=1e-10, atol=1e-10)
    # values that differ only beyond float32 precision cannot be separated (scikit-learn works in float32)
    Xc = np.array([[1.0], [1.0 + 1e-9]])
    np.testing.assert_array_equal(GB.GradientBoosting().fit(Xc, [0.0, 1.0]).predict(Xc), [0.5, 0.5])


def test_rand_r_is_xorshift32():
    """scikit-learn's our_rand_r is Marsaglia's xorshift32 (13, 17, 5): from state 1 it gives 270369."""
    r = GB._RandR(1)
    assert r.rand_int(0, 2**31) == 270369
    state = 270369
    for _ in range(5):  # the recurrence, written independently
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        assert r.rand_int(0, 2**31) == state % 2**31


def test_gradient_boosting_errors():
    X, y, _ = _data(1)
    for kwargs, name in [({"n_estimators": 0}, "n_estimators="), ({"learning_rate": -1.0}, "learning_rate="),
                         ({"max_depth": 0}, "max_depth="), ({"feature_order": "random"}, "feature_order="),
                         ({"min_samples_split": 1}, "min_samples_split=")]:
        with pytest.raises(InvalidParameterError, match=name):
            GB.GradientBoosting(**kwargs).fit(X, y)
    with pytest.raises(InvalidParameterError, match="before fit"):
        GB.GradientBoosting().predict(X)
    assert isinstance(R.get_regressor("gradient_boosting", 3), GB.GradientBoosting)
    assert R.get_regressor("gradient_boosting", 3).random_state == 3
