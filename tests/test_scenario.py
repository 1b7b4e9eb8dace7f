"""Scenario files: validation errors name the key; runs agree with a plain-numpy oracle."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo import scenario as scn
from aievo.errors import ScenarioError

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


def oracle(fitness, T, x0, generations):
    """Plain replicator-mutator iteration x_{t+1} = x_t diag(f) T / F_t (sparse or dense T)."""
    f = np.asarray(fitness, dtype=float)
    M = sp.csr_array(sp.diags_array(f) @ sp.csr_array(T))
    x = np.asarray(x0, dtype=float)
    F = [float(x @ f)]
    for _ in range(generations):
        x = (M.T @ x) / F[-1]
        F.append(float(x @ f))
    return np.array(F), x


def base(**graph):
    return {"scenario": {"generations": 10}, "graph": graph}


CHAIN = base(kind="chain", length=41, fitness={"rule": "power", "base": 1.0, "scale": 1.0, "ratio": 0.5})


# ---------------------------------------------------------------------- graph kinds
def test_chain_rules_match_closed_forms():
    k = np.arange(41)
    sc = scn.load_scenario(CHAIN)
    np.testing.assert_allclose(sc.graph.fitness, 1 + 0.5**k)
    sc = scn.load_scenario(base(kind="chain", length=5, fitness={"rule": "linear", "start": 2.0, "step": -0.25}))
    np.testing.assert_allclose(sc.graph.fitness, [2, 1.75, 1.5, 1.25, 1.0])
    sc = scn.load_scenario(base(kind="chain", length=7, fitness={"rule": "alternating", "values": [4, 1], "block": 2}))
    np.testing.assert_allclose(sc.graph.fitness, [4, 4, 1, 1, 4, 4, 1])
    # blocks of length 1, 2, 4, 8: 2 | 0.5 0.5 | 2 2 2 2 | 0.5 ...
    sc = scn.load_scenario(base(kind="chain", length=8, fitness={"rule": "doubling_blocks", "values": [2, 0.5]}))
    np.testing.assert_allclose(sc.graph.fitness, [2, 0.5, 0.5, 2, 2, 2, 2, 0.5])
    sc = scn.load_scenario(base(kind="chain", fitness=[1.0, 3.0]))
    np.testing.assert_allclose(sc.graph.T.toarray(), [[0, 1], [0, 1]])


def test_kary_tree_offsets_rule():
    sc = scn.load_scenario(
        base(kind="kary_tree", k=2, depth=2, prob=[0.25, 0.75],
             fitness={"rule": "offsets", "offsets": [-1.0, 1.0], "decay": 0.5}, root_fitness=2.0)
    )
    # breadth-first: children of i are 2i+1, 2i+2; depth-d offsets are +/- 0.5**(d-1)
    np.testing.assert_allclose(sc.graph.fitness, [2, 1, 3, 0.5, 1.5, 2.5, 3.5])
    assert sc.graph.T[0, 1] == 0.25 and sc.graph.T[0, 2] == 0.75


def test_binary_pm_tree_and_attr_set():
    sc = scn.load_scenario({**base(kind="binary_pm_tree", depth=3), "sets": {"ray": {"rule": "attr", "name": "plus"}}})
    f = sc.graph.fitness
    assert f[0] == 1 and f[2] == 1.5 and f[6] == 1.75 and f[14] == 1.875
    assert np.flatnonzero(sc.sets["ray"]).tolist() == [0, 2, 6, 14]


def test_lattice_plateaus():
    sc = scn.load_scenario(
        base(kind="lattice", n=10, mutation_rate=0.2, start=1,
             fitness={"rule": "plateaus", "baseline": 1.0,
                      "plateaus": [{"start": 1, "width": 1, "height": 2.0}, {"start": 5, "width": 3, "height": 1.5}]})
    )
    np.testing.assert_allclose(sc.graph.fitness, [1, 2, 1, 1, 1, 1.5, 1.5, 1.5, 1, 1])
    assert sc.graph.root == 1
    assert sc.graph.T[3, 4] == pytest.approx(0.1) and sc.graph.T[3, 3] == pytest.approx(0.8)


def test_trait_grid_kernel():
    sc = scn.load_scenario(
        {**base(kind="trait_grid", C=1, D=1), "fitness": {"mode": "human_judged", "capability": "c", "deception": "d"}}
    )
    # order (c, d): (0,0) (0,1) (1,0) (1,1); each designs c+1 or d+1 (clipped) w.p. 1/2
    expected = np.array([[0, .5, .5, 0], [0, .5, 0, .5], [0, 0, .5, .5], [0, 0, 0, 1]])
    np.testing.assert_allclose(sc.graph.T.toarray(), expected)
    np.testing.assert_allclose(sc.graph.fitness, [1, 2, 2, 3])


@pytest.mark.parametrize("mode", ["human_judged", "objective"])
def test_trait_grid_with_locking_equals_traits_deception_grid(mode):
    from aievo.traits import deception_grid

    sc = scn.load_scenario({**base(kind="trait_grid", C=3, D=2), "locking": {"eta": 0.2},
                            "fitness": {"mode": mode, "capability": "c", "deception": "d"}})
    ref = deception_grid(3, 2, 0.2, fitness=mode)  # the same vocabulary in Python and TOML
    np.testing.assert_allclose(sc.graph.T.toarray(), ref.T.toarray(), atol=1e-15)
    np.testing.assert_allclose(sc.graph.fitness, ref.fitness)


@pytest.mark.parametrize(
    "mode, F, c, d_strict", [("human_judged", 11.0, 5.0, False), ("objective", 6.0, 5.0, True)]
)
def test_deception_grid_matches_model_section6(mode, F, c, d_strict):
    data = {
        "scenario": {"generations": 400},
        "graph": {"kind": "trait_grid", "C": 5, "D": 5},
        "fitness": {"mode": mode, "capability": "c", "deception": "d"},
        "traits": {"c": "c", "d": "d"},
        "locking": {"eta": 0.2},
    }
    tr = scn.run_scenario(data)
    assert tr.mean_fitness[-1] == pytest.approx(F, abs=1e-9)
    assert tr.trait_means["c"][-1] == pytest.approx(c, abs=1e-9)
    d = tr.trait_means["d"][-1]
    if d_strict:
        assert 0.0 < d < 5.0
    else:
        assert d == pytest.approx(5.0, abs=1e-9)


def test_type_graph_unfold_gives_same_mean_fitness():
    tg = {"kind": "type_graph", "fitness": [1.0, 3.0, 1.5], "matrix": [[0.5, 0.5, 0], [0, 0, 1], [0, 0, 1]]}
    a = scn.run_scenario({"scenario": {"generations": 8}, "graph": tg})
    b = scn.run_scenario({"scenario": {"generations": 8}, "graph": {**tg, "unfold": 8}})
    np.testing.assert_allclose(a.mean_fitness, b.mean_fitness, rtol=1e-12)
    F, _ = oracle([1.0, 3.0, 1.5], np.array(tg["matrix"]), [1, 0, 0], 8)
    np.testing.assert_allclose(a.mean_fitness, F, rtol=1e-12)


# ---------------------------------------------------------------------- locking and sets
@pytest.mark.parametrize("eta", [0.1, 0.3, 0.6])
def test_chain_locking_and_preservation_model_section6(eta):
    lock = {**CHAIN, "scenario": {"generations": 200}, "locking": {"eta": eta},
            "sets": {"near": {"rule": "fitness_at_least", "value": 1.95}}}
    pres = {**CHAIN, "scenario": {"generations": 200}, "preservation": {"eta": eta}}
    tl, tp = scn.run_scenario(lock), scn.run_scenario(pres)
    assert tl.mean_fitness[-1] == pytest.approx(2.0, abs=1e-9)
    assert tl.set_shares["near"][-1] == pytest.approx(1.0, abs=1e-9)
    assert tp.mean_fitness[-1] == pytest.approx(1.0 if eta < 0.5 else 1.2, abs=1e-9)


def test_locking_table_builds_the_locked_graph_and_matches_oracle():
    sc = scn.load_scenario({**CHAIN, "locking": {"eta": 0.3}, "sets": {"L": {"rule": "locked"}}})
    ref = ae.with_locking(ae.chain(1 + 0.5 ** np.arange(41)), 0.3)
    np.testing.assert_allclose(sc.graph.T.toarray(), ref.T.toarray())
    assert sc.sets["L"].sum() == 41
    tr = sc.run()
    x0 = np.zeros(sc.graph.n)
    x0[0] = 1
    F, x = oracle(sc.graph.fitness, sc.graph.T, x0, 10)
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
    assert tr.set_shares["L"][-1] == pytest.approx(x[41:].sum(), rel=1e-12)


def test_set_rules_are_the_stated_masks():
    data = {
        **base(kind="type_graph", fitness=[1.0, 3.0, 1.5, 2.9], matrix=np.eye(4).tolist()),
        "traits": {"z": [0.0, 1.0, 2.0, 3.0]},
        "sets": {
            "near": {"rule": "near_max", "eps": 0.2},
            "near_given": {"rule": "near_max", "eps": 0.2, "F_star": 3.1},
            "ge": {"rule": "fitness_at_least", "value": 1.5},
            "lt": {"rule": "fitness_below", "value": 1.5},
            "z2": {"rule": "trait_at_least", "trait": "z", "value": 2},
            "zeq": {"rule": "trait_equals", "trait": "z", "value": 1},
            "nodes": {"rule": "nodes", "nodes": [0, 3]},
        },
    }
    s = scn.load_scenario(data).sets
    # F* is the reachable maximum: only type 0 (f = 1) is reachable, so f >= 0.8 holds everywhere
    assert s["near"].tolist() == [True, True, True, True]
    assert s["near_given"].tolist() == [False, True, False, True]
    assert s["ge"].tolist() == [False, True, True, True]
    assert s["lt"].tolist() == [True, False, False, False]
    assert s["z2"].tolist() == [False, False, True, True]
    assert s["zeq"].tolist() == [False, True, False, False]
    assert s["nodes"].tolist() == [True, False, False, True]


def test_initial_and_record_shares():
    data = {**base(kind="type_graph", fitness=[1.0, 2.0], matrix=[[0.5, 0.5], [0.0, 1.0]]),
            "output": {"record_shares": [3]}}
    data["scenario"] = {"generations": 6, "initial": [0.5, 0.5]}
    tr = scn.run_scenario(data)
    F, _ = oracle([1.0, 2.0], np.array([[0.5, 0.5], [0.0, 1.0]]), [0.5, 0.5], 3)
    _, x3 = F, oracle([1.0, 2.0], np.array([[0.5, 0.5], [0.0, 1.0]]), [0.5, 0.5], 3)[1]
    np.testing.assert_allclose(tr.shares_at(3), x3, rtol=1e-12)
    np.testing.assert_allclose(tr.mean_fitness[:4], F, rtol=1e-12)


def test_finite_population_is_reproducible_and_differs_by_seed():
    data = {**CHAIN, "scenario": {"generations": 30, "population": 50, "seed": 3}, "locking": {"eta": 0.3}}
    a, b = scn.run_scenario(data), scn.run_scenario(copy.deepcopy(data))
    np.testing.assert_array_equal(a.mean_fitness, b.mean_fitness)
    data["scenario"]["seed"] = 4
    c = scn.run_scenario(data)
    assert not np.array_equal(a.mean_fitness, c.mean_fitness)
    # K offspring: every share is a multiple of 1/K
    np.testing.assert_allclose(a.shares * 50, np.round(a.shares * 50), atol=1e-9)


@given(
    st.lists(st.floats(0.05, 5.0), min_size=1, max_size=12),
    st.floats(0.01, 1.0),
    st.sampled_from(["locking", "preservation"]),
    st.integers(0, 25),
)
def test_random_chains_agree_with_oracle(fitness, eta, table, generations):
    sc = scn.load_scenario({"scenario": {"generations": generations}, "graph": {"kind": "chain", "fitness": fitness},
                            table: {"eta": eta}})
    tr = sc.run()
    g = (ae.with_locking if table == "locking" else ae.with_preservation)(ae.chain(fitness), eta)
    x0 = np.zeros(g.n)
    x0[0] = 1
    F, x = oracle(g.fitness, g.T, x0, generations)
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-10)
    np.testing.assert_allclose(tr.shares, x, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------- errors name the key
def err(data, *fragments):
    with pytest.raises(ScenarioError) as info:
        scn.load_scenario(data)
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, msg
    return msg


def test_unknown_keys_are_errors_with_a_suggestion():
    err(base(kind="binary_pm_tree", depht=3), "graph.depht", "did you mean 'depth'")
    err({**base(kind="chain", fitness=[1.0]), "lockng": {"eta": 0.1}}, "lockng", "did you mean 'locking'")
    err({"scenario": {"generations": 1, "generation": 2}, "graph": {"kind": "chain", "fitness": [1]}},
        "scenario.generation")
    err({**CHAIN, "locking": {"eta": 0.1, "etta": 1}}, "locking.etta")
    err({**CHAIN, "sets": {"a": {"rule": "near_max", "eps": 0.1, "value": 2}}}, "sets.a.value")


def test_missing_and_ill_typed_keys():
    err({"graph": {"kind": "chain", "fitness": [1]}}, "scenario", "missing")
    err({"scenario": {"generations": 1}}, "graph", "missing")
    err(base(kind="binary_pm_tree"), "graph.depth", "missing")
    err(base(kind="binary_pm_tree", depth="3"), "graph.depth", "expected an integer")
    err(base(kind="binary_pm_tree", depth=-1), "graph.depth", ">= 0")
    err(base(kind="binary_pm_tree", depth=True), "graph.depth", "integer")
    err({"scenario": {"generations": 2.5}, "graph": {"kind": "chain", "fitness": [1]}}, "scenario.generations")
    err(base(kind="tree", depth=3), "graph.kind", "expected one of")
    err(base(kind="chain", fitness="1, 2"), "graph.fitness")
    err(base(kind="chain", length=3, fitness={"rule": "powr"}), "graph.fitness.rule", "did you mean 'power'")
    err(base(kind="chain", length=3, fitness={"rule": "power", "base": 1}), "graph.fitness.scale", "missing")
    err(base(kind="chain", fitness={"rule": "constant", "value": 1}), "graph.length")
    err(base(kind="kary_tree", k=2, depth=2, fitness={"rule": "factors", "factors": [1.0]}),
        "graph.fitness.factors", "expected 2")
    err(base(kind="type_graph", fitness=[1, 1], matrix=[[1, 0]]), "graph.matrix")
    err(base(kind="binary_pm_tree", depth=40), "graph.depth", "fits in memory")
    err(base(kind="kary_tree", k=10, depth=12, fitness={"rule": "constant", "value": 1}), "graph.depth",
        "1111111111111")


def test_engine_errors_are_wrapped_with_the_key():
    err(base(kind="chain", fitness=[1.0, -2.0]), "graph.fitness", "fitness[1]=-2.0", ">= 0")
    err(base(kind="type_graph", fitness=[1, 1], matrix=[[0.5, 0.4], [0, 1]]), "graph.matrix", "row 0")
    err({**CHAIN, "locking": {"eta": 0}}, "locking.eta", "(0, 1]")
    err({**CHAIN, "preservation": {"eta": 1.5}}, "preservation.eta", "(0, 1]")


def test_inconsistent_tables():
    err({**CHAIN, "locking": {"eta": 0.1}, "preservation": {"eta": 0.1}}, "preservation", "choose one")
    err({**CHAIN, "scenario": {"generations": 1, "seed": 1}}, "scenario.seed", "population")
    err({**CHAIN, "sets": {"l": {"rule": "locked"}}}, "sets.l", "[locking]")
    err({**CHAIN, "output": {"plot_what": ["trait:c"]}}, "output.plot_what")
    err({**CHAIN, "output": {"record_shares": [11]}}, "output.record_shares", "[0, 10]")
    err({**CHAIN, "traits": {"c": [1.0, 2.0]}}, "traits.c", "expected 41")
    err({**CHAIN, "traits": {"c": "nope"}}, "traits.c", "node attribute")
    err({**base(kind="trait_grid", C=2, D=2), "fitness": {"mode": "human_judged", "capability": "c"}},
        "fitness.deception")
    err({**base(kind="trait_grid", C=2, D=2), "fitness": {"mode": "honest", "capability": "c"}},
        "fitness.mode")
    err({**base(kind="trait_grid", C=2, D=2), "fitness": {"mode": "objective", "capability": "c", "slope": -1}},
        "fitness.slope", "increasing")
    err({**CHAIN, "scenario": {"generations": 3, "initial": 99}}, "scenario.initial")


def test_file_errors(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist"):
        scn.load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario]\ngenerations = \n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        scn.load_scenario(bad)
    # code in a string is data, not code: it is refused as a value of the wrong type
    evil = tmp_path / "evil.toml"
    evil.write_text('[scenario]\ngenerations = "__import__(\'os\').getcwd()"\n[graph]\nkind = "chain"\nfitness = [1]\n')
    with pytest.raises(ScenarioError, match="scenario.generations"):
        scn.load_scenario(evil)


# ---------------------------------------------------------------------- files and the command
def _cli(argv):
    p = argparse.ArgumentParser()
    scn.configure(p)
    return scn.run(p.parse_args(argv))


def test_command_writes_trajectory_and_plot(tmp_path, capsys):
    path = tmp_path / "lock.toml"
    path.write_text(
        '[scenario]\ngenerations = 50\n[graph]\nkind = "chain"\nfitness = [2.0, 1.0, 1.5]\n'
        '[locking]\neta = 0.5\n[sets]\ntop = { rule = "near_max", eps = 0.1 }\n'
    )
    out = tmp_path / "out"
    assert _cli([str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    tr = ae.Trajectory.load(out / "lock.npz")
    assert (out / "lock.png").stat().st_size > 1000
    assert (out / "lock.json").exists()
    g = ae.with_locking(ae.chain([2.0, 1.0, 1.5]), 0.5)
    x0 = np.zeros(g.n)
    x0[0] = 1
    F, _ = oracle(g.fitness, g.T, x0, 50)
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
    assert f"{F[-1]:.6g}" in text and "share top" in text


def test_command_reports_bad_file_through_cli_main(tmp_path, capsys):
    from aievo.cli import main

    path = tmp_path / "typo.toml"
    path.write_text('[scenario]\ngenerations = 5\n[graph]\nkind = "binary_pm_tree"\ndepht = 3\n')
    try:
        status = main(["run", str(path)])
    except (AttributeError, ImportError):  # another subcommand's module mid-construction
        pytest.skip("aievo.cli cannot build its parser yet")
    assert status == 2
    assert "graph.depht" in capsys.readouterr().err


def test_explicit_outputs_and_skipping(tmp_path):
    data = {**CHAIN, "output": {"trajectory": "sub/t.npz", "plot": ""}}
    sc = scn.load_scenario(data)
    tr = sc.run()
    written = scn.write_outputs(sc, tr, tmp_path)
    assert written == [tmp_path / "sub" / "t.npz"]
    assert not list(tmp_path.rglob("*.png"))


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_example_scenarios_load_and_agree_with_oracle(path):
    sc = scn.load_scenario(path)
    assert sc.name == path.stem
    if not isinstance(sc, scn.Scenario):
        return  # an evolving_mesa scenario: its fitness is measured, checked in tests/evolving
    if sc.graph.n > 5000 or sc.population:
        return  # large or stochastic: checked by the other tests
    if sc.payoff is not None or sc.evaluator is not None:
        return  # state-dependent fitness: checked in tests/test_scenario_state.py
    gens = min(sc.generations, 60)
    tr = ae.simulate(sc.graph, gens, initial=sc.initial)
    x0 = np.zeros(sc.graph.n)
    x0[sc.graph.root if sc.initial is None else sc.initial] = 1
    F, _ = oracle(sc.graph.fitness, sc.graph.T, x0, gens)
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-10)


FULL = {
    "scenario": {"generations": 3},
    "graph": {"kind": "trait_grid", "C": 1, "D": 1},
    "fitness": {"mode": "human_judged", "capability": "c", "deception": "d"},
    "locking": {"eta": 0.5},
    "output": {"plot": ""},
}
_ALLOWED = {
    "": set(scn._TOP),
    "scenario": {k.rstrip("*") for k in scn._SCENARIO_KEYS},
    "graph": {"kind"} | {k.rstrip("*") for k in scn.GRAPH_KINDS["trait_grid"]},
    "fitness": {k.rstrip("*") for k in scn._FITNESS_KEYS},
    "locking": {"eta"},
    "output": {k.rstrip("*") for k in scn._OUTPUT_KEYS},
}


@given(table=st.sampled_from(sorted(_ALLOWED)), key=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_any_unknown_key_is_refused_by_name(table, key):
    if key in _ALLOWED[table]:
        return
    data = copy.deepcopy(FULL)
    (data if table == "" else data[table])[key] = 1
    with pytest.raises(ScenarioError) as info:
        scn.load_scenario(data)
    name = key if table == "" else f"{table}.{key}"
    assert str(info.value).startswith(f"{name}: unknown key"), str(info.value)


# ---------------------------------------------------------------------- issue 18: outputs, sizes, CLI errors
@pytest.mark.parametrize(
    "table, key, value",
    [("output", "trajectory", "../../x.npz"), ("output", "plot", "/abs.png"),
     ("scenario", "name", "../../../elsewhere/run"), ("output", "plot", "sub/../../x.png"),
     ("output", "plot", "p.txt")],
)
def test_outputs_stay_inside_the_output_directory(tmp_path, table, key, value):
    data = copy.deepcopy(CHAIN)
    data.setdefault(table, {})[key] = value
    with pytest.raises(ScenarioError, match=rf"{table}\.{key}"):
        scn.load_scenario(data)


def test_a_symlink_inside_out_cannot_lead_outside(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere")
    sc = scn.load_scenario({**CHAIN, "output": {"trajectory": "link/t.npz", "plot": ""}})
    with pytest.raises(ScenarioError, match="outside the output directory"):
        scn.write_outputs(sc, sc.run(), out)
    assert not list((tmp_path / "elsewhere").iterdir())


def test_trait_grid_without_fitness_is_refused():
    with pytest.raises(ScenarioError, match=r"fitness: missing.*neutral"):
        scn.load_scenario({"scenario": {"generations": 3}, "graph": {"kind": "trait_grid", "C": 2, "D": 2}})


def test_huge_trees_in_files_fail_at_once():
    import time

    start = time.perf_counter()
    for graph in ({"kind": "kary_tree", "k": 3, "depth": 100_000_000, "fitness": {"rule": "constant", "value": 1}},
                  {"kind": "binary_pm_tree", "depth": 10**12}, {"kind": "random_tree", "n": 10**12},
                  {"kind": "trait_grid", "C": 10**7, "D": 10**7}):
        data = {"scenario": {"generations": 1}, "graph": graph, "fitness": {"mode": "objective", "capability": "c"}}
        if graph["kind"] != "trait_grid":
            del data["fitness"]
        with pytest.raises(ScenarioError, match="aievo.lazy"):
            scn.load_scenario(data)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("case", ["non-utf8", "directory", "unwritable-out", "outside"])
def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, capsys, case):
    from aievo.cli import main

    path = tmp_path / "s.toml"
    path.write_text('[scenario]\ngenerations = 3\n[graph]\nkind = "chain"\nfitness = [1.0, 2.0]\n')
    out = tmp_path / "out"
    if case == "non-utf8":
        path.write_bytes(b'[scenario]\nname = "\xff"\n')
    elif case == "directory":
        path = tmp_path
    elif case == "unwritable-out":
        out = tmp_path / "file"
        out.write_text("a file, not a directory")
    else:
        path.write_text(path.read_text() + '[output]\ntrajectory = "../x.npz"\n')
    try:
        status = main(["run", str(path), "--out", str(out)])
    except (AttributeError, ImportError):  # another subcommand's module mid-construction
        pytest.skip("aievo.cli cannot build its parser yet")
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("aievo run: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x.npz").exists()


def test_plot_is_written_atomically(tmp_path, monkeypatch):
    sc = scn.load_scenario(CHAIN)
    tr = sc.run()
    written = scn.write_outputs(sc, tr, tmp_path)
    png = [p for p in written if p.suffix == ".png"][0]
    good = png.read_bytes()
    import matplotlib.figure

    def broken(self, fh, **kwargs):
        fh.write(good[:200])
        raise OSError(27, "File too large")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken)
    with pytest.raises(ae.ResultFileError, match="File too large"):
        scn.write_outputs(sc, tr, tmp_path)
    assert png.read_bytes() == good
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
