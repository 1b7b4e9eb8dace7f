"""Retraining the shipped Fig 8 checkpoint (LDS pretraining, then EOS and prefix tuning) reproduces it (``-m slow``).

Tolerances: the pretraining loss within 5% as the other raw-state models of 2023b (float32 reductions
differ between machines and JAX builds); the final tuning losses (mean of the last 50 steps, each on
64 fresh sequences, Monte-Carlo standard error about 1%) within 5%. A wrong recipe moves them by
more: the EOS token tuned from the official N(0, I) start (instead of 0.1 N(0, I)) ends at a tuning
loss of 1.41 against 1.11, its untuned 0.1 N(0, I) start scores 1.41 over the first 10 steps, and the
model without any EOS token scores 1.94 per example against 1.16 with the tuned one.
"""

import numpy as np
import pytest

from aievo.mesa.experiments.vonoswald2023b_fewshot import FEWSHOT_MODEL, fewshot_curves
from aievo.mesa.nn.shipped import shipped_model

pytest.importorskip("jax")

pytestmark = pytest.mark.slow


def test_retrained_fewshot_model_and_prompts_reproduce_the_shipped_ones():
    shipped = shipped_model(FEWSHOT_MODEL)
    fresh = shipped_model(FEWSHOT_MODEL, retrain=True)
    assert fresh.history["eval_loss"][-1] == pytest.approx(shipped.history["eval_loss"][-1], rel=0.05)
    for key in ("eos", "prefix"):
        mine, theirs = (m.history[f"prompt_{key}_loss"][-50:].mean() for m in (fresh, shipped))
        assert mine == pytest.approx(theirs, rel=0.05)
    # the retrained prompts do as well on fresh tasks (1000 sequences: standard error below 1%)
    a, b = (fewshot_curves(m, (18,), 1000, 5) for m in (fresh, shipped))
    for key in ("eos", "prefix"):
        assert np.mean(a[key]) == pytest.approx(np.mean(b[key]), rel=0.05)
