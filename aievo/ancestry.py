"""Ancestry: who the population descends from, the dominant lineage, Muller plots.

Beyond the paper. In the deterministic dynamics every individual at
generation ``t + 1`` has a parent at ``t``: program ``v`` contributes the
fraction ``x_t(v) f_t(v) T(v, w) / (F_t x_{t+1}(w))`` of program ``w``. Labelling
the population at generation ``s`` by program (or by any grouping, such as
clades) and carrying the labels through the same update splits every later
share vector by ancestor::

    X_s[a, v]   = x_s(v) if v carries label a, else 0,
    X_{t+1}     = X_t diag(f_t) T / F_t,          sum_a X_t[a] = x_t.

:func:`ancestry` returns ``X_t`` summed over programs: the share of the
population at ``t`` descended from each ancestor alive at ``s``.
:func:`dominant_lineage` follows the final dominant program back in time,
choosing at each generation its most likely parent (the program contributing
most of it); on a tree this walks up the unique root-to-program path and says
when each step of it was taken. :func:`muller` draws nested clade shares of a
tree (a Muller plot, the standard picture of clonal dynamics in experimental
evolution); :meth:`aievo.Trajectory.muller` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .errors import InvalidParameterError, ShapeError, bad_argument
from .graph import DesignGraph

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["Ancestry", "Lineage", "ancestry", "dominant_lineage", "clade_shares", "muller"]


@dataclass(frozen=True, eq=False)
class Ancestry:
    """Shares of the population descended from each ancestor alive at generation ``since``.

    Attributes
    ----------
    since : int
        The generation ``s`` at which ancestors are labelled.
    times : ndarray, shape (k,)
        ``s, s + 1, ..., G``.
    labels : ndarray
        The ancestors: program indices present at ``s`` (or group labels).
    shares : ndarray, shape (k, len(labels))
        ``shares[i, a]``: share of the population at ``times[i]`` descended from ancestor ``labels[a]``.
    final : ndarray, shape (len(labels), n)
        ``X_G``: the final share vector split by ancestor (rows sum to ``shares[-1]``).
    """

    since: int
    times: np.ndarray
    labels: np.ndarray
    shares: np.ndarray
    final: np.ndarray = field(repr=False)

    def of(self, label: Any) -> np.ndarray:
        """The descendants' share over time of one ancestor (a program index or group label)."""
        hits = np.flatnonzero(self.labels == label)
        if hits.size == 0:
            raise bad_argument(
                InvalidParameterError, "label", label, f"an ancestor alive at generation {self.since}: {self.labels.tolist()}"
            )
        return self.shares[:, hits[0]]


@dataclass(frozen=True, eq=False)
class Lineage:
    """The ancestral line of the program dominant at the final generation.

    Attributes
    ----------
    programs : ndarray, shape (G + 1,)
        ``programs[t]``: the ancestor at generation ``t`` (``programs[G]`` is the dominant program).
    steps : list of (int, int)
        ``(generation, program)`` each time the line moves to a new program, in time order.
    fitness : ndarray, shape (G + 1,)
        Base fitness ``f`` of ``programs[t]``.
    """

    programs: np.ndarray
    steps: list[tuple[int, int]]
    fitness: np.ndarray


def _run(g: DesignGraph, G: int, initial: Any, payoff: Any) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """All share vectors ``x_0 .. x_G`` and fitness vectors ``f_0 .. f_G`` (plain numpy, sparse).

    The fitness vectors are ``None`` without payoffs (then every ``f_t`` is ``g.fitness``).
    """
    from .dynamics import _initial_shares
    from .state import _payoff_arrays

    x = _initial_shares(g, initial)
    A, groups = _payoff_arrays(g, payoff)
    m = A.shape[0]
    f = np.asarray(g.fitness, dtype=np.float64)
    TT = sp.csr_array(g.T.T)
    xs = np.empty((G + 1, g.n))
    fs = np.empty((G + 1, g.n)) if m else None
    for t in range(G + 1):
        xs[t] = x
        ft = f if m == 0 else f + (A @ np.bincount(groups, weights=x, minlength=m))[groups]
        if fs is not None:  # payoffs
            if (ft < 0).any():
                from .state import _fitness_error

                v = int(np.flatnonzero(ft < 0)[0])
                raise _fitness_error(t, v, float(ft[v]), "payoff")
            fs[t] = ft
        if t == G:
            break
        h = x * ft
        F = h.sum()
        if F == 0.0:
            raise bad_argument(InvalidParameterError, "generations", G, f"at most {t}: the population dies out at {t}")
        x = TT @ h / F
    return xs, fs, TT


def _generations(G: Any) -> int:
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 0:
        raise bad_argument(InvalidParameterError, "generations", G, "an integer >= 0")
    return int(G)


def ancestry(
    g: DesignGraph,
    generations: int,
    since: int = 0,
    *,
    initial: Any = None,
    groups: Any = None,
    payoff: Any = None,
) -> Ancestry:
    """Share of the population at each later generation descended from each ancestor alive at ``since``.

    Parameters
    ----------
    g : DesignGraph
    generations : int
        Last generation ``G``.
    since : int
        The generation ``s`` whose programs are the ancestors (``0 <= s <= G``).
    initial : int or array_like, optional
        As in :func:`aievo.simulate`.
    groups : array_like of int, optional
        Label of each program (for example its clade); ancestors are then the
        labels present at ``s``. Default: each program is its own label.
    payoff : array_like or aievo.Payoff, optional
        Frequency-dependent fitness, as in :func:`aievo.simulate`.

    Returns
    -------
    Ancestry
        Rows of ``shares`` sum to 1.

    Examples
    --------
    >>> import aievo as ae
    >>> g = ae.with_locking(ae.chain([1.0, 2.0, 3.0]), 0.5)
    >>> anc = ae.ancestry(g, 10, since=1)
    >>> anc.labels.tolist()  # program 1 and the locked copy of program 0
    [1, 3]
    >>> anc.shares[0].tolist(), bool(anc.of(3)[-1] < 1e-3)
    ([0.5, 0.5], True)
    """
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    G = _generations(generations)
    if isinstance(since, bool) or not isinstance(since, (int, np.integer)) or not 0 <= since <= G:
        raise bad_argument(InvalidParameterError, "since", since, f"a generation in [0, {G}]")
    s = int(since)
    xs, fs, TT = _run(g, G, initial, payoff)
    if groups is None:
        lab = np.arange(g.n)
    else:
        lab = np.asarray(groups)
        if lab.shape != (g.n,):
            raise ShapeError(f"groups has shape {lab.shape}: expected ({g.n},)")
    present = xs[s] > 0
    labels = np.unique(lab[present])
    row = np.searchsorted(labels, lab)
    X = np.zeros((labels.size, g.n))
    X[row[present], np.flatnonzero(present)] = xs[s][present]
    f = np.asarray(g.fitness, dtype=np.float64)
    out = np.empty((G - s + 1, labels.size))
    for t in range(s, G + 1):
        out[t - s] = X.sum(axis=1)
        if t == G:
            break
        ft = f if fs is None else fs[t]
        H = X * ft
        X = (TT @ H.T).T / H.sum()
    return Ancestry(since=s, times=np.arange(s, G + 1), labels=labels, shares=out, final=X)


def dominant_lineage(g: DesignGraph, generations: int, *, initial: Any = None, payoff: Any = None) -> Lineage:
    """The line of most likely parents of the program with the largest final share.

    At each generation ``t`` (from ``G`` down to 1) the ancestor at ``t - 1`` of
    program ``w`` is the ``v`` maximising ``x_{t-1}(v) f_{t-1}(v) T(v, w)`` (ties: the
    smallest index), the parent of most of ``w``'s individuals.

    Examples
    --------
    >>> import aievo as ae
    >>> g = ae.with_preservation(ae.chain([1.0, 1.5, 2.0]), 0.5)
    >>> ae.dominant_lineage(g, 30).steps
    [(0, 0), (1, 1), (2, 2)]
    """
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    G = _generations(generations)
    xs, fs, _ = _run(g, G, initial, payoff)
    f = np.asarray(g.fitness, dtype=np.float64)
    Tc = sp.csc_array(g.T)
    prog = np.empty(G + 1, dtype=np.int64)
    w = int(np.argmax(xs[G]))
    prog[G] = w
    for t in range(G, 0, -1):
        col = slice(Tc.indptr[w], Tc.indptr[w + 1])
        vs = Tc.indices[col]
        ft = f if fs is None else fs[t - 1]
        contrib = xs[t - 1][vs] * ft[vs] * Tc.data[col]
        best = np.flatnonzero(contrib == contrib.max())
        w = int(vs[best].min())
        prog[t - 1] = w
    steps = [(0, int(prog[0]))] + [(t, int(prog[t])) for t in range(1, G + 1) if prog[t] != prog[t - 1]]
    return Lineage(programs=prog, steps=steps, fitness=f[prog])


# ---------------------------------------------------------------------------- Muller plots
def clade_shares(parent: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Clade shares ``sum_{w in D(v)} x(w)`` for each row of ``shares`` (a tree's ``parent`` array)."""
    from .graph import tree_depths

    parent = np.asarray(parent, dtype=np.int64)
    C = np.array(shares, dtype=np.float64, copy=True)
    depth = tree_depths(parent)
    for v in np.argsort(-depth, kind="stable"):
        p = parent[v]
        if p >= 0:
            C[..., p] += C[..., v]
    return C


def _muller_layout(parent: np.ndarray, C: np.ndarray, shown: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Bottom and top of each shown program's band: children nested in the middle of their parent's."""
    n = parent.size
    # nearest shown ancestor of each shown program
    up = np.full(n, -1, dtype=np.int64)
    for v in np.flatnonzero(shown):
        p = parent[v]
        while p >= 0 and not shown[p]:
            p = parent[p]
        up[v] = p
    kids: dict[int, list[int]] = {}
    roots = []
    for v in np.flatnonzero(shown):
        (kids.setdefault(int(up[v]), []).append(int(v)) if up[v] >= 0 else roots.append(int(v)))
    bands: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def place(v: int, lo: np.ndarray) -> None:
        ch = kids.get(v, [])
        own = C[:, v] - sum((C[:, c] for c in ch), np.zeros(C.shape[0]))
        bands[v] = (lo, lo + C[:, v])
        cur = lo + own / 2
        for c in ch:
            place(c, cur)
            cur = cur + C[:, c]

    lo = np.zeros(C.shape[0])
    for r in roots:
        place(r, lo)
        lo = lo + C[:, r]
    return bands


def muller(
    times: np.ndarray,
    shares: np.ndarray,
    *,
    parent: np.ndarray | None = None,
    fitness: np.ndarray | None = None,
    threshold: float = 0.01,
    ax: "Axes | None" = None,
    cmap: str = "viridis",
    colorbar: bool = True,
) -> "Axes":
    """Draw a Muller plot: nested bands of clade shares over time.

    Parameters
    ----------
    times : ndarray, shape (k,)
    shares : ndarray, shape (k, n)
        Share vectors at those times.
    parent : ndarray, optional
        A tree's parent array (``-1`` at the root). Each program's band holds
        its clade (it and its descendants), with its descendants' bands nested
        in the middle of it. Without it the programs' own shares are stacked
        (no nesting).
    fitness : ndarray, optional
        Colours the bands by fitness (with a colour bar); default one colour per program.
    threshold : float
        Programs whose clade share never reaches it are drawn as part of their
        nearest shown ancestor (stacked without ``parent``: together in one
        grey band on top, ``gid`` ``"muller:other"``).
    ax : matplotlib Axes, optional
    cmap : str
        Colour map for ``fitness``.
    colorbar : bool
        Draw the colour bar when colouring by fitness.

    Returns
    -------
    matplotlib Axes
        Each band is a ``PolyCollection`` with ``gid`` ``"muller:<program>"``.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    X = np.asarray(shares, dtype=np.float64)
    t = np.asarray(times)
    if X.ndim != 2 or X.shape[0] != t.size:
        raise ShapeError(f"shares has shape {X.shape}: expected (len(times)={t.size}, n)")
    n = X.shape[1]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    if parent is None:
        C = X
        par = np.full(n, -1, dtype=np.int64)
    else:
        par = np.asarray(parent, dtype=np.int64)
        if par.shape != (n,):
            raise ShapeError(f"parent has shape {par.shape}: expected ({n},)")
        C = clade_shares(par, X)
    shown = C.max(axis=0) >= threshold
    if parent is not None:
        shown[par < 0] = True  # the root holds everything not shown
    bands = _muller_layout(par, C, shown)
    if parent is None and not shown.all():
        # stacked programs: the ones below the threshold share one grey band on top
        top = sum((bands[v][1] - bands[v][0] for v in bands), np.zeros(t.size))
        ax.fill_between(t, top, top + X[:, ~shown].sum(axis=1), color="0.85", lw=0.3, edgecolor="white",
                        gid="muller:other", label=f"{int((~shown).sum())} programs below {threshold:g}")
    if fitness is not None:
        fv = np.asarray(fitness, dtype=np.float64)
        norm = Normalize(vmin=float(fv[shown].min()), vmax=float(fv[shown].max()) + 1e-12)
        cm = colormaps[cmap]
        colour = {v: cm(norm(fv[v])) for v in bands}
    else:
        cyc = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        colour = {v: cyc[i % len(cyc)] for i, v in enumerate(sorted(bands))}
    # draw parents first so that nested children cover them
    from .graph import tree_depths

    depth = tree_depths(par)
    for v in sorted(bands, key=lambda v: (depth[v], v)):
        lo, hi = bands[v]
        ax.fill_between(t, lo, hi, color=colour[v], lw=0.3, edgecolor="white", gid=f"muller:{v}")
    ax.set_xlim(t[0], t[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel("generation $t$")
    ax.set_ylabel("share (nested clades)" if parent is not None else "share")
    if fitness is not None and colorbar:
        from matplotlib.cm import ScalarMappable

        ax.figure.colorbar(ScalarMappable(norm=norm, cmap=cm), ax=ax, label="fitness $f$", pad=0.01)
    return ax
