"""JAX layers: linear, softmax and mesa attention, GELU MLP, LayerNorm, sinusoidal encodings.

Pure functions of arrays; parameters are plain dicts. Shapes: tokens ``h[B, T, E]``;
one attention layer has ``Wq, Wk, Wv`` of shape ``(H, k, E)`` and ``P`` of
shape ``(H, E, k)`` (column-vector convention of :func:`aievo.mesa.lsa_layer`),
mesa layers also ``lam[H]``.

The mesa layer's preconditioned queries ``q~_t = (sum_{t'<=t} k k^T + I/lam)^{-1} q_t``
are computed by recursive least squares (Sherman–Morrison, ``R_{-1} = lam I``)
in a :func:`jax.lax.scan`; their gradient is a custom VJP: one reverse scan
that reuses the matrices ``R_t = A_t^{-1}`` kept by the forward pass
(``O(T k^2)`` memory per sequence and head). Running Sherman–Morrison
backwards from the final ``R`` instead (as the official code does) would need
only ``O(k^2)``, but it subtracts nearly equal numbers: in float32, at
``T = 200``, ``k = 20``, it gave gradients wrong by more than 100%.
"""

from __future__ import annotations

import math

from ._deps import require_jax
from .reference import sinusoidal_encoding

require_jax()  # a MissingExtraError naming the extra, before the imports below fail
import jax
import jax.numpy as jnp

__all__ = [
    "mesa_precondition",
    "attention",
    "layer_norm",
    "mlp",
    "sinusoidal_encoding",
]


# --------------------------------------------------------------------------- mesa layer
def _sm_forward(K: jax.Array, Q: jax.Array, lam: jax.Array, keep: bool) -> tuple[jax.Array, jax.Array | None]:
    """Scan over time; K, Q: (T, B, H, k), lam: (H,). Returns q~ (T, B, H, k) and, if ``keep``, every R_t."""
    k = K.shape[-1]
    R0 = jnp.broadcast_to(lam[:, None, None] * jnp.eye(k, dtype=K.dtype), K.shape[1:3] + (k, k))

    def step(R, kq):
        kt, qt = kq
        Rk = jnp.einsum("bhij,bhj->bhi", R, kt)
        denom = 1.0 + jnp.einsum("bhi,bhi->bh", kt, Rk)
        R = R - Rk[..., :, None] * Rk[..., None, :] / denom[..., None, None]
        qt_tilde = jnp.einsum("bhij,bhj->bhi", R, qt)
        return R, ((qt_tilde, R) if keep else (qt_tilde, None))

    _, (Qt, Rs) = jax.lax.scan(step, R0, (K, Q))
    return Qt, Rs


@jax.custom_vjp
def _mesa_precondition_tm(K: jax.Array, Q: jax.Array, lam: jax.Array) -> jax.Array:
    return _sm_forward(K, Q, lam, keep=False)[0]


def _mesa_fwd(K, Q, lam):
    Qt, Rs = _sm_forward(K, Q, lam, keep=True)
    return Qt, (K, Qt, Rs, lam)


def _mesa_bwd(res, g):
    K, Qt, Rs, lam = res
    k = K.shape[-1]
    M0 = jnp.zeros(K.shape[1:3] + (k, k), dtype=K.dtype)

    def step(M, xs):
        kt, qt_tilde, gt, R = xs  # R = R_t = A_t^{-1}
        u = jnp.einsum("bhij,bhj->bhi", R, gt)  # dL/dq_t = A_t^{-1} g_t (A_t symmetric)
        S = -(u[..., :, None] * qt_tilde[..., None, :] + qt_tilde[..., :, None] * u[..., None, :])
        M = M + S  # sum over t'' >= t of (dA + dA^T), dA_t'' = -u q~^T
        dk = jnp.einsum("bhij,bhj->bhi", M, kt)
        return M, (dk, u, jnp.einsum("bhi,bhi->bh", u, qt_tilde))

    _, (dK, dQ, tr) = jax.lax.scan(step, M0, (K, Qt, g, Rs), reverse=True)
    # A_t = H_t + I / lam: dL/dlam = -sum_t tr(dA_t) / lam^2 and tr(dA_t) = -u_t . q~_t
    dlam = jnp.sum(tr, axis=(0, 1)) / lam**2
    return dK, dQ, dlam


_mesa_precondition_tm.defvjp(_mesa_fwd, _mesa_bwd)


def mesa_precondition(K: jax.Array, Q: jax.Array, lam: jax.Array) -> jax.Array:
    """Causal ridge-preconditioned queries ``q~_t = (sum_{t'<=t} k_t' k_t'^T + I/lam)^{-1} q_t``.

    Parameters
    ----------
    K, Q : jax.Array, shape (B, H, T, k)
        Keys and queries of ``H`` heads.
    lam : jax.Array, shape (H,)
        Per-head ``lam`` (``R_{-1} = lam I``; ridge penalty ``1/lam``).

    Returns
    -------
    jax.Array, shape (B, H, T, k)
        The mesa output of a head is then ``sum_{t'<=t} v_t' (k_t'^T q~_t)``.
    """
    Kt = jnp.moveaxis(K, 2, 0)
    Qt = jnp.moveaxis(Q, 2, 0)
    return jnp.moveaxis(_mesa_precondition_tm(Kt, Qt, lam), 0, 2)


# --------------------------------------------------------------------------- attention
def attention(
    p: dict, kind: str, h: jax.Array, mask: jax.Array, kq_offset: jax.Array | None = None
) -> jax.Array:
    """The update one multi-head attention layer adds to the residual stream.

    Parameters
    ----------
    p : dict
        ``Wq, Wk, Wv`` ``(H, k, E)``, ``P`` ``(H, E, k)``, and ``lam`` ``(H,)`` for mesa.
    kind : {"linear", "softmax", "mesa"}
    h : jax.Array, shape (B, T, E)
    mask : jax.Array of bool, shape (T, T)
        ``mask[j, i]``: token ``j`` may read token ``i``.
    kq_offset : jax.Array, shape (T, E), optional
        Added to the input of the key and query maps only (positional encodings).

    Returns
    -------
    jax.Array, shape (B, T, E)
    """
    B, T, E = h.shape
    H, k, _ = p["Wq"].shape
    flat = h.reshape(B * T, E)
    if kq_offset is None:  # one matmul for queries, keys and values
        W = jnp.concatenate([p["Wq"], p["Wk"], p["Wv"]], axis=0).reshape(3 * H * k, E)
        qkv = (flat @ W.T).reshape(B, T, 3, H, k)
        Q, K, V = (jnp.swapaxes(qkv[:, :, i], 1, 2) for i in range(3))  # (B, H, T, k)
    else:
        W = jnp.concatenate([p["Wq"], p["Wk"]], axis=0).reshape(2 * H * k, E)
        qk = ((h + kq_offset).reshape(B * T, E) @ W.T).reshape(B, T, 2, H, k)
        Q, K = (jnp.swapaxes(qk[:, :, i], 1, 2) for i in range(2))
        V = jnp.swapaxes((flat @ p["Wv"].reshape(H * k, E).T).reshape(B, T, H, k), 1, 2)
    if kind == "mesa":
        Q = mesa_precondition(K, Q, p["lam"])
    A = Q @ jnp.swapaxes(K, -1, -2)  # A[b, h, j, i] = q_j . k_i
    if kind == "softmax":
        A = jax.nn.softmax(jnp.where(mask, A / math.sqrt(k), -jnp.inf), axis=-1)
    else:
        A = A * mask.astype(A.dtype)  # measured ~20% faster per training step than jnp.where
    out = jnp.swapaxes(A @ V, 1, 2).reshape(B * T, H * k)  # (B T, H k)
    Pm = jnp.swapaxes(p["P"], 0, 1).reshape(E, H * k)
    return (out @ Pm.T).reshape(B, T, E)


def layer_norm(p: dict, h: jax.Array, eps: float = 1e-5) -> jax.Array:
    """LayerNorm over the last axis with learned ``scale`` and ``offset``."""
    mu = jnp.mean(h, axis=-1, keepdims=True)
    var = jnp.mean((h - mu) ** 2, axis=-1, keepdims=True)
    return (h - mu) * jax.lax.rsqrt(var + eps) * p["scale"] + p["offset"]


def mlp(p: dict, h: jax.Array) -> jax.Array:
    """``W2 gelu(W1 h + b1) + b2`` with ``W1 (hidden, E)``, ``W2 (E, hidden)``."""
    z = jax.nn.gelu(jnp.einsum("mf,btf->btm", p["W1"], h) + p["b1"])
    return jnp.einsum("fm,btm->btf", p["W2"], z) + p["b2"]
