"""Directed design: how an in-context learner designs its successors.

:class:`DesignRules` lists the modifications a learner can make to itself and
their probabilities. From a learner ``L`` that is not a branch:

==============  =============================================  ========================
move            successor                                      probability
==============  =============================================  ========================
``step``        one more GD step / LSA layer (``K + 1``);      ``p_step``
                twice the training steps (TrainedLSA); a
                transformer one layer deeper, trained afresh
                on the same tasks (Transformer)
``eta+``        the next larger ``eta`` (GD, LSA) or ``lam``   ``p_retune / 2``
                (Ridge, MesaLayer) or ``k`` (KNN) or training
                input range (TrainedLSA, Transformer) on its
                grid
``eta-``        the next smaller one                           ``p_retune / 2``
``gamma+``      the next larger GD++ preconditioner ``gamma``  ``p_precondition / 2``
``gamma-``      the next smaller one (``gamma = 0``: plain GD) ``p_precondition / 2``
``attention``   the same transformer with the other attention  ``p_attention``
                kind (linear <-> softmax), trained afresh on
                the same tasks (Transformer)
``branch``      ``Branch(detector, L, L)``: a conditional      ``p_branch``
                branch whose two sides start as ``L``
``copy``        ``L`` itself, still designing                  the rest, ``1 - sum``
==============  =============================================  ========================

A move that is impossible (``K = K_max``, the end of a grid, ``gamma`` for a
learner without a preconditioner, ``attention`` for a learner that is not a
:class:`~aievo.evolving.learners.Transformer`, a transformer deeper than the
shipped family, ``branch`` without a detector) gives ``L`` itself, as a step
off the edge of :func:`aievo.deception_grid` stays put. A
:class:`~aievo.evolving.learners.Branch` modifies one side at a time: with
probability 1/2 its ``inside`` makes one of the moves above, with 1/2 its
``outside`` does (a side's ``branch`` move is a ``copy``: branches do not nest).

:class:`DesignSpace` explores the learners reachable from a root by these
rules, breadth first, and holds the design kernel ``T`` as a sparse matrix.
Learners repeat (``eta+`` then ``eta-`` returns to the same learner), so the
space is a *type graph*: the design tree of individual programs is its
unfolding (:func:`aievo.unfold`), simulated exactly on the type graph.
:func:`lazy_design_tree` gives the same tree as an :class:`aievo.LazyTree`
whose compiled rule reads the kernel, so it can be grown lazily by
:func:`aievo.simulate_lazy`.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidParameterError, bad_argument
from .learners import (
    GD,
    KNN,
    LSA,
    BaseLearner,
    Branch,
    ContextLength,
    InputRange,
    Learner,
    MesaLayer,
    Ridge,
    TrainedLSA,
    Transformer,
)

__all__ = ["DesignRules", "DesignSpace", "MOVES", "lazy_design_tree"]

#: The moves of a learner that is not a branch, in the order :meth:`DesignRules.moves` lists them.
MOVES = ("step", "eta+", "eta-", "gamma+", "gamma-", "attention", "branch", "copy")


def _grid(name: str, values: Sequence[float], *, allow_zero_first: bool = False) -> tuple[float, ...]:
    try:
        a = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_argument(InvalidParameterError, name, values, "a list of numbers") from None
    lo_ok = (a[1:] > 0).all() and (a[0] >= 0 if allow_zero_first else a[0] > 0) if a.size else False
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or not lo_ok or np.any(np.diff(a) <= 0):
        want = "a non-empty increasing list of finite numbers > 0"
        want += " (the first may be 0)" if allow_zero_first else ""
        raise bad_argument(InvalidParameterError, name, values, want)
    return tuple(float(x) for x in a)


@dataclass(frozen=True)
class DesignRules:
    """The modifications a learner can make to itself, and their probabilities.

    Parameters
    ----------
    eta_grid : sequence of float
        Increasing step sizes ``eta`` reachable by re-tuning (GD, LSA).
    K_max : int
        Largest number of GD steps / LSA layers.
    gamma_grid : sequence of float
        Increasing GD++ preconditioner steps; ``0`` (plain GD) may be first.
    lam_grid : sequence of float
        Increasing ridge / mesa-layer parameters.
    k_max : int
        Largest ``k`` of kNN learners.
    train_halfwidth_grid : sequence of float
        Increasing training input ranges of :class:`TrainedLSA` and
        :class:`Transformer` learners (for transformers, the values the
        shipped family has are used: 0.5, 1 and 1.5).
    train_steps_max : int
        Most Adam steps a :class:`TrainedLSA` learner is trained for.
    p_step, p_retune, p_precondition, p_branch : float
        Probabilities of the moves (see the module).
    p_attention : float, default 0
        Probability that a :class:`Transformer` swaps its attention kind. The
        five probabilities must sum to ``<= 1``; the rest is ``copy``.
    detector : InputRange or ContextLength, optional
        The test a new branch carries. ``None``: no branches (``branch`` is a copy).

    Examples
    --------
    >>> from aievo.evolving import DesignRules, GD
    >>> rules = DesignRules(eta_grid=[0.5, 1.0, 2.0], K_max=2, gamma_grid=[0.0])
    >>> {k.name: round(p, 3) for k, p in rules.successors(GD(1.0, 1)).items()}
    {'GD(eta=1, K=2)': 0.3, 'GD(eta=2, K=1)': 0.15, 'GD(eta=0.5, K=1)': 0.15, 'GD(eta=1, K=1)': 0.4}
    """

    eta_grid: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    K_max: int = 3
    gamma_grid: tuple[float, ...] = (0.0, 0.01, 0.03)
    lam_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)
    k_max: int = 5
    train_halfwidth_grid: tuple[float, ...] = (0.5, 1.0, 1.5)
    train_steps_max: int = 1000
    p_step: float = 0.3
    p_retune: float = 0.3
    p_precondition: float = 0.1
    p_branch: float = 0.1
    p_attention: float = 0.0
    detector: InputRange | ContextLength | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "eta_grid", _grid("eta_grid", self.eta_grid))
        object.__setattr__(self, "gamma_grid", _grid("gamma_grid", self.gamma_grid, allow_zero_first=True))
        object.__setattr__(self, "lam_grid", _grid("lam_grid", self.lam_grid))
        object.__setattr__(self, "train_halfwidth_grid", _grid("train_halfwidth_grid", self.train_halfwidth_grid))
        for name in ("K_max", "k_max", "train_steps_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise bad_argument(InvalidParameterError, name, v, "an integer >= 1")
            object.__setattr__(self, name, int(v))
        total = 0.0
        for name in ("p_step", "p_retune", "p_precondition", "p_branch", "p_attention"):
            v = getattr(self, name)
            try:
                p = float(v)
            except (TypeError, ValueError):
                raise bad_argument(InvalidParameterError, name, v, "a probability in [0, 1]") from None
            if not 0.0 <= p <= 1.0:
                raise bad_argument(InvalidParameterError, name, v, "a probability in [0, 1]")
            object.__setattr__(self, name, p)
            total += p
        if total > 1.0 + 1e-12:
            raise bad_argument(
                InvalidParameterError, "p_step + p_retune + p_precondition + p_branch + p_attention", total,
                "a sum <= 1",
            )
        if self.detector is not None and not isinstance(self.detector, (InputRange, ContextLength)):
            raise bad_argument(
                InvalidParameterError, "detector", self.detector, "an InputRange, a ContextLength or None"
            )

    # ------------------------------------------------------------------ moves
    def _on_grid(self, name: str, grid: tuple[float, ...], value: float, learner: Learner) -> int:
        try:
            return grid.index(value)
        except ValueError:
            raise bad_argument(
                InvalidParameterError, f"{learner.name}.{name}", value, f"a value of {name}_grid {list(grid)}"
            ) from None

    def _neighbours(self, grid: tuple[float, ...], i: int) -> tuple[float, float]:
        return grid[min(i + 1, len(grid) - 1)], grid[max(i - 1, 0)]

    def moves(self, learner: Learner, *, nested: bool = False) -> list[tuple[str, Learner, float]]:
        """Every move of ``learner``: ``(move, successor, probability)``, probabilities summing to 1.

        Impossible moves appear with the learner itself as successor. Moves of a
        :class:`Branch` are named ``"inside <move>"`` and ``"outside <move>"``.
        ``nested=True`` is used for the sides of a branch (their ``branch``
        move is a copy).
        """
        if isinstance(learner, Branch):
            out: list[tuple[str, Learner, float]] = []
            for m, succ, p in _side_moves(self, learner.inside):
                out.append((f"inside {m}", Branch(learner.detector, succ, learner.outside), 0.5 * p))
            for m, succ, p in _side_moves(self, learner.outside):
                out.append((f"outside {m}", Branch(learner.detector, learner.inside, succ), 0.5 * p))
            return out
        L = learner
        step = up = down = gup = gdown = swap = L
        if isinstance(L, (GD, LSA)):
            i = self._on_grid("eta", self.eta_grid, L.eta, L)
            e_up, e_down = self._neighbours(self.eta_grid, i)
            if isinstance(L, GD):
                if L.K > self.K_max:
                    raise bad_argument(InvalidParameterError, f"{L.name}.K", L.K, f"an integer <= K_max={self.K_max}")
                step = GD(L.eta, L.K + 1, L.gamma) if L.K < self.K_max else L
                up, down = GD(e_up, L.K, L.gamma), GD(e_down, L.K, L.gamma)
                j = self._on_grid("gamma", self.gamma_grid, L.gamma, L)
                g_up, g_down = self._neighbours(self.gamma_grid, j)
                gup, gdown = GD(L.eta, L.K, g_up), GD(L.eta, L.K, g_down)
            else:
                if L.K > self.K_max:
                    raise bad_argument(InvalidParameterError, f"{L.name}.K", L.K, f"an integer <= K_max={self.K_max}")
                step = LSA(L.eta, L.K + 1, L.N) if L.K < self.K_max else L
                up, down = LSA(e_up, L.K, L.N), LSA(e_down, L.K, L.N)
        elif isinstance(L, TrainedLSA):
            i = self._on_grid("x_halfwidth", self.train_halfwidth_grid, L.x_halfwidth, L)
            h_up, h_down = self._neighbours(self.train_halfwidth_grid, i)
            if L.steps > self.train_steps_max:
                raise bad_argument(
                    InvalidParameterError, f"{L.name}.steps", L.steps,
                    f"an integer <= train_steps_max={self.train_steps_max}",
                )
            step = replace(L, steps=2 * L.steps) if 2 * L.steps <= self.train_steps_max else L
            up, down = replace(L, x_halfwidth=h_up), replace(L, x_halfwidth=h_down)
        elif isinstance(L, Transformer):
            from .transformers import HALFWIDTHS, LAYERS

            grid = tuple(h for h in self.train_halfwidth_grid if h in HALFWIDTHS)
            i = self._on_grid("x_halfwidth", grid, L.x_halfwidth, L)
            h_up, h_down = self._neighbours(grid, i)
            up, down = replace(L, x_halfwidth=h_up), replace(L, x_halfwidth=h_down)
            if L.layers + 1 <= self.K_max and L.layers + 1 in LAYERS:
                step = replace(L, layers=L.layers + 1)
            swap = replace(L, attention="softmax" if L.attention == "linear" else "linear")
        elif isinstance(L, (Ridge, MesaLayer)):
            i = self._on_grid("lam", self.lam_grid, L.lam, L)
            l_up, l_down = self._neighbours(self.lam_grid, i)
            up, down = type(L)(l_up), type(L)(l_down)
        elif isinstance(L, KNN):
            if L.k > self.k_max:
                raise bad_argument(InvalidParameterError, f"{L.name}.k", L.k, f"an integer <= k_max={self.k_max}")
            up, down = KNN(min(L.k + 1, self.k_max)), KNN(max(L.k - 1, 1))
        else:
            raise bad_argument(
                InvalidParameterError, "learner", learner,
                "a GD, LSA, TrainedLSA, Transformer, Ridge, KNN, MesaLayer or Branch",
            )
        branch = L if (nested or self.detector is None) else Branch(self.detector, L, L)
        rest = 1.0 - (self.p_step + self.p_retune + self.p_precondition + self.p_branch + self.p_attention)
        moves = [
            ("step", step, self.p_step),
            ("eta+", up, self.p_retune / 2),
            ("eta-", down, self.p_retune / 2),
            ("gamma+", gup, self.p_precondition / 2),
            ("gamma-", gdown, self.p_precondition / 2),
            ("attention", swap, self.p_attention),
            ("branch", branch, self.p_branch),
            ("copy", L, max(rest, 0.0)),
        ]
        return [m for m in moves if m[2] > 0]

    def successors(self, learner: Learner) -> dict[Learner, float]:
        """The design kernel's row of ``learner``: successor -> probability (moves merged)."""
        out: dict[Learner, float] = {}
        for _, succ, p in self.moves(learner):
            out[succ] = out.get(succ, 0.0) + p
        return out


@functools.lru_cache(maxsize=4096)
def _side_moves(rules: DesignRules, part: BaseLearner) -> list[tuple[str, BaseLearner, float]]:
    """The moves of one side of a branch (memoised: many branches share a side); no side becomes a branch."""
    return [(m, s, p) for m, s, p in rules.moves(part, nested=True) if not isinstance(s, Branch)]


@dataclass(frozen=True, eq=False)
class DesignSpace:
    """The learners reachable from ``root`` under ``rules``, and the design kernel.

    Attributes
    ----------
    rules : DesignRules
    learners : tuple of learners
        In breadth-first order from the root (index 0).
    T : scipy.sparse.csr_array, shape (n, n)
        ``T[v, w]`` = probability that a successor of learner ``v`` is learner ``w``.

    Examples
    --------
    >>> from aievo.evolving import DesignRules, DesignSpace, GD
    >>> space = DesignSpace.explore(DesignRules(eta_grid=[0.5, 1.0], K_max=2, gamma_grid=[0.0]), GD(1.0, 1))
    >>> space.n, [l.name for l in space.learners]
    (4, ['GD(eta=1, K=1)', 'GD(eta=1, K=2)', 'GD(eta=0.5, K=1)', 'GD(eta=0.5, K=2)'])
    """

    rules: DesignRules
    learners: tuple[Learner, ...]
    T: sp.csr_array
    index: dict[Learner, int] = field(repr=False)

    @classmethod
    def explore(cls, rules: DesignRules, root: Learner, *, max_learners: int = 200_000) -> "DesignSpace":
        """Breadth-first exploration of the learners reachable from ``root``.

        Raises
        ------
        InvalidParameterError
            If more than ``max_learners`` learners are reachable, or the root is
            off the rules' grids.
        """
        if not isinstance(rules, DesignRules):
            raise bad_argument(InvalidParameterError, "rules", rules, "a DesignRules")
        index: dict[Learner, int] = {root: 0}
        learners: list[Learner] = [root]
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        queue = deque([root])
        while queue:
            v = queue.popleft()
            i = index[v]
            for w, p in rules.successors(v).items():
                j = index.get(w)
                if j is None:
                    if len(learners) >= max_learners:
                        raise bad_argument(
                            InvalidParameterError, "max_learners", max_learners,
                            "a larger limit: more learners are reachable from the root",
                        )
                    j = index[w] = len(learners)
                    learners.append(w)
                    queue.append(w)
                rows.append(i)
                cols.append(j)
                vals.append(p)
        n = len(learners)
        T = sp.csr_array((np.array(vals), (np.array(rows), np.array(cols))), shape=(n, n))
        T.sum_duplicates()
        return cls(rules=rules, learners=tuple(learners), T=T, index=index)

    @property
    def n(self) -> int:
        """Number of learners."""
        return len(self.learners)

    @property
    def names(self) -> list[str]:
        """The learners' names."""
        return [v.name for v in self.learners]

    def is_branch(self) -> np.ndarray:
        """``bool[n]``: which learners are conditional branches."""
        return np.array([isinstance(v, Branch) for v in self.learners], dtype=bool)

    def graph(self, fitness: Any, **attrs: Any):
        """The type graph of the space with the given fitness (one value per learner).

        Returns
        -------
        DesignGraph
            Root 0, labels the learners' names, ``attrs["type"]`` the learner
            index and any extra per-learner ``attrs``.
        """
        from ..trees import type_graph

        g = type_graph(fitness, self.T, root=0, labels=self.names)
        return g.with_attrs(**attrs) if attrs else g


_TYPE_RULE = None


def _type_rule_py(state, depth, params, child_state, child_fitness, child_prob, child_bound):
    # params = [n, m, counts(n), fitness(n), children(n * m), probs(n * m)]
    n = int(params[0])
    m = int(params[1])
    v = int(state[0])
    k = int(params[2 + v])
    fit = 2 + n
    base_c = 2 + 2 * n + v * m
    base_p = 2 + 2 * n + n * m + v * m
    for j in range(k):
        w = int(params[base_c + j])
        child_state[j, 0] = float(w)
        child_fitness[j] = params[fit + w]
        child_prob[j] = params[base_p + j]
    return k


def _type_rule():
    global _TYPE_RULE
    if _TYPE_RULE is None:
        from numba import njit

        _TYPE_RULE = njit(cache=True, nogil=True)(_type_rule_py)
    return _TYPE_RULE


def lazy_design_tree(space: DesignSpace, fitness: Any, *, name: str = "learners"):
    """The design tree of ``space`` as an :class:`aievo.LazyTree` (state: the learner's index).

    The compiled rule reads the kernel row of a program's learner, so
    :func:`aievo.simulate_lazy` grows the tree only where mass goes; with
    ``lump=True`` programs of the same learner merge and the run equals the
    type graph's.
    """
    from ..lazy import LazyTree

    f = np.asarray(fitness, dtype=np.float64)
    g = space.graph(f)  # validates fitness
    T = g.T
    n = g.n
    counts = np.diff(T.indptr)
    m = int(counts.max())
    children = np.zeros((n, m))
    probs = np.zeros((n, m))
    for v in range(n):
        a, b = T.indptr[v], T.indptr[v + 1]
        children[v, : b - a] = T.indices[a:b]
        probs[v, : b - a] = T.data[a:b]
    params = np.concatenate([[n, m], counts, g.fitness, children.ravel(), probs.ravel()])
    f_max = float(g.fitness.max()) if g.fitness.max() > 0 else 1.0
    return LazyTree(
        _type_rule(), [0.0], float(g.fitness[0]), f_max=f_max, max_children=m, params=params,
        depth_dependent=False, name=name,
    )
