"""Linear self-attention (LSA) over token matrices and the constructions that make it gradient descent.

Weights act on column vectors, as in the papers: a head with ``Wq, Wk`` of
shape ``(dk, F)``, ``Wv`` of shape ``(dv, F)`` and projection ``P`` of shape
``(F, dv)`` updates token ``e_j`` (a row of ``E[B, T, F]``) by

    e_j <- e_j + sum_h P_h sum_{i in ctx(j)} (Wv_h e_i) (Wk_h e_i)^T (Wq_h e_j)

with no softmax or normalisation. ``ctx(j)`` is every row, the first
``n_context`` rows (keys and values from the context only, as the official
regression code does with ``include_query=False``), the rows ``i <= j``
(``causal=True``, diagonal included), or both restrictions at once.

:func:`gd_weights` is Proposition 1 of von Oswald et al. (2023a): on tokens
``(x_i, y_i)`` with a query ``(x_q, 0)`` one layer is one GD step, K layers K
steps. :func:`gdpp_weights` adds the input-preconditioning step of GD++.
:func:`gd_sequence_weights` is Proposition 1 of von Oswald et al. (2023b) on
the constructed tokens ``(0, s_t, s_t, s_{t-1})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import check_alloc, check_array, check_float, check_int, finite_result

__all__ = [
    "LSAWeights",
    "lsa_layer",
    "lsa_forward",
    "regression_readout",
    "gd_weights",
    "gdpp_weights",
    "gd_sequence_weights",
]


class LSAWeights(NamedTuple):
    """Weights of one multi-head LSA layer, heads on the leading axis.

    Attributes
    ----------
    Wq, Wk : ndarray, shape (H, dk, F)
    Wv : ndarray, shape (H, dv, F)
    P : ndarray, shape (H, F, dv)
    """

    Wq: np.ndarray
    Wk: np.ndarray
    Wv: np.ndarray
    P: np.ndarray


def _as_weights(layer: Any, F: int, name: str = "layer") -> LSAWeights:
    if isinstance(layer, dict):
        missing = [k for k in ("Wq", "Wk", "Wv", "P") if k not in layer]
        if missing:
            raise bad_argument(InvalidParameterError, name, sorted(layer), "a mapping with keys Wq, Wk, Wv, P")
        parts = [layer["Wq"], layer["Wk"], layer["Wv"], layer["P"]]
    elif isinstance(layer, (tuple, list)) and len(layer) == 4:
        parts = list(layer)
    else:
        raise bad_argument(InvalidParameterError, name, layer, "an LSAWeights, a 4-tuple (Wq, Wk, Wv, P) or a dict")
    arrs = []
    for key, a in zip(("Wq", "Wk", "Wv", "P"), parts):
        a = check_array(a, f"{name}.{key}", (2, 3))
        arrs.append(a[None] if a.ndim == 2 else a)
    Wq, Wk, Wv, P = arrs
    H = Wq.shape[0]
    if not (Wk.shape[0] == Wv.shape[0] == P.shape[0] == H):
        raise bad_argument(ShapeError, f"{name}.Wk.shape", Wk.shape, f"the same number of heads as Wq.shape={Wq.shape}")
    if Wq.shape[2] != F:
        raise bad_argument(ShapeError, f"{name}.Wq.shape", Wq.shape, f"(H, dk, F) with F = {F} (token width)")
    if Wk.shape != Wq.shape:
        raise bad_argument(ShapeError, f"{name}.Wk.shape", Wk.shape, f"the shape of Wq, {Wq.shape}")
    if Wv.shape[2] != F:
        raise bad_argument(ShapeError, f"{name}.Wv.shape", Wv.shape, f"(H, dv, F) with F = {F}")
    if P.shape != (H, F, Wv.shape[1]):
        raise bad_argument(ShapeError, f"{name}.P.shape", P.shape, f"(H, F, dv) = {(H, F, Wv.shape[1])}")
    return LSAWeights(Wq, Wk, Wv, P)


def _mask(T: int, n_context: int | None, causal: bool) -> np.ndarray | None:
    if n_context is None and not causal:
        return None
    m = np.ones((T, T), dtype=bool)  # m[j, i]: may token j read token i
    if causal:
        m &= np.tri(T, dtype=bool)
    if n_context is not None:
        m[:, n_context:] = False
    return m


@finite_result
def lsa_layer(
    E: np.ndarray,
    weights: LSAWeights | Sequence[np.ndarray] | dict,
    *,
    n_context: int | None = None,
    causal: bool = False,
    residual: bool = True,
) -> np.ndarray:
    """Apply one multi-head linear self-attention layer.

    Parameters
    ----------
    E : ndarray, shape (B, T, F)
        Tokens, one per row.
    weights : LSAWeights, 4-tuple or dict
        ``(Wq, Wk, Wv, P)`` of shapes ``(H, dk, F)``, ``(H, dk, F)``,
        ``(H, dv, F)``, ``(H, F, dv)``; 2-d arrays are read as one head.
    n_context : int, optional
        Keys and values come from the first ``n_context`` rows only.
    causal : bool, default False
        Token ``j`` reads rows ``i <= j`` only (diagonal included).
    residual : bool, default True
        Return ``E + update``; otherwise the update alone.

    Returns
    -------
    ndarray, shape (B, T, F)
    """
    E = check_array(E, "E", 3, shape_text="an array of shape (B, T, F)")
    B, T, F = E.shape
    w = _as_weights(weights, F, "weights")
    if n_context is not None:
        n_context = check_int(n_context, "n_context", minimum=0, maximum=T)
    mask = _mask(T, n_context, bool(causal))
    Q = np.einsum("hkf,btf->bhtk", w.Wq, E)
    K = np.einsum("hkf,btf->bhtk", w.Wk, E)
    V = np.einsum("hvf,btf->bhtv", w.Wv, E)
    if mask is None or not causal:
        # (masked) sum of v_i k_i^T first: O(T dk dv) per head
        if mask is not None:
            K = K * mask[0][None, None, :, None]
        KV = np.einsum("bhtv,bhtk->bhvk", V, K)
        out = np.einsum("bhvk,bhtk->bhtv", KV, Q)
    else:
        A = np.einsum("bhjk,bhik->bhji", Q, K) * mask[None, None]
        out = np.einsum("bhji,bhiv->bhjv", A, V)
    upd = np.einsum("hfv,bhtv->btf", w.P, out)
    return E + upd if residual else upd


@finite_result
def lsa_forward(
    E: np.ndarray,
    layers: Sequence[Any],
    *,
    n_context: int | None = None,
    causal: bool = False,
    return_all: bool = False,
) -> np.ndarray | list[np.ndarray]:
    """Run a stack of residual LSA layers (attention only: no MLP, LayerNorm or bias).

    Parameters
    ----------
    E : ndarray, shape (B, T, F)
        Input tokens.
    layers : sequence of LSAWeights (or 4-tuples / dicts)
        One entry per layer; repeat one entry for weight-tied (recurrent) models.
    n_context, causal : see :func:`lsa_layer`
    return_all : bool, default False
        Return the list ``[E, after layer 1, ..., after layer L]`` instead of
        the final tokens only.

    Returns
    -------
    ndarray, shape (B, T, F), or list of them
    """
    E = check_array(E, "E", 3, shape_text="an array of shape (B, T, F)")
    if isinstance(layers, (LSAWeights, dict)) or not isinstance(layers, (list, tuple)):
        raise bad_argument(InvalidParameterError, "layers", type(layers).__name__, "a list of per-layer weights")
    out = [E]
    for li, layer in enumerate(layers):
        _as_weights(layer, E.shape[2], f"layers[{li}]")
        out.append(lsa_layer(out[-1], layer, n_context=n_context, causal=causal))
    return out if return_all else out[-1]


@finite_result
def regression_readout(E: np.ndarray) -> np.ndarray:
    """Official regression readout ``yhat = -(last token's y-slot)`` = ``-E[:, -1, -1]``."""
    E = check_array(E, "E", 3, shape_text="an array of shape (B, T, F)")
    if E.shape[1] == 0 or E.shape[2] == 0:
        raise bad_argument(ShapeError, "E.shape", E.shape, "(B, T, F) with T >= 1 and F >= 1")
    return -E[:, -1, -1]


@finite_result
def gd_weights(d: int, N: int, eta: float, W0: np.ndarray | None = None) -> LSAWeights:
    """Proposition-1 weights: one LSA layer on tokens ``(x_i, y_i)`` = one GD step.

    ``Wq = Wk = [[I_d, 0], [0, 0]]`` (read x), ``Wv = [[0, 0], [W0, -1]]``
    (value ``(0, W0 x_i - y_i)``) and ``P = diag(0_d, eta/N)``, so every token's
    y-slot moves by ``-(eta/N) sum_i (y_i - W0 x_i) x_i^T x_j``. With keys and
    values from the ``N`` context rows (``n_context=N``), the query token
    ``(x_q, -W0 x_q)`` ends with y-slot ``-W_1 x_q``, and ``K`` layers give
    ``K`` GD steps (:func:`aievo.mesa.baselines.gd_steps`): the context y-slots
    carry ``y_i - (W_k - W0) x_i``.

    Parameters
    ----------
    d : int
        Input dimension (tokens have ``F = d + 1`` entries).
    N : int
        Number of context tokens (the step is ``eta / N``).
    eta : float
        Learning rate, official convention.
    W0 : ndarray, shape (d,), optional
        Initial weights (default 0; the query's y-slot must then be ``-W0 x_q``).

    Returns
    -------
    LSAWeights
        One head, ``dk = dv = d + 1``.
    """
    d = check_int(d, "d")
    N = check_int(N, "N")
    check_alloc(8 * (d + 1) ** 2, "d", d, "weight matrices")
    eta = check_float(eta, "eta")
    F = d + 1
    Wq = np.zeros((F, F))
    Wq[:d, :d] = np.eye(d)
    Wv = np.zeros((F, F))
    if W0 is not None:
        W0 = check_array(W0, "W0", 1)
        if W0.shape != (d,):
            raise bad_argument(ShapeError, "W0.shape", W0.shape, f"(d,) = {(d,)}")
        Wv[d, :d] = W0
    Wv[d, d] = -1.0
    P = np.zeros((F, F))
    P[d, d] = eta / N
    return LSAWeights(Wq[None], Wq.copy()[None], Wv[None], P[None])


@finite_result
def gdpp_weights(d: int, N: int, eta: float, gamma: float | None = None) -> LSAWeights:
    """GD++ weights: a GD step on y plus the input step ``x_j <- (I - gamma X^T X) x_j``.

    ``Wq = Wk = [[I_d, 0], [0, 0]]``, ``Wv = diag(I_d, -1)`` and
    ``P = diag(-gamma I_d, eta/N)`` (the official ``lin_diag`` construction;
    its initial ``gamma`` is ``eta / N^2``, the default here). Every token,
    the query too, has its x-part preconditioned. With ``gamma = 0`` this is
    :func:`gd_weights`; the prediction of a stack equals
    :func:`aievo.mesa.baselines.gdpp_predict`.

    Parameters
    ----------
    d, N : int
    eta : float
    gamma : float, optional
        Input-step size; default ``eta / N**2``.

    Returns
    -------
    LSAWeights
    """
    d = check_int(d, "d")
    N = check_int(N, "N")
    check_alloc(8 * (d + 1) ** 2, "d", d, "weight matrices")
    eta = check_float(eta, "eta")
    gamma = eta / N**2 if gamma is None else check_float(gamma, "gamma")
    F = d + 1
    Wq = np.zeros((F, F))
    Wq[:d, :d] = np.eye(d)
    Wv = np.eye(F)
    Wv[d, d] = -1.0
    P = np.zeros((F, F))
    P[:d, :d] = -gamma * np.eye(d)
    P[d, d] = eta / N
    return LSAWeights(Wq[None], Wq.copy()[None], Wv[None], P[None])


@finite_result
def gd_sequence_weights(D: int, eta: float) -> LSAWeights:
    """Proposition 1 of von Oswald et al. (2023b) on constructed tokens ``(0, s_t, s_t, s_{t-1})``.

    One causal head with key ``s_{t'-1}`` (fourth slot), value ``s_{t'}`` (second
    slot), query ``s_t`` (third slot) and ``P`` writing ``eta *`` the output into
    the first (prediction) slot. The first ``D`` entries of the output are then
    :func:`aievo.mesa.baselines.gd_sequence_predict` ``(S, eta)``.

    Parameters
    ----------
    D : int
        State dimension (tokens have ``4 D`` entries).
    eta : float

    Returns
    -------
    LSAWeights
        One head with ``dk = dv = D``; use with ``causal=True``.
    """
    D = check_int(D, "D")
    check_alloc(8 * (3 * D) ** 2, "D", D, "weight matrices")
    eta = check_float(eta, "eta")
    eye = np.eye(D)
    Wq = np.zeros((D, 4 * D))
    Wq[:, 2 * D : 3 * D] = eye
    Wk = np.zeros((D, 4 * D))
    Wk[:, 3 * D :] = eye
    Wv = np.zeros((D, 4 * D))
    Wv[:, D : 2 * D] = eye
    P = np.zeros((4 * D, D))
    P[:D] = eta * eye
    return LSAWeights(Wq[None], Wk[None], Wv[None], P[None])
