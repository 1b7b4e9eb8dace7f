"""Akyürek et al. (2022): which learning algorithm a trained in-context learner matches.

Small softmax transformers (pre-LayerNorm, GELU MLPs, sinusoidal positions)
are trained on interleaved regression prompts ``[0, x_1], [y_1, 0], ...``
(:class:`~aievo.mesa.nn.config.InterleavedRegressionTask`: ``w, x ~ N(0, I)``,
``y = w . x + N(0, sigma^2)``) over a grid of depth, width and label noise
(:func:`train_grid`, resumable through :func:`aievo.sweep.sweep`). Every
trained model is compared with the reference learners of
:mod:`aievo.mesa.learners_akyurek` by the squared prediction difference (SPD)
and the implicit linear weight difference (ILWD) (:func:`compare_learners`),
and its residual stream is probed for the task weights and the moment vector
``X^T y`` layer by layer (:func:`probe_layers`). The trained grid is shipped as
checkpoints ``akyurek2022_L{depth}_W{width}_s{noise}``; the figures
:func:`transition_figure` and :func:`probes_figure` are drawn from them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InvalidParameterError, bad_argument
from .._checks import as_rng, check_int
from ..baselines import fake_lsq_predict, gd_steps, knn_predict, ols_minnorm, ridge_predict, sgd_predict
from ..implicit import ilwd, implicit_weights, learner_queries, online_predictions, spd, transformer_queries
from ..nn.config import InterleavedRegressionTask, OptimConfig, TransformerConfig
from ..nn.result import TrainedTransformer
from ..nn.shipped import recipe

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "LEARNERS",
    "Comparison",
    "Reference",
    "learner_reference",
    "compare_learners",
    "probe_layers",
    "load_grid",
    "D",
    "N",
    "DEPTHS",
    "WIDTHS",
    "NOISES",
    "STEPS",
    "BATCH",
    "ROOT_SEED",
    "model_config",
    "optim_config",
    "task_for",
    "checkpoint_name",
    "grid_cells",
    "train_cell",
    "train_grid",
    "compact",
    "LOSS_BLOCK",
]

#: Input dimension and pairs per prompt (the paper's main experiments: ``d = 8``).
D, N = 4, 12
#: The grid: transformer depth, residual width, label noise ``sigma``.
DEPTHS: tuple[int, ...] = (1, 2, 4)
WIDTHS: tuple[int, ...] = (8, 32)
NOISES: tuple[float, ...] = (0.0, 1.0)
#: Training steps and prompts per step of every model of the grid.
STEPS, BATCH = 6000, 64
#: Root seed of the grid sweep; cell ``i`` trains with child ``i`` of ``SeedSequence(ROOT_SEED)``.
ROOT_SEED = 2022

#: Reference learners: name -> (batch learner of :mod:`aievo.mesa.baselines`, keyword arguments).
#: SGD's step and GD's step were the best of small grids (0.02..0.2; 0.1..1) on 2000 noiseless prompts.
LEARNERS: dict[str, tuple[Callable[..., np.ndarray], dict[str, Any]]] = {
    "OLS (min-norm)": (ols_minnorm, {}),
    "ridge λ=0.1": (ridge_predict, {"lam": 0.1}),
    "ridge λ=1": (ridge_predict, {"lam": 1.0}),
    "ridge λ=4": (ridge_predict, {"lam": 4.0}),
    "SGD (1 pass, lr 0.1)": (sgd_predict, {"lr": 0.1}),
    "GD (5 steps, η=0.1)": (gd_steps, {"eta": 0.1, "K": 5}),
    "kNN (k=3)": (knn_predict, {"k": 3}),
    "fake LSQ (Xᵀy/n)": (fake_lsq_predict, {}),
}


def model_config(depth: int, width: int) -> TransformerConfig:
    """The transformer of one grid cell: ``depth`` softmax layers of width ``width``.

    Heads: 2 (width <= 8) or 4, key size ``width / heads``; GELU MLP of
    hidden width ``2 width``; pre-LayerNorm; sinusoidal positions added to the
    embedded tokens; learned input and output maps; variance-scaling init.
    """
    depth = check_int(depth, "depth")
    width = check_int(width, "width", minimum=4)
    heads = 2 if width <= 8 else 4
    if width % heads:
        raise bad_argument(InvalidParameterError, "width", width, f"a multiple of {heads}")
    return TransformerConfig(attention=("softmax",) * depth, heads=heads, key_size=width // heads,
                             token_format="interleaved", data_dim=D, embed_dim=width, input_proj=True,
                             output_proj=True, mlp_hidden=2 * width, layer_norm=True, pos_encoding="input",
                             act_clip=None, init="variance_scaling", init_scale=1.0)


def optim_config(steps: int = STEPS) -> OptimConfig:
    """AdamW without weight decay: warm-up to 1e-2 over 200 steps, cosine to 1e-4, global-norm clip 1."""
    steps = check_int(steps, "steps", minimum=201)
    return OptimConfig(lr=1e-2, warmup_steps=200, decay_steps=steps, end_lr=1e-4, weight_decay=0.0,
                       clip=1.0, clip_kind="global_norm")


def task_for(noise: float) -> InterleavedRegressionTask:
    """The training task of the grid at label noise ``noise``."""
    return InterleavedRegressionTask(d=D, N=N, noise=float(noise))


def checkpoint_name(depth: int, width: int, noise: float) -> str:
    """Name of the shipped checkpoint of one grid cell, e.g. ``akyurek2022_L2_W32_s1``."""
    return f"akyurek2022_L{int(depth)}_W{int(width)}_s{float(noise):g}"


def grid_cells() -> list[tuple[int, int, float]]:
    """``(depth, width, noise)`` of every cell, in the sweep's C order (flat index = list index)."""
    return [(L, W, s) for L in DEPTHS for W in WIDTHS for s in NOISES]


def train_cell(depth: int, width: int, noise: float, rng: Any = 0, *, steps: int = STEPS,
               batch_size: int = BATCH) -> TrainedTransformer:
    """Train the model of one grid cell (the function :func:`train_grid` sweeps).

    Parameters
    ----------
    depth, width : int
        See :func:`model_config`.
    noise : float
        Label-noise standard deviation of the training task.
    rng : int or numpy.random.Generator
        Seed of :func:`aievo.mesa.train_transformer`.
    steps, batch_size : int
        Training steps and prompts per step.

    Returns
    -------
    TrainedTransformer
    """
    from ..nn.train import train_transformer

    return train_transformer(model_config(depth, width), task_for(noise), steps, batch_size, rng,
                             optim=optim_config(steps), eval_every=max(steps // 10, 1), eval_sequences=512)


def _cell_rng(index: int) -> np.random.Generator:
    """The generator :func:`aievo.sweep.sweep` hands cell ``index`` of the grid with root seed ROOT_SEED."""
    return np.random.default_rng(np.random.SeedSequence(ROOT_SEED, spawn_key=(int(index),)))


def train_grid(out: str | os.PathLike, *, executor: Any = 0, progress: bool | None = None) -> Any:
    """Train the whole grid with :func:`aievo.sweep.sweep` (resumable: rerunning trains only missing cells).

    Parameters
    ----------
    out : path
        Sweep directory.
    executor : see :func:`aievo.sweep.sweep`
        Default 0: one cell after the other in this process.
    progress : bool, optional

    Returns
    -------
    aievo.sweep.SweepResult
        One :class:`TrainedTransformer` per cell (``result.load(i)``).
    """
    from ...sweep import sweep

    grid = {"depth": list(DEPTHS), "width": list(WIDTHS), "noise": list(NOISES), "steps": [STEPS]}
    return sweep(train_cell, grid, out=out, executor=executor, rng=ROOT_SEED, progress=progress)


@dataclass(frozen=True)
class Comparison:
    """SPD and ILWD of one model against every reference learner, on the same prompts.

    Attributes
    ----------
    spd, ilwd : dict of str to ndarray, shape (N,)
        Per position ``i`` (``i`` context pairs seen), by learner name.
    loss : ndarray, shape (N,)
        The model's ``mean (yhat - y)^2 / 2`` per position.
    learner_loss : dict of str to ndarray, shape (N,)
        The same for every learner.
    """

    spd: dict[str, np.ndarray]
    ilwd: dict[str, np.ndarray]
    loss: np.ndarray
    learner_loss: dict[str, np.ndarray]

    def summary(self, metric: str) -> dict[str, float]:
        """Mean of ``metric`` (``"spd"`` or ``"ilwd"``) over positions 1..N-1 (position 0 has no context)."""
        if metric not in ("spd", "ilwd"):
            raise bad_argument(InvalidParameterError, "metric", metric, "'spd' or 'ilwd'")
        return {k: float(np.mean(v[1:])) for k, v in getattr(self, metric).items()}


@dataclass(frozen=True)
class Reference:
    """Prompts, probe inputs, and every learner's predictions and implicit weights on them.

    Attributes
    ----------
    task : InterleavedRegressionTask
    X, y : ndarray
        Prompts ``(B, N, d)`` and ``(B, N)``.
    probes : ndarray, shape (B, N, m, d)
    preds : dict of str to ndarray, shape (B, N)
    weights : dict of str to ndarray, shape (B, N, d)
    """

    task: InterleavedRegressionTask
    X: np.ndarray
    y: np.ndarray
    probes: np.ndarray
    preds: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]


def learner_reference(task: InterleavedRegressionTask, n_prompts: int = 128, n_probes: int = 2 * D,
                      rng: Any = 0) -> Reference:
    """Draw prompts and probes from ``task`` and run every learner of :data:`LEARNERS` on them.

    Parameters
    ----------
    task : InterleavedRegressionTask
    n_prompts : int
        Prompts drawn from the task.
    n_probes : int
        Probe inputs ``x ~ N(0, I)`` per prompt and position for the implicit weights (``>= d``).
    rng : int or numpy.random.Generator

    Returns
    -------
    Reference
    """
    if not isinstance(task, InterleavedRegressionTask):
        raise bad_argument(InvalidParameterError, "task", task, "an InterleavedRegressionTask")
    n_prompts = check_int(n_prompts, "n_prompts")
    n_probes = check_int(n_probes, "n_probes", minimum=task.d)
    g = as_rng(rng)
    X, y, _ = task.sample_raw(g, n_prompts)
    probes = g.standard_normal((n_prompts, task.N, n_probes, task.d))
    preds, weights = {}, {}
    for name, (fn, kw) in LEARNERS.items():
        lq = learner_queries(fn, **kw)
        preds[name] = online_predictions(lq, X, y)
        weights[name] = implicit_weights(lq, X, y, probes)
    return Reference(task, X, y, probes, preds, weights)


def compare_learners(model: TrainedTransformer, reference: Reference | None = None, *, backend: str = "auto",
                     **kwargs: Any) -> Comparison:
    """SPD and ILWD of a trained model against every learner of :data:`LEARNERS`.

    Parameters
    ----------
    model : TrainedTransformer
        Trained on an :class:`InterleavedRegressionTask`.
    reference : Reference, optional
        Prompts and learner results to compare on (default:
        :func:`learner_reference` of the model's task with ``**kwargs``).
        Reuse one reference for models trained on the same task.
    backend : {"auto", "jax", "numpy"}, default "auto"
        How the model runs (:meth:`aievo.mesa.nn.TrainedTransformer.predict`).
    **kwargs
        ``n_prompts``, ``n_probes``, ``rng`` of :func:`learner_reference`.

    Returns
    -------
    Comparison
    """
    if not isinstance(model.task, InterleavedRegressionTask):
        raise bad_argument(InvalidParameterError, "model.task", model.task, "an InterleavedRegressionTask")
    ref = learner_reference(model.task, **kwargs) if reference is None else reference
    if ref.task != model.task:
        raise bad_argument(InvalidParameterError, "reference.task", ref.task, f"the model's task {model.task}")
    tq = transformer_queries(model, backend=backend)
    pred = online_predictions(tq, ref.X, ref.y)
    W = implicit_weights(tq, ref.X, ref.y, ref.probes)
    return Comparison({k: spd(pred, p) for k, p in ref.preds.items()},
                      {k: ilwd(W, w) for k, w in ref.weights.items()},
                      np.mean((pred - ref.y) ** 2, axis=0) / 2,
                      {k: np.mean((p - ref.y) ** 2, axis=0) / 2 for k, p in ref.preds.items()})


def probe_layers(model: TrainedTransformer, n_train: int = 2000, n_test: int = 1000, rng: Any = 0,
                 *, params: dict | None = None, backend: str = "auto") -> dict[str, np.ndarray]:
    """Held-out R² of linear probes for ``X^T y``, the Bayes weights and ``w`` from every layer's y-tokens.

    The residual stream after each layer (layer 0: the embedded tokens) at
    the y-token of pair ``n``, for ``n = d .. N - 1`` pooled, is regressed
    linearly (no intercept, :func:`aievo.mesa.probes.linear_probe`) on the
    targets computed from pairs ``1..n`` (``X_n^T y_n``; the posterior-mean
    weights ``w_hat``: min-norm least squares ``X_n^+ y_n`` without noise,
    ridge ``(X_n^T X_n + sigma^2 I)^{-1} X_n^T y_n`` with noise ``sigma``,
    whose least-squares solution is heavy-tailed near ``n = d``), fitted on
    ``n_train`` prompts and scored by ``R^2`` on
    ``n_test`` others. (The last y-token is left out: nothing reads it, so
    training does not shape it.)

    Parameters
    ----------
    model : TrainedTransformer
    n_train, n_test : int
        Prompts to fit and to score the probes.
    rng : int or numpy.random.Generator
    params : dict, optional
        Parameters to use instead of the model's (e.g. the untrained
        initialisation, as a control).
    backend : {"auto", "jax", "numpy"}, default "auto"
        How the model runs (:meth:`aievo.mesa.nn.TrainedTransformer.activations`;
        JAX in float32, numpy in float64).

    Returns
    -------
    dict
        ``"w_hat"``, ``"xty"``, ``"w"`` (true task weights): R² per layer, shape ``(L + 1,)``.
    """
    from ..nn.result import resolve_backend
    from ..probes import linear_probe
    from ..tasks import interleave_tokens

    task = model.task
    if not isinstance(task, InterleavedRegressionTask):
        raise bad_argument(InvalidParameterError, "model.task", task, "an InterleavedRegressionTask")
    n_train = check_int(n_train, "n_train", minimum=2)
    n_test = check_int(n_test, "n_test", minimum=2)
    X, y, w = task.sample_raw(as_rng(rng), n_train + n_test)
    backend = resolve_backend(backend)
    toks = interleave_tokens(X, y)
    run = TrainedTransformer(model.config, model.params if params is None else params)
    if backend == "jax":
        from ..nn.model import compiled

        acts = compiled(model.config, "activations")(run.params, toks.astype(np.float32))
    else:
        acts = run.activations(toks, backend="numpy")
    ns = range(task.d, task.N)

    def w_hat(n: int) -> np.ndarray:
        if task.noise == 0:
            return ols_minnorm(X[:, :n], y[:, :n], X[:, n], return_weights=True)[1]
        return ridge_predict(X[:, :n], y[:, :n], X[:, n], task.noise**2 / task.w_scale**2, return_weights=True)[1]

    targets = {
        "w_hat": np.stack([w_hat(n) for n in ns], axis=1),
        "xty": np.stack([np.einsum("bnd,bn->bd", X[:, :n], y[:, :n]) for n in ns], axis=1),
        "w": np.stack([w for _ in ns], axis=1),
    }
    tokens = [2 * n - 1 for n in ns]  # the y-token of pair n (1-indexed)
    out = {}
    for key, t in targets.items():
        t_fit, t_test = t[:n_train].reshape(-1, task.d), t[n_train:].reshape(-1, task.d)
        r2 = []
        for a in acts:
            h = np.asarray(a, dtype=np.float64)[:, tokens, :]
            h_fit, h_test = h[:n_train].reshape(-1, h.shape[-1]), h[n_train:].reshape(-1, h.shape[-1])
            r2.append(linear_probe(h_fit, t_fit, metric="r2", test=(h_test, t_test)))
        out[key] = np.array(r2)
    return out


def load_grid(*, retrain: bool = False) -> dict[tuple[int, int, float], TrainedTransformer]:
    """Every model of the grid by ``(depth, width, noise)``: shipped checkpoints, or retrained."""
    from ..nn.shipped import shipped_model

    return {cell: shipped_model(checkpoint_name(*cell), retrain=retrain) for cell in grid_cells()}


#: Training steps per entry of a shipped checkpoint's ``train_loss`` (block means keep the files small).
LOSS_BLOCK = 50


def compact(model: TrainedTransformer) -> TrainedTransformer:
    """The model with a small history, as shipped: ``train_loss`` as means over blocks of
    :data:`LOSS_BLOCK` steps, no ``lr`` (``model.optim.lr_at(step)`` recomputes it); the
    evaluation history is kept whole."""
    from dataclasses import replace

    hist = {k: v for k, v in model.history.items() if k != "lr"}
    loss = np.asarray(hist["train_loss"], dtype=np.float64)
    n = loss.size // LOSS_BLOCK * LOSS_BLOCK
    hist["train_loss"] = loss[:n].reshape(-1, LOSS_BLOCK).mean(axis=1)
    return replace(model, history=hist, meta={**model.meta, "train_loss_block": LOSS_BLOCK})


def _register_recipes() -> None:
    for index, (depth, width, noise) in enumerate(grid_cells()):
        def train(depth: int = depth, width: int = width, noise: float = noise, index: int = index):
            return compact(train_cell(depth, width, noise, _cell_rng(index)))

        recipe(checkpoint_name(depth, width, noise))(train)


_register_recipes()
