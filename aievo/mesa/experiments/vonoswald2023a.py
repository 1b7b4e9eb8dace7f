"""von Oswald et al. (2023a): one softmax self-attention layer needs two heads to match one GD step.

With keys and values from the context tokens ``(x_i, y_i)`` only, a softmax head writes
``sum_i softmax_i(q . k_i) v_i`` into the query: for small logits this is
``mean_i v_i + (1/N) sum_i (q . k_i - mean) v_i + ...``. The first term (the context mean of the
values) is not a GD step; two heads with opposite logits cancel it and leave the linear term, which
with the Proposition-1 weights is one step of gradient descent. :func:`softmax_heads` trains one
softmax layer with 1, 2, ... heads on the official regression task and compares each loss with one
GD step at the grid-best learning rate on the same held-out tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, bad_argument
from .._checks import as_rng, check_int
from ..baselines import regression_loss, scan_eta
from ..nn.config import OptimConfig, RegressionTask, TransformerConfig
from ..tasks import concat_tokens, sample_regression_tasks

__all__ = ["SoftmaxHeadsResult", "softmax_heads"]


@dataclass(frozen=True)
class SoftmaxHeadsResult:
    """Held-out losses of one trained softmax layer per head count, and of one GD step.

    Attributes
    ----------
    heads : tuple of int
    softmax_loss : tuple of float
        ``sum (yhat - y)^2 / 2n`` of the trained layer with ``heads[i]`` heads.
    linear_loss : float
        The same for one trained linear (LSA) head, for comparison.
    gd_loss, gd_eta : float
        One GD step from ``W = 0`` at the grid-best ``eta`` (official grid).
    zero_loss : float
        The zero predictor.
    config : dict
        Steps, batch size, seed, number of held-out tasks.
    """

    heads: tuple[int, ...]
    softmax_loss: tuple[float, ...]
    linear_loss: float
    gd_loss: float
    gd_eta: float
    zero_loss: float
    config: dict


def softmax_heads(
    heads: Sequence[int] = (1, 2),
    *,
    steps: int = 3000,
    batch_size: int = 512,
    n_eval: int = 10000,
    task: RegressionTask | None = None,
    optim: OptimConfig | None = None,
    rng: Any = 0,
    progress: bool | None = False,
) -> SoftmaxHeadsResult:
    """Train one softmax layer with each number of heads (and one linear head) on in-context regression.

    Parameters
    ----------
    heads : sequence of int
        Head counts to try.
    steps, batch_size : int
        Training steps and tasks per step for every model.
    n_eval : int
        Held-out tasks (the same for every model and for GD).
    task : RegressionTask, optional
        Default: the official ``d = N = 10`` task.
    optim : OptimConfig, optional
        Default: AdamW, lr 1e-3, ``b2 = 0.98``, no weight decay (the official 2023a optimiser).
    rng : int or numpy.random.Generator
    progress : bool or None

    Returns
    -------
    SoftmaxHeadsResult
    """
    from ..nn.train import train_transformer

    if isinstance(heads, (int, str)) or not len(heads):
        raise bad_argument(InvalidParameterError, "heads", heads, "a non-empty sequence of head counts")
    heads = tuple(check_int(h, "heads[i]") for h in heads)
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size")
    n_eval = check_int(n_eval, "n_eval")
    task = RegressionTask() if task is None else task
    if not isinstance(task, RegressionTask):
        raise bad_argument(InvalidParameterError, "task", task, "a RegressionTask")
    g = as_rng(rng)
    seeds = g.integers(0, 2**31 - 1, size=len(heads) + 2)
    X, y, xq, yq, _ = sample_regression_tasks(int(seeds[-1]), n_eval, task.d, task.N, x_halfwidth=task.x_halfwidth,
                                              w_scale=task.w_scale, noise=task.noise)
    tokens = concat_tokens(X, y, xq)
    eta, gd_loss, _ = scan_eta(X, y, xq, yq)

    def trained_loss(kind: str, h: int, seed: int) -> float:
        cfg = TransformerConfig(attention=(kind,), heads=h, key_size=task.d + 1, token_format="regression",
                                data_dim=task.d, act_clip=None, init="variance_scaling", init_scale=0.002)
        res = train_transformer(cfg, task, steps, batch_size, seed, optim=optim, progress=progress)
        return regression_loss(res.predict(tokens)[:, 0, 0].astype(np.float64), yq)

    soft = tuple(trained_loss("softmax", h, int(s)) for h, s in zip(heads, seeds))
    lin = trained_loss("linear", 1, int(seeds[len(heads)]))
    return SoftmaxHeadsResult(heads, soft, lin, gd_loss, eta, regression_loss(np.zeros_like(yq), yq),
                              dict(steps=steps, batch_size=batch_size, n_eval=n_eval,
                                   rng=rng if isinstance(rng, int) else None))
