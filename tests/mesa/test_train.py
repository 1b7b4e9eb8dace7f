"""Tests of aievo.mesa.train: the numpy forward passes against the attention module, the
trainers (through the JAX layer) against the JAX forward and the 1-step-GD oracle, GD alignment,
and (slow) the reference training results."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, NumericalRangeError, ShapeError
from aievo.mesa.attention import gd_weights, lsa_forward
from aievo.mesa.baselines import gd_sequence_predict, gd_steps, lsq_sequence_predict, scan_eta
from aievo.mesa.mesa_layer import mesa_layer_naive
from aievo.mesa.tasks import concat_tokens, construct_full_tokens, sample_lds, sample_regression_tasks
from aievo.mesa.train import (
    GDReference,
    LSAResult,
    alignment,
    linear_tf_forward,
    linear_tf_init,
    lsa_init,
    lsa_predict,
    train_linear_tf,
    train_lsa,
)


@pytest.fixture
def jax():
    """Training needs the jax extra (CI's lowest-versions pass has none)."""
    return pytest.importorskip("jax")


# --------------------------------------------------------------------------- LSA
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_lsa_predict_equals_attention_forward(d, N, seed):
    g = np.random.default_rng(seed)
    X, y, xq, _, _ = sample_regression_tasks(g, 4, d=d, N=N)
    params = lsa_init(d, g, init_std=1.0)
    E = concat_tokens(X, y, xq)
    oracle = -lsa_forward(E, [params], n_context=N)[:, -1, -1]
    np.testing.assert_allclose(lsa_predict(params, X, y, xq), oracle, rtol=1e-10, atol=1e-12)


@given(st.integers(1, 5), st.integers(2, 8), st.floats(0.1, 10.0), st.integers(0, 2**31 - 1))
def test_gd_construction_as_lsa_result(d, N, eta, seed):
    """The Proposition-1 weights: effective step eta/N, predictions = gd_steps, perfect alignment."""
    g = np.random.default_rng(seed)
    X, y, xq, yq, _ = sample_regression_tasks(g, 16, d=d, N=N)
    w = gd_weights(d, N, eta)
    params = {k: np.asarray(getattr(w, k)).reshape(d + 1, d + 1) for k in ("Wq", "Wk", "Wv", "P")}
    model = LSAResult(params, np.zeros(0), np.zeros(0), np.zeros(0))
    assert model.effective_step() == pytest.approx(eta / N, rel=1e-12)
    np.testing.assert_allclose(model.predict(X, y, xq), gd_steps(X, y, xq, eta, 1), rtol=1e-9, atol=1e-12)
    al = alignment(model, GDReference(eta), (X, y, xq, yq))
    assert al.cos_sim == pytest.approx(1.0, abs=1e-10)
    assert al.model_diff < 1e-10 and al.preds_diff < 1e-10


def test_alignment_finite_differences_match_analytic():
    g = np.random.default_rng(3)
    tasks = sample_regression_tasks(g, 50)
    model = LSAResult(lsa_init(10, g, 0.5), np.zeros(0), np.zeros(0), np.zeros(0))
    ref = GDReference(4.0, K=2)
    exact = alignment(model, ref, tasks)
    fd = alignment(model.predict, lambda X, y, xq: gd_steps(X, y, xq, 4.0, 2), tasks)
    assert fd.cos_sim == pytest.approx(exact.cos_sim, abs=1e-8)
    assert fd.model_diff == pytest.approx(exact.model_diff, rel=1e-6)
    assert fd.preds_diff == pytest.approx(exact.preds_diff, rel=1e-12)
    # cosine similarity by hand
    ga, gb = model.grad_xq(*tasks[:3]), ref.weights(tasks[0], tasks[1])
    cos = np.mean(np.sum(ga * gb, 1) / np.linalg.norm(ga, axis=1) / np.linalg.norm(gb, axis=1))
    assert exact.cos_sim == pytest.approx(cos, rel=1e-12)


def test_train_lsa_lowers_the_loss_to_one_gd_step(jax):
    """A short run: from the zero-predictor level to within 5 % of the best 1-step GD loss, and the
    learned step within 5 % of the best eta / N (oracle: scan_eta on the same evaluation set)."""
    r = train_lsa(steps=300, batch=256, lr=3e-3, eval_tasks=2000, eval_every=100, rng=1)
    assert list(r.eval_steps) == [0, 100, 200, 300] and r.train_loss.shape == (300,)
    X, y, xq, yq, _ = r.evaluation_tasks()
    zero = float(np.sum(yq**2) / (2 * yq.size))
    best_eta, gd_loss, _ = scan_eta(X, y, xq, yq)
    assert r.eval_loss[0] == pytest.approx(zero, rel=0.01)  # tiny initial weights predict about 0
    assert r.eval_loss[-1] < 1.05 * gd_loss
    assert abs(r.effective_step() - best_eta / 10) < 0.05 * best_eta / 10
    # eval_loss was scored (float32) on the evaluation set evaluation_tasks() draws again
    assert r.loss(X, y, xq, yq) == pytest.approx(r.eval_loss[-1], rel=1e-5)
    assert r.config["b2"] == 0.98 and r.config["clip_norm"] == 1e-3  # the official optimiser of 2023a


def test_train_lsa_weights_run_the_same_in_numpy_and_jax(jax):
    """The numpy forward of the returned weights equals the JAX model's, in float64."""
    r = train_lsa(d=3, N=5, steps=4, batch=8, eval_every=2, eval_tasks=16, init_std=0.3, rng=2)
    X, y, xq, _, _ = sample_regression_tasks(5, 20, d=3, N=5)
    with jax.enable_x64(True):
        got = r.as_transformer().predict(concat_tokens(X, y, xq), backend="jax")[:, 0, 0]
    np.testing.assert_allclose(got, r.predict(X, y, xq), rtol=1e-12, atol=1e-15)


def test_train_lsa_divergence_names_the_step_size(jax):
    with pytest.raises(NumericalRangeError, match="lr=1e"):
        train_lsa(d=2, N=3, lr=1e30, steps=3, eval_tasks=10, batch=4, clip_norm=None)


def test_train_lsa_defaults_are_the_official_optimiser():
    """Without JAX too: the defaults are official_setup("vonoswald2023a_regression")'s optimiser and init."""
    import inspect

    from aievo.mesa.nn import official_setup

    setup = official_setup("vonoswald2023a_regression")
    kw = {k: p.default for k, p in inspect.signature(train_lsa).parameters.items()}
    o = setup.optim
    assert (kw["lr"], kw["b1"], kw["b2"], kw["clip_norm"]) == (o.lr, o.b1, o.b2, o.clip)
    assert o.clip_kind == "global_norm" and o.weight_decay == 0.0 and o.decay_steps is None and o.warmup_steps == 0
    assert kw["init_std"] is None and setup.model.init == "variance_scaling"  # None = the official init
    assert (kw["d"], kw["N"]) == (setup.task.d, setup.task.N)


def test_lsa_argument_errors():
    with pytest.raises(InvalidParameterError, match="steps"):
        train_lsa(steps=-1)
    with pytest.raises(InvalidParameterError, match="lr"):
        train_lsa(steps=1, lr=0.0)
    X, y, xq, yq, _ = sample_regression_tasks(0, 3, d=2, N=3)
    with pytest.raises(ShapeError, match="Wq"):
        lsa_predict(lsa_init(3), X, y, xq)
    with pytest.raises(ShapeError, match="xq"):
        lsa_predict(lsa_init(2), X, y, xq[:, :1])


# --------------------------------------------------------------------------- linear transformer
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_linear_tf_forward_equals_causal_attention(D, L, H, seed):
    g = np.random.default_rng(seed)
    inputs, _, _ = sample_lds(g, 3, D=D, T=6)
    tokens = construct_full_tokens(inputs)
    layers = linear_tf_init(D, L, H, 3, init_std=0.4, rng=g)
    ours = linear_tf_forward(layers, tokens)
    theirs = lsa_forward(tokens, layers, causal=True, return_all=True)
    for a, b in zip(ours, theirs):
        # two summation orders of the same products: entries that cancel to near zero carry rounding
        # relative to the layer's scale, not their own, so the tolerance is scaled by the largest entry
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(b).max())))


def _slot_selector(D, slot):
    W = np.zeros((D, 4 * D))
    W[:, slot * D:(slot + 1) * D] = np.eye(D)
    return W


@given(st.integers(1, 4), st.floats(0.05, 50.0), st.floats(0.1, 3.0), st.integers(0, 2**31 - 1))
def test_mesa_head_equals_mesa_layer_and_inclusive_ridge(D, lam, eta, seed):
    """One mesa head with k = s_{t-1}, v = s_t, q = s_t writing eta * output into slot 0."""
    inputs, _, _ = sample_lds(seed, 3, D=D, T=12)
    tokens = construct_full_tokens(inputs)
    layer = {"Wq": _slot_selector(D, 2)[None], "Wk": _slot_selector(D, 3)[None], "Wv": _slot_selector(D, 1)[None],
             "P": eta * _slot_selector(D, 0).T[None], "lam": np.array([lam])}
    pred = linear_tf_forward([layer], tokens)[-1][..., :D]
    K, V = tokens[..., 3 * D:], tokens[..., D:2 * D]
    np.testing.assert_allclose(pred, eta * mesa_layer_naive(K, V, V, lam), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(pred, eta * lsq_sequence_predict(inputs, 1.0 / lam, inclusive=True),
                               rtol=1e-8, atol=1e-10)
    # the same head without the solve is one GD step (Proposition 1)
    del layer["lam"]
    np.testing.assert_allclose(linear_tf_forward([layer], tokens)[-1][..., :D], gd_sequence_predict(inputs, eta),
                               rtol=1e-10, atol=1e-12)


def test_train_linear_tf_learns_and_its_weights_run_the_same_in_numpy_and_jax(jax):
    """A linear and a mesa layer with an active activation clip: the loss falls, lambda is trained,
    and the numpy forward of the returned weights equals the JAX model's in float64."""
    r = train_linear_tf(D=2, T=6, n_layers=2, n_heads=2, key_size=3, mesa=[False, True], steps=20, batch=16,
                        eval_every=10, eval_batch=64, lr=1e-2, warmup=2, init_std=0.3, act_clip=0.5, rng=0)
    assert r.train_loss.shape == (20,) and list(r.eval_steps) == [0, 10, 20]
    assert r.eval_loss[-1] < r.eval_loss[0]
    assert "lam" in r.layers[1] and r.layers[1]["lam"][0] != 1.0
    inputs, targets, _ = sample_lds(1, 6, D=2, T=6)
    ours = r.activations(inputs)
    assert np.mean(np.abs(ours[-1]) == 0.5) > 0.05  # the clip is active, so it is tested
    with jax.enable_x64(True):
        theirs = r.as_transformer().activations(inputs, backend="jax")
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    ppl = r.per_position_loss(inputs, targets)
    np.testing.assert_allclose(ppl, np.sum((ours[-1][..., :2] - targets) ** 2, axis=(0, 2)) / 12, rtol=1e-12)
    assert r.loss(inputs, targets) == pytest.approx(ppl.mean(), rel=1e-12)


def test_train_linear_tf_defaults_are_the_official_setup():
    """Without JAX too: the defaults are official_setup("vonoswald2023b_lds")'s model and optimiser."""
    import inspect

    from aievo.mesa.nn import official_setup

    setup = official_setup("vonoswald2023b_lds")
    kw = {k: p.default for k, p in inspect.signature(train_linear_tf).parameters.items()}
    m, o = setup.model, setup.optim
    assert (kw["n_layers"], kw["n_heads"], kw["key_size"], kw["D"]) == (m.n_layers, m.heads, m.key_size, m.data_dim)
    assert (kw["init_std"], kw["act_clip"]) == (m.init_scale, m.act_clip)
    assert (kw["lr"], kw["warmup"], kw["decay_steps"], kw["end_lr"]) == (o.lr, o.warmup_steps, o.decay_steps, o.end_lr)
    assert (kw["weight_decay"], kw["clip"], kw["b1"], kw["b2"]) == (o.weight_decay, o.clip, o.b1, o.b2)
    assert o.clip_kind == "elementwise" and kw["clip_norm"] is None and kw["schedule"] == "cosine"


def test_linear_tf_argument_errors():
    with pytest.raises(InvalidParameterError, match="mesa"):
        linear_tf_init(2, 2, mesa=[True])
    with pytest.raises(InvalidParameterError, match="schedule"):
        train_linear_tf(steps=1, schedule="step")
    with pytest.raises(InvalidParameterError, match="clip_norm"):
        train_linear_tf(steps=1, clip_norm=1.0)  # with the element-wise clip=1.0 of the default
    layers = linear_tf_init(2, 1, 1, 2)
    with pytest.raises(ShapeError, match="Wq"):
        linear_tf_forward(layers, np.zeros((1, 3, 7)))


# --------------------------------------------------------------------------- slow reproductions
@pytest.mark.slow
def test_trained_lsa_matches_one_step_gd():
    """docs/explanation/mesa-facts.md: 0.210 on these 20k tasks, effective step 0.60 (eta/N ~ 0.61), cos-sim > 0.99."""
    pytest.importorskip("jax")
    r = train_lsa(steps=5000, batch=512, rng=0)
    tasks = sample_regression_tasks(123, 20000)
    best_eta, best_loss, _ = scan_eta(*tasks[:4])
    assert best_loss == pytest.approx(0.21, abs=0.015)
    assert r.loss(*tasks[:4]) == pytest.approx(best_loss, abs=0.01)
    assert r.effective_step() == pytest.approx(best_eta / 10, abs=0.06)
    assert alignment(r, GDReference(best_eta), tasks).cos_sim > 0.99


@pytest.mark.slow
def test_two_layer_linear_tf_between_gd_and_lsq():
    """The official model at figure mesa3's budget (docs/mesa-training.md: mean 0.428; official run 0.431)."""
    pytest.importorskip("jax")
    r = train_linear_tf(steps=1500, batch=64, lr=1e-3, warmup=150, decay_steps=None, rng=0)
    inputs, targets, _ = sample_lds(7, 1000)
    tf = r.per_position_loss(inputs, targets)
    lsq = np.sum((lsq_sequence_predict(inputs) - targets) ** 2, axis=(0, 2)) / 2000
    gd = min((np.sum((gd_sequence_predict(inputs, e) - targets) ** 2, axis=(0, 2)) / 2000 for e in
              np.arange(0.005, 0.08, 0.005)), key=np.mean)
    assert np.all(tf[1:] < gd[1:])  # beats one GD step (at t = 0 both are at the zero-predictor level)
    assert tf[0] == pytest.approx(gd[0], rel=0.01)
    assert np.all(tf[10:] > lsq[10:])  # but stays above least squares once it has enough pairs
    assert np.mean(tf) == pytest.approx(0.43, abs=0.05)  # official 2-layer run: 0.431


@given(st.integers(1, 2), st.floats(0.2, 2.0), st.integers(0, 2**31 - 1))
@settings(max_examples=10)
def test_activation_clip_forward(D, clip, seed):
    g = np.random.default_rng(seed)
    inputs, _, _ = sample_lds(g, 2, D=D, T=4)
    tokens = construct_full_tokens(inputs)
    layers = linear_tf_init(D, 2, 2, 2, mesa=[False, True], init_std=0.8, rng=g)
    # clip each layer's output of the attention module's causal layer
    h = tokens
    for p, ours in zip(layers, linear_tf_forward(layers, tokens, act_clip=clip)[1:]):
        plain = {k: p[k] for k in ("Wq", "Wk", "Wv", "P")}
        if "lam" not in p:
            h = np.clip(lsa_forward(h, [plain], causal=True), -clip, clip)
            np.testing.assert_allclose(ours, h, rtol=1e-10, atol=1e-12)
        h = ours
