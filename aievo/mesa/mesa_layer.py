"""The mesa layer: a causal attention layer that solves ridge regression in-context.

Per head, with keys ``k_t``, values ``v_t`` and queries ``q_t`` (von Oswald et
al. 2023b, official ``src/mesa.py``), the output at position ``t`` is

    out_t = Phi_t q_t,   Phi_t = argmin_Phi  1/2 sum_{t' <= t} ||v_t' - Phi k_t'||^2 + 1/(2 lam) ||Phi||_F^2
                               = (sum_{t'<=t} v_t' k_t'^T) (sum_{t'<=t} k_t' k_t'^T + I/lam)^{-1}

(current token included). :func:`mesa_layer` runs recursive least squares:
``R_{-1} = lam I`` (the official ``init_inverse = eye * lambda``, so the ridge
penalty is ``1/lam``) and one Sherman–Morrison update per token, ``O(dk^2 +
dk dv)`` work per token, in a numba kernel. :func:`mesa_layer_naive` forms the
normal equations from all tokens so far and solves them afresh at every
position; it is the reference the kernel is tested and benchmarked against.

With a forgetting factor ``forget = gamma < 1`` both compute exponentially
weighted RLS: token ``t'`` has weight ``gamma^(t - t')`` and the prior decays
too, ``R_t^{-1} = gamma^(t+1) I/lam + sum_{t'<=t} gamma^(t-t') k_t' k_t'^T``.
(The official code has no forgetting; MesaNet's gated variant keeps the
regulariser fixed instead, which Sherman–Morrison cannot do.)
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import check_array, check_float, finite_result

__all__ = ["mesa_layer", "mesa_layer_naive"]


def _inputs(K, V, Q, lam, forget):
    K = check_array(K, "K", 3, shape_text="an array of shape (B, T, dk)")
    V = check_array(V, "V", 3, shape_text="an array of shape (B, T, dv)")
    Q = check_array(Q, "Q", 3, shape_text="an array of shape (B, T, dk)")
    B, T, dk = K.shape
    if V.shape[:2] != (B, T):
        raise bad_argument(ShapeError, "V.shape", V.shape, f"(B, T, dv) with (B, T) = {(B, T)} from K")
    if Q.shape != K.shape:
        raise bad_argument(ShapeError, "Q.shape", Q.shape, f"the shape of K, {K.shape}")
    lam = check_float(lam, "lam", positive=True)
    forget = check_float(forget, "forget")
    if not 0.0 < forget <= 1.0:
        raise bad_argument(InvalidParameterError, "forget", forget, "a number in (0, 1]")
    return K, V, Q, lam, forget


@finite_result
def mesa_layer(K: np.ndarray, V: np.ndarray, Q: np.ndarray, lam: float, forget: float = 1.0) -> np.ndarray:
    """Mesa-layer outputs by recursive least squares (Sherman–Morrison), one head.

    Parameters
    ----------
    K : ndarray, shape (B, T, dk)
        Keys.
    V : ndarray, shape (B, T, dv)
        Values.
    Q : ndarray, shape (B, T, dk)
        Queries.
    lam : float
        ``R_0 = lam I``: the ridge penalty is ``1 / lam`` (``> 0``).
    forget : float, default 1.0
        Forgetting factor in ``(0, 1]`` (1 = none, as in the official code).

    Returns
    -------
    out : ndarray, shape (B, T, dv)
        ``out[:, t] = G_t R_t q_t`` with ``G_t = sum_{t'<=t} forget^(t-t') v_t' k_t'^T``
        and ``R_t^{-1} = forget^(t+1) I/lam + sum_{t'<=t} forget^(t-t') k_t' k_t'^T``.

    See Also
    --------
    mesa_layer_naive : the same quantity solved afresh at every position.
    """
    K, V, Q, lam, forget = _inputs(K, V, Q, lam, forget)
    from ._kernels import mesa_rls_kernel

    out = np.empty(V.shape, dtype=np.float64)
    mesa_rls_kernel(
        np.ascontiguousarray(K), np.ascontiguousarray(V), np.ascontiguousarray(Q), lam, forget, out
    )
    return out


@finite_result
def mesa_layer_naive(
    K: np.ndarray, V: np.ndarray, Q: np.ndarray, lam: float, forget: float = 1.0
) -> np.ndarray:
    """Mesa-layer outputs by solving the regularised normal equations afresh at every position.

    At each ``t`` the weighted sums ``H_t = sum_{t'<=t} w k k^T + forget^(t+1) I/lam``
    and ``G_t = sum_{t'<=t} w v k^T`` (``w = forget^(t-t')``) are formed from
    all tokens so far and ``out_t = G_t H_t^{-1} q_t`` is found with
    :func:`numpy.linalg.solve` (batched over sequences). ``O(T^2 dk^2 + T dk^3)``
    work per sequence; a plain-numpy reference for :func:`mesa_layer`.

    Parameters
    ----------
    K, V, Q, lam, forget
        As for :func:`mesa_layer`.

    Returns
    -------
    out : ndarray, shape (B, T, dv)
    """
    K, V, Q, lam, forget = _inputs(K, V, Q, lam, forget)
    B, T, dk = K.shape
    out = np.empty(V.shape, dtype=np.float64)
    eye = np.eye(dk)
    for t in range(T):
        w = forget ** np.arange(t, -1, -1, dtype=np.float64)
        Kt = K[:, : t + 1]
        H = np.einsum("bsi,s,bsj->bij", Kt, w, Kt) + (forget ** (t + 1) / lam) * eye
        G = np.einsum("bsi,s,bsj->bij", V[:, : t + 1], w, Kt)
        z = np.linalg.solve(H, Q[:, t, :, None])[..., 0]
        out[:, t] = np.einsum("bij,bj->bi", G, z)
    return out
