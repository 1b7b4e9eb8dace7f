"""The experiment: both evaluators, the scenario kind, Price and lineage checks, the figure."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import aievo as ae
from aievo.errors import ScenarioError
from aievo.evolving import ExperimentConfig, TaskDistribution, run_experiment
from aievo.figures.evolving import quick_config

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "scenarios" / "evolving_mesa_optimizers.toml"


@pytest.fixture(scope="module")
def quick():
    return run_experiment(quick_config())


def test_fitness_vectors_are_the_measured_scores(quick):
    for name, run in quick.runs.items():
        g = run.graph
        learners = quick.space.learners
        f = np.array([quick.evaluator.fitness(learners[i], name) for i in g.attrs["original"]])
        np.testing.assert_array_equal(g.fitness, f)


def test_identical_evaluator_and_deployment_give_identical_runs():
    cfg = quick_config()
    same = ExperimentConfig(proxy=cfg.deployment, deployment=cfg.deployment, rules=cfg.rules,
                            generations=60, draws=100, name="same")
    res = run_experiment(same)
    h, o = res.runs["human_judged"], res.runs["objective"]
    np.testing.assert_array_equal(h.graph.fitness, o.graph.fitness)
    np.testing.assert_array_equal(h.trajectory.mean_fitness, o.trajectory.mean_fitness)
    np.testing.assert_array_equal(h.trajectory.shares, o.trajectory.shares)
    for k in h.trajectory.trait_means:
        np.testing.assert_array_equal(h.trajectory.trait_means[k], o.trajectory.trait_means[k])
    np.testing.assert_array_equal(res.measured["deception"], 0.0)


def test_price_terms_add_up_to_the_change_of_the_trait_means(quick):
    for run in quick.runs.values():
        for trait in ("capability", "deception"):
            p = run.price[trait]
            z = run.trajectory.trait_means[trait]
            np.testing.assert_allclose(p.total, np.diff(z), rtol=0, atol=1e-10)
            np.testing.assert_allclose(p.selection + p.transmission, p.total, rtol=0, atol=1e-10)


def test_lineage_and_locking_bounds(quick):
    eta = quick.config.eta
    for name, run in quick.runs.items():
        F = quick.fitness(name).max()
        # R3: every locked copy is reachable, so the root's exponent is log F*
        assert run.lineage_root == pytest.approx(np.log(F), abs=1e-9)
        assert run.designer_rate <= np.log((1 - eta) * F) + 1e-9
        # and the mean fitness tends to F*
        assert run.trajectory.mean_fitness[-1] > F - 0.02


def test_human_judged_selects_deception_and_objective_capability(quick):
    h, o = quick.runs["human_judged"], quick.runs["objective"]
    assert h.final("deception") > o.final("deception") + 0.3
    assert o.final("capability") > h.final("capability") + 0.3
    assert h.final("deployment_loss") > 100 * h.final("proxy_loss")


def test_scenario_file_loads_as_its_kind_and_names_bad_keys(tmp_path):
    sc = ae.load_scenario(SCENARIO)
    assert sc.name == "evolving_mesa_optimizers" and sc.generations == 300
    assert sc.config.proxy == TaskDistribution(d=2, N=10, x_halfwidth=0.5)
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.read_text().replace("eta_grid", "eta_gird"))
    with pytest.raises(ScenarioError, match=r"^design\.eta_gird: unknown key"):
        ae.load_scenario(bad)
    bad.write_text(SCENARIO.read_text().replace('"evolving_mesa"', '"evolving"'))
    with pytest.raises(ScenarioError, match=r"^scenario\.kind"):
        ae.load_scenario(bad)
    bad.write_text(SCENARIO.read_text().replace("eta = 1.0, K = 1", "eta = 3.0, K = 1"))
    with pytest.raises(ScenarioError, match=r"eta_grid"):
        ae.load_scenario(bad)


def test_aievo_run_prints_both_evaluators_and_writes_the_figure(tmp_path, capsys):
    from aievo.cli import main

    assert main(["run", str(SCENARIO), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {}
    for name in ("human_judged", "objective"):
        m = re.search(rf"^  {name}\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+) \((\S+)\)$", out, re.M)
        assert m, out
        rows[name] = [float(m[i]) for i in (1, 2, 3, 4, 5)]
    # proxy loss, deployment loss, capability, deception: the divergence under human judgement
    assert rows["human_judged"][1] > 1e3 * rows["human_judged"][0]
    assert rows["human_judged"][3] > rows["objective"][3] + 0.3
    assert rows["objective"][2] > rows["human_judged"][2] + 0.3
    assert (tmp_path / "evolving_mesa_optimizers.png").stat().st_size > 10_000
    # the docs quote this output: it must be what the command prints today
    page = (ROOT / "docs" / "evolving-mesa-optimizers.md").read_text()
    head = "$ aievo run examples/scenarios/evolving_mesa_optimizers.toml\n"
    quoted = page[page.index(head) + len(head):].split("```", 1)[0]
    printed = "".join(line + "\n" for line in out.splitlines() if not line.startswith("  wrote "))
    assert quoted == printed


def test_figure_is_registered_and_shows_the_runs(quick):
    from aievo.figures import REGISTRY
    from aievo.figures.evolving import divergence_figure

    names = [n for n in REGISTRY if "evolving_mesa" in n]
    assert names and all(REGISTRY[n].group == "evolving" for n in names)
    fig = divergence_figure(quick)
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid()}
    for name, run in quick.runs.items():
        for trait in ("proxy_loss", "deployment_loss", "capability", "deception"):
            np.testing.assert_array_equal(lines[f"{name}:{trait}"].get_ydata(), run.trajectory.trait_means[trait])


@pytest.mark.slow
def test_docs_no_run_blocks_print_their_quoted_tables():
    """The sweep, the context-length variant and the trained layers quoted in the docs (about a minute)."""
    import contextlib
    import io

    page = (ROOT / "docs" / "evolving-mesa-optimizers.md").read_text()
    fences = re.findall(r"^```([^\n]*)\n(.*?)^```$", page, re.M | re.S)
    namespace: dict = {}
    checked = 0
    for i, (info, body) in enumerate(fences):
        if not info.startswith("python"):
            continue
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(body, "docs", "exec"), namespace)
        if info.strip() == "python no-run" and i + 1 < len(fences) and fences[i + 1][0] == "text":
            assert buf.getvalue() == fences[i + 1][1]
            checked += 1
    assert checked == 3


def test_scenario_data_with_other_root_and_detector():
    from aievo.evolving import LSA, ContextLength

    data = {
        "scenario": {"kind": "evolving_mesa", "generations": 5},
        "proxy": {"N": 10, "x_halfwidth": 1.0},
        "deployment": {"N": 20, "x_halfwidth": 1.0},
        "evaluator": {"draws": 50, "seed": 3},
        "design": {"root": {"learner": "LSA", "eta": 1.0, "K": 1, "N": 10}, "eta_grid": [1.0, 2.0], "K_max": 1,
                   "detector": "context_length"},
        "locking": {"eta": 0.5},
        "output": {"plot": ""},
    }
    sc = ae.load_scenario(data)
    assert sc.config.root == LSA(1.0, 1, 10) and sc.config.rules.detector == ContextLength(10)
    assert sc.plot_path is None and sc.name == "scenario"
    res = ae.run_scenario(sc)
    assert res.space.n == 2 + 4 and res.config.draws == 50
    with pytest.raises(ScenarioError, match=r"^design\.root\.lam: unknown key"):
        ae.load_scenario({**data, "design": {"root": {"learner": "LSA", "lam": 1.0}}})
