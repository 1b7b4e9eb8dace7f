"""The JAX model against the numpy references, in float64 on the same weights."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aievo.mesa as m
from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa.nn.config import LDSTask, TransformerConfig

jax = pytest.importorskip("jax")
jnp = jax.numpy
from jax.test_util import check_grads

from aievo.mesa.nn import model as M
from aievo.mesa.nn.layers import mesa_precondition

TOL = 1e-10  # float64, sums of O(100) products of O(1) numbers


def _lds(B=6, T=12, D=3, seed=0):
    return LDSTask(D=D, T=T).sample(np.random.default_rng(seed), B)


@pytest.mark.parametrize("act_clip", [None, 0.3])
def test_linear_tf_equals_numpy_reference(x64, act_clip):
    D = 3
    layers = m.linear_tf_init(D=D, n_layers=3, n_heads=2, key_size=5, init_std=0.3, rng=1)
    inputs, _ = _lds(D=D)
    ref = m.linear_tf_forward(layers, m.construct_full_tokens(inputs), act_clip=act_clip)
    cfg = TransformerConfig(attention=("linear",) * 3, heads=2, key_size=5, data_dim=D, act_clip=act_clip)
    acts = M.forward(M.params_from_lsa(layers), cfg, inputs, return_all=True)
    assert acts[-1].dtype == jnp.float64
    for a, r in zip(acts, ref):
        np.testing.assert_allclose(np.asarray(a), r, rtol=0, atol=TOL)
    if act_clip is not None:  # the clip binds somewhere, so this checks it
        assert np.any(np.abs(ref[-1]) == act_clip)


def test_linear_tf_lsa_forward_and_grads_equal_numpy(x64):
    """Loss = the numpy reference's; gradients = central differences of the numpy loss (float64)."""
    D = 3
    layers = m.linear_tf_init(D=D, n_layers=2, n_heads=2, key_size=4, init_std=0.3, mesa=[False, True],
                              lam_init=0.6, rng=2)
    inputs, targets = _lds(D=D, seed=3)
    cfg = TransformerConfig(attention=("linear", "mesa"), heads=2, key_size=4, data_dim=D, act_clip=None)
    params = M.params_from_lsa(layers)
    tokens = m.construct_full_tokens(inputs)

    def np_loss():
        pred = m.linear_tf_forward(layers, tokens)[-1][..., :D]
        return float(np.sum((pred - targets) ** 2) / (2 * targets.shape[0] * targets.shape[1]))

    jl, jg = jax.jit(jax.value_and_grad(M.loss_fn), static_argnums=1)(params, cfg, inputs, targets)
    assert abs(float(jl) - np_loss()) < TOL
    g = np.random.default_rng(0)
    h = 1e-6  # central differences: truncation ~h^2 and rounding ~1e-16 / h, both far below the tolerance
    for i, layer in enumerate(layers):
        for k, arr in layer.items():
            jgk = np.asarray(jg["layers"][i]["attn"][k])
            for idx in {tuple(int(g.integers(n)) for n in arr.shape) for _ in range(8)}:
                old = arr[idx]
                arr[idx] = old + h
                up = np_loss()
                arr[idx] = old - h
                down = np_loss()
                arr[idx] = old
                assert jgk[idx] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9), (i, k, idx)


@pytest.mark.parametrize("K, d, N", [(1, 10, 10), (3, 2, 5)])
@given(eta=st.floats(0.1, 8.0), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=5)
def test_gd_construction_gives_gd_predictions(K, d, N, eta, seed):
    X, y, xq, yq, _ = m.sample_regression_tasks(seed, 7, d, N)
    E = m.concat_tokens(X, y, xq)
    cfg = TransformerConfig(attention=("linear",) * K, heads=1, key_size=d + 1, token_format="regression",
                            data_dim=d, act_clip=None)
    params = M.params_from_lsa([m.gd_weights(d, N, eta)] * K)
    with jax.enable_x64(True):
        pred = np.asarray(M.compiled(cfg, "predict")(params, E))[:, 0, 0]
    lsa = m.lsa_forward(E, [m.gd_weights(d, N, eta)] * K, n_context=N)
    np.testing.assert_allclose(pred, m.gd_steps(X, y, xq, eta, K), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(pred, m.regression_readout(lsa), rtol=1e-9, atol=1e-10)


def test_sequence_gd_construction_gives_prop1_predictions(x64):
    D, eta = 4, 0.05
    inputs, _ = _lds(D=D, T=20)
    cfg = TransformerConfig(attention=("linear",), heads=1, key_size=D, data_dim=D, act_clip=None)
    pred = np.asarray(M.predict(M.params_from_lsa([m.gd_sequence_weights(D, eta)]), cfg, inputs))
    np.testing.assert_allclose(pred, m.gd_sequence_predict(inputs, eta), rtol=1e-9, atol=1e-12)


def _mesa_out(K, V, Q, lam):
    Qt = mesa_precondition(K[:, None], Q[:, None], lam[None])[:, 0]
    return jnp.einsum("bts,bsv->btv", jnp.tril(Qt @ jnp.swapaxes(K, 1, 2)), V)


_mesa_out_jit = jax.jit(_mesa_out)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 15, 5, 4), (2, 40, 3, 2)])
@given(lam=st.floats(0.05, 20.0), scale=st.floats(0.1, 3.0), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=8)
def test_mesa_head_equals_numba_mesa_layer(shape, lam, scale, seed):
    B, T, k, dv = shape
    g = np.random.default_rng(seed)
    K, Q = scale * g.standard_normal((2, B, T, k))
    V = g.standard_normal((B, T, dv))
    with jax.enable_x64(True):
        out = np.asarray(_mesa_out_jit(*(jnp.asarray(a) for a in (K, V, Q, np.array(lam)))))
    ref = m.mesa_layer(K, V, Q, lam)
    # the solve's condition number is at most 1 + lam * sum ||k||^2; errors scale with it
    cond = 1 + lam * np.max(np.sum(K * K, axis=(1, 2)))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-13 * cond * max(1.0, np.abs(ref).max()))


def test_mesa_gradients_equal_finite_differences(x64):
    g = np.random.default_rng(4)
    K, Q = (jnp.asarray(a) for a in 0.7 * g.standard_normal((2, 2, 3, 9, 4)))
    lam = jnp.asarray([0.5, 1.0, 3.0])
    check_grads(jax.jit(mesa_precondition), (K, Q, lam), order=1, modes=["rev"], atol=1e-6, rtol=1e-6, eps=1e-6)


def test_mesa_model_gradients_equal_finite_differences(x64):
    D = 2
    cfg = TransformerConfig(attention=("mesa", "linear"), heads=2, key_size=3, data_dim=D, act_clip=None,
                            init_scale=0.4, lam_init=0.8)
    params = jax.tree_util.tree_map(jnp.asarray, M.init_params(cfg, 5))
    inputs, targets = (jnp.asarray(a) for a in _lds(B=3, T=7, D=D, seed=6))
    check_grads(jax.jit(lambda p: M.loss_fn(p, cfg, inputs, targets)), (params,), order=1, modes=["rev"],
                atol=1e-6, rtol=1e-6, eps=1e-6)


def _np_softmax_layer(h, p, mask):
    Q = np.einsum("hkf,btf->bhtk", p["Wq"], h)
    K = np.einsum("hkf,btf->bhtk", p["Wk"], h)
    V = np.einsum("hkf,btf->bhtk", p["Wv"], h)
    S = np.einsum("bhjk,bhik->bhji", Q, K) / np.sqrt(Q.shape[-1])
    S = np.where(mask, S, -np.inf)
    A = np.exp(S - S.max(-1, keepdims=True))
    A /= A.sum(-1, keepdims=True)
    return h + np.einsum("hfv,bhtv->btf", p["P"], np.einsum("bhji,bhiv->bhjv", A, V))


@pytest.mark.parametrize("fmt", ["lds_raw", "regression"])
def test_softmax_layer_equals_numpy(x64, fmt):
    cfg = TransformerConfig(attention=("softmax", "softmax"), heads=3, key_size=4, token_format=fmt, data_dim=3,
                            act_clip=None, init_scale=0.8)
    params = M.init_params(cfg, 7)
    x = np.random.default_rng(8).standard_normal((4, 6, cfg.token_width))
    mask = M.attention_mask(cfg, 6)
    h = x
    for layer in params["layers"]:
        h = _np_softmax_layer(h, layer["attn"], mask)
    np.testing.assert_allclose(np.asarray(M.forward(params, cfg, x)), h, rtol=1e-10, atol=1e-12)
    if fmt == "regression":  # the query is no key: changing its token moves only its own output
        x2 = x.copy()
        x2[:, -1] += 1.0
        out1, out2 = (np.asarray(M.forward(params, cfg, a)) for a in (x, x2))
        np.testing.assert_allclose(out1[:, :-1], out2[:, :-1], atol=1e-12)


def test_full_block_features_run_and_are_causal(x64):
    cfg = TransformerConfig(attention=("softmax", "mesa", "linear"), heads=(2, 1, 2), key_size=4,
                            token_format="lds_raw", data_dim=3, embed_dim=12, input_proj=True, output_proj=True,
                            mlp_hidden=16, layer_norm=True, pos_encoding="kq", act_clip=2.0, init_scale=0.3)
    params = M.init_params(cfg, 0)
    inputs, targets = _lds(D=3, T=10)
    f = M.compiled(cfg, "predict")
    pred = np.asarray(f(params, inputs))
    assert pred.shape == (6, 10, 3) and np.all(np.isfinite(pred))
    later = inputs.copy()
    later[:, 6:] += 1.0  # the future must not change earlier predictions
    np.testing.assert_allclose(np.asarray(f(params, later))[:, :6], pred[:, :6], atol=1e-12)
    grads = jax.jit(jax.grad(M.loss_fn), static_argnums=1)(params, cfg, inputs, targets)
    assert all(np.all(np.isfinite(np.asarray(a))) for a in jax.tree_util.tree_leaves(grads))
    for pe in ("input",):
        c2 = dataclasses.replace(cfg, pos_encoding=pe)
        assert not np.allclose(np.asarray(M.compiled(c2, "predict")(params, inputs)), pred)


def test_float32_by_default():
    cfg = TransformerConfig(attention=("linear",), heads=1, key_size=2, data_dim=2)
    out = M.predict(M.init_params(cfg, 0), cfg, _lds(D=2)[0])
    assert out.dtype == jnp.float32


def test_variance_scaling_init_std():
    cfg = TransformerConfig(attention=("linear",), heads=8, key_size=50, data_dim=25, init="variance_scaling",
                            init_scale=0.5)
    W = M.init_params(cfg, 0)["layers"][0]["attn"]["Wq"]
    assert np.abs(W).max() <= 2 * np.sqrt(0.5 / 100) / 0.87962566103423978
    assert np.std(W) == pytest.approx(np.sqrt(0.5 / 100), rel=0.03)  # 40000 draws: 1% s.e.


def test_bad_params_and_inputs():
    cfg = TransformerConfig(attention=("linear",), heads=1, key_size=2, data_dim=2)
    params = M.init_params(cfg, 0)
    with pytest.raises(ShapeError, match="inputs.shape"):
        M.predict(params, cfg, np.zeros((2, 5, 3)))
    with pytest.raises(ShapeError, match="len"):
        M.predict(params, dataclasses.replace(cfg, attention=("linear", "linear")), np.zeros((2, 5, 2)))
    with pytest.raises(InvalidParameterError, match="lam"):
        M.predict(params, dataclasses.replace(cfg, attention=("mesa",)), np.zeros((2, 5, 2)))
    with pytest.raises(InvalidParameterError, match="config"):
        M.init_params({"attention": ["linear"]}, 0)


def test_mesa_float32_gradients_stay_accurate_on_long_sequences():
    # reverse Sherman-Morrison (subtracting nearly equal numbers) gave errors > 100% here in float32
    g = np.random.default_rng(0)
    K, Q, G = g.standard_normal((3, 2, 4, 200, 20))
    lam = np.array([0.1, 1.0, 10.0, 100.0])

    def f(K, Q, lam):
        return jnp.sum(mesa_precondition(K, Q, lam) * G.astype(K.dtype))

    grad = jax.jit(jax.grad(f, argnums=(0, 1, 2)))
    g32 = grad(*(jnp.asarray(a, jnp.float32) for a in (K, Q, lam)))
    with jax.enable_x64(True):
        g64 = grad(*(jnp.asarray(a, jnp.float64) for a in (K, Q, lam)))
        for a, b in zip(g32, g64):
            a, b = np.asarray(a, np.float64), np.asarray(b)
            # float32 solves with condition numbers up to ~1e5: relative error ~ 1e-7 * 1e5
            assert np.abs(a - b).max() < 1e-2 * np.abs(b).max()
