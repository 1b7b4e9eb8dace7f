"""Prompt tuning: learned EOS and prefix tokens for a frozen transformer (von Oswald et al. 2023b, Fig 8).

A model pretrained on raw LDS states is given few-shot regression sequences
(:class:`~aievo.mesa.nn.config.FewShotTask`). Only the learned input vectors
of the task (the EOS token and/or the prefix tokens, a dict called the
*prompt*) are trained, with optax Adam on fresh tasks at every step; the
transformer's parameters stay frozen. As in the official code the vectors
start from ``N(0, I)`` (scaled by ``init_scale``, 1 by default) and the loss is the mean over the x-tokens of
``sum_dim (pred - f(x_i))^2 / 2`` (:func:`aievo.mesa.nn.model.fewshot_loss`).
Vectors given in ``fixed`` are held constant (the official prefix tuning keeps
the previously tuned EOS token fixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, bad_argument
from .._checks import as_rng, check_float, check_int, spawn
from ._deps import require_jax
from .config import FewShotTask
from .result import TrainedTransformer

jax, optax = require_jax()
import jax.numpy as jnp

from .model import fewshot_loss

__all__ = ["PromptResult", "tune_prompt", "evaluate_fewshot"]


@dataclass(frozen=True)
class PromptResult:
    """Tuned prompt vectors and the tuning loss.

    Attributes
    ----------
    prompt : dict of str to ndarray
        Every vector the task needs (tuned and fixed ones), float64.
    tuned : tuple of str
        The keys that were trained.
    loss : ndarray, shape (steps,)
        Tuning loss at every step (before its update).
    """

    prompt: dict[str, np.ndarray]
    tuned: tuple[str, ...]
    loss: np.ndarray


def _model_parts(model: Any) -> tuple[Any, dict]:
    if isinstance(model, TrainedTransformer):
        return model.config, model.params
    if isinstance(model, tuple) and len(model) == 2:
        return model
    raise bad_argument(InvalidParameterError, "model", model, "a TrainedTransformer or (config, params)")


def tune_prompt(
    model: TrainedTransformer | tuple[Any, dict],
    task: FewShotTask,
    steps: int,
    batch_size: int,
    rng: Any = 0,
    *,
    lr: float = 1e-3,
    fixed: dict[str, Any] | None = None,
    init_scale: float = 1.0,
) -> PromptResult:
    """Train the task's prompt vectors (EOS and/or prefix) with Adam, the transformer frozen.

    Parameters
    ----------
    model : TrainedTransformer or (TransformerConfig, params)
        A model on ``token_format="lds_raw"`` with ``data_dim == task.D``.
    task : FewShotTask
        Sequences to tune on; ``task.eos`` and ``task.n_prefix`` say which vectors exist.
    steps, batch_size : int
        Adam steps, each on ``batch_size`` fresh sequences (fresh tasks ``W``).
    rng : None, int, SeedSequence or Generator
        Two streams are spawned: the initial vectors (``N(0, I)``) and the data.
    lr : float, default 1e-3
        Constant Adam learning rate (official: 1e-3 for EOS, 9e-4 for the prefix).
    fixed : dict, optional
        Vectors held constant (e.g. ``{"eos": tuned_eos}`` when tuning a prefix).
    init_scale : float, default 1.0
        The tuned vectors start from ``init_scale * N(0, I)`` (official: 1; ``0`` starts from zeros).

    Returns
    -------
    PromptResult
    """
    config, params = _model_parts(model)
    if not isinstance(task, FewShotTask):
        raise bad_argument(InvalidParameterError, "task", task, "a FewShotTask")
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    lr = check_float(lr, "lr", positive=True)
    init_scale = check_float(init_scale, "init_scale", nonnegative=True)
    fixed = {} if fixed is None else dict(fixed)
    unknown = sorted(set(fixed) - set(task.prompt_shapes))
    if unknown:
        raise bad_argument(InvalidParameterError, "fixed", unknown, f"keys among {sorted(task.prompt_shapes)}")
    g_init, g_data = spawn(as_rng(rng), 2)
    start = {k: init_scale * v for k, v in task.init_prompt(g_init).items()}
    tuned = tuple(k for k in task.prompt_shapes if k not in fixed)
    if not tuned:
        raise bad_argument(InvalidParameterError, "fixed", sorted(fixed), "fewer keys than the task's prompt")
    task.check_prompt({**start, **fixed})
    p = {k: jnp.asarray(start[k], jnp.float32) for k in tuned}
    const = {k: jnp.asarray(v, jnp.float32) for k, v in fixed.items()}
    theta = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    opt = optax.adam(lr)
    state = opt.init(p)

    def loss(p: dict, X: Any, Y: Any) -> Any:
        return jnp.mean(fewshot_loss(theta, config, task, X, Y, {**p, **const}))

    @jax.jit
    def step(p: dict, state: Any, X: Any, Y: Any) -> tuple[dict, Any, Any]:
        val, grad = jax.value_and_grad(loss)(p, X, Y)
        upd, state = opt.update(grad, state, p)
        return optax.apply_updates(p, upd), state, val

    losses = []
    batch = task.sample_raw(g_data, batch_size)
    for i in range(steps):
        X, Y = (jnp.asarray(a, jnp.float32) for a in batch)
        p, state, val = step(p, state, X, Y)
        losses.append(val)
        if i + 1 < steps:
            batch = task.sample_raw(g_data, batch_size)  # overlaps the asynchronous step
    out = {k: np.asarray(v, dtype=np.float64) for k, v in {**p, **const}.items()}
    return PromptResult(out, tuned, np.asarray(jnp.stack(losses), dtype=np.float64))


def evaluate_fewshot(
    model: TrainedTransformer | tuple[Any, dict],
    task: FewShotTask,
    prompt: dict | None,
    n_sequences: int,
    rng: Any = 0,
    *,
    batch_size: int = 512,
) -> np.ndarray:
    """Loss per example ``(n_total,)`` on fresh sequences, with the JAX model in float32.

    The float64 numpy equivalent is :func:`aievo.mesa.nn.reference.fewshot_predict`.
    """
    config, params = _model_parts(model)
    n = check_int(n_sequences, "n_sequences")
    batch_size = check_int(batch_size, "batch_size")
    g = as_rng(rng)
    theta = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    pr = {} if prompt is None else {k: jnp.asarray(v, jnp.float32) for k, v in prompt.items()}
    fn = jax.jit(lambda th, pr, X, Y: fewshot_loss(th, config, task, X, Y, pr))
    total = np.zeros(task.n_total)
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        X, Y = (jnp.asarray(a, jnp.float32) for a in task.sample_raw(g, b))
        total += np.asarray(fn(theta, pr, X, Y), dtype=np.float64) * b
        done += b
    return total / n
