"""The results of docs/explanation/results.md as witnesses and checkers.

After Harris (2026); package formulation. Each result comes with

* **witness builders**: small design graphs on which the result (or the
  failure it warns about) can be seen: a tree where mean fitness falls, one
  where it oscillates for ever, one where it tends to 0; a chain where
  eta-preservation fails to concentrate and eta-locking succeeds; a tree whose
  mean fitness converges to ``F*`` while mean utility tends to ``-inf``; the
  capability-deception grid; pairs of clades for lineage dominance;
* **checkers**: functions that run a graph and report the quantities the result
  bounds (the unlocked mass against ``((1 - eta) F*)^t U_0``, the share above
  ``F* - eps``, the lineage exponents against ``log(eta f)`` and ``log F*``, the
  lim inf of mean utility against ``g(F*)``, the corner share of the deception
  grid, the clade ratio ``N_t^v / N_t^u``), as result dataclasses.

=========  ==========================================  ==========================
result     witnesses                                   checker
=========  ==========================================  ==========================
Price      any graph                                   :func:`aievo.price.price_decomposition`
R1         :func:`falling_fitness_tree`,               :func:`check_fitness_path`
           :func:`oscillating_fitness_graph`,
           :func:`vanishing_fitness_chain`
R2         ``with_preservation(decaying_chain(), eta)``  :func:`check_preservation`
R3         ``with_locking(decaying_chain(), eta)``,      :func:`check_locking`
           :func:`poor_designer_tree`
R4         :func:`bounded_utility_grid`                :func:`check_utility`
R5         :func:`unbounded_utility_chain`             :func:`check_utility`
R6         :func:`aievo.traits.deception_grid`         :func:`check_deception`
dominance  :func:`dominance_pair`, :func:`swinging_pair`  :func:`check_dominance`
=========  ==========================================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidParameterError, bad_argument
from .graph import DesignGraph

__all__ = [
    # witnesses
    "falling_fitness_tree",
    "oscillating_fitness_graph",
    "vanishing_fitness_chain",
    "decaying_chain",
    "poor_designer_tree",
    "bounded_utility_grid",
    "unbounded_utility_chain",
    "dominance_pair",
    "swinging_pair",
    # checkers and their reports
    "check_fitness_path",
    "check_preservation",
    "check_locking",
    "check_utility",
    "check_deception",
    "check_dominance",
    "FitnessPathReport",
    "PreservationReport",
    "LockingReport",
    "UtilityReport",
    "DeceptionReport",
    "DominanceReport",
    "CladePair",
]


# ====================================================================== helpers
def _graph(g: Any) -> DesignGraph:
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    return g


def _int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise bad_argument(InvalidParameterError, name, value, f"an integer >= {lo}")
    return int(value)


def _eta(eta: Any) -> float:
    try:
        e = float(eta)
    except (TypeError, ValueError):
        raise bad_argument(InvalidParameterError, "eta", eta, "a number in (0, 1]") from None
    if not 0.0 < e <= 1.0:
        raise bad_argument(InvalidParameterError, "eta", eta, "a number in (0, 1]")
    return e


def _eps(eps: Any) -> float:
    try:
        e = float(eps)
    except (TypeError, ValueError):
        raise bad_argument(InvalidParameterError, "eps", eps, "a number > 0") from None
    if not (e > 0.0 and np.isfinite(e)):
        raise bad_argument(InvalidParameterError, "eps", eps, "a finite number > 0")
    return e


def _tail_window(generations: int, tail: int | None) -> int:
    tl = max(1, generations // 2) if tail is None else _int("tail", tail, 1)
    if tl > generations + 1:
        raise bad_argument(InvalidParameterError, "tail", tail, f"an integer in [1, generations + 1 = {generations + 1}]")
    return tl


# ====================================================================== witnesses
def falling_fitness_tree() -> DesignGraph:
    """R1: a tree with bounded fitness where mean fitness falls.

    The root (fitness 2) designs, with probability 1/2 each, a program of
    fitness 1 and one of fitness 1/2, and these reproduce themselves. Mean
    fitness falls from ``F_0 = 2`` to ``F_1 = 0.75`` (the transmission term of
    the Price equation outweighs selection), then selection alone lifts it
    back toward 1, half of where it started.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.theory import falling_fitness_tree
    >>> ae.simulate(falling_fitness_tree(), 3).mean_fitness.tolist()
    [2.0, 0.75, 0.8333333333333334, 0.9]
    """
    return DesignGraph.tree([-1, 0, 0], [2.0, 1.0, 0.5], [0.0, 0.5, 0.5], attrs={"depth": [0, 1, 1]})


def oscillating_fitness_graph(high: float = 4.0, low: float = 1.0) -> DesignGraph:
    """R1: mean fitness that never converges (paper figure 4, docs/figures.md).

    A type graph of two types that design each other, ``high -> low -> high``;
    it unfolds (:func:`aievo.trees.unfold`) into the chain ``high, low, high,
    ...``. From the ``high`` type, ``F_t`` alternates ``high, low, ...`` for
    ever while the running geometric mean converges to ``sqrt(high * low)``.
    """
    for name, v in (("high", high), ("low", low)):
        if not (np.isfinite(v) and v > 0):
            raise bad_argument(InvalidParameterError, name, v, "a finite number > 0")
    from .trees import type_graph

    return type_graph([float(high), float(low)], [[0.0, 1.0], [1.0, 0.0]], labels=["high", "low"])


def vanishing_fitness_chain(depth: int = 200) -> DesignGraph:
    """R1: a chain with fitness bounded by 1 where mean fitness tends to 0.

    Program ``k`` has fitness ``1 / (k + 1)`` and designs program ``k + 1``;
    from the root ``F_t = 1 / (t + 1)`` for ``t <= depth``.
    """
    depth = _int("depth", depth, 1)
    from .trees import chain

    return chain(1.0 / (np.arange(depth + 1) + 1.0))


def decaying_chain(depth: int = 40) -> DesignGraph:
    """R2 and R3: the chain ``f_k = 1 + 2^-k``, ``k = 0 .. depth`` (docs/explanation/results.md).

    The best program is the root (``F* = 2``) and every design is worse; the
    last program reproduces itself. With eta-preservation the root's own line
    grows at rate ``eta * F*`` against the chain's end at about 1, so
    ``F_t -> max(1, eta F*)`` and concentration on ``F*`` fails; with
    eta-locking the root's locked copy grows at ``F*`` and ``F_t -> 2``.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.theory import decaying_chain
    >>> g = decaying_chain()
    >>> [round(float(ae.simulate(ae.with_preservation(g, e), 200).mean_fitness[-1]), 6) for e in (0.3, 0.6)]
    [1.0, 1.2]
    >>> round(float(ae.simulate(ae.with_locking(g, 0.3), 200).mean_fitness[-1]), 6)
    2.0
    """
    depth = _int("depth", depth, 0)
    from .trees import chain

    return chain(1.0 + 2.0 ** -np.arange(depth + 1, dtype=np.float64))


def poor_designer_tree() -> DesignGraph:
    """R3: the best program designs poor descendants (paper figure 6, docs/figures.md).

    The root (fitness 1) designs ``H`` (fitness 2) and ``L`` (fitness 1) with
    probability 1/2; all of ``H``'s descendants have fitness 0.5, all of
    ``L``'s 1.5 (a type graph: each descendant type reproduces itself).
    Without locking ``F_t -> 1.5``; with eta-locking ``F_t -> F* = 2``.
    Nodes: ``root, H, L, H-desc, L-desc``.
    """
    from .trees import type_graph

    T = np.zeros((5, 5))
    T[0, 1] = T[0, 2] = 0.5
    T[1, 3] = 1.0
    T[2, 4] = 1.0
    T[3, 3] = 1.0
    T[4, 4] = 1.0
    return type_graph([1.0, 2.0, 1.0, 0.5, 1.5], T, labels=["root", "H", "L", "H-desc", "L-desc"])


def bounded_utility_grid(C: int = 5, D: int = 5, eta: float = 0.2, kappa: float = 1.0) -> DesignGraph:
    """R4: utility bounded below and tied to fitness.

    The eta-locked capability-deception grid under objective fitness
    ``f = 1 + c`` with utility ``u = c - kappa d / (D + 1)`` (``attrs["u"]``).
    Then ``-kappa <= u`` and ``u >= g(f) = f - 1 - kappa`` for every program,
    so R4 predicts ``liminf ubar_t >= g(F*) = C - kappa``.
    """
    from .traits import deception_grid, linear_utility

    g = deception_grid(C, D, eta, fitness="objective")
    a = g.attrs
    u = linear_utility(a["c"], a["d"], kappa=float(kappa) / (int(D) + 1))
    return g.with_attrs(u=u)


def unbounded_utility_chain(eta: float = 0.2, depth: int = 100) -> DesignGraph:
    """R5: ``F_t -> F*`` while mean utility tends to ``-inf``.

    The eta-locked chain with fitness ``f_k = 2 - 2^-k`` (so ``F* = 2``, not
    attained on the infinite chain) and utility ``u_k = -(2 / (1 - eta))^k``
    (``attrs["u"]``, copied to the locked copies). R3 applies, so ``F_t -> 2``;
    but the newest program keeps a share of order ``(1 - eta)^t`` while its
    utility falls like ``(2 / (1 - eta))^t``, so ``ubar_t`` falls like ``-2^t``.
    Use at most ``depth`` generations (the chain ends there).
    """
    e = _eta(eta)
    if e >= 1.0:
        raise bad_argument(InvalidParameterError, "eta", eta, "a number in (0, 1)")
    depth = _int("depth", depth, 1)
    from .locking import with_locking
    from .trees import chain

    k = np.arange(depth + 1, dtype=np.float64)
    base = chain(2.0 - 2.0**-k).with_attrs(u=-((2.0 / (1.0 - e)) ** k))
    return with_locking(base, e)


@dataclass(frozen=True)
class CladePair:
    """A graph with two clades ``u`` and ``v``, neither containing the other."""

    graph: DesignGraph
    u: int
    v: int
    description: str = ""


def dominance_pair(fit_now: float = 3.0, fit_later: float = 1.5) -> CladePair:
    """Lineage dominance: a larger geometric-mean growth beats a larger current fitness.

    The root designs ``u`` (fitness 1) and ``v`` (fitness ``fit_now``) with
    probability 1/2. ``u`` designs a program of fitness ``fit_later`` and ``v``
    one of fitness 0.5, each reproducing itself. Then
    ``lambda(u) = log fit_later > lambda(v) = log 0.5`` although ``f(v) > f(u)``,
    so ``N_t^v / N_t^u -> 0``.
    """
    g = DesignGraph.tree(
        [-1, 0, 0, 1, 2], [1.0, 1.0, float(fit_now), float(fit_later), 0.5], [0.0, 0.5, 0.5, 1.0, 1.0],
        labels=["root", "u", "v", "u-desc", "v-desc"],
    )
    return CladePair(g, 1, 2, "v is fitter now, u's clade grows faster in the long run")


def swinging_pair(blocks: int = 9, high: float = 2.0, low: float = 0.5) -> CladePair:
    """Lineage dominance can fail without a gap: shares that swing for ever.

    The root designs ``u`` and ``v`` with probability 1/2. ``u``'s line has
    fitness ``sqrt(high * low)`` throughout; ``v``'s alternates ``high`` and
    ``low`` in blocks of doubling length (1, 2, 4, ... generations; paper figure 3, docs/figures.md). Then ``lambda(v) > log sqrt(high low) > lambda_(v)`` and the
    ratio ``N_t^v / N_t^u`` swings between ever larger and ever smaller values.
    The lines end after ``2^blocks - 1`` generations.
    """
    blocks = _int("blocks", blocks, 1)
    L = 2**blocks - 1
    vf = np.concatenate([np.full(2**b, high if b % 2 == 0 else low) for b in range(blocks)])
    uf = np.full(L, float(np.sqrt(high * low)))
    # nodes: 0 root, 1..L the u line, L+1..2L the v line
    parent = np.concatenate([[-1], [0], np.arange(1, L), [0], np.arange(L + 1, 2 * L)])
    fit = np.concatenate([[1.0], uf, vf])
    prob = np.concatenate([[0.0], [0.5], np.ones(L - 1), [0.5], np.ones(L - 1)])
    g = DesignGraph.tree(parent, fit, prob)
    return CladePair(g, 1, L + 1, "v's growth rate swings above and below u's for ever")


# ====================================================================== R1
@dataclass(frozen=True, eq=False)
class FitnessPathReport:
    """What R1 is about: the path of mean fitness and why it moves.

    Attributes
    ----------
    mean_fitness : ndarray, shape (G + 1,)
    selection, transmission : ndarray, shape (G,)
        Price terms of the change ``F_{t+1} - F_t`` (trait = fitness).
    decreases : int
        Number of steps with ``F_{t+1} < F_t`` (beyond rounding).
    largest_drop : float
        ``max_t (F_t - F_{t+1})`` (``<= 0`` if fitness never falls).
    tail_min, tail_max : float
        Range of ``F_t`` over the tail window: a wide range at the end of a long
        run means no convergence.
    final : float
    F_star : float
        Maximum reachable fitness.
    """

    mean_fitness: np.ndarray
    selection: np.ndarray
    transmission: np.ndarray
    decreases: int
    largest_drop: float
    tail_min: float
    tail_max: float
    final: float
    F_star: float


def check_fitness_path(g: DesignGraph, generations: int = 100, *, tail: int | None = None) -> FitnessPathReport:
    """R1 checker: does mean fitness fall, oscillate or vanish, and which Price term drives it.

    Parameters
    ----------
    g : DesignGraph
    generations : int
    tail : int, optional
        Tail window for ``tail_min`` / ``tail_max`` (default half the run).
    """
    g = _graph(g)
    G = _int("generations", generations, 1)
    tl = _tail_window(G, tail)
    from .dynamics import simulate
    from .price import price_along

    tr = simulate(g, G)
    if tr.extinct_at is not None:
        raise bad_argument(
            InvalidParameterError, "generations", generations,
            f"at most {tr.extinct_at} generations: the population is extinct after that",
        )
    ps = price_along(g, G)
    F = tr.mean_fitness
    drops = F[:-1] - F[1:]
    scale = np.maximum(np.abs(F[:-1]), 1.0)
    return FitnessPathReport(
        mean_fitness=F,
        selection=ps.selection,
        transmission=ps.transmission,
        decreases=int(np.sum(drops > 1e-12 * scale)),
        largest_drop=float(drops.max()),
        tail_min=float(F[-tl:].min()),
        tail_max=float(F[-tl:].max()),
        final=float(F[-1]),
        F_star=g.F_star,
    )


# ====================================================================== R2
@dataclass(frozen=True, eq=False)
class PreservationReport:
    """What R2 bounds: lineage exponents between ``log(eta f)`` and ``log F*``.

    Attributes
    ----------
    nodes : ndarray of int
        The programs reachable from the root.
    exponent : ndarray
        Exact lineage exponent of each of them.
    lower_bound, upper_bound : ndarray
        ``log(eta f(v))`` and ``log F*``.
    bounds_hold : bool
        ``lower_bound <= exponent <= upper_bound`` for all, decided with the
        exponents' certified brackets: ``False`` only when a bracket lies wholly
        outside a bound (beyond the bounds' own rounding).
    preserving : bool
        Whether the hypothesis holds: ``T(v, v) >= eta`` for every reachable ``v``.
    mean_fitness : ndarray
        ``F_t``; with preservation it tends to the largest exponent's ``exp``,
        which can be far below ``F*``.
    share_near_max : ndarray
        Share of programs with ``f >= F* - eps`` over time (need not tend to 1).
    F_star, eta, eps : float
    """

    nodes: np.ndarray
    exponent: np.ndarray
    lower_bound: np.ndarray
    upper_bound: np.ndarray
    bounds_hold: bool
    preserving: bool
    mean_fitness: np.ndarray
    share_near_max: np.ndarray
    F_star: float
    eta: float
    eps: float


def check_preservation(
    g: DesignGraph, eta: float, generations: int = 200, *, eps: float = 0.05
) -> PreservationReport:
    """R2 checker: exact lineage exponents against ``log(eta f(v))`` and ``log F*``.

    Parameters
    ----------
    g : DesignGraph
        An eta-preserving graph, for example ``with_preservation(base, eta)``.
    eta : float in (0, 1]
    generations : int
        Length of the run reported in ``mean_fitness`` and ``share_near_max``.
    eps : float
        Width of the "near the maximum" set ``f >= F* - eps``.
    """
    g = _graph(g)
    e = _eta(eta)
    G = _int("generations", generations, 0)
    ep = _eps(eps)
    from .dynamics import simulate
    from .lineage import lineage_exponents

    reach = g.reachable()
    nodes = np.flatnonzero(reach)
    Fs = g.F_star
    lam = lineage_exponents(g)
    f = g.fitness[nodes]
    with np.errstate(divide="ignore"):
        lower = np.log(e * f)
        upper = np.full(nodes.size, np.log(Fs))
    x = lam.value[nodes]
    # decided with the certified bracket [lam.lower, lam.upper] of each exponent, and the
    # rounding of log(eta f) and log F* (a few ulps): violated only if certainly violated
    slack = 8.0 * np.spacing(np.maximum(np.abs(lower[np.isfinite(lower)]).max(initial=1.0), abs(np.log(Fs))))
    ok = bool(np.all(lam.upper[nodes] >= lower - slack) & np.all(lam.lower[nodes] <= upper + slack))
    diag = g.T.diagonal()[nodes]
    tr = simulate(g, G, sets={"near": g.fitness >= Fs - ep})
    return PreservationReport(
        nodes=nodes, exponent=x, lower_bound=lower, upper_bound=upper, bounds_hold=ok,
        preserving=bool(np.all(diag >= e - 1e-12)), mean_fitness=tr.mean_fitness,
        share_near_max=tr.set_shares["near"], F_star=Fs, eta=e, eps=ep,
    )


# ====================================================================== R3
@dataclass(frozen=True, eq=False)
class LockingReport:
    """What R3 bounds: the unlocked mass and the share near ``F*``.

    Attributes
    ----------
    log_unlocked_mass : ndarray, shape (G + 1,)
        ``log U_t``, ``U_t`` the total abundance of unlocked programs (``N_0 = 1``).
    log_bound : ndarray, shape (G + 1,)
        ``log(((1 - eta) F*)^t U_0)``.
    bound_holds : bool
        ``log U_t <= log_bound`` at every ``t`` (up to rounding).
    share_near_max : ndarray, shape (G + 1,)
        Share of programs with ``f >= F* - eps``; R3 says it tends to 1.
    mean_fitness : ndarray, shape (G + 1,)
        R3 says ``F_t -> F*``.
    locking : bool
        Whether the hypothesis holds: every reachable unlocked program ``v``
        designs, with probability ``>= eta``, locked copies ``l(v)`` of itself
        (same ``attrs["original"]``) with the same fitness, ``f(l(v)) = f(v)``
        (to a relative ``1e-12``), and reachable locked programs only reproduce
        themselves.
    F_star, eta, eps : float
    """

    log_unlocked_mass: np.ndarray
    log_bound: np.ndarray
    bound_holds: bool
    share_near_max: np.ndarray
    mean_fitness: np.ndarray
    locking: bool
    F_star: float
    eta: float
    eps: float

    @property
    def share_below(self) -> np.ndarray:
        """Share of programs with ``f < F* - eps`` (decays exponentially under R3)."""
        return 1.0 - self.share_near_max


def _locking_eta(g: DesignGraph) -> float:
    """The largest ``eta`` for which ``g`` is eta-locked (0 if it is not locked at all).

    Eta-locked: every reachable unlocked program ``v`` designs locked copies of
    itself (same ``attrs["original"]`` and the same fitness, to a relative
    ``1e-12``) with probability ``eta`` in total, and every reachable locked
    program only reproduces itself.
    """
    a = g.attrs
    if "locked" not in a:
        return 0.0
    locked = a["locked"].astype(bool)
    original = a.get("original", np.arange(g.n))
    coo = g.T.tocoo()
    r, c, v = coo.row, coo.col, coo.data
    reach = g.reachable()
    # locked rows: only themselves
    bad = locked[r] & (r != c) & (v > 0)
    if np.any(reach[r[bad]]):
        return 0.0
    # unlocked rows: mass on locked copies of the same original program with the same fitness
    f = g.fitness
    same_f = np.abs(f[c] - f[r]) <= 1e-12 * np.abs(f[r])
    to_copy = (~locked[r]) & locked[c] & (original[c] == original[r]) & same_f
    mass = np.bincount(r[to_copy], weights=v[to_copy], minlength=g.n)
    need = reach & ~locked
    return float(mass[need].min()) if need.any() else 1.0


def _locking_holds(g: DesignGraph, eta: float) -> bool:
    return _locking_eta(g) >= eta - 1e-12


def _log_block_mass(g: DesignGraph, block: np.ndarray, G: int) -> np.ndarray:
    """``log`` of the total abundance on ``block`` at ``t = 0 .. G`` from one root, never underflowing.

    The abundances on the block and off it are iterated as two vectors, each
    normalised to maximum 1 with its own log scale, so an unlocked mass that
    falls to ``1e-400`` of the total keeps its full relative precision (a share
    would be subnormal or zero).
    """
    import scipy.sparse as sp

    M = sp.csr_array(g.mean_matrix())
    ib = np.flatnonzero(block)
    io = np.flatnonzero(~block)
    blocks = {(a, b): sp.csr_array(M[ia][:, jb]) for a, ia in (("b", ib), ("o", io)) for b, jb in (("b", ib), ("o", io))}
    x = {"b": (ib == g.root).astype(np.float64), "o": (io == g.root).astype(np.float64)}
    scale = {"b": 0.0 if block[g.root] else -np.inf, "o": -np.inf if block[g.root] else 0.0}
    out = np.full(G + 1, -np.inf)

    def log_sum(k: str) -> float:
        s = float(x[k].sum())
        return scale[k] + np.log(s) if s > 0.0 and np.isfinite(scale[k]) else -np.inf

    out[0] = log_sum("b")
    for t in range(1, G + 1):
        new = {}
        for b in ("b", "o"):
            parts = [(scale[a], x[a] @ blocks[(a, b)]) for a in ("b", "o") if np.isfinite(scale[a]) and x[a].size]
            parts = [(s, v) for s, v in parts if v.size and v.max() > 0.0]
            if not parts:
                new[b] = (-np.inf, np.zeros(len(ib) if b == "b" else len(io)))
                continue
            m = max(s + np.log(v.max()) for s, v in parts)
            v = sum(np.exp(s - m) * v for s, v in parts)
            new[b] = (m + np.log(v.max()), v / v.max())
        for b in ("b", "o"):
            scale[b], x[b] = new[b]
        out[t] = log_sum("b")
    return out


def check_locking(
    g: DesignGraph, eta: float, generations: int = 200, *, eps: float = 0.05
) -> LockingReport:
    """R3 checker: unlocked mass against ``((1 - eta) F*)^t U_0`` and the share near ``F*``.

    Parameters
    ----------
    g : DesignGraph
        An eta-locked graph (``attrs["locked"]``), for example ``with_locking(base, eta)``.
    eta : float in (0, 1]
    generations : int
    eps : float
        Width of the set ``f >= F* - eps``.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.theory import check_locking, poor_designer_tree
    >>> rep = check_locking(ae.with_locking(poor_designer_tree(), 0.3), 0.3, 300)
    >>> rep.bound_holds, round(float(rep.mean_fitness[-1]), 9), round(float(rep.share_near_max[-1]), 9)
    (True, 2.0, 1.0)
    """
    g = _graph(g)
    e = _eta(eta)
    G = _int("generations", generations, 0)
    ep = _eps(eps)
    if "locked" not in g.attrs:
        raise bad_argument(
            InvalidParameterError, "g", "a graph without attrs['locked']", "an eta-locked graph (aievo.with_locking)"
        )
    from .dynamics import simulate

    Fs = g.F_star
    unlocked = ~g.attrs["locked"].astype(bool)
    tr = simulate(g, G, sets={"near": g.fitness >= Fs - ep})
    logU = _log_block_mass(g, unlocked, G)
    with np.errstate(divide="ignore"):
        t = np.arange(G + 1, dtype=np.float64)
        rate = np.log((1.0 - e) * Fs) if e < 1.0 else -np.inf
        log_bound = logU[0] + np.where(t == 0, 0.0, t * rate)
    slack = 1e-9 * (1.0 + np.abs(np.where(np.isfinite(log_bound), log_bound, 0.0)))
    holds = bool(np.all((logU <= log_bound + slack) | (logU == -np.inf)))
    return LockingReport(
        log_unlocked_mass=logU, log_bound=log_bound, bound_holds=holds,
        share_near_max=tr.set_shares["near"], mean_fitness=tr.mean_fitness,
        locking=_locking_holds(g, e), F_star=Fs, eta=e, eps=ep,
    )


# ====================================================================== R4, R5
@dataclass(frozen=True, eq=False)
class UtilityReport:
    """What R4 bounds (and R5 shows can fail): mean utility against ``g(F*)``.

    Attributes
    ----------
    mean_utility : ndarray, shape (G + 1,)
    mean_fitness : ndarray, shape (G + 1,)
    liminf_utility : float
        The lim inf estimate: the smallest ``ubar_t`` over the tail window.
    target : float or None
        ``g(F*)`` when a ``g`` was given: R4's lower bound for the lim inf.
    lower_bound : float
        ``min u`` over the reachable programs (``-B``).
    dominated : bool or None
        Whether ``u(v) >= g(f(v)) - 1e-12`` on every reachable program (R4's
        hypothesis), when ``g`` was given. (Continuity of ``g`` at ``F*``, the
        other hypothesis on ``g``, cannot be checked from a callable.)
    locking : float
        R3's hypothesis, which R4 assumes: the largest ``eta`` for which the
        graph is eta-locked (``0.0``: not locked, and R4 does not apply).
    F_star : float
    """

    mean_utility: np.ndarray
    mean_fitness: np.ndarray
    liminf_utility: float
    target: float | None
    lower_bound: float
    dominated: bool | None
    F_star: float
    locking: float = 0.0


def check_utility(
    g: DesignGraph,
    generations: int = 200,
    *,
    utility: Any = "u",
    g_of_f: Callable[[np.ndarray], Any] | None = None,
    tail: int | None = None,
) -> UtilityReport:
    """R4 / R5 checker: mean utility over a run and its lim inf against ``g(F*)``.

    Parameters
    ----------
    g : DesignGraph
        Typically eta-locked.
    generations : int
    utility : str or array_like
        The utility ``u`` (the name of one of ``g.attrs``, default ``"u"``, or an array).
    g_of_f : callable, optional
        The function ``g`` with ``u(v) >= g(f(v))``; vectorised. When given,
        ``target = g(F*)`` and ``dominated`` are reported.
    tail : int, optional
        Tail window of the lim inf estimate (default half the run).

    Examples
    --------
    >>> from aievo.theory import bounded_utility_grid, check_utility
    >>> rep = check_utility(bounded_utility_grid(), 400, g_of_f=lambda f: f - 2.0)
    >>> rep.dominated, rep.target, bool(rep.liminf_utility >= rep.target)
    (True, 4.0, True)
    """
    g = _graph(g)
    G = _int("generations", generations, 1)
    tl = _tail_window(G, tail)
    from .dynamics import _vectors, simulate

    u = _vectors(g, {"u": utility}, "traits")["u"]
    tr = simulate(g, G, traits={"u": u})
    reach = g.reachable()
    Fs = g.F_star
    target = dominated = None
    if g_of_f is not None:
        if not callable(g_of_f):
            raise bad_argument(InvalidParameterError, "g_of_f", g_of_f, "a callable g(f)")
        target = float(np.asarray(g_of_f(np.array([Fs])), dtype=np.float64).ravel()[0])
        gf = np.asarray(g_of_f(g.fitness[reach]), dtype=np.float64)
        dominated = bool(np.all(u[reach] >= gf - 1e-12))
    ubar = tr.trait_means["u"]
    return UtilityReport(
        mean_utility=ubar, mean_fitness=tr.mean_fitness, liminf_utility=float(np.min(ubar[-tl:])),
        target=target, lower_bound=float(u[reach].min()), dominated=dominated, F_star=Fs,
        locking=_locking_eta(g),
    )


# ====================================================================== R6
@dataclass(frozen=True, eq=False)
class DeceptionReport:
    """What R6 predicts on the capability-deception grid.

    Attributes
    ----------
    mean_c, mean_d, mean_fitness : ndarray, shape (G + 1,)
    corner_share : ndarray, shape (G + 1,)
        Share of programs at ``(C, D)`` (locked or not); tends to 1 under
        human-judged fitness.
    top_capability_share : ndarray, shape (G + 1,)
        Share with ``c = C``; tends to 1 under either fitness.
    C, D : float
        The grid's largest capability and deception.
    F_star : float
    """

    mean_c: np.ndarray
    mean_d: np.ndarray
    mean_fitness: np.ndarray
    corner_share: np.ndarray
    top_capability_share: np.ndarray
    C: float
    D: float
    F_star: float


def check_deception(g: DesignGraph, generations: int = 400) -> DeceptionReport:
    """R6 checker: mean capability and deception and the corner share over a run.

    Parameters
    ----------
    g : DesignGraph
        A graph with ``attrs["c"]`` and ``attrs["d"]``, for example
        :func:`aievo.traits.deception_grid`.
    generations : int

    Examples
    --------
    >>> from aievo.traits import deception_grid
    >>> from aievo.theory import check_deception
    >>> rep = check_deception(deception_grid(5, 5, 0.2, fitness="human_judged"), 400)
    >>> [round(float(a[-1]), 9) for a in (rep.mean_c, rep.mean_d, rep.mean_fitness, rep.corner_share)]
    [5.0, 5.0, 11.0, 1.0]
    """
    g = _graph(g)
    G = _int("generations", generations, 0)
    a = g.attrs
    if "c" not in a or "d" not in a:
        raise bad_argument(
            InvalidParameterError, "g", f"a graph with attrs {sorted(a)}",
            "a graph with attrs 'c' and 'd' (aievo.traits.deception_grid)",
        )
    from .dynamics import simulate

    c = a["c"].astype(np.float64)
    d = a["d"].astype(np.float64)
    reach = g.reachable()
    C, D = float(c[reach].max()), float(d[reach].max())
    tr = simulate(
        g, G, traits={"c": c, "d": d}, sets={"corner": (c == C) & (d == D), "top_c": c == C}
    )
    return DeceptionReport(
        mean_c=tr.trait_means["c"], mean_d=tr.trait_means["d"], mean_fitness=tr.mean_fitness,
        corner_share=tr.set_shares["corner"], top_capability_share=tr.set_shares["top_c"],
        C=C, D=D, F_star=g.F_star,
    )


# ====================================================================== dominance
@dataclass(frozen=True, eq=False)
class DominanceReport:
    """Lineage dominance: the clade ratio ``N_t^v / N_t^u`` against the exponents.

    Attributes
    ----------
    log_ratio : ndarray, shape (G + 1,)
        ``log N_t^v - log N_t^u`` for ``t = 0 .. G``.
    lower_u, upper_v : float
        ``"exact"``: the certified lower bound of ``lambda(u)`` and upper bound
        of ``lambda(v)``; ``"estimate"``: the tail estimates of ``lambda_(u)`` and ``lambda(v)``.
    predicted : bool
        ``"exact"``: ``lower_u > upper_v``, which proves ``lambda(u) > lambda(v)``
        and so ``N_t^v / N_t^u -> 0`` (equal exponents are never predicted).
        ``"estimate"``: the gap must also exceed both tail spreads.
    disjoint : bool
        Whether neither clade contains the other (the result's hypothesis).
    method : str
    """

    log_ratio: np.ndarray
    lower_u: float
    upper_v: float
    predicted: bool
    disjoint: bool
    method: str


def check_dominance(
    g: DesignGraph | CladePair,
    u: int | None = None,
    v: int | None = None,
    generations: int = 200,
    *,
    method: str = "exact",
) -> DominanceReport:
    """Lineage dominance checker: compare ``lambda_(u)`` with ``lambda(v)`` and watch ``N_t^v / N_t^u``.

    Parameters
    ----------
    g : DesignGraph or CladePair
        A graph (then give ``u`` and ``v``) or a pair from :func:`dominance_pair`.
    u, v : int
        The two clades' founders.
    generations : int
    method : {"exact", "estimate"}
        How the exponents are obtained (the estimate uses the tail of this run).

    Examples
    --------
    >>> from aievo.theory import check_dominance, dominance_pair
    >>> rep = check_dominance(dominance_pair(), generations=100)
    >>> rep.predicted, bool(rep.log_ratio[1] > 0), bool(rep.log_ratio[-1] < -100)
    (True, True, True)
    """
    if isinstance(g, CladePair):
        u = g.u if u is None else u
        v = g.v if v is None else v
        g = g.graph
    g = _graph(g)
    G = _int("generations", generations, 1)
    for name, x in (("u", u), ("v", v)):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or not 0 <= x < g.n:
            raise bad_argument(InvalidParameterError, name, x, f"a program index in [0, {g.n})")
    assert u is not None and v is not None  # checked just above
    if method not in ("exact", "estimate"):
        raise bad_argument(InvalidParameterError, "method", method, '"exact" or "estimate"')
    from .lineage import clade_abundance, lineage_exponents

    logs = clade_abundance(g, np.arange(G + 1))
    with np.errstate(invalid="ignore"):
        ratio = logs[:, v] - logs[:, u]
    lam = lineage_exponents(g, method, horizon=G) if method == "estimate" else lineage_exponents(g)
    disjoint = not bool(g.reachable(int(u))[int(v)]) and not bool(g.reachable(int(v))[int(u)])
    lu, uv = float(lam.lower[u]), float(lam.upper[v])
    if method == "exact":
        # certified brackets: lower_u > upper_v proves lambda_(u) > lambda(v); equal exponents never do
        predicted = lu > uv
    else:
        # tail estimates carry no proof: ask for a gap beyond their own spread and rounding
        spread = float(lam.error_bound[u]) + float(lam.error_bound[v])
        predicted = lu - uv > spread + 1e-12 * (1.0 + abs(lu) + abs(uv))
    return DominanceReport(
        log_ratio=ratio, lower_u=lu, upper_v=uv, predicted=bool(predicted), disjoint=disjoint, method=method
    )
