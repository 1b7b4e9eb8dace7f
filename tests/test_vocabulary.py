"""Python and scenario files use one vocabulary: deception_grid's fitness= takes the [fitness] modes."""

from __future__ import annotations

import numpy as np
import pytest

from aievo.errors import InvalidParameterError
from aievo.scenario import FITNESS_MODES, load_scenario
from aievo.traits import deception_grid


@pytest.mark.parametrize("mode", sorted(FITNESS_MODES))
def test_deception_grid_takes_the_scenario_modes_and_builds_the_same_graph(mode):
    g = deception_grid(2, 1, 0.3, fitness=mode)
    sc = load_scenario({
        "scenario": {"generations": 1}, "graph": {"kind": "trait_grid", "C": 2, "D": 1},
        "fitness": {"mode": mode, "capability": "c", "deception": "d"}, "locking": {"eta": 0.3},
    })
    np.testing.assert_array_equal(g.fitness, sc.graph.fitness)
    # oracle: the formulas of FITNESS_MODES with base = slope = 1
    c, d = g.attrs["c"], g.attrs["d"]
    np.testing.assert_array_equal(g.fitness, 1 + c + d if mode == "human_judged" else 1 + c)


def test_old_spelling_human_warns_and_means_human_judged():
    with pytest.warns(DeprecationWarning, match='fitness="human_judged"'):
        old = deception_grid(2, 2, 0.2, fitness="human")
    new = deception_grid(2, 2, 0.2, fitness="human_judged")
    np.testing.assert_array_equal(old.fitness, new.fitness)
    np.testing.assert_array_equal(old.T.toarray(), new.T.toarray())
    with pytest.raises(InvalidParameterError, match='"human_judged" or "objective"'):
        deception_grid(2, 2, 0.2, fitness="judged")
