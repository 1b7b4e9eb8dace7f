"""The fate of finite populations: fixation and concentration probabilities.

Beyond the paper, whose population is infinite. ``K`` individuals evolve on a
:class:`~aievo.graph.DesignGraph` by one of two processes:

* ``"wright_fisher"``: every generation the ``K`` individuals are replaced by
  ``K`` offspring, each with a parent drawn with probability proportional to
  ``n(v) f(v)`` and a design drawn from ``T(v, .)`` (the multinomial sampling
  of ``simulate(..., population=K)``);
* ``"moran"`` (birth-death): one event draws a parent the same way; its
  offspring replaces an individual drawn uniformly among the ``K`` (possibly
  the parent itself). ``K`` events make one generation.

Two questions are estimated from many independent replicates run in one
compiled loop (:mod:`aievo._fate_kernels`):

* :func:`fixation_probability`: the probability that a target set of programs
  takes over the whole population before it disappears from it;
* :func:`concentration_probability`: the probability that at generation ``t``
  at least a share ``level`` of the population sits on programs with
  ``f >= F* - eps``, the finite-population version of the concentration
  that eta-locking guarantees to an infinite population.

Each returns a :class:`FateEstimate`: the fraction of successful replicates and a
binomial confidence interval (Wilson score by default, or Clopper-Pearson; see
:func:`proportion_ci`).

Closed forms the estimators are tested against (Moran, no design change:
``T = I``): ``i`` individuals of relative fitness ``r`` among ``K`` fix with
probability ``(1 - r^-i) / (1 - r^-K)``; neutral (``r = 1``): ``i / K``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from .errors import InvalidParameterError, ShapeError, bad_argument
from .graph import DesignGraph

__all__ = [
    "FateEstimate",
    "FateWarning",
    "PROCESSES",
    "proportion_ci",
    "fixation_probability",
    "concentration_probability",
    "moran_fixation",
    "race_graph",
    "concentration_cell",
]

#: The finite-population processes.
PROCESSES = ("moran", "wright_fisher")


class FateWarning(UserWarning):
    """Some replicates ended neither fixed nor lost within ``max_generations``."""


@dataclass(frozen=True)
class FateEstimate:
    """A probability estimated from independent replicates, with its confidence interval.

    Attributes
    ----------
    estimate : float
        ``successes / runs``.
    ci : tuple of float
        ``(low, high)``: the binomial confidence interval at level ``confidence``.
    successes, runs : int
        Replicates in which the event happened, and all replicates.
    confidence : float
        Level of ``ci`` (default 0.95).
    interval : str
        ``"wilson"`` or ``"clopper_pearson"``.
    unresolved : int
        (Fixation only.) Replicates still undecided after ``max_generations``;
        counted as not fixed.
    times : ndarray
        (Fixation) generation at which each replicate was decided
        (``max_generations`` if not); (concentration) empty.
    shares : ndarray
        (Concentration) share near ``F*`` at generation ``t`` in each replicate;
        (fixation) empty.
    params : dict
        The question asked (process, population, generations, ...); for
        concentration also ``deterministic_share``, the share near ``F*`` of
        the infinite population at generation ``t``.
    """

    estimate: float
    ci: tuple[float, float]
    successes: int
    runs: int
    confidence: float = 0.95
    interval: str = "wilson"
    unresolved: int = 0
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    shares: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    params: dict[str, Any] = field(default_factory=dict, repr=False)

    def contains(self, p: float) -> bool:
        """Whether ``p`` lies inside the confidence interval."""
        return self.ci[0] <= p <= self.ci[1]

    def __str__(self) -> str:
        lo, hi = self.ci
        return (
            f"{self.estimate:.4f} ({100 * self.confidence:g}% CI [{lo:.4f}, {hi:.4f}], "
            f"{self.successes}/{self.runs} runs)"
        )


def proportion_ci(
    successes: int, runs: int, confidence: float = 0.95, method: str = "wilson"
) -> tuple[float, float]:
    """Confidence interval of a binomial proportion.

    Parameters
    ----------
    successes, runs : int
        ``0 <= successes <= runs``, ``runs >= 1``.
    confidence : float in (0, 1)
        Nominal coverage.
    method : {"wilson", "clopper_pearson"}
        ``"wilson"``: the Wilson score interval ``(p + z^2/2n +- z sqrt(p(1-p)/n +
        z^2/4n^2)) / (1 + z^2/n)`` with ``z`` the normal quantile; close to
        nominal coverage and never outside [0, 1]. ``"clopper_pearson"``: the
        exact interval from Beta quantiles; coverage at least nominal (conservative).

    Examples
    --------
    >>> from aievo.fixation import proportion_ci
    >>> [round(v, 4) for v in proportion_ci(50, 100)]
    [0.4038, 0.5962]
    """
    for name, v in (("successes", successes), ("runs", runs)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise bad_argument(InvalidParameterError, name, v, "an integer")
    if runs < 1 or not 0 <= successes <= runs:
        raise bad_argument(InvalidParameterError, "successes", successes, f"an integer in [0, runs={runs}]")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise bad_argument(InvalidParameterError, "confidence", confidence, "a number in (0, 1)")
    n, k = int(runs), int(successes)
    if method == "wilson":
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        # at k = 0 and k = n the bounds are exactly 0 and 1 (rounding would leave ~1e-17)
        lo = 0.0 if k == 0 else max(0.0, centre - half)
        hi = 1.0 if k == n else min(1.0, centre + half)
        return lo, hi
    if method == "clopper_pearson":
        from scipy.stats import beta

        a = 1 - confidence
        lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
        hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
        return lo, hi
    raise bad_argument(InvalidParameterError, "interval", method, '"wilson" or "clopper_pearson"')


def moran_fixation(r: float, population: int, initial: int = 1) -> float:
    """Fixation probability of ``initial`` individuals of relative fitness ``r`` in a Moran process.

    ``(1 - r^-i) / (1 - r^-K)``, and ``i / K`` for ``r = 1`` (no design change).

    Examples
    --------
    >>> from aievo.fixation import moran_fixation
    >>> round(moran_fixation(2.0, 10), 6), moran_fixation(1.0, 10, 3)
    (0.500489, 0.3)
    """
    K, i, r = int(population), int(initial), float(r)
    if r <= 0 or not math.isfinite(r):
        raise bad_argument(InvalidParameterError, "r", r, "a finite number > 0")
    if not 0 <= i <= K or K < 1:
        raise bad_argument(InvalidParameterError, "initial", initial, f"an integer in [0, {K}]")
    if r == 1.0:
        return i / K
    return -math.expm1(-i * math.log(r)) / -math.expm1(-K * math.log(r))


# ---------------------------------------------------------------------------- inputs
def _check_graph(g: Any) -> DesignGraph:
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    return g


def _positive_int(name: str, v: Any, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise bad_argument(InvalidParameterError, name, v, f"an integer >= {lo}")
    return int(v)


def _process(process: Any) -> bool:
    if process not in PROCESSES:
        raise bad_argument(InvalidParameterError, "process", process, '"moran" or "wright_fisher"')
    return process == "moran"


def _counts(g: DesignGraph, K: int, initial: Any) -> np.ndarray:
    """Initial counts: None (all at the root), a program index, a {program: count} map or counts."""
    n = g.n
    counts = np.zeros(n, dtype=np.int64)
    if initial is None:
        counts[g.root] = K
        return counts
    if isinstance(initial, (int, np.integer)) and not isinstance(initial, bool):
        if not 0 <= initial < n:
            raise bad_argument(InvalidParameterError, "initial", initial, f"a program index in [0, {n})")
        counts[int(initial)] = K
        return counts
    if isinstance(initial, Mapping):
        for k, c in initial.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < n:
                raise bad_argument(InvalidParameterError, "initial key", k, f"a program index in [0, {n})")
            counts[int(k)] += _positive_int(f"initial[{k}]", c, 0)
    else:
        a = np.asarray(initial)
        if a.shape != (n,):
            raise ShapeError(f"initial has shape {a.shape}: expected counts of shape ({n},), an index or a dict")
        if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(a == np.round(a))):
            raise bad_argument(InvalidParameterError, "initial", initial, "integer counts")
        if (a < 0).any():
            raise bad_argument(InvalidParameterError, "initial", initial, "counts >= 0")
        counts[:] = a.astype(np.int64)
    if counts.sum() != K:
        raise bad_argument(
            InvalidParameterError, "initial", initial, f"counts summing to population={K} (they sum to {counts.sum()})"
        )
    return counts


def _mask(g: DesignGraph, target: Any, name: str = "target") -> np.ndarray:
    n = g.n
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        target = [int(target)]
    a = np.asarray(target)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ShapeError(f"{name} has shape {a.shape}: expected a mask of shape ({n},)")
        mask = a.copy()
    else:
        if a.ndim != 1 or a.dtype.kind not in "iu":
            raise bad_argument(InvalidParameterError, name, target, "a program index, a list of indices or a mask")
        if a.size and (a.min() < 0 or a.max() >= n):
            raise bad_argument(InvalidParameterError, name, target, f"program indices in [0, {n})")
        mask = np.zeros(n, dtype=bool)
        mask[a] = True
    if not mask.any():
        raise bad_argument(InvalidParameterError, name, target, "at least one program")
    return mask


def _seeds(rng: Any, runs: int) -> tuple[np.ndarray, Any]:
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    seed_repr = rng if isinstance(rng, (int, np.integer)) or rng is None else "Generator"
    return generator.integers(0, 2**32, size=runs, dtype=np.int64), seed_repr


def _payoff(g: DesignGraph, payoff: Any) -> tuple[np.ndarray, np.ndarray]:
    """Payoff arrays for the kernels, refusing payoffs that can make some fitness negative.

    ``f(v) + (A x)[group(v)]`` is linear in the shares ``x``, so its minimum over
    all populations is ``f(v) + min_k A[group(v), k]``.
    """
    from .errors import InvalidFitnessError
    from .state import _payoff_arrays

    A, groups = _payoff_arrays(g, payoff)
    if A.shape[0]:
        low = np.asarray(g.fitness) + A.min(axis=1)[groups]
        if (low < 0).any():
            v = int(np.flatnonzero(low < 0)[0])
            raise InvalidFitnessError(
                f"payoff: fitness[{v}] can reach {low[v]:.6g} (f = {g.fitness[v]:.6g} plus the row minimum "
                f"{A[groups[v]].min():.6g}): expected f + A x >= 0 for every population; raise the baseline"
            )
    return A, groups


def _kernel_args(g: DesignGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    T = g.T
    return (
        np.ascontiguousarray(T.indptr, dtype=np.int64),
        np.ascontiguousarray(T.indices, dtype=np.int64),
        np.ascontiguousarray(T.data, dtype=np.float64),
        np.ascontiguousarray(g.fitness, dtype=np.float64),
    )


# ---------------------------------------------------------------------------- estimators
def fixation_probability(
    g: DesignGraph,
    population: int,
    initial: Any,
    target: Any,
    process: str = "moran",
    runs: int = 1000,
    rng: Any = None,
    *,
    max_generations: int = 100_000,
    confidence: float = 0.95,
    interval: str = "wilson",
    payoff: Any = None,
) -> FateEstimate:
    """Probability that the ``target`` programs take over a population of ``K``.

    Parameters
    ----------
    g : DesignGraph
        Programs, fitness and design kernel.
    population : int
        ``K >= 1`` individuals.
    initial : int, dict or array_like
        The starting population: a program index (all ``K`` there), a map
        ``{program: count}`` or a vector of ``n`` counts, summing to ``K``.
    target : int, sequence of int or bool mask
        The programs whose fate is asked.
    process : {"moran", "wright_fisher"}
        See :mod:`aievo.fixation`.
    runs : int
        Independent replicates.
    rng : int, Generator or None
        Seeds the replicates (one 32-bit seed per replicate is drawn from
        ``numpy.random.default_rng(rng)``): the same ``rng`` gives the same result.
    max_generations : int
        A replicate still undecided after this many generations counts as not
        fixed; their number is reported as ``unresolved`` and a
        :class:`FateWarning` is issued.
    confidence : float
        Level of the confidence interval.
    interval : {"wilson", "clopper_pearson"}
        See :func:`proportion_ci`.
    payoff : array_like or aievo.Payoff, optional
        Frequency dependence as in :func:`aievo.simulate`: before every draw the
        fitness is ``f + A x`` with ``x`` the current counts over ``K``
        (self-interaction included). Refused if some fitness could be negative.

    Returns
    -------
    FateEstimate
        ``estimate`` = fraction of replicates in which the target reached all
        ``K`` individuals before reaching none (a first passage: with designs
        leading out of or into the target, the target may later lose or regain
        individuals). ``times`` holds the generation of each outcome.

    Examples
    --------
    >>> import numpy as np, aievo as ae
    >>> g = ae.DesignGraph.from_matrix([1.0, 1.0], np.eye(2))
    >>> est = ae.fixation_probability(g, 10, {0: 9, 1: 1}, target=1, runs=2000, rng=0)
    >>> est.contains(0.1)
    True
    """
    from ._fate_kernels import FIXED, UNRESOLVED, fixation_runs

    g = _check_graph(g)
    K = _positive_int("population", population)
    moran = _process(process)
    runs = _positive_int("runs", runs)
    max_generations = _positive_int("max_generations", max_generations)
    counts = _counts(g, K, initial)
    mask = _mask(g, target)
    A, groups = _payoff(g, payoff)
    seeds, seed_repr = _seeds(rng, runs)
    outcome, time = fixation_runs(
        *_kernel_args(g), A, groups, counts, np.int64(K), mask, moran, np.int64(max_generations), seeds
    )
    fixed = int((outcome == FIXED).sum())
    unresolved = int((outcome == UNRESOLVED).sum())
    if unresolved:
        warnings.warn(
            f"{unresolved} of {runs} replicates were neither fixed nor lost after "
            f"max_generations={max_generations}; they count as not fixed",
            FateWarning,
            stacklevel=2,
        )
    return FateEstimate(
        estimate=fixed / runs,
        ci=proportion_ci(fixed, runs, confidence, interval),
        successes=fixed,
        runs=runs,
        confidence=confidence,
        interval=interval,
        unresolved=unresolved,
        times=time,
        params={
            "question": "fixation",
            "process": process,
            "population": K,
            "max_generations": max_generations,
            "payoff": A.shape[0] > 0,
            "seed": seed_repr,
        },
    )


def concentration_probability(
    g: DesignGraph,
    population: int,
    generations: int,
    eps: float,
    *,
    level: float = 0.9,
    when: str = "at",
    initial: Any = None,
    process: str = "wright_fisher",
    runs: int = 1000,
    rng: Any = None,
    F_star: float | None = None,
    confidence: float = 0.95,
    interval: str = "wilson",
    payoff: Any = None,
) -> FateEstimate:
    """Probability that a population of ``K`` concentrates near ``F*`` at generation ``t``.

    The event: at generation ``t = generations`` (``when="at"``, default), or at
    some generation ``s <= t`` (``when="by"``), the share of individuals on
    programs with ``f >= F* - eps`` is at least ``level``.

    Parameters
    ----------
    g : DesignGraph
    population : int
        ``K >= 1``.
    generations : int
        ``t >= 0``.
    eps : float
        ``>= 0``; the programs counted are those with ``f >= F* - eps``.
    level : float in (0, 1]
        Share that counts as concentrated (default 0.9).
    when : {"at", "by"}
        Concentrated at generation ``t``, or at least once by generation ``t``
        (drift can undo concentration in between).
    initial : int, dict or array_like, optional
        As in :func:`fixation_probability`; default all ``K`` at the root.
    process : {"wright_fisher", "moran"}
    runs, rng, confidence, interval
        As in :func:`fixation_probability`.
    F_star : float, optional
        Default ``g.F_star`` (the maximum reachable base fitness).
    payoff : array_like or aievo.Payoff, optional
        As in :func:`fixation_probability`; the programs counted are still
        those with base fitness ``f >= F* - eps``.

    Returns
    -------
    FateEstimate
        ``shares`` holds each replicate's share near ``F*`` at ``t`` (its
        maximum over ``0 .. t`` with ``when="by"``);
        ``params["deterministic_share"]`` the infinite population's share at
        ``t`` (its maximum with ``when="by"``; :func:`aievo.simulate` from the same start), so that as ``K``
        grows the probability tends to 1 if that share exceeds ``level`` and to
        0 if it falls short.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.fixation import race_graph
    >>> est = ae.concentration_probability(race_graph(0.5), 200, 30, 0.1, runs=200, rng=0)
    >>> est.estimate > 0.9, est.params["deterministic_share"] > 0.99
    (True, True)
    """
    from ._fate_kernels import share_runs
    from .dynamics import simulate

    g = _check_graph(g)
    K = _positive_int("population", population)
    G = _positive_int("generations", generations, 0)
    moran = _process(process)
    runs = _positive_int("runs", runs)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0 or not math.isfinite(eps):
        raise bad_argument(InvalidParameterError, "eps", eps, "a finite number >= 0")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level <= 1:
        raise bad_argument(InvalidParameterError, "level", level, "a number in (0, 1]")
    if when not in ("at", "by"):
        raise bad_argument(InvalidParameterError, "when", when, '"at" or "by"')
    Fs = g.F_star if F_star is None else F_star
    if isinstance(Fs, bool) or not isinstance(Fs, (int, float)) or not math.isfinite(Fs):
        raise bad_argument(InvalidParameterError, "F_star", F_star, "a finite number")
    counts = _counts(g, K, initial)
    mask = np.ascontiguousarray(g.fitness >= Fs - eps)
    A, groups = _payoff(g, payoff)
    seeds, seed_repr = _seeds(rng, runs)
    paths = share_runs(*_kernel_args(g), A, groups, counts, np.int64(K), mask, moran, np.int64(G), seeds)
    # after extinction (zero total fitness) the path is NaN: never concentrated from then on
    shares = paths[:, -1] if when == "at" else np.nanmax(paths, axis=1)
    shares = np.nan_to_num(shares, nan=0.0)
    # a small slack so that a share of exactly `level` (a multiple of 1/K) counts
    hits = int(np.sum(shares >= level - 1e-12))
    det = simulate(g, G, initial=counts / K, sets={"near": mask}, payoff=payoff).set_shares["near"]
    det_share = float(det[-1] if when == "at" else np.nanmax(det))
    return FateEstimate(
        estimate=hits / runs,
        ci=proportion_ci(hits, runs, confidence, interval),
        successes=hits,
        runs=runs,
        confidence=confidence,
        interval=interval,
        shares=shares,
        params={
            "question": "concentration",
            "process": process,
            "population": K,
            "generations": G,
            "eps": float(eps),
            "level": float(level),
            "F_star": float(Fs),
            "payoff": A.shape[0] > 0,
            "when": when,
            "deterministic_share": det_share,
            "seed": seed_repr,
        },
    )


# ---------------------------------------------------------------------------- a test bed and a sweep cell
def race_graph(eta: float, gap: float = 0.5, *, fallback: float = 1.5, poor: float = 0.5) -> DesignGraph:
    """The locking race of paper figure 6, with a tunable fitness gap.

    The root (fitness 1) designs ``H`` (fitness ``fallback + gap``, the best
    reachable program) and ``L`` (fitness 1) with probability 1/2 each; ``H``'s
    descendants have fitness ``poor``, ``L``'s ``fallback``; then eta-locking
    (:func:`aievo.with_locking`, ``eta = 0`` for none). A finite population can
    lose the few early locked copies of ``H`` to drift and settle on ``L``'s
    clade instead. Returns a type graph (7 types with locking).
    """
    from .locking import with_locking
    from .trees import type_graph

    for name, v in (("gap", gap), ("fallback", fallback), ("poor", poor)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise bad_argument(InvalidParameterError, name, v, "a finite number >= 0")
    if gap <= 0:
        raise bad_argument(InvalidParameterError, "gap", gap, "a number > 0 (H must be the best program)")
    T = np.zeros((5, 5))
    T[0, 1] = T[0, 3] = 0.5
    T[1, 2] = T[2, 2] = 1.0
    T[3, 4] = T[4, 4] = 1.0
    g = type_graph([1.0, fallback + gap, poor, 1.0, fallback], T, labels=["R", "H", "h", "L", "l"])
    if eta == 0:
        return g
    return with_locking(g, eta)


def concentration_cell(
    K: int,
    eta: float,
    gap: float = 0.5,
    generations: int = 60,
    eps: float = 0.0,
    level: float = 0.9,
    runs: int = 400,
    process: str = "wright_fisher",
    rng: Any = None,
) -> dict[str, Any]:
    """One cell of a concentration sweep on :func:`race_graph` (for :func:`aievo.sweep`).

    Returns ``{"estimate", "low", "high", "deterministic_share", "mean_share"}``
    (numbers), so that ``SweepResult.collect`` gathers arrays over ``K x eta x gap``.

    Examples
    --------
    >>> from aievo.fixation import concentration_cell
    >>> sorted(concentration_cell(50, 0.3, runs=50, rng=1))
    ['deterministic_share', 'estimate', 'high', 'low', 'mean_share']
    """
    est = concentration_probability(
        race_graph(eta, gap), K, generations, eps, level=level, runs=runs, process=process, rng=rng
    )
    return {
        "estimate": est.estimate,
        "low": est.ci[0],
        "high": est.ci[1],
        "deterministic_share": est.params["deterministic_share"],
        "mean_share": float(np.mean(est.shares)),
    }
