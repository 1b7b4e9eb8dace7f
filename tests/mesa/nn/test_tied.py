"""Weight tying across depth (``TransformerConfig(tied=True)``): one parameter set applied ``n_layers`` times.

Training tied models is exercised by the slow retraining tests of the shipped tied checkpoints
(tests/mesa/nn/test_slow_vonoswald2023a.py)."""

import copy
import dataclasses

import numpy as np
import pytest

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.nn.config import RegressionTask, TransformerConfig

pytest.importorskip("jax")

from aievo.mesa.nn.model import forward, init_params  # noqa: E402

CFG = TransformerConfig(attention=("linear",) * 3, heads=1, key_size=4, token_format="regression", data_dim=3,
                        act_clip=None, init_scale=0.3, tied=True)


def test_tied_params_are_one_layer_and_forward_reuses_it():
    p = init_params(CFG, 0)
    assert len(p["layers"]) == 1
    untied = dataclasses.replace(CFG, tied=False)
    p3 = {"layers": [copy.deepcopy(p["layers"][0]) for _ in range(3)]}
    x, _ = RegressionTask(d=3, N=5).sample(np.random.default_rng(1), 8)
    a = np.asarray(forward(p, CFG, x, return_all=True)[-1])
    b = np.asarray(forward(p3, untied, x, return_all=True)[-1])
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # same float32 ops in the same order
    # an independent numpy forward: h <- h + sum_i (P Wv h_i)(Wk h_i . Wq h_j) over the context i
    w = {k: np.asarray(v[0], np.float64) for k, v in p["layers"][0]["attn"].items()}
    h = np.asarray(x, np.float64)
    for _ in range(3):
        q, k, v = h @ w["Wq"].T, h @ w["Wk"].T, h @ w["Wv"].T
        A = q @ k[:, :-1].transpose(0, 2, 1)
        h = h + (A @ v[:, :-1]) @ w["P"].T
    np.testing.assert_allclose(a, h, rtol=1e-4, atol=1e-5)  # float32 against float64
    with pytest.raises(ShapeError):
        forward(p3, CFG, x)


def test_tied_needs_identical_layers():
    with pytest.raises(InvalidParameterError, match="tied"):
        TransformerConfig(attention=("linear", "softmax"), token_format="regression", data_dim=3, tied=True)
    with pytest.raises(InvalidParameterError, match="tied"):
        TransformerConfig(attention=("linear", "linear"), heads=(1, 2), token_format="regression", data_dim=3,
                          tied=True)
    assert TransformerConfig.from_json(CFG.to_json()) == CFG
