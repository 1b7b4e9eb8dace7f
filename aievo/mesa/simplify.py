"""Simplified proxies of a trained softmax transformer (Friedman et al. 2023), in float64 numpy.

Simplifications of the attention of chosen layers, each a :class:`Simplification`:

``svd``
    every head's bilinear form ``W_Q^T W_K`` (``E x E``) replaced by its rank-``r`` SVD
    truncation; data-free, so it is also a change of parameters (:func:`svd_params`) that the
    JAX model runs unchanged.
``svd_data``
    the paper's data-dependent SVD: every head's queries and keys projected onto the top ``r``
    right singular vectors of the (uncentred) queries and keys the model computes on
    in-distribution inputs (:func:`fit_svd_data`).
``kmeans``
    every head's queries and keys replaced by the nearest of ``k`` centroids, fitted (Lloyd's
    algorithm with k-means++ seeding, :func:`kmeans`) on the queries and keys the model computes on
    in-distribution inputs (:func:`fit_kmeans`).
``onehot``
    softmax attention replaced by hard attention on the highest-scoring readable token
    (the first one on ties).

:func:`forward` runs the model of :mod:`aievo.mesa.nn.model` (any
:class:`~aievo.mesa.nn.config.TransformerConfig`) in numpy with a simplification applied; with none it is the float64
reference forward :func:`aievo.mesa.nn.reference.run`, which equals the JAX forward up to float
rounding. ``kmeans`` and ``svd_data`` act on the queries and keys of a layer before the
preconditioning of mesa layers; ``onehot`` on softmax layers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import as_rng, check_int

__all__ = [
    "SIMPLIFICATIONS",
    "Simplification",
    "forward",
    "predict",
    "attention_weights",
    "lowrank_factors",
    "svd_params",
    "kmeans",
    "quantize",
    "collect_qk",
    "fit_kmeans",
    "top_singular_basis",
    "fit_svd_data",
]

#: Kinds of simplification.
SIMPLIFICATIONS = ("svd", "svd_data", "kmeans", "onehot")


@dataclass(frozen=True)
class Simplification:
    """One simplification applied to the attention of some layers.

    Attributes
    ----------
    kind : {"svd", "svd_data", "kmeans", "onehot"}
    layers : tuple of int
        The (0-based) layers simplified; the others run unchanged.
    rank : int or None
        ``svd``: the rank ``r`` kept.
    fitted : dict
        ``kmeans``: ``{(layer, head): (query centroids (k, key_size), key centroids (k, key_size))}``
        (from :func:`fit_kmeans`); ``svd_data``: ``{(layer, head): (query basis (r, key_size), key
        basis (r, key_size))}`` with orthonormal rows (from :func:`fit_svd_data`).
    """

    kind: str
    layers: tuple[int, ...]
    rank: int | None = None
    fitted: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in SIMPLIFICATIONS:
            raise bad_argument(InvalidParameterError, "kind", self.kind, f"one of {SIMPLIFICATIONS}")
        layers = tuple(check_int(i, "layers[i]", minimum=0) for i in self.layers)
        if not layers:
            raise bad_argument(InvalidParameterError, "layers", self.layers, "at least one layer index")
        object.__setattr__(self, "layers", layers)
        if self.kind == "svd":
            check_int(self.rank, "rank")
        if self.kind in ("kmeans", "svd_data") and not self.fitted:
            raise bad_argument(InvalidParameterError, "fitted", self.fitted,
                               "centroids or bases of every simplified (layer, head), from fit_kmeans / fit_svd_data")

    @property
    def label(self) -> str:
        """A short name such as ``"svd r=2"``, ``"svd_data r=2"``, ``"kmeans k=8"`` or ``"onehot"``."""
        if self.kind == "svd":
            return f"svd r={self.rank}"
        if self.kind in ("kmeans", "svd_data"):
            return f"{self.kind} {'k' if self.kind == 'kmeans' else 'r'}={next(iter(self.fitted.values()))[0].shape[0]}"
        return "onehot"


# --------------------------------------------------------------------------- pieces
def lowrank_factors(Wq: np.ndarray, Wk: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors ``(Wq', Wk')`` of the same shape with ``Wq'^T Wk'`` the rank-``rank`` truncation of ``Wq^T Wk``.

    Parameters
    ----------
    Wq, Wk : ndarray, shape (key_size, E)
    rank : int
        ``1 <= rank``; at ``rank >= min(key_size, E)`` the product is unchanged.

    Returns
    -------
    (ndarray, ndarray)
        ``Wq' = (U_r S_r^{1/2})^T`` and ``Wk' = (V_r S_r^{1/2})^T`` padded with zero rows.
    """
    Wq = np.asarray(Wq, dtype=np.float64)
    Wk = np.asarray(Wk, dtype=np.float64)
    if Wq.ndim != 2 or Wq.shape != Wk.shape:
        raise bad_argument(ShapeError, "Wq.shape, Wk.shape", (Wq.shape, Wk.shape), "two equal (key_size, E) shapes")
    rank = check_int(rank, "rank")
    U, s, Vt = np.linalg.svd(Wq.T @ Wk)
    r = min(rank, Wq.shape[0], s.size)
    root = np.sqrt(s[:r])
    q = np.zeros_like(Wq)
    k = np.zeros_like(Wk)
    q[:r] = (U[:, :r] * root).T
    k[:r] = (Vt[:r].T * root).T
    return q, k


def svd_params(params: dict, layers: Sequence[int], rank: int) -> dict:
    """A copy of ``params`` whose heads in ``layers`` have ``W_Q^T W_K`` truncated to rank ``rank``."""
    out = {key: val for key, val in params.items() if key != "layers"}
    new_layers = []
    for i, layer in enumerate(params["layers"]):
        layer = dict(layer)
        if i in layers:
            attn = dict(layer["attn"])
            Wq = np.array(attn["Wq"], dtype=np.float64)
            Wk = np.array(attn["Wk"], dtype=np.float64)
            for h in range(Wq.shape[0]):
                Wq[h], Wk[h] = lowrank_factors(Wq[h], Wk[h], rank)
            attn["Wq"], attn["Wk"] = Wq, Wk
            layer["attn"] = attn
        new_layers.append(layer)
    out["layers"] = new_layers
    return out


def kmeans(X: np.ndarray, k: int, rng: Any = 0, *, iters: int = 100) -> np.ndarray:
    """Centroids ``(k, dim)`` of Lloyd's k-means with k-means++ seeding.

    Parameters
    ----------
    X : ndarray, shape (n, dim)
    k : int
        ``1 <= k <= n``.
    rng : int or numpy.random.Generator
        Seeds the k-means++ draws.
    iters : int, default 100
        Maximum Lloyd iterations (stops earlier when no assignment changes).

    Returns
    -------
    ndarray, shape (k, dim)
        An empty cluster keeps its previous centroid.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise bad_argument(ShapeError, "X.shape", X.shape, "(n, dim) with n >= 1")
    if not np.all(np.isfinite(X)):
        raise bad_argument(InvalidParameterError, "X", "non-finite entries", "finite points")
    k = check_int(k, "k")
    if k > X.shape[0]:
        raise bad_argument(InvalidParameterError, "k", k, f"at most the {X.shape[0]} points")
    g = as_rng(rng)
    C = np.empty((k, X.shape[1]))
    C[0] = X[g.integers(X.shape[0])]
    d2 = np.sum((X - C[0]) ** 2, axis=1)
    for j in range(1, k):
        total = d2.sum()
        idx = g.choice(X.shape[0], p=d2 / total) if total > 0 else g.integers(X.shape[0])
        C[j] = X[idx]
        d2 = np.minimum(d2, np.sum((X - C[j]) ** 2, axis=1))
    assign = None
    for _ in range(check_int(iters, "iters")):
        new = _nearest(X, C)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = X[assign == j]
            if len(members):
                C[j] = members.mean(axis=0)
    return C


def _nearest(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    d = np.sum(X * X, axis=1)[:, None] - 2 * X @ C.T + np.sum(C * C, axis=1)[None, :]
    return np.argmin(d, axis=1)


def quantize(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Every row of ``X`` (``(..., dim)``) replaced by its nearest centroid (row of ``C``)."""
    X = np.asarray(X, dtype=np.float64)
    flat = X.reshape(-1, X.shape[-1])
    return C[_nearest(flat, C)].reshape(X.shape)


def attention_weights(scores: np.ndarray, mask: np.ndarray, kind: str) -> np.ndarray:
    """Attention weights from scores ``(..., T, T)`` and ``mask[j, i]`` (may ``j`` read ``i``).

    ``kind``: ``"softmax"``, ``"onehot"`` (1 on the highest readable score, the first on ties)
    or ``"linear"`` (the masked scores themselves); softmax and linear as
    :func:`aievo.mesa.nn.reference.attention_weights`.
    """
    from .nn.reference import attention_weights as reference_weights

    if kind == "onehot":
        masked = np.where(mask, scores, -np.inf)
        return (np.arange(scores.shape[-1]) == np.argmax(masked, axis=-1)[..., None]).astype(np.float64)
    if kind not in ("softmax", "linear"):
        raise bad_argument(InvalidParameterError, "kind", kind, "'softmax', 'onehot' or 'linear'")
    return reference_weights(scores, mask, kind)


# --------------------------------------------------------------------------- forward
def _run(params: dict, config: Any, inputs: Any, s: Simplification | None) -> tuple[np.ndarray, dict]:
    """The reference forward with ``s`` applied by hooks: last activations and ``{layer: (Q, K, mask)}``."""
    from .nn.reference import attention_mask, run

    if s is not None and max(s.layers) >= config.n_layers:
        raise bad_argument(InvalidParameterError, "simplification.layers", s.layers,
                           f"layer indices below {config.n_layers}")
    if s is not None and s.kind == "svd":
        assert s.rank is not None  # Simplification requires a rank for kind "svd"
        params = svd_params(params, s.layers, s.rank)
    qk: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def qk_hook(i: int, Q: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if s is not None and i in s.layers:
            heads = range(Q.shape[1])
            if s.kind == "kmeans":
                Q = np.stack([quantize(Q[:, hd], s.fitted[(i, hd)][0]) for hd in heads], axis=1)
                K = np.stack([quantize(K[:, hd], s.fitted[(i, hd)][1]) for hd in heads], axis=1)
            elif s.kind == "svd_data":
                Q = np.stack([Q[:, hd] @ s.fitted[(i, hd)][0].T @ s.fitted[(i, hd)][0] for hd in heads], axis=1)
                K = np.stack([K[:, hd] @ s.fitted[(i, hd)][1].T @ s.fitted[(i, hd)][1] for hd in heads], axis=1)
        qk[i] = (Q, K, attention_mask(config, Q.shape[2]))
        return Q, K

    def weights_hook(i: int, scores: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        if s is not None and s.kind == "onehot" and i in s.layers and config.attention[i] == "softmax":
            return attention_weights(scores, mask, "onehot")
        return None

    trace = run(params, config, inputs, qk_hook=qk_hook, weights_hook=weights_hook)
    return trace.residual[-1], qk


def forward(params: dict, config: Any, inputs: Any, simplification: Simplification | None = None,
            *, return_qk: bool = False) -> Any:
    """Last-layer activations ``(B, T, E)`` of the model with a simplification applied.

    The float64 reference forward (:func:`aievo.mesa.nn.reference.run`) with
    the simplification's queries, keys or attention weights put in by its hooks.

    Parameters
    ----------
    params : dict
        Parameter tree (:mod:`aievo.mesa.nn.model`).
    config : TransformerConfig
    inputs : array
        Task inputs, as for :func:`aievo.mesa.nn.model.tokens`.
    simplification : Simplification, optional
    return_qk : bool, default False
        Return ``{layer: (Q, K, mask)}`` (queries and keys ``(B, H, T, k)`` of every layer,
        after the simplification) instead.
    """
    h, qk = _run(params, config, inputs, simplification)
    return qk if return_qk else h


def predict(params: dict, config: Any, inputs: Any, simplification: Simplification | None = None) -> np.ndarray:
    """Predictions ``(B, P, out)`` as :func:`aievo.mesa.nn.model.predict`, with a simplification applied."""
    from .nn.reference import readout

    h, _ = _run(params, config, inputs, simplification)
    return readout(params, config, h)


def collect_qk(params: dict, config: Any, inputs: Any, layers: Sequence[int]) -> dict:
    """Queries and keys the unsimplified model computes: ``{(layer, head): (queries (n, k), keys (n, k))}``.

    Only the rows attention uses are kept: queries of tokens that read at least one token and
    keys of tokens that at least one token reads.
    """
    qk = forward(params, config, inputs, return_qk=True)
    out = {}
    for i in layers:
        if i not in qk:
            raise bad_argument(InvalidParameterError, "layers", list(layers), f"indices below {len(qk)}")
        Q, K, mask = qk[i]
        reads = mask.any(axis=1)
        read = mask.any(axis=0)
        for hd in range(Q.shape[1]):
            out[(i, hd)] = (Q[:, hd][:, reads].reshape(-1, Q.shape[-1]), K[:, hd][:, read].reshape(-1, K.shape[-1]))
    return out


def fit_kmeans(points: dict, k: int, rng: Any = 0, *, max_points: int = 2000) -> Simplification:
    """The ``kmeans`` simplification with ``k`` query and ``k`` key centroids per head.

    Parameters
    ----------
    points : dict
        In-distribution queries and keys, ``{(layer, head): (queries, keys)}`` from :func:`collect_qk`.
    k : int
    rng : int or numpy.random.Generator
        Seeds the subsample (at most ``max_points`` queries and keys per head) and the seeding.
    max_points : int, default 2000
    """
    g = as_rng(rng)
    cents = {}
    for key, (Q, K) in points.items():
        pair = []
        for X in (Q, K):
            if len(X) > max_points:
                X = X[g.choice(len(X), max_points, replace=False)]
            pair.append(kmeans(X, k, g))
        cents[key] = tuple(pair)
    return Simplification("kmeans", tuple(sorted({layer for layer, _ in points})), fitted=cents)


def top_singular_basis(X: np.ndarray, rank: int) -> np.ndarray:
    """The top ``rank`` right singular vectors of ``X`` (``(n, dim)``, uncentred), as orthonormal rows."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise bad_argument(ShapeError, "X.shape", X.shape, "(n, dim) with n >= 1")
    rank = check_int(rank, "rank", maximum=X.shape[1])
    return np.linalg.svd(X, full_matrices=False)[2][:rank]


def fit_svd_data(points: dict, rank: int) -> Simplification:
    """The ``svd_data`` simplification (the paper's SVD): queries and keys on their top ``rank`` singular directions.

    Parameters
    ----------
    points : dict
        In-distribution queries and keys, ``{(layer, head): (queries, keys)}`` from :func:`collect_qk`.
    rank : int
        ``1 <= rank <= key_size``; at ``key_size`` the projection is the identity.
    """
    bases = {key: (top_singular_basis(Q, rank), top_singular_basis(K, rank)) for key, (Q, K) in points.items()}
    return Simplification("svd_data", tuple(sorted({layer for layer, _ in points})), fitted=bases)
