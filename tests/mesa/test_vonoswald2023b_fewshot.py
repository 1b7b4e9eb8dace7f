"""2023b Fig 8 without JAX: few-shot tasks and sequences, the least-squares baseline, the shipped prompts, the figure."""

from __future__ import annotations

import numpy as np
import pytest
from _figure_data import line
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.figures import REGISTRY, accepts_retrain
from aievo.figures import vonoswald2023b as vf
from aievo.mesa.experiments import vonoswald2023b_fewshot as fx
from aievo.mesa.nn import reference as ref
from aievo.mesa.nn.config import FewShotTask
from aievo.mesa.nn.shipped import CHECKPOINT_DIR, shipped_model


def _lstsq_oracle(X, Y, lam, starts):
    """Ridge fit of every prediction by numpy lstsq on the stacked system [X_j; sqrt(lam) I] W^T = [Y_j; 0]."""
    B, N, D = X.shape
    out = np.empty_like(Y)
    bounds = list(starts) + [N]
    for b in range(B):
        for s, e in zip(bounds[:-1], bounds[1:]):
            for i in range(s, e):
                A = np.vstack([X[b, s:i], np.sqrt(lam) * np.eye(D)])
                T = np.vstack([Y[b, s:i], np.zeros((D, D))])
                Wt = np.linalg.lstsq(A, T, rcond=None)[0]
                out[b, i] = X[b, i] @ Wt
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), D=st.integers(1, 4), n=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       lam=st.sampled_from((1e-3, 0.1, 2.0)), reset=st.booleans())
def test_lsq_baseline_matches_a_numpy_lstsq_oracle(seed, D, n, lam, reset):
    task = FewShotTask(D=D, n_examples=tuple(n), noise=0.1)
    X, Y = task.sample_raw(seed, 3)
    starts = task.task_starts if reset else [0]
    mine = fx.lsq_fewshot_predict(X, Y, lam, starts=starts if reset else None)
    # two well-conditioned solves of the same ridge problem (lam >= 1e-3, |x| <= 1): ~1e-12 relative
    np.testing.assert_allclose(mine, _lstsq_oracle(X, Y, lam, starts), rtol=1e-8, atol=1e-10)


def test_lsq_baseline_recovers_w_once_d_examples_are_seen():
    task = FewShotTask(D=4, n_examples=(8, 8), noise=0.0)
    X, Y = task.sample_raw(1, 50)
    err = np.sum((fx.lsq_fewshot_predict(X, Y, 1e-9, starts=task.task_starts) - Y) ** 2, axis=(0, 2))
    # D = 4 noiseless examples determine W (up to the ridge bias, lam / sigma_min^2 of 4 random rows: < 1e-6)
    assert np.all(err[[4, 5, 6, 7, 12, 13, 14, 15]] < 1e-6)
    assert np.all(err[[0, 8]] > 1.0)  # no example of the task yet: the prediction is 0
    mixed = np.sum((fx.lsq_fewshot_predict(X, Y, 1e-9) - Y) ** 2, axis=(0, 2))
    assert mixed[12] > 1.0  # one fit over both tasks cannot match the second W


def test_fewshot_task_draws_orthogonal_maps_per_task_and_lays_out_tokens():
    task = FewShotTask(D=3, n_examples=(4, 5), noise=0.0, eos=True, n_prefix=2)
    X, Y = task.sample_raw(0, 6)
    assert X.shape == Y.shape == (6, 9, 3) and np.all(np.abs(X) <= 1.0)
    np.testing.assert_allclose(np.linalg.norm(Y, axis=-1), np.linalg.norm(X, axis=-1), rtol=1e-12)  # W orthogonal
    W1 = np.linalg.lstsq(X[0, :4], Y[0, :4], rcond=None)[0].T
    np.testing.assert_allclose(W1 @ W1.T, np.eye(3), atol=1e-10)
    assert np.linalg.norm(X[0, 4:] @ W1.T - Y[0, 4:]) > 0.1  # task 2 has its own W
    prompt = task.init_prompt(3)
    seq = ref.fewshot_tokens(task, X, Y, prompt)
    assert seq.shape == (6, task.seq_len, 3) and task.seq_len == 2 + 3 * 9
    np.testing.assert_array_equal(seq[:, :2], np.broadcast_to(prompt["prefix"], (6, 2, 3)))
    for i in range(9):
        p = 2 + 3 * i
        assert p == task.query_positions[i]
        np.testing.assert_array_equal(seq[:, p], X[:, i])
        np.testing.assert_array_equal(seq[:, p + 1], Y[:, i])
        np.testing.assert_array_equal(seq[:, p + 2], np.broadcast_to(prompt["eos"], (6, 3)))
    plain = FewShotTask(D=3, n_examples=(4, 5))
    assert plain.prompt_shapes == {} and np.array_equal(plain.query_positions, 2 * np.arange(9))
    np.testing.assert_array_equal(ref.fewshot_tokens(plain, X, Y)[:, 1::2], Y)
    assert FewShotTask.from_json(task.to_json()) == task


@pytest.mark.parametrize("kw", [dict(D=0), dict(n_examples=3), dict(n_examples=()), dict(n_examples=(2, 0)),
                                dict(x_halfwidth=0.0), dict(noise=-1.0), dict(eos=1), dict(n_prefix=-1)])
def test_bad_fewshot_tasks_are_refused(kw):
    with pytest.raises(InvalidParameterError):
        FewShotTask(**kw)


def test_bad_baseline_inputs_are_refused():
    with pytest.raises(ShapeError):
        fx.lsq_fewshot_predict(np.zeros((2, 3, 2)), np.zeros((2, 3, 3)))
    with pytest.raises(InvalidParameterError, match="starts"):
        fx.lsq_fewshot_predict(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), starts=[5])
    with pytest.raises(InvalidParameterError, match="variant"):
        fx.fewshot_task("bos", (3,))


def test_shipped_model_carries_tuned_prompts_and_is_small():
    model = shipped_model(fx.FEWSHOT_MODEL)
    su = fx.PROMPT_SETUP
    assert model.task == fx.PRETRAIN_SETUP["task"] and model.meta["prompt_tuning"] == su
    assert model.params["prompt"]["eos"].shape == (10,)
    assert model.params["prompt"]["prefix"].shape == (su["n_prefix"], 10)
    for key in ("eos", "prefix"):
        loss = model.history[f"prompt_{key}_loss"]
        assert loss.shape == (su["steps"],) and loss[-50:].mean() < loss[:10].mean()
    size = sum((CHECKPOINT_DIR / f"{fx.FEWSHOT_MODEL}{ext}").stat().st_size for ext in (".npz", ".json"))
    assert size < 300_000


def test_fig8_is_registered_and_plots_the_curves_it_computes():
    spec = REGISTRY["vonoswald2023b_fig8"]
    assert spec.group == "vonoswald2023b" and accepts_retrain("vonoswald2023b_fig8")
    fig = vf.fig8_few_shot(quick=True)
    d = vf.fig8_data(True)
    for panel, key in (("A", "single"), ("B", "switch")):
        for k in ("none", "eos", "prefix", "lsq"):
            x, y = line(fig, f"{panel}:{k}")
            np.testing.assert_array_equal(y, d[key][k])
            np.testing.assert_array_equal(x, np.arange(sum(vf.FIG8_EXAMPLES[key])))
    np.testing.assert_array_equal(line(fig, "B:lsq_task")[1], d["switch"]["lsq_task"])
    assert line(fig, "B:switch")[0][0] == d["switch_at"] - 0.5
    # the plotted no-prompt curve is the model's loss on sequences built here by a plain loop
    model = shipped_model(fx.FEWSHOT_MODEL)
    X, Y = FewShotTask(n_examples=vf.FIG8_EXAMPLES["single"]).sample_raw(vf.SEED + 20, vf.FIG8_SIZES[True])
    seq = np.empty((X.shape[0], 2 * X.shape[1], 10))
    for i in range(X.shape[1]):
        seq[:, 2 * i], seq[:, 2 * i + 1] = X[:, i], Y[:, i]
    pred = ref.predict(model.params, model.config, seq)[:, 0::2]
    np.testing.assert_allclose(d["single"]["none"], np.sum((pred - Y) ** 2, axis=(0, 2)) / (2 * len(X)), rtol=1e-12)
    # least squares with every example of one task seen is far better than the model without prompt
    assert d["single"]["lsq"][-1] < 0.1 * d["single"]["none"][-1]


def test_early_ascent_finds_the_peak_and_the_rise():
    assert fx.early_ascent([1.0, 1.3, 1.2, 0.5]) == (1, pytest.approx(0.3))
    assert fx.early_ascent([1.0, 0.9, 0.5]) == (0, 0.0)
    with pytest.raises(ShapeError):
        fx.early_ascent(np.zeros((2, 2)))
