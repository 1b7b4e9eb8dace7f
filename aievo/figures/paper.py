"""The paper figures 1-7 (docs/figures.md), after Harris (2026); package formulation.

Each function takes ``quick`` (smaller sizes, for tests) and returns a
:class:`matplotlib.figure.Figure`. Everything plotted is computed here with the
public API (:func:`aievo.simulate` on graphs from :mod:`aievo.trees`,
:func:`aievo.with_locking`); closed forms drawn for comparison are derived in
the docstrings. The parameters are the package's, not the paper's.

Plotted artists carry a ``gid`` (for example ``"F:eta=0.2"``) so the data can
be read back from the figure, which the tests do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._style import COLORS, draw_tree, new_figure, panel_label, styled, tree_layout

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..dynamics import Trajectory
    from ..graph import DesignGraph

__all__ = [
    "fig1_flattest",
    "fig2_tree",
    "fig3_limsup",
    "fig4_oscillating",
    "fig5_binary",
    "fig6_locking",
    "fig7_deception",
    "flattest_landscape",
    "fig2_example_tree",
    "doubling_blocks",
    "fig6_type_graph",
]


# ---------------------------------------------------------------------------------------------
# Figure 1: survival of the flattest
# ---------------------------------------------------------------------------------------------
def flattest_landscape(n: int = 60, narrow_at: int = 12, broad: tuple[int, int] = (34, 48)) -> np.ndarray:
    """The fitness landscape of figure 1.

    Baseline fitness 1 on ``n`` genotypes, a narrow peak (one genotype at
    fitness 2, at ``narrow_at``) and a broad peak (genotypes ``broad[0]`` to
    ``broad[1]`` inclusive, 15 by default, at fitness 1.6).
    """
    f = np.ones(n)
    f[broad[0]: broad[1] + 1] = 1.6
    f[narrow_at] = 2.0
    return f


def _equilibrium(f: np.ndarray, mu: float, generations: int) -> np.ndarray:
    """Shares after ``generations`` on the lattice, from uniform shares (the equilibrium)."""
    import aievo as ae

    g = ae.lattice(f.size, f, mu)
    tr = ae.simulate(g, generations, initial=np.full(f.size, 1.0 / f.size))
    return tr.shares


@styled
def fig1_flattest(*, quick: bool = False) -> "Figure":
    """Survival of the flattest on a 1-D genotype lattice.

    Genotypes mutate at rate ``mu``, half to each neighbour. A narrow high peak
    (one genotype at fitness 2) competes with a broad low peak (15 genotypes at
    1.6) on a baseline of 1. The equilibrium shares (the dynamics run from
    uniform shares until they stop changing) sit on the narrow peak at low ``mu``
    and on the broad peak at high ``mu``.

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    f = flattest_landscape()
    n = f.size
    narrow = f == 2.0
    broad = f == 1.6
    gens = 1500 if quick else 4000
    mus = np.geomspace(0.005, 0.6, 12 if quick else 60)
    mu_lo, mu_hi = 0.02, 0.4
    narrow_share, broad_share = np.zeros(mus.size), np.zeros(mus.size)
    for i, mu in enumerate(mus):
        x = _equilibrium(f, float(mu), gens)
        narrow_share[i] = x[narrow].sum()
        broad_share[i] = x[broad].sum()

    fig = new_figure(12, 7.5)
    gs = fig.add_gridspec(2, 2)
    ax_f = fig.add_subplot(gs[0, 0])
    ax_s = fig.add_subplot(gs[0, 1])
    ax_lo = fig.add_subplot(gs[1, 0])
    ax_hi = fig.add_subplot(gs[1, 1], sharey=ax_lo)
    pos = np.arange(n)

    colors = np.where(narrow, COLORS[1], np.where(broad, COLORS[0], "0.7"))
    from matplotlib.patches import Patch

    ax_f.bar(pos, f - 1.0, bottom=1.0, width=1.0, color=colors, gid="fitness")
    ax_f.legend(handles=[
        Patch(color=COLORS[1], label="narrow peak (1 genotype at f = 2)"),
        Patch(color=COLORS[0], label=f"broad peak ({int(broad.sum())} genotypes at f = 1.6)"),
    ], loc="upper right")
    ax_f.set_ylim(0.9, 2.15)
    ax_f.set_xlabel("genotype (position on the lattice)")
    ax_f.set_ylabel("fitness $f$")
    ax_f.set_title("Fitness landscape (baseline 1)")
    panel_label(ax_f, "a")

    ax_s.plot(mus, narrow_share, "-", color=COLORS[1], label="narrow peak", gid="sweep:narrow")
    ax_s.plot(mus, broad_share, "-", color=COLORS[0], label="broad peak", gid="sweep:broad")
    cross = np.flatnonzero(np.diff(np.sign(narrow_share - broad_share)) != 0)
    if cross.size:
        i = int(cross[0])
        # linear interpolation of the crossing on log(mu)
        d0 = narrow_share[i] - broad_share[i]
        d1 = narrow_share[i + 1] - broad_share[i + 1]
        lm = np.log(mus[i]) + (np.log(mus[i + 1]) - np.log(mus[i])) * d0 / (d0 - d1)
        ax_s.axvline(np.exp(lm), color="0.4", ls="--", lw=1.2, label=rf"switch at $\mu \approx {np.exp(lm):.2f}$")
    for mu in (mu_lo, mu_hi):
        ax_s.axvline(mu, color="0.75", ls=":", lw=1.2)
    ax_s.set_xscale("log")
    ticks = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    ax_s.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax_s.set_ylim(-0.03, 1.03)
    ax_s.set_xlabel(r"mutation rate $\mu$")
    ax_s.set_ylabel("equilibrium share on the peak's genotypes")
    ax_s.set_title("Which peak wins, against the mutation rate")
    ax_s.legend(loc="center left")
    panel_label(ax_s, "b")

    for ax, mu, letter in ((ax_lo, mu_lo, "c"), (ax_hi, mu_hi, "d")):
        x = _equilibrium(f, mu, gens)
        bars = ax.bar(pos, x, width=0.9, color=colors)
        for patch in bars:
            patch.set_gid(f"shares:mu={mu}")
        winner = "narrow" if x[narrow].sum() > x[broad].sum() else "broad"
        ax.set_title(rf"Equilibrium shares at $\mu = {mu}$: the {winner} peak wins")
        ax.set_xlabel("genotype (position on the lattice)")
        ax.set_ylabel("equilibrium share")
        ax.text(
            0.98, 0.95, f"share on narrow peak: {x[narrow].sum():.3f}\nshare on broad peak: {x[broad].sum():.3f}",
            transform=ax.transAxes, va="top", ha="right", fontsize=9.5,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
        )
        panel_label(ax, letter)
    ax_hi.tick_params(labelleft=True)
    fig.suptitle("Figure 1. Survival of the flattest: mutation favours the broad peak (symmetric mutation graph)")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 2: directed evolution on a tree
# ---------------------------------------------------------------------------------------------
def fig2_example_tree() -> "tuple[DesignGraph, list[str]]":
    """The small design tree of figure 2 (depth 3, 13 programs).

    Returns
    -------
    (DesignGraph, list of str)
        The tree and the node names. The fittest first-level program ``A``
        designs mediocre descendants; the weaker ``B`` designs the best program
        ``B2a``.
    """
    import aievo as ae

    names = ["R", "A", "B", "A1", "A2", "B1", "B2", "A1a", "A2a", "A2b", "B1a", "B2a", "B2b"]
    parent = [-1, 0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 6, 6]
    fitness = [1.0, 1.6, 0.9, 0.8, 1.2, 1.1, 1.4, 0.9, 1.3, 1.0, 1.2, 2.0, 1.3]
    prob = [0.0, 0.3, 0.7, 0.5, 0.5, 0.6, 0.4, 1.0, 0.5, 0.5, 1.0, 0.3, 0.7]
    return ae.DesignGraph.tree(parent, fitness, prob, labels=names), names


@styled
def fig2_tree(*, quick: bool = False) -> "Figure":
    """Directed evolution on a small design tree.

    Drawn as the paper's caption describes its figure 2: a rooted tree with time along the
    x-axis, each box a program with its fitness, design probabilities on the arrows, and below
    each program its share ``x_n(t)`` and its unnormalised abundance ``y_n(t)`` at the generation
    ``t`` when the population reaches it (``y(0) = 1`` on the root, ``y(t+1) = A y(t)`` with
    ``A = Q F``, the transpose of ``diag(f) T``). Every program designs only its children (leaves
    copy themselves), so the population moves one level to the right per generation, weighted by
    fitness times design probability along each path; once it reaches the leaves, selection among
    them takes over (panel c).

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    import aievo as ae

    g, names = fig2_example_tree()
    gens = 12 if quick else 30
    tr = ae.simulate(g, gens, record_shares=list(range(gens + 1)))
    parent = np.asarray(g.parent)
    depth = g.depths()
    T = g.T.toarray()
    abundance = np.exp(tr.log_growth)  # N_t = sum_n y_n(t), with N_0 = 1
    leaves = np.setdiff1d(np.arange(g.n), parent[parent >= 0])

    # layout: x = generation (= depth), y = leaves evenly spaced, parents centred on their children
    ypos = np.zeros(g.n)
    for rank, leaf in enumerate(leaves):
        ypos[leaf] = -rank
    for i in sorted(range(g.n), key=lambda i: -depth[i]):
        kids = np.flatnonzero(parent == i)
        if kids.size:
            ypos[i] = ypos[kids].mean()
    xpos = depth * 2.6

    fig = new_figure(13, 8.6)
    gs = fig.add_gridspec(2, 2, width_ratios=[1.0, 1.0], height_ratios=[1.7, 1.0])
    ax = fig.add_subplot(gs[0, :])
    fnorm = mpl.colors.Normalize(0.5, 2.0)
    cmap = mpl.colormaps["viridis"]
    boxes = []
    for i in range(g.n):
        fc = cmap(fnorm(g.fitness[i]))
        dark = sum(fc[:3]) < 1.5
        boxes.append(ax.text(xpos[i], ypos[i], f"{names[i]}\n$f$ = {g.fitness[i]:g}", ha="center", va="center",
                             fontsize=9.5, color="white" if dark else "black", zorder=3, gid=f"box:{names[i]}",
                             bbox={"boxstyle": "round,pad=0.3", "fc": fc, "ec": "0.2"}))
        t = int(depth[i])
        x = tr.shares_at(t)[i]
        ax.text(xpos[i], ypos[i] - 0.3, f"$x$ = {x:.3f}, $y$ = {x * abundance[t]:.3f}", ha="center",
                va="top", fontsize=8.5, color="0.15", zorder=3, gid=f"xy:{names[i]}")
    fig.canvas.draw()  # the boxes' patches get their extents, so arrows can stop at them
    for i in range(g.n):
        p = parent[i]
        if p >= 0:
            ax.annotate("", xy=(xpos[i], ypos[i]), xytext=(xpos[p], ypos[p]), zorder=1,
                        arrowprops={"arrowstyle": "-|>", "color": "0.45", "lw": 1.2, "mutation_scale": 12,
                                    "patchA": boxes[p].get_bbox_patch(), "patchB": boxes[i].get_bbox_patch(),
                                    "shrinkA": 2, "shrinkB": 2})
            ax.text(0.5 * (xpos[p] + xpos[i]), 0.5 * (ypos[p] + ypos[i]), f"{T[p, i]:g}", ha="center",
                    va="center", fontsize=9, color="0.1", zorder=2,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    ax.set_xlim(xpos.min() - 0.9, xpos.max() + 0.9)
    ax.set_ylim(ypos.min() - 0.75, ypos.max() + 0.45)
    ax.set_yticks([])
    ax.set_xticks(np.unique(xpos), [f"$t$ = {d}" for d in np.unique(depth)])
    ax.tick_params(axis="x", length=0, labelsize=10)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("generation $t$: the population reaches depth $t$ at generation $t$")
    ax.set_title("Design tree: arrows carry design probabilities; under each program its share $x_n(t)$ "
                 "and abundance $y_n(t)$ when the population reaches it", fontsize=11)
    fig.colorbar(mpl.cm.ScalarMappable(norm=fnorm, cmap=cmap), ax=ax, label="fitness $f$", shrink=0.75,
                 pad=0.01)
    panel_label(ax, "a")

    times = np.arange(tr.generations + 1)
    ax_F = fig.add_subplot(gs[1, 0])
    ax_F.plot(times, tr.mean_fitness, "o-", ms=3.5, color=COLORS[0], gid="F", label="mean fitness $F_t$")
    ax_F.axhline(g.F_star, color="0.4", ls="--", lw=1.2, label=f"$F^* = {g.F_star:g}$")
    ax_F.axvspan(0, 3, color="0.92", zorder=0)
    ax_F.text(1.5, 0.88, "moving\ndown\nthe tree", ha="center", va="top", fontsize=8.5, color="0.35",
              transform=ax_F.get_xaxis_transform())
    ax_F.set_xlabel("generation $t$")
    ax_F.set_ylabel("mean fitness $F_t$")
    ax_F.set_title("Mean fitness")
    ax_F.legend(loc="lower right")
    panel_label(ax_F, "b")

    ax_L = fig.add_subplot(gs[1, 1])
    shares = np.array([tr.shares_at(int(t)) for t in times])
    for k, leaf in enumerate(leaves):
        ax_L.plot(times[3:], shares[3:, leaf], "-", lw=1.8, color=COLORS[k % len(COLORS)],
                  gid=f"leaf:{names[leaf]}", label=f"{names[leaf]} ($f$ = {g.fitness[leaf]:g})")
    ax_L.set_xlabel("generation $t$")
    ax_L.set_ylabel("share $x_n(t)$")
    ax_L.set_ylim(0, 1.02)
    ax_L.set_title("Leaves (they copy themselves): selection among them")
    ax_L.legend(loc="center right", fontsize=8.5, ncol=2)
    panel_label(ax_L, "c")
    fig.suptitle("Figure 2. Directed evolution on a tree: the population moves one level per generation")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 3: lim sup and lim inf
# ---------------------------------------------------------------------------------------------
def doubling_blocks(n_blocks: int, high: float = 2.0, low: float = 0.5) -> np.ndarray:
    """Fitness along a lineage alternating ``high`` and ``low`` in blocks of length 1, 2, 4, ...

    Block ``j`` (length ``2**j``) has fitness ``high`` for even ``j`` and ``low``
    for odd ``j``; the lineage has ``2**n_blocks - 1`` programs.
    """
    return np.concatenate([np.full(2**j, high if j % 2 == 0 else low) for j in range(n_blocks)])


@styled
def fig3_limsup(*, quick: bool = False) -> "Figure":
    """A lineage whose growth rate has different lim sup and lim inf.

    On the chain with fitness 2 and 1/2 in blocks of doubling length, ``F_t`` is
    the fitness of generation ``t``'s program and ``log N_t`` the sum of
    ``log F_s``. At the end of block ``j`` (``t = 2^(j+1) - 1``) the sum is
    ``log 2 (1 - (-2)^(j+1)) / 3``, so ``(1/t) log N_t`` swings between
    ``+log(2)/3`` (lim sup, reached at the ends of the fitness-2 blocks) and
    ``-log(2)/3`` (lim inf) for ever.

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import aievo as ae

    J = 9 if quick else 14
    f = doubling_blocks(J)
    g = ae.chain(f)
    tr = ae.simulate(g, f.size - 1)
    t = np.arange(1, tr.generations + 1)
    rate = tr.growth_rate
    lam = np.log(2.0) / 3.0

    fig = new_figure(11.5, 7.2)
    ax_f, ax_r = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2.2])
    ax_f.step(np.arange(tr.generations + 1), tr.mean_fitness, where="post", color=COLORS[0], gid="F")
    ax_f.set_yscale("log", base=2)
    ax_f.set_yticks([0.5, 1, 2], ["1/2", "1", "2"])
    ax_f.set_ylabel("fitness $F_t$")
    ax_f.set_title("Fitness along the lineage: 2 and 1/2 in blocks of length 1, 2, 4, 8, ...")
    panel_label(ax_f, "a")

    ax_r.plot(t, rate, color=COLORS[0], label=r"$\frac{1}{t}\log N_t$", gid="rate")
    ax_r.axhline(lam, color=COLORS[1], ls="--", lw=1.5, label=r"lim sup $= \frac{1}{3}\log 2$ (closed form)",
                 gid="limsup")
    ax_r.axhline(-lam, color=COLORS[2], ls="--", lw=1.5, label=r"lim inf $= -\frac{1}{3}\log 2$ (closed form)",
                 gid="liminf")
    # finite-horizon estimates: max and min of the rate over the last three quarters of the run
    tail = t >= t[-1] // 4
    hi, lo = rate[tail].max(), rate[tail].min()
    ax_r.hlines([hi, lo], t[tail][0], t[-1], colors="0.3", lw=3, alpha=0.5,
                label=f"estimates: max/min over $t \\geq {t[tail][0]}$ ({hi:.4f}, {lo:.4f})")
    ax_r.axhline(0, color="0.6", lw=0.8)
    ax_r.set_xscale("log", base=2)
    ax_r.set_xlabel("generation $t$ (log scale)")
    ax_r.set_ylabel(r"growth rate $\frac{1}{t}\log N_t$")
    ax_r.set_ylim(-0.42, 0.78)
    ax_r.set_title("The growth rate oscillates for ever between its lim sup and lim inf")
    ax_r.legend(loc="upper right", ncols=2)
    panel_label(ax_r, "b")
    fig.suptitle("Figure 3. lim sup and lim inf: the lineage exponent need not be a limit")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 4: oscillating fitness, convergent exponent
# ---------------------------------------------------------------------------------------------
@styled
def fig4_oscillating(*, quick: bool = False) -> "Figure":
    """Mean fitness oscillating for ever while the running geometric mean converges.

    The infinite chain alternating fitness 4 and 1 is the two-type graph
    ``A (f=4) -> B (f=1) -> A``. ``F_t`` alternates 4, 1, 4, ... The running
    geometric mean ``exp(log N_t / t)`` is exactly 2 at even ``t`` and
    ``2^((t+1)/t)`` at odd ``t``, so it converges to 2, the spectral radius of
    ``M = diag(f) T``; the running arithmetic mean tends to 2.5, which does not
    describe growth.

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import aievo as ae

    G = 40 if quick else 80
    g = ae.type_graph([4.0, 1.0], [[0.0, 1.0], [1.0, 0.0]], labels=["A", "B"])
    tr = ae.simulate(g, G)
    from aievo.lineage import lineage_exponents

    rho = float(np.exp(lineage_exponents(g, "exact").value[g.root]))  # exact: log of the spectral radius
    t = np.arange(G + 1)
    ts = t[1:]
    geo = np.exp(tr.growth_rate)
    arith = np.cumsum(tr.mean_fitness)[:-1] / ts  # mean of F_0 .. F_{t-1}
    closed = np.where(ts % 2 == 0, 2.0, 2.0 ** ((ts + 1) / ts))

    fig = new_figure(12, 5.2)
    ax, ax_gap = fig.subplots(1, 2, width_ratios=[1.6, 1])
    ax.plot(t, tr.mean_fitness, "o-", ms=3, lw=0.9, color="0.55", label="mean fitness $F_t$", gid="F")
    ax.plot(ts, arith, color=COLORS[4], label=r"running arithmetic mean of $F_s$, $s<t$", gid="arith")
    ax.plot(ts, geo, color=COLORS[0], lw=2.2, label=r"running geometric mean $e^{\log N_t / t}$", gid="geo")
    ax.axhline(rho, color=COLORS[1], ls="--", lw=1.3,
               label=rf"$e^{{\lambda}} = \rho(\mathrm{{diag}}(f)\,T) = {rho:.6g}$ (exact)", gid="rho")
    ax.set_xlabel("generation $t$")
    ax.set_ylabel("fitness")
    ax.set_ylim(0, 4.9)
    ax.set_title("$F_t$ alternates 4, 1, 4, 1, ... for ever")
    ax.legend(loc="upper right", ncols=2)
    panel_label(ax, "a")

    odd = ts % 2 == 1
    ax_gap.loglog(ts[odd], geo[odd] - 2.0, "o", ms=4, color=COLORS[0], label="simulated (odd $t$)", gid="gap")
    ax_gap.loglog(ts[odd], closed[odd] - 2.0, "-", color=COLORS[1], lw=1.2,
                  label=r"closed form $2^{(t+1)/t} - 2$", gid="gap:closed")
    ax_gap.set_xlabel("generation $t$")
    ax_gap.set_ylabel(r"$e^{\log N_t/t} - 2$")
    ax_gap.set_title("Geometric mean converges ($=2$ at even $t$)")
    ax_gap.legend(loc="lower left")
    panel_label(ax_gap, "b")
    fig.suptitle("Figure 4. Oscillating fitness, convergent exponent: chain alternating fitness 4 and 1")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 5: binary tree, optimum unattained
# ---------------------------------------------------------------------------------------------
@styled
def fig5_binary(*, quick: bool = False) -> "Figure":
    """The binary +/- tree: sup f = 2 is approached, never attained.

    A program at depth ``k`` with fitness ``f`` designs ``f - 2^-(k+1)`` and
    ``f + 2^-(k+1)`` with probability 1/2 each. Its descendants' fitness
    approaches ``f + 2^-k`` from below, so its lineage exponent is
    ``log(f + 2^-k)``; that equals the optimum ``log 2`` exactly on the all-+ ray
    (``f = 2 - 2^-k``). The mean fitness ``F_t`` rises toward 2 ever more slowly.

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    import aievo as ae

    depth = 12 if quick else 20
    top = 4
    g = ae.binary_pm_tree(depth)
    tr = ae.simulate(g, depth)
    d_all = g.attrs["depth"]
    plus_all = g.attrs["plus"]
    small = d_all <= top
    f = g.fitness[small]
    d = d_all[small]
    plus = plus_all[small]
    assert g.parent is not None  # a tree
    parent = g.parent[small]
    lam = np.log(f + 2.0 ** (-d.astype(float)))

    fig = new_figure(13.5, 8.2)
    gs = fig.add_gridspec(2, 2, width_ratios=[1.55, 1])
    ax_t = fig.add_subplot(gs[:, 0])
    ax_F = fig.add_subplot(gs[0, 1])
    ax_g = fig.add_subplot(gs[1, 1])
    pos = tree_layout(parent)
    # leaves at the deepest drawn level spread evenly; stretch vertically for room
    pos[:, 1] *= 1.6
    norm = mpl.colors.Normalize(0.0, 2.0)
    edge = {i: ("+" if (i - 1) % 2 == 1 else "−") for i in range(1, parent.size)}
    sc = draw_tree(ax_t, parent, pos, np.exp(lam), cmap="viridis", norm=norm, size=560, node_text=None,
                   edge_text=edge, edge_text_size=9, gid="tree:lambda")
    for (x, y), v, k in zip(pos, f, d):
        ax_t.text(x, y - (0.33 if k == top else 0.0) , f"{v:g}", ha="center", va="top" if k == top else "center",
                  fontsize=7.5 if k >= 3 else 9, rotation=90 if k == top else 0, zorder=5,
                  color="white" if k < top and norm(v + 2.0 ** -k) < 0.55 else "black")
    ring = ax_t.scatter(pos[plus, 0], pos[plus, 1], s=1000, facecolors="none", edgecolors=COLORS[1],
                        linewidths=2.8, zorder=4, label=r"optimal lineage exponent $\lambda = \log 2$ (all-+ ray)")
    ring.set_gid("tree:optimal")
    ax_t.set_ylim(pos[:, 1].min() - 1.2, 0.5)
    ax_t.set_title(f"Top {top + 1} levels (label: fitness; colour: lineage exponent)")
    ax_t.legend(loc="lower left", bbox_to_anchor=(0.0, -0.02), fontsize=9.5, markerscale=0.45)
    cb = fig.colorbar(sc, ax=ax_t, orientation="horizontal", shrink=0.6, pad=0.02, aspect=35)
    cb.set_label(r"$e^{\lambda(v)} = f(v) + 2^{-k}$: sup of fitness in the clade of $v$ (depth $k$)")
    panel_label(ax_t, "a")

    t = np.arange(depth + 1)
    F = tr.mean_fitness
    ax_F.plot(t, F, "o-", ms=4, color=COLORS[0], label="mean fitness $F_t$", gid="F")
    ray_f = 2.0 - 2.0 ** (-t.astype(float))
    ax_F.plot(t, ray_f, "s--", ms=3, color=COLORS[1], lw=1.2, label=r"all-+ program at depth $t$: $2 - 2^{-t}$",
              gid="ray")
    ax_F.axhline(2.0, color="0.3", ls=":", lw=1.3, label=r"$\sup f = 2$ (never attained)")
    ax_F.set_ylim(0.9, 2.08)
    ax_F.set_xticks(np.arange(0, depth + 1, 2 if depth <= 12 else 4))
    ax_F.set_xlabel("generation $t$ (= depth)")
    ax_F.set_ylabel("fitness")
    ax_F.set_title("$F_t$ creeps toward 2")
    ax_F.legend(loc="lower right")
    panel_label(ax_F, "b")

    ts = t[1:]
    ax_g.loglog(ts, 2.0 - F[1:], "o-", ms=4, color=COLORS[0], label=r"$2 - F_t$", gid="gap")
    ax_g.loglog(ts, 2.0 ** (-ts.astype(float)), "s--", ms=3, lw=1.2, color=COLORS[1],
                label=r"$2^{-t}$ (all-+ program)")
    ax_g.set_xlabel("generation $t$")
    ax_g.set_ylabel("distance to the supremum")
    ax_g.set_ylim(2.0 ** (-depth - 1), 2)
    ax_g.set_title(f"The gap shrinks slowly ($2 - F_{{{depth}}} = {2 - F[-1]:.3f}$)")
    ax_g.legend(loc="lower left")
    panel_label(ax_g, "c")
    fig.suptitle("Figure 5. Binary tree, optimum unattained: children $f \\mp 2^{-(k+1)}$ with probability 1/2")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 6: eta-locking ensures convergence
# ---------------------------------------------------------------------------------------------
def fig6_type_graph() -> "DesignGraph":
    """The type graph of figure 6 (an infinite tree with five program types).

    ``R`` (fitness 1) designs ``H`` (2) and ``L`` (1) with probability 1/2 each;
    every descendant of ``H`` has fitness 0.5 (type ``h``), every descendant of
    ``L`` 1.5 (type ``l``).
    """
    import aievo as ae

    names = ["R", "H", "h", "L", "l"]
    f = [1.0, 2.0, 0.5, 1.0, 1.5]
    T = np.zeros((5, 5))
    T[0, 1] = T[0, 3] = 0.5
    T[1, 2] = T[2, 2] = 1.0
    T[3, 4] = T[4, 4] = 1.0
    return ae.type_graph(f, T, labels=names)


@styled
def fig6_locking(*, quick: bool = False) -> "Figure":
    """eta-locking makes the population concentrate on the best reachable program.

    Without locking the fittest program ``H`` (f = 2) designs only poor
    descendants (0.5) and the ``L`` clade (1.5) takes over: ``F_t -> 1.5``.
    With eta-locking ``H``'s locked copies grow at rate 2 and win for every
    ``eta > 0``: ``F_t -> F* = 2`` and the share with ``f >= F* - eps`` tends to 1,
    while the share below decays exponentially.

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import aievo as ae

    G = 40 if quick else 60
    etas = [0.05, 0.2, 0.5]
    eps = 0.1
    base = fig6_type_graph()
    def run(gg):
        near = gg.fitness >= gg.F_star - eps
        return ae.simulate(gg, G, sets={"near": near, "below": ~near})

    runs: dict[str | float, Trajectory] = {"none": run(base)}
    for eta in etas:
        runs[eta] = run(ae.with_locking(base, eta))
    t = np.arange(G + 1)

    fig = new_figure(12.5, 8.4)
    (ax_s, ax_F), (ax_n, ax_b) = fig.subplots(2, 2)
    # schematic of the tree
    pos = {"R": (0.5, 0.85), "H": (0.22, 0.55), "L": (0.78, 0.55), "h": (0.22, 0.2), "l": (0.78, 0.2)}
    lab = {"R": "R\nf = 1", "H": "H\nf = 2", "L": "L\nf = 1", "h": "all descendants\nf = 0.5",
           "l": "all descendants\nf = 1.5"}
    for a, b, p in (("R", "H", "1/2"), ("R", "L", "1/2"), ("H", "h", "1"), ("L", "l", "1")):
        ax_s.annotate("", xy=pos[b], xytext=pos[a], arrowprops={"arrowstyle": "-|>", "color": "0.4", "lw": 1.4,
                                                               "shrinkA": 22, "shrinkB": 24})
        mx, my = (pos[a][0] + pos[b][0]) / 2, (pos[a][1] + pos[b][1]) / 2
        ax_s.text(mx, my, p, ha="center", va="center", fontsize=9.5,
                  bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    cols = {"R": "0.85", "H": COLORS[1], "L": "0.85", "h": "#f3c5a8", "l": "#a9d8c8"}
    for k, (x, y) in pos.items():
        ax_s.text(x, y, lab[k], ha="center", va="center", fontsize=10,
                  bbox={"boxstyle": "round,pad=0.4", "fc": cols[k], "ec": "0.3"})
    ax_s.text(0.5, 0.02, r"$\eta$-locking: every unlocked program also designs its locked copy"
              "\n" r"(same fitness, copies only itself) with probability $\eta$",
              ha="center", va="bottom", fontsize=9.5, transform=ax_s.transAxes)
    ax_s.set_xlim(0, 1)
    ax_s.set_ylim(-0.05, 1)
    ax_s.set_axis_off()
    ax_s.set_title("The best program designs poor descendants")
    panel_label(ax_s, "a")

    styles: dict[str | float, tuple[str, str, str]] = {"none": ("0.25", "-", "no locking")}
    for j, eta in enumerate(etas):
        styles[eta] = (COLORS[[0, 2, 3][j]], "-", rf"$\eta = {eta}$")
    for key, tr in runs.items():
        c, ls, lab_ = styles[key]
        gid = "none" if key == "none" else f"eta={key}"
        ax_F.plot(t, tr.mean_fitness, ls, color=c, label=lab_, gid=f"F:{gid}")
        ax_n.plot(t, tr.set_shares["near"], ls, color=c, label=lab_, gid=f"near:{gid}")
        ax_b.semilogy(t, tr.set_shares["below"], ls, color=c, label=lab_, gid=f"below:{gid}")
    ref_at = runs[etas[-1]].set_shares["below"][-1] / 8  # offset below the curves
    ax_b.semilogy(t[G // 3:], ref_at * 0.75 ** (t[G // 3:] - G), ":", color="0.2", lw=1.6,
                  label=r"reference slope $(1.5/2)^t$")
    ax_F.axhline(2.0, color="0.5", ls=":", lw=1.2)
    ax_F.axhline(1.5, color="0.5", ls=":", lw=1.2)
    ax_F.text(G, 2.0, "$F^* = 2$", ha="right", va="bottom", fontsize=9.5)
    ax_F.text(G, 1.5, "1.5", ha="right", va="bottom", fontsize=9.5)
    ax_F.set_ylim(0.6, 2.15)
    ax_F.set_xlabel("generation $t$")
    ax_F.set_ylabel("mean fitness $F_t$")
    ax_F.set_title(r"$F_t \to F^* = 2$ with locking, $\to 1.5$ without")
    ax_F.legend(loc="lower right")
    panel_label(ax_F, "b")

    ax_n.set_xlabel("generation $t$")
    ax_n.set_ylabel(rf"share with $f \geq F^* - {eps}$")
    ax_n.set_ylim(-0.03, 1.03)
    ax_n.set_title("Concentration on the maximum")
    ax_n.legend(loc="center right")
    panel_label(ax_n, "c")

    ax_b.set_xlabel("generation $t$")
    ax_b.set_ylabel(rf"share with $f < F^* - {eps}$ (log scale)")
    ax_b.set_title("The share below the maximum decays exponentially")
    ax_b.legend(loc="lower left")
    panel_label(ax_b, "d")
    fig.suptitle(r"Figure 6. $\eta$-locking ensures convergence of mean fitness to the best reachable $F^*$")
    return fig


# ---------------------------------------------------------------------------------------------
# Figure 7: evolution selects for deception
# ---------------------------------------------------------------------------------------------
@styled
def fig7_deception(*, quick: bool = False) -> "Figure":
    """Human-judged fitness selects for deception; objective fitness does not.

    On the locked trait grid of :func:`aievo.traits.deception_grid` with ``C = D = 5`` and
    ``eta = 0.2``, human-judged fitness ``1 + c + d`` drives the mean traits to
    ``(C, D)``; objective fitness ``1 + c`` drives ``cbar`` to ``C`` while
    ``dbar`` stays where the design kernel leaves it.

    Parameters
    ----------
    quick : bool
        Reduced sizes and horizons (for tests); the same construction.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    import aievo as ae
    from aievo.traits import deception_grid

    C = D = 5
    eta = 0.2
    G = 150 if quick else 400
    cases = {
        "human": (deception_grid(C, D, eta, fitness="human_judged"), "human-judged fitness $f = 1 + c + d$"),
        "objective": (deception_grid(C, D, eta, fitness="objective"), "objective fitness $f = 1 + c$"),
    }
    g = cases["human"][0]
    c = g.attrs["c"].astype(float)
    d = g.attrs["d"].astype(float)
    runs = {k: ae.simulate(gg, G, traits={"c": c, "d": d}) for k, (gg, _) in cases.items()}
    t = np.arange(G + 1)

    fig = new_figure(12.5, 8.6)
    axes = fig.subplots(2, 2, height_ratios=[1, 1.1])
    norm = mpl.colors.Normalize(0, 1)
    for col, (key, (_gg, title)) in enumerate(cases.items()):
        tr = runs[key]
        ax = axes[0, col]
        ax.plot(t, tr.trait_means["c"], color=COLORS[0], label=r"mean capability $\bar c_t$", gid=f"{key}:c")
        ax.plot(t, tr.trait_means["d"], "--", color=COLORS[1], lw=2.2, label=r"mean deception $\bar d_t$",
                gid=f"{key}:d")
        ax.axhline(C, color="0.5", ls=":", lw=1.2)
        ax.set_ylim(-0.2, C + 0.5)
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, G)
        ticks = [v for v in (0, 2, 5, 10, 20, 50, 100, 200, 400) if v <= G]
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.minorticks_off()
        ax.set_xlabel("generation $t$ (linear to 10, then log)")
        ax.set_ylabel("mean trait")
        ax.set_title(title)
        ax.text(0.98, 0.35, f"at $t = {G}$:\n$\\bar c = {tr.trait_means['c'][-1]:.3f}$\n"
                f"$\\bar d = {tr.trait_means['d'][-1]:.3f}$\n$F = {tr.mean_fitness[-1]:.3f}$",
                transform=ax.transAxes, ha="right", va="center", fontsize=9.5,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})
        ax.legend(loc="upper left")
        panel_label(ax, "ab"[col])

        ax = axes[1, col]
        grid = np.zeros((C + 1, D + 1))
        np.add.at(grid, (g.attrs["c"].astype(int), g.attrs["d"].astype(int)), tr.shares)
        im = ax.imshow(grid.T, origin="lower", cmap="Purples", norm=norm, aspect="equal")
        im.set_gid(f"{key}:grid")
        for i in range(C + 1):
            for j in range(D + 1):
                v = grid[i, j]
                if v >= 0.005:
                    ax.text(i, j, f"{v:.2f}", ha="center", va="center", fontsize=8.5,
                            color="white" if v > 0.5 else "black")
        ax.set_xlabel("capability $c$")
        ax.set_ylabel("deception $d$")
        ax.grid(False)
        ax.set_title(f"Shares over the trait grid at $t = {G}$")
        panel_label(ax, "cd"[col])
    fig.colorbar(im, ax=axes[1, :], label="share (locked + unlocked)", shrink=0.9)
    fig.suptitle(rf"Figure 7. Evolution selects for deception ($C = D = {C}$, $\eta = {eta}$-locking, start at $(0, 0)$)")
    return fig
