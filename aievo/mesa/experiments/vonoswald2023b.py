"""von Oswald et al. (2023b), Fig 2A: a softmax first layer binds each token to its predecessor.

A transformer whose first layer is softmax attention (positional encodings on keys and queries
only) and whose second layer is linear attention is trained on raw LDS observations ``s_t``
(the tokens are the states themselves, embedded by a learned projection). A linear probe then
decodes ``s_{t-k}`` from the residual stream at position ``t``: before the first layer only the
current state is there (lag 0); after it, the previous state ``s_{t-1}`` is linearly decodable too,
i.e. the layer has copied it into token ``t``, building the pair ``(s_{t-1}, s_t)`` that the linear
layer's gradient step needs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .._checks import as_rng, check_int
from ..nn.config import LDSTask, OptimConfig, TransformerConfig
from ..nn.shipped import recipe
from ..probes import linear_probe

__all__ = [
    "TokenBindingResult",
    "token_binding",
    "binding_config",
    "binding_optim",
    "binding_r2",
    "linear_config",
    "linear_optim",
    "BINDING_MODEL",
    "LINEAR_MODELS",
    "BINDING_SETUP",
    "LINEAR_SETUP",
    "train_binding_model",
    "train_linear_model",
]


@dataclass(frozen=True)
class TokenBindingResult:
    """Held-out R^2 of linear probes for ``s_{t-k}`` at position ``t``, before and after layer 1.

    Attributes
    ----------
    positions : tuple of int
        Positions ``t`` probed (0-based).
    lags : tuple of int
        Lags ``k``.
    r2_input : ndarray, shape (len(positions), len(lags))
        Probes on the embedded tokens (before any attention).
    r2_layer1 : ndarray, shape (len(positions), len(lags))
        Probes on the output of the softmax layer.
    loss : float
        The trained model's held-out loss (mean over positions).
    config : dict
    """

    positions: tuple[int, ...]
    lags: tuple[int, ...]
    r2_input: np.ndarray
    r2_layer1: np.ndarray
    loss: float
    config: dict


def token_binding(
    *,
    task: LDSTask | None = None,
    steps: int = 2000,
    batch_size: int = 128,
    heads: int = 4,
    key_size: int = 20,
    embed_dim: int = 40,
    positions: Sequence[int] = (5, 15, 25),
    lags: Sequence[int] = (0, 1, 2),
    n_probe: int = 2000,
    optim: OptimConfig | None = None,
    init_scale: float = 0.1,
    rng: Any = 0,
    progress: bool | None = False,
) -> TokenBindingResult:
    """Train a softmax + linear transformer on raw LDS states and probe layer 1 for past states.

    Parameters
    ----------
    task : LDSTask, optional
        Default ``LDSTask(D=10, T=30)`` (the official task, shorter sequences).
    steps, batch_size : int
        Training length.
    heads, key_size, embed_dim : int
        Both layers; tokens are embedded to ``embed_dim`` and read out by a projection.
    positions, lags : sequence of int
        Probe ``s_{t-k}`` at position ``t`` for every pair (``t - k >= 0``).
    n_probe : int
        Sequences for the probes: half to fit, half to score.
    optim : OptimConfig, optional
        Default: AdamW lr 3e-3 (ten times the official 2023b rate, for a short run), 100
        warm-up steps, cosine to 1e-5 at ``steps``, weight decay 0.05, element-wise clip 1.
    init_scale : float
        Std of the Gaussian initial weights (much larger than the official 2e-4: from a tiny
        init the copy circuit, a product of four small matrices, does not start within a short
        run; with 0.02 and lr 1e-3, 1500 steps left the loss at 1.62, near the zero predictor).
    rng : int or numpy.random.Generator
    progress : bool or None

    Returns
    -------
    TokenBindingResult
    """
    from ..nn.train import evaluate, train_transformer

    task = LDSTask(T=30) if task is None else task
    if not isinstance(task, LDSTask):
        raise bad_argument(InvalidParameterError, "task", task, "an LDSTask")
    positions = tuple(check_int(t, "positions[i]", 0, task.T - 1) for t in positions)
    lags = tuple(check_int(k, "lags[i]", 0, task.T - 1) for k in lags)
    steps = check_int(steps, "steps")
    n_probe = check_int(n_probe, "n_probe", minimum=4)
    if optim is None:
        optim = binding_optim(steps)
    cfg = binding_config(task, heads=heads, key_size=key_size, embed_dim=embed_dim, init_scale=init_scale)
    g = as_rng(rng)
    s_train, s_probe, s_eval = (int(s) for s in g.integers(0, 2**31 - 1, size=3))
    model = train_transformer(cfg, task, steps, batch_size, s_train, optim=optim, progress=progress)
    inputs, _ = task.sample(np.random.default_rng(s_probe), n_probe)
    acts = model.activations(inputs)
    r2 = np.stack([binding_r2(acts[layer], inputs, positions, lags) for layer in (0, 1)])
    loss = float(np.mean(evaluate(model, task, 1000, s_eval)))
    return TokenBindingResult(positions, lags, r2[0], r2[1], loss,
                              dict(model=cfg.to_dict(), optim=optim.to_dict(), steps=steps, batch_size=batch_size,
                                   n_probe=n_probe, rng=rng if isinstance(rng, int) else None))


def binding_config(task: LDSTask, *, heads: int = 4, key_size: int = 20, embed_dim: int = 40,
                   init_scale: float = 0.1) -> TransformerConfig:
    """The softmax + linear model of Fig 2A on raw LDS states (see :func:`token_binding`)."""
    return TransformerConfig(attention=("softmax", "linear"), heads=heads, key_size=key_size, token_format="lds_raw",
                             data_dim=task.D, embed_dim=embed_dim, input_proj=True, output_proj=True,
                             pos_encoding="kq", act_clip=None, init_scale=init_scale)


def binding_optim(steps: int) -> OptimConfig:
    """AdamW lr 3e-3, 100 warm-up steps, cosine to 1e-5 at ``steps`` (the default of :func:`token_binding`)."""
    steps = check_int(steps, "steps")
    return OptimConfig(lr=3e-3, warmup_steps=min(100, steps - 1), decay_steps=steps, end_lr=1e-5)


def binding_r2(acts: np.ndarray, inputs: np.ndarray, positions: Sequence[int], lags: Sequence[int]) -> np.ndarray:
    """Held-out R^2 of linear probes for ``s_{t-k}`` from ``acts[:, t]``: first half of the sequences fits, second scores.

    Parameters
    ----------
    acts : ndarray, shape (B, T, E)
        One layer's residual stream.
    inputs : ndarray, shape (B, T, D)
        The states ``s_t`` the model read.
    positions, lags : sequence of int
        Probe every ``(t, k)`` with ``t - k >= 0``.

    Returns
    -------
    ndarray, shape (len(positions), len(lags))
        NaN where ``t - k < 0``.
    """
    A = np.asarray(acts, dtype=np.float64)
    S = np.asarray(inputs, dtype=np.float64)
    if A.ndim != 3 or S.ndim != 3 or A.shape[:2] != S.shape[:2]:
        raise bad_argument(ShapeError, "acts.shape", A.shape, f"(B, T, E) with (B, T) = {S.shape[:2]}")
    half = A.shape[0] // 2
    out = np.full((len(positions), len(lags)), np.nan)
    for i, t in enumerate(positions):
        for j, k in enumerate(lags):
            if t - k < 0:
                continue
            target = S[:, t - k]
            out[i, j] = linear_probe(A[:half, t], target[:half], metric="r2", test=(A[half:, t], target[half:]))
    return out


# --------------------------------------------------------------------------- shipped checkpoints
#: Shipped checkpoint of the Fig 2A / 3A model (softmax + linear on raw states).
BINDING_MODEL = "vonoswald2023b_binding"
#: Shipped checkpoints of the linear transformers of Fig 4, by depth.
LINEAR_MODELS = {L: f"vonoswald2023b_linear{L}" for L in (1, 2, 3, 4)}

#: Task, training length and seed of the shipped models.
BINDING_SETUP: dict[str, Any] = dict(task=LDSTask(D=10, T=30), steps=2000, batch_size=128, seed=0)
LINEAR_SETUP: dict[str, Any] = dict(task=LDSTask(D=5, T=30), steps=2000, batch_size=128, seed=0)


def linear_config(depth: int, D: int) -> TransformerConfig:
    """A ``depth``-layer, 4-head linear transformer (key size 20) on constructed tokens ``(0, s_t, s_t, s_{t-1})``.

    As the official 2023b model (no MLP, LayerNorm or bias; activation clip 1.5) except for the
    initial weight scale, ``N(0, 0.02^2)`` instead of ``N(0, 0.0002^2)``, so that 2000 steps suffice.
    """
    depth = check_int(depth, "depth")
    return TransformerConfig(attention=("linear",) * depth, heads=4, key_size=20, token_format="lds_constructed",
                             data_dim=D, act_clip=1.5, init_scale=0.02)


def linear_optim(steps: int) -> OptimConfig:
    """AdamW lr 3e-3 (ten times the official peak, for a short run), 200 warm-up steps, cosine to 1e-5 at ``steps``."""
    steps = check_int(steps, "steps")
    return OptimConfig(lr=3e-3, warmup_steps=min(200, steps - 1), decay_steps=steps, end_lr=1e-5)


def train_binding_model() -> Any:
    """Train the shipped Fig 2A / 3A model (:data:`BINDING_SETUP`); returns a ``TrainedTransformer``."""
    from ..nn.train import train_transformer

    su = BINDING_SETUP
    return train_transformer(binding_config(su["task"]), su["task"], su["steps"], su["batch_size"], su["seed"],
                             optim=binding_optim(su["steps"]))


def train_linear_model(depth: int) -> Any:
    """Train the shipped ``depth``-layer linear transformer of Fig 4 (:data:`LINEAR_SETUP`)."""
    from ..nn.train import train_transformer

    su = LINEAR_SETUP
    return train_transformer(linear_config(depth, su["task"].D), su["task"], su["steps"], su["batch_size"],
                             su["seed"], optim=linear_optim(su["steps"]))


recipe(BINDING_MODEL)(train_binding_model)
for _depth, _name in LINEAR_MODELS.items():
    recipe(_name)(functools.partial(train_linear_model, _depth))
