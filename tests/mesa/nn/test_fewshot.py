"""Few-shot sequences with learned EOS and prefix tokens (2023b Fig 8): JAX = numpy reference, prompt tuning."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa._checks import spawn
from aievo.mesa.nn import TransformerConfig
from aievo.mesa.nn import reference as ref
from aievo.mesa.nn.config import ATTENTION_KINDS, POS_ENCODINGS, FewShotTask
from aievo.mesa.nn.params import init_params

jax = pytest.importorskip("jax")


@st.composite
def cases(draw, kinds=ATTENTION_KINDS):
    D = draw(st.integers(1, 3))
    depth = draw(st.integers(1, 2))
    proj = draw(st.booleans())
    config = TransformerConfig(
        attention=tuple(draw(st.sampled_from(kinds)) for _ in range(depth)), heads=draw(st.integers(1, 2)),
        key_size=draw(st.integers(1, 3)), token_format="lds_raw", data_dim=D,
        embed_dim=draw(st.integers(2, 5)) if proj else None, input_proj=proj, output_proj=proj,
        pos_encoding=draw(st.sampled_from(POS_ENCODINGS)), act_clip=draw(st.sampled_from((None, 0.9))),
        init_scale=0.6)
    n = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    task = FewShotTask(D=D, n_examples=n, eos=draw(st.booleans()), n_prefix=draw(st.integers(0, 2)),
                       noise=draw(st.sampled_from((0.0, 0.1))))
    return config, task


# the layers' equality is test_reference's; here the sequence layout, read-out positions and prompt
# matter, so the default run skips the mesa layer (eager JAX, slowest), which the slow test adds
@settings(max_examples=4, deadline=None)
@given(case=cases(("linear", "softmax")), seed=st.integers(0, 2**16))
def test_fewshot_predictions_of_jax_equal_the_numpy_reference_in_float64(case, seed):
    _check_against_jax(case, seed)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(case=cases(), seed=st.integers(0, 2**16))
def test_fewshot_predictions_of_jax_equal_the_numpy_reference_in_float64_many_cases(case, seed):
    _check_against_jax(case, seed)


def _check_against_jax(case, seed):
    from aievo.mesa.nn import model

    config, task = case
    g = np.random.default_rng(seed)
    params = init_params(config, g)
    X, Y = task.sample_raw(g, 3)
    prompt = task.init_prompt(g)
    mine = ref.fewshot_predict(params, config, task, X, Y, prompt)
    with jax.enable_x64(True):
        theirs = np.asarray(model.fewshot_predict(params, config, task, X, Y, prompt))
        tokens = np.asarray(model.fewshot_tokens(task, X, Y, prompt))
        loss = np.asarray(model.fewshot_loss(params, config, task, X, Y, prompt))
    # both float64 through at most 2 layers: only summation orders differ (~1e-15 relative per operation)
    np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(tokens, ref.fewshot_tokens(task, X, Y, prompt))
    np.testing.assert_allclose(loss, np.sum((mine - Y) ** 2, axis=(0, 2)) / 6, rtol=1e-10, atol=1e-14)
    assert mine.shape == (3, task.n_total, task.D)


def test_gradient_in_the_prompt_matches_finite_differences_of_the_reference(x64):
    from aievo.mesa.nn import model

    config = TransformerConfig(attention=("softmax", "linear"), heads=2, key_size=3, token_format="lds_raw",
                               data_dim=2, embed_dim=4, input_proj=True, output_proj=True, pos_encoding="kq",
                               act_clip=None, init_scale=0.5)
    task = FewShotTask(D=2, n_examples=(3, 2), eos=True, n_prefix=2)
    g = np.random.default_rng(3)
    params = init_params(config, g)
    X, Y = task.sample_raw(g, 4)
    prompt = task.init_prompt(g)

    def ref_loss(p):
        return np.mean(np.sum((ref.fewshot_predict(params, config, task, X, Y, p) - Y) ** 2, axis=(0, 2)) / 8)

    grad = jax.jit(jax.grad(lambda p: jax.numpy.mean(model.fewshot_loss(params, config, task, X, Y, p))))(prompt)
    h = 1e-6  # central differences in float64: truncation ~h^2, rounding ~1e-16/h, both far below 1e-6
    for key in ("eos", "prefix"):
        for idx in np.ndindex(prompt[key].shape):
            up = {k: v.copy() for k, v in prompt.items()}
            dn = {k: v.copy() for k, v in prompt.items()}
            up[key][idx] += h
            dn[key][idx] -= h
            fd = (ref_loss(up) - ref_loss(dn)) / (2 * h)
            assert float(grad[key][idx]) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_prompt_tuning_lowers_the_loss_on_fresh_tasks():
    from aievo.mesa.experiments.vonoswald2023b import BINDING_MODEL
    from aievo.mesa.nn.prompt import evaluate_fewshot, tune_prompt
    from aievo.mesa.nn.shipped import shipped_model

    model = shipped_model(BINDING_MODEL)  # LDS-pretrained, D = 10, 30 tokens
    task = FewShotTask(n_examples=(6,), eos=True, n_prefix=2)
    res = tune_prompt(model, task, 60, 16, 0, lr=3e-2)
    start = task.init_prompt(spawn(np.random.default_rng(0), 2)[0])  # the N(0, I) start tune_prompt drew
    before = evaluate_fewshot(model, task, start, 400, 7)
    after = evaluate_fewshot(model, task, res.prompt, 400, 7)
    # a random N(0, I) EOS/prefix wrecks the model's regression (loss 2-5 per example); 60 steps recover most of it
    assert after.mean() < 0.7 * before.mean()
    assert res.tuned == ("eos", "prefix") and res.loss.shape == (60,)
    assert res.loss[-10:].mean() < res.loss[:5].mean()


def test_fixed_vectors_stay_fixed_and_bad_prompts_are_refused():
    from aievo.mesa.nn.prompt import tune_prompt

    config = TransformerConfig(attention=("linear",), heads=1, key_size=2, token_format="lds_raw", data_dim=2,
                               act_clip=None, init_scale=0.3)
    params = init_params(config, 0)
    task = FewShotTask(D=2, n_examples=(2,), eos=True, n_prefix=1)
    eos = np.array([0.5, -0.25])
    res = tune_prompt((config, params), task, 3, 4, 1, fixed={"eos": eos})
    np.testing.assert_array_equal(res.prompt["eos"], eos)
    assert res.tuned == ("prefix",)
    with pytest.raises(InvalidParameterError, match="fixed"):
        tune_prompt((config, params), task, 3, 4, 1, fixed={"bos": eos})
    with pytest.raises(InvalidParameterError, match="fixed"):
        tune_prompt((config, params), task, 3, 4, 1, fixed={"eos": eos, "prefix": np.zeros((1, 2))})
    X, Y = task.sample_raw(0, 2)
    with pytest.raises(InvalidParameterError, match="prompt"):
        ref.fewshot_predict(params, config, task, X, Y, {"eos": eos})
    with pytest.raises(ShapeError, match="prefix"):
        ref.fewshot_predict(params, config, task, X, Y, {"eos": eos, "prefix": np.zeros(2)})
    with pytest.raises(ShapeError, match="X.shape"):
        ref.fewshot_predict(params, config, task, X[:, :1], Y[:, :1], {"eos": eos, "prefix": np.zeros((1, 2))})
    wrong = TransformerConfig(attention=("linear",), heads=1, key_size=2, token_format="lds_raw", data_dim=3)
    with pytest.raises(InvalidParameterError, match="lds_raw"):
        ref.fewshot_predict(init_params(wrong, 0), wrong, task, X, Y, {"eos": eos, "prefix": np.zeros((1, 2))})


def test_init_scale_scales_the_random_start_of_the_tuned_vectors():
    from aievo.mesa.nn.prompt import tune_prompt

    config = TransformerConfig(attention=("linear",), heads=1, key_size=2, token_format="lds_raw", data_dim=2,
                               act_clip=None, init_scale=0.3)
    params = init_params(config, 0)
    task = FewShotTask(D=2, n_examples=(2,), eos=True, n_prefix=1)
    start = task.init_prompt(spawn(np.random.default_rng(4), 2)[0])  # the N(0, I) draw of tune_prompt
    lr = 1e-4
    for scale in (0.0, 0.5):
        res = tune_prompt((config, params), task, 1, 4, 4, lr=lr, init_scale=scale)
        for key in ("eos", "prefix"):
            # one Adam step moves every entry by at most lr (bias-corrected m / sqrt(v) = sign of the gradient);
            # float32 parameters: 1e-6 on entries below 2
            np.testing.assert_allclose(res.prompt[key], scale * start[key], rtol=0, atol=lr * (1 + 1e-3) + 1e-6)
    with pytest.raises(InvalidParameterError, match="init_scale"):
        tune_prompt((config, params), task, 1, 4, 4, init_scale=-1.0)
