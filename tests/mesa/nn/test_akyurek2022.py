"""Interleaved tokens, the transformer as a queried learner, and the Akyürek et al. (2022) grid and figures."""

import json

import numpy as np
import pytest

import aievo.mesa as m
from aievo.errors import InvalidParameterError
from aievo.mesa.nn.config import InterleavedRegressionTask, RegressionTask, TransformerConfig, task_from_dict

pytest.importorskip("jax")

from _figure_data import line

from aievo.figures import akyurek2022 as FA
from aievo.mesa.experiments import akyurek2022 as A
from aievo.mesa.implicit import online_predictions, transformer_queries
from aievo.mesa.nn import model as M
from aievo.mesa.nn.result import TrainedTransformer
from aievo.mesa.nn.train import train_transformer


def test_interleave_tokens_equals_a_hand_built_array():
    X = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    y = np.array([[7.0, 8.0, 9.0]])
    want = np.array([[[0, 1, 2], [7, 0, 0], [0, 3, 4], [8, 0, 0], [0, 5, 6], [9, 0, 0]]], dtype=float)
    np.testing.assert_array_equal(m.interleave_tokens(X, y), want)
    tok, tgt = InterleavedRegressionTask(d=2, N=3, noise=0.1).sample(np.random.default_rng(0), 4)
    assert tok.shape == (4, 6, 3) and tgt.shape == (4, 3, 1)
    np.testing.assert_array_equal(tok[:, 1::2, 0], tgt[..., 0])  # the y-tokens carry the targets


def test_interleaved_config_and_task_round_trip_and_pairing():
    cfg = TransformerConfig(attention=("softmax",), heads=1, key_size=3, token_format="interleaved", data_dim=2,
                            act_clip=None)
    assert (cfg.token_width, cfg.output_dim, cfg.causal) == (3, 1, True)
    task = InterleavedRegressionTask(d=2, N=3, noise=0.5)
    assert task_from_dict(json.loads(task.to_json())) == task
    with pytest.raises(InvalidParameterError, match="config.token_format"):
        train_transformer(cfg, RegressionTask(d=2, N=3), 1, 2)
    with pytest.raises(InvalidParameterError, match="noise="):
        InterleavedRegressionTask(noise=-1.0)


def test_readout_is_the_label_slot_of_the_x_tokens():
    cfg = TransformerConfig(attention=("linear",), heads=1, key_size=3, token_format="interleaved", data_dim=2,
                            act_clip=None)
    h = np.arange(2 * 6 * 3, dtype=float).reshape(2, 6, 3)
    np.testing.assert_array_equal(np.asarray(M.readout({"layers": []}, cfg, h)), h[:, 0::2, :1])


@pytest.fixture(scope="module")
def tiny():
    cfg = A.model_config(2, 8)
    task = InterleavedRegressionTask(d=A.D, N=5, noise=0.0)
    params = M.init_params(cfg, 0)
    return TrainedTransformer(cfg, params, task=task)


def test_transformer_queries_match_predict_and_are_causal(tiny):
    X, y, _ = tiny.task.sample_raw(np.random.default_rng(1), 6)
    q = transformer_queries(tiny)
    direct = tiny.predict(m.interleave_tokens(X, y).astype(np.float32))[..., 0]
    np.testing.assert_allclose(online_predictions(q, X, y), direct, rtol=1e-5, atol=1e-6)  # float32
    X2, y2 = X.copy(), y.copy()
    X2[:, 3:] += 5.0
    y2[:, 2:] -= 3.0  # pairs >= 3 and labels >= 2 are invisible to positions <= 2
    np.testing.assert_allclose(online_predictions(q, X2, y2)[:, :3], direct[:, :3], rtol=1e-5, atol=1e-6)


def test_compare_and_probe_shapes_on_an_untrained_model(tiny):
    c = A.compare_learners(tiny, n_prompts=8, rng=0)
    assert set(c.spd) == set(A.LEARNERS) and all(v.shape == (5,) for v in c.ilwd.values())
    assert all(np.all(v >= 0) for v in c.spd.values())
    p = A.probe_layers(tiny, 40, 30, rng=0)
    assert set(p) == {"w_hat", "xty", "w"} and p["xty"].shape == (3,)


def test_grid_cells_follow_the_sweep_order_and_every_cell_has_a_recipe():
    from aievo.mesa.nn.shipped import recipes

    cells = A.grid_cells()
    assert len(cells) == len(A.DEPTHS) * len(A.WIDTHS) * len(A.NOISES)
    assert cells[1] == (A.DEPTHS[0], A.WIDTHS[0], A.NOISES[1])  # C order: noise fastest
    known = recipes()
    assert all(A.checkpoint_name(*c) in known for c in cells)


@pytest.mark.slow
def test_transition_figure_plots_the_comparison_of_each_model():
    fig = FA.transition_figure(quick=True)
    models = A.load_grid()
    L, W = A.DEPTHS[-1], A.WIDTHS[-1]
    comp = A.compare_learners(models[(L, W, 0.0)], A.learner_reference(A.task_for(0.0), 16, rng=7), backend="jax")
    x, spd_ols = line(fig, "spd/0/OLS (min-norm)")
    assert x.size == len(A.DEPTHS) * len(A.WIDTHS)
    # the last architecture is (deepest, widest); same prompts (rng=7); the figure runs the numpy
    # reference in float64, the check JAX in float32 on full-length sequences: equal up to float32 rounding
    np.testing.assert_allclose(spd_ols[-1], comp.summary("spd")["OLS (min-norm)"], rtol=1e-3)
    _, ilwd_knn = line(fig, "ilwd/0/kNN (k=3)")
    np.testing.assert_allclose(ilwd_knn[-1], comp.summary("ilwd")["kNN (k=3)"], rtol=1e-3)


@pytest.mark.slow
def test_probes_figure_plots_the_probe_r2():
    fig = FA.probes_figure(quick=True)
    model = A.load_grid()[(A.DEPTHS[-1], A.WIDTHS[-1], 0.0)]
    want = A.probe_layers(model, 300, 200, rng=3, backend="jax")
    _, r2 = line(fig, f"probe/0/xty/L{A.DEPTHS[-1]}W{A.WIDTHS[-1]}")
    # the figure's float64 numpy activations against JAX's float32 ones. Layer 0 (y_n times one
    # embedding column plus the position's encoding) spans few directions: its least-squares fit is
    # rank-deficient and moves with the rounding, so only its smallness is compared
    np.testing.assert_allclose(r2[1:], want["xty"][1:], rtol=1e-3, atol=1e-4)
    assert abs(want["xty"][0]) < 0.05
    assert r2[0] < 0.05  # the embedded y-token holds y_n and its position only


@pytest.mark.slow
def test_retraining_a_shipped_checkpoint_reproduces_its_loss():
    """Retrain the smallest cell (L1 W8, sigma 0) with its recipe: eval loss within 2% of the shipped one.

    Same seed, same steps; float32 training on another CPU or JAX version may round differently
    and the difference grows over 6000 Adam steps, hence a relative tolerance instead of equality.
    """
    from aievo.mesa.nn.shipped import shipped_model

    name = A.checkpoint_name(A.DEPTHS[0], A.WIDTHS[0], 0.0)
    shipped = shipped_model(name)
    fresh = shipped_model(name, retrain=True)
    a, b = shipped.history["eval_loss"][-1], fresh.history["eval_loss"][-1]
    assert abs(a - b) < 0.02 * a


def test_numpy_queries_equal_the_jax_queries(tiny):
    """The numpy path runs each position's prefix in float64; JAX full sequences in float32."""
    g = np.random.default_rng(4)
    X, y, _ = tiny.task.sample_raw(g, 6)
    probes = g.standard_normal((6, tiny.task.N, 3, A.D))
    a = transformer_queries(tiny, backend="numpy")(X, y, probes)
    b = transformer_queries(tiny, backend="jax")(X, y, probes)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # float32 rounding of the JAX run
    toks = m.interleave_tokens(X, y)
    # (the probes' R² is not compared: on this untrained model the activations are nearly collinear,
    # so least squares amplifies the float32 rounding)
    for a64, a32 in zip(tiny.activations(toks, backend="numpy"), tiny.activations(toks.astype(np.float32),
                                                                                  backend="jax")):
        np.testing.assert_allclose(a64, a32, rtol=1e-4, atol=1e-4)
