"""``aievo run --set KEY=VALUE`` and sweeps over the keys of a scenario file (aievo.scenario, aievo.sweep)."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aievo as ae
from aievo.cli import main
from aievo.errors import ScenarioError
from aievo.scenario import apply_overrides, headline, load_scenario, parse_set
from aievo.sweep import SweepResult, summary_table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SWEEP = ROOT / "examples" / "sweeps" / "deception_modes.toml"
CHAIN = {"scenario": {"generations": 6}, "graph": {"kind": "chain", "fitness": [1.0, 2.0, 3.0]}}


# ---------------------------------------------------------------------------- parse_set
@pytest.mark.parametrize(
    "text, key, value",
    [
        ("graph.depth=4", "graph.depth", 4),
        ("evaluator.noise=0.1", "evaluator.noise", 0.1),
        ("locking.eta = 1e-2", "locking.eta", 0.01),
        ("x=true", "x", True),
        ("eta=[0.1,0.2]", "eta", [0.1, 0.2]),
        ('name="two words"', "name", "two words"),
        ("fitness.mode=objective", "fitness.mode", "objective"),  # a bare word is a string
        ("name=a=b", "name", "a=b"),  # only the first '=' splits
        ('s={rule = "near_max", eps = 0.5}', "s", {"rule": "near_max", "eps": 0.5}),
    ],
)
def test_parse_set_reads_toml_values(text, key, value):
    assert parse_set(text) == (key, value)


@settings(deadline=None, max_examples=60)
@given(st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(-1000, 1000), max_size=4),
))
def test_parse_set_round_trips_python_values(value):
    # oracle: the value's own text form (repr for numbers; TOML spells booleans and lists like JSON)
    text = json.dumps(value) if isinstance(value, (bool, list)) else repr(value)
    key, parsed = parse_set(f"a.b={text}")
    assert key == "a.b" and parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["=3", "depth", ".a=1", "a..b=1"])
def test_parse_set_refuses_malformed_keys(text):
    with pytest.raises(ScenarioError, match="--set"):
        parse_set(text)


def test_apply_overrides_copies_and_creates_tables():
    data = {"graph": {"kind": "chain", "fitness": [1.0]}}
    out = apply_overrides(data, {"graph.fitness": [2.0, 3.0], "locking.eta": 0.5})
    assert out == {"graph": {"kind": "chain", "fitness": [2.0, 3.0]}, "locking": {"eta": 0.5}}
    assert data == {"graph": {"kind": "chain", "fitness": [1.0]}}  # the input is untouched
    with pytest.raises(ScenarioError, match=r"graph\.kind = 'chain' is a value, not a table"):
        apply_overrides(data, {"graph.kind.x": 1})


# ---------------------------------------------------------------------------- aievo run --set
def test_run_with_set_equals_the_edited_file(tmp_path, capsys):
    src = ROOT / "examples" / "scenarios" / "binary_tree.toml"
    data = tomllib.loads(src.read_text())
    # oracle: the same scenario with the two keys edited in the data itself
    data["graph"]["depth"] = 5
    data["scenario"]["generations"] = 5
    expected = ae.run_scenario(data)
    argv = ["-q", "run", str(src), "--out", str(tmp_path), "--no-plot",
            "--set", "graph.depth=5", "--set", "scenario.generations=5"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "overrides: graph.depth = 5, scenario.generations = 5" in printed
    tr = ae.Trajectory.load(tmp_path / "binary_tree.npz")
    np.testing.assert_array_equal(tr.mean_fitness, expected.mean_fitness)
    assert tr.params["overrides"] == {"graph.depth": 5, "scenario.generations": 5}
    assert tr.params["recipe"]["scenario"]["graph"]["depth"] == 5  # the resolved scenario is saved


@pytest.mark.parametrize(
    "setting, words",
    [
        ("graph.deph=3", ["--set graph.deph=3", "did you mean 'depth'", "'root_fitness'"]),
        ("colour.x=1", ["--set colour.x=1", "colour: unknown key", "'graph'", "'locking'"]),
        ("graph.depth=-1", ["--set graph.depth=-1", "expected an integer >= 0"]),
        ("graph.depth=deep", ["--set graph.depth='deep'", "expected an integer"]),
    ],
)
def test_run_with_a_bad_set_is_a_one_line_error_naming_it(tmp_path, capsys, setting, words):
    src = ROOT / "examples" / "scenarios" / "binary_tree.toml"
    assert main(["run", str(src), "--out", str(tmp_path), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aievo run: error: ")
    for w in words:
        assert w in err
    assert not list(tmp_path.iterdir())  # nothing was written


def test_load_scenario_overrides_without_the_cli():
    sc = load_scenario(CHAIN, overrides={"locking.eta": 0.5})
    assert sc.graph.n == 6 and sc.overrides == {"locking.eta": 0.5}
    assert sc.config["locking"] == {"eta": 0.5} and "locking" not in CHAIN


def test_headline_of_a_chain_is_its_closed_form():
    # chain 1 -> 2 -> 3 from the root: after t >= 2 generations everyone is at program 2
    h = headline(ae.run_scenario(CHAIN))
    assert h["F_T"] == 3.0 and h["dominant"] == 2 and h["dominant_share"] == 1.0
    # mean fitness F_0..F_5 = 1, 2, 3, 3, 3, 3 and N_6 = F_0 F_1 ... F_5 = 2 * 3^4
    assert h["growth"] == pytest.approx(np.log(2 * 3**4) / 6, rel=1e-12)


# ---------------------------------------------------------------------------- sweeps over scenario keys
def test_example_sweep_over_fitness_mode_end_to_end(tmp_path, capsys):
    sweep_dir = tmp_path / "sweeps"
    shutil.copytree(EXAMPLE_SWEEP.parent, sweep_dir)
    shutil.copytree(ROOT / "examples" / "scenarios", tmp_path / "scenarios")
    toml = sweep_dir / EXAMPLE_SWEEP.name
    # small size: 40 generations on a 3 x 3 grid, written into the copied base scenario
    base = tmp_path / "scenarios" / "deception_grid.toml"
    base.write_text(base.read_text().replace("generations = 400", "generations = 40")
                    .replace("C = 5\nD = 5", "C = 2\nD = 2"))
    assert main(["-q", "sweep", str(toml)]) == 0
    printed = capsys.readouterr().out
    assert "4/4 cells done" in printed
    res = SweepResult.open(sweep_dir / "deception-modes")
    assert res.names == ("fitness.mode", "locking.eta")
    data = tomllib.loads(base.read_text())
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["fitness.mode", "locking.eta"])
    for c, line in zip(res.cells, lines[header + 1:]):
        # oracle: the base scenario with the cell's keys set by hand, run directly
        edited = json.loads(json.dumps(data))
        edited["fitness"]["mode"] = c.params["fitness.mode"]
        edited["locking"]["eta"] = c.params["locking.eta"]
        ref = ae.run_scenario(edited)
        tr = res.load(c.index)
        np.testing.assert_array_equal(tr.mean_fitness, ref.mean_fitness)
        assert line.split()[:3] == [c.params["fitness.mode"], f"{c.params['locking.eta']:.4g}",
                                    f"{ref.mean_fitness[-1]:.4g}"]
    # human-judged fitness rewards deception, objective fitness does not (model section 6)
    d = res.collect(lambda tr: tr.trait_means["deception"][-1])
    assert np.all(d[0] > d[1])
    assert main(["-q", "sweep", str(toml)]) == 0  # resumed: nothing left to compute
    assert "computed 0 cell(s), found 4" in capsys.readouterr().out


def test_inline_base_with_a_finite_population_uses_each_cells_seed(tmp_path, capsys):
    toml = tmp_path / "s.toml"
    toml.write_text(
        'out = "res"\nworkers = 0\nseed = 3\n'
        "[base.scenario]\ngenerations = 5\npopulation = 50\n"
        '[base.graph]\nkind = "chain"\nfitness = [1.0, 2.0, 3.0]\n'
        '[grid]\ngraph.fitness = [[1.0, 2.0], [1.0, 1.5, 2.5]]\n"scenario.generations" = [3, 4]\n'
    )
    assert main(["-q", "sweep", str(toml)]) == 0
    res = SweepResult.open(tmp_path / "res")
    assert res.names == ("graph.fitness", "scenario.generations")
    children = np.random.SeedSequence(3).spawn(4)
    base = tomllib.loads(toml.read_text())["base"]
    for c in res.cells:
        ref = load_scenario(base, overrides=c.params).run(rng=np.random.default_rng(children[c.index]))
        np.testing.assert_array_equal(res.load(c.index).mean_fitness, ref.mean_fitness)
    table = summary_table(res).splitlines()
    assert table[0].split() == ["graph.fitness", "scenario.generations", "F_T", "growth", "dominant",
                                "dominant_share"]
    assert len(table) == 5


@pytest.mark.parametrize(
    "body, words",
    [
        ('base = "nope.toml"\nout = "r"\n[grid]\na = [1]\n', ["base='nope.toml'", "readable scenario file"]),
        ('base = "b.toml"\nout = "r"\n[grid]\ngraph.deph = [1]\n',
         ["grid.graph.deph=1", "did you mean 'depth'"]),
        ('base = "b.toml"\nout = "r"\n[grid]\ngraph.depth = []\n', ["grid.graph.depth", "non-empty array"]),
        ('base = "b.toml"\nscenario = "eta_locked_chain"\nout = "r"\n[grid]\na = [1]\n', ["exactly one of"]),
    ],
)
def test_base_sweep_file_errors_name_the_key(tmp_path, capsys, body, words):
    shutil.copy(ROOT / "examples" / "scenarios" / "binary_tree.toml", tmp_path / "b.toml")
    (tmp_path / "s.toml").write_text(body)
    assert main(["sweep", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    for w in words:
        assert w in err
    assert not (tmp_path / "r").exists()


def test_base_sweep_over_another_scenario_kind_stores_its_headline(tmp_path):
    src = ROOT / "examples" / "scenarios" / "evolving_mesa_optimizers.toml"
    (tmp_path / "s.toml").write_text(
        f'base = "{src.as_posix()}"\nout = "res"\nworkers = 0\nseed = 0\n'
        "[grid]\nlocking.eta = [0.1, 0.5]\nscenario.generations = [5]\nevaluator.draws = [20]\n"
        "design.K_max = [1]\n"
    )
    assert main(["-q", "sweep", str(tmp_path / "s.toml")]) == 0
    res = SweepResult.open(tmp_path / "res")
    for c in res.cells:
        # oracle: the same scenario run directly, its headline computed from the result object
        expected = headline(ae.run_scenario(load_scenario(src, overrides=c.params)))
        got = res.load(c.index)
        assert {k: np.asarray(v).item() for k, v in got.items()} == expected
    assert "human_judged dominant" in summary_table(res).splitlines()[0]


def test_builtin_sweep_prints_its_table(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(
        'scenario = "eta_locked_chain"\nout = "res"\nworkers = 0\n[grid]\neta = [0.0, 0.5]\ngenerations = [6]\n'
    )
    assert main(["-q", "sweep", str(tmp_path / "s.toml")]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["eta", "generations", "F_T"])
    res = SweepResult.open(tmp_path / "res")
    for c, line in zip(res.cells, lines[head + 1:]):
        assert float(line.split()[2]) == pytest.approx(res.load(c.index).mean_fitness[-1], rel=1e-3)  # 4 digits
