"""Retraining the shipped checkpoints of the von Oswald et al. (2023b) figures (``-m slow``).

Each recipe is retrained from scratch (same seed) and its headline metric compared with the
shipped checkpoint's. Tolerances allow for float32 reductions that differ between machines and
JAX builds (on the machine that wrote the checkpoints the retrained 1-layer model was
bit-identical); a wrong recipe moves the loss by far more (the depths 1 to 4 differ by 15% or more,
and the binding model's loss went from 0.671 to 0.584 with another seed).
"""

import numpy as np
import pytest

from aievo.figures.vonoswald2023b import fig2_data, fig5a_data
from aievo.mesa.experiments.vonoswald2023b import (
    BINDING_MODEL,
    FIG7_MODELS,
    LINEAR_MODELS,
    SOFTMAX_MODELS,
    binding_r2,
    softmax_first_layer,
)
from aievo.mesa.nn.shipped import shipped_model

pytest.importorskip("jax")

pytestmark = pytest.mark.slow


def test_retrained_binding_model_reproduces_the_shipped_one():
    shipped = shipped_model(BINDING_MODEL)
    fresh = shipped_model(BINDING_MODEL, retrain=True)
    assert fresh.history["eval_loss"][-1] == pytest.approx(shipped.history["eval_loss"][-1], rel=0.05)
    r2_shipped = fig2_data(False, False)["r2_layer1"][:, 1]
    S = fig2_data(False, False)["inputs"]
    h1 = softmax_first_layer(fresh.params, fresh.config, S)[2]
    r2_fresh = binding_r2(h1, S, range(1, S.shape[1]), (1,))[:, 0]
    assert np.mean(r2_fresh) > 0.9
    assert np.mean(r2_fresh) == pytest.approx(np.mean(r2_shipped), abs=0.02)


@pytest.mark.parametrize("depth", sorted(LINEAR_MODELS))
def test_retrained_linear_model_reproduces_the_shipped_one(depth):
    shipped = shipped_model(LINEAR_MODELS[depth])
    fresh = shipped_model(LINEAR_MODELS[depth], retrain=True)
    assert fresh.history["eval_loss"][-1] == pytest.approx(shipped.history["eval_loss"][-1], rel=0.03)


@pytest.mark.parametrize("name", [*SOFTMAX_MODELS.values(), *FIG7_MODELS.values()])
def test_retrained_raw_state_model_reproduces_the_shipped_one(name):
    """Figs 6-7: 5% as the binding model (same recipe family); the architectures of a family differ by more."""
    shipped = shipped_model(name)
    fresh = shipped_model(name, retrain=True)
    assert fresh.history["eval_loss"][-1] == pytest.approx(shipped.history["eval_loss"][-1], rel=0.05)


def test_redistilled_linear_substitutes_reproduce_fig5a():
    """Fig 5A redone from scratch (teacher retrained, then distilled); each replaced model's loss within 10%.

    The teacher's retraining is checked to 5% above; the distillation runs 600 Adam steps in float32 on minibatches; the losses of the replaced
    models amplify small weight differences through the later layers, hence a looser tolerance
    than for the trained models. The finding itself (which layer is cheapest to linearise) is
    asserted separately.
    """
    shipped = fig5a_data(False, False)
    fresh = fig5a_data(False, True)
    np.testing.assert_allclose(fresh["linearised"], shipped["linearised"], rtol=0.10)
    assert int(np.argmin(fresh["linearised"])) == int(np.argmin(shipped["linearised"]))
