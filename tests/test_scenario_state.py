"""The scenario keys of state-dependent fitness: ``[payoff]`` and ``[evaluator]``."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import aievo as ae
from aievo import scenario as scn
from aievo.errors import ScenarioError
from aievo.state import DETECTION

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"

HD = {
    "scenario": {"generations": 300, "initial": [0.9, 0.1]},
    "graph": {"kind": "type_graph", "matrix": [[1, 0], [0, 1]], "fitness": [5.0, 5.0]},
    "payoff": {"matrix": [[-1.5, 2.0], [0.0, 1.0]]},
    "output": {"plot": ""},
}


def test_hawk_dove_file_reaches_V_over_C():
    sc = scn.load_scenario(SCENARIOS / "hawk_dove.toml")
    tr = sc.run()
    assert abs(tr.shares[0] - 2.0 / 5.0) < 1e-9
    assert abs(tr.set_shares["hawks"][-1] - 0.4) < 1e-9


def test_learning_evaluator_file_settles_at_break_even():
    sc = scn.load_scenario(SCENARIOS / "learning_evaluator.toml")
    assert isinstance(sc.evaluator, ae.LearningEvaluator)
    tr = sc.run()
    ev = ae.LearningEvaluator(rate=0.1, sensitivity=0.2, penalty=1.0)
    assert abs(tr.trait_means["deception"][-1] - ev.break_even()) < 1e-3
    assert abs(tr.trait_means[DETECTION][-1] - 0.5) < 1e-3
    assert "trait:detection" in sc.plot_what


def test_payoff_groups_and_group_by():
    data = copy.deepcopy(HD)
    data["locking"] = {"eta": 0.5}  # 4 programs; the locked copies play as their originals
    data["scenario"]["initial"] = [0.9, 0.1, 0.0, 0.0]
    data["payoff"]["group_by"] = "original"
    sc = scn.load_scenario(data)
    assert sc.payoff.groups.tolist() == [0, 1, 0, 1]
    data["payoff"].pop("group_by")
    data["payoff"]["groups"] = [0, 1, 0, 1]
    tr = scn.load_scenario(data).run()
    x = tr.shares
    assert abs(x[0] + x[2] - 0.4) < 1e-9


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["payoff"].update(matrix=[[1.0]]), "payoff.matrix"),
        (lambda d: d["payoff"].update(groups=[0, 5]), "payoff.groups"),
        (lambda d: d["payoff"].update(group_by="nope"), "payoff.group_by"),
        (lambda d: d["payoff"].update(matrx=1), "payoff.matrx: unknown key"),
        (lambda d: d["scenario"].update(population=10), "payoff: not allowed with scenario.population"),
        (lambda d: d.update(evaluator={"rate": 0.1}), "evaluator.sensitivity: missing"),
        (lambda d: d.update(evaluator={"rate": 2.0, "sensitivity": 1.0, "deception": "type"}), "rate"),
        (lambda d: d.update(evaluator={"rate": 0.1, "sensitivity": 1.0}), "evaluator.deception"),
    ],
)
def test_bad_keys_are_named(edit, message):
    data = copy.deepcopy(HD)
    edit(data)
    with pytest.raises(ScenarioError, match=message):
        scn.load_scenario(data)


def test_negative_fitness_during_a_run_is_a_scenario_error():
    data = copy.deepcopy(HD)
    data["graph"]["fitness"] = [0.5, 0.5]
    with pytest.raises(ScenarioError, match="generation 0"):
        scn.load_scenario(data).run()
