"""Separate x/y tokens and sine regression (von Oswald et al. 2023a) without JAX: the token layout,
configs and tasks as data, and the analyses against independent numpy computations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.baselines import gd_steps
from aievo.mesa.experiments import vonoswald2023a as vx
from aievo.mesa.nn import RegressionTask, SineRegressionTask, TransformerConfig
from aievo.mesa.nn import reference as ref
from aievo.mesa.nn.config import task_from_dict
from aievo.mesa.nn.params import init_params


def _separate(d=3, **kw):
    base = dict(attention=("softmax", "linear"), heads=1, key_size=4, token_format="regression_separate", data_dim=d,
                pos_encoding="concat", pos_dim=2, act_clip=None)
    return TransformerConfig(**{**base, **kw})


def test_separate_tokens_layout():
    x = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)  # N = 2 pairs, d = 3, query last
    t = ref.separate_tokens(x)
    assert t.shape == (2, 5, 4)
    for b in range(2):
        for i in range(2):
            np.testing.assert_array_equal(t[b, 2 * i], [*x[b, i, :3], 0.0])
            np.testing.assert_array_equal(t[b, 2 * i + 1], [0.0, 0.0, 0.0, x[b, i, 3]])
        np.testing.assert_array_equal(t[b, 4], x[b, 2])
    assert ref.tokens(_separate(), x).shape == (2, 5, 4)
    with pytest.raises(ShapeError, match="inputs.shape"):
        ref.separate_tokens(np.zeros((3, 4)))


def test_separate_format_config():
    cfg = _separate(d=3)
    assert (cfg.token_width, cfg.embedded_width, cfg.width, cfg.output_dim) == (4, 4, 6, 1)
    assert not cfg.causal
    mask = ref.attention_mask(cfg, 7)
    assert mask[:, :6].all() and not mask[:, 6].any()  # every token reads the 2N context tokens, never the query
    p = init_params(cfg, 0)
    assert p["layers"][0]["attn"]["Wq"].shape == (1, 4, 6)
    with pytest.raises(InvalidParameterError, match="pos_dim"):
        _separate(pos_encoding="none")  # pos_dim=2 without "concat"
    with pytest.raises(InvalidParameterError, match="pos_dim"):
        _separate(pos_dim=0)  # "concat" without columns
    with pytest.raises(InvalidParameterError, match="input_mlp"):
        _separate(input_mlp=-1)
    with pytest.raises(InvalidParameterError, match="attention"):
        _separate(attention=("mesa",))  # mesa layers are causal


@settings(max_examples=12, deadline=None)
@given(d=st.integers(1, 4), N=st.integers(1, 6), pos=st.integers(1, 4), eta=st.floats(0.1, 5.0),
       seed=st.integers(0, 2**16))
def test_copy_layer_then_gd_layer_is_one_gd_step(d, N, pos, eta, seed):
    """The paper's mechanism, built by hand: layer 1 copies each y_i into its x-token (attention to the next
    token, forced by a weights hook), layer 2 is the Proposition-1 GD layer; the prediction is one GD step."""
    cfg = _separate(d=d, key_size=d + 1 + pos, pos_dim=pos)
    E = cfg.width
    params = init_params(cfg, seed)
    ey = np.zeros(E)
    ey[d] = 1.0  # the label slot
    copy = params["layers"][0]["attn"]
    copy["Wq"], copy["Wk"] = np.zeros((1, E, E)), np.zeros((1, E, E))
    copy["Wv"], copy["P"] = np.eye(E)[None], np.diag(ey)[None]  # write the attended token's label into the label slot
    gd = params["layers"][1]["attn"]
    sel = np.diag(np.r_[np.ones(d), np.zeros(E - d)])
    gd["Wq"], gd["Wk"], gd["Wv"] = sel[None], sel[None], np.diag(ey)[None]
    gd["P"] = (-eta / N * np.diag(ey))[None]
    T = 2 * N + 1
    nxt = np.zeros((T, T))
    for t in range(T - 1):
        nxt[t, t + 1 if t + 1 < T - 1 else 0] = 1.0  # next context token; the last y-token and the query read x_1

    def hook(layer, scores, mask):
        return np.broadcast_to(nxt, scores.shape) if layer == 0 else None

    task = RegressionTask(d=d, N=N)
    tokens, _ = task.sample(np.random.default_rng(seed), 5)
    X, y, xq = tokens[:, :-1, :-1], tokens[:, :-1, -1], tokens[:, -1, :-1]
    trace = ref.run(params, cfg, tokens, weights_hook=hook)
    # y-tokens and the query read x-tokens, whose label slot is empty: only the x-tokens change, to (x_i, y_i)
    after1 = trace.residual[1]
    np.testing.assert_allclose(after1[:, 0:-1:2, d], y, atol=1e-12)
    np.testing.assert_allclose(trace.predictions[:, 0, 0], gd_steps(X, y, xq, eta), rtol=1e-9, atol=1e-12)
    # without the copy (the hook makes every token read x_1) layer 2 sees no (x_i, y_i) pair: it predicts 0
    flat = ref.run(params, cfg, tokens, weights_hook=lambda l, s, m: np.broadcast_to(
        np.eye(T)[[0] * T], s.shape) if l == 0 else None)
    np.testing.assert_allclose(flat.predictions, 0.0, atol=1e-12)


def test_concat_encodings_are_not_read_by_the_fixed_readout():
    cfg = _separate(d=2, attention=("linear",))
    h = np.zeros((1, 5, cfg.width))
    h[0, -1, cfg.embedded_width - 1] = 3.0
    h[0, -1, -1] = 7.0  # a position column
    assert ref.readout({"layers": []}, cfg, h)[0, 0, 0] == -3.0


def test_sine_task():
    t = SineRegressionTask()
    assert t == SineRegressionTask.from_json(t.to_json())
    assert task_from_dict({"type": "SineRegressionTask", **t.to_dict()}) == t
    r = t.sample_raw(np.random.default_rng(0), 4000)
    assert r["x"].shape == (4000, 10) and r["yq"].shape == (4000,)
    np.testing.assert_allclose(r["y"], r["amp"][:, None] * np.sin(r["x"] + r["phase"][:, None]))
    assert 0.1 <= r["amp"].min() and r["amp"].max() <= 0.5 and 0 <= r["phase"].min() and r["phase"].max() <= np.pi
    assert np.abs(r["x"]).max() <= 5.0 and np.abs(r["x"]).max() > 4.9
    assert abs(np.corrcoef(r["amp"], r["phase"])[0, 1]) < 0.1  # drawn independently (the official code ties them)
    tokens, yq = t.sample(np.random.default_rng(0), 4000)
    np.testing.assert_array_equal(tokens[:, :-1, 0], r["x"])
    np.testing.assert_array_equal(tokens[:, :-1, 1], r["y"])
    np.testing.assert_array_equal(tokens[:, -1], np.stack([r["xq"], 0 * r["xq"]], -1))
    np.testing.assert_array_equal(yq[:, 0, 0], r["yq"])
    with pytest.raises(InvalidParameterError, match="amp_high"):
        SineRegressionTask(amp_low=0.5, amp_high=0.1)
    with pytest.raises(InvalidParameterError, match="x_halfwidth"):
        SineRegressionTask(x_halfwidth=0.0)


def test_input_mlp_config_and_params():
    cfg = vx.sine_config()
    assert TransformerConfig.from_json(cfg.to_json()) == cfg
    p = init_params(cfg, 0)
    E = cfg.embedded_width
    assert p["embed"].shape == (E, 2) and p["input_mlp"]["W1"].shape == (4 * E, E)
    # the embedded stream is embed + MLP(embed), by hand
    x = np.random.default_rng(1).uniform(-5, 5, size=7)
    e = np.stack([x, 0 * x], -1) @ p["embed"].T
    m = p["input_mlp"]
    want = e + ref.gelu(e @ m["W1"].T + m["b1"]) @ m["W2"].T + m["b2"]
    np.testing.assert_allclose(vx.sine_features(p, cfg, x), want, rtol=1e-12)
    with pytest.raises(InvalidParameterError, match="input_mlp"):
        ref.run({k: v for k, v in p.items() if k != "input_mlp"}, cfg, np.zeros((1, 3, 2)))


def test_sine_baselines_against_direct_formulas():
    g = np.random.default_rng(3)
    x, y, xq = g.uniform(-5, 5, (6, 10)), g.normal(size=(6, 10)), g.uniform(-5, 5, 6)
    for b in range(6):
        slope, icpt = np.polyfit(x[b], y[b], 1)
        assert vx.line_fit(x, y, xq)[b] == pytest.approx(slope * xq[b] + icpt, rel=1e-9)
    phi, phq = g.normal(size=(6, 10, 4)), g.normal(size=(6, 4))
    a = vx.gd_on_features(phi, y, phq)
    # one GD step from w = 0 on (phi_i, y_i) with eta = 1 is gd_steps on the feature vectors
    np.testing.assert_allclose(a, gd_steps(phi, y, phq, 1.0), rtol=1e-12)
    yq = 2.5 * a + 0.01 * g.normal(size=6)
    eta = vx.best_step(a, yq)
    grid = np.linspace(eta - 0.1, eta + 0.1, 201)
    assert np.argmin([np.sum((e * a - yq) ** 2) for e in grid]) == 100
    with pytest.raises(InvalidParameterError):
        vx.best_step(np.zeros(6), yq)
    with pytest.raises(ShapeError):
        vx.gd_on_features(phi, y[:, :3], phq)


def test_analyses_refuse_other_models():
    sine = vx.sine_config()
    sep = vx.separate_config()
    with pytest.raises(InvalidParameterError, match="config"):
        vx.copy_probe(init_params(sine, 0), sine, np.zeros((2, 11, 2)), np.zeros((2, 11, 2)), 1)
    with pytest.raises(InvalidParameterError, match="config"):
        vx.sine_features(init_params(sep, 0), sep, np.zeros(3))
    with pytest.raises(InvalidParameterError, match="layer"):
        vx.copy_probe(init_params(sep, 0), sep, np.zeros((2, 11, 11)), np.zeros((2, 11, 11)), 3)
    with pytest.raises(InvalidParameterError, match="attention"):
        vx.separate_config(("mesa",))
    assert dataclasses.replace(sep, attention=("linear",)) == vx.separate_config(("linear",))
