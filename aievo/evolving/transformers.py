"""Small trained transformers as programs: a shipped family of JAX-trained checkpoints, run with numpy.

The family has one transformer for every combination of

* attention kind: ``"linear"`` (unnormalised, the kind that implements
  gradient descent) or ``"softmax"`` (scaled dot product);
* depth: 1 or 2 attention-only layers (one head, key size 3, no MLP,
  LayerNorm or activation clip);
* training input range: inputs uniform on ``[-h, h]^d`` with ``h`` in
  0.5, 1 and 1.5 (the default evaluator's proxy is ``h = 0.5``, its
  deployment ``h = 1.5``, so two members are trained *on* one of them).

Every member is trained by :func:`aievo.mesa.nn.train_transformer` on
in-context linear regression (:class:`aievo.mesa.nn.RegressionTask`, ``d = 2``,
``N = 10`` context pairs, ``w ~ N(0, I)``, no noise) for :data:`STEPS` AdamW
steps of :data:`BATCH` tasks (:func:`optim_config`), seed 0, float32. The
twelve checkpoints are shipped (``aievo/mesa/checkpoints/evolving_tf_*``;
recipes registered with :func:`aievo.mesa.nn.shipped.recipe`), so the
evolution experiment neither trains nor needs JAX: :func:`numpy_predict` runs
a checkpoint's forward pass in float64 numpy (the reference forward
:mod:`aievo.mesa.nn.reference`). With ``retrain=True`` the recipe
trains the model afresh instead (needs the ``jax`` extra).

The learner that wraps a member is
:class:`aievo.evolving.learners.Transformer`; how one member designs another
(train a deeper model, train on a narrower or wider range, swap the attention
kind) is in :mod:`aievo.evolving.design`.
"""

from __future__ import annotations

import functools
import itertools
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ..mesa.nn.config import OptimConfig, RegressionTask, TransformerConfig
from ..mesa.nn.shipped import recipe

if TYPE_CHECKING:  # pragma: no cover
    from ..mesa.nn.result import TrainedTransformer

__all__ = [
    "ATTENTION",
    "LAYERS",
    "HALFWIDTHS",
    "D",
    "N",
    "STEPS",
    "BATCH",
    "checkpoint_name",
    "model_config",
    "optim_config",
    "training_task",
    "train",
    "load",
    "numpy_predict",
]

#: Attention kinds of the family.
ATTENTION = ("linear", "softmax")
#: Depths of the family.
LAYERS = (1, 2)
#: Training input ranges ``h`` of the family (inputs uniform on ``[-h, h]^d``).
HALFWIDTHS = (0.5, 1.0, 1.5)
#: Input dimension and context length of the training tasks.
D, N = 2, 10
#: AdamW steps and tasks per step of every recipe.
STEPS, BATCH = 2000, 256
#: Tasks of the fixed evaluation set scored during training (and by the retraining test).
EVAL_TASKS = 2000


def _check_member(attention: str, layers: int, x_halfwidth: float) -> tuple[str, int, float]:
    if attention not in ATTENTION:
        raise bad_argument(InvalidParameterError, "attention", attention, f"one of {list(ATTENTION)}")
    if isinstance(layers, bool) or layers not in LAYERS:
        raise bad_argument(InvalidParameterError, "layers", layers, f"one of {list(LAYERS)} (the shipped depths)")
    try:
        h = float(x_halfwidth)
    except (TypeError, ValueError):
        h = float("nan")
    if h not in HALFWIDTHS:
        raise bad_argument(
            InvalidParameterError, "x_halfwidth", x_halfwidth, f"one of {list(HALFWIDTHS)} (the shipped ranges)"
        )
    return attention, int(layers), h


def checkpoint_name(attention: str, layers: int, x_halfwidth: float) -> str:
    """The shipped checkpoint's name, e.g. ``'evolving_tf_linear1_h0.5'``."""
    attention, layers, h = _check_member(attention, layers, x_halfwidth)
    return f"evolving_tf_{attention}{layers}_h{h:g}"


def model_config(attention: str, layers: int) -> TransformerConfig:
    """The architecture: ``layers`` attention-only layers of one ``attention`` head, key size 3, on ``(x, y)`` tokens.

    Initialisation as the official regression setup of von Oswald et al.
    (2023a): variance scaling ``0.002 / layers``; no activation clip.
    """
    attention, layers, _ = _check_member(attention, layers, HALFWIDTHS[0])
    return TransformerConfig(
        attention=(attention,) * layers, heads=1, key_size=D + 1, token_format="regression", data_dim=D,
        act_clip=None, init="variance_scaling", init_scale=0.002 / layers,
    )


def optim_config() -> OptimConfig:
    """AdamW (no weight decay, ``b2 = 0.98``), global-norm clip 1, warm-up 100 steps to 0.01, cosine to 1e-4."""
    return OptimConfig(
        lr=0.01, warmup_steps=100, decay_steps=STEPS, init_lr=0.0, end_lr=1e-4, weight_decay=0.0, b2=0.98,
        clip=1.0, clip_kind="global_norm",
    )


def training_task(x_halfwidth: float) -> RegressionTask:
    """In-context regression with ``d = 2``, ``N = 10``, inputs in ``[-x_halfwidth, x_halfwidth]``."""
    _, _, h = _check_member(ATTENTION[0], LAYERS[0], x_halfwidth)
    return RegressionTask(d=D, N=N, x_halfwidth=h)


def train(attention: str, layers: int, x_halfwidth: float) -> "TrainedTransformer":
    """Train one member of the family from scratch (the recipe of its checkpoint; needs the ``jax`` extra)."""
    from ..mesa.nn import train_transformer

    attention, layers, h = _check_member(attention, layers, x_halfwidth)
    return train_transformer(
        model_config(attention, layers), training_task(h), STEPS, BATCH, rng=0, optim=optim_config(),
        eval_every=STEPS // 4, eval_sequences=EVAL_TASKS,
    )


for _a, _l, _h in itertools.product(ATTENTION, LAYERS, HALFWIDTHS):
    recipe(checkpoint_name(_a, _l, _h))(functools.partial(train, _a, _l, _h))


@functools.lru_cache(maxsize=64)
def load(attention: str, layers: int, x_halfwidth: float, retrain: bool = False) -> "TrainedTransformer":
    """The member's shipped checkpoint, or (``retrain``) the model trained afresh; cached per process."""
    from ..mesa.nn.shipped import shipped_model

    return shipped_model(checkpoint_name(attention, layers, x_halfwidth), retrain=retrain)


def numpy_predict(model: "TrainedTransformer", X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Predictions ``[B]`` of a regression transformer, in float64 numpy (no JAX).

    Tokens ``(x_i, y_i)`` and ``(x_q, 0)`` (:func:`aievo.mesa.concat_tokens`) run
    through the reference forward :func:`aievo.mesa.nn.reference.predict`, so
    any configuration with ``token_format="regression"`` is supported.

    Raises
    ------
    InvalidParameterError
        For another token format.
    ShapeError
        If the tasks' input dimension is not the model's.
    """
    from ..mesa.nn.reference import predict
    from ..mesa.tasks import concat_tokens

    cfg = model.config
    if cfg.token_format != "regression":
        raise bad_argument(InvalidParameterError, "model.config.token_format", cfg.token_format,
                           "'regression' (a transformer on (x, y) tokens)")
    if X.shape[2] != cfg.data_dim:
        raise bad_argument(ShapeError, "X.shape", X.shape, f"(B, N, {cfg.data_dim}): the model's input dimension")
    return predict(model.params, cfg, concat_tokens(X, y, xq))[:, 0, 0]
