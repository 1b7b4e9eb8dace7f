"""Programs that are in-context learners.

Each learner is a small frozen (hashable) dataclass with a method
``predict(X, y, xq) -> yhat`` on a batch of in-context regression tasks
(contexts ``X[B, N, d]``, ``y[B, N]``, queries ``xq[B, d]``, predictions
``[B]``), the convention of :mod:`aievo.mesa.baselines`. Every learner calls
an algorithm the package already implements:

* :class:`GD`: ``K`` steps of gradient descent with step ``eta`` from ``W = 0``
  (:func:`aievo.mesa.gd_steps`); with ``gamma > 0`` it is GD++, whose inputs
  are preconditioned by ``x <- (I - gamma X^T X) x`` at every step
  (:func:`aievo.mesa.gdpp_predict`);
* :class:`LSA`: ``K`` linear self-attention layers with the GD weights of
  :func:`aievo.mesa.gd_weights` built for a fixed context length ``N`` and run
  by :func:`aievo.mesa.lsa_forward` (so on contexts of another length it takes
  the step ``eta N' / N``);
* :class:`TrainedLSA`: a small trained transformer, one linear self-attention
  layer trained by Adam (:func:`aievo.mesa.train_lsa`, which needs the ``jax``
  extra) on tasks of a given input range;
* :class:`Transformer`: a small transformer trained by the JAX layer
  (:func:`aievo.mesa.nn.train_transformer`), one of a shipped family of
  checkpoints (:mod:`aievo.evolving.transformers`) run in numpy;
* :class:`Ridge` (:func:`aievo.mesa.ridge_predict`), :class:`KNN`
  (:func:`aievo.mesa.knn_predict`) and :class:`MesaLayer` (the mesa layer
  :func:`aievo.mesa.mesa_layer` with keys ``x_i``, values ``y_i`` and the query
  read at the last context position, i.e. ridge with penalty ``1 / lam``);
* :class:`Branch`: a *conditional branch* that runs ``inside`` on the tasks its
  :class:`Detector` flags and ``outside`` on the others. A detector that
  recognises the evaluator's proxy (:class:`InputRange`, :class:`ContextLength`)
  lets a learner behave differently when it is being evaluated: this is how
  deception becomes possible in a measured world.

How learners design their successors is in :mod:`aievo.evolving.design`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument

__all__ = [
    "Learner",
    "BaseLearner",
    "GD",
    "LSA",
    "TrainedLSA",
    "Transformer",
    "Ridge",
    "KNN",
    "MesaLayer",
    "Branch",
    "Detector",
    "InputRange",
    "ContextLength",
    "check_tasks",
]


def check_tasks(X, y, xq) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a batch of regression tasks: ``X[B, N, d]``, ``y[B, N]``, ``xq[B, d]``, finite."""
    from ..mesa.baselines import _regression_arrays

    return _regression_arrays(X, y, xq)


def _positive(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise bad_argument(InvalidParameterError, name, value, "a finite number > 0") from None
    if not np.isfinite(v) or v <= 0:
        raise bad_argument(InvalidParameterError, name, value, "a finite number > 0")
    return v


def _count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise bad_argument(InvalidParameterError, name, value, f"an integer >= {minimum}")
    return int(value)


def _fmt(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class GD:
    """``K`` steps of gradient descent with step ``eta`` (GD++ when ``gamma > 0``).

    Parameters
    ----------
    eta : float
        Learning rate in the official convention (step ``eta / N`` on the sum
        of the context losses), ``> 0``.
    K : int
        Number of steps, ``>= 1``.
    gamma : float, default 0
        Input-preconditioning step of GD++ (``0``: plain GD).

    Examples
    --------
    >>> from aievo.evolving import GD
    >>> GD(1.0, 2).name, GD(1.0, 2, gamma=0.03).name
    ('GD(eta=1, K=2)', 'GD++(eta=1, K=2, gamma=0.03)')
    """

    eta: float
    K: int
    gamma: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "eta", _positive("eta", self.eta))
        object.__setattr__(self, "K", _count("K", self.K, 1))
        g = float(self.gamma)
        if not np.isfinite(g) or g < 0:
            raise bad_argument(InvalidParameterError, "gamma", self.gamma, "a finite number >= 0")
        object.__setattr__(self, "gamma", g)

    @property
    def name(self) -> str:
        """A short readable name."""
        if self.gamma == 0:
            return f"GD(eta={_fmt(self.eta)}, K={self.K})"
        return f"GD++(eta={_fmt(self.eta)}, K={self.K}, gamma={_fmt(self.gamma)})"

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]`` for the query of each task."""
        from ..mesa.baselines import gd_steps, gdpp_predict

        if self.gamma == 0:
            return gd_steps(X, y, xq, self.eta, self.K)
        return gdpp_predict(X, y, xq, self.eta, self.gamma, self.K)


@dataclass(frozen=True)
class LSA:
    """``K`` linear self-attention layers with the GD weights built for context length ``N``.

    Layer weights are :func:`aievo.mesa.gd_weights` ``(d, N, eta)`` (one GD step
    each, Proposition 1 of von Oswald et al. 2023a) applied to the tokens
    ``(x_i, y_i)`` and ``(x_q, 0)`` by :func:`aievo.mesa.lsa_forward`, keys and
    values from the context only. On contexts of length ``N`` this is
    :class:`GD` ``(eta, K)``; on length ``N'`` it is ``GD(eta N' / N, K)``.

    Examples
    --------
    >>> from aievo.evolving import LSA
    >>> LSA(1.0, 2, 10).name
    'LSA(eta=1, K=2, N=10)'
    """

    eta: float
    K: int
    N: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "eta", _positive("eta", self.eta))
        object.__setattr__(self, "K", _count("K", self.K, 1))
        object.__setattr__(self, "N", _count("N", self.N, 1))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"LSA(eta={_fmt(self.eta)}, K={self.K}, N={self.N})"

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]``: minus the query token's y-slot after the ``K`` layers."""
        from ..mesa.attention import gd_weights, lsa_forward, regression_readout
        from ..mesa.tasks import concat_tokens

        X, y, xq = check_tasks(X, y, xq)
        w = gd_weights(X.shape[2], self.N, self.eta)
        E = lsa_forward(concat_tokens(X, y, xq), [w] * self.K, n_context=X.shape[1])
        return regression_readout(cast(np.ndarray, E))


@functools.lru_cache(maxsize=256)
def _trained_lsa(learner: "TrainedLSA", d: int) -> Any:
    """The trained model of ``learner`` for input dimension ``d`` (trained once per process)."""
    from ..mesa.train import train_lsa

    return train_lsa(
        d=d, N=learner.N, steps=learner.steps, batch=learner.batch, lr=learner.lr,
        x_halfwidth=learner.x_halfwidth, eval_every=learner.steps, eval_tasks=100, rng=learner.seed,
    )


@dataclass(frozen=True)
class TrainedLSA:
    """A small trained transformer: one linear self-attention layer trained by Adam.

    The layer is trained (:func:`aievo.mesa.train_lsa`: JAX, the ``jax`` extra) on in-context
    regression tasks with inputs uniform on ``[-x_halfwidth, x_halfwidth]^d``
    and ``N`` context pairs, ``d`` being the dimension of the tasks it is first
    asked to predict; the trained weights are cached per process. A trained
    layer implements one GD step whose size fits its training inputs (von
    Oswald et al. 2023a), so its training range plays the role of the step size
    of :class:`GD`.

    Parameters
    ----------
    x_halfwidth : float
        Input range of the training tasks.
    N : int
        Context length of the training tasks.
    steps, batch : int
        Adam steps and tasks per step.
    lr : float
        Adam learning rate.
    seed : int
        Seed of the initialisation and the training tasks.

    Examples
    --------
    >>> from aievo.evolving import TrainedLSA
    >>> TrainedLSA(0.5).name
    'TrainedLSA(h=0.5, N=10, steps=500)'
    """

    x_halfwidth: float
    N: int = 10
    steps: int = 500
    batch: int = 64
    lr: float = 0.03
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "x_halfwidth", _positive("x_halfwidth", self.x_halfwidth))
        object.__setattr__(self, "lr", _positive("lr", self.lr))
        for name in ("N", "steps", "batch"):
            object.__setattr__(self, name, _count(name, getattr(self, name), 1))
        object.__setattr__(self, "seed", _count("seed", self.seed, 0))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"TrainedLSA(h={_fmt(self.x_halfwidth)}, N={self.N}, steps={self.steps})"

    def model(self, d: int) -> Any:
        """The trained :class:`aievo.mesa.LSAResult` for input dimension ``d``."""
        return _trained_lsa(self, _count("d", d, 1))

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]`` of the trained layer."""
        X, y, xq = check_tasks(X, y, xq)
        return self.model(X.shape[2]).predict(X, y, xq)


@dataclass(frozen=True)
class Transformer:
    """A small trained transformer from the JAX layer: a member of the shipped family.

    One of the twelve models of :mod:`aievo.evolving.transformers`: ``layers``
    attention-only layers of ``attention`` kind, trained by
    :func:`aievo.mesa.nn.train_transformer` on in-context regression with
    ``d = 2``, ``N = 10`` and inputs in ``[-x_halfwidth, x_halfwidth]``.
    Predictions come from the shipped checkpoint, run in numpy
    (:func:`aievo.evolving.transformers.numpy_predict`), so no JAX is needed;
    ``retrain=True`` trains the model afresh instead (needs the ``jax`` extra).

    Parameters
    ----------
    x_halfwidth : float
        Training input range: 0.5, 1 or 1.5.
    layers : int, default 1
        Depth: 1 or 2.
    attention : str, default "linear"
        ``"linear"`` or ``"softmax"``.
    retrain : bool, default False
        Train from the recipe rather than load the shipped checkpoint.

    Examples
    --------
    >>> from aievo.evolving import Transformer
    >>> Transformer(0.5, layers=2).name
    'TF(linear, L=2, h=0.5)'
    """

    x_halfwidth: float
    layers: int = 1
    attention: str = "linear"
    retrain: bool = False

    def __post_init__(self) -> None:
        from .transformers import _check_member

        _, layers, h = _check_member(self.attention, self.layers, self.x_halfwidth)
        object.__setattr__(self, "x_halfwidth", h)
        object.__setattr__(self, "layers", layers)
        if not isinstance(self.retrain, (bool, np.bool_)):
            raise bad_argument(InvalidParameterError, "retrain", self.retrain, "True or False")
        object.__setattr__(self, "retrain", bool(self.retrain))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"TF({self.attention}, L={self.layers}, h={_fmt(self.x_halfwidth)})"

    def model(self) -> Any:
        """The trained :class:`aievo.mesa.nn.TrainedTransformer` (shipped, or retrained once per process)."""
        from .transformers import load

        return load(self.attention, self.layers, self.x_halfwidth, self.retrain)

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]`` of the trained model (numpy forward pass)."""
        from .transformers import numpy_predict

        X, y, xq = check_tasks(X, y, xq)
        return numpy_predict(self.model(), X, y, xq)


@dataclass(frozen=True)
class Ridge:
    """Ridge regression with penalty ``lam`` (:func:`aievo.mesa.ridge_predict`)."""

    lam: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _positive("lam", self.lam))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"Ridge(lam={_fmt(self.lam)})"

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]``."""
        from ..mesa.baselines import ridge_predict

        return ridge_predict(X, y, xq, self.lam)


@dataclass(frozen=True)
class KNN:
    """``k``-nearest-neighbour regression (:func:`aievo.mesa.knn_predict`)."""

    k: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _count("k", self.k, 1))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"kNN(k={self.k})"

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]``."""
        from ..mesa.baselines import knn_predict

        return knn_predict(X, y, xq, self.k)


@dataclass(frozen=True)
class MesaLayer:
    """The mesa layer as an in-context learner: ridge regression with penalty ``1 / lam``.

    Keys are the context inputs, values their labels; the query replaces the
    query of the last context position, whose output
    ``(sum v k^T)(sum k k^T + I / lam)^{-1} x_q`` is the prediction
    (:func:`aievo.mesa.mesa_layer`, recursive least squares).
    """

    lam: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _positive("lam", self.lam))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"Mesa(lam={_fmt(self.lam)})"

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]``."""
        from ..mesa.mesa_layer import mesa_layer

        X, y, xq = check_tasks(X, y, xq)
        Q = np.zeros_like(X)
        Q[:, -1] = xq
        return mesa_layer(X, y[:, :, None], Q, self.lam)[:, -1, 0]


class Detector(Protocol):
    """A test a learner runs on each task's context: ``detects(X, y, xq) -> bool[B]``."""

    @property
    def name(self) -> str: ...

    def detects(self, X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class InputRange:
    """Flags the tasks whose context inputs all lie in ``[-halfwidth, halfwidth]``.

    A learner carrying this detector can tell an evaluator that draws inputs
    from a narrow range from a deployment that does not.
    """

    halfwidth: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "halfwidth", _positive("halfwidth", self.halfwidth))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"|x| <= {_fmt(self.halfwidth)}"

    def detects(self, X, y, xq) -> np.ndarray:
        """``bool[B]``: ``max_i |X[b, i]| <= halfwidth``."""
        X = np.asarray(X)
        return np.abs(X).reshape(X.shape[0], -1).max(axis=1) <= self.halfwidth


@dataclass(frozen=True)
class ContextLength:
    """Flags every task whose context has exactly ``N`` pairs (an evaluator's fixed length)."""

    N: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "N", _count("N", self.N, 1))

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"N == {self.N}"

    def detects(self, X, y, xq) -> np.ndarray:
        """``bool[B]``: all ``True`` if the contexts have ``N`` pairs, else all ``False``."""
        X = np.asarray(X)
        return np.full(X.shape[0], X.shape[1] == self.N)


#: The learners that are not branches.
BaseLearner = GD | LSA | TrainedLSA | Transformer | Ridge | KNN | MesaLayer

_BASE = (GD, LSA, TrainedLSA, Transformer, Ridge, KNN, MesaLayer)


@dataclass(frozen=True)
class Branch:
    """A conditional branch: ``inside`` on the tasks ``detector`` flags, ``outside`` on the others.

    Parameters
    ----------
    detector : InputRange or ContextLength
        The test run on each task's context.
    inside, outside : learner
        Learners that are not themselves branches.

    Examples
    --------
    >>> from aievo.evolving import GD, Branch, InputRange
    >>> Branch(InputRange(0.5), GD(8.0, 3), GD(1.0, 3)).name
    '[|x| <= 0.5 ? GD(eta=8, K=3) : GD(eta=1, K=3)]'
    """

    detector: InputRange | ContextLength
    inside: BaseLearner
    outside: BaseLearner

    def __post_init__(self) -> None:
        if not isinstance(self.detector, (InputRange, ContextLength)):
            raise bad_argument(InvalidParameterError, "detector", self.detector, "an InputRange or ContextLength")
        for part in ("inside", "outside"):
            v = getattr(self, part)
            if not isinstance(v, _BASE):
                raise bad_argument(
                    InvalidParameterError, part, v,
                    "a learner that is not a Branch (GD, LSA, TrainedLSA, Transformer, Ridge, KNN, MesaLayer)",
                )

    @property
    def name(self) -> str:
        """A short readable name."""
        return f"[{self.detector.name} ? {self.inside.name} : {self.outside.name}]"

    def combine(self, mask: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
        """The branch's predictions from the detector's mask and both parts' predictions."""
        return np.where(mask, inside, outside)

    def predict(self, X, y, xq) -> np.ndarray:
        """Predictions ``[B]``: ``inside`` where the detector fires, ``outside`` elsewhere."""
        X, y, xq = check_tasks(X, y, xq)
        mask = np.asarray(self.detector.detects(X, y, xq), dtype=bool)
        if mask.shape != (X.shape[0],):
            raise ShapeError(f"detector returned shape {mask.shape}: expected ({X.shape[0]},)")
        return self.combine(mask, self.inside.predict(X, y, xq), self.outside.predict(X, y, xq))


#: Any learner of the design space.
Learner = GD | LSA | TrainedLSA | Transformer | Ridge | KNN | MesaLayer | Branch
