"""Training with optax (official defaults per experiment) and evaluation per position.

:func:`train_transformer` draws a fresh batch from the task's numpy sampler at
every step (while the previous step runs: JAX dispatches asynchronously),
applies element-wise or global-norm gradient clipping and AdamW with a
warm-up + cosine schedule, scores a fixed evaluation set every ``eval_every``
steps and returns a :class:`~aievo.mesa.nn.result.TrainedTransformer`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import __version__
from ...errors import InvalidParameterError, bad_argument
from .._checks import as_rng, check_int, spawn
from ._deps import require_jax
from .config import (
    OFFICIAL_SETUPS,
    InterleavedRegressionTask,
    LDSTask,
    OptimConfig,
    RegressionTask,
    SineRegressionTask,
    TransformerConfig,
)
from .result import TrainedTransformer

jax, optax = require_jax()
import jax.numpy as jnp

from .model import compiled, init_params, loss_fn, per_position_loss

__all__ = ["train_transformer", "evaluate", "make_optimizer", "default_optim"]

_DTYPES = ("float32", "float64")


def default_optim(task: LDSTask | RegressionTask | InterleavedRegressionTask | SineRegressionTask) -> OptimConfig:
    """The official optimiser for a task: 2023b's for LDS tasks, 2023a's for regression."""
    name = "vonoswald2023b_lds" if isinstance(task, LDSTask) else "vonoswald2023a_regression"
    return OFFICIAL_SETUPS[name].optim


def make_optimizer(optim: OptimConfig) -> Any:
    """The optax transformation of an :class:`OptimConfig` (clipping, then AdamW on the schedule)."""
    if optim.decay_steps is not None:
        schedule = optax.warmup_cosine_decay_schedule(optim.init_lr, optim.lr, optim.warmup_steps,
                                                      optim.decay_steps, optim.end_lr)
    elif optim.warmup_steps > 0:
        schedule = optax.join_schedules(
            [optax.linear_schedule(optim.init_lr, optim.lr, optim.warmup_steps), optax.constant_schedule(optim.lr)],
            [optim.warmup_steps])
    else:
        schedule = optim.lr
    parts = []
    if optim.clip is not None:
        parts.append(optax.clip(optim.clip) if optim.clip_kind == "elementwise"
                     else optax.clip_by_global_norm(optim.clip))
    parts.append(optax.adamw(schedule, b1=optim.b1, b2=optim.b2, eps=optim.eps, weight_decay=optim.weight_decay))
    return optax.chain(*parts)


def _check_pair(config: Any, task: Any) -> None:
    if not isinstance(config, TransformerConfig):
        raise bad_argument(InvalidParameterError, "config", config, "a TransformerConfig")
    if isinstance(task, LDSTask):
        ok = config.token_format in ("lds_constructed", "lds_raw")
    elif isinstance(task, (RegressionTask, SineRegressionTask)):
        ok = config.token_format in ("regression", "regression_separate")
    elif isinstance(task, InterleavedRegressionTask):
        ok = config.token_format == "interleaved"
    else:
        raise bad_argument(InvalidParameterError, "task", task,
                           "an LDSTask, a RegressionTask, a SineRegressionTask or an InterleavedRegressionTask")
    if not ok:
        raise bad_argument(InvalidParameterError, "config.token_format", config.token_format,
                           f"a format for {type(task).__name__} ('lds_constructed'/'lds_raw' for LDS tasks, "
                           "'regression'/'regression_separate' for (sine) regression tasks, 'interleaved' for "
                           "interleaved regression tasks)")
    if config.data_dim != task.data_dim:
        raise bad_argument(InvalidParameterError, "config.data_dim", config.data_dim,
                           f"{task.data_dim}, the data dimension of the task")


def _precision(dtype: str) -> Any:
    if dtype not in _DTYPES:
        raise bad_argument(InvalidParameterError, "dtype", dtype, f"one of {_DTYPES}")
    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def train_transformer(
    config: TransformerConfig,
    task: LDSTask | RegressionTask | InterleavedRegressionTask | SineRegressionTask,
    steps: int,
    batch_size: int,
    rng: Any = 0,
    *,
    optim: OptimConfig | None = None,
    eval_every: int = 100,
    eval_sequences: int = 256,
    dtype: str = "float32",
    params: dict | None = None,
    progress: bool | None = False,
    callback: Callable[[int, float], Any] | None = None,
) -> TrainedTransformer:
    """Train a transformer on fresh task batches with optax.

    Parameters
    ----------
    config : TransformerConfig
        The architecture (its ``token_format`` must suit the task).
    task : LDSTask or RegressionTask
        The task; a fresh batch is drawn from its sampler at every step.
    steps : int
        Optimiser steps.
    batch_size : int
        Sequences (or regression tasks) per step.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
        Seed or generator; three independent streams are spawned from it for
        the initial weights, the evaluation set and the training batches.
    optim : OptimConfig, optional
        Optimiser; default the official one for the task
        (:func:`default_optim`: 2023b's AdamW, warm-up + cosine, element-wise
        clip 1 for LDS tasks; 2023a's for regression).
    eval_every : int, default 100
        Score the fixed evaluation set every ``eval_every`` steps and at the end.
    eval_sequences : int, default 256
        Size of the evaluation set.
    dtype : {"float32", "float64"}
        Arithmetic precision (float64 runs inside ``jax.enable_x64(True)``).
    params : dict, optional
        Initial parameters (default: :func:`aievo.mesa.nn.model.init_params`).
    progress : bool or None
        Show a progress bar.
    callback : callable, optional
        Called as ``callback(step, eval_loss)`` after every evaluation.

    Returns
    -------
    TrainedTransformer
        ``.params`` (numpy), ``.history`` (``train_loss``, ``lr``, ``eval_step``,
        ``eval_loss``, ``eval_per_position``), ``.config``, ``.task``, ``.optim``
        and ``.meta``; ``.save(path)`` writes it.
    """
    _check_pair(config, task)
    steps = check_int(steps, "steps", minimum=0)
    batch_size = check_int(batch_size, "batch_size")
    eval_every = check_int(eval_every, "eval_every")
    eval_sequences = check_int(eval_sequences, "eval_sequences")
    optim = default_optim(task) if optim is None else optim
    if not isinstance(optim, OptimConfig):
        raise bad_argument(InvalidParameterError, "optim", optim, "an OptimConfig or None")
    if callback is not None and not callable(callback):
        raise bad_argument(InvalidParameterError, "callback", callback, "a callable(step, eval_loss) or None")
    seed = int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    g = as_rng(rng)
    g_init, g_eval, g_data = spawn(g, 3)
    with _precision(dtype):
        return _train(config, task, steps, batch_size, optim, eval_every, eval_sequences, dtype, params,
                      progress, callback, g_init, g_eval, g_data, seed)


def _train(config, task, steps, batch_size, optim, eval_every, eval_sequences, dtype, params, progress,
           callback, g_init, g_eval, g_data, seed) -> TrainedTransformer:
    from ..._progress import progress as progress_bar

    t0 = time.perf_counter()
    jdt = jnp.float64 if dtype == "float64" else jnp.float32
    p0 = init_params(config, g_init) if params is None else params
    p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jdt), p0)
    tx = make_optimizer(optim)
    state = tx.init(p)

    def step_fn(p, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, config, x, y)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    step = jax.jit(step_fn, donate_argnums=(0, 1))
    ev = jax.jit(lambda p, x, y: per_position_loss(p, config, x, y))
    ev_x, ev_y = (jnp.asarray(a, dtype=jdt) for a in task.sample(g_eval, eval_sequences))
    losses: list[Any] = []
    eval_step: list[int] = []
    eval_pp: list[np.ndarray] = []

    def do_eval(i: int) -> None:
        pp = np.asarray(ev(p, ev_x, ev_y), dtype=np.float64)
        eval_step.append(i)
        eval_pp.append(pp)
        if callback is not None:
            callback(i, float(pp.mean()))

    batch = task.sample(g_data, batch_size)
    for i in progress_bar(range(steps), total=steps, desc="train_transformer", enabled=progress):
        if i % eval_every == 0:
            do_eval(i)
        x, y = (jnp.asarray(a, dtype=jdt) for a in batch)
        p, state, loss = step(p, state, x, y)
        losses.append(loss)
        if i + 1 < steps:
            batch = task.sample(g_data, batch_size)  # overlaps the asynchronous step
    do_eval(steps)
    train_loss = np.asarray(jnp.stack(losses), dtype=np.float64) if losses else np.zeros(0)
    history = {
        "train_loss": train_loss,
        "lr": np.array([optim.lr_at(i) for i in range(steps)], dtype=np.float64),
        "eval_step": np.asarray(eval_step, dtype=np.int64),
        "eval_loss": np.array([pp.mean() for pp in eval_pp]),
        "eval_per_position": np.stack(eval_pp),
    }
    meta = {"steps": steps, "batch_size": batch_size, "seed": seed, "dtype": dtype,
            "eval_sequences": eval_sequences, "eval_every": eval_every,
            "seconds": time.perf_counter() - t0, "aievo": __version__, "jax": jax.__version__}
    params_np = jax.tree_util.tree_map(np.asarray, p)
    return TrainedTransformer(config, params_np, history, task, optim, meta)


def evaluate(
    model: TrainedTransformer | tuple[TransformerConfig, dict],
    task: LDSTask | RegressionTask | InterleavedRegressionTask | SineRegressionTask,
    n_sequences: int,
    rng: Any = 0,
    *,
    batch_size: int = 512,
) -> np.ndarray:
    """Per-position loss ``sum_{sequences, dim} (pred - target)^2 / (2 n)`` on fresh task draws.

    Parameters
    ----------
    model : TrainedTransformer or (TransformerConfig, params)
    task : LDSTask or RegressionTask
    n_sequences : int
        Sequences (tasks) drawn.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    batch_size : int, default 512
        Sequences per forward pass (memory only; the result does not depend on it
        beyond rounding).

    Returns
    -------
    ndarray, shape (P,)
        ``P = T`` for LDS tasks (position ``t`` predicts ``s_{t+1}``); ``P = 1``
        (the query) for regression. Its mean is the training loss.
    """
    if isinstance(model, TrainedTransformer):
        config, params = model.config, model.params
    elif isinstance(model, tuple) and len(model) == 2:
        config, params = model
    else:
        raise bad_argument(InvalidParameterError, "model", model, "a TrainedTransformer or (config, params)")
    _check_pair(config, task)
    n = check_int(n_sequences, "n_sequences")
    batch_size = check_int(batch_size, "batch_size")
    g = as_rng(rng)
    dtype = np.result_type(*jax.tree_util.tree_leaves(params))
    jdt = jnp.float64 if (dtype == np.float64 and jax.config.jax_enable_x64) else jnp.float32
    p = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype=jdt), params)
    ev = compiled(config, "per_position_loss")
    total: np.ndarray | None = None
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        x, y = (jnp.asarray(a, dtype=jdt) for a in task.sample(g, b))
        s = np.asarray(ev(p, x, y), dtype=np.float64) * b
        total = s if total is None else total + s
        done += b
    assert total is not None  # n >= 1
    return total / n
