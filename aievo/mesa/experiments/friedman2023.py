"""Friedman et al. (2023), "Interpretability illusions in the generalization of simplified models".

Simplified proxies of trained softmax transformers (:mod:`aievo.mesa.simplify`: rank-``r`` SVD of
``W_Q^T W_K``, projection of queries and keys on their top singular directions in distribution,
k-means on queries and keys, one-hot attention) are compared with the model on
the training distribution and on systematic-generalization splits, on two tasks:

Dyck-(k, m)
    balanced sequences of ``k`` bracket types of fixed length ``T`` and depth at most ``m``;
    at every position with an open bracket pending the model predicts the type of the bracket
    that must close next (the top of the stack). Structures (the open/close pattern) are split
    by a fixed hash into training and held-out ones. Splits: ``in-dist`` (training structures,
    fresh bracket types), ``unseen struct`` (held-out structures of depth ``<= m``),
    ``unseen depth`` (structures of depth ``m + 1 .. m + 4``) and, within those, ``deeper than m``
    (only the positions nested deeper than ``m``). With types drawn afresh for every
    sequence, the paper's "seen structure" split (training structures, new types) is the
    in-distribution split here. The model is trained by :func:`train_dyck` (2 layers, 1 softmax
    head each, MLP, LayerNorm) and shipped as ``friedman2023_dyck``.
in-context regression
    the shipped 2-layer softmax regression transformer ``evolving_tf_softmax2_h1``
    (:mod:`aievo.evolving.transformers`: ``d = 2``, ``N = 10``, inputs in ``[-1, 1]``).
    Splits: ``in-dist``, ``longer context`` (``N = 30``), ``larger inputs`` (inputs in
    ``[-2, 2]``) and ``unseen family`` (``y = |w^T x|``).

Faithfulness is prediction agreement with the model: the fraction of positions where the
proxy's predicted bracket is the model's (Dyck) or one minus the relative RMS difference of
the predictions (regression, :func:`aievo.mesa.faithfulness.agreement`). The score is
accuracy (Dyck) or the loss ``sum (yhat - y)^2 / (2 B)`` (regression). A proxy whose score
on a shifted split is worse than the model's *under-estimates* the model's generalization;
one whose score is better *over-estimates* it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, bad_argument
from .._checks import as_rng, check_int, spawn
from ..nn.config import OptimConfig, TransformerConfig
from ..nn.shipped import recipe
from ..simplify import Simplification, collect_qk, fit_kmeans, fit_svd_data
from ..simplify import predict as simplified_predict

__all__ = [
    "DyckTask",
    "dyck_counts",
    "sample_structures",
    "structure_is_heldout",
    "sample_dyck",
    "DYCK_SPLITS",
    "dyck_config",
    "dyck_optim",
    "train_dyck",
    "REGRESSION_SPLITS",
    "sample_regression_split",
    "FriedmanResult",
    "simplifications",
    "dyck_friedman",
    "regression_friedman",
    "DYCK_CHECKPOINT",
    "REGRESSION_CHECKPOINT",
]

#: Shipped checkpoint of the Dyck model (recipe :func:`train_dyck`).
DYCK_CHECKPOINT = "friedman2023_dyck"
#: Shipped checkpoint of the regression model (trained by :mod:`aievo.evolving.transformers`).
REGRESSION_CHECKPOINT = "evolving_tf_softmax2_h1"


# --------------------------------------------------------------------------- Dyck task
@dataclass(frozen=True)
class DyckTask:
    """Dyck-(k, m) sequences of fixed length ``T`` and the closing-bracket-type task.

    Tokens ``0..k-1`` open and ``k..2k-1`` close the bracket types ``0..k-1``; a batch is
    one-hot tokens ``(B, T, 2k)`` and labels ``(B, T)``: the type on top of the stack after
    each token, or ``-1`` where the stack is empty. A structure is held out when
    :func:`structure_is_heldout` says so (a fraction ``heldout`` of all structures).
    """

    k: int = 4
    m: int = 4
    T: int = 24
    heldout: float = 0.3

    def __post_init__(self) -> None:
        check_int(self.k, "k")
        check_int(self.m, "m")
        check_int(self.T, "T", minimum=2)
        if self.T % 2:
            raise bad_argument(InvalidParameterError, "T", self.T, "an even length")
        if not 0.0 < self.heldout < 1.0:
            raise bad_argument(InvalidParameterError, "heldout", self.heldout, "a fraction in (0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return {"k": self.k, "m": self.m, "T": self.T, "heldout": self.heldout}


def dyck_counts(T: int, depth: int) -> np.ndarray:
    """``N[t, h]``: ways to finish a Dyck path from height ``h`` after ``t`` steps, staying in ``[0, depth]``."""
    N = np.zeros((T + 1, depth + 2), dtype=np.float64)
    N[T, 0] = 1.0
    for t in range(T - 1, -1, -1):
        for h in range(depth + 1):
            N[t, h] = (N[t + 1, h + 1] if h + 1 <= depth else 0.0) + (N[t + 1, h - 1] if h > 0 else 0.0)
    return N


def sample_structures(rng: Any, n: int, T: int, depth: int) -> np.ndarray:
    """``n`` uniform Dyck paths of length ``T`` with height at most ``depth``: ``(n, T)`` bool, True = open."""
    n = check_int(n, "n")
    T = check_int(T, "T", minimum=2)
    depth = check_int(depth, "depth")
    g = as_rng(rng)
    N = dyck_counts(T, depth)
    if N[0, 0] == 0:
        raise bad_argument(InvalidParameterError, "depth", depth, f"a depth that admits paths of length {T}")
    out = np.zeros((n, T), dtype=bool)
    h = np.zeros(n, dtype=np.int64)
    for t in range(T):
        up = np.where(h + 1 <= depth, N[t + 1, np.minimum(h + 1, depth + 1)], 0.0)
        p = up / N[t, h]
        step = g.random(n) < p
        out[:, t] = step
        h = h + np.where(step, 1, -1)
    return out


def _max_depth(struct: np.ndarray) -> np.ndarray:
    return np.max(np.cumsum(np.where(struct, 1, -1), axis=1), axis=1)


def structure_is_heldout(struct: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each structure (rows of a bool array) is held out: a fixed hash of its bits below ``fraction``."""
    bits = np.asarray(struct, dtype=np.uint64)
    code = (bits << np.arange(bits.shape[1], dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # splitmix64 finaliser, modulo 2^64 on purpose
        z = code + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53 < fraction


def sample_dyck(task: DyckTask, rng: Any, n: int, split: str = "in-dist") -> tuple[np.ndarray, np.ndarray]:
    """One-hot tokens ``(n, T, 2k)`` and labels ``(n, T)`` of one split.

    Parameters
    ----------
    task : DyckTask
    rng : int or numpy.random.Generator
    n : int
    split : {"in-dist", "unseen struct", "unseen depth"}
        Training structures of depth ``<= m``; held-out ones of depth ``<= m``; structures of
        maximal depth ``m + 1 .. m + 4`` (limited by ``T / 2``).
    """
    if split not in DYCK_SPLITS:
        raise bad_argument(InvalidParameterError, "split", split, f"one of {DYCK_SPLITS}")
    n = check_int(n, "n")
    g = as_rng(rng)
    depth = task.m if split != "unseen depth" else min(task.m + 4, task.T // 2)
    if split == "unseen depth" and depth <= task.m:
        raise bad_argument(InvalidParameterError, "task.m", task.m, f"below T / 2 = {task.T // 2} for 'unseen depth'")
    chunks, have = [], 0
    while have < n:
        s = sample_structures(g, 2 * n, task.T, depth)
        if split == "unseen depth":
            s = s[_max_depth(s) > task.m]
        else:
            s = s[structure_is_heldout(s, task.heldout) == (split == "unseen struct")]
        chunks.append(s)
        have += len(s)
    struct = np.concatenate(chunks)[:n]
    types = g.integers(0, task.k, size=struct.shape)
    tokens = np.zeros(struct.shape, dtype=np.int64)
    labels = np.full(struct.shape, -1, dtype=np.int64)
    stack = np.zeros((n, task.T // 2 + 1), dtype=np.int64)  # stack[b, h - 1]: type opened at height h
    height = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    for t in range(task.T):
        op = struct[:, t]
        stack[rows[op], height[op]] = types[op, t]
        tokens[:, t] = np.where(op, types[:, t], task.k + stack[rows, np.maximum(height - 1, 0)])
        height = height + np.where(op, 1, -1)
        labels[:, t] = np.where(height > 0, stack[rows, np.maximum(height - 1, 0)], -1)
    return np.eye(2 * task.k)[tokens], labels


#: The Dyck splits, training distribution first.
DYCK_SPLITS = ("in-dist", "unseen struct", "unseen depth")


def dyck_config(task: DyckTask) -> TransformerConfig:
    """2 causal layers of one softmax head (key size 16), width 32, GELU MLP 64, pre-LayerNorm, sinusoidal inputs.

    One-hot tokens (``token_format="lds_raw"``, ``data_dim = 2k``) are embedded by a learned
    matrix; the first ``k`` of the ``2k`` read-out entries are the logits of the closing type.
    """
    return TransformerConfig(attention=("softmax", "softmax"), heads=1, key_size=16, token_format="lds_raw",
                             data_dim=2 * task.k, embed_dim=32, input_proj=True, output_proj=True, mlp_hidden=64,
                             layer_norm=True, pos_encoding="input", act_clip=None, init="variance_scaling",
                             init_scale=1.0)


#: Optimiser steps and sequences per step of the Dyck recipe.
DYCK_STEPS, DYCK_BATCH = 1500, 64


def dyck_optim(steps: int = DYCK_STEPS) -> OptimConfig:
    """AdamW 3e-3 (warm-up 100 steps, cosine to 1e-4), weight decay 1e-4, global-norm clip 1."""
    return OptimConfig(lr=3e-3, warmup_steps=100, decay_steps=steps, end_lr=1e-4, weight_decay=1e-4,
                       clip=1.0, clip_kind="global_norm")


def _dyck_logits(params: dict, config: TransformerConfig, x: Any, k: int) -> Any:
    from ..nn.model import predict

    return predict(params, config, x)[..., :k]


def train_dyck(task: DyckTask | None = None, steps: int = DYCK_STEPS, batch_size: int = DYCK_BATCH,
               rng: int = 0) -> Any:
    """Train the Dyck model (cross-entropy on the closing type at every position with a pending bracket).

    Returns
    -------
    TrainedTransformer
        ``history``: ``train_loss`` per step, ``eval_step`` and ``eval_accuracy`` (on 512
        in-distribution sequences); ``meta["dyck"]`` holds the task.
    """
    from ..nn._deps import require_jax
    from ..nn.model import init_params
    from ..nn.result import TrainedTransformer
    from ..nn.train import make_optimizer

    jax, optax = require_jax()
    import jax.numpy as jnp

    task = DyckTask() if task is None else task
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    t0 = time.perf_counter()
    config = dyck_config(task)
    optim = dyck_optim(steps)
    g_init, g_eval, g_data = spawn(as_rng(rng), 3)
    p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float32), init_params(config, g_init))
    tx = make_optimizer(optim)
    state = tx.init(p)

    def loss_fn(p, x, y):
        logits = _dyck_logits(p, config, x, task.k)
        valid = y >= 0
        logp = jax.nn.log_softmax(logits, axis=-1)
        nll = -jnp.take_along_axis(logp, jnp.maximum(y, 0)[..., None], axis=-1)[..., 0]
        return jnp.sum(jnp.where(valid, nll, 0.0)) / jnp.sum(valid)

    @jax.jit
    def step(p, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    ev_x, ev_y = sample_dyck(task, g_eval, 512)
    accuracy = jax.jit(lambda p: jnp.sum((jnp.argmax(_dyck_logits(p, config, ev_x, task.k), -1) == ev_y)
                                         & (ev_y >= 0)) / jnp.sum(ev_y >= 0))
    losses, ev_steps, ev_acc = [], [], []
    for i in range(steps):
        if i % (steps // 5) == 0:
            ev_steps.append(i)
            ev_acc.append(float(accuracy(p)))
        x, y = sample_dyck(task, g_data, batch_size)
        p, state, loss = step(p, state, jnp.asarray(x, dtype=jnp.float32), jnp.asarray(y))
        losses.append(loss)
    ev_steps.append(steps)
    ev_acc.append(float(accuracy(p)))
    history = {"train_loss": np.asarray(jnp.stack(losses), dtype=np.float64),
               "eval_step": np.asarray(ev_steps, dtype=np.int64), "eval_accuracy": np.asarray(ev_acc)}
    meta = {"steps": steps, "batch_size": batch_size, "seed": rng, "seconds": time.perf_counter() - t0,
            "dyck": task.to_dict()}
    return TrainedTransformer(config, jax.tree_util.tree_map(np.asarray, p), history, None, optim, meta)


recipe(DYCK_CHECKPOINT)(train_dyck)


# --------------------------------------------------------------------------- regression splits
#: The regression splits: name -> (context length N, input half-width, family).
REGRESSION_SPLITS: dict[str, tuple[int, float, str]] = {
    "in-dist": (10, 1.0, "linear"),
    "longer context": (30, 1.0, "linear"),
    "larger inputs": (10, 2.0, "linear"),
    "unseen family": (10, 1.0, "abs"),
}


def sample_regression_split(split: str, rng: Any, n: int, d: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Tokens ``(n, N + 1, d + 1)`` and query targets ``(n, 1, 1)`` of one regression split.

    ``w ~ N(0, I_d)``, inputs uniform on ``[-h, h]^d``; ``y = w^T x`` (``linear``) or ``|w^T x|`` (``abs``).
    """
    from ..tasks import concat_tokens

    if split not in REGRESSION_SPLITS:
        raise bad_argument(InvalidParameterError, "split", split, f"one of {tuple(REGRESSION_SPLITS)}")
    n = check_int(n, "n")
    d = check_int(d, "d")
    N, h, family = REGRESSION_SPLITS[split]
    g = as_rng(rng)
    w = g.standard_normal((n, d))
    X = g.uniform(-h, h, (n, N + 1, d))
    y = np.einsum("bnd,bd->bn", X, w)
    if family == "abs":
        y = np.abs(y)
    return concat_tokens(X[:, :N], y[:, :N], X[:, N]), y[:, N, None, None]


# --------------------------------------------------------------------------- experiment
@dataclass
class FriedmanResult:
    """Faithfulness and scores of simplified proxies per split.

    Attributes
    ----------
    task : str
        ``"dyck"`` or ``"regression"``.
    proxies : list of str
    splits : list of str
        In-distribution first.
    faithfulness : ndarray, shape (len(proxies), len(splits))
        Prediction agreement with the model (see the module).
    score_model : ndarray, shape (len(splits),)
    score_proxy : ndarray, shape (len(proxies), len(splits))
    score_name : str
        ``"accuracy"`` (higher is better) or ``"loss"`` (lower is better).
    info : dict
    """

    task: str
    proxies: list[str]
    splits: list[str]
    faithfulness: np.ndarray
    score_model: np.ndarray
    score_proxy: np.ndarray
    score_name: str
    info: dict = field(default_factory=dict)

    def generalization_gap(self) -> np.ndarray:
        """``(proxies, splits)``: how much better the proxy scores than the model (positive: over-estimates).

        Accuracy difference for Dyck, loss of the model minus loss of the proxy for regression.
        """
        d = self.score_proxy - self.score_model[None, :]
        return d if self.score_name == "accuracy" else -d

    def to_markdown(self) -> str:
        """A table: per proxy and split, faithfulness and score (model's score in the first row)."""
        head = "| proxy | " + " | ".join(self.splits) + " |\n|---|" + "---|" * len(self.splits) + "\n"
        rows = [f"| model ({self.score_name}) | " + " | ".join(f"{v:.3f}" for v in self.score_model) + " |"]
        for i, p in enumerate(self.proxies):
            cells = [f"{f:.3f} / {s:.3f}" for f, s in zip(self.faithfulness[i], self.score_proxy[i])]
            rows.append(f"| {p} (faithfulness / {self.score_name}) | " + " | ".join(cells) + " |")
        return head + "\n".join(rows)


def simplifications(model: Any, fit_inputs: np.ndarray, layers: tuple[int, ...], ranks: tuple[int, ...],
                    data_ranks: tuple[int, ...], ks: tuple[int, ...], rng: Any = 0) -> list[Simplification]:
    """The proxies compared, on ``layers``.

    ``svd`` of the weights at each of ``ranks``, ``svd_data`` at each of ``data_ranks`` and
    ``kmeans`` at each of ``ks`` (both fitted on the model's queries and keys for
    ``fit_inputs``) and ``onehot``.
    """
    out = [Simplification("svd", layers, rank=r) for r in ranks]
    g = as_rng(rng)
    points = collect_qk(model.params, model.config, fit_inputs, layers)
    out += [fit_svd_data(points, r) for r in data_ranks]
    out += [fit_kmeans(points, k, g) for k in ks]
    out.append(Simplification("onehot", layers))
    return out


def dyck_friedman(model: Any, *, n: int = 1000, ranks: tuple[int, ...] = (4,), data_ranks: tuple[int, ...] = (4, 8),
                  ks: tuple[int, ...] = (8, 32), layers: tuple[int, ...] = (1,), rng: int = 0) -> FriedmanResult:
    """Faithfulness (agreement of the predicted closing type) and accuracy of the proxies on the Dyck splits.

    Parameters
    ----------
    model : TrainedTransformer
        The Dyck model (``meta["dyck"]`` holds its task).
    n : int, default 1000
        Sequences per split (and for fitting the k-means proxies).
    ranks, data_ranks, ks : tuple of int
        Ranks of the weight and data SVD proxies and numbers of clusters (:func:`simplifications`).
    layers : tuple of int, default (1,)
        Layers simplified (the second, whose head reads the top of the stack).
    rng : int
    """
    task = DyckTask(**model.meta["dyck"])
    g_fit, g_km, g_eval = spawn(as_rng(rng), 3)
    fit_x, _ = sample_dyck(task, g_fit, n)
    proxies = simplifications(model, fit_x, layers, ranks, data_ranks, ks, g_km)
    splits = [*DYCK_SPLITS, "deeper than m"]
    faith = np.zeros((len(proxies), len(splits)))
    acc_p = np.zeros_like(faith)
    acc_m = np.zeros(len(splits))
    for j, (split, gj) in enumerate(zip(DYCK_SPLITS, spawn(g_eval, len(DYCK_SPLITS)))):
        x, y = sample_dyck(task, gj, n, split)
        valid = y >= 0
        cols = [(j, valid)]
        if split == "unseen depth":  # also only the positions nested deeper than any training sequence
            depth = np.cumsum(np.where(x.argmax(-1) < task.k, 1, -1), axis=1)
            cols.append((len(DYCK_SPLITS), valid & (depth > task.m)))
        base = np.argmax(simplified_predict(model.params, model.config, x)[..., : task.k], -1)
        preds = [np.argmax(simplified_predict(model.params, model.config, x, s)[..., : task.k], -1) for s in proxies]
        for col, sel in cols:
            acc_m[col] = np.mean(base[sel] == y[sel])
            for i, pred in enumerate(preds):
                faith[i, col] = np.mean(pred[sel] == base[sel])
                acc_p[i, col] = np.mean(pred[sel] == y[sel])
    return FriedmanResult("dyck", [s.label for s in proxies], splits, faith, acc_m, acc_p, "accuracy",
                          {"task": task.to_dict(), "n": n, "layers": list(layers)})


def regression_friedman(model: Any, *, n: int = 2000, ranks: tuple[int, ...] = (2,), data_ranks: tuple[int, ...] = (2,),
                        ks: tuple[int, ...] = (16, 64), layers: tuple[int, ...] | None = None,
                        rng: int = 0) -> FriedmanResult:
    """Faithfulness ``1 - rel_diff`` and loss of the proxies on the regression splits.

    ``layers``: default every layer. Other parameters as :func:`dyck_friedman`.
    """
    from ..faithfulness import agreement

    layers = tuple(range(model.config.n_layers)) if layers is None else layers
    d = model.config.data_dim
    g_fit, g_km, g_eval = spawn(as_rng(rng), 3)
    fit_x, _ = sample_regression_split("in-dist", g_fit, n, d)
    proxies = simplifications(model, fit_x, layers, ranks, data_ranks, ks, g_km)
    splits = list(REGRESSION_SPLITS)
    faith = np.zeros((len(proxies), len(splits)))
    loss_p = np.zeros_like(faith)
    loss_m = np.zeros(len(splits))
    for j, (split, gj) in enumerate(zip(splits, spawn(g_eval, len(splits)))):
        x, y = sample_regression_split(split, gj, n, d)
        base = simplified_predict(model.params, model.config, x)
        for i, s in enumerate(proxies):
            a = agreement(base, simplified_predict(model.params, model.config, x, s), y)
            faith[i, j] = 1.0 - a["rel_diff"]
            loss_p[i, j] = a["loss_proxy"]
            loss_m[j] = a["loss_model"]
    return FriedmanResult("regression", [s.label for s in proxies], splits, faith, loss_m, loss_p, "loss",
                          {"n": n, "layers": list(layers), "d": d})


# --------------------------------------------------------------------------- figures


