"""Numba kernel of the mesa layer (recursive least squares by Sherman–Morrison).

Private: called by :func:`aievo.mesa.mesa_layer.mesa_layer`, which validates
its inputs and passes C-contiguous float64 arrays. Imported lazily so that
``import aievo.mesa`` does not load numba.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["mesa_rls_kernel"]


@nb.njit(
    nb.void(
        nb.float64[:, :, ::1],
        nb.float64[:, :, ::1],
        nb.float64[:, :, ::1],
        nb.float64,
        nb.float64,
        nb.float64[:, :, ::1],
    ),
    cache=True,
    parallel=True,
    fastmath=False,
)
def mesa_rls_kernel(K, V, Q, lam, forget, out):  # pragma: no cover - compiled
    """Causal RLS readout ``out[b, t] = G_t R_t q_t`` for every sequence ``b``.

    ``R_{-1} = lam I``; at each step ``R_t = (R - (R k)(R k)^T / (forget + k^T R k)) / forget``
    (``R`` stays symmetric) and ``G_t = forget G_{t-1} + v_t k_t^T``.
    """
    B, T, dk = K.shape
    dv = V.shape[2]
    for b in nb.prange(B):
        R = np.zeros((dk, dk), dtype=np.float64)
        for i in range(dk):
            R[i, i] = lam
        G = np.zeros((dv, dk), dtype=np.float64)
        Rk = np.empty(dk, dtype=np.float64)
        qt = np.empty(dk, dtype=np.float64)
        inv_f = 1.0 / forget
        for t in range(T):
            # Rk = R k and the Sherman–Morrison denominator
            denom = forget
            for i in range(dk):
                acc = 0.0
                for j in range(dk):
                    acc += R[i, j] * K[b, t, j]
                Rk[i] = acc
                denom += K[b, t, i] * acc
            scale = 1.0 / denom
            for i in range(dk):
                ci = Rk[i] * scale
                for j in range(dk):
                    R[i, j] = (R[i, j] - ci * Rk[j]) * inv_f
            # G <- forget G + v k^T
            for i in range(dv):
                vi = V[b, t, i]
                for j in range(dk):
                    G[i, j] = forget * G[i, j] + vi * K[b, t, j]
            # out = G (R q)
            for i in range(dk):
                acc = 0.0
                for j in range(dk):
                    acc += R[i, j] * Q[b, t, j]
                qt[i] = acc
            for i in range(dv):
                acc = 0.0
                for j in range(dk):
                    acc += G[i, j] * qt[j]
                out[b, t, i] = acc
