"""Reference learners for in-context regression and sequence prediction.

Regression learners take a batch of tasks ``X[B, N, d]``, ``y[B, N]`` and
queries ``xq[B, d]`` and return predictions ``[B]``: ``K`` steps of gradient
descent from zero (:func:`gd_steps`), GD++ (:func:`gdpp_predict`), ridge,
minimum-norm least squares, k-nearest neighbours, one-pass SGD
(:func:`sgd_predict`) and the "fake least squares" ``X^T y / N`` of Akyürek et
al. (2022) (:func:`fake_lsq_predict`). :func:`scan_eta` finds the best GD step
on a grid.

Sequence learners take states ``S[B, T, D]`` (inputs ``s_1..s_T``) and predict
``s_{t+1}`` at every position from the pairs ``(s_{t'-1}, s_{t'})`` seen so far
(``s_0 = 0``): one step of GD from zero (:func:`gd_sequence_predict`,
Proposition 1 of von Oswald et al. 2023b) and ridge least squares
(:func:`lsq_sequence_predict`).

Conventions
-----------
* ``eta`` is the official "learning rate": the GD step on the loss
  ``L(W) = (1/(2N)) sum_i ||W x_i - y_i||^2`` is ``eta``, i.e. the update is
  ``W <- W - (eta/N) sum_i (W x_i - y_i) x_i^T``.
* Ridge penalties here are the usual ``lam`` added to ``X^T X``. (The mesa layer
  uses ``R_0 = lam I`` instead, i.e. penalty ``1/lam``; see
  :mod:`aievo.mesa.mesa_layer`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np

from .._validate import real_array
from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import check_array, check_float, check_int, finite_result

#: Most gradient steps a baseline may take (each is a pass over the context).
MAX_STEPS = 100_000

__all__ = [
    "gd_steps",
    "gdpp_predict",
    "ridge_predict",
    "ols_minnorm",
    "knn_predict",
    "sgd_predict",
    "fake_lsq_predict",
    "scan_eta",
    "regression_loss",
    "gd_sequence_predict",
    "lsq_sequence_predict",
    "scan_eta_sequence",
    "sequence_loss",
    "DEFAULT_ETA_GRID",
]

#: The official learning-rate grid of ``scan_lrs`` (von Oswald et al. 2023a).
DEFAULT_ETA_GRID = np.arange(0.001, 25, 0.1)


def _regression_arrays(X, y, xq):
    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    B, N, d = X.shape
    y = check_array(y, "y", 2, shape_text="an array of shape (B, N)")
    if y.shape != (B, N):
        raise bad_argument(ShapeError, "y.shape", y.shape, f"(B, N) = {(B, N)} to match X.shape={X.shape}")
    xq = check_array(xq, "xq", 2, shape_text="an array of shape (B, d)")
    if xq.shape != (B, d):
        raise bad_argument(ShapeError, "xq.shape", xq.shape, f"(B, d) = {(B, d)} to match X.shape={X.shape}")
    return X, y, xq


@overload
def gd_steps(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, eta: float, K: int = 1, *, return_weights: Literal[False] = False
) -> np.ndarray: ...
@overload
def gd_steps(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, eta: float, K: int = 1, *, return_weights: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def gd_steps(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, eta: float, K: int = 1, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@finite_result
def gd_steps(
    X: np.ndarray,
    y: np.ndarray,
    xq: np.ndarray,
    eta: float,
    K: int = 1,
    *,
    return_weights: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Predict with ``K`` steps of full-batch gradient descent from ``W_0 = 0``.

    ``W_{k+1} = W_k - (eta/N) sum_i (W_k x_i - y_i) x_i`` (step ``eta`` on the
    loss ``(1/(2N)) sum_i (W x_i - y_i)^2``), prediction ``W_K x_q``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    eta : float
        Learning rate in the official convention (step ``eta / N`` on the sum).
    K : int, default 1
        Number of steps (``K = 0`` predicts 0).
    return_weights : bool, default False
        Also return ``W_K``.

    Returns
    -------
    yhat : ndarray, shape (B,)
    W : ndarray, shape (B, d)
        Only if ``return_weights``.
    """
    X, y, xq = _regression_arrays(X, y, xq)
    eta = check_float(eta, "eta")
    K = check_int(K, "K", minimum=0, maximum=MAX_STEPS)
    B, N, d = X.shape
    W = np.zeros((B, d))
    for _ in range(K):
        resid = np.einsum("bnd,bd->bn", X, W) - y
        W = W - (eta / N) * np.einsum("bn,bnd->bd", resid, X)
    yhat = np.einsum("bd,bd->b", W, xq)
    return (yhat, W) if return_weights else yhat


def _per_layer(value, name: str, K: int | None) -> np.ndarray:
    arr = np.atleast_1d(real_array(value, name, finite=False, what="a finite number or per-layer numbers"))
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise bad_argument(InvalidParameterError, name, value, "a finite number or a 1-d sequence of per-layer numbers")
    if K is not None and arr.size == 1:
        arr = np.full(K, arr[0])
    return arr


@finite_result
def gdpp_predict(
    X: np.ndarray,
    y: np.ndarray,
    xq: np.ndarray,
    etas: float | Sequence[float] | np.ndarray,
    gammas: float | Sequence[float] | np.ndarray,
    K: int | None = None,
) -> np.ndarray:
    """Predict with GD++: GD steps on inputs that are preconditioned layer by layer.

    Layer ``k`` (all tokens updated at once from the layer's input) sets
    ``x_j <- (I - gamma_k X_k^T X_k) x_j`` for every context input and the
    query, and ``r_j <- r_j - (eta_k/N) sum_i r_i x_i^T x_j`` for the context
    residuals (initially ``y``) and the query slot (initially 0), the
    prediction being minus the query slot. This is the token dynamics of the
    GD++ construction of von Oswald et al. (2023a) (``lin_diag`` weights,
    :func:`aievo.mesa.attention.gdpp_weights`), written without tokens.
    ``gamma = 0`` gives :func:`gd_steps`.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    etas, gammas : float or sequence of float
        Per-layer GD step and input-preconditioning step (a scalar is used
        for every layer).
    K : int, optional
        Number of layers; required if both ``etas`` and ``gammas`` are scalars
        and more than one layer is wanted (default: their common length).

    Returns
    -------
    yhat : ndarray, shape (B,)
    """
    X, y, xq = _regression_arrays(X, y, xq)
    if K is not None:
        K = check_int(K, "K", minimum=0, maximum=MAX_STEPS)
    e = _per_layer(etas, "etas", K)
    g = _per_layer(gammas, "gammas", K)
    if K is None:
        K = max(e.size, g.size)
        e = np.full(K, e[0]) if e.size == 1 else e
        g = np.full(K, g[0]) if g.size == 1 else g
    if e.size != K or g.size != K:
        raise bad_argument(ShapeError, "gammas", gammas, f"{K} per-layer values to match etas={list(e)}")
    B, N, d = X.shape
    Xk, r, q, rq = X.copy(), y.copy(), xq.copy(), np.zeros(B)
    for k in range(K):  # batched matmuls (several times faster than the equivalent einsums)
        rX = (r[:, None, :] @ Xk)[:, 0]  # sum_i r_i x_i^T
        rq = rq - (e[k] / N) * np.sum(rX * q, axis=1)
        r_new = r - (e[k] / N) * (Xk @ rX[:, :, None])[..., 0]
        Hk = Xk.transpose(0, 2, 1) @ Xk  # X^T X (symmetric)
        Xk = Xk - g[k] * (Xk @ Hk)
        q = q - g[k] * (Hk @ q[:, :, None])[..., 0]
        r = r_new
    return -rq


@overload
def ridge_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lam: float, *, return_weights: Literal[False] = False
) -> np.ndarray: ...
@overload
def ridge_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lam: float, *, return_weights: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def ridge_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lam: float, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@finite_result
def ridge_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lam: float, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Ridge regression prediction ``x_q^T (X^T X + lam I)^{-1} X^T y``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    lam : float
        Penalty, ``> 0`` (use :func:`ols_minnorm` for ``lam -> 0``).
    return_weights : bool, default False
        Also return the fitted weights.

    Returns
    -------
    yhat : ndarray, shape (B,)
    W : ndarray, shape (B, d)
        Only if ``return_weights``.
    """
    X, y, xq = _regression_arrays(X, y, xq)
    lam = check_float(lam, "lam", positive=True)
    d = X.shape[2]
    H = np.einsum("bnd,bne->bde", X, X) + lam * np.eye(d)
    W = np.linalg.solve(H, np.einsum("bnd,bn->bd", X, y)[..., None])[..., 0]
    yhat = np.einsum("bd,bd->b", W, xq)
    return (yhat, W) if return_weights else yhat


@overload
def ols_minnorm(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: Literal[False] = False
) -> np.ndarray: ...
@overload
def ols_minnorm(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def ols_minnorm(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@finite_result
def ols_minnorm(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least-squares prediction ``x_q^T X^+ y`` (Moore–Penrose pseudo-inverse).

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    return_weights : bool, default False
        Also return the fitted weights ``X^+ y``.

    Returns
    -------
    yhat : ndarray, shape (B,)
    W : ndarray, shape (B, d)
        Only if ``return_weights``.
    """
    X, y, xq = _regression_arrays(X, y, xq)
    W = np.einsum("bdn,bn->bd", np.linalg.pinv(X), y)
    yhat = np.einsum("bd,bd->b", W, xq)
    return (yhat, W) if return_weights else yhat


@overload
def sgd_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lr: float, *, return_weights: Literal[False] = False
) -> np.ndarray: ...
@overload
def sgd_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lr: float, *, return_weights: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def sgd_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lr: float, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@finite_result
def sgd_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, lr: float, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One pass of stochastic gradient descent from ``w = 0``, one context pair at a time.

    For ``i = 1..N`` in order: ``w <- w + 2 lr (y_i - w . x_i) x_i``, a step
    ``lr`` on the squared error ``(y_i - w . x_i)^2`` of pair ``i`` (the
    convention of the official code of Akyürek et al. 2022); prediction
    ``w . x_q``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    lr : float
        Step size, ``> 0``.
    return_weights : bool, default False
        Also return the final weights.

    Returns
    -------
    yhat : ndarray, shape (B,)
    W : ndarray, shape (B, d)
        Only if ``return_weights``.
    """
    X, y, xq = _regression_arrays(X, y, xq)
    lr = check_float(lr, "lr", positive=True)
    B, N, d = X.shape
    W = np.zeros((B, d))
    for i in range(N):
        resid = y[:, i] - np.einsum("bd,bd->b", W, X[:, i])
        W = W + 2.0 * lr * resid[:, None] * X[:, i]
    yhat = np.einsum("bd,bd->b", W, xq)
    return (yhat, W) if return_weights else yhat


@overload
def fake_lsq_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: Literal[False] = False
) -> np.ndarray: ...
@overload
def fake_lsq_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: Literal[True]
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def fake_lsq_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
@finite_result
def fake_lsq_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, *, return_weights: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """"Fake least squares": ``w = Sigma^{-1} X^T y / N`` with the population ``Sigma = I``.

    The official code of Akyürek et al. (2022) calls this
    ``Lstsq-Constant-Sigma``: least squares with the sample second moment
    ``X^T X / N`` replaced by its expectation ``I`` under ``x ~ N(0, I)``. It
    equals one step of :func:`gd_steps` from zero with ``eta = 1``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    return_weights : bool, default False
        Also return ``X^T y / N``.

    Returns
    -------
    yhat : ndarray, shape (B,)
    W : ndarray, shape (B, d)
        Only if ``return_weights``.
    """
    X, y, xq = _regression_arrays(X, y, xq)
    W = np.einsum("bnd,bn->bd", X, y) / X.shape[1]
    yhat = np.einsum("bd,bd->b", W, xq)
    return (yhat, W) if return_weights else yhat


@finite_result
def knn_predict(
    X: np.ndarray, y: np.ndarray, xq: np.ndarray, k: int = 5, *, weights: str = "uniform"
) -> np.ndarray:
    """k-nearest-neighbour regression (Euclidean), as scikit-learn's ``KNeighborsRegressor``.

    ``weights="uniform"`` averages the ``k`` nearest labels; ``"distance"``
    weights them by inverse distance, and if some neighbours coincide with the
    query only those are averaged. Ties in distance keep the earlier context
    index.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    k : int, default 5
        Number of neighbours, ``1 <= k <= N``.
    weights : {"uniform", "distance"}

    Returns
    -------
    yhat : ndarray, shape (B,)
    """
    X, y, xq = _regression_arrays(X, y, xq)
    k = check_int(k, "k", minimum=1, maximum=X.shape[1])
    if weights not in ("uniform", "distance"):
        raise bad_argument(InvalidParameterError, "weights", weights, "'uniform' or 'distance'")
    dist = np.sqrt(np.sum((X - xq[:, None, :]) ** 2, axis=2))
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    nd = np.take_along_axis(dist, idx, axis=1)
    ny = np.take_along_axis(y, idx, axis=1)
    if weights == "uniform":
        return ny.mean(axis=1)
    zero = nd == 0
    has_zero = zero.any(axis=1)
    w = np.where(zero, 1.0, 0.0)
    safe = np.where(zero, 1.0, nd)
    w = np.where(has_zero[:, None], w, 1.0 / safe)
    return np.sum(w * ny, axis=1) / np.sum(w, axis=1)


@finite_result
def regression_loss(yhat: np.ndarray, yq: np.ndarray) -> float:
    """The official loss ``(1/(2B)) sum_b (yhat_b - yq_b)^2``."""
    yhat = check_array(yhat, "yhat", 1)
    yq = check_array(yq, "yq", 1)
    if yhat.shape != yq.shape:
        raise bad_argument(ShapeError, "yhat.shape", yhat.shape, f"the shape of yq, {yq.shape}")
    return float(0.5 * np.mean((yhat - yq) ** 2))


@finite_result
def scan_eta(
    X: np.ndarray,
    y: np.ndarray,
    xq: np.ndarray,
    yq: np.ndarray,
    grid: np.ndarray | None = None,
    K: int = 1,
) -> tuple[float, float, np.ndarray]:
    """Find the best ``K``-step GD learning rate on a grid (the official ``scan_lrs``).

    Parameters
    ----------
    X, y, xq : arrays
        Tasks, as for :func:`gd_steps`.
    yq : ndarray, shape (B,)
        Query labels.
    grid : ndarray, optional
        Learning rates ``eta`` (official convention). Default
        :data:`DEFAULT_ETA_GRID` ``= np.arange(0.001, 25, 0.1)``.
    K : int, default 1
        Number of GD steps.

    Returns
    -------
    best_eta : float
    best_loss : float
        The loss :func:`regression_loss` at ``best_eta``.
    losses : ndarray, shape (len(grid),)
    """
    X, y, xq = _regression_arrays(X, y, xq)
    yq = check_array(yq, "yq", 1)
    if yq.shape != (X.shape[0],):
        raise bad_argument(ShapeError, "yq.shape", yq.shape, f"(B,) = {(X.shape[0],)}")
    grid = DEFAULT_ETA_GRID if grid is None else check_array(grid, "grid", 1)
    if grid.size == 0:
        raise bad_argument(InvalidParameterError, "grid", grid, "a non-empty 1-d array of learning rates")
    K = check_int(K, "K", minimum=1, maximum=MAX_STEPS)
    losses = np.array([regression_loss(gd_steps(X, y, xq, float(e), K), yq) for e in grid])
    i = int(np.argmin(losses))
    return float(grid[i]), float(losses[i]), losses


def _states(S, name: str = "S") -> np.ndarray:
    return check_array(S, name, 3, shape_text="an array of shape (B, T, D)")


def _shifted(S: np.ndarray) -> np.ndarray:
    """Previous states ``s_{t-1}`` with ``s_0 = 0``."""
    P = np.zeros_like(S)
    P[:, 1:] = S[:, :-1]
    return P


@finite_result
def gd_sequence_predict(S: np.ndarray, eta: float) -> np.ndarray:
    """One GD step from ``W_0 = 0`` on the pairs seen so far (Proposition 1 of von Oswald et al. 2023b).

    ``shat_{t+1} = eta * sum_{t' <= t} s_{t'} (s_{t'-1}^T s_t)``, ``s_0 = 0``:
    the gradient step ``-eta grad L_t(0)`` on
    ``L_t(W) = (1/2) sum_{t' <= t} ||s_{t'} - W s_{t'-1}||^2``, applied to ``s_t``.
    This is what one causal linear-attention head computes with keys
    ``s_{t'-1}``, values ``s_{t'}``, query ``s_t`` (diagonal included).

    Parameters
    ----------
    S : ndarray, shape (B, T, D)
        Inputs ``s_1..s_T``.
    eta : float
        Step size.

    Returns
    -------
    preds : ndarray, shape (B, T, D)
        ``preds[:, t]`` predicts ``s_{t+2}`` in 1-indexed terms, i.e. the
        target at position ``t`` of :func:`aievo.mesa.tasks.sample_lds`.
    """
    S = _states(S)
    eta = check_float(eta, "eta")
    P = _shifted(S)
    A = np.einsum("bsd,btd->bts", P, S)  # A[b, t, t'] = s_{t'-1}^T s_t
    A = np.tril(A)
    return eta * np.einsum("bts,bsd->btd", A, S)


@finite_result
def lsq_sequence_predict(
    inputs: np.ndarray, lam: float = 1e-3, inclusive: bool = False, *, chunk: int = 256
) -> np.ndarray:
    """Ridge least-squares next-state prediction over the pairs seen so far.

    At position ``t`` (0-indexed, query ``s_t = inputs[:, t]``) fit
    ``W_t = G (H + lam I)^{-1}`` with ``G = sum v k^T``, ``H = sum k k^T`` over
    pairs ``(k, v) = (s_{i-1}, s_i)`` (``s_{-1} = 0``) and predict ``W_t s_t``.

    ``inclusive=False`` (default, the official ``LeastSquaresSequenceSolver``)
    uses pairs ``i < t`` only, so the newest pair ``(s_{t-1}, s_t)`` is left out
    and position 0 predicts 0. ``inclusive=True`` uses ``i <= t``, which is what
    a mesa head with keys ``s_{t-1}``, values ``s_t`` and queries ``s_t``
    computes (with ``lam`` here equal to the mesa layer's ``1/lam``).

    Parameters
    ----------
    inputs : ndarray, shape (B, T, D)
        States ``s_1..s_T`` (the ``inputs`` of :func:`aievo.mesa.tasks.sample_lds`).
    lam : float, default 1e-3
        Ridge penalty, ``> 0``.
    inclusive : bool, default False
        Include the newest pair.
    chunk : int, default 256
        Sequences processed at once (memory ``~ chunk * T * D^2`` floats).

    Returns
    -------
    preds : ndarray, shape (B, T, D)
    """
    S = _states(inputs, "inputs")
    lam = check_float(lam, "lam", positive=True)
    chunk = check_int(chunk, "chunk")
    B, T, D = S.shape
    out = np.empty_like(S)
    eye = np.eye(D)
    for lo in range(0, B, chunk):
        s = S[lo : lo + chunk]
        k = _shifted(s)
        H = np.cumsum(np.einsum("bti,btj->btij", k, k), axis=1)
        G = np.cumsum(np.einsum("bti,btj->btij", s, k), axis=1)
        if not inclusive:
            H = np.concatenate([np.zeros_like(H[:, :1]), H[:, :-1]], axis=1)
            G = np.concatenate([np.zeros_like(G[:, :1]), G[:, :-1]], axis=1)
        z = np.linalg.solve(H + lam * eye, s[..., None])[..., 0]
        out[lo : lo + chunk] = np.einsum("btij,btj->bti", G, z)
    return out


@finite_result
def sequence_loss(preds: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-position loss ``sum_{batch, dim} (target - pred)^2 / (2B)`` (official ``_compute_loss`` per t).

    Parameters
    ----------
    preds, targets : ndarray, shape (B, T, D)

    Returns
    -------
    loss : ndarray, shape (T,)
        Its mean over positions is the official scalar loss ``sum / (2 B T)``.
    """
    preds = _states(preds, "preds")
    targets = _states(targets, "targets")
    if preds.shape != targets.shape:
        raise bad_argument(ShapeError, "preds.shape", preds.shape, f"the shape of targets, {targets.shape}")
    return np.sum((targets - preds) ** 2, axis=(0, 2)) / (2 * preds.shape[0])


@finite_result
def scan_eta_sequence(
    inputs: np.ndarray, targets: np.ndarray, grid: np.ndarray | None = None
) -> tuple[float, float, np.ndarray]:
    """Best global step for :func:`gd_sequence_predict` on a grid.

    The prediction is linear in ``eta`` (``eta * g``), so every grid value is
    scored from three sums at once.

    Parameters
    ----------
    inputs, targets : ndarray, shape (B, T, D)
    grid : ndarray, optional
        Step sizes; default ``np.arange(0.0005, 0.2, 0.0005)``.

    Returns
    -------
    best_eta : float
    best_loss : float
        Mean over positions of :func:`sequence_loss` at ``best_eta``.
    losses : ndarray, shape (len(grid),)
    """
    S = _states(inputs, "inputs")
    Y = _states(targets, "targets")
    if S.shape != Y.shape:
        raise bad_argument(ShapeError, "targets.shape", Y.shape, f"the shape of inputs, {S.shape}")
    grid = np.arange(0.0005, 0.2, 0.0005) if grid is None else check_array(grid, "grid", 1)
    if grid.size == 0:
        raise bad_argument(InvalidParameterError, "grid", grid, "a non-empty 1-d array of step sizes")
    g = gd_sequence_predict(S, 1.0)
    yy, yg, gg = np.sum(Y * Y), np.sum(Y * g), np.sum(g * g)
    B, T, _ = S.shape
    losses = (yy - 2 * grid * yg + grid**2 * gg) / (2 * B * T)
    i = int(np.argmin(losses))
    return float(grid[i]), float(losses[i]), losses
