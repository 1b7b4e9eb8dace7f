"""Simplified forms: chosen on the proxy, measured on both samples (against aievo.mesa's agreement)."""

from __future__ import annotations

import numpy as np
import pytest

from aievo.errors import InvalidParameterError
from aievo.evolving import (
    GD,
    Branch,
    Evaluator,
    InputRange,
    Ridge,
    TaskDistribution,
    simplified_forms,
)
from aievo.mesa.faithfulness import agreement

EV = Evaluator(TaskDistribution(x_halfwidth=0.5), TaskDistribution(x_halfwidth=1.5), draws=200, seed=4)
LEARNERS = [GD(8.0, 3), GD(2.0, 3, 0.03), Ridge(0.01), Branch(InputRange(0.5), Ridge(0.01), GD(16.0, 3))]


def test_forms_are_the_closest_candidates_and_rel_diff_is_agreements():
    fm = simplified_forms(EV, LEARNERS)
    for i, v in enumerate(LEARNERS):
        p = EV.predictions(v, "proxy")
        dists = [np.mean((p - EV.predictions(c, "proxy")) ** 2) for c in fm.candidates]
        assert fm.form[i] == int(np.argmin(dists))
        c = fm.candidates[fm.form[i]]
        for which in ("proxy", "deployment"):
            yq = EV.tasks(which)[3]
            ref = agreement(EV.predictions(v, which), EV.predictions(c, which), yq)["rel_diff"]
            assert getattr(fm, f"rel_diff_{which}")[i] == pytest.approx(ref, rel=1e-12)


def test_a_candidate_is_its_own_faithful_form_and_a_proxy_branch_is_not():
    fm = simplified_forms(EV, LEARNERS)
    assert fm.name(2) == "Ridge(lam=0.01)" and fm.rel_diff_proxy[2] == 0 and fm.rel_diff_deployment[2] == 0
    # the branch is ridge where the evaluator looks and diverging GD elsewhere
    assert fm.rel_diff_proxy[3] == 0 and fm.rel_diff_deployment[3] > 0.9


def test_weighted_median():
    fm = simplified_forms(EV, LEARNERS)
    v = fm.rel_diff_deployment
    order = np.argsort(v)
    w = np.zeros(len(LEARNERS))
    w[order[-1]] = 0.6  # the learner with the largest value holds most of the population
    w[order[0]] = 0.4
    assert fm.median("deployment", w) == v[order[-1]]
    with pytest.raises(InvalidParameterError, match="shares"):
        fm.median("deployment", np.zeros(len(LEARNERS)))
