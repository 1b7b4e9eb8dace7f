"""State-dependent fitness: payoffs between programs and evaluators that learn.

Beyond the paper, where each program's fitness is fixed. Two laws run inside
one compiled loop (:mod:`aievo._state_kernels`), with no Python call per
generation; :func:`aievo.simulate` dispatches to them when given
``payoff=`` or ``evaluator=``:

* **frequency dependence** ``f_t = f + A x_t``: programs compete. ``A`` is a
  payoff matrix over programs (``n x n``) or, with :class:`Payoff`, over groups
  of programs (``groups[v]`` is the group of program ``v`` and ``x_t`` is then
  the vector of group shares). ``A[i, j]`` is what a program of group ``i``
  earns per unit share of group ``j``;
* **an evaluator that learns** (:class:`LearningEvaluator`): humans detect
  deception with a probability ``p_t`` that follows the population's mean
  deception ``dbar_t``::

      f_t(v)  = f(v) - (1 + penalty) p_t d(v)
      p_{t+1} = (1 - rate) p_t + rate (1 - exp(-sensitivity * dbar_t))

  On a grid with human-judged fitness ``f = 1 + c + d`` (as built by
  :func:`aievo.deception_grid`) this is ``f_t = 1 + c + d (1 - p_t) -
  penalty p_t d``: detected deception earns nothing, and with ``penalty > 0``
  it is punished. ``p_t`` stays in ``[0, 1]`` by construction: it moves a
  fraction ``rate`` in ``[0, 1]`` of the way towards a target
  ``1 - exp(-sensitivity dbar)`` in ``[0, 1)``. It is recorded in the
  trajectory as the pseudo-trait ``"detection"``.

The fitness of every program is checked every generation; a negative or
non-finite value stops the run with an :class:`~aievo.errors.InvalidFitnessError`
naming the generation, the program and the value.

Escape hatch: ``evaluator=law`` with any Python callable ``law(t, x) -> f_t``
(an array of ``n`` fitness values). It is called once per generation from a
Python loop, then checked, then one compiled update runs. Cost measured by
``benchmarks/bench_state.py`` on the 72-program deception grid (one core):
about 50 microseconds per generation for the callable ``f + A x``, against
17 for the compiled payoff (a dense 72 x 72 product) and about 1.4 for the
compiled learning evaluator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidFitnessError, InvalidParameterError, ShapeError, bad_argument
from .graph import DesignGraph

__all__ = [
    "DETECTION",
    "LearningEvaluator",
    "Payoff",
    "hawk_dove",
    "rock_paper_scissors",
    "run_state_dependent",
]

#: Name under which the evaluator's detection probability ``p_t`` is recorded in ``trait_means``.
DETECTION = "detection"


@dataclass(frozen=True)
class Payoff:
    """A payoff matrix over groups of programs: ``f_t(v) = f(v) + (A g_t)[groups[v]]``.

    Parameters
    ----------
    matrix : array_like, shape (m, m)
        Finite payoffs; ``matrix[i, j]`` is earned by group ``i`` per unit share of group ``j``.
    groups : array_like of int, shape (n,), optional
        Group of each program (values in ``[0, m)``); default each program its
        own group (then ``m = n``).

    Examples
    --------
    >>> import numpy as np, aievo as ae
    >>> g = ae.DesignGraph.from_matrix([1.0, 1.0, 1.0], np.eye(3))
    >>> tr = ae.simulate(g, 1, initial=[0.5, 0.25, 0.25],
    ...                  payoff=ae.Payoff([[0.0, 1.0], [0.0, 0.0]], groups=[0, 1, 1]))
    >>> float(tr.mean_fitness[0])  # 1 + 0.5 * (1 * 0.5)
    1.25
    """

    matrix: Any
    groups: Any = None


@dataclass(frozen=True)
class LearningEvaluator:
    """Human evaluators who learn to detect deception as it spreads.

    ``f_t(v) = f(v) - (1 + penalty) p_t d(v)`` and
    ``p_{t+1} = (1 - rate) p_t + rate (1 - exp(-sensitivity dbar_t))``.

    Parameters
    ----------
    rate : float in [0, 1]
        How fast detection follows its target (0: never learns).
    sensitivity : float >= 0
        How strongly mean deception drives the target detection.
    penalty : float >= 0
        Extra fitness lost per unit of detected deception (0: detected
        deception merely earns nothing).
    p0 : float in [0, 1]
        Initial detection probability.
    deception : str or array_like
        The deception trait: the name of a node attribute (default ``"d"``,
        as in :func:`aievo.deception_grid`) or a vector of ``n`` values ``>= 0``.

    Notes
    -----
    At a steady state ``p = 1 - exp(-sensitivity dbar)``; deception still pays
    while ``(1 + penalty) p < 1``, that is while mean deception is below
    :meth:`break_even` ``= log((1 + penalty) / penalty) / sensitivity``. If
    that exceeds the largest reachable deception ``D``, deception is still
    selected all the way to ``D``; otherwise selection holds mean deception near
    the break-even level. Without a penalty the break-even level is infinite:
    learning slows deception down but never stops it.
    """

    rate: float
    sensitivity: float
    penalty: float = 0.0
    p0: float = 0.0
    deception: Any = "d"

    def __post_init__(self) -> None:
        checks = {
            "rate": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
            "sensitivity": (lambda v: 0 <= v < math.inf, "a finite number >= 0"),
            "penalty": (lambda v: 0 <= v < math.inf, "a finite number >= 0"),
            "p0": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
        }
        for name, (ok, expected) in checks.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not ok(float(v)):
                raise bad_argument(InvalidParameterError, f"LearningEvaluator.{name}", v, expected)

    def break_even(self) -> float:
        """Mean deception at which detected deception cancels its reward (``inf`` without penalty)."""
        if self.penalty == 0 or self.sensitivity == 0:
            return math.inf
        return math.log((1 + self.penalty) / self.penalty) / self.sensitivity

    def deception_vector(self, g: DesignGraph) -> np.ndarray:
        """The deception trait resolved on ``g`` (validated)."""
        d = self.deception
        if isinstance(d, str):
            if d not in g.attrs:
                raise bad_argument(
                    InvalidParameterError, "LearningEvaluator.deception", d,
                    f"the name of a node attribute of g {sorted(g.attrs)} or a vector of {g.n} values",
                )
            d = g.attrs[d]
        a = np.ascontiguousarray(d, dtype=np.float64)
        if a.shape != (g.n,):
            raise ShapeError(f"LearningEvaluator.deception has shape {a.shape}: expected ({g.n},)")
        if not np.all(np.isfinite(a)) or (a < 0).any():
            raise bad_argument(InvalidParameterError, "LearningEvaluator.deception", d, "finite values >= 0")
        return a


# ---------------------------------------------------------------------------- games
def hawk_dove(V: float, C: float, baseline: float | None = None) -> tuple[DesignGraph, np.ndarray]:
    """Hawk-Dove: two programs (hawk 0, dove 1) that copy themselves, and their payoff matrix.

    Payoffs ``[[(V - C) / 2, V], [0, V / 2]]`` on a baseline fitness
    (default ``C``, which keeps every fitness positive). For ``0 < V < C`` the
    hawk share converges to ``V / C``, where both earn the same.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.state import hawk_dove
    >>> g, A = hawk_dove(2.0, 5.0)
    >>> tr = ae.simulate(g, 400, initial=[0.9, 0.1], payoff=A)
    >>> round(float(tr.shares[0]), 6)
    0.4
    """
    V, C = float(V), float(C)
    if not (math.isfinite(V) and V > 0):
        raise bad_argument(InvalidParameterError, "V", V, "a finite number > 0")
    if not (math.isfinite(C) and C > 0):
        raise bad_argument(InvalidParameterError, "C", C, "a finite number > 0")
    b = C if baseline is None else float(baseline)
    A = np.array([[(V - C) / 2, V], [0.0, V / 2]])
    g = DesignGraph.from_matrix([b, b], np.eye(2), labels=["hawk", "dove"])
    return g, A


def rock_paper_scissors(baseline: float = 3.0, win: float = 1.0, lose: float = 1.0) -> tuple[DesignGraph, np.ndarray]:
    """Rock-paper-scissors: three self-copying programs and their payoff matrix.

    ``A[i, j] = win`` if ``i`` beats ``j`` (rock 0 beats scissors 2, scissors 2
    beats paper 1, paper 1 beats rock 0), ``-lose`` if ``j`` beats ``i``, 0 on
    the diagonal, on a baseline fitness. With ``win = lose`` (zero-sum) the
    continuous-time replicator conserves ``x_0 x_1 x_2`` and cycles round
    ``(1/3, 1/3, 1/3)``; the discrete dynamics spirals slowly outwards, since
    ``sum_i log(1 + (A x)_i / baseline) <= 0``.
    """
    b, w, l_ = float(baseline), float(win), float(lose)
    if not (math.isfinite(b) and b > max(w, l_)):
        raise bad_argument(InvalidParameterError, "baseline", baseline, f"a number > max(win, lose) = {max(w, l_)}")
    A = np.array([[0.0, -l_, w], [w, 0.0, -l_], [-l_, w, 0.0]])
    g = DesignGraph.from_matrix([b, b, b], np.eye(3), labels=["rock", "paper", "scissors"])
    return g, A


# ---------------------------------------------------------------------------- dispatch from simulate
def _payoff_arrays(g: DesignGraph, payoff: Any) -> tuple[np.ndarray, np.ndarray]:
    if payoff is None:
        return np.zeros((0, 0)), np.zeros(g.n, dtype=np.int64)
    if isinstance(payoff, Payoff):
        matrix, groups = payoff.matrix, payoff.groups
    else:
        matrix, groups = payoff, None
    try:
        A = np.array(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_argument(InvalidParameterError, "payoff", matrix, "a square matrix of numbers") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ShapeError(f"payoff has shape {A.shape}: expected a square (m, m) matrix")
    if not np.all(np.isfinite(A)):
        i, j = np.argwhere(~np.isfinite(A))[0]
        raise bad_argument(InvalidParameterError, f"payoff[{i}, {j}]", A[i, j], "a finite number")
    m = A.shape[0]
    if groups is None:
        if m != g.n:
            raise ShapeError(
                f"payoff has shape {A.shape}: expected ({g.n}, {g.n}) (one row per program), "
                "or pass aievo.Payoff(matrix, groups=...) for a payoff over groups"
            )
        gr = np.arange(g.n, dtype=np.int64)
    else:
        gr = np.asarray(groups)
        if gr.shape != (g.n,):
            raise ShapeError(f"Payoff.groups has shape {gr.shape}: expected ({g.n},)")
        if gr.dtype.kind not in "iu" or (gr.size and (gr.min() < 0 or gr.max() >= m)):
            raise bad_argument(InvalidParameterError, "Payoff.groups", groups, f"integers in [0, {m})")
        gr = gr.astype(np.int64)
    return np.ascontiguousarray(A), np.ascontiguousarray(gr)


def _fitness_error(t: int, v: int, value: float, law: str) -> InvalidFitnessError:
    return InvalidFitnessError(
        f"fitness[{v}]={value:.6g} at generation {t} is invalid: expected a finite number >= 0 "
        f"(the {law} drove it there; raise the baseline fitness or shrink the payoffs)"
    )


def run_state_dependent(
    g: DesignGraph,
    G: int,
    x0: np.ndarray,
    Z: np.ndarray,
    times: np.ndarray,
    payoff: Any,
    evaluator: Any,
    population: Any,
    rng: Any,
    params: dict[str, Any],
) -> tuple[Any, ...]:
    """Run the dynamics with state-dependent fitness (called by :func:`aievo.simulate`).

    Returns the tuple of :func:`aievo._kernels.run_deterministic` plus a dict
    of extra recorded series (``{"detection": p_t}`` with an evaluator).
    """
    if population is not None:
        raise bad_argument(
            InvalidParameterError, "population", population,
            "None with payoff= or evaluator= (state-dependent fitness runs the infinite population)",
        )
    if rng is not None:
        raise bad_argument(InvalidParameterError, "rng", rng, "None for the deterministic dynamics")
    T = g.T
    csr = (
        np.ascontiguousarray(T.indptr, dtype=np.int64),
        np.ascontiguousarray(T.indices, dtype=np.int64),
        np.ascontiguousarray(T.data, dtype=np.float64),
        np.ascontiguousarray(g.fitness, dtype=np.float64),
    )
    if evaluator is not None and not isinstance(evaluator, LearningEvaluator):
        if not callable(evaluator):
            raise bad_argument(
                InvalidParameterError, "evaluator", evaluator,
                "an aievo.LearningEvaluator or a callable law(t, x) -> fitness",
            )
        if payoff is not None:
            raise bad_argument(
                InvalidParameterError, "payoff", "a matrix",
                "None with a callable evaluator (the callable returns the whole fitness)",
            )
        params["fitness_law"] = "callable"
        return (*_run_callable(csr, evaluator, x0, G, Z, times), {})
    A, groups = _payoff_arrays(g, payoff)
    if evaluator is None:
        d = np.zeros(g.n)
        ev = (0.0, 0.0, 0.0, 0.0)
    else:
        d = evaluator.deception_vector(g)
        ev = (float(evaluator.penalty), float(evaluator.rate), float(evaluator.sensitivity), float(evaluator.p0))
        params["evaluator"] = dict(zip(("penalty", "rate", "sensitivity", "p0"), ev))
    if payoff is not None:
        params["payoff"] = {"shape": list(A.shape), "grouped": isinstance(payoff, Payoff) and payoff.groups is not None}
    from ._state_kernels import run_state_dependent as kernel

    mean_f, log_n, zm, snaps, x, ext, p, bad_t, bad_v, bad_f = kernel(
        *csr, x0, np.int64(G), Z, times, A, groups, d, *(np.float64(e) for e in ev)
    )
    if bad_t >= 0:
        law = "payoff" if evaluator is None else ("evaluator" if payoff is None else "payoff and evaluator")
        raise _fitness_error(int(bad_t), int(bad_v), float(bad_f), law)
    extra = {DETECTION: p} if evaluator is not None else {}
    return mean_f, log_n, zm, snaps, x, ext, extra


def _run_callable(
    csr: tuple[np.ndarray, ...], law: Callable[[int, np.ndarray], Any], x0: np.ndarray, G: int, Z: np.ndarray,
    times: np.ndarray,
) -> tuple[Any, ...]:
    """The escape hatch: a Python call per generation, then one compiled update."""
    from ._kernels import step_shares

    indptr, indices, data, _ = csr
    n = x0.size
    mean_f = np.full(G + 1, np.nan)
    log_n = np.full(G + 1, -np.inf)
    log_n[0] = 0.0
    zm = np.full((Z.shape[0], G + 1), np.nan)
    snaps = np.zeros((times.size, n))
    x = x0.copy()
    extinct_at = -1
    for t in range(G + 1):
        raw = law(t, x.copy())
        try:
            fit = np.ascontiguousarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise bad_argument(InvalidParameterError, "evaluator(t, x)", raw, f"an array of {n} fitness values") from None
        if fit.shape != (n,):
            raise ShapeError(f"evaluator({t}, x) returned shape {fit.shape}: expected ({n},)")
        bad = ~np.isfinite(fit) | (fit < 0)
        if bad.any():
            v = int(np.flatnonzero(bad)[0])
            raise _fitness_error(t, v, float(fit[v]), "callable evaluator")
        F = float(x @ fit)
        mean_f[t] = F
        zm[:, t] = Z @ x
        snaps[times == t] = x
        if t == G:
            break
        if F == 0.0:
            extinct_at = t
            break
        log_n[t + 1] = log_n[t] + math.log(F)
        x, _ = step_shares(indptr, indices, data, fit, x)
    return mean_f, log_n, zm, snaps, x, extinct_at
