"""Retraining the shipped checkpoints of the von Oswald et al. (2023a) figures (``-m slow``).

Each recipe is retrained from scratch (same seed) and its held-out loss on 2000 fresh tasks
compared with the shipped checkpoint's on the same tasks. The tolerance, 3%, allows for float32
reductions that differ between machines and JAX builds; a wrong recipe moves the loss by far more
(the head counts 1, 2, 4 and the depths 1, 2, 3 differ by 25% or more, and a two-head softmax
layer trained at half the learning rate for 3000 steps stayed 38% higher for one seed).
"""

import numpy as np
import pytest

from aievo.mesa.experiments.vonoswald2023a import (
    DEPTH_MODELS,
    HEADS_MODELS,
    SEPARATE_MODELS,
    SEPARATE_SETUP,
    SHIPPED_SETUP,
    SINE_MODEL,
    SINE_SETUP,
    TIED_MODELS,
    regression_forward,
)
from aievo.mesa.nn.reference import predict
from aievo.mesa.nn.shipped import shipped_model

pytest.importorskip("jax")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", [*HEADS_MODELS.values(), *DEPTH_MODELS.values(), *TIED_MODELS.values()])
def test_retrained_model_reproduces_the_shipped_one(name):
    tokens, yq = SHIPPED_SETUP["task"].sample(np.random.default_rng(7), 2000)
    losses = []
    for m in (shipped_model(name), shipped_model(name, retrain=True)):
        losses.append(0.5 * np.mean((regression_forward(m.params, m.config, tokens) - yq[:, 0, 0]) ** 2))
    assert losses[1] == pytest.approx(losses[0], rel=0.03)


@pytest.mark.parametrize("name", [*SEPARATE_MODELS.values(), SINE_MODEL])
def test_retrained_separate_token_and_sine_models_reproduce_the_shipped_ones(name):
    """Held-out loss of the retrained model within 5% of the shipped one's on the same 2000 tasks.

    Retraining on the machine that wrote the checkpoints gave the same losses to 8 digits; 5% allows
    for float32 reductions elsewhere shifting when the softmax + LSA model leaves its plateau (near
    step 500). A wrong recipe moves far more: at the official init and lr 1e-3 the softmax + LSA
    model stayed at the zero-predictor loss (0.433, twice its trained loss) for 4000 steps, and a
    sine model of width 40 at init 0.002 and lr 1e-3 was still at 0.015 after 1750 steps (shipped: 0.0019).
    """
    task = SINE_SETUP["task"] if name == SINE_MODEL else SEPARATE_SETUP["task"]
    tokens, yq = task.sample(np.random.default_rng(7), 2000)
    losses = []
    for m in (shipped_model(name), shipped_model(name, retrain=True)):
        losses.append(0.5 * np.mean((predict(m.params, m.config, tokens)[:, 0, 0] - yq[:, 0, 0]) ** 2))
    assert losses[1] == pytest.approx(losses[0], rel=0.05)
