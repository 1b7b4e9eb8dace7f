"""Figure intermediates recorded with the package (:mod:`aievo.figures._recorded`).

The recorded arrays must be what the current code computes from the shipped checkpoints: one
model per record is recomputed here (float64 numpy, same seeds; only BLAS summation order can
differ between machines, hence ``rtol=1e-8``), every model in the slow test.
"""

from __future__ import annotations

import numpy as np
import pytest

from aievo.errors import InvalidParameterError
from aievo.figures import _recorded as R
from aievo.figures import akyurek2022 as FA
from aievo.io import load_result
from aievo.mesa.experiments import akyurek2022 as A

#: float64 on both sides, same seeds and code: only summation order (BLAS, threads) may differ
RTOL, ATOL = 1e-8, 1e-12


def _file(name: str) -> tuple[dict, dict]:
    return load_result(R.RECORDED_DIR / f"{name}.npz", R.KIND)


@pytest.mark.parametrize("name", sorted(R.RECORDS))
def test_every_record_file_matches_the_shipped_checkpoints(name):
    """A stale file would be skipped silently at draw time (slow again): its fingerprint must be current."""
    module, func = R.RECORDS[name].split(":")
    rec = getattr(__import__(module, fromlist=[func]), func)()
    _, meta = _file(name)
    assert meta["fingerprint"] == R.fingerprint(rec)
    assert meta["record"] == name and meta["checkpoints"] == list(rec.checkpoints)


def test_recorded_transition_equals_a_fresh_comparison_of_the_smallest_model():
    arrays, meta = _file("akyurek2022_transition")
    c, a = A.NOISES.index(0.0), FA._ARCHS.index((A.DEPTHS[0], A.WIDTHS[0]))
    model = A.load_grid()[(A.DEPTHS[0], A.WIDTHS[0], 0.0)]
    ref = A.learner_reference(A.task_for(0.0), meta["params"]["n_prompts"], rng=meta["params"]["rng"])
    comp = A.compare_learners(model, ref, backend="numpy")
    for i, learner in enumerate(A.LEARNERS):
        np.testing.assert_allclose(arrays["spd"][c, a, i], comp.spd[learner], rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(arrays["ilwd"][c, a, i], comp.ilwd[learner], rtol=RTOL, atol=ATOL)


def test_recorded_probes_equal_fresh_probes_of_the_smallest_model():
    arrays, meta = _file("akyurek2022_probes")
    p = meta["params"]
    model = A.load_grid()[(A.DEPTHS[0], A.WIDTHS[0], 1.0)]
    res = A.probe_layers(model, p["n_train"], p["n_test"], rng=p["rng"], backend="numpy")
    want = np.array([res[key] for key in p["targets"]])
    np.testing.assert_allclose(arrays[f"L{A.DEPTHS[0]}W{A.WIDTHS[0]}_s1"], want, rtol=RTOL, atol=ATOL)


def test_recorded_gdpp_steps_equal_a_fresh_tuning_at_depth_one():
    from aievo.figures import vonoswald2023a as F
    from aievo.mesa.baselines import scan_eta
    from aievo.mesa.experiments.vonoswald2023a import SHIPPED_SETUP, tune_gdpp

    arrays, meta = _file("vonoswald2023a_depth_gdpp")
    fit = F._split(*F._tasks(SHIPPED_SETUP["task"], meta["params"]["n_fit"], meta["params"]["seed"]))
    eta, _, _ = scan_eta(*fit, K=1)
    etas, gammas, _ = tune_gdpp(*fit, K=1, eta0=eta)
    # Nelder-Mead from the same start on the same losses: rounding of the losses could move a
    # simplex step, so the steps are compared to the tuning's own xatol (1e-4)
    np.testing.assert_allclose(arrays["etas_K1"], etas, atol=1e-4)
    np.testing.assert_allclose(arrays["gammas_K1"], gammas, atol=1e-4)


def test_recorded_prop2_steps_equal_a_fresh_tuning_of_two_layers():
    from aievo.figures import vonoswald2023b as F
    from aievo.mesa.experiments.vonoswald2023b import tune_prop2

    arrays, meta = _file("vonoswald2023b_fig6_prop2")
    models = F._softmax_models(False)
    task = F._lds_task(models[max(models)])
    assert meta["params"]["task"] == repr(task)
    fit_x, fit_y = task.sample(np.random.default_rng(meta["params"]["seed"]), meta["params"]["n_fit"])
    g, e = tune_prop2(fit_x, fit_y, 2, arrays["gammas_K1"])
    # the same Nelder-Mead on the same losses: compared to its xatol (1e-6), and eta closely
    np.testing.assert_allclose(arrays["gammas_K2"], g, atol=1e-6)
    np.testing.assert_allclose(arrays["eta_K2"], e, rtol=1e-6)


def test_recorded_mesa2_steps_equal_a_fresh_tuning_of_one_step():
    from aievo.figures import mesa as F
    from aievo.mesa.baselines import scan_eta
    from aievo.mesa.tasks import sample_regression_tasks

    arrays, meta = _file("mesa2_steps")
    tasks = sample_regression_tasks(meta["params"]["seed"], meta["params"]["tasks"])
    eta = scan_eta(*tasks[:4], grid=np.array(meta["params"]["eta_grid"]), K=1)[0]
    e_pp, g_pp = F._gdpp_tune(tasks, 1, eta)
    assert arrays["gd_eta"][0] == eta  # a grid point: equal or wrong
    # Nelder-Mead with xatol 1e-3 in (eta, gamma N^2): compared to that tolerance
    np.testing.assert_allclose([arrays["gdpp_eta"][0], arrays["gdpp_gamma"][0] * 100], [e_pp, g_pp * 100], atol=1e-3)


def test_recorded_faithfulness_of_the_lsa_equals_a_fresh_evaluation():
    from aievo.mesa import faithfulness as F
    from aievo.mesa.experiments.faithfulness import faithfulness_models

    arrays, meta = _file("faithfulness")
    lsa, _ = faithfulness_models()
    res = F.lsa_faithfulness(lsa, splits=F.lsa_splits(False), n_tasks=meta["params"]["lsa_n_tasks"])
    assert [sp.name for sp in res.splits] == meta["params"]["lsa_splits"]
    assert list(arrays["lsa_proxies"]) == res.proxies
    np.testing.assert_allclose(arrays["lsa_values"], res.values, rtol=RTOL, atol=ATOL)


def test_recorded_fewshot_curves_of_one_task_equal_fresh_ones():
    from aievo.figures import vonoswald2023b as F
    from aievo.mesa.experiments.vonoswald2023b_fewshot import FEWSHOT_MODEL, fewshot_curves

    arrays, meta = _file("vonoswald2023b_fig8")
    p = meta["params"]
    fresh = fewshot_curves(F._raw_model(FEWSHOT_MODEL, False), tuple(p["examples"]["single"]), p["n_sequences"],
                           p["seeds"]["single"])
    assert {k for k in arrays if k.startswith("single_")} == {f"single_{k}" for k in fresh}
    for k, v in fresh.items():
        np.testing.assert_allclose(arrays[f"single_{k}"], v, rtol=RTOL, atol=ATOL, err_msg=k)


def test_load_or_compute_uses_the_file_only_while_the_fingerprint_matches():
    rec = FA.probes_record()

    def fail():
        raise AssertionError("computed although the recorded file matches")

    recorded = R.load_or_compute(R.Record(rec.name, rec.checkpoints, rec.params, fail))
    assert set(recorded) == set(_file(rec.name)[0])
    sentinel = {"x": np.arange(3.0)}
    # other parameters, another checkpoint list, or recompute=True: computed afresh
    for other in (R.Record(rec.name, rec.checkpoints, {**rec.params, "n_train": 999}, lambda: sentinel),
                  R.Record(rec.name, rec.checkpoints[:-1], rec.params, lambda: sentinel)):
        assert R.fingerprint(other) != R.fingerprint(rec)
        assert R.load_or_compute(other).keys() == {"x"}
    assert R.load_or_compute(R.Record(rec.name, rec.checkpoints, rec.params, lambda: sentinel),
                             recompute=True).keys() == {"x"}


def test_unknown_record_and_checkpoint_are_refused():
    with pytest.raises(InvalidParameterError, match="name="):
        R.record("no-such-record")
    with pytest.raises(InvalidParameterError, match="checkpoint="):
        R.fingerprint(R.Record("x", ("no-such-checkpoint",), {}, dict))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(R.RECORDS))
def test_recomputing_a_record_reproduces_the_shipped_file(name, tmp_path):
    path = R.record(name, tmp_path)
    fresh, _ = load_result(path, R.KIND)
    shipped, _ = _file(name)
    assert fresh.keys() == shipped.keys()
    for key in shipped:
        if shipped[key].dtype.kind == "U":  # names (faithfulness proxies): equal
            np.testing.assert_array_equal(fresh[key], shipped[key], err_msg=key)
        else:
            np.testing.assert_allclose(fresh[key], shipped[key], rtol=RTOL, atol=ATOL, err_msg=key)
