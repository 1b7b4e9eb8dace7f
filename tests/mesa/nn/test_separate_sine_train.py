"""Training on separate x/y tokens and on sine regression with an input MLP (tiny sizes)."""

import numpy as np
import pytest

from aievo.errors import InvalidParameterError
from aievo.mesa.nn import RegressionTask, SineRegressionTask, TransformerConfig, evaluate, train_transformer


def test_separate_tokens_train_and_evaluate():
    cfg = TransformerConfig(attention=("softmax", "linear"), heads=1, key_size=4, token_format="regression_separate",
                            data_dim=2, pos_encoding="concat", pos_dim=2, act_clip=None, init_scale=0.3)
    task = RegressionTask(d=2, N=3)
    res = train_transformer(cfg, task, 5, 8, 0, eval_every=5, eval_sequences=16)
    assert res.history["eval_per_position"].shape == (2, 1) and np.all(np.isfinite(res.history["train_loss"]))
    tokens, yq = task.sample(np.random.default_rng(1), 6)
    pred = res.predict(tokens)
    assert pred.shape == (6, 1, 1)
    # evaluate's loss is sum (pred - y)^2 / 2n on the task's draws, here recomputed from the same draws
    loss = evaluate(res, task, 6, np.random.default_rng(1))
    assert loss[0] == pytest.approx(0.5 * np.mean((pred - yq) ** 2), rel=1e-5)


def test_tasks_and_token_formats_must_match():
    sine = TransformerConfig(attention=("linear",), heads=1, key_size=2, token_format="interleaved", data_dim=1)
    with pytest.raises(InvalidParameterError, match="token_format"):
        train_transformer(sine, SineRegressionTask(), 1, 2)
    lds = TransformerConfig(attention=("linear",), heads=1, key_size=2, token_format="lds_raw", data_dim=2)
    with pytest.raises(InvalidParameterError, match="token_format"):
        train_transformer(lds, RegressionTask(d=2), 1, 2)
