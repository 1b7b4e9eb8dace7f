"""Mechanistic analysis of a small in-context regression transformer on Friedman #2-like prompts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _figure_data import artists, line
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.figures import regression as FR
from aievo.mesa.experiments import icl_regression_mech as M
from aievo.mesa.regression import get_original2


def _prompts(n=40, seed=3):
    return M.standardize_prompts(*M.sample_friedman_prompts(M.FriedmanICLTask(), seed, n))


def test_fixed_member_of_the_family_is_the_blogs_original2_function():
    task = M.FriedmanICLTask(N=30, spread=0.0, p_range=(4.0, 4.0), q_range=(0.75, 0.75))
    X, y = M.sample_friedman_prompts(task, 0, 5)
    ref = np.array([[(a**4 + (b * c - 2 / (math.sqrt(b) * math.sqrt(d))) ** 2) ** 0.75 for a, b, c, d in row]
                    for row in X])
    np.testing.assert_allclose(y, ref, rtol=1e-12)  # vectorised pow vs scalar pow: last-bit differences only
    lo, hi = np.array([0, 4 * np.pi, 0, 1]), np.array([3, 56 * np.pi, 2, 11])
    assert np.all(X >= lo) and np.all(X < hi)


def test_standardised_context_has_zero_mean_unit_sd_and_query_label_is_hidden():
    Z, t, scale = _prompts()
    np.testing.assert_allclose(Z[:, :-1].mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :-1].std(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(t[:, :-1].std(axis=1), 1, atol=1e-12)
    tok = M.prompt_tokens(Z, t)
    assert np.all(tok[:, -1, -1] == 0) and np.array_equal(tok[:, :-1, -1], t[:, :-1])
    assert scale.shape == (Z.shape[0], 2)


def test_classical_predictions_match_scikit_learn():
    sk = pytest.importorskip("sklearn")
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.neighbors import KNeighborsRegressor

    assert sk
    Z, t, _ = _prompts(n=6)
    got = M.classical_predictions(Z, t, M.CLASSICAL + ("average",))
    models = {"least_squares": LinearRegression(), "ridge": Ridge(alpha=1.0), "knn5": KNeighborsRegressor(5),
              "knn1": KNeighborsRegressor(1), "rbf_kernel_ridge": KernelRidge(alpha=0.1, kernel="rbf", gamma=0.25)}
    for name, model in models.items():
        ref = [model.fit(Z[b, :-1], t[b, :-1]).predict(Z[b, -1:])[0] for b in range(Z.shape[0])]
        np.testing.assert_allclose(got[name], ref, atol=1e-8, err_msg=name)  # two solvers, well-conditioned
    np.testing.assert_allclose(got["average"], t[:, :-1].mean(axis=1), atol=1e-12)


def test_closeness_equals_a_plain_loop():
    g = np.random.default_rng(0)
    lens, ref = g.normal(size=(4, 30)), g.normal(size=30)
    want = [sum((lens[l, b] - ref[b]) ** 2 for b in range(30)) / 30 / np.var(ref) for l in range(4)]
    np.testing.assert_allclose(M.closeness(lens, ref), want, rtol=1e-12)
    assert M.closeness(ref[None] * 1.0, ref)[0] == 0.0
    with pytest.raises(InvalidParameterError, match="reference"):
        M.closeness(lens, np.ones(30))
    with pytest.raises(ShapeError, match="lens.shape"):
        M.closeness(lens, ref[:5])


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 4), st.integers(2, 9), st.integers(1, 3), st.integers(0, 2**31))
def test_attention_distance_correlation_equals_brute_force(B, N, d, seed):
    g = np.random.default_rng(seed)
    Z = g.normal(size=(B, N + 1, d))
    A = g.dirichlet(np.ones(N), size=(2, B))
    got = M.attention_distance_correlation(Z, A)
    for h in range(2):
        for b in range(B):
            dist = [-math.dist(Z[b, i], Z[b, -1]) for i in range(N)]
            want = np.corrcoef(A[h, b], dist)[0, 1]
            np.testing.assert_allclose(got[h, b], want, rtol=1e-9, atol=1e-12)


def test_attention_distance_correlation_is_nan_for_uniform_attention():
    Z = np.random.default_rng(1).normal(size=(2, 6, 3))
    assert np.isnan(M.attention_distance_correlation(Z, np.full((2, 5), 0.2))).all()


def test_lens_at_last_layer_is_the_prediction_and_attention_rows_sum_to_one():
    from aievo.mesa.simplify import predict

    model = M._model(False)
    Z, t, _ = _prompts(n=20)
    tok = M.prompt_tokens(Z, t)
    streams = M.residual_streams(model, tok)
    assert streams.shape == (model.config.n_layers + 1, 20, model.config.width)
    np.testing.assert_allclose(M.lens_predictions(model, streams)[-1], predict(model.params, model.config, tok)[:, 0, 0],
                               rtol=1e-12, atol=1e-12)
    A = M.query_attention(model, tok)
    assert A.shape == (model.config.n_layers, 2, 20, Z.shape[1] - 1)
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, atol=1e-12)


def test_regressor_row_equals_a_direct_model_call_on_the_standardised_prompt():
    from aievo.mesa.simplify import predict

    model = M._model(False)
    Xtr, ytr, Xte, _ = get_original2(random_state=4)
    Xtr, ytr, Xte = Xtr[:25], ytr[:25], Xte[:3]
    got = M.transformer_regressor(model).fit(Xtr, ytr).predict(Xte)
    for k in range(3):
        # standardised by hand: context statistics only, population standard deviation
        xm, xs, ym, ys = Xtr.mean(0), Xtr.std(0), ytr.mean(), ytr.std()
        tok = np.zeros((1, 26, 5))
        tok[0, :25, :4], tok[0, :25, 4] = (Xtr - xm) / xs, (ytr - ym) / ys
        tok[0, 25, :4] = (Xte[k] - xm) / xs
        direct = ym + ys * predict(model.params, model.config, tok)[0, 0, 0]
        np.testing.assert_allclose(got[k], direct, rtol=1e-12)  # same float64 arithmetic, different batching


@pytest.mark.slow
def test_numpy_streams_and_regressor_row_equal_the_jax_model():
    pytest.importorskip("jax")
    model = M._model(False)
    Z, t, _ = _prompts(n=8)
    tok = M.prompt_tokens(Z, t)
    acts = model.activations(tok)
    streams = M.residual_streams(model, tok)
    for layer, a in enumerate(acts):  # JAX runs in float32: ~1e-6 relative, activations are O(1-10)
        np.testing.assert_allclose(streams[layer], a[:, -1], atol=2e-4, err_msg=f"layer {layer}")
    Xtr, ytr, Xte, _ = get_original2(random_state=4)
    Xtr, ytr, Xte = Xtr[:25], ytr[:25], Xte[:3]
    got = M.transformer_regressor(model).fit(Xtr, ytr).predict(Xte)
    for k in range(3):
        Zq, tq, sc = M.standardize_prompts(np.vstack([Xtr, Xte[k:k + 1]])[None], np.append(ytr, 0.0)[None])
        direct = sc[0, 0] + sc[0, 1] * float(model.predict(M.prompt_tokens(Zq, tq))[0, 0, 0])
        np.testing.assert_allclose(got[k], direct, rtol=1e-4)  # float32 JAX vs float64 numpy


def test_benchmark_row_scores_the_wrapped_model():
    res = M.benchmark_rows(seeds=[0, 1, 2], regressors=("average",))
    assert res.methods == ["icl_transformer", "average"]
    reg = M.transformer_regressor()
    for s, seed in enumerate([0, 1, 2]):
        Xtr, ytr, Xte, yte = get_original2(random_state=seed)
        pred = reg.fit(Xtr[:25], ytr[:25]).predict(Xte[:1])
        np.testing.assert_allclose(res.predictions[0, s], pred, rtol=1e-12)
        np.testing.assert_allclose(res.predictions[1, s], ytr[:25].mean(), rtol=1e-12)
        np.testing.assert_allclose(res.targets[s], yte[:1])


def test_quick_figure_draws_the_mechanism_result():
    fig = FR.icl_regression_mechanism(quick=True)
    res = FR._result(True, False)  # cached: the result the figure drew
    for j, r in enumerate(res.regressors):
        np.testing.assert_allclose(line(fig, f"closeness:{r}")[1], res.closeness[:, j], rtol=1e-12)
        np.testing.assert_allclose(line(fig, f"probe:{r}")[1], res.probe_r2[:, j], rtol=1e-12)
    np.testing.assert_allclose(line(fig, "attention:1:1")[1], res.attn_by_rank[0, 0], rtol=1e-12)
    widths = sorted(a.get_width() for a in artists(fig, "mse"))
    np.testing.assert_allclose(widths, sorted(res.mse.values()), rtol=1e-12)
    # independent check of one closeness entry: the last layer's read-out is the model's prediction
    assert res.closeness.shape == (len(res.layers), len(res.regressors))
    np.testing.assert_allclose(res.lens_mse[-1], res.mse["transformer"], rtol=1e-12)


def test_task_round_trips_through_its_dict_and_the_checkpoint_records_it():
    task = M.FriedmanICLTask(N=7, spread=0.5, p_range=(3.0, 3.5), q_range=(0.6, 0.9))
    assert M.FriedmanICLTask.from_dict(task.to_dict()) == task
    assert M.FriedmanICLTask.from_dict(M._model(False).meta["task"]) == M.FriedmanICLTask()
    with pytest.raises(InvalidParameterError, match="FriedmanICLTask field"):
        M.FriedmanICLTask.from_dict({"M": 3})


def test_bad_inputs_name_the_argument():
    with pytest.raises(InvalidParameterError, match="spread"):
        M.FriedmanICLTask(spread=-1.0)
    with pytest.raises(InvalidParameterError, match="p_range"):
        M.FriedmanICLTask(p_range=(4.0, 2.0))
    with pytest.raises(InvalidParameterError, match="n"):
        M.mechanism(n=7)
    with pytest.raises(InvalidParameterError, match="names"):
        M.classical_predictions(*_prompts(n=2)[:2], names=("svm",))
    with pytest.raises(ShapeError, match="X.shape"):
        M.standardize_prompts(np.ones((2, 3)), np.ones(2))
    with pytest.raises(InvalidParameterError, match="model"):
        M.transformer_regressor(model="nope")


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_checkpoint():
    pytest.importorskip("jax")
    shipped = M._model(False)
    fresh = M._model(True)
    # same seed and recipe; float32 reductions may differ across machines and JAX versions,
    # so the final held-out MSE (standardised labels) is compared within 15 % rather than bit for bit
    np.testing.assert_allclose(fresh.history["eval_mse"][-1], shipped.history["eval_mse"][-1], rtol=0.15)
    a = M.mechanism(fresh, n=400)
    b = M.mechanism(shipped, n=400)
    assert a.closest()[-1] == b.closest()[-1]
