"""Behavioural comparison of in-context learners: SPD, implicit linear weights, ILWD.

Following Akyürek et al. (2022), a prompt holds pairs ``(x_1, y_1) .. (x_N, y_N)``
and a learner predicts each ``y_i`` from the ``i - 1`` pairs before it
(position ``i - 1`` here, 0-indexed; with no pair it predicts 0). A learner is
anything that answers *queries*: ``queries(X, y, Q)`` with ``X[B, N, d]``,
``y[B, N]`` and queries ``Q[B, N, m, d]`` returns ``[B, N, m]``, entry
``[b, i, j]`` being the prediction at ``Q[b, i, j]`` of the learner that has seen
pairs ``0..i-1`` of prompt ``b``. :func:`learner_queries` makes one from a batch
learner of :mod:`aievo.mesa.baselines` (``f(X, y, xq) -> yhat``);
:func:`transformer_queries` from a model trained on interleaved tokens.

* :func:`spd` -- squared prediction difference ``E (f(x_i) - g(x_i))^2`` per position;
* :func:`implicit_weights` -- the linear weights ``w_hat`` that best explain a
  learner's predictions on ``m >= d`` probe inputs with the context held fixed
  (least squares, no intercept); for a linear learner they are its weights;
* :func:`ilwd` -- implicit linear weight difference ``E ||w_hat_f - w_hat_g||^2`` per position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError, bad_argument
from ._checks import check_array, finite_result

__all__ = [
    "Queries",
    "learner_queries",
    "transformer_queries",
    "online_predictions",
    "implicit_weights",
    "spd",
    "ilwd",
]

#: ``queries(X, y, Q) -> predictions[B, N, m]`` (see the module docstring).
Queries = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _prompts(X: Any, y: Any, Q: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    B, N, d = X.shape
    y = check_array(y, "y", 2, shape_text="an array of shape (B, N)")
    if y.shape != (B, N):
        raise bad_argument(ShapeError, "y.shape", y.shape, f"(B, N) = {(B, N)} to match X")
    Q = check_array(Q, "Q", 4, shape_text="an array of shape (B, N, m, d)")
    if Q.shape[:2] != (B, N) or Q.shape[3] != d:
        raise bad_argument(ShapeError, "Q.shape", Q.shape, f"(B, N, m, d) = ({B}, {N}, m, {d})")
    return X, y, Q


def learner_queries(learner: Callable[..., np.ndarray], **kwargs: Any) -> Queries:
    """Queries of a batch learner ``learner(X, y, xq, **kwargs) -> yhat[B]`` refitted at every position.

    Parameters
    ----------
    learner : callable
        A regression learner of :mod:`aievo.mesa.baselines` (``ols_minnorm``,
        ``ridge_predict``, ``gd_steps``, ``sgd_predict``, ...).
    **kwargs
        Passed to ``learner`` (e.g. ``lam=0.1``). A ``k`` (neighbours) is capped
        at the number of context pairs.

    Returns
    -------
    Queries
    """

    def queries(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> np.ndarray:
        X, y, Q = _prompts(X, y, Q)
        B, N, m, d = Q.shape
        out = np.zeros((B, N, m))
        for i in range(1, N):
            Xc = np.repeat(X[:, :i], m, axis=0)
            yc = np.repeat(y[:, :i], m, axis=0)
            kw = dict(kwargs)
            if "k" in kw:
                kw["k"] = min(int(kw["k"]), i)
            out[:, i] = np.asarray(learner(Xc, yc, Q[:, i].reshape(B * m, d), **kw)).reshape(B, m)
        return out

    return queries


def transformer_queries(model: Any, *, backend: str = "auto") -> Queries:
    """Queries of a transformer trained on interleaved tokens (:func:`aievo.mesa.interleave_tokens`).

    For position ``i`` and query ``q`` the prompt's x-token ``i`` is replaced by
    ``(0, q)`` and the prediction is read there; causal attention makes it a
    function of pairs ``0..i-1`` and ``q`` only.

    Parameters
    ----------
    model : TrainedTransformer
        Any object with ``predict(tokens[B, 2N, d + 1], backend=...) -> [B, N, 1]``.
        It is called once per query index ``j`` with ``B N`` sequences, so a
        jitted model compiles once per prompt shape.
    backend : {"auto", "jax", "numpy"}, default "auto"
        Passed to ``model.predict`` (:meth:`aievo.mesa.nn.TrainedTransformer.predict`):
        ``"numpy"`` runs the float64 reference forward and needs no JAX (on
        each position's prefix of tokens only); the tokens go to JAX in float32
        (full-length sequences, so that it compiles once).

    Returns
    -------
    Queries
    """
    from .nn.result import resolve_backend
    from .tasks import interleave_tokens

    backend = resolve_backend(backend)

    def queries(X: np.ndarray, y: np.ndarray, Q: np.ndarray) -> np.ndarray:
        X, y, Q = _prompts(X, y, Q)
        B, N, m, d = Q.shape
        base = interleave_tokens(X, y)
        out = np.empty((B, N, m))
        if backend == "numpy":  # position i reads tokens 0..2i only: run that prefix, all m queries at once
            for i in range(N):
                seqs = np.repeat(base[:, None, : 2 * i + 1], m, axis=1)  # (B, m, 2i + 1, d + 1)
                seqs[:, :, 2 * i, 1:] = Q[:, i]
                preds = model.predict(seqs.reshape(B * m, 2 * i + 1, d + 1), backend=backend)
                out[:, i] = preds[:, i, 0].reshape(B, m)
            return out
        # JAX compiles once per shape: full-length sequences, one per (prompt, position), x-token of
        # that position replaced: (B, N, 2N, d+1)
        base = base.astype(np.float32)
        pos = np.arange(N)
        seqs = np.broadcast_to(base[:, None], (B, N) + base.shape[1:]).copy()
        for j in range(m):
            seqs[:, pos, 2 * pos, 1:] = Q[:, :, j]
            preds = np.asarray(model.predict(seqs.reshape(B * N, *base.shape[1:]), backend=backend))
            out[:, :, j] = preds[..., 0].reshape(B, N, N)[:, pos, pos]
        return out

    return queries


def online_predictions(queries: Queries, X: Any, y: Any) -> np.ndarray:
    """Predictions ``[B, N]`` of each ``y_i`` from the pairs before it (queries at the prompt's own ``x_i``)."""
    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    return queries(X, y, X[:, :, None, :])[..., 0]


@finite_result
def implicit_weights(queries: Queries, X: Any, y: Any, probes: Any) -> np.ndarray:
    """Least-squares linear weights that explain a learner's predictions on probe inputs.

    Parameters
    ----------
    queries : Queries
        The learner (see :func:`learner_queries`, :func:`transformer_queries`).
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    probes : ndarray, shape (B, N, m, d)
        Probe inputs per prompt and position, ``m >= d`` (e.g. fresh ``N(0, I)`` draws).

    Returns
    -------
    W : ndarray, shape (B, N, d)
        ``W[b, i] = argmin_w sum_j (w . probes[b, i, j] - f_{b,i}(probes[b, i, j]))^2``
        (minimum-norm solution when the probes do not span ``R^d``).
    """
    X, y, P = _prompts(X, y, probes)
    if P.shape[2] < P.shape[3]:
        raise bad_argument(ShapeError, "probes.shape", P.shape, f"m >= d = {P.shape[3]} probes per position")
    preds = np.asarray(queries(X, y, P), dtype=np.float64)
    if preds.shape != P.shape[:3]:
        raise bad_argument(ShapeError, "queries(X, y, probes).shape", preds.shape, f"{P.shape[:3]}")
    return np.einsum("bndm,bnm->bnd", np.linalg.pinv(P), preds)


def _pair(a: Any, b: Any, na: str, nb: str, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    a = check_array(a, na, ndim)
    b = check_array(b, nb, ndim)
    if a.shape != b.shape:
        raise bad_argument(ShapeError, f"{nb}.shape", b.shape, f"the shape of {na}, {a.shape}")
    return a, b


@finite_result
def spd(pred_a: Any, pred_b: Any) -> np.ndarray:
    """Squared prediction difference per position: ``mean_b (pred_a[b, i] - pred_b[b, i])^2``.

    Parameters
    ----------
    pred_a, pred_b : ndarray, shape (B, N)
        Two learners' predictions on the same prompts (:func:`online_predictions`).

    Returns
    -------
    ndarray, shape (N,)
    """
    a, b = _pair(pred_a, pred_b, "pred_a", "pred_b", 2)
    return np.mean((a - b) ** 2, axis=0)


@finite_result
def ilwd(weights_a: Any, weights_b: Any) -> np.ndarray:
    """Implicit linear weight difference per position: ``mean_b ||W_a[b, i] - W_b[b, i]||^2``.

    Parameters
    ----------
    weights_a, weights_b : ndarray, shape (B, N, d)
        Implicit weights (:func:`implicit_weights`) or true task weights broadcast per position.

    Returns
    -------
    ndarray, shape (N,)
    """
    a, b = _pair(weights_a, weights_b, "weights_a", "weights_b", 3)
    return np.mean(np.sum((a - b) ** 2, axis=2), axis=0)
