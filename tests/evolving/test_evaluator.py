"""Fitness by evaluation: measured scores, their Monte-Carlo errors, caching and seeding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError
from aievo.evolving import GD, Branch, Evaluator, InputRange, Ridge, TaskDistribution
from aievo.mesa import sample_regression_tasks

PROXY = TaskDistribution(d=2, N=10, x_halfwidth=0.5)
DEPLOY = TaskDistribution(d=2, N=10, x_halfwidth=1.5)
LEARNERS = [GD(1.0, 1), GD(8.0, 3), GD(2.0, 3, 0.03), Ridge(0.1), Branch(InputRange(0.5), GD(8.0, 3), GD(1.0, 3))]


def test_score_is_the_mean_of_per_task_scores_computed_by_hand():
    ev = Evaluator(PROXY, DEPLOY, draws=300, seed=5)
    X, y, xq, yq, _ = sample_regression_tasks(5, 300, 2, 10, x_halfwidth=1.5)
    yhat = GD(2.0, 2).predict(X, y, xq)
    s = 1 / (1 + 0.5 * (yhat - yq) ** 2)
    m = ev.measure(GD(2.0, 2), "deployment")
    assert m.score == pytest.approx(s.mean(), rel=1e-12)
    assert m.score_se == pytest.approx(s.std(ddof=1) / np.sqrt(300), rel=1e-10)
    assert m.loss == pytest.approx(np.mean(0.5 * (yhat - yq) ** 2), rel=1e-12)


@pytest.mark.parametrize("learner", LEARNERS, ids=lambda v: v.name)
@pytest.mark.parametrize("which", ["proxy", "deployment"])
def test_fitness_equals_an_independent_measurement_within_its_error(learner, which):
    a = Evaluator(PROXY, DEPLOY, draws=400, seed=0).measure(learner, which)
    b = Evaluator(PROXY, DEPLOY, draws=400, seed=1).measure(learner, which)
    # independent samples: the difference is ~ N(0, se_a^2 + se_b^2); 4 errors = a 6e-5 chance per check
    assert abs(a.score - b.score) <= 4 * np.hypot(a.score_se, b.score_se) + 1e-15


def test_fitness_is_the_measured_score():
    ev = Evaluator(PROXY, DEPLOY, draws=200, seed=2)
    for v in LEARNERS:
        assert ev.fitness(v, "human_judged") == ev.measure(v, "proxy").score
        assert ev.fitness(v, "objective") == ev.measure(v, "deployment").score


def test_table_equals_one_by_one_measurements():
    ev = Evaluator(PROXY, DEPLOY, draws=200, seed=2)
    t = ev.table(LEARNERS)
    for i, v in enumerate(LEARNERS):
        for which in ("proxy", "deployment"):
            m = ev.measure(v, which)
            assert t[f"{which}_score"][i] == pytest.approx(m.score, rel=1e-14)
            assert t[f"{which}_se"][i] == pytest.approx(m.score_se, rel=1e-10)
            assert t[f"{which}_loss"][i] == pytest.approx(m.loss, rel=1e-14)
    np.testing.assert_array_equal(t["capability"], t["deployment_score"])
    np.testing.assert_array_equal(t["deception"], t["proxy_score"] - t["deployment_score"])


def test_cached_branch_predictions_equal_direct_ones():
    ev = Evaluator(PROXY, DEPLOY, draws=100, seed=3)
    b = LEARNERS[-1]
    for which in ("proxy", "deployment"):
        X, y, xq, _ = ev.tasks(which)
        np.testing.assert_array_equal(ev.predictions(b, which), b.predict(X, y, xq))
    # the branch is its inside on the proxy and its outside in deployment (the detector never errs here)
    np.testing.assert_array_equal(ev.predictions(b, "proxy"), ev.predictions(b.inside, "proxy"))
    np.testing.assert_array_equal(ev.predictions(b, "deployment"), ev.predictions(b.outside, "deployment"))


def test_same_seed_same_numbers_and_identical_distributions_give_identical_samples():
    a = Evaluator(PROXY, DEPLOY, draws=100, seed=7).measure(GD(4.0, 2), "proxy")
    b = Evaluator(PROXY, DEPLOY, draws=100, seed=7).measure(GD(4.0, 2), "proxy")
    assert a == b
    ev = Evaluator(DEPLOY, DEPLOY, draws=100, seed=7)
    for x, y in zip(ev.tasks("proxy"), ev.tasks("deployment")):
        np.testing.assert_array_equal(x, y)


def test_paired_difference_is_the_difference_of_scores():
    ev = Evaluator(PROXY, DEPLOY, draws=200, seed=0)
    d, se = ev.paired_difference(GD(8.0, 3), GD(1.0, 1), "proxy")
    assert d == pytest.approx(ev.measure(GD(8.0, 3), "proxy").score - ev.measure(GD(1.0, 1), "proxy").score)
    assert 0 < se


def test_bad_arguments():
    with pytest.raises(InvalidParameterError, match="draws"):
        Evaluator(PROXY, DEPLOY, draws=1)
    with pytest.raises(InvalidParameterError, match="which"):
        Evaluator(PROXY, DEPLOY).measure(GD(1.0, 1), "train")
    with pytest.raises(InvalidParameterError, match="evaluator"):
        Evaluator(PROXY, DEPLOY).fitness(GD(1.0, 1), "human")
    with pytest.raises(InvalidParameterError, match="x_halfwidth"):
        TaskDistribution(x_halfwidth=0.0)


@given(
    h=st.floats(0.1, 2.0),
    widths=st.lists(st.floats(0.1, 2.0), min_size=2, max_size=6),
    seed=st.integers(0, 2**16),
)
def test_branch_predictions_compose_per_task(h, widths, seed):
    """Tasks of several input ranges in one batch: a branch is its inside exactly where every input is within h."""
    parts = [sample_regression_tasks(seed + i, 3, 2, 5, x_halfwidth=w) for i, w in enumerate(widths)]
    X, y, xq = (np.concatenate([p[k] for p in parts]) for k in range(3))
    inside, outside = GD(2.0, 2), Ridge(0.5)
    mask = np.abs(X).max(axis=(1, 2)) <= h
    out = Branch(InputRange(h), inside, outside).predict(X, y, xq)
    np.testing.assert_array_equal(out[mask], inside.predict(X, y, xq)[mask])
    np.testing.assert_array_equal(out[~mask], outside.predict(X, y, xq)[~mask])
