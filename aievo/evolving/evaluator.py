"""Fitness by evaluation: learners scored by running them on sampled tasks.

An :class:`Evaluator` holds two task distributions: the *proxy* it scores
learners on when humans judge, and the *deployment* distribution the learners
will face. Both are in-context linear regression
(:func:`aievo.mesa.sample_regression_tasks`), differing for example in the
input range or the context length.

Score and fitness
-----------------
A learner's prediction ``yhat`` on a task with query label ``yq`` has the
loss ``l = (yhat - yq)^2 / 2`` (the convention of
:func:`aievo.mesa.regression_loss`) and the *score* ``s = 1 / (1 + l)`` in
``(0, 1]`` (a non-finite prediction has ``l = inf`` and ``s = 0``). A
learner's score on a distribution is the mean of ``s`` over ``draws`` sampled
tasks, reported with its Monte-Carlo standard error ``std(s) / sqrt(draws)``.
Then, for a learner ``v``:

* *human-judged fitness* ``f(v)`` = its proxy score;
* *objective fitness* ``f(v)`` = its deployment score;
* *capability* ``c(v)`` = its deployment score;
* *deception* ``d(v)`` = proxy score minus deployment score (negative when the
  learner does better in deployment than the evaluator saw).

So human-judged fitness is ``phi(c + d)`` and objective fitness ``phi(c)``
with ``phi(s) = s``: the additive model of :mod:`aievo.traits`, with traits
measured rather than assigned. The score is bounded (fitness ``<= 1``), so
the bounded-fitness assumption of the locking theorem holds.

Measurements are seeded (the same ``seed`` gives the same task samples; the
proxy and deployment samples are drawn with the same seed, so identical
distributions give identical samples) and cached per learner. The
predictions of a :class:`~aievo.evolving.learners.Branch` are composed from
the cached predictions of its two sides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, bad_argument
from .learners import Branch, Learner

__all__ = ["TaskDistribution", "Measurement", "Evaluator", "EVALUATORS", "score_of_loss"]

#: The two ways of turning scores into fitness.
EVALUATORS = ("human_judged", "objective")


def score_of_loss(loss: np.ndarray) -> np.ndarray:
    """The score ``1 / (1 + loss)`` of per-task losses (``loss = inf`` gives 0)."""
    return 1.0 / (1.0 + np.asarray(loss, dtype=np.float64))


@dataclass(frozen=True)
class TaskDistribution:
    """A distribution of in-context linear-regression tasks.

    Parameters
    ----------
    d : int
        Input dimension.
    N : int
        Context length.
    x_halfwidth : float
        Inputs uniform on ``[-x_halfwidth, x_halfwidth]^d``.
    w_scale : float
        Weights ``w ~ N(0, w_scale^2 I)``.
    noise : float
        Label noise standard deviation.
    """

    d: int = 2
    N: int = 10
    x_halfwidth: float = 0.5
    w_scale: float = 1.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("d", "N"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise bad_argument(InvalidParameterError, name, v, "an integer >= 1")
        for name, strict in (("x_halfwidth", True), ("w_scale", False), ("noise", False)):
            v = float(getattr(self, name))
            if not np.isfinite(v) or v < 0 or (strict and v == 0):
                want = "a finite number > 0" if strict else "a finite number >= 0"
                raise bad_argument(InvalidParameterError, name, getattr(self, name), want)
            object.__setattr__(self, name, v)

    def describe(self) -> str:
        """A one-line description."""
        s = f"d={self.d}, N={self.N}, |x| <= {self.x_halfwidth:g}"
        if self.w_scale != 1.0:
            s += f", w_scale={self.w_scale:g}"
        if self.noise:
            s += f", noise={self.noise:g}"
        return s

    def sample(self, rng: Any, B: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``B`` tasks ``(X, y, xq, yq)`` from :func:`aievo.mesa.sample_regression_tasks`."""
        from ..mesa.tasks import sample_regression_tasks

        X, y, xq, yq, _ = sample_regression_tasks(
            rng, B, self.d, self.N, x_halfwidth=self.x_halfwidth, w_scale=self.w_scale, noise=self.noise
        )
        return X, y, xq, yq


@dataclass(frozen=True)
class Measurement:
    """A learner's measured score and loss on one distribution, with Monte-Carlo errors.

    Attributes
    ----------
    score, score_se : float
        Mean of ``1 / (1 + loss)`` over the tasks, and its standard error.
    loss, loss_se : float
        Mean loss ``(yhat - yq)^2 / 2`` and its standard error.
    draws : int
        Number of tasks.
    """

    score: float
    score_se: float
    loss: float
    loss_se: float
    draws: int


def _task_loss(pred: np.ndarray, yq: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        loss = 0.5 * (pred - yq) ** 2
    return np.where(np.isfinite(loss), loss, np.inf)


def _measure(pred: np.ndarray, yq: np.ndarray) -> Measurement:
    loss = _task_loss(pred, yq)
    s = score_of_loss(loss)
    B = s.size
    with np.errstate(invalid="ignore"):
        loss_se = float(loss.std(ddof=1) / np.sqrt(B)) if np.all(np.isfinite(loss)) else float("inf")
    return Measurement(
        score=float(s.mean()),
        score_se=float(s.std(ddof=1) / np.sqrt(B)),
        loss=float(loss.mean()),
        loss_se=loss_se,
        draws=int(B),
    )


@dataclass(eq=False)
class Evaluator:
    """Scores learners on a proxy and a deployment task distribution.

    Parameters
    ----------
    proxy : TaskDistribution
        What the evaluator looks at (human-judged fitness).
    deployment : TaskDistribution
        What the learners will face (objective fitness, capability).
    draws : int
        Tasks sampled from each distribution (the Monte-Carlo sample size).
    seed : int
        Seed of both task samples.

    Examples
    --------
    >>> from aievo.evolving import Evaluator, TaskDistribution, GD
    >>> ev = Evaluator(TaskDistribution(x_halfwidth=0.5), TaskDistribution(x_halfwidth=1.5), draws=200, seed=0)
    >>> m = ev.measure(GD(8.0, 3), "proxy")
    >>> m.score > ev.measure(GD(8.0, 3), "deployment").score + 10 * m.score_se
    True
    """

    proxy: TaskDistribution
    deployment: TaskDistribution
    draws: int = 400
    seed: int = 0
    _tasks: dict[str, tuple] = field(default_factory=dict, init=False, repr=False)
    _pred: dict[tuple[str, Learner], np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _meas: dict[tuple[str, Learner], Measurement] = field(default_factory=dict, init=False, repr=False)
    _masks: dict[tuple[str, Any], np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("proxy", "deployment"):
            if not isinstance(getattr(self, name), TaskDistribution):
                raise bad_argument(InvalidParameterError, name, getattr(self, name), "a TaskDistribution")
        if isinstance(self.draws, bool) or not isinstance(self.draws, (int, np.integer)) or self.draws < 2:
            raise bad_argument(InvalidParameterError, "draws", self.draws, "an integer >= 2")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise bad_argument(InvalidParameterError, "seed", self.seed, "an integer >= 0")

    def _dist(self, which: str) -> TaskDistribution:
        if which == "proxy":
            return self.proxy
        if which == "deployment":
            return self.deployment
        raise bad_argument(InvalidParameterError, "which", which, '"proxy" or "deployment"')

    def tasks(self, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The (cached) task sample ``(X, y, xq, yq)`` of ``"proxy"`` or ``"deployment"``."""
        dist = self._dist(which)
        if which not in self._tasks:
            self._tasks[which] = dist.sample(np.random.default_rng(self.seed), self.draws)
        return self._tasks[which]

    def predictions(self, learner: Learner, which: str) -> np.ndarray:
        """The learner's predictions on the task sample (cached; branches composed from their sides)."""
        key = (which, learner)
        if key not in self._pred:
            X, y, xq, _ = self.tasks(which)
            if isinstance(learner, Branch):
                mk = (which, learner.detector)
                if mk not in self._masks:
                    self._masks[mk] = np.asarray(learner.detector.detects(X, y, xq), dtype=bool)
                pred = learner.combine(
                    self._masks[mk], self.predictions(learner.inside, which), self.predictions(learner.outside, which)
                )
            else:
                pred = np.asarray(learner.predict(X, y, xq), dtype=np.float64)
            self._pred[key] = pred
        return self._pred[key]

    def measure(self, learner: Learner, which: str) -> Measurement:
        """Score and loss of ``learner`` on ``"proxy"`` or ``"deployment"`` (cached)."""
        key = (which, learner)
        if key not in self._meas:
            self._meas[key] = _measure(self.predictions(learner, which), self.tasks(which)[3])
        return self._meas[key]

    def scores(self, learner: Learner, which: str) -> np.ndarray:
        """Per-task scores ``1 / (1 + loss)`` of ``learner`` on the task sample of ``which``."""
        return score_of_loss(_task_loss(self.predictions(learner, which), self.tasks(which)[3]))

    def paired_difference(self, a: Learner, b: Learner, which: str) -> tuple[float, float]:
        """Score of ``a`` minus score of ``b`` on the same tasks, and its Monte-Carlo error.

        Both learners are scored on the same sample (common random numbers), so
        the error of the difference is that of the per-task differences, often
        much smaller than the two errors combined.
        """
        diff = self.scores(a, which) - self.scores(b, which)
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(diff.size))

    def fitness(self, learner: Learner, evaluator: str) -> float:
        """Human-judged (proxy score) or objective (deployment score) fitness of ``learner``."""
        if evaluator not in EVALUATORS:
            raise bad_argument(InvalidParameterError, "evaluator", evaluator, f"one of {list(EVALUATORS)}")
        return self.measure(learner, "proxy" if evaluator == "human_judged" else "deployment").score

    def table(self, learners: Iterable[Learner]) -> dict[str, np.ndarray]:
        """Measurements of many learners as arrays.

        Returns
        -------
        dict
            ``proxy_score``, ``proxy_se``, ``proxy_loss``, ``deployment_score``,
            ``deployment_se``, ``deployment_loss``, ``capability``
            (= deployment score) and ``deception`` (= proxy - deployment score),
            one entry per learner.
        """
        learners = list(learners)
        out: dict[str, np.ndarray] = {}
        for which in ("proxy", "deployment"):
            # the same statistics as `measure`, for all learners at once
            P = np.stack([self.predictions(v, which) for v in learners]) if learners else np.zeros((0, self.draws))
            loss = _task_loss(P, self.tasks(which)[3][None, :])
            s = score_of_loss(loss)
            out[f"{which}_score"] = s.mean(axis=1)
            out[f"{which}_se"] = s.std(axis=1, ddof=1) / np.sqrt(self.draws)
            out[f"{which}_loss"] = loss.mean(axis=1)
        out["capability"] = out["deployment_score"].copy()
        out["deception"] = out["proxy_score"] - out["deployment_score"]
        return out
