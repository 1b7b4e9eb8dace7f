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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, bad_argument
from .._checks import as_rng, check_int
from ..nn.config import LDSTask, OptimConfig, TransformerConfig
from ..probes import linear_probe

__all__ = ["TokenBindingResult", "token_binding"]


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
        optim = OptimConfig(lr=3e-3, warmup_steps=min(100, steps - 1), decay_steps=steps, end_lr=1e-5)
    cfg = TransformerConfig(attention=("softmax", "linear"), heads=heads, key_size=key_size, token_format="lds_raw",
                            data_dim=task.D, embed_dim=embed_dim, input_proj=True, output_proj=True,
                            pos_encoding="kq", act_clip=None, init_scale=init_scale)
    g = as_rng(rng)
    s_train, s_probe, s_eval = (int(s) for s in g.integers(0, 2**31 - 1, size=3))
    model = train_transformer(cfg, task, steps, batch_size, s_train, optim=optim, progress=progress)
    inputs, _ = task.sample(np.random.default_rng(s_probe), n_probe)
    acts = model.activations(inputs)
    half = n_probe // 2
    r2 = np.full((2, len(positions), len(lags)), np.nan)
    for a, layer in enumerate((0, 1)):
        A = np.asarray(acts[layer], dtype=np.float64)
        for i, t in enumerate(positions):
            for j, k in enumerate(lags):
                if t - k < 0:
                    continue
                target = inputs[:, t - k]
                r2[a, i, j] = linear_probe(A[:half, t], target[:half], metric="r2",
                                           test=(A[half:, t], target[half:]))
    loss = float(np.mean(evaluate(model, task, 1000, s_eval)))
    return TokenBindingResult(positions, lags, r2[0], r2[1], loss,
                              dict(model=cfg.to_dict(), optim=optim.to_dict(), steps=steps, batch_size=batch_size,
                                   n_probe=n_probe, rng=rng if isinstance(rng, int) else None))
