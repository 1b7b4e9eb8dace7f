"""The numpy reference forward equals the JAX model in float64, for every kind of config."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError
from aievo.mesa import mesa_layer
from aievo.mesa.nn import TransformerConfig
from aievo.mesa.nn import reference as ref
from aievo.mesa.nn.config import ATTENTION_KINDS, POS_ENCODINGS, TOKEN_FORMATS
from aievo.mesa.nn.params import init_params

jax = pytest.importorskip("jax")


@st.composite
def configs(draw):
    fmt = draw(st.sampled_from(TOKEN_FORMATS))
    kinds = ATTENTION_KINDS if fmt not in ("regression", "regression_separate") else ("linear", "softmax")
    depth = draw(st.integers(1, 3))
    attention = tuple(draw(st.sampled_from(kinds)) for _ in range(depth))
    heads = draw(st.one_of(st.integers(1, 3), st.tuples(*[st.integers(1, 3)] * depth)))
    d = draw(st.integers(1, 3))
    proj = draw(st.booleans())
    token_width = {"regression": d + 1, "interleaved": d + 1, "lds_constructed": 4 * d, "lds_raw": d,
                   "regression_separate": d + 1}[fmt]
    embed = draw(st.integers(2, 6)) if proj else None
    out_dim = d if fmt.startswith("lds") else 1
    pos = draw(st.sampled_from(POS_ENCODINGS))
    pos_dim = draw(st.integers(1, 3)) if pos == "concat" else 0
    width = (token_width if embed is None else embed) + pos_dim
    tied = len(set(attention)) == 1 and isinstance(heads, int) and draw(st.booleans())
    return TransformerConfig(
        attention=attention, heads=heads, tied=tied, key_size=draw(st.integers(1, 4)), token_format=fmt, data_dim=d,
        embed_dim=embed, input_proj=proj, output_proj=proj or width < out_dim or draw(st.booleans()),
        mlp_hidden=draw(st.sampled_from((0, 3))), layer_norm=draw(st.booleans()),
        pos_encoding=pos, pos_dim=pos_dim, input_mlp=draw(st.sampled_from((0, 4))),
        act_clip=draw(st.sampled_from((None, 0.7))),
        init="normal", init_scale=0.7, lam_init=draw(st.sampled_from((0.3, 1.0, 3.0))),
    )


def _inputs(config, B, T, g):
    if config.token_format in ("regression", "regression_separate"):
        return g.standard_normal((B, T, config.token_width))
    width = config.token_width if config.token_format == "interleaved" else config.data_dim
    return g.standard_normal((B, 2 * T if config.token_format == "interleaved" else T, width))


def _perturbed(params, g):
    """Initial parameters with LayerNorm scales/offsets and MLP biases moved off 1 and 0, so they matter."""
    if "input_mlp" in params:
        m = params["input_mlp"]
        m["b1"], m["b2"] = 0.3 * g.standard_normal(m["b1"].shape), 0.3 * g.standard_normal(m["b2"].shape)
    for layer in params["layers"]:
        for key in ("ln1", "ln2"):
            if key in layer:
                layer[key] = {"scale": 1 + 0.3 * g.standard_normal(layer[key]["scale"].shape),
                              "offset": 0.3 * g.standard_normal(layer[key]["offset"].shape)}
        if "mlp" in layer:
            layer["mlp"]["b1"] = 0.3 * g.standard_normal(layer["mlp"]["b1"].shape)
            layer["mlp"]["b2"] = 0.3 * g.standard_normal(layer["mlp"]["b2"].shape)
    return params


@settings(max_examples=6, deadline=None)  # eager JAX takes 1-5 s per config here; more in the slow test
@given(config=configs(), seed=st.integers(0, 2**16), T=st.integers(1, 5))
def test_reference_forward_equals_the_jax_model_in_float64(config, seed, T):
    _check_against_jax(config, seed, T)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(config=configs(), seed=st.integers(0, 2**16), T=st.integers(1, 6))
def test_reference_forward_equals_the_jax_model_in_float64_many_configs(config, seed, T):
    _check_against_jax(config, seed, T)


def _check_against_jax(config, seed, T):
    from aievo.mesa.nn import model

    g = np.random.default_rng(seed)
    params = _perturbed(init_params(config, g), g)
    x = _inputs(config, 3, T, g)
    trace = ref.run(params, config, x, attention=True)
    with jax.enable_x64(True):
        acts = [np.asarray(a) for a in model.forward(params, config, x, return_all=True)]
        pred = np.asarray(model.predict(params, config, x))
    # both float64; the only differences are summation orders and mesa's solve against
    # Sherman-Morrison, ~1e-15 relative per operation through at most 3 layers
    assert len(trace.residual) == len(acts) == config.n_layers + 1
    for mine, theirs in zip(trace.residual, acts):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trace.predictions, pred, rtol=1e-10, atol=1e-12)
    assert trace.predictions.dtype == np.float64
    T_tok = acts[0].shape[1]  # separate tokens: 2 N + 1 from N + 1 inputs
    assert [w.shape for w in trace.attention] == [(3, H, T_tok, T_tok) for H in config.heads_per_layer]
    mask = ref.attention_mask(config, T_tok)
    for w, kind in zip(trace.attention, config.attention):
        assert np.all(w[..., ~mask] == 0)
        if kind == "softmax":
            np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)


def test_mesa_attention_output_is_the_rls_mesa_layer():
    # one mesa head, identity value/projection maps: the layer's update is mesa_layer(K, V, Q, lam)
    g = np.random.default_rng(1)
    config = TransformerConfig(attention=("mesa",), heads=1, key_size=3, token_format="lds_raw", data_dim=3,
                               act_clip=None, lam_init=0.5)
    params = init_params(config, g)
    attn = params["layers"][0]["attn"]
    attn["Wq"], attn["Wk"] = g.standard_normal((2, 1, 3, 3))
    attn["Wv"], attn["P"] = np.eye(3)[None], np.eye(3)[None]
    x = g.standard_normal((4, 7, 3))
    K, Q = x @ attn["Wk"][0].T, x @ attn["Wq"][0].T
    h = ref.run(params, config, x).residual[1]
    np.testing.assert_allclose(h - x, mesa_layer(K, x, Q, 0.5), rtol=1e-9, atol=1e-12)


def test_hooks_replace_queries_keys_and_weights():
    g = np.random.default_rng(2)
    config = TransformerConfig(attention=("softmax", "softmax"), heads=2, key_size=2, token_format="lds_raw",
                               data_dim=2, act_clip=None, init_scale=0.5)
    params = init_params(config, g)
    x = g.standard_normal((2, 5, 2))
    seen = []

    def uniform(layer, scores, mask):
        seen.append(layer)
        return np.broadcast_to(mask / mask.sum(axis=-1, keepdims=True), scores.shape) if layer == 1 else None

    trace = ref.run(params, config, x, attention=True, weights_hook=uniform)
    assert seen == [0, 1]
    np.testing.assert_allclose(trace.attention[1][0, 0, 3], [0.25] * 4 + [0.0])
    plain = ref.run(params, config, x, attention=True)
    np.testing.assert_array_equal(trace.attention[0], plain.attention[0])
    # zero keys: every readable token gets the same softmax weight
    zeroed = ref.run(params, config, x, attention=True, qk_hook=lambda i, Q, K: (Q, 0 * K))
    np.testing.assert_allclose(zeroed.attention[0], trace.attention[1])


def test_bad_parameters_are_refused():
    config = TransformerConfig(attention=("mesa",), heads=1, key_size=2, token_format="lds_raw", data_dim=2)
    params = init_params(config, 0)
    params["layers"][0]["attn"]["lam"] = np.array([-1.0])
    with pytest.raises(InvalidParameterError, match="lam"):
        ref.run(params, config, np.zeros((1, 3, 2)))
    with pytest.raises(InvalidParameterError, match="config"):
        ref.run(params, "config", np.zeros((1, 3, 2)))


def test_trained_transformer_backends():
    from aievo.mesa.nn import TrainedTransformer

    config = TransformerConfig(attention=("softmax",), heads=1, key_size=2, token_format="interleaved", data_dim=2,
                               act_clip=None, init_scale=0.5)
    model = TrainedTransformer(config, init_params(config, 3))
    x = np.random.default_rng(3).standard_normal((2, 6, 3))
    np.testing.assert_array_equal(model.predict(x, backend="numpy"), ref.predict(model.params, config, x))
    np.testing.assert_allclose(model.predict(x, backend="auto"), model.predict(x, backend="numpy"), rtol=1e-5,
                               atol=1e-6)  # auto is JAX here (float32)
    assert len(model.activations(x, backend="numpy")) == 2
    with pytest.raises(InvalidParameterError, match="backend"):
        model.predict(x, backend="torch")


@st.composite
def separate_or_sine_configs(draw):
    """The two 2023a setups with their new parts: separate x/y tokens with concatenated position
    columns, and an embedding with an input MLP; random sizes, attention kinds and options."""
    d = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 2))
    common = dict(attention=tuple(draw(st.sampled_from(("linear", "softmax"))) for _ in range(depth)),
                  heads=draw(st.integers(1, 2)), key_size=draw(st.integers(1, 4)), init="normal", init_scale=0.7,
                  act_clip=draw(st.sampled_from((None, 0.7))), mlp_hidden=draw(st.sampled_from((0, 3))),
                  layer_norm=draw(st.booleans()))
    if draw(st.booleans()):
        return TransformerConfig(token_format="regression_separate", data_dim=d, pos_encoding="concat",
                                 pos_dim=draw(st.integers(1, 4)), **common)
    E = draw(st.integers(2, 6))
    return TransformerConfig(token_format="regression", data_dim=d, embed_dim=E, input_proj=True,
                             input_mlp=draw(st.integers(1, 8)), **common)


@settings(max_examples=2, deadline=None)  # eager JAX: seconds per config on the loaded machine; more in the slow test
@given(config=separate_or_sine_configs(), seed=st.integers(0, 2**16), N=st.integers(1, 5))
def test_separate_tokens_and_input_mlp_reference_equals_jax_in_float64(config, seed, N):
    _check_separate_or_sine(config, seed, N)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(config=separate_or_sine_configs(), seed=st.integers(0, 2**16), N=st.integers(1, 5))
def test_separate_tokens_and_input_mlp_reference_equals_jax_in_float64_many_configs(config, seed, N):
    _check_separate_or_sine(config, seed, N)


def _check_separate_or_sine(config, seed, N):
    _check_against_jax(config, seed, N + 1)
    x = np.random.default_rng(seed).standard_normal((2, N + 1, config.token_width))
    assert ref.run(init_params(config, seed), config, x).residual[0].shape == (
        2, 2 * N + 1 if config.token_format == "regression_separate" else N + 1, config.width)
