"""Simplification faithfulness: do simplified proxies of a trained mesa-optimizer behave like it?

A trained model is reverse-engineered into a simpler *proxy* (a low-rank truncation of its
attention products, or the compressed block-scalar algorithm).  A proxy that matches the
model on the training distribution can still diverge from it elsewhere, so the proxy and
the model are compared on several *splits*: the training law and shifted ones (input scale,
weight scale or noise, other input laws / dynamics).  Per split and proxy this module reports

``rel_diff``
    relative RMS disagreement ``sqrt(mean (yhat_proxy - yhat_model)^2) / sqrt(mean yhat_model^2)``;
``corr``
    correlation of the two predictions (over tasks, dimensions and positions);
``loss_model``, ``loss_proxy``, ``loss_gap``
    the losses (``sum (yhat - y)^2 / (2 B)`` per prediction, the training convention) and
    ``loss_proxy - loss_model``.

Two trained mesa-optimizers are covered, both transformers of :mod:`aievo.mesa.nn` (the
study's models, trained with the official defaults and shipped as checkpoints, are in
:mod:`aievo.mesa.experiments.faithfulness`):

* a one-layer linear self-attention (LSA) layer on in-context linear regression (the
  official 2023a setup).  Its prediction only depends on ``u = (P W_V)[-1]`` and
  ``M = W_K^T W_Q``: ``yhat = -u^T (sum_i e_i e_i^T) M e_q``.  Proxies: ``rank-r`` (``M``
  replaced by its rank-``r`` SVD truncation) and ``compressed`` (the block-scalar form:
  ``M_xx`` replaced by ``mean(diag M_xx) I``, every other block of ``M`` and ``u_x`` set to
  zero -- exactly one gradient-descent step with step ``-u_y mean(diag M_xx)``).
* a causal two-layer, four-head linear transformer on constructed linear-dynamical-system
  tokens (the official 2023b setup).  Proxies: ``rank-r`` (every head's ``W_Q^T W_K`` and
  ``P W_V`` truncated to rank ``r``) and ``compressed`` (every ``D x D`` block replaced by
  its mean diagonal times the identity, :mod:`aievo.mesa.compressed`).

The model and every proxy run through the float64 numpy forward pass
(:mod:`aievo.mesa.nn.reference`) with the model's own configuration, its activation clip
included, so evaluating needs no JAX; only retraining the models does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import check_array, check_int, finite_result

__all__ = [
    "lsa_effective",
    "lsa_effective_predict",
    "lowrank",
    "lsa_proxies",
    "lsa_splits",
    "sample_lsa_split",
    "lsa_faithfulness",
    "tf_proxies",
    "tf_splits",
    "tf_faithfulness",
    "Split",
    "FaithfulnessResult",
    "agreement",
    "load_faithfulness",
]


# --------------------------------------------------------------------------- common


@dataclass(frozen=True)
class Split:
    """A task distribution: ``family`` (e.g. ``"input scale"``), its ``value`` and sampler options."""

    name: str
    family: str
    value: float
    options: dict = field(default_factory=dict, hash=False, compare=False)


def agreement(pred_model: np.ndarray, pred_proxy: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Agreement of a proxy with the model and both losses, on one split.

    Parameters
    ----------
    pred_model, pred_proxy, target : ndarray, shape (B, ...)
        Predictions and targets; the first axis is the batch.

    Returns
    -------
    dict
        ``rel_diff``, ``corr``, ``loss_model``, ``loss_proxy``, ``loss_gap`` (see the module).
    """
    a = np.asarray(pred_model, dtype=np.float64)
    b = np.asarray(pred_proxy, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.shape != t.shape or a.size == 0:
        raise ShapeError(f"predictions {a.shape}, {b.shape} and target {t.shape}: expected equal non-empty shapes")
    B = a.shape[0]
    per = a.size / B  # predictions per task (positions x dimensions)
    norm = math.sqrt(float(np.mean(a * a)))
    rel = math.sqrt(float(np.mean((a - b) ** 2))) / norm if norm > 0 else float("nan")
    ac, bc = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.sum(ac * ac)) * float(np.sum(bc * bc)))
    corr = float(np.sum(ac * bc)) / den if den > 0 else float("nan")
    # losses in the training convention: sum of squares / (2 B), averaged over positions
    n_pos = per / (a.shape[-1] if a.ndim == 3 else 1)
    lm = float(np.sum((a - t) ** 2)) / (2 * B * n_pos)
    lp = float(np.sum((b - t) ** 2)) / (2 * B * n_pos)
    return {"rel_diff": rel, "corr": corr, "loss_model": lm, "loss_proxy": lp, "loss_gap": lp - lm}


QUANTITIES = ("rel_diff", "corr", "loss_model", "loss_proxy", "loss_gap")


@dataclass
class FaithfulnessResult:
    """Agreement of each proxy with the trained model on each split.

    Attributes
    ----------
    model : str
        Which trained model (``"lsa"`` or ``"linear_tf"``).
    proxies : list of str
    splits : list of Split
    values : ndarray, shape (len(proxies), len(splits), len(QUANTITIES))
    info : dict
        Training summary (loss, steps, effective step, block-scalar fractions ...).
    """

    model: str
    proxies: list[str]
    splits: list[Split]
    values: np.ndarray
    info: dict = field(default_factory=dict)

    def get(self, quantity: str, proxy: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Per-split values of ``quantity`` for one proxy (or a dict over proxies)."""
        if quantity not in QUANTITIES:
            raise bad_argument(InvalidParameterError, "quantity", quantity, f"one of {', '.join(QUANTITIES)}")
        k = QUANTITIES.index(quantity)
        if proxy is None:
            return {p: self.values[i, :, k].copy() for i, p in enumerate(self.proxies)}
        if proxy not in self.proxies:
            raise bad_argument(InvalidParameterError, "proxy", proxy, f"one of {', '.join(self.proxies)}")
        return self.values[self.proxies.index(proxy), :, k].copy()

    def faithful(self, rel_tol: float = 0.1, loss_tol: float = 0.05) -> dict[str, list[str]]:
        """Proxy -> names of the splits where it is faithful.

        Faithful means ``rel_diff <= rel_tol`` and ``|loss_gap| <= loss_tol * loss_model``.
        """
        rd, lg, lm = (QUANTITIES.index(q) for q in ("rel_diff", "loss_gap", "loss_model"))
        out = {}
        for i, p in enumerate(self.proxies):
            v = self.values[i]
            ok = (v[:, rd] <= rel_tol) & (np.abs(v[:, lg]) <= loss_tol * v[:, lm])
            out[p] = [s.name for s, good in zip(self.splits, ok) if good]
        return out

    def to_markdown(self) -> str:
        """Two Markdown tables: relative disagreement, and loss gap relative to the model's loss."""
        head = "| split | model loss | " + " | ".join(self.proxies) + " |"
        sep = "|---|---:|" + "---:|" * len(self.proxies)
        rd = self.get("rel_diff")
        lg = self.get("loss_gap")
        lm = self.values[0, :, QUANTITIES.index("loss_model")]
        lines = [f"Relative disagreement with the trained {self.model} (RMS difference / RMS prediction)", "",
                 head, sep]
        for j, s in enumerate(self.splits):
            lines.append(f"| {s.name} | {lm[j]:.4g} | " + " | ".join(f"{rd[p][j]:.3f}" for p in self.proxies) + " |")
        lines += ["", f"Loss gap of each proxy, relative to the trained {self.model}'s loss "
                  "((loss_proxy - loss_model) / loss_model)", "", head, sep]
        for j, s in enumerate(self.splits):
            lines.append(f"| {s.name} | {lm[j]:.4g} | "
                         + " | ".join(f"{lg[p][j] / lm[j]:+.3f}" for p in self.proxies) + " |")
        return "\n".join(lines) + "\n"

    def save(self, path) -> Any:
        """Save with :func:`aievo.io.save_result`; returns the ``.npz`` path."""
        from ..io import save_result

        meta = {"kind": "aievo.mesa.faithfulness", "model": self.model, "proxies": self.proxies,
                "quantities": list(QUANTITIES),
                "splits": [{"name": s.name, "family": s.family, "value": s.value} for s in self.splits],
                "info": _jsonable(self.info)}
        return save_result(path, {"values": self.values}, meta)


def load_faithfulness(path) -> FaithfulnessResult:
    """Read a :class:`FaithfulnessResult` written by :meth:`FaithfulnessResult.save`."""
    from ..errors import ResultFileError
    from ..io import load_result

    arrays, meta = load_result(path)
    if meta.get("kind") != "aievo.mesa.faithfulness":
        raise ResultFileError(f"{path} holds {meta.get('kind')!r}: expected an aievo.mesa.faithfulness result")
    splits = [Split(s["name"], s["family"], float(s["value"])) for s in meta["splits"]]
    return FaithfulnessResult(meta["model"], list(meta["proxies"]), splits, arrays["values"], meta.get("info", {}))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def lowrank(M: np.ndarray, rank: int) -> np.ndarray:
    """Best rank-``rank`` approximation of ``M`` (last two axes) by truncated SVD."""
    A = np.asarray(M, dtype=np.float64)
    if A.ndim < 2:
        raise ShapeError(f"M has shape {A.shape}: expected a matrix or a stack of matrices")
    r = int(rank)
    if r < 0 or r > min(A.shape[-2:]):
        raise bad_argument(InvalidParameterError, "rank", rank, f"an integer in [0, {min(A.shape[-2:])}]")
    U, S, Vt = np.linalg.svd(A, full_matrices=False)
    return (U[..., :, :r] * S[..., None, :r]) @ Vt[..., :r, :]


def _lowrank_factors(M: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(L, R)`` with ``L @ R`` the :func:`lowrank` truncation of ``M``: ``L = U_r S_r^{1/2}``, ``R = S_r^{1/2} V_r^T``."""
    r = int(rank)
    if r < 0 or r > min(M.shape[-2:]):
        raise bad_argument(InvalidParameterError, "rank", rank, f"an integer in [0, {min(M.shape[-2:])}]")
    U, S, Vt = np.linalg.svd(M, full_matrices=False)
    root = np.sqrt(S[..., :r])
    return U[..., :, :r] * root[..., None, :], root[..., :, None] * Vt[..., :r, :]


# --------------------------------------------------------------------------- models as (config, params)


def _config_params(model: Any, what: str) -> tuple[Any, dict]:
    """``(config, params)`` of a :class:`~aievo.mesa.nn.TrainedTransformer` or of a ``(config, params)`` pair."""
    from .nn.config import TransformerConfig

    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], TransformerConfig):
        config, params = model
    else:
        config, params = getattr(model, "config", None), getattr(model, "params", None)
    if not isinstance(config, TransformerConfig) or not isinstance(params, dict):
        raise bad_argument(InvalidParameterError, "model", model, f"a TrainedTransformer or (TransformerConfig, params) "
                           f"of {what}")
    plain = (not config.input_proj and not config.output_proj and not config.mlp_hidden and not config.layer_norm
             and config.pos_encoding == "none" and not config.tied and set(config.attention) == {"linear"})
    if not plain:
        raise bad_argument(InvalidParameterError, "model.config", config,
                           f"{what}: linear attention only, no projections, MLP, LayerNorm, positional encoding "
                           "or weight tying")
    return config, params


def _train_info(model: Any) -> dict:
    """Steps, batch size, seed and final evaluation loss of a trained model (empty for bare weights)."""
    meta = getattr(model, "meta", None) or {}
    history = getattr(model, "history", None) or {}
    info = {k: meta[k] for k in ("steps", "batch_size", "seed") if k in meta}
    if len(history.get("eval_loss", ())):
        info["eval_loss"] = float(history["eval_loss"][-1])
    return info


# --------------------------------------------------------------------------- one-layer LSA


def _lsa_config_params(model: Any) -> tuple[Any, dict]:
    """A one-layer, one-head regression LSA as ``(config, params)``; bare weights get the unclipped config."""
    from .nn.config import TransformerConfig

    if isinstance(model, dict) and "layers" not in model:
        try:
            Wq, Wk, Wv, P = (np.asarray(model[k], dtype=np.float64) for k in ("Wq", "Wk", "Wv", "P"))
        except (KeyError, TypeError):
            raise bad_argument(InvalidParameterError, "model", model,
                               "a TrainedTransformer, (config, params) or a dict with Wq, Wk, Wv, P") from None
        if Wq.ndim != 2 or Wq.shape[0] != Wq.shape[1] or any(a.shape != Wq.shape for a in (Wk, Wv, P)):
            raise bad_argument(ShapeError, "model weight shapes", [a.shape for a in (Wq, Wk, Wv, P)],
                               "four (d+1, d+1) matrices")
        d = Wq.shape[0] - 1
        config = TransformerConfig(attention=("linear",), heads=1, key_size=d + 1, token_format="regression",
                                   data_dim=d, act_clip=None)
        return config, {"layers": [{"attn": {"Wq": Wq[None], "Wk": Wk[None], "Wv": Wv[None], "P": P[None]}}]}
    config, params = _config_params(model, "a one-layer LSA")
    if config.token_format != "regression" or config.n_layers != 1 or config.heads_per_layer != (1,):
        raise bad_argument(InvalidParameterError, "model.config", config,
                           "a one-layer, one-head linear model with token_format='regression'")
    return config, params


def lsa_effective(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(u, M)`` of a one-layer LSA: ``u = (P W_V)[-1]``, ``M = W_K^T W_Q``.

    Parameters
    ----------
    model : TrainedTransformer, (TransformerConfig, params) or dict
        A trained one-layer, one-head linear model on regression tokens
        (:mod:`aievo.mesa.nn`), or bare weights ``{"Wq", "Wk", "Wv", "P"}``, each ``(d+1, d+1)``.
    """
    _, params = _lsa_config_params(model)
    attn = params["layers"][0]["attn"]
    Wq, Wk, Wv, P = (np.asarray(attn[k], dtype=np.float64)[0] for k in ("Wq", "Wk", "Wv", "P"))
    return (P @ Wv)[-1], Wk.T @ Wq


def lsa_effective_predict(u: np.ndarray, M: np.ndarray, X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """``yhat = -u^T (sum_i e_i e_i^T) M e_q`` with ``e_i = (x_i, y_i)``, ``e_q = (x_q, 0)`` (no activation clip).

    Parameters
    ----------
    u : ndarray, shape (d+1,)
    M : ndarray, shape (d+1, d+1)
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)

    Returns
    -------
    ndarray, shape (B,)
    """
    E = np.concatenate([X, y[..., None]], axis=-1)
    eq = np.concatenate([xq, np.zeros(xq.shape[:-1] + (1,))], axis=-1)
    if u.shape != (E.shape[-1],) or M.shape != (E.shape[-1],) * 2:
        raise ShapeError(f"u {u.shape}, M {M.shape}: expected ({E.shape[-1]},) and ({E.shape[-1]}, {E.shape[-1]})")
    Eu = E @ u  # (B, N)
    EMq = np.einsum("bni,bi->bn", E, eq @ M.T)
    return -np.sum(Eu * EMq, axis=1)


def _lsa_predict(u: np.ndarray, M: np.ndarray, X: np.ndarray, y: np.ndarray, xq: np.ndarray,
                 act_clip: float | None) -> np.ndarray:
    """The one-layer forward pass in closed form, with the model's activation clip.

    The query token ``(x_q, 0)`` gains ``P W_V (sum_i e_i e_i^T) W_K^T W_Q e_q``; its last entry
    (0 before the update) is clipped and negated, so the prediction is
    ``clip(lsa_effective_predict, -act_clip, act_clip)`` (equal to :func:`aievo.mesa.nn.reference.predict`;
    tested).
    """
    pred = lsa_effective_predict(u, M, X, y, xq)
    return pred if act_clip is None else np.clip(pred, -act_clip, act_clip)


@finite_result
def lsa_proxies(u: np.ndarray, M: np.ndarray, ranks: Sequence[int] = (1, 5, 9, 10)) -> dict[str, tuple]:
    """Simplified ``(u, M)`` pairs: ``rank-r`` truncations of ``M`` and the ``compressed`` form.

    ``compressed``: ``M' = mean(diag M_xx) I_d`` in the x-block and zero elsewhere,
    ``u' = (0, ..., 0, u_y)`` -- one gradient-descent step with step ``-u_y mean(diag M_xx)``
    (the block-scalar extraction of von Oswald et al. with the blocks ``x`` and ``y``).
    """
    M = check_array(M, "M", 2)
    u = check_array(u, "u", 1)
    if M.shape[0] < 2 or M.shape != (M.shape[0], M.shape[0]) or u.shape != (M.shape[0],):
        raise bad_argument(ShapeError, "u, M shapes", (u.shape, M.shape), "u of shape (d+1,) and M of shape (d+1, d+1)")
    if isinstance(ranks, (str, bytes)) or not hasattr(ranks, "__iter__"):
        raise bad_argument(InvalidParameterError, "ranks", ranks, "a sequence of integer ranks >= 1")
    ranks = [check_int(r, "ranks", 1, M.shape[0]) for r in ranks]
    d = M.shape[0] - 1
    out = {f"rank-{r}": (u, lowrank(M, r)) for r in ranks}
    Mc = np.zeros_like(M)
    Mc[:d, :d] = np.mean(np.diag(M)[:d]) * np.eye(d)
    uc = np.zeros_like(u)
    uc[-1] = u[-1]
    out["compressed"] = (uc, Mc)
    return out


#: input laws of :func:`sample_lsa_split`, each with the variance of U(-1/2, 1/2) at scale 1
LSA_LAWS = ("uniform", "normal", "laplace", "exponential")


def sample_lsa_split(
    rng: Any, B: int, d: int = 10, N: int = 10, *,
    law: str = "uniform", input_scale: float = 1.0, w_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regression tasks ``y = w.x`` with ``w ~ N(0, w_scale^2 I)`` and inputs of a given law.

    ``uniform``: ``x ~ U(-a/2, a/2)`` with ``a = input_scale`` (the official ``input_range``;
    training used ``a = 1``).  ``normal``, ``laplace`` (centred) and ``exponential`` (not
    centred) have the standard deviation of that uniform law, ``a / sqrt(12)``. ``rng`` is
    anything :func:`numpy.random.default_rng` accepts (a Generator is used as is).

    Returns
    -------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    yq : ndarray, shape (B,)
    """
    from ._checks import as_rng

    rng = as_rng(rng)
    if law not in LSA_LAWS:
        raise bad_argument(InvalidParameterError, "law", law, f"one of {', '.join(LSA_LAWS)}")
    a = float(input_scale)
    if not (math.isfinite(a) and a > 0):
        raise bad_argument(InvalidParameterError, "input_scale", input_scale, "a finite number > 0")
    sd = a / math.sqrt(12.0)
    size = (B, N + 1, d)
    if law == "uniform":
        Z = rng.uniform(-a / 2, a / 2, size=size)
    elif law == "normal":
        Z = rng.normal(0.0, sd, size=size)
    elif law == "laplace":
        Z = rng.laplace(0.0, sd / math.sqrt(2.0), size=size)
    else:
        Z = rng.exponential(sd, size=size)
    w = rng.normal(0.0, float(w_scale), size=(B, d))
    Y = np.einsum("bnd,bd->bn", Z, w)
    return Z[:, :N], Y[:, :N], Z[:, N], Y[:, N]


def lsa_splits(quick: bool = False) -> list[Split]:
    """In-distribution, input scale ``a`` in [0.5, 2], weight scale, and the other input laws."""
    alphas = (0.5, 1.0, 2.0) if quick else (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
    out = [Split(f"input scale {a:g}" + (" (train)" if a == 1.0 else ""), "input scale", a,
                 {"input_scale": a}) for a in alphas]
    for s in ((0.1, 5.0) if quick else (0.1, 0.5, 2.0, 5.0)):
        out.append(Split(f"weight scale {s:g}", "weight scale", s, {"w_scale": s}))
    for law in LSA_LAWS[1:]:
        out.append(Split(f"{law} inputs", "input law", float(LSA_LAWS.index(law)), {"law": law}))
    return out


def lsa_faithfulness(
    model: Any,
    ranks: Sequence[int] = (1, 5, 9, 10),
    splits: Sequence[Split] | None = None,
    n_tasks: int = 20000,
    rng: Any = 1,
) -> FaithfulnessResult:
    """Compare a trained one-layer LSA with its proxies on every split.

    The model and every proxy run with the model's activation clip, if it has one (in the
    closed form of :func:`lsa_effective_predict`, which equals the reference forward
    :func:`aievo.mesa.nn.reference.predict` of the layer and is much faster).

    Parameters
    ----------
    model : TrainedTransformer, (TransformerConfig, params) or dict
        The trained layer (see :func:`lsa_effective`); bare weights are run without a clip.
    ranks : sequence of int
        Ranks of the SVD truncations of ``M``.
    splits : sequence of Split, optional
        Default :func:`lsa_splits`.
    n_tasks : int
        Tasks per split (the same tasks for the model and every proxy).
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)

    Returns
    -------
    FaithfulnessResult
    """
    from ._checks import as_rng
    from .nn.config import RegressionTask

    config, params = _lsa_config_params(model)
    u, M = lsa_effective((config, params))
    d = M.shape[0] - 1
    task = getattr(model, "task", None)
    N = task.N if isinstance(task, RegressionTask) else 10
    proxies = lsa_proxies(u, M, ranks)
    clip = config.act_clip
    g = as_rng(rng)
    sp = list(lsa_splits() if splits is None else splits)
    vals = np.empty((len(proxies), len(sp), len(QUANTITIES)))
    for j, s in enumerate(sp):
        X, y, xq, yq = sample_lsa_split(g, int(n_tasks), d, N, **s.options)
        base = _lsa_predict(u, M, X, y, xq, clip)
        for i, (uu, MM) in enumerate(proxies.values()):
            a = agreement(base, _lsa_predict(uu, MM, X, y, xq, clip), yq)
            vals[i, j] = [a[q] for q in QUANTITIES]
    sv = np.linalg.svd(M, compute_uv=False)
    info = {
        "d": d, "N": N, "act_clip": config.act_clip, "singular_values_M": sv,
        "effective_step": float(-u[-1] * np.mean(np.diag(M)[:d])),
        "mean_abs_offdiag_Mxx": float(np.mean(np.abs(M[:d, :d] - np.diag(np.diag(M[:d, :d]))))),
        "mean_diag_Mxx": float(np.mean(np.diag(M)[:d])),
        "norm_u_x": float(np.linalg.norm(u[:d])), "u_y": float(u[-1]),
        "train_config": _train_info(model),
    }
    return FaithfulnessResult("lsa", list(proxies), sp, vals, info)


# --------------------------------------------------------------------------- linear transformer on LDS


@finite_result
def tf_proxies(layers: Sequence[dict], D: int, ranks: Sequence[int] = (2, 5, 10, 20)) -> dict[str, list[dict]]:
    """Simplified weights of a causal linear transformer on constructed LDS tokens.

    ``rank-r``: every head's ``W_Q^T W_K`` and ``P W_V`` replaced by their rank-``r`` SVD
    truncations ``U_r S_r V_r^T``, rebuilt as heads of key and value size ``r``
    (``W_Q = (U_r S_r^{1/2})^T``, ``W_K = S_r^{1/2} V_r^T``, and likewise ``P``, ``W_V``), so a
    low-rank proxy also costs less to run;
    ``compressed``: :func:`aievo.mesa.compressed.extract_compressed` then
    :func:`aievo.mesa.compressed.compressed_layers` (every ``D x D`` block -> mean diagonal x I).
    """
    from .compressed import compressed_layers, extract_compressed

    out: dict[str, list[dict]] = {}
    for r in ranks:
        new = []
        for p in layers:
            Wq, Wk, Wv, P = (np.asarray(p[k], dtype=np.float64) for k in ("Wq", "Wk", "Wv", "P"))
            QK_left, QK_right = _lowrank_factors(Wq.transpose(0, 2, 1) @ Wk, r)
            VP_left, VP_right = _lowrank_factors(P @ Wv, r)
            new.append({"Wq": QK_left.transpose(0, 2, 1).copy(), "Wk": QK_right, "Wv": VP_right, "P": VP_left})
        out[f"rank-{r}"] = new
    out["compressed"] = compressed_layers(extract_compressed(list(layers), D), D)
    return out


def tf_splits(quick: bool = False) -> list[Split]:
    """In-distribution, initial-state scale in [0.5, 2], process noise, other dynamics."""
    alphas = (0.5, 1.0, 2.0) if quick else (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    out = [Split(f"s1 scale {a:g}" + (" (train)" if a == 1.0 else ""), "input scale", a,
                 {"s1_halfwidth": a}) for a in alphas]
    for nz in ((0.1,) if quick else (0.001, 0.1)):
        out.append(Split(f"noise {nz:g}", "noise", nz, {"noise": nz}))
    out.append(Split("contracting dynamics", "dynamics", 1.0, {"kind": "contracting"}))
    if not quick:
        out.append(Split("nonlinear dynamics", "dynamics", 2.0, {"kind": "nonlinear"}))
    return out


def tf_faithfulness(
    model: Any,
    ranks: Sequence[int] = (2, 5, 10, 20),
    splits: Sequence[Split] | None = None,
    n_seqs: int = 512,
    rng: Any = 1,
) -> FaithfulnessResult:
    """Compare a trained causal linear transformer (LDS next-state prediction) with its proxies.

    The model and every proxy run through :func:`aievo.mesa.nn.reference.predict` with the
    model's configuration, its activation clip included (a proxy changes the weights, not
    the architecture).

    Parameters
    ----------
    model : TrainedTransformer or (TransformerConfig, params)
        Linear attention on ``token_format="lds_constructed"`` (:mod:`aievo.mesa.nn`).
        Sequences follow ``model.task`` (an :class:`~aievo.mesa.nn.LDSTask`; default the
        official one with the model's ``data_dim``) changed by each split.
    ranks : sequence of int
        Ranks of the SVD truncations of each head's products.
    splits : sequence of Split, optional
        Default :func:`tf_splits`.
    n_seqs : int
        Sequences per split.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)

    Returns
    -------
    FaithfulnessResult
    """
    from ._checks import as_rng
    from .compressed import extract_compressed
    from .nn.config import LDSTask
    from .nn.reference import predict
    from .tasks import sample_lds

    config, params = _config_params(model, "a linear transformer on LDS tokens")
    if config.token_format != "lds_constructed":
        raise bad_argument(InvalidParameterError, "model.config.token_format", config.token_format,
                           "'lds_constructed'")
    D = config.data_dim
    task = getattr(model, "task", None)
    task = task if isinstance(task, LDSTask) else LDSTask(D=D)
    layers = [layer["attn"] for layer in params["layers"]]
    proxies = tf_proxies(layers, D, ranks)
    g = as_rng(rng)
    sp = list(tf_splits() if splits is None else splits)
    vals = np.empty((len(proxies), len(sp), len(QUANTITIES)))
    for j, s in enumerate(sp):
        opts = {"noise": task.noise, "kind": task.kind, **s.options}
        inputs, targets, _ = sample_lds(g, int(n_seqs), D, task.T, **opts)
        base = predict(params, config, inputs)
        for i, prox in enumerate(proxies.values()):
            cfg = dataclasses.replace(config, key_size=int(prox[0]["Wq"].shape[1]))
            a = agreement(base, predict({"layers": [{"attn": p} for p in prox]}, cfg, inputs), targets)
            vals[i, j] = [a[q] for q in QUANTITIES]
    comp = extract_compressed(layers, D)
    info = {
        "D": D, "T": task.T, "n_layers": config.n_layers, "n_heads": int(layers[0]["Wq"].shape[0]),
        "act_clip": config.act_clip,
        "qk_block_scalar_fraction": [c.qk_fraction for c in comp],
        "vp_block_scalar_fraction": [c.vp_fraction for c in comp],
        "train_config": _train_info(model),
    }
    return FaithfulnessResult("linear_tf", list(proxies), sp, vals, info)
