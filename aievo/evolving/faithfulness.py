"""Faithfulness of the learners' simplified forms where the evaluator looks and where it does not.

An inspector who studies a learner on the evaluator's proxy tasks describes it
by the simple algorithm it most resembles there: its *simplified form*, the
candidate (by default ridge regression with one of a few penalties, or one
step of gradient descent) whose predictions on the proxy sample are closest
to the learner's in mean square. As for the simplified proxies of trained
mesa-optimizers (:mod:`aievo.mesa.faithfulness`, after Friedman et al.), the
question is whether that description stays faithful out of distribution: the
relative RMS disagreement ``rel_diff = sqrt(mean (yhat_simple - yhat)^2) /
sqrt(mean yhat^2)`` (:func:`aievo.mesa.faithfulness.agreement`) is measured on
the proxy sample and on the deployment sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError, bad_argument
from .evaluator import Evaluator
from .learners import GD, Learner, Ridge

__all__ = ["SIMPLE_FORMS", "SimplifiedForms", "simplified_forms"]

#: Default candidate descriptions: ridge (least squares, lightly penalised) and one GD step.
SIMPLE_FORMS: tuple[Learner, ...] = tuple(
    Ridge(lam) for lam in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
) + tuple(GD(eta, 1) for eta in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0))


@dataclass(frozen=True, eq=False)
class SimplifiedForms:
    """The simplified form of each learner and its faithfulness on both samples.

    Attributes
    ----------
    candidates : tuple of learners
        The candidate descriptions.
    form : ndarray of int, shape (n,)
        Index (into ``candidates``) of each learner's simplified form.
    rel_diff_proxy, rel_diff_deployment : ndarray, shape (n,)
        Relative RMS disagreement of learner and simplified form on each sample.
    """

    candidates: tuple[Learner, ...]
    form: np.ndarray
    rel_diff_proxy: np.ndarray
    rel_diff_deployment: np.ndarray

    def name(self, i: int) -> str:
        """The name of learner ``i``'s simplified form."""
        return self.candidates[int(self.form[i])].name

    def median(self, which: str, shares: np.ndarray) -> float:
        """The population's median ``rel_diff`` on ``"proxy"`` or ``"deployment"``, learners weighted by ``shares``.

        The smallest value ``r`` such that learners with ``rel_diff <= r`` hold at
        least half of the population.
        """
        if which not in ("proxy", "deployment"):
            raise bad_argument(InvalidParameterError, "which", which, '"proxy" or "deployment"')
        v = getattr(self, f"rel_diff_{which}")
        w = np.asarray(shares, dtype=np.float64)
        if w.shape != v.shape or (w < 0).any() or not w.sum() > 0:
            raise bad_argument(InvalidParameterError, "shares", shares, f"{v.size} non-negative weights, not all 0")
        order = np.argsort(v, kind="stable")
        cum = np.cumsum(w[order])
        return float(v[order][np.searchsorted(cum, 0.5 * cum[-1])])


def _rel_diff(P: np.ndarray, S: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        num = np.sqrt(np.mean((S - P) ** 2, axis=1))
        den = np.sqrt(np.mean(P * P, axis=1))
        out = num / den
    return np.where(np.isfinite(out), out, np.inf)


def simplified_forms(
    evaluator: Evaluator, learners: Sequence[Learner], candidates: Sequence[Learner] | None = None
) -> SimplifiedForms:
    """Fit each learner's simplified form on the proxy sample and measure its faithfulness.

    Parameters
    ----------
    evaluator : Evaluator
        Its proxy sample chooses the forms; both samples measure them.
    learners : sequence of learners
    candidates : sequence of learners, optional
        Default :data:`SIMPLE_FORMS`.

    Returns
    -------
    SimplifiedForms
    """
    cands = tuple(SIMPLE_FORMS if candidates is None else candidates)
    if not cands:
        raise bad_argument(InvalidParameterError, "candidates", candidates, "at least one learner")
    learners = list(learners)

    def stacks(which: str) -> tuple[np.ndarray, np.ndarray]:
        P = np.stack([evaluator.predictions(v, which) for v in learners])
        return P, np.stack([evaluator.predictions(c, which) for c in cands])

    # the form is chosen where the inspector looks, on the proxy sample
    P, C = stacks("proxy")
    dist = np.empty((P.shape[0], C.shape[0]))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(C.shape[0]):
            dist[:, k] = ((P - C[k]) ** 2).mean(axis=1)
    form = np.argmin(np.where(np.isfinite(dist), dist, np.inf), axis=1)
    rel_proxy = _rel_diff(P, C[form])
    P, C = stacks("deployment")
    return SimplifiedForms(cands, form, rel_proxy, _rel_diff(P, C[form]))
