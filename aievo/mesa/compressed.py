"""The compressed (reverse-engineered) algorithm of a trained linear transformer.

On constructed tokens ``e_t = (0, s_t, s_t, s_{t-1})`` (four slots of width
``D``) the weights of a trained linear transformer are, to a good
approximation, *block scalar*: every ``D x D`` block of the query-key matrix
``W_Q^T W_K`` and of the value-projection matrix ``P W_V`` is a multiple of
the identity (von Oswald et al. 2023b, docs/explanation/mesa-facts.md). This
module

* extracts those scalars (the mean diagonal of each block) from trained
  weights, :func:`block_diag_means`, :func:`extract_compressed`;
* rebuilds a transformer from the scalars, :func:`compressed_layers`;
* evaluates the one-layer, two-head "RevAlg" formula directly,
  :func:`revalg_one_layer`, and maps block scalars to its parameters,
  :func:`revalg_params_from_blocks`; Proposition 1 (one GD step) is the special
  case :func:`prop1_params`;
* approximates inverses the way deeper layers are thought to (Proposition 2):
  Neumann series, Newton--Schulz, Richardson and Chebyshev iterations, and
  uses them in :func:`approx_ridge_sequence_predict`.

Conventions (column vectors): a head's attention logit between query token
``e_t`` and key token ``e_{t'}`` is ``e_t^T (W_Q^T W_K) e_{t'}``, so block
``[a, b]`` of ``qk`` pairs query slot ``a`` with key slot ``b``; block
``[c, b]`` of ``vp`` writes key slot ``b`` into output slot ``c``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import real_array
from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import check_array, check_float, check_int, finite_result

#: Most iterations an approximate inverse may run (each is a matrix product).
MAX_STEPS = 100_000

__all__ = [
    "CompressedLayer",
    "block_diag_means",
    "block_scalar_fraction",
    "extract_compressed",
    "compressed_layers",
    "revalg_one_layer",
    "revalg_params_from_blocks",
    "prop1_params",
    "neumann_inverse",
    "newton_schulz_inverse",
    "richardson_inverse",
    "momentum_inverse",
    "chebyshev_inverse",
    "approx_ridge_sequence_predict",
]


# --------------------------------------------------------------------------- block scalars
def _check_blocks(M: Any, D: int, name: str) -> tuple[np.ndarray, int, int]:
    M = check_array(M, name, (2, 3, 4), shape_text="an array of shape (..., a*D, b*D)")
    D = check_int(D, "D")
    r, c = M.shape[-2:]
    if r % D or c % D:
        raise bad_argument(ShapeError, f"{name}.shape", M.shape, f"trailing sizes that are multiples of D={D}")
    return M, r // D, c // D


@finite_result
def block_diag_means(M: np.ndarray, D: int) -> np.ndarray:
    """Mean diagonal of every ``D x D`` block of ``M``.

    Parameters
    ----------
    M : ndarray, shape (..., a*D, b*D)
        A matrix (or a stack of matrices, e.g. one per head).
    D : int
        Block size.

    Returns
    -------
    ndarray, shape (..., a, b)
        ``out[..., i, j] = mean_k M[..., i*D + k, j*D + k]``.
    """
    M, a, b = _check_blocks(M, D, "M")
    blocks = M.reshape(M.shape[:-2] + (a, D, b, D))
    return np.einsum("...iaja->...ij", blocks) / D


@finite_result
def block_scalar_fraction(M: np.ndarray, D: int) -> np.ndarray:
    """Share of ``||M||_F^2`` captured by its block-scalar part ``block_diag_means(M) (x) I_D``.

    Returns ``1 - ||M - S (x) I||_F^2 / ||M||_F^2`` (per leading index); 1 means
    every block is a multiple of the identity (so is the zero matrix).
    """
    M, a, b = _check_blocks(M, D, "M")
    S = block_diag_means(M, D)
    approx = np.kron(S, np.eye(D)) if S.ndim == 2 else np.stack([np.kron(s, np.eye(D)) for s in S.reshape(-1, a, b)]
                                                                ).reshape(M.shape)
    total = np.sum(M * M, axis=(-2, -1))
    resid = np.sum((M - approx) ** 2, axis=(-2, -1))
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, 1.0 - resid / safe, 1.0)


@dataclass(frozen=True)
class CompressedLayer:
    """Block scalars of one layer.

    Attributes
    ----------
    qk : ndarray, shape (H, S, S)
        Mean diagonals of the blocks of ``W_Q^T W_K`` per head (``S`` slots).
    vp : ndarray, shape (H, S, S)
        Mean diagonals of the blocks of ``P W_V`` per head.
    qk_fraction, vp_fraction : ndarray, shape (H,)
        :func:`block_scalar_fraction` of the two matrices per head.
    """

    qk: np.ndarray
    vp: np.ndarray
    qk_fraction: np.ndarray
    vp_fraction: np.ndarray


@finite_result
def extract_compressed(layers: Sequence[dict[str, np.ndarray]], D: int) -> list[CompressedLayer]:
    """Block scalars of every layer of a linear transformer.

    Parameters
    ----------
    layers : list of dict
        Weights ``Wq, Wk, Wv`` of shape ``(H, k, S*D)`` and ``P`` of shape
        ``(H, S*D, k)`` (as :class:`aievo.mesa.train.LinearTFResult.layers`).
    D : int
        Slot width (the state dimension).

    Returns
    -------
    list of CompressedLayer
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise bad_argument(InvalidParameterError, "layers", layers, "a non-empty list of weight dicts")
    out = []
    for i, p in enumerate(layers):
        try:
            Wq, Wk, Wv, P = (check_array(p[k], f"layers[{i}][{k!r}]", 3) for k in ("Wq", "Wk", "Wv", "P"))
        except (KeyError, TypeError, IndexError):
            raise bad_argument(InvalidParameterError, f"layers[{i}]", p, "a dict with keys Wq, Wk, Wv, P") from None
        try:
            QK = Wq.transpose(0, 2, 1) @ Wk
            VP = P @ Wv
        except ValueError:
            raise bad_argument(
                ShapeError, f"layers[{i}] shapes", [a.shape for a in (Wq, Wk, Wv, P)],
                "Wq, Wk, Wv of shape (H, k, S*D) and P of shape (H, S*D, k)",
            ) from None
        out.append(CompressedLayer(block_diag_means(QK, D), block_diag_means(VP, D),
                                   block_scalar_fraction(QK, D), block_scalar_fraction(VP, D)))
    return out


@finite_result
def compressed_layers(
    compressed: Sequence[CompressedLayer | tuple[np.ndarray, np.ndarray]], D: int
) -> list[dict[str, np.ndarray]]:
    """Transformer weights whose blocks are exactly ``scalar * I_D``.

    Each head gets ``W_K = W_V = I``, ``W_Q = (qk (x) I_D)^T`` and
    ``P = vp (x) I_D`` (key size ``S*D``), so ``W_Q^T W_K = qk (x) I`` and
    ``P W_V = vp (x) I``. Run them with :func:`aievo.mesa.train.linear_tf_forward`.

    Parameters
    ----------
    compressed : list of CompressedLayer or of (qk, vp) pairs
        Per layer, arrays of shape ``(H, S, S)``.
    D : int
        Slot width.

    Returns
    -------
    list of dict
    """
    D = check_int(D, "D")
    layers = []
    for i, c in enumerate(compressed):
        qk, vp = (c.qk, c.vp) if isinstance(c, CompressedLayer) else c
        qk = check_array(qk, f"compressed[{i}].qk", 3)
        vp = check_array(vp, f"compressed[{i}].vp", 3)
        if qk.shape != vp.shape or qk.shape[1] != qk.shape[2]:
            raise bad_argument(ShapeError, f"compressed[{i}].vp.shape", vp.shape, f"{qk.shape} (H, S, S) like qk")
        H, S, _ = qk.shape
        eye = np.eye(S * D)
        layers.append({
            "Wq": np.stack([np.kron(q, np.eye(D)).T for q in qk]),
            "Wk": np.broadcast_to(eye, (H, S * D, S * D)).copy(),
            "Wv": np.broadcast_to(eye, (H, S * D, S * D)).copy(),
            "P": np.stack([np.kron(v, np.eye(D)) for v in vp]),
        })
    return layers


# --------------------------------------------------------------------------- RevAlg (one layer, section 2.5)
@finite_result
def revalg_one_layer(S: np.ndarray, params: np.ndarray) -> np.ndarray:
    """The one-layer multi-head reverse-engineered algorithm of docs/explanation/mesa-facts.md.

    For every head ``h`` with parameters ``(alpha, eta, beta, gamma, p1, p2)``::

        shat_{t+1} = sum_h sum_{t' <= t} (p1 s_{t'} + p2 s_{t'-1})
                     * [ s_{t'}^T (alpha s_t + beta s_{t-1}) + s_{t'-1}^T (eta s_t + gamma s_{t-1}) ]

    with ``s_0 = 0``.

    Parameters
    ----------
    S : ndarray, shape (B, T, D)
        States ``s_1..s_T``.
    params : ndarray, shape (H, 6)
        ``(alpha, eta, beta, gamma, p1, p2)`` per head.

    Returns
    -------
    ndarray, shape (B, T, D)
        Predictions of ``s_{t+1}`` at every ``t``.
    """
    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    params = check_array(params, "params", 2, shape_text="an array of shape (H, 6)")
    if params.shape[1] != 6:
        raise bad_argument(ShapeError, "params.shape", params.shape, "(H, 6): (alpha, eta, beta, gamma, p1, p2)")
    Sp = np.zeros_like(S)
    Sp[:, 1:] = S[:, :-1]
    T = S.shape[1]
    mask = np.tril(np.ones((T, T)))
    out = np.zeros_like(S)
    cur = S @ S.transpose(0, 2, 1)  # [t, t'] = s_t . s_t'
    mix = S @ Sp.transpose(0, 2, 1)  # [t, t'] = s_t . s_{t'-1}
    pmix = Sp @ S.transpose(0, 2, 1)  # [t, t'] = s_{t-1} . s_t'
    prev = Sp @ Sp.transpose(0, 2, 1)  # [t, t'] = s_{t-1} . s_{t'-1}
    for alpha, eta, beta, gamma, p1, p2 in params:
        logits = (alpha * cur + beta * pmix + eta * mix + gamma * prev) * mask
        out += logits @ (p1 * S + p2 * Sp)
    return out


@finite_result
def revalg_params_from_blocks(qk: np.ndarray, vp: np.ndarray) -> np.ndarray:
    """RevAlg parameters of one layer acting on tokens ``(0, s_t, s_t, s_{t-1})``.

    Slots 1 and 2 both hold ``s_t`` and slot 3 holds ``s_{t-1}``; slot 0 (the
    prediction slot) is zero in the input, and the output is read from slot 0.
    Hence ``alpha = sum qk[1:3, 1:3]``, ``eta = qk[1, 3] + qk[2, 3]``,
    ``beta = qk[3, 1] + qk[3, 2]``, ``gamma = qk[3, 3]``,
    ``p1 = vp[0, 1] + vp[0, 2]``, ``p2 = vp[0, 3]``.

    Parameters
    ----------
    qk, vp : ndarray, shape (H, 4, 4)
        Block scalars (e.g. :attr:`CompressedLayer.qk`, :attr:`CompressedLayer.vp`).

    Returns
    -------
    ndarray, shape (H, 6)
    """
    qk = check_array(qk, "qk", 3)
    vp = check_array(vp, "vp", 3)
    if qk.shape[1:] != (4, 4) or vp.shape != qk.shape:
        raise bad_argument(ShapeError, "qk.shape", (qk.shape, vp.shape), "two arrays of shape (H, 4, 4)")
    alpha = qk[:, 1:3, 1:3].sum(axis=(1, 2))
    eta = qk[:, 1, 3] + qk[:, 2, 3]
    beta = qk[:, 3, 1] + qk[:, 3, 2]
    gamma = qk[:, 3, 3]
    p1 = vp[:, 0, 1] + vp[:, 0, 2]
    p2 = vp[:, 0, 3]
    return np.stack([alpha, eta, beta, gamma, p1, p2], axis=1)


@finite_result
def prop1_params(eta: float) -> np.ndarray:
    """RevAlg parameters of Proposition 1 (one GD step from ``W = 0`` with step ``eta``): shape ``(1, 6)``.

    ``revalg_one_layer(S, prop1_params(eta))`` is
    ``eta * sum_{t' <= t} s_{t'} s_{t'-1}^T s_t``.
    """
    eta = check_float(eta, "eta")
    return np.array([[0.0, eta, 0.0, 0.0, 1.0, 0.0]])


# --------------------------------------------------------------------------- inverse approximations
def _check_square(A: Any, name: str = "A") -> np.ndarray:
    A = check_array(A, name, (2, 3, 4), shape_text="an array of shape (..., n, n)")
    if A.shape[-1] != A.shape[-2]:
        raise bad_argument(ShapeError, f"{name}.shape", A.shape, "square trailing matrices (..., n, n)")
    return A


@finite_result
def neumann_inverse(A: np.ndarray, steps: int, c: float) -> np.ndarray:
    """Truncated Neumann series ``X_K = sum_{k=0}^{K} (I - A/c)^k / c``.

    Converges to ``A^{-1}`` when the spectral radius of ``I - A/c`` is below 1
    (for symmetric positive definite ``A``: ``c > lambda_max(A) / 2``); the
    residual is ``I - A X_K = (I - A/c)^{K+1}``.

    Parameters
    ----------
    A : ndarray, shape (..., n, n)
    steps : int
        ``K >= 0``.
    c : float
        Scale, ``> 0``.

    Returns
    -------
    ndarray, shape (..., n, n)
    """
    A = _check_square(A)
    steps = check_int(steps, "steps", minimum=0, maximum=MAX_STEPS)
    c = check_float(c, "c", positive=True)
    eye = np.eye(A.shape[-1])
    Mi = eye - A / c
    term = np.broadcast_to(eye, A.shape).copy()
    X = term.copy()
    for _ in range(steps):
        term = term @ Mi
        X += term
    return X / c


@finite_result
def newton_schulz_inverse(A: np.ndarray, steps: int, X0: np.ndarray | None = None) -> np.ndarray:
    """Newton--Schulz iteration ``X <- X (2I - A X)``.

    The residual squares every step: ``I - A X_{k+1} = (I - A X_k)^2``.
    Default start ``X_0 = I / tr(A)``, which converges for symmetric positive
    definite ``A``.

    Parameters
    ----------
    A : ndarray, shape (..., n, n)
    steps : int
    X0 : ndarray, optional
        Starting guess, same shape as ``A``.

    Returns
    -------
    ndarray, shape (..., n, n)
    """
    A = _check_square(A)
    steps = check_int(steps, "steps", minimum=0, maximum=MAX_STEPS)
    eye = np.eye(A.shape[-1])
    if X0 is None:
        tr = np.trace(A, axis1=-2, axis2=-1)
        if np.any(tr <= 0):
            raise bad_argument(InvalidParameterError, "A", "matrix with trace <= 0",
                               "matrices with positive trace (or pass X0)")
        X = eye / tr[..., None, None]
    else:
        X = check_array(X0, "X0", A.ndim)
        if X.shape != A.shape:
            raise bad_argument(ShapeError, "X0.shape", X.shape, f"{A.shape} like A")
    for _ in range(steps):
        X = X @ (2 * eye - A @ X)
    return X


@finite_result
def momentum_inverse(
    A: np.ndarray, alphas: Sequence[float] | np.ndarray, betas: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Two-term (momentum) iteration from ``X_0 = X_{-1} = 0``::

        X_{k+1} = X_k + alpha_k (I - A X_k) + beta_k (X_k - X_{k-1})

    With ``betas = 0`` this is Richardson; with the coefficients of
    :func:`chebyshev_inverse` it is the Chebyshev iteration.

    Parameters
    ----------
    A : ndarray, shape (..., n, n)
    alphas : sequence of float
        Step sizes, one per iteration.
    betas : sequence of float, optional
        Momentum coefficients, same length (default zeros).

    Returns
    -------
    ndarray, shape (..., n, n)
    """
    A = _check_square(A)
    alphas = check_array(alphas, "alphas", 1)
    betas = np.zeros_like(alphas) if betas is None else check_array(betas, "betas", 1)
    if betas.shape != alphas.shape:
        raise bad_argument(ShapeError, "betas.shape", betas.shape, f"{alphas.shape} like alphas")
    eye = np.eye(A.shape[-1])
    X = np.zeros(A.shape)
    X_prev = X
    for a, b in zip(alphas, betas):
        X, X_prev = X + a * (eye - A @ X) + b * (X - X_prev), X
    return X


@finite_result
def richardson_inverse(A: np.ndarray, omegas: Sequence[float]) -> np.ndarray:
    """Richardson iteration ``X_{k+1} = X_k + omega_k (I - A X_k)`` from ``X_0 = 0``.

    The residual is ``I - A X_K = prod_k (I - omega_k A)``.
    """
    return momentum_inverse(A, omegas, None)


@finite_result
def chebyshev_inverse(A: np.ndarray, steps: int, lo: float | np.ndarray, hi: float | np.ndarray) -> np.ndarray:
    """Chebyshev iteration for ``A^{-1}`` given eigenvalue bounds ``0 < lo <= lambda(A) <= hi``.

    The residual is ``I - A X_K = T_K((theta - A)/delta) / T_K(theta/delta)`` with
    ``theta = (hi + lo)/2``, ``delta = (hi - lo)/2`` and ``T_K`` the Chebyshev
    polynomial: the smallest possible max-residual on ``[lo, hi]`` among
    degree-``K`` polynomial iterations. Uses the stable three-term recurrence.

    Parameters
    ----------
    A : ndarray, shape (..., n, n)
        Symmetric positive definite.
    steps : int
    lo, hi : float or ndarray of shape ``A.shape[:-2]``
        Eigenvalue bounds, ``0 < lo < hi``.

    Returns
    -------
    ndarray, shape (..., n, n)
    """
    A = _check_square(A)
    steps = check_int(steps, "steps", minimum=0, maximum=MAX_STEPS)
    try:
        lo_a = np.broadcast_to(real_array(lo, "lo", finite=False), A.shape[:-2])
        hi_a = np.broadcast_to(real_array(hi, "hi", finite=False), A.shape[:-2])
    except ValueError as exc:
        if isinstance(exc, InvalidParameterError):
            raise
        raise bad_argument(ShapeError, "lo, hi", (lo, hi), f"numbers broadcastable to {A.shape[:-2]}") from None
    if not np.all(np.isfinite(lo_a)) or not np.all(lo_a > 0):
        raise bad_argument(InvalidParameterError, "lo", lo, "finite numbers > 0")
    if not np.all(np.isfinite(hi_a)) or not np.all(hi_a > lo_a):
        raise bad_argument(InvalidParameterError, "hi", hi, "finite numbers > lo")
    theta = ((hi_a + lo_a) / 2)[..., None, None]
    delta = ((hi_a - lo_a) / 2)[..., None, None]
    sigma = theta / delta
    eye = np.eye(A.shape[-1])
    X = np.zeros(A.shape)
    R = np.broadcast_to(eye, A.shape).copy()
    rho = 1.0 / sigma
    Dk = R / theta
    for _ in range(steps):
        X = X + Dk
        R = R - A @ Dk
        rho_next = 1.0 / (2 * sigma - rho)
        Dk = rho_next * rho * Dk + (2 * rho_next / delta) * R
        rho = rho_next
    return X


# --------------------------------------------------------------------------- preconditioned readout
_METHODS = ("exact", "neumann", "newton_schulz", "chebyshev")


@finite_result
def approx_ridge_sequence_predict(
    S: np.ndarray,
    lam: float = 1e-3,
    *,
    method: str = "exact",
    steps: int = 6,
) -> np.ndarray:
    """Inclusive ridge readout with an approximate inverse (Proposition 2 of von Oswald et al. 2023b).

    ``shat_{t+1} = sum_{t' <= t} s_{t'} s_{t'-1}^T X_t s_t`` with
    ``X_t ~ (H_t + lam I)^{-1}``, ``H_t = sum_{t' <= t} s_{t'-1} s_{t'-1}^T``
    (``s_0 = 0``). ``method="exact"`` solves; the others approximate the
    inverse with ``steps`` iterations, scaling by ``c = ||H_t + lam I||_F``
    (Neumann), starting from ``I / tr`` (Newton--Schulz) or using the bounds
    ``[lam, ||H_t + lam I||_2]`` (Chebyshev).

    Parameters
    ----------
    S : ndarray, shape (B, T, D)
    lam : float
        Ridge penalty, ``> 0``.
    method : {"exact", "neumann", "newton_schulz", "chebyshev"}
    steps : int

    Returns
    -------
    ndarray, shape (B, T, D)
    """
    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    lam = check_float(lam, "lam", positive=True)
    if not isinstance(method, str) or method not in _METHODS:
        raise bad_argument(InvalidParameterError, "method", method, f"one of {', '.join(_METHODS)}")
    steps = check_int(steps, "steps", minimum=0, maximum=MAX_STEPS)
    B, T, D = S.shape
    Sp = np.zeros_like(S)
    Sp[:, 1:] = S[:, :-1]
    H = np.cumsum(Sp[..., :, None] * Sp[..., None, :], axis=1) + lam * np.eye(D)  # [B, T, D, D]
    G = np.cumsum(S[..., :, None] * Sp[..., None, :], axis=1)  # sum s_{t'} s_{t'-1}^T
    if method == "exact":
        z = np.linalg.solve(H, S[..., None])[..., 0]
    else:
        if method == "neumann":
            X = neumann_inverse(H / np.linalg.norm(H, axis=(-2, -1))[..., None, None], steps, 1.0)
            X = X / np.linalg.norm(H, axis=(-2, -1))[..., None, None]
        elif method == "newton_schulz":
            X = newton_schulz_inverse(H, steps)
        else:  # trace(H) >= lambda_max(H) and > lam when D >= 2
            X = chebyshev_inverse(H, steps, lam, np.trace(H, axis1=-2, axis2=-1) + lam)
        z = np.einsum("btij,btj->bti", X, S)
    return np.einsum("btij,btj->bti", G, z)
