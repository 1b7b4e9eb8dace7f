"""How a small transformer regresses in context on Friedman #2-like data (mechanistic analysis).

The in-context regression blog (:mod:`aievo.mesa.regression`) scores language models and the
classical regressors on Friedman #2-like prompts and asks, layer by layer, which regressor's
prediction the language model's residual stream is closest to. This module asks the same of our
own small softmax transformer, trained here on a family of such tasks:

task family (:class:`FriedmanICLTask`, :func:`sample_friedman_prompts`)
    the blog's "original #2" function ``y = (x0^p + (x1 x2 - 2 / sqrt(x1 x3))^2)^q`` with
    ``p = 4, q = 0.75`` and inputs ``x0 in [0, 3)``, ``x1 in [4 pi, 56 pi)``, ``x2 in [0, 2)``,
    ``x3 in [1, 11)``, randomised per prompt: every input range (and the offset of ``x1``) is
    scaled by ``2^u``, ``u ~ U(-s, s)``, ``p ~ U(2, 4)`` and ``q ~ U(0.5, 1)``; ``N`` context
    rows and one query. The benchmark's ``original2`` datasets are members of the family.
scaling (:func:`standardize_prompts`)
    features and labels are centred and divided by their standard deviation over the context
    rows, exactly as :class:`aievo.mesa.regressors.InContextRegressor` scales benchmark data,
    so that :func:`transformer_regressor` feeds the benchmark's rows to the model the way it was
    trained.
model (:func:`mech_config`, :func:`train_mech`, shipped as ``icl_regression_mech``)
    3 softmax layers of 2 heads, width 32, GELU MLPs, pre-LayerNorm, a learned embedding of the
    tokens ``(x_i, y_i)`` / ``(x_q, 0)`` and a learned linear read-out at the query.
analysis (:func:`mechanism`)
    on held-out prompts of the family: the read-out applied to the residual stream after every
    layer (the regression analogue of the blog's logit lens), its normalised squared distance to
    every classical regressor's prediction (:func:`closeness`), least-squares probes of every
    regressor's prediction from the query's residual stream (R^2 on held-out prompts), and the
    query's attention to the context rows against their distance in input space
    (:func:`attention_distance_correlation`).

Everything except training runs in numpy (:mod:`aievo.mesa.simplify`), so the figure and the
regressor row need no JAX.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .._checks import as_rng, check_float, check_int, spawn
from ..nn.config import OptimConfig, TransformerConfig
from ..nn.shipped import recipe

__all__ = [
    "FriedmanICLTask",
    "sample_friedman_prompts",
    "standardize_prompts",
    "prompt_tokens",
    "mech_config",
    "mech_optim",
    "train_mech",
    "MECH_CHECKPOINT",
    "transformer_learner",
    "transformer_regressor",
    "residual_streams",
    "lens_predictions",
    "query_attention",
    "CLASSICAL",
    "classical_predictions",
    "closeness",
    "attention_distance_correlation",
    "MechanismResult",
    "mechanism",
    "BENCHMARK_ROWS",
    "benchmark_rows",
]

#: Shipped checkpoint of the model (recipe :func:`train_mech`).
MECH_CHECKPOINT = "icl_regression_mech"


# --------------------------------------------------------------------------- task family
@dataclass(frozen=True)
class FriedmanICLTask:
    """A family of Friedman #2-like in-context regression prompts.

    Parameters
    ----------
    N : int
        Context rows per prompt (one query follows them).
    spread : float
        Every input range is scaled by ``2^u`` with ``u ~ U(-spread, spread)`` per prompt
        (0: the blog's ranges).
    p_range, q_range : (float, float)
        Ranges of the inner exponent ``p`` and outer exponent ``q`` (the blog: 4 and 0.75).
    """

    N: int = 25
    spread: float = 1.0
    p_range: tuple[float, float] = (2.0, 4.0)
    q_range: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        check_int(self.N, "N", minimum=2)
        check_float(self.spread, "spread", nonnegative=True)
        for name in ("p_range", "q_range"):
            lo, hi = (check_float(v, f"{name}[i]", positive=True) for v in getattr(self, name))
            if lo > hi:
                raise bad_argument(InvalidParameterError, name, getattr(self, name), "(low, high) with low <= high")
            object.__setattr__(self, name, (lo, hi))

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return {"N": self.N, "spread": self.spread, "p_range": list(self.p_range), "q_range": list(self.q_range)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FriedmanICLTask:
        """Inverse of :meth:`to_dict` (an empty dict gives the defaults)."""
        known = {"N", "spread", "p_range", "q_range"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise bad_argument(InvalidParameterError, "FriedmanICLTask field", unknown[0], f"one of {sorted(known)}")
        return cls(N=int(data.get("N", 25)), spread=float(data.get("spread", 1.0)),
                   p_range=tuple(data.get("p_range", (2.0, 4.0))),
                   q_range=tuple(data.get("q_range", (0.5, 1.0))))


def sample_friedman_prompts(task: FriedmanICLTask, rng: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw prompts of the family: inputs ``(n, N + 1, 4)`` and labels ``(n, N + 1)`` (last row: the query).

    With ``s = 2^U(-spread, spread)`` drawn per prompt and per feature,
    ``x0 ~ 3 s0 U``, ``x1 ~ 4 pi s1 + 52 pi s1 U``, ``x2 ~ 2 s2 U``, ``x3 ~ 1 + 10 s3 U``
    (``U ~ U(0, 1)``) and ``y = (x0^p + (x1 x2 - 2 / sqrt(x1 x3))^2)^q``.
    """
    if not isinstance(task, FriedmanICLTask):
        raise bad_argument(InvalidParameterError, "task", task, "a FriedmanICLTask")
    n = check_int(n, "n")
    g = as_rng(rng)
    T = task.N + 1
    s = 2.0 ** g.uniform(-task.spread, task.spread, size=(n, 1, 4))
    u = g.uniform(size=(n, T, 4))
    X = np.empty_like(u)
    X[..., 0] = 3 * s[..., 0] * u[..., 0]
    X[..., 1] = 4 * np.pi * s[..., 1] + 52 * np.pi * s[..., 1] * u[..., 1]
    X[..., 2] = 2 * s[..., 2] * u[..., 2]
    X[..., 3] = 1 + 10 * s[..., 3] * u[..., 3]
    p = g.uniform(*task.p_range, size=(n, 1))
    q = g.uniform(*task.q_range, size=(n, 1))
    y = (X[..., 0] ** p + (X[..., 1] * X[..., 2] - 2 / np.sqrt(X[..., 1] * X[..., 3])) ** 2) ** q
    return X, y


def standardize_prompts(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and scale features and labels by their mean and standard deviation over the context rows.

    As :class:`aievo.mesa.regressors.InContextRegressor`: a constant column (zero standard
    deviation) is only centred.

    Parameters
    ----------
    X : ndarray, shape (B, N + 1, d)
    y : ndarray, shape (B, N + 1)
        The last row of each prompt is the query (excluded from the statistics).

    Returns
    -------
    Z : ndarray, shape (B, N + 1, d)
    t : ndarray, shape (B, N + 1)
        Standardised features and labels.
    label_scale : ndarray, shape (B, 2)
        The label's context mean and standard deviation (to map predictions back).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 3 or y.shape != X.shape[:2] or X.shape[1] < 2:
        raise bad_argument(ShapeError, "X.shape, y.shape", (X.shape, y.shape), "(B, N + 1, d) and (B, N + 1), N >= 1")
    xm, xs = X[:, :-1].mean(axis=1, keepdims=True), X[:, :-1].std(axis=1, keepdims=True)
    xs = np.where(xs == 0.0, 1.0, xs)
    ym, ys = y[:, :-1].mean(axis=1, keepdims=True), y[:, :-1].std(axis=1, keepdims=True)
    ys = np.where(ys == 0.0, 1.0, ys)
    return (X - xm) / xs, (y - ym) / ys, np.hstack([ym, ys])


def prompt_tokens(Z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Tokens ``(x_i, y_i)`` and the query ``(x_q, 0)``: shape ``(B, N + 1, d + 1)`` (the query's label is dropped)."""
    lab = np.array(t, dtype=np.float64, copy=True)
    lab[:, -1] = 0.0
    return np.concatenate([np.asarray(Z, dtype=np.float64), lab[..., None]], axis=-1)


# --------------------------------------------------------------------------- model and training
def mech_config() -> TransformerConfig:
    """3 softmax layers x 2 heads (key size 16), width 32, GELU MLP 64, pre-LayerNorm, learned embedding and read-out."""
    return TransformerConfig(attention=("softmax",) * 3, heads=2, key_size=16, token_format="regression",
                             data_dim=4, embed_dim=32, input_proj=True, output_proj=True, mlp_hidden=64,
                             layer_norm=True, pos_encoding="none", act_clip=None, init="variance_scaling",
                             init_scale=1.0)


#: Optimiser steps and prompts per step of the recipe.
MECH_STEPS, MECH_BATCH = 1500, 128


def mech_optim(steps: int = MECH_STEPS) -> OptimConfig:
    """AdamW 2e-3 (warm-up 100 steps, cosine to 1e-5), weight decay 1e-4, global-norm clip 1."""
    return OptimConfig(lr=2e-3, warmup_steps=100, decay_steps=steps, end_lr=1e-5, weight_decay=1e-4,
                       clip=1.0, clip_kind="global_norm")


def _batch(task: FriedmanICLTask, g: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    Z, t, _ = standardize_prompts(*sample_friedman_prompts(task, g, n))
    return prompt_tokens(Z, t), t[:, -1]


def train_mech(task: FriedmanICLTask | None = None, steps: int = MECH_STEPS, batch_size: int = MECH_BATCH,
               rng: int = 0) -> Any:
    """Train the model on standardised prompts of the family (squared error of the query's label).

    Returns
    -------
    TrainedTransformer
        ``history``: ``train_loss`` (mean over blocks of 50 steps), ``eval_step`` and
        ``eval_mse`` (mean squared error in standardised label units on 1024 held-out prompts);
        ``meta["task"]`` holds the task family.
    """
    from ..nn._deps import require_jax
    from ..nn.model import init_params, predict
    from ..nn.result import TrainedTransformer
    from ..nn.train import make_optimizer

    jax, optax = require_jax()
    import jax.numpy as jnp

    task = FriedmanICLTask() if task is None else task
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    t0 = time.perf_counter()
    config = mech_config()
    optim = mech_optim(steps)
    g_init, g_eval, g_data = spawn(as_rng(rng), 3)
    p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jnp.float32), init_params(config, g_init))
    tx = make_optimizer(optim)
    state = tx.init(p)

    def loss_fn(p, x, y):
        return jnp.mean((predict(p, config, x)[:, 0, 0] - y) ** 2)

    @jax.jit
    def step(p, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    ev_x, ev_y = (jnp.asarray(a, dtype=jnp.float32) for a in _batch(task, g_eval, 1024))
    ev = jax.jit(lambda p: loss_fn(p, ev_x, ev_y))
    every = max(steps // 10, 1)
    losses, ev_steps, ev_mse = [], [], []
    for i in range(steps):
        if i % every == 0:
            ev_steps.append(i)
            ev_mse.append(float(ev(p)))
        x, y = _batch(task, g_data, batch_size)
        p, state, loss = step(p, state, jnp.asarray(x, dtype=jnp.float32), jnp.asarray(y, dtype=jnp.float32))
        losses.append(loss)
    ev_steps.append(steps)
    ev_mse.append(float(ev(p)))
    per_step = np.asarray(jnp.stack(losses), dtype=np.float64)
    blocks = per_step[: steps - steps % 50].reshape(-1, 50).mean(axis=1) if steps >= 50 else per_step
    history = {"train_loss": blocks, "eval_step": np.asarray(ev_steps, dtype=np.int64),
               "eval_mse": np.asarray(ev_mse)}
    meta = {"steps": steps, "batch_size": batch_size, "seed": rng, "seconds": time.perf_counter() - t0,
            "task": task.to_dict()}
    return TrainedTransformer(config, jax.tree_util.tree_map(np.asarray, p), history, None, optim, meta)


recipe(MECH_CHECKPOINT)(train_mech)


@lru_cache(maxsize=2)
def _model(retrain: bool) -> Any:
    from ..nn.shipped import shipped_model

    return shipped_model(MECH_CHECKPOINT, retrain=retrain)


def _check_model(model: Any) -> Any:
    if model is None:
        return _model(False)
    cfg = getattr(model, "config", None)
    if (not isinstance(cfg, TransformerConfig) or cfg.token_format != "regression" or not cfg.input_proj
            or not cfg.output_proj or not hasattr(model, "params")):
        raise bad_argument(InvalidParameterError, "model", type(model).__name__,
                           "a TrainedTransformer with token_format 'regression', a learned embedding and read-out "
                           "(or None: the shipped model)")
    return model


# --------------------------------------------------------------------------- the model as a regressor row
def transformer_learner(model: Any = None) -> Any:
    """The model as a batched in-context learner ``f(X[B, N, d], y[B, N], xq[B, d]) -> yhat[B]`` (numpy forward).

    Inputs are used as given (already standardised); ``model=None`` is the shipped model.
    """
    from ..simplify import predict

    model = _check_model(model)
    d = model.config.data_dim

    def learner(X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
        X, y, xq = (np.asarray(a, dtype=np.float64) for a in (X, y, xq))
        if X.ndim != 3 or X.shape[-1] != d or y.shape != X.shape[:2] or xq.shape != (X.shape[0], d):
            raise bad_argument(ShapeError, "X.shape, y.shape, xq.shape", (X.shape, y.shape, xq.shape),
                               f"(B, N, {d}), (B, N), (B, {d})")
        Z = np.concatenate([X, xq[:, None]], axis=1)
        t = np.concatenate([y, np.zeros((y.shape[0], 1))], axis=1)
        return predict(model.params, model.config, prompt_tokens(Z, t))[:, 0, 0]

    return learner


def transformer_regressor(model: Any = None, name: str = "icl_transformer") -> Any:
    """The model as a regressor row of :func:`aievo.mesa.regression.regression_benchmark`.

    ``fit`` stores the context rows; ``predict`` standardises context and queries by the
    context's means and standard deviations (as in training, :func:`standardize_prompts`), runs
    the model once per query row with all context rows as its context, and maps the prediction
    back to label units (:class:`aievo.mesa.regressors.InContextRegressor` with unit scales).

    Parameters
    ----------
    model : TrainedTransformer, optional
        Default: the shipped ``icl_regression_mech``.
    name : str
        Row name.

    Returns
    -------
    InContextRegressor
    """
    from ..regressors import InContextRegressor

    return InContextRegressor(transformer_learner(model), name)


# --------------------------------------------------------------------------- activations
def _truncated(model: Any, n_layers: int) -> tuple[dict, TransformerConfig]:
    cfg = dataclasses.replace(model.config, attention=model.config.attention[:n_layers],
                              heads=model.config.heads_per_layer[:n_layers])
    return {**model.params, "layers": model.params["layers"][:n_layers]}, cfg


def residual_streams(model: Any, tokens: np.ndarray) -> np.ndarray:
    """The query's residual stream after the embedding and after every layer: ``(L + 1, B, E)`` (numpy)."""
    from ..simplify import forward

    model = _check_model(model)
    x = np.asarray(tokens, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != model.config.token_width:
        raise bad_argument(ShapeError, "tokens.shape", x.shape, f"(B, N + 1, {model.config.token_width})")
    out = [x[:, -1] @ np.asarray(model.params["embed"], dtype=np.float64).T]
    for n in range(1, model.config.n_layers + 1):
        out.append(forward(*_truncated(model, n), x)[:, -1])
    return np.stack(out)


def lens_predictions(model: Any, streams: np.ndarray) -> np.ndarray:
    """The read-out applied to every layer's stream (the regression "logit lens"): ``(L + 1, B)``."""
    model = _check_model(model)
    W = np.asarray(model.params["readout"], dtype=np.float64)[0]
    return np.asarray(streams, dtype=np.float64) @ W


def query_attention(model: Any, tokens: np.ndarray) -> np.ndarray:
    """Softmax attention of the query on the context rows: ``(L, H, B, N)`` (rows sum to 1)."""
    from ..simplify import attention_weights, forward

    model = _check_model(model)
    qk = forward(model.params, model.config, np.asarray(tokens, dtype=np.float64), return_qk=True)
    out = []
    for i in range(model.config.n_layers):
        Q, K, mask = qk[i]
        A = attention_weights(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]), mask, "softmax")
        out.append(np.moveaxis(A[:, :, -1, :-1], 0, 1))
    return np.stack(out)


# --------------------------------------------------------------------------- classical regressors
#: Classical regressors of the analysis (numpy, on the standardised prompts): least squares and
#: ridge (alpha 1) with intercept, k nearest neighbours (k = 5, uniform weights; k = 1), RBF
#: kernel ridge (gamma = 1/d, alpha = 0.1, no intercept). Also available: ``"average"`` (the
#: context mean: 0 on standardised prompts, so it is scored but not compared) and scikit-learn's
#: ``GradientBoostingRegressor`` (defaults, ``random_state=0``) as ``"gradient_boosting"``
#: when scikit-learn is installed.
CLASSICAL = ("least_squares", "ridge", "knn5", "knn1", "rbf_kernel_ridge")


def _solve_linear(Zc: np.ndarray, tc: np.ndarray, zq: np.ndarray, alpha: float) -> np.ndarray:
    B, N, d = Zc.shape
    A = np.concatenate([Zc, np.ones((B, N, 1))], axis=-1)
    reg = alpha * np.eye(d + 1)
    reg[-1, -1] = 0.0  # the intercept is not penalised
    w = np.linalg.solve(np.swapaxes(A, 1, 2) @ A + reg, np.swapaxes(A, 1, 2) @ tc[..., None])[..., 0]
    return np.sum(np.concatenate([zq, np.ones((B, 1))], axis=-1) * w, axis=-1)


def _knn(Zc: np.ndarray, tc: np.ndarray, zq: np.ndarray, k: int) -> np.ndarray:
    dist = np.linalg.norm(Zc - zq[:, None], axis=-1)
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(tc, idx, axis=1).mean(axis=1)


def _rbf_kernel_ridge(Zc: np.ndarray, tc: np.ndarray, zq: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    sq = np.sum((Zc[:, :, None] - Zc[:, None]) ** 2, axis=-1)
    K = np.exp(-gamma * sq)
    a = np.linalg.solve(K + alpha * np.eye(K.shape[-1]), tc[..., None])[..., 0]
    kq = np.exp(-gamma * np.sum((Zc - zq[:, None]) ** 2, axis=-1))
    return np.sum(kq * a, axis=1)


def _gbrt(Zc: np.ndarray, tc: np.ndarray, zq: np.ndarray) -> np.ndarray:
    from ..._extras import require_extra

    (ensemble,) = require_extra("sklearn", "sklearn.ensemble", purpose="the gradient boosting row")
    return np.array([ensemble.GradientBoostingRegressor(random_state=0).fit(Zc[b], tc[b]).predict(zq[b:b + 1])[0]
                     for b in range(Zc.shape[0])])


def classical_predictions(Z: np.ndarray, t: np.ndarray, names: tuple[str, ...] = CLASSICAL) -> dict[str, np.ndarray]:
    """Each classical regressor's prediction of the query label of standardised prompts.

    Parameters
    ----------
    Z : ndarray, shape (B, N + 1, d)
    t : ndarray, shape (B, N + 1)
        Standardised prompts (:func:`standardize_prompts`); the query's label is not used.
    names : tuple of str
        From :data:`CLASSICAL` and ``"gradient_boosting"``.

    Returns
    -------
    dict of str to ndarray of shape (B,)
    """
    Z = np.asarray(Z, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if Z.ndim != 3 or t.shape != Z.shape[:2]:
        raise bad_argument(ShapeError, "Z.shape, t.shape", (Z.shape, t.shape), "(B, N + 1, d) and (B, N + 1)")
    Zc, tc, zq = Z[:, :-1], t[:, :-1], Z[:, -1]
    d = Z.shape[-1]
    fns = {
        "least_squares": lambda: _solve_linear(Zc, tc, zq, 0.0),
        "ridge": lambda: _solve_linear(Zc, tc, zq, 1.0),
        "knn5": lambda: _knn(Zc, tc, zq, 5),
        "knn1": lambda: _knn(Zc, tc, zq, 1),
        "rbf_kernel_ridge": lambda: _rbf_kernel_ridge(Zc, tc, zq, 1.0 / d, 0.1),
        "average": lambda: tc.mean(axis=1),
        "gradient_boosting": lambda: _gbrt(Zc, tc, zq),
    }
    out = {}
    for name in names:
        if name not in fns:
            raise bad_argument(InvalidParameterError, "names", name, f"names from {tuple(fns)}")
        out[name] = np.asarray(fns[name](), dtype=np.float64).reshape(-1)
    return out


# --------------------------------------------------------------------------- metrics
def closeness(lens: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Normalised squared distance of every layer's read-out to a reference prediction.

    ``mean_b (lens[l, b] - reference[b])^2 / var_b(reference)``: 0 when layer ``l`` predicts
    exactly what the reference predicts, 1 when it is as far from it as the reference's mean.

    Parameters
    ----------
    lens : ndarray, shape (L + 1, B)
    reference : ndarray, shape (B,)

    Returns
    -------
    ndarray, shape (L + 1,)
    """
    lens = np.asarray(lens, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if lens.ndim != 2 or ref.shape != lens.shape[1:]:
        raise bad_argument(ShapeError, "lens.shape, reference.shape", (lens.shape, ref.shape), "(L + 1, B) and (B,)")
    var = float(ref.var())
    if not var > 0:
        raise bad_argument(InvalidParameterError, "reference", "constant reference", "a reference that varies")
    return np.mean((lens - ref) ** 2, axis=1) / var


def attention_distance_correlation(Z: np.ndarray, attention: np.ndarray) -> np.ndarray:
    """Per prompt, the Pearson correlation of the query's attention with minus the input distance.

    Parameters
    ----------
    Z : ndarray, shape (B, N + 1, d)
        Prompts' inputs (last row: the query).
    attention : ndarray, shape (..., B, N)
        Attention of the query on the ``N`` context rows (e.g. :func:`query_attention`).

    Returns
    -------
    ndarray, shape (..., B)
        ``corr(attention[..., b, :], -||Z[b, i] - Z[b, -1]||)``; NaN where the attention is
        constant over the context (the correlation is undefined).
    """
    Z = np.asarray(Z, dtype=np.float64)
    A = np.asarray(attention, dtype=np.float64)
    if Z.ndim != 3 or A.shape[-2:] != (Z.shape[0], Z.shape[1] - 1):
        raise bad_argument(ShapeError, "Z.shape, attention.shape", (Z.shape, A.shape),
                           "(B, N + 1, d) and (..., B, N)")
    s = -np.linalg.norm(Z[:, :-1] - Z[:, -1:], axis=-1)
    s = s - s.mean(axis=-1, keepdims=True)
    a = A - A.mean(axis=-1, keepdims=True)
    den = np.sqrt(np.sum(a * a, axis=-1) * np.sum(s * s, axis=-1))
    num = np.sum(a * s, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _by_distance_rank(Z: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Attention ``(..., B, N)`` reordered by the context row's distance rank to the query (nearest first)."""
    order = np.argsort(np.linalg.norm(Z[:, :-1] - Z[:, -1:], axis=-1), axis=-1, kind="stable")
    return np.take_along_axis(A, np.broadcast_to(order, A.shape), axis=-1)


# --------------------------------------------------------------------------- analysis
@dataclass
class MechanismResult:
    """What :func:`mechanism` measured on held-out prompts of the family.

    Attributes
    ----------
    layers : list of str
        ``"embed"``, ``"layer 1"``, ... (the query's residual stream after each).
    regressors : list of str
        The classical regressors compared.
    closeness : ndarray, shape (L + 1, R)
        :func:`closeness` of each layer's read-out to each regressor's prediction.
    probe_r2 : ndarray, shape (L + 1, R + 1)
        Held-out R^2 of a least-squares probe (with bias) of each regressor's prediction (and,
        last, of the true label) from the query's residual stream.
    lens_mse : ndarray, shape (L + 1,)
        Mean squared error of each layer's read-out against the true label.
    label_var : float
        Variance of the true (standardised) query labels: ``lens_mse / label_var`` is the
        closeness of each layer to the true label.
    mse : dict of str to float
        Mean squared error against the true label of the model (``"transformer"``), every
        regressor and the context mean (``"average"``), in standardised label units.
    attn_corr : ndarray, shape (L, H)
        Mean over prompts of :func:`attention_distance_correlation`.
    attn_knn_mass : ndarray, shape (L, H)
        Mean attention on the 5 context rows nearest the query (uniform: ``5 / N``).
    attn_by_rank : ndarray, shape (L, H, N)
        Mean attention on the context row of each distance rank (nearest first).
    n_prompts, N : int
    """

    layers: list[str]
    regressors: list[str]
    closeness: np.ndarray
    probe_r2: np.ndarray
    lens_mse: np.ndarray
    label_var: float
    mse: dict[str, float]
    attn_corr: np.ndarray
    attn_knn_mass: np.ndarray
    attn_by_rank: np.ndarray
    n_prompts: int
    N: int

    def closest(self) -> list[str]:
        """The regressor each layer's read-out is closest to."""
        return [self.regressors[int(i)] for i in np.argmin(self.closeness, axis=1)]

    def to_markdown(self) -> str:
        """Closeness and probe tables, one row per layer."""
        head = "| layer | " + " | ".join(self.regressors) + " | closest |"
        rule = "|" + "---|" * (len(self.regressors) + 2)
        rows = [f"| {lay} | " + " | ".join(f"{v:.3f}" for v in self.closeness[i]) + f" | {c} |"
                for i, (lay, c) in enumerate(zip(self.layers, self.closest()))]
        ph = "| layer | " + " | ".join(self.regressors) + " | true label |"
        prule = "|" + "---|" * (len(self.regressors) + 2)
        prow = [f"| {lay} | " + " | ".join(f"{v:.3f}" for v in self.probe_r2[i]) + " |"
                for i, lay in enumerate(self.layers)]
        return "\n".join(["Normalised squared distance of the read-out to each regressor:", "", head, rule, *rows,
                          "", "Held-out probe R^2:", "", ph, prule, *prow]) + "\n"


def mechanism(model: Any = None, *, n: int = 1000, rng: Any = 1, names: tuple[str, ...] = CLASSICAL,
              task: FriedmanICLTask | None = None) -> MechanismResult:
    """Read-out by layer, probes and attention of the model on ``n`` held-out prompts of its family.

    Parameters
    ----------
    model : TrainedTransformer, optional
        Default: the shipped ``icl_regression_mech``.
    n : int
        Prompts (even, >= 4: probes are fitted on the first half and scored on the second).
    rng : seed or Generator
        Draws the prompts.
    names : tuple of str
        Classical regressors (:func:`classical_predictions`).
    task : FriedmanICLTask, optional
        Default: the model's training family (``meta["task"]``) or :class:`FriedmanICLTask`.

    Returns
    -------
    MechanismResult
    """
    model = _check_model(model)
    n = check_int(n, "n", minimum=4)
    if n % 2:
        raise bad_argument(InvalidParameterError, "n", n, "an even number of prompts")
    if task is None:
        task = FriedmanICLTask.from_dict(dict(getattr(model, "meta", {}).get("task", {})))
    Z, t, _ = standardize_prompts(*sample_friedman_prompts(task, as_rng(rng), n))
    tok = prompt_tokens(Z, t)
    streams = residual_streams(model, tok)
    lens = lens_predictions(model, streams)
    preds = classical_predictions(Z, t, names)
    target = t[:, -1]
    regs = list(preds)
    clos = np.stack([closeness(lens, preds[r]) for r in regs], axis=1)
    from ..probes import linear_probe

    h = n // 2
    r2 = np.empty((streams.shape[0], len(regs) + 1))
    for i, S in enumerate(streams):
        acts = np.hstack([S, np.ones((n, 1))])
        for j, y in enumerate([preds[r] for r in regs] + [target]):
            r2[i, j] = linear_probe(acts[:h], y[:h], metric="r2", test=(acts[h:], y[h:]))
    A = query_attention(model, tok)
    corr = attention_distance_correlation(Z, A)
    ranked = _by_distance_rank(Z, A)
    mean = t[:, :-1].mean(axis=1)  # 0 up to rounding
    mse = {"transformer": float(np.mean((lens[-1] - target) ** 2)),
           **{r: float(np.mean((preds[r] - target) ** 2)) for r in regs},
           "average": float(np.mean((mean - target) ** 2))}
    return MechanismResult(
        layers=["embed"] + [f"layer {i}" for i in range(1, model.config.n_layers + 1)], regressors=regs,
        closeness=clos, probe_r2=r2, lens_mse=np.mean((lens - target) ** 2, axis=1),
        label_var=float(target.var()), mse=mse,
        attn_corr=np.nanmean(corr, axis=-1), attn_knn_mass=ranked[..., :5].sum(axis=-1).mean(axis=-1),
        attn_by_rank=ranked.mean(axis=-2), n_prompts=n, N=task.N,
    )


#: Classical rows beside the transformer in :func:`benchmark_rows` (the blog's scikit-learn
#: definitions, :data:`aievo.mesa.regressors.SKLEARN_SPECS`, and its baseline ``average``).
BENCHMARK_ROWS = ("linear_regression", "ridge", "knn", "kernel_ridge", "svm_w_s", "gradient_boosting",
                  "random_forest", "mlp_uat_2", "average")


def benchmark_rows(model: Any = None, *, seeds: Any = range(100), protocol: str = "consistent",
                   regressors: tuple[str, ...] = BENCHMARK_ROWS, seq_len: int = 25) -> Any:
    """The model as a row of :func:`aievo.mesa.regression.regression_benchmark` on ``original2``, beside classical rows.

    Parameters
    ----------
    model : TrainedTransformer, optional
        Default: the shipped ``icl_regression_mech``.
    seeds : iterable of int
    protocol : {"consistent", "blog"}
        ``"consistent"`` (every row sees the first ``seq_len`` training rows, scored on the first
        test row: what the model was trained for with ``seq_len = 25``) or ``"blog"`` (all 64
        training rows as context, 32 test rows).
    regressors : tuple of str
        Registry names of the other rows (scikit-learn rows need scikit-learn).
    seq_len : int

    Returns
    -------
    RegressionBenchmark
    """
    from ..regression import regression_benchmark

    rows = [("icl_transformer", transformer_regressor(model)), *regressors]
    return regression_benchmark("original2", rows, seeds=seeds, seq_len=seq_len, protocol=protocol, progress=False)


# --------------------------------------------------------------------------- figure


