"""Classical regressors in numpy, under one fit/predict interface, with a registry by name.

Each regressor is a small object with ``fit(X, y) -> self`` and ``predict(X) -> ndarray``
(``X`` of shape ``(n, p)``, ``y`` of shape ``(n,)``).  :func:`get_regressor` builds one from
its registry name and a seed; :data:`REGRESSORS` lists the names.  The definitions follow
scikit-learn's defaults (the optim_hunter blog experiment used those), so that the blog's
published averages can be reproduced without depending on scikit-learn:

* ``linear_regression`` -- ordinary least squares with an intercept (centred lstsq).
* ``ridge`` -- penalty ``alpha * ||w||^2`` with ``alpha = 1``, intercept unpenalised (centred).
* ``lasso`` -- objective ``(1/(2n)) ||y - Xw - b||^2 + alpha ||w||_1``, ``alpha = 1``, cyclic
  coordinate descent stopped by the duality gap (``tol = 1e-4``, ``max_iter = 1000``).
* ``kernel_ridge`` -- linear kernel, ``alpha = 1``, no intercept: ``K_* (K + alpha I)^{-1} y``.
* ``bayesian_regression`` -- degree-10 polynomial features (no bias column), standardised,
  then evidence-maximising Bayesian ridge (Gamma(1e-6, 1e-6) hyper-priors, ``tol = 1e-3``,
  at most 300 iterations).
* ``knn`` (k = 5, uniform), ``knn_v2`` (k = 5, distance), ``knn_v3`` (k = 3, distance),
  ``knn_v4`` (k = 1, distance), ``knn_v5_adaptable`` (distance; k = 1 below 3 training rows,
  3 below 7, else 5).  Euclidean distance; equal distances are broken by training-row order
  (stable sort); with distance weights a query at distance zero from training rows predicts
  the plain mean of those rows (scikit-learn's rule).
* ``gradient_boosting`` -- scikit-learn's ``GradientBoostingRegressor()`` (squared error, 100
  stages of depth-3 trees, learning rate 0.1, ties between equally good splits broken by
  scikit-learn's seeded random feature order); implemented in :mod:`aievo.mesa._gbrt`.
* baselines ``average`` (training mean), ``last`` (last training label) and ``random``
  (``random.Random(seed).choice`` of the training labels, one draw per test row).

The package's in-context learners are wrapped under the same interface by
:class:`InContextRegressor` (names in :func:`icl_regressor_names`, built by
:func:`get_icl_regressor`): ``fit`` only stores the context, ``predict`` runs the learner's
forward pass with the stored rows as context and each test row as the query.  The raw
Friedman features live on very different scales (``x1`` is in the hundreds, ``x2`` below 2), so
these learners see *standardised* data: every feature and the label are centred and divided
by their standard deviation over the context rows (a constant column is only centred), and
the prediction is mapped back (times the label's standard deviation, plus its mean).  The
centring plays the role of an intercept; see :func:`icl_regressor_scaling` for each learner.
"""

from __future__ import annotations

import itertools
import random as _random
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument

__all__ = [
    "Regressor",
    "LinearRegression",
    "Ridge",
    "Lasso",
    "KernelRidge",
    "BayesianPolyRidge",
    "KNN",
    "AdaptiveKNN",
    "Average",
    "Last",
    "RandomChoice",
    "FunctionRegressor",
    "REGRESSORS",
    "get_regressor",
    "check_xy",
    "polynomial_features",
    "InContextRegressor",
    "lsa_regressor",
    "icl_regressor_names",
    "icl_regressor_scaling",
    "get_icl_regressor",
]


class Regressor(Protocol):
    """What every regressor provides: ``fit(X, y)`` returning itself, then ``predict(X)``."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Regressor": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


def check_xy(X, y=None, *, n_features: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a design matrix (and labels) and return them as float64 arrays.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Inputs, finite, at least one row.
    y : array_like, shape (n,), optional
        Labels, finite, one per row of ``X``.
    n_features : int, optional
        Required number of columns (the number seen at fit time).

    Returns
    -------
    (ndarray, ndarray or None)
        ``X`` as a 2-D float64 array and ``y`` as a 1-D float64 array.
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2 or Xa.shape[0] < 1 or Xa.shape[1] < 1:
        raise ShapeError(f"X has shape {Xa.shape}: expected a 2-D array with at least one row and column")
    if not np.all(np.isfinite(Xa)):
        raise bad_argument(InvalidParameterError, "X", "array with non-finite entries", "finite values")
    if n_features is not None and Xa.shape[1] != n_features:
        raise ShapeError(f"X has {Xa.shape[1]} columns: expected {n_features}, as at fit time")
    if y is None:
        return Xa, None
    ya = np.asarray(y, dtype=np.float64)
    if ya.ndim != 1 or ya.shape[0] != Xa.shape[0]:
        raise ShapeError(f"y has shape {ya.shape}: expected ({Xa.shape[0]},), one label per row of X")
    if not np.all(np.isfinite(ya)):
        raise bad_argument(InvalidParameterError, "y", "array with non-finite entries", "finite values")
    return Xa, ya


class _Fitted:
    """Mixin: remembers the number of features and refuses ``predict`` before ``fit``."""

    _n_features: int | None = None

    def _check_predict(self, X) -> np.ndarray:
        if self._n_features is None:
            raise InvalidParameterError(f"{type(self).__name__}.predict called before fit: call fit(X, y) first")
        return check_xy(X, n_features=self._n_features)[0]


def _check_alpha(alpha: float, name: str = "alpha", allow_zero: bool = False) -> float:
    a = float(alpha)
    if not np.isfinite(a) or a < 0 or (a == 0 and not allow_zero):
        raise bad_argument(InvalidParameterError, name, alpha, "a finite number > 0" if not allow_zero else ">= 0")
    return a


class _Linear(_Fitted):
    coef_: np.ndarray
    intercept_: float

    def predict(self, X) -> np.ndarray:
        """Predict ``X @ coef_ + intercept_``."""
        Xa = self._check_predict(X)
        return Xa @ self.coef_ + self.intercept_


class LinearRegression(_Linear):
    """Ordinary least squares with an intercept (minimum-norm solution on centred data)."""

    def fit(self, X, y) -> "LinearRegression":
        """Fit on ``(X, y)``; returns ``self``."""
        Xa, ya = check_xy(X, y)
        xm, ym = Xa.mean(axis=0), ya.mean()
        self.coef_ = np.linalg.lstsq(Xa - xm, ya - ym, rcond=None)[0]
        self.intercept_ = float(ym - xm @ self.coef_)
        self._n_features = Xa.shape[1]
        return self


@dataclass
class Ridge(_Linear):
    """Ridge regression, ``min ||y - Xw - b||^2 + alpha ||w||^2`` (intercept ``b`` not penalised).

    Solved through the normal equations of the centred problem,
    ``(Xc^T Xc + alpha I) w = Xc^T yc`` (Cholesky), ``b = mean(y) - mean(X) w``.
    """

    alpha: float = 1.0

    def fit(self, X, y) -> "Ridge":
        """Fit on ``(X, y)``; returns ``self``."""
        a = _check_alpha(self.alpha)
        Xa, ya = check_xy(X, y)
        xm, ym = Xa.mean(axis=0), ya.mean()
        Xc = Xa - xm
        A = Xc.T @ Xc + a * np.eye(Xa.shape[1])
        c = np.linalg.cholesky(A)
        self.coef_ = np.linalg.solve(c.T, np.linalg.solve(c, Xc.T @ (ya - ym)))
        self.intercept_ = float(ym - xm @ self.coef_)
        self._n_features = Xa.shape[1]
        return self


@dataclass
class Lasso(_Linear):
    """Lasso, ``min (1/(2n)) ||y - Xw - b||^2 + alpha ||w||_1``, by cyclic coordinate descent.

    The data are centred (the intercept is not penalised).  Sweeps over the coordinates in
    order; after a sweep whose largest coefficient change is below ``tol`` times the largest
    coefficient (or the last allowed sweep), the duality gap is computed and the descent stops
    when it is below ``tol * ||y_c||^2`` -- scikit-learn's stopping rule, so converged
    solutions agree with its ``Lasso`` to rounding.
    """

    alpha: float = 1.0
    max_iter: int = 1000
    tol: float = 1e-4
    n_iter_: int = field(default=0, init=False)

    def fit(self, X, y) -> "Lasso":
        """Fit on ``(X, y)``; returns ``self``."""
        a = _check_alpha(self.alpha, allow_zero=True)
        if int(self.max_iter) < 1:
            raise bad_argument(InvalidParameterError, "max_iter", self.max_iter, "an integer >= 1")
        Xa, ya = check_xy(X, y)
        n, p = Xa.shape
        xm, ym = Xa.mean(axis=0), ya.mean()
        Xc = np.asfortranarray(Xa - xm)
        yc = ya - ym
        self.coef_, self.n_iter_ = _lasso_cd(Xc, yc, a * n, int(self.max_iter), float(self.tol))
        self.intercept_ = float(ym - xm @ self.coef_)
        self._n_features = p
        return self


def _lasso_cd(X: np.ndarray, y: np.ndarray, alpha: float, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Coordinate descent for ``0.5 ||y - Xw||^2 + alpha ||w||_1`` (``alpha`` already times n)."""
    n, p = X.shape
    w = np.zeros(p)
    norm_cols = np.einsum("ij,ij->j", X, X)
    R = y.copy()
    tol_abs = tol * float(y @ y)
    cols = [X[:, j] for j in range(p)]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        w_max = 0.0
        d_w_max = 0.0
        for j in range(p):
            if norm_cols[j] == 0.0:
                continue
            w_j = w[j]
            xj = cols[j]
            if w_j != 0.0:
                R += w_j * xj
            tmp = float(xj @ R)
            new = np.sign(tmp) * max(abs(tmp) - alpha, 0.0) / norm_cols[j]
            w[j] = new
            if new != 0.0:
                R -= new * xj
            d_w_max = max(d_w_max, abs(new - w_j))
            w_max = max(w_max, abs(new))
        if w_max == 0.0 or d_w_max / w_max < tol or n_iter == max_iter:
            XtA = X.T @ R
            dual_norm = float(np.max(np.abs(XtA))) if p else 0.0
            R_norm2 = float(R @ R)
            if dual_norm > alpha:
                const = alpha / dual_norm
                gap = 0.5 * (R_norm2 + R_norm2 * const * const)
            else:
                const = 1.0
                gap = R_norm2
            gap += alpha * float(np.abs(w).sum()) - const * float(R @ y)
            if gap < tol_abs:
                break
    return w, n_iter


@dataclass
class KernelRidge(_Fitted):
    """Kernel ridge regression with the linear kernel and no intercept.

    ``dual = (X X^T + alpha I)^{-1} y`` and ``predict(X*) = X* X^T dual``; this equals ridge
    without intercept, ``w = (X^T X + alpha I)^{-1} X^T y``.
    """

    alpha: float = 1.0

    def fit(self, X, y) -> "KernelRidge":
        """Fit on ``(X, y)``; returns ``self``."""
        a = _check_alpha(self.alpha)
        Xa, ya = check_xy(X, y)
        K = Xa @ Xa.T
        K[np.diag_indices_from(K)] += a
        c = np.linalg.cholesky(K)
        self.dual_coef_ = np.linalg.solve(c.T, np.linalg.solve(c, ya))
        self.X_fit_ = Xa
        self._n_features = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predict ``X X_fit^T dual_coef``."""
        Xa = self._check_predict(X)
        return (Xa @ self.X_fit_.T) @ self.dual_coef_


_POLY_INDEX: dict[tuple[int, int], np.ndarray] = {}


def polynomial_features(X: np.ndarray, degree: int) -> np.ndarray:
    """All monomials of total degree 1..``degree`` (no constant), in graded lexicographic order.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    degree : int

    Returns
    -------
    ndarray, shape (n, C(p + degree, degree) - 1)
    """
    Xa = np.asarray(X, dtype=np.float64)
    n, p = Xa.shape
    key = (p, int(degree))
    if key not in _POLY_INDEX:
        rows = []
        for d in range(1, degree + 1):
            for combo in itertools.combinations_with_replacement(range(p), d):
                rows.append(list(combo) + [p] * (degree - d))  # index p is a column of ones
        _POLY_INDEX[key] = np.asarray(rows, dtype=np.intp)
    Xe = np.hstack([Xa, np.ones((n, 1))])
    return np.prod(Xe[:, _POLY_INDEX[key]], axis=2)


@dataclass
class BayesianPolyRidge(_Fitted):
    """Polynomial features -> standardisation -> Bayesian ridge regression (evidence maximisation).

    The Bayesian ridge step (MacKay's fixed-point updates, as scikit-learn's ``BayesianRidge``):
    centre the features and labels, take the thin SVD ``Xc = U S V^T``, start from noise precision
    ``a = 1/var(y)`` and weight precision ``l = 1``, and iterate
    ``w = V diag(1/(S^2 + l/a)) V^T Xc^T yc`` (or its dual form when p > n),
    ``gamma = sum(a S^2 / (l + a S^2))``, ``l = (gamma + 2 l1) / (||w||^2 + 2 l2)``,
    ``a = (n - gamma + 2 a1) / (||yc - Xc w||^2 + 2 a2)`` until the coefficients change by less
    than ``tol`` in L1 norm; the coefficients are then recomputed with the final precisions.
    """

    degree: int = 10
    max_iter: int = 300
    tol: float = 1e-3
    alpha_1: float = 1e-6
    alpha_2: float = 1e-6
    lambda_1: float = 1e-6
    lambda_2: float = 1e-6

    def _features(self, X: np.ndarray) -> np.ndarray:
        return polynomial_features(X, self.degree)

    def fit(self, X, y) -> "BayesianPolyRidge":
        """Fit on ``(X, y)``; returns ``self``."""
        if int(self.degree) < 1:
            raise bad_argument(InvalidParameterError, "degree", self.degree, "an integer >= 1")
        Xa, ya = check_xy(X, y)
        F = self._features(Xa)
        mean = F.mean(axis=0)
        var = F.var(axis=0)
        scale = np.sqrt(var)
        # scikit-learn's StandardScaler leaves (near-)constant columns unscaled
        scale[var <= 10 * np.finfo(np.float64).eps * np.maximum(mean**2, 0)] = 1.0
        scale[scale == 0.0] = 1.0
        Z = (F - mean) / scale
        self._mean, self._scale = mean, scale
        n, p = Z.shape
        zm, ym = Z.mean(axis=0), ya.mean()
        Zc, yc = Z - zm, ya - ym
        U, S, Vt = np.linalg.svd(Zc, full_matrices=False)
        eig = S**2
        eps = np.finfo(np.float64).eps
        alpha_ = 1.0 / (np.var(yc) + eps)
        lambda_ = 1.0
        Zty = Zc.T @ yc
        Uty = U.T @ yc

        def coef_for(alpha_: float, lambda_: float) -> tuple[np.ndarray, float]:
            if n > p:
                c = Vt.T @ ((Vt @ Zty) / (eig + lambda_ / alpha_))
            else:
                c = Zc.T @ (U @ (Uty / (eig + lambda_ / alpha_)))
            r = yc - Zc @ c
            return c, float(r @ r)

        coef_old = None
        for it in range(int(self.max_iter)):
            coef, rmse = coef_for(alpha_, lambda_)
            gamma = float(np.sum(alpha_ * eig / (lambda_ + alpha_ * eig)))
            lambda_ = (gamma + 2 * self.lambda_1) / (float(coef @ coef) + 2 * self.lambda_2)
            alpha_ = (n - gamma + 2 * self.alpha_1) / (rmse + 2 * self.alpha_2)
            if coef_old is not None and np.sum(np.abs(coef_old - coef)) < self.tol:
                break
            coef_old = coef.copy()
        self.n_iter_ = it + 1
        self.alpha_, self.lambda_ = alpha_, lambda_
        self.coef_, _ = coef_for(alpha_, lambda_)
        self.intercept_ = float(ym - zm @ self.coef_)
        self._n_features = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predict from the polynomial, standardised features of ``X``."""
        Xa = self._check_predict(X)
        Z = (self._features(Xa) - self._mean) / self._scale
        return Z @ self.coef_ + self.intercept_


def _knn_predict(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, k: int, weights: str) -> np.ndarray:
    d2 = (
        np.sum(Xte**2, axis=1)[:, None]
        - 2.0 * Xte @ Xtr.T
        + np.sum(Xtr**2, axis=1)[None, :]
    )
    np.maximum(d2, 0.0, out=d2)
    order = np.argsort(d2, axis=1, kind="stable")[:, :k]
    yk = ytr[order]
    if weights == "uniform":
        return yk.mean(axis=1)
    dist = np.sqrt(np.take_along_axis(d2, order, axis=1))
    out = np.empty(Xte.shape[0])
    for i in range(Xte.shape[0]):
        zero = dist[i] == 0.0
        if zero.any():
            out[i] = yk[i, zero].mean()
        else:
            w = 1.0 / dist[i]
            out[i] = (w @ yk[i]) / w.sum()
    return out


@dataclass
class KNN(_Fitted):
    """k-nearest-neighbour regression (Euclidean), ``weights`` ``"uniform"`` or ``"distance"``."""

    n_neighbors: int = 5
    weights: str = "uniform"

    def fit(self, X, y) -> "KNN":
        """Store ``(X, y)``; returns ``self``."""
        if int(self.n_neighbors) < 1:
            raise bad_argument(InvalidParameterError, "n_neighbors", self.n_neighbors, "an integer >= 1")
        if self.weights not in ("uniform", "distance"):
            raise bad_argument(InvalidParameterError, "weights", self.weights, '"uniform" or "distance"')
        Xa, ya = check_xy(X, y)
        if Xa.shape[0] < self.n_neighbors:
            raise bad_argument(
                InvalidParameterError, "n_neighbors", self.n_neighbors,
                f"at most the number of training rows ({Xa.shape[0]})",
            )
        self._X, self._y = Xa, ya
        self._n_features = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Average (or inverse-distance average) of the k nearest training labels."""
        Xa = self._check_predict(X)
        return _knn_predict(self._X, self._y, Xa, int(self.n_neighbors), self.weights)


class AdaptiveKNN(KNN):
    """Distance-weighted kNN with k = 1 below 3 training rows, 3 below 7, else 5."""

    def __init__(self) -> None:
        super().__init__(n_neighbors=1, weights="distance")

    def fit(self, X, y) -> "AdaptiveKNN":
        """Choose k from the number of rows, then store ``(X, y)``."""
        n = np.asarray(X).shape[0] if np.ndim(X) == 2 else 0
        self.n_neighbors = 1 if n < 3 else (3 if n < 7 else 5)
        KNN.fit(self, X, y)
        return self


class _Constant(_Fitted):
    value_: float

    def predict(self, X) -> np.ndarray:
        """The constant fitted value for every row."""
        Xa = self._check_predict(X)
        return np.full(Xa.shape[0], self.value_)


class Average(_Constant):
    """Predict the mean training label."""

    def fit(self, X, y) -> "Average":
        """Fit on ``(X, y)``; returns ``self``."""
        Xa, ya = check_xy(X, y)
        self.value_ = float(np.mean(ya))
        self._n_features = Xa.shape[1]
        return self


class Last(_Constant):
    """Predict the last training label."""

    def fit(self, X, y) -> "Last":
        """Fit on ``(X, y)``; returns ``self``."""
        Xa, ya = check_xy(X, y)
        self.value_ = float(ya[-1])
        self._n_features = Xa.shape[1]
        return self


@dataclass
class RandomChoice(_Fitted):
    """Predict ``random.Random(seed).choice(y_train)`` for each test row, in order."""

    seed: int = 1

    def fit(self, X, y) -> "RandomChoice":
        """Store the training labels; returns ``self``."""
        Xa, ya = check_xy(X, y)
        self._labels = ya.tolist()
        self._n_features = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """One draw per row from a fresh ``random.Random(seed)``."""
        Xa = self._check_predict(X)
        r = _random.Random(self.seed)
        return np.array([r.choice(self._labels) for _ in range(Xa.shape[0])], dtype=np.float64)


class FunctionRegressor(_Fitted):
    """Wrap a function ``f(X_train, y_train, X_test) -> predictions`` as a regressor."""

    def __init__(self, func: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> None:
        if not callable(func):
            raise bad_argument(InvalidParameterError, "func", func, "a callable f(X_train, y_train, X_test)")
        self.func = func

    def fit(self, X, y) -> "FunctionRegressor":
        """Store ``(X, y)``; returns ``self``."""
        self._X, self._y = check_xy(X, y)
        self._n_features = self._X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Call the wrapped function on the stored training data and ``X``."""
        Xa = self._check_predict(X)
        out = np.asarray(self.func(self._X, self._y, Xa), dtype=np.float64).reshape(-1)
        if out.shape != (Xa.shape[0],):
            raise ShapeError(f"the wrapped function returned shape {out.shape}: expected ({Xa.shape[0]},)")
        return out


def _gradient_boosting(seed: int) -> Regressor:
    from ._gbrt import GradientBoosting  # imported on use: _gbrt builds on this module

    return GradientBoosting(random_state=int(seed))


#: name -> factory(seed) of the classical regressors and baselines
REGRESSORS: dict[str, Callable[[int], Regressor]] = {
    "linear_regression": lambda seed: LinearRegression(),
    "ridge": lambda seed: Ridge(alpha=1.0),
    "lasso": lambda seed: Lasso(alpha=1.0),
    "kernel_ridge": lambda seed: KernelRidge(alpha=1.0),
    "bayesian_regression": lambda seed: BayesianPolyRidge(degree=10),
    "knn": lambda seed: KNN(5, "uniform"),
    "knn_v2": lambda seed: KNN(5, "distance"),
    "knn_v3": lambda seed: KNN(3, "distance"),
    "knn_v4": lambda seed: KNN(1, "distance"),
    "knn_v5_adaptable": lambda seed: AdaptiveKNN(),
    "gradient_boosting": lambda seed: _gradient_boosting(seed),
    "average": lambda seed: Average(),
    "last": lambda seed: Last(),
    "random": lambda seed: RandomChoice(seed),
}


def get_regressor(name: str, seed: int = 1) -> Regressor:
    """A fresh, unfitted regressor from its registry name.

    Parameters
    ----------
    name : str
        A key of :data:`REGRESSORS`.
    seed : int
        Seed for the regressors that draw random numbers (``random``, and ``gradient_boosting``
        for its tie-breaking feature order).

    Returns
    -------
    Regressor
        An object with ``fit(X, y)`` and ``predict(X)``.
    """
    try:
        factory = REGRESSORS[name]
    except (KeyError, TypeError):
        raise bad_argument(InvalidParameterError, "name", name, f"one of {', '.join(REGRESSORS)}") from None
    return factory(int(seed))


# --------------------------------------------------------------------------- in-context learners

Learner = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class InContextRegressor(_Fitted):
    """An in-context learner ``f(X[B, N, d], y[B, N], xq[B, d]) -> yhat[B]`` as a regressor.

    ``fit`` stores the context rows and their statistics; ``predict`` standardises context
    and queries with the context means and standard deviations, multiplies features by
    ``x_scale`` and labels by ``y_scale``, zero-pads the features to ``pad_to`` columns (when
    given), calls the learner once per test row (all sharing the context), multiplies its
    output by ``output_factor(n_context)`` and maps it back to label units.

    Parameters
    ----------
    learner : callable
        Batched in-context learner, e.g. ``lambda X, y, xq: gd_steps(X, y, xq, eta=1.0, K=1)``.
    name : str
        Used in messages and benchmark tables.
    x_scale, y_scale : float
        Scale of the standardised features and labels fed to the learner.
    pad_to : int, optional
        Zero-pad the features to this many columns (a learner trained at a fixed width).
    output_factor : callable, optional
        ``n_context -> factor`` applied to the learner's output (e.g. ``N_train / n`` for a
        linear attention layer trained on ``N_train`` context points).
    """

    def __init__(
        self,
        learner: Learner,
        name: str = "in_context",
        *,
        x_scale: float = 1.0,
        y_scale: float = 1.0,
        pad_to: int | None = None,
        output_factor: Callable[[int], float] | None = None,
    ) -> None:
        if not callable(learner):
            raise bad_argument(InvalidParameterError, "learner", learner, "a callable f(X, y, xq)")
        self.learner = learner
        self.name = name
        self.x_scale = _check_alpha(x_scale, "x_scale")
        self.y_scale = _check_alpha(y_scale, "y_scale")
        if pad_to is not None and int(pad_to) < 1:
            raise bad_argument(InvalidParameterError, "pad_to", pad_to, "None or an integer >= 1")
        self.pad_to = pad_to
        self.output_factor = output_factor

    def fit(self, X, y) -> "InContextRegressor":
        """Store the context rows; returns ``self``."""
        Xa, ya = check_xy(X, y)
        if self.pad_to is not None and Xa.shape[1] > self.pad_to:
            raise ShapeError(f"X has {Xa.shape[1]} columns: expected at most pad_to={self.pad_to}")
        self._xm, self._xs = Xa.mean(axis=0), Xa.std(axis=0)
        self._xs[self._xs == 0.0] = 1.0
        self._ym, self._ys = float(ya.mean()), float(ya.std())
        if self._ys == 0.0:
            self._ys = 1.0
        self._Z = self._x(Xa)
        self._t = (ya - self._ym) / self._ys * self.y_scale
        self._n_features = Xa.shape[1]
        return self

    def _x(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self._xm) / self._xs * self.x_scale
        if self.pad_to is not None and Z.shape[1] < self.pad_to:
            Z = np.hstack([Z, np.zeros((Z.shape[0], self.pad_to - Z.shape[1]))])
        return Z

    def predict(self, X) -> np.ndarray:
        """Run the learner on the stored context with each row of ``X`` as the query."""
        Xa = self._check_predict(X)
        Q = self._x(Xa)
        B = Q.shape[0]
        Xc = np.broadcast_to(self._Z, (B,) + self._Z.shape).copy()
        yc = np.broadcast_to(self._t, (B,) + self._t.shape).copy()
        out = np.asarray(self.learner(Xc, yc, Q), dtype=np.float64).reshape(-1)
        if out.shape != (B,):
            raise ShapeError(f"learner {self.name!r} returned shape {out.shape}: expected ({B},)")
        if self.output_factor is not None:
            out = out * float(self.output_factor(self._Z.shape[0]))
        return self._ym + out / self.y_scale * self._ys


def lsa_regressor(result: Any, name: str = "icl_lsa") -> InContextRegressor:
    """Wrap a trained one-layer LSA (:class:`aievo.mesa.train.LSAResult`) as a regressor.

    The LSA was trained on ``x ~ U(-h, h)^d``, ``y = w.x`` with ``w ~ N(0, I)`` and ``N``
    context points.  Friedman rows are mapped onto that law: standardised features times
    ``2h / sqrt(12)`` (the standard deviation of ``U(-h, h)``), zero-padded to ``d`` columns;
    standardised labels times ``(2h / sqrt(12)) sqrt(p)`` (the label scale of a ``p``-feature
    task); and, because the layer sums over its context, its output times ``N / n`` for
    ``n`` context rows.
    """
    cfg = getattr(result, "config", {}) or {}
    d = int(result.params["Wq"].shape[0]) - 1
    N = int(cfg.get("N", 10))
    h = float(cfg.get("x_halfwidth", 0.5))
    sx = 2 * h / np.sqrt(12.0)

    class _LSA(InContextRegressor):
        def fit(self, X, y):  # the label scale depends on the number of real features
            self.y_scale = sx * np.sqrt(np.asarray(X).shape[1] if np.ndim(X) == 2 else 1)
            return super().fit(X, y)

    return _LSA(result.predict, name, x_scale=sx, y_scale=sx, pad_to=d, output_factor=lambda n: N / n)


_LSA_CACHE: dict[tuple, Any] = {}


def _default_lsa(steps: int = 3000, seed: int = 0) -> Any:
    key = (steps, seed)
    if key not in _LSA_CACHE:
        from .train import train_lsa

        _LSA_CACHE[key] = train_lsa(d=10, N=10, steps=steps, batch=512, rng=seed, eval_tasks=2000)
    return _LSA_CACHE[key]


def _mesa_learner(X: np.ndarray, y: np.ndarray, q: np.ndarray) -> np.ndarray:
    from .mesa_layer import mesa_layer

    K = np.concatenate([X, q[:, None, :]], axis=1)
    V = np.concatenate([y, np.zeros((y.shape[0], 1))], axis=1)[..., None]
    return mesa_layer(K, V, K, lam=1.0)[:, -1, 0]


def _icl_specs() -> dict[str, tuple[Callable[[], InContextRegressor], str]]:
    from . import baselines as B

    std = "features and label standardised over the context rows (z-scores), prediction mapped back"
    specs: dict[str, tuple[Callable[[], InContextRegressor], str]] = {
        "icl_gd_1step": (
            lambda: InContextRegressor(lambda X, y, q: B.gd_steps(X, y, q, eta=1.0, K=1), "icl_gd_1step"),
            f"1 GD step from W=0, eta=1 (step eta/N on the sum); {std}",
        ),
        "icl_gd_10step": (
            lambda: InContextRegressor(lambda X, y, q: B.gd_steps(X, y, q, eta=1.0, K=10), "icl_gd_10step"),
            f"10 GD steps from W=0, eta=1; {std}",
        ),
        "icl_ridge": (
            lambda: InContextRegressor(lambda X, y, q: B.ridge_predict(X, y, q, lam=1.0), "icl_ridge"),
            f"in-context ridge (the mesa layer's solution), penalty 1 on the sum of squares; {std}",
        ),
        "icl_mesa": (
            lambda: InContextRegressor(_mesa_learner, "icl_mesa"),
            "mesa layer (Sherman-Morrison RLS, lambda=1 so ridge penalty 1) over the context tokens then the "
            "query token (key x_q, value 0, so the query's own key enters the regularised Gram matrix); "
            f"{std}",
        ),
        "icl_lsa": (
            lambda: lsa_regressor(_default_lsa(), "icl_lsa"),
            "trained 1-layer LSA (d=10, N=10, x~U(-0.5,0.5), 3000 Adam steps, batch 512, seed 0); "
            "standardised features x 1/sqrt(12), zero-padded to 10 columns; standardised label x "
            "sqrt(p/12); output x 10/n for n context rows",
        ),
    }
    return specs


def icl_regressor_names() -> list[str]:
    """Names of the in-context learners available as regressors."""
    return list(_icl_specs())


def icl_regressor_scaling(name: str) -> str:
    """How the in-context learner ``name`` scales its inputs (one sentence)."""
    specs = _icl_specs()
    if name not in specs:
        raise bad_argument(InvalidParameterError, "name", name, f"one of {', '.join(specs)}")
    return specs[name][1]


def get_icl_regressor(name: str, seed: int = 0) -> InContextRegressor:
    """A fresh in-context learner wrapped as a regressor (see :func:`icl_regressor_names`).

    ``icl_lsa`` trains a one-layer LSA on first use (a few seconds) and caches it.
    """
    specs = _icl_specs()
    if name not in specs:
        raise bad_argument(InvalidParameterError, "name", name, f"one of {', '.join(specs)}")
    return specs[name][0]()
