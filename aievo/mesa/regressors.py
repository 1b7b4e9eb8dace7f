"""The blog's regressors (scikit-learn) and the package's in-context learners, by name.

Every regressor is an object with ``fit(X, y) -> self`` and ``predict(X) -> ndarray`` (``X`` of
shape ``(n, p)``, ``y`` of shape ``(n,)``).  :func:`get_regressor` builds one from its registry
name and a seed; :data:`REGRESSORS` lists the names.

The classical rows are the 24 non-LLM regressors of the optim_hunter blog, built on
scikit-learn exactly as the blog built them (an optional dependency: ``pip install
"aievo[sklearn]"``; scikit-learn is imported on first use).  :data:`SKLEARN_SPECS` holds each
definition as data -- a pipeline of ``(scikit-learn class, keyword arguments)`` steps; the seed is
passed as ``random_state`` to every step that takes one, as the blog did.  :class:`SklearnRegressor`
runs a spec and feeds it the training and test inputs in the memory layout of the pandas
``DataFrame`` the blog passed (column-major, float64): the lbfgs MLPs round differently with a
row-major copy of the same numbers, and their results are chaotic in such rounding.

The blog's three baselines are plain code and live here in numpy: ``average`` (training mean),
``last`` (last training label) and ``random`` (``random.Random(seed).choice`` of the training
labels, one draw per test row).

The package's in-context learners are wrapped under the same interface by
:class:`InContextRegressor` (names in :func:`icl_regressor_names`, built by
:func:`get_icl_regressor`): ``fit`` only stores the context, ``predict`` runs the learner's
forward pass with the stored rows as context and each test row as the query.  The raw
Friedman features live on very different scales (``x1`` is in the hundreds, ``x2`` below 2), so
these learners see *standardised* data: every feature and the label are centred and divided
by their standard deviation over the context rows (a constant column is only centred), and
the prediction is mapped back (times the label's standard deviation, plus its mean).  The
centring plays the role of an intercept; see :func:`icl_regressor_scaling` for each learner.
The in-context algorithms themselves (gradient descent, ridge, least squares as computed by
attention layers) are in :mod:`aievo.mesa.baselines`.
"""

from __future__ import annotations

import functools
import inspect
import random as _random
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, overload

import numpy as np
from numpy.typing import ArrayLike

from .._extras import MissingExtraError, require_extra
from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import renamed_keyword

__all__ = [
    "Regressor",
    "MissingExtraError",
    "SklearnRegressor",
    "SKLEARN_SPECS",
    "Average",
    "Last",
    "RandomChoice",
    "FunctionRegressor",
    "REGRESSORS",
    "get_regressor",
    "check_xy",
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


@overload
def check_xy(X, y: None = None, *, n_features: int | None = None) -> tuple[np.ndarray, None]: ...
@overload
def check_xy(X, y: ArrayLike, *, n_features: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...
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


def _check_alpha(alpha: float, name: str = "alpha") -> float:
    a = float(alpha)
    if not np.isfinite(a) or a <= 0:
        raise bad_argument(InvalidParameterError, name, alpha, "a finite number > 0")
    return a


# --------------------------------------------------------------------------- scikit-learn rows


def _sklearn_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    (mod,) = require_extra("sklearn", module, purpose="the blog's regressors (built on scikit-learn)")
    return getattr(mod, name)


def _adaptive_k(n_train: int) -> int:
    """The blog's ``knn_v5_adaptable`` rule: 1 neighbour below 3 training rows, 3 below 7, else 5."""
    return 1 if n_train < 3 else (3 if n_train < 7 else 5)


def _mlp(*hidden: int) -> tuple:
    return (("sklearn.neural_network.MLPRegressor",
             {"hidden_layer_sizes": tuple(hidden), "activation": "relu", "solver": "lbfgs"}),)


def _one(path: str, **kwargs: Any) -> tuple:
    return ((path, kwargs),)


#: name -> pipeline steps ``((scikit-learn class path, keyword arguments), ...)`` of the blog's
#: ``sklearn_regressors.py`` (a keyword whose value is callable is computed from the number of
#: training rows at fit time).  ``linear_regression`` is defined there too but was not in the
#: blog's table.
SKLEARN_SPECS: dict[str, tuple] = {
    "linear_regression": _one("sklearn.linear_model.LinearRegression"),
    "ridge": _one("sklearn.linear_model.Ridge"),
    "lasso": _one("sklearn.linear_model.Lasso"),
    "mlp_uat_1": _mlp(10),
    "mlp_uat_2": _mlp(100),
    "mlp_uat_3": _mlp(1000),
    "mlp_deep1": _mlp(10, 10),
    "mlp_deep2": _mlp(10, 20, 10),
    "mlp_deep3": _mlp(10, 20, 30, 20, 10),
    "random_forest": _one("sklearn.ensemble.RandomForestRegressor", max_depth=3),
    "bagging": _one("sklearn.ensemble.BaggingRegressor"),
    "gradient_boosting": _one("sklearn.ensemble.GradientBoostingRegressor"),
    "adaboost": _one("sklearn.ensemble.AdaBoostRegressor", n_estimators=100),
    "bayesian_regression": (
        ("sklearn.preprocessing.PolynomialFeatures", {"degree": 10, "include_bias": False}),
        ("sklearn.preprocessing.StandardScaler", {}),
        ("sklearn.linear_model.BayesianRidge", {}),
    ),
    "svm": _one("sklearn.svm.SVR"),
    "svm_w_s": (("sklearn.preprocessing.StandardScaler", {}), ("sklearn.svm.SVR", {})),
    "knn": _one("sklearn.neighbors.KNeighborsRegressor"),
    "knn_v2": _one("sklearn.neighbors.KNeighborsRegressor", weights="distance"),
    "knn_v3": _one("sklearn.neighbors.KNeighborsRegressor", n_neighbors=3, weights="distance"),
    "knn_v4": _one("sklearn.neighbors.KNeighborsRegressor", n_neighbors=1, weights="distance"),
    "knn_v5_adaptable": _one("sklearn.neighbors.KNeighborsRegressor", n_neighbors=_adaptive_k, weights="distance"),
    "kernel_ridge": _one("sklearn.kernel_ridge.KernelRidge"),
}


class SklearnRegressor(_Fitted):
    """One of :data:`SKLEARN_SPECS`, fitted the way the blog fitted it.

    Parameters
    ----------
    name : str
        A key of :data:`SKLEARN_SPECS`.
    random_state : int
        Passed as ``random_state`` to every pipeline step that accepts one (the blog passed its
        dataset seed); named after scikit-learn's argument, which it is. (``seed=`` is its
        deprecated name.)

    Notes
    -----
    Inputs are given to scikit-learn as column-major float64 arrays, the layout scikit-learn
    receives from the blog's ``DataFrame``; scikit-learn's convergence warnings (the lbfgs MLPs
    stop at 200 iterations on these unscaled data, as in the blog) are silenced.  The fitted
    scikit-learn object is ``estimator_``.
    """

    @renamed_keyword("seed", "random_state")
    def __init__(self, name: str, random_state: int = 1) -> None:
        if name not in SKLEARN_SPECS:
            raise bad_argument(InvalidParameterError, "name", name, f"one of {', '.join(SKLEARN_SPECS)}")
        if (
            isinstance(random_state, bool)
            or not isinstance(random_state, (int, np.integer))
            or not 0 <= int(random_state) < 2**32
        ):
            raise bad_argument(InvalidParameterError, "random_state", random_state, "an integer seed in [0, 2**32)")
        self.name = name
        self.random_state = int(random_state)

    def _build(self, n_train: int) -> Any:
        steps = []
        for path, kwargs in SKLEARN_SPECS[self.name]:
            cls = _sklearn_class(path)
            kw = {k: (v(n_train) if callable(v) else v) for k, v in kwargs.items()}
            if "random_state" in inspect.signature(cls).parameters:
                kw["random_state"] = self.random_state
            steps.append(cls(**kw))
        if len(steps) == 1:
            return steps[0]
        return _sklearn_class("sklearn.pipeline.make_pipeline")(*steps)

    def fit(self, X, y) -> "SklearnRegressor":
        """Fit the scikit-learn estimator on ``(X, y)``; returns ``self``."""
        Xa, ya = check_xy(X, y)
        est = self._build(Xa.shape[0])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=_sklearn_class("sklearn.exceptions.ConvergenceWarning"))
            est.fit(np.asfortranarray(Xa), ya)
        self.estimator_ = est
        self._n_features = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predictions of the fitted estimator, as float64."""
        Xa = self._check_predict(X)
        return np.asarray(self.estimator_.predict(np.asfortranarray(Xa)), dtype=np.float64).reshape(-1)


# --------------------------------------------------------------------------- the blog's baselines


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


#: name -> factory(seed): the blog's scikit-learn rows (:data:`SKLEARN_SPECS`) and its baselines
REGRESSORS: dict[str, Callable[[int], Regressor]] = {
    **{name: partial(SklearnRegressor, name) for name in SKLEARN_SPECS},
    "average": lambda seed: Average(),
    "last": lambda seed: Last(),
    "random": lambda seed: RandomChoice(seed),
}


@renamed_keyword("seed", "random_state")
def get_regressor(name: str, random_state: int = 1) -> Regressor:
    """A fresh, unfitted regressor from its registry name.

    Parameters
    ----------
    name : str
        A key of :data:`REGRESSORS`.
    random_state : int
        The blog's dataset seed: ``random_state`` of the scikit-learn rows (named after
        scikit-learn's argument, which it is), seed of Python's ``random`` for ``"random"``.
        (``seed=`` is its deprecated name.)

    Returns
    -------
    Regressor
        An object with ``fit(X, y)`` and ``predict(X)``.
    """
    try:
        factory = REGRESSORS[name]
    except (KeyError, TypeError):
        raise bad_argument(InvalidParameterError, "name", name, f"one of {', '.join(REGRESSORS)}") from None
    return factory(int(random_state))


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


#: The trained LSA of ``icl_lsa``: shipped (arrays + JSON), so the regression benchmark needs no JAX.
ICL_LSA_FILE = Path(__file__).resolve().parent / "checkpoints" / "regression" / "icl_lsa"


@functools.cache
def _default_lsa() -> Any:
    """The shipped LSA of ``icl_lsa`` (d = N = 10, 3000 Adam steps, batch 512, seed 0).

    It was trained in aievo 0.1 by the numpy trainer that ``benchmarks/_numpy_trainer.py`` keeps
    (``write_icl_lsa`` rewrites it) and is frozen, so that the recorded regression benchmark
    (:func:`aievo.mesa.regression.figure_result`) stays reproducible.
    """
    from ._trained_files import load_trained

    return load_trained(ICL_LSA_FILE)


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


@renamed_keyword("seed", "random_state")
def get_icl_regressor(name: str, random_state: int = 0) -> InContextRegressor:
    """A fresh in-context learner wrapped as a regressor (see :func:`icl_regressor_names`).

    ``icl_lsa`` loads the shipped one-layer LSA on first use and caches it.
    ``random_state`` is accepted so that this factory and :func:`get_regressor` share a
    signature (the benchmark calls both with the dataset seed); the in-context learners are
    deterministic and do not use it. (``seed=`` is its deprecated name.)
    """
    specs = _icl_specs()
    if name not in specs:
        raise bad_argument(InvalidParameterError, "name", name, f"one of {', '.join(specs)}")
    return specs[name][0]()
