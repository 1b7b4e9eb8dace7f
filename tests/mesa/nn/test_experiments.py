"""Smoke tests of the paper experiments (tiny runs); the numbers in the docs come from full runs."""

import numpy as np
import pytest

from aievo.errors import InvalidParameterError
from aievo.mesa.nn.config import LDSTask, RegressionTask

pytest.importorskip("jax")

from aievo.mesa.experiments.vonoswald2023a import softmax_heads
from aievo.mesa.experiments.vonoswald2023b import token_binding


def test_softmax_heads_runs_and_scores_gd():
    res = softmax_heads((1, 2), steps=5, batch_size=16, n_eval=300, task=RegressionTask(d=3, N=5), rng=0)
    assert res.heads == (1, 2) and len(res.softmax_loss) == 2
    assert 0 < res.gd_loss < res.zero_loss  # one GD step at the best eta beats predicting 0
    assert all(np.isfinite(res.softmax_loss)) and np.isfinite(res.linear_loss)
    with pytest.raises(InvalidParameterError, match="heads"):
        softmax_heads(2)


def test_token_binding_probes_the_input_exactly():
    res = token_binding(task=LDSTask(D=3, T=8), steps=3, batch_size=8, heads=1, key_size=4, embed_dim=12,
                        positions=(0, 5), lags=(0, 1), n_probe=200, rng=0)
    assert res.r2_input.shape == (2, 2) and np.isnan(res.r2_input[0, 1])
    # the embedded token is an injective linear map of s_t: lag 0 decodes exactly before any layer
    assert res.r2_input[1, 0] > 1 - 1e-4
    assert np.isfinite(res.loss)
