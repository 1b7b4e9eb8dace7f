"""Results that carry their provenance: recipes, ``aievo rerun``, save/load, labelled data, reprs."""

from __future__ import annotations

import json
import platform
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import aievo as ae
from aievo.cli import main
from aievo.errors import AievoError, MissingExtraError, ResultFileError
from aievo.io import load_result, save_result
from aievo.lineage import lineage_exponents
from aievo.rerun import first_difference, rerun
from aievo.testing import strategies as aest

SCENARIO = """
[scenario]
name = "tiny"
generations = 30
population = 200
seed = 5

[graph]
kind = "chain"
length = 6
fitness = { rule = "linear", start = 1.0, step = 0.2 }

[traits]
k = "depth"

[locking]
eta = 0.3

[sets]
near_max = { rule = "near_max", eps = 0.05 }
any = { rule = "fitness_at_least", value = 0.0 }

[output]
record_shares = [0, 10]
"""


def _run_scenario(tmp_path):
    toml = tmp_path / "tiny.toml"
    toml.write_text(SCENARIO)
    out = tmp_path / "out"
    assert main(["-q", "run", str(toml), "--out", str(out), "--no-plot"]) == 0
    return toml, out / "tiny.npz"


def test_provenance_records_versions_platform_and_command_line(tmp_path):
    _, meta = load_result(save_result(tmp_path / "r", {"a": np.arange(2)}, {"kind": "x"}))
    prov = meta["provenance"]
    assert prov["aievo_version"] == ae.__version__
    assert prov["dependencies"]["numpy"] == np.__version__
    import scipy

    assert prov["dependencies"]["scipy"] == scipy.__version__
    assert prov["python"].endswith(platform.python_version())
    assert prov["machine"] == platform.machine() and prov["platform"] == platform.platform()
    assert prov["argv"] == sys.argv


def test_scenario_run_reruns_bit_identically_from_the_result_file_alone(tmp_path, capsys):
    toml, npz = _run_scenario(tmp_path)
    arrays, meta = load_result(npz)
    recipe = meta["params"]["recipe"]
    # the file records the whole scenario as data, and the command line that made it
    assert recipe["scenario"] == tomllib.loads(SCENARIO) and recipe["name"] == "tiny"
    assert list(recipe["scenario"]["sets"]) == ["near_max", "any"]  # the order of the file, not sorted
    assert meta["provenance"]["argv"] == sys.argv
    # keep the result file only: no TOML, no sidecar, no plot
    for p in tmp_path.rglob("*"):
        if p.is_file() and p != npz:
            p.unlink()
    assert not toml.exists() and sorted(x.name for x in npz.parent.iterdir()) == ["tiny.npz"]
    # an independent regeneration from the recorded data: every array bit for bit
    fresh = ae.load_scenario(recipe["scenario"], name=recipe["name"]).run()
    assert sorted(fresh._arrays()) == sorted(arrays)
    for name, value in fresh._arrays().items():
        assert np.array_equal(value, arrays[name]), name
    assert fresh.params["population"] == 200 and fresh.params["seed"] == 5
    capsys.readouterr()
    assert main(["rerun", str(npz)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "identical" in out and "scenario 'tiny'" in out


EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[1] / "examples" / "scenarios").glob("*.toml")
                  if "kind" not in tomllib.loads(p.read_text())["scenario"])  # graph runs


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_scenario_reruns_identically(path, tmp_path):
    """Payoffs, evaluators, finite populations, random trees, key order of sets and traits: all recorded."""
    from dataclasses import replace

    from aievo.scenario import write_outputs

    sc = ae.load_scenario(path)
    (npz,) = write_outputs(replace(sc, plot_path=None), sc.run(), tmp_path)
    report = rerun(npz)
    assert report.identical, report.difference


def test_a_tampered_result_reruns_to_its_first_difference(tmp_path, capsys):
    _, npz = _run_scenario(tmp_path)
    arrays, meta = load_result(npz)
    meta.pop("provenance")
    old = float(arrays["mean_fitness"][3])
    arrays["mean_fitness"][3] = np.nextafter(old, np.inf)  # one ulp
    save_result(tmp_path / "tampered", arrays, meta)
    capsys.readouterr()
    assert main(["rerun", str(tmp_path / "tampered.npz")]) == 1
    out = capsys.readouterr().out
    assert "differs" in out and "'mean_fitness'[3]" in out
    assert f"file {float(np.nextafter(old, np.inf))!r}, rerun {old!r}" in out
    # a changed recorded scenario is a difference as well (a different run)
    arrays, meta = load_result(npz)
    meta.pop("provenance")
    meta["params"]["recipe"]["scenario"]["scenario"]["seed"] = 6
    save_result(tmp_path / "reseeded", arrays, meta)
    report = rerun(tmp_path / "reseeded")
    assert not report.identical and "array" in report.difference


def test_a_result_without_recipe_is_refused_clearly(tmp_path, capsys):
    tr = ae.simulate(ae.chain([1.0, 2.0]), 5)
    path = tr.save(tmp_path / "plain")
    with pytest.raises(ResultFileError, match="records no recipe"):
        rerun(path)
    assert main(["rerun", str(path)]) == 2
    assert "records no recipe" in capsys.readouterr().err


def test_rerun_never_calls_functions_outside_its_list(tmp_path):
    arrays, meta = {"y": np.zeros(2)}, {"kind": "x", "params": {"recipe": {
        "kind": "aievo.call", "function": "aievo.io:atomic_write_text",
        "kwargs": {"path": str(tmp_path / "pwned"), "text": "x"}}}}
    save_result(tmp_path / "evil", arrays, meta)
    with pytest.raises(ResultFileError, match="reruns only"):
        rerun(tmp_path / "evil")
    assert not (tmp_path / "pwned").exists()


def test_first_difference_names_array_index_and_values():
    a = {"x": np.array([1.0, np.nan, 3.0]), "s": np.array(["a", "b"]), "z": np.array(2)}
    assert first_difference(a, {k: v.copy() for k, v in a.items()}) is None  # NaN equals NaN
    assert first_difference(a, {**a, "x": np.array([1.0, np.nan, 4.0])}) == "array 'x'[2]: file 3.0, rerun 4.0"
    assert first_difference(a, {**a, "x": np.array([1.0, 0.0, 3.0])}) == "array 'x'[1]: file nan, rerun 0.0"
    assert "dtype float32" in first_difference(a, {**a, "x": a["x"].astype(np.float32)})
    assert first_difference(a, {**a, "z": np.array(3)}) == "array 'z': file 2, rerun 3"
    assert "not in the regenerated" in first_difference(a, {"s": a["s"], "z": a["z"]})
    assert first_difference(a, {**a, "s": np.array(["a", "c"])}) == "array 's'[1]: file 'b', rerun 'c'"


def test_sweep_cells_record_their_function_and_rerun(tmp_path):
    from aievo.sweep import eta_locked_chain, sweep

    res = sweep(eta_locked_chain, {"eta": [0.0, 0.4], "generations": [6]}, out=tmp_path / "s", executor=0, rng=3)
    meta = res.meta(1)
    assert meta["fn"] == "aievo.sweep:eta_locked_chain" and meta["provenance"]["dependencies"]
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert index["provenance"]["aievo_version"] == ae.__version__
    report = rerun(res.cell(1).path)
    assert report.identical, report.difference
    # the stored value is what a direct call gives
    direct = eta_locked_chain(0.4, 6)
    assert np.array_equal(res.load(1).mean_fitness, direct.mean_fitness)


def test_regression_benchmark_records_its_call_and_reruns(tmp_path):
    from aievo.mesa.regression import RegressionBenchmark, regression_benchmark

    res = regression_benchmark(regressors=["average", "random"], seeds=[0, 3], progress=False)
    assert res.params["recipe"]["kwargs"]["seeds"] == [0, 3]
    path = res.save(tmp_path / "bench")
    back = RegressionBenchmark.load(path)
    for name in ("seeds", "metrics", "predictions", "targets"):
        assert np.array_equal(getattr(back, name), getattr(res, name))
    assert back.methods == res.methods and back.params == res.params
    assert rerun(path).identical
    assert len(repr(res)) < 200 and "seeds=2" in repr(res)


# ---------------------------------------------------------------------- save / load
_floats = hnp.arrays(np.float64, st.integers(0, 6), elements=st.floats(allow_nan=True, allow_infinity=True))


def _same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), exact=st.booleans())
def test_lineage_exponents_round_trip(tmp_path_factory, data, exact):
    n = data.draw(st.integers(0, 6))
    arr = data.draw(st.lists(hnp.arrays(np.float64, n, elements=st.floats()), min_size=4, max_size=4))
    extra = {}
    if exact:
        extra = {"component": data.draw(hnp.arrays(np.int64, n)), "component_rate": arr[0][::-1].copy(),
                 "certified": data.draw(hnp.arrays(np.bool_, n))}
    lam = ae.LineageExponents(*arr, method="exact" if exact else "estimate", include_design=exact,
                              horizon=None if exact else 10, tail=None if exact else 5,
                              params={"rtol": 1e-10}, **extra)
    back = ae.LineageExponents.load(lam.save(tmp_path_factory.mktemp("lam") / "lam"))
    for name in ("value", "upper", "lower", "error_bound", "component", "component_rate", "certified"):
        a, b = getattr(lam, name), getattr(back, name)
        assert (a is None and b is None) or _same(a, b), name
    assert (back.method, back.include_design, back.horizon, back.tail, back.params) == (
        lam.method, lam.include_design, lam.horizon, lam.tail, lam.params)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_price_series_round_trip(tmp_path_factory, data):
    G = data.draw(st.integers(0, 8))
    arrays = data.draw(st.lists(hnp.arrays(np.float64, G, elements=st.floats()), min_size=6, max_size=6))
    ps = ae.PriceSeries(*arrays, params={"trait": "fitness", "run": G})
    back = ae.PriceSeries.load(ps.save(tmp_path_factory.mktemp("ps") / "ps"))
    assert all(_same(getattr(ps, k), getattr(back, k)) for k in ae.PriceSeries.SERIES)
    assert back.params == ps.params


def test_computed_results_record_their_call(tmp_path):
    g = ae.with_locking(ae.chain([1.0, 1.5, 2.0]), 0.3)
    lam = lineage_exponents(g, "estimate", horizon=50)
    assert lam.params == {"method": "estimate", "include_design": True, "horizon": 50, "tail": 25,
                          "graph": {"n": 6, "edges": 9, "root": 0, "is_tree": True}}
    back = ae.LineageExponents.load(lam.save(tmp_path / "lam"))
    assert np.array_equal(back.value, lam.value) and back.params == lam.params
    ps = ae.price_along(g, 12, trait="depth")
    assert ps.params["trait"] == "depth" and ps.params["run"] == 12 and ps.params["graph"]["n"] == 6
    with pytest.raises(ResultFileError, match="expected an aievo.PriceSeries"):
        ae.PriceSeries.load(lam.save(tmp_path / "other"))


# ---------------------------------------------------------------------- reprs
def test_lineage_repr_names_only_attributes_that_exist():
    g = ae.type_graph([4.0, 1.0], [[0.0, 1.0], [1.0, 0.0]])
    for lam in (lineage_exponents(g), lineage_exponents(g, "estimate", horizon=40)):
        text = repr(lam)
        names = re.findall(r"(\w+)(?:=| in )", text)
        assert "value" in names and "values" not in text
        assert all(hasattr(lam, name) for name in names), names
        assert "0.693147" in text  # log 2: the exponent of the 4, 1, 4, 1, ... lineage


def test_price_series_repr_is_short():
    g = ae.with_locking(ae.chain(list(np.linspace(1.0, 2.0, 10))), 0.3)
    ps = ae.price_along(g, 360)
    text = repr(ps)
    assert len(text) < 300 and "generations=360" in text
    assert f"total sum={float(np.sum(ps.total)):.6g}" in text


@settings(max_examples=40, deadline=None)
@given(st.one_of(aest.design_trees(max_nodes=12, self_loops=True), aest.type_graphs(max_types=6),
                 aest.locked_trees(max_nodes=6).map(lambda case: case[0])))
def test_eval_repr_rebuilds_an_equal_small_graph(g):
    h = eval(repr(g), {"DesignGraph": ae.DesignGraph})
    assert np.array_equal(h.fitness, g.fitness) and np.array_equal(h.T.toarray(), g.T.toarray())
    assert h.root == g.root and h.labels == g.labels
    assert (h.parent is None) == (g.parent is None)
    if g.parent is not None:
        assert np.array_equal(h.parent, g.parent)
    assert sorted(h.attrs) == sorted(g.attrs)
    for k, v in g.attrs.items():
        assert h.attrs[k].dtype == v.dtype and np.array_equal(h.attrs[k], v), k


def test_hypothesis_counterexample_prints_code_that_replays_it():
    @settings(max_examples=100, deadline=None, database=None, derandomize=True)
    @given(g=aest.design_trees(min_nodes=2, max_nodes=6))
    def mean_fitness_never_decreases(g):
        assert np.all(np.diff(ae.simulate(g, 5).mean_fitness) >= -1e-12)

    with pytest.raises(AssertionError) as info:
        mean_fitness_never_decreases()
    report = "".join(getattr(info.value, "__notes__", []))
    code = re.search(r"g=(DesignGraph\(.*\)),\n", report).group(1)
    g = eval(code, {"DesignGraph": ae.DesignGraph})
    assert np.any(np.diff(ae.simulate(g, 5).mean_fitness) < -1e-12)  # the printed graph fails the property


def test_repr_of_graph_with_unprintable_labels_says_what_it_leaves_out():
    g = ae.type_graph([1.0, 2.0], [[0.5, 0.5], [0.0, 1.0]], labels=["a", object()])
    text = repr(g)
    assert text.endswith("# not shown: labels")
    h = eval(text, {"DesignGraph": ae.DesignGraph})
    assert np.array_equal(h.T.toarray(), g.T.toarray())


# ---------------------------------------------------------------------- labelled data
def test_missing_labels_extra_is_one_error_naming_it(monkeypatch):
    from aievo.mesa import regressors
    from aievo.mesa.nn import MissingExtraError as NNMissing

    assert NNMissing is MissingExtraError and regressors.MissingExtraError is MissingExtraError
    monkeypatch.setitem(sys.modules, "xarray", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    tr = ae.simulate(ae.chain([1.0, 2.0]), 3)
    for call in (tr.to_xarray, tr.to_dataframe):
        with pytest.raises(MissingExtraError, match=r'aievo\[labels\]') as info:
            call()
        assert isinstance(info.value, AievoError) and isinstance(info.value, ImportError)


def test_trajectory_labels_every_value_it_holds():
    xr = pytest.importorskip("xarray")
    pytest.importorskip("pandas")
    g = ae.with_locking(ae.chain([1.0, 1.5, 2.0]), 0.3)
    tr = ae.simulate(g, 8, traits=["depth", "locked"], sets={"top": g.fitness >= 2.0}, record_shares=[2, 5])
    ds = tr.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["generation"].values.tolist() == list(range(9)) and ds["program"].values.tolist() == list(range(6))
    assert ds["trait"].values.tolist() == ["depth", "locked"] and ds["time"].values.tolist() == [2, 5]
    assert np.array_equal(ds["mean_fitness"].values, tr.mean_fitness)
    assert np.array_equal(ds["log_growth"].values, tr.log_growth)
    for k, v in tr.trait_means.items():
        assert np.array_equal(ds["trait_means"].sel(trait=k).values, v)
    assert np.array_equal(ds["set_shares"].sel(set="top").values, tr.set_shares["top"])
    for t in (2, 5):
        assert np.array_equal(ds["snapshots"].sel(time=t).values, tr.shares_at(t))
    assert np.array_equal(ds["shares"].values, tr.shares)
    assert json.loads(ds.attrs["params"]) == tr.params and ds.attrs["extinct_at"] == -1
    df = tr.to_dataframe()
    assert list(df.columns) == ["mean_fitness", "log_growth", "trait:depth", "trait:locked", "set:top"]
    assert df.index.name == "generation" and df.index.tolist() == list(range(9))
    assert np.array_equal(df["mean_fitness"].to_numpy(), tr.mean_fitness)
    assert np.array_equal(df["trait:locked"].to_numpy(), tr.trait_means["locked"])
    assert np.array_equal(df["set:top"].to_numpy(), tr.set_shares["top"])


def test_sweep_labels_each_cell_with_its_parameters(tmp_path):
    pytest.importorskip("xarray")
    pytest.importorskip("pandas")
    from aievo.sweep import sweep

    def cell(a, b, rng):
        return {"y": np.array([10 * a + b + rng.random()])}

    res = sweep(cell, {"a": [1, 2], "b": [0.5, 0.25, 0.0]}, out=tmp_path / "s", executor=0, rng=0)
    raw = res.collect("y")
    da = res.to_xarray("y")
    assert da.dims == ("a", "b") and da["a"].values.tolist() == [1, 2] and da["b"].values.tolist() == [0.5, 0.25, 0.0]
    for c in res:
        assert da.sel(**c.params).item() == raw[c.position] == res.load(c.index)["y"][0]
        assert da["status"].sel(**c.params).item() == "done"
    df = res.to_dataframe("y")
    assert df.index.name == "cell" and list(df.columns) == ["a", "b", "status", "y"]
    for c in res:
        row = df.loc[c.index]
        assert (row["a"], row["b"], row["y"]) == (c.params["a"], c.params["b"], raw[c.position])


def test_sweep_with_list_values_labels_positions(tmp_path):
    pytest.importorskip("xarray")
    from aievo.sweep import sweep

    def cell(fitness, rng):
        return {"s": np.array([sum(fitness)])}

    res = sweep(cell, {"fitness": [[1.0, 2.0], [3.0]]}, out=tmp_path / "s", executor=0, rng=0)
    da = res.to_xarray("s")
    assert da["fitness"].values.tolist() == [0, 1]
    assert [json.loads(v) for v in da["fitness_value"].values] == [[1.0, 2.0], [3.0]]
    assert da.values.tolist() == [3.0, 3.0]


def test_price_series_and_benchmark_labels():
    pytest.importorskip("xarray")
    pytest.importorskip("pandas")
    from aievo.mesa.regression import METRICS, regression_benchmark

    ps = ae.price_along(ae.with_locking(ae.chain([1.0, 2.0, 1.5]), 0.2), 7)
    ds, df = ps.to_xarray(), ps.to_dataframe()
    assert ds["generation"].values.tolist() == list(range(7)) and df.index.tolist() == list(range(7))
    for k in ae.PriceSeries.SERIES:
        assert np.array_equal(ds[k].values, getattr(ps, k)) and np.array_equal(df[k].to_numpy(), getattr(ps, k))
    res = regression_benchmark(regressors=["average", "random"], seeds=[4, 9], progress=False)
    ds, df = res.to_xarray(), res.to_dataframe()
    for i, m in enumerate(res.methods):
        for j, s in enumerate(res.seeds):
            for k, metric in enumerate(METRICS):
                assert ds["metrics"].sel({"method": m, "seed": s, "metric": metric}).item() == res.metrics[i, j, k]
                assert df.loc[(m, s), metric] == res.metrics[i, j, k]
            assert np.array_equal(ds["predictions"].sel({"method": m, "seed": s}).values, res.predictions[i, j])
    assert np.array_equal(ds["targets"].sel(seed=9).values, res.targets[1])

