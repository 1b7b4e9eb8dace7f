"""Figures beyond the theorem's assumptions: finite populations, learning evaluators, ancestry.

Each function takes ``quick`` (smaller sizes, for tests) and returns a
:class:`matplotlib.figure.Figure`. Everything plotted is computed here with the
public API (:func:`aievo.concentration_probability`, :func:`aievo.simulate`
with ``evaluator=``, :func:`aievo.ancestry`); plotted artists carry a ``gid``
so that tests can read the data back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._style import COLORS, new_figure, panel_label, styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..graph import DesignGraph

__all__ = [
    "concentration_figure",
    "evaluator_figure",
    "muller_figure",
    "muller_tree",
    "EVALUATOR_D",
]

#: Largest deception of the evaluator figure's trait grid.
EVALUATOR_D = 5


# ---------------------------------------------------------------------------------------------
# concentration of finite populations
# ---------------------------------------------------------------------------------------------
@styled
def concentration_figure(*, quick: bool = False) -> "Figure":
    """Probability that a population of ``K`` concentrates on ``F*``, against ``K``.

    The locking race (:func:`aievo.fixation.race_graph`, the graph of paper
    figure 6 with a tunable gap): the best program ``H`` (fitness ``1.5 +
    gap``) designs only poor descendants (0.5), the other branch settles at 1.5.
    With eta-locking an infinite population concentrates on ``H``'s locked
    copies (the dashed line: its share at ``t``). A finite Wright-Fisher
    population does so only if drift does not lose the few early locked copies:
    the event is "at least 90% of the population has ``f = F*`` at ``t = 60``",
    estimated from independent replicates with 95% Wilson intervals.
    """
    import aievo as ae
    from aievo.fixation import race_graph

    Ks = [5, 10, 20, 50, 100, 300, 1000] if quick else [5, 10, 20, 50, 100, 200, 500, 1000, 3000]
    runs = 150 if quick else 2000
    G, level = 60, 0.9
    etas = [0.02, 0.05, 0.2, 0.5]
    gaps = [0.05, 0.2, 0.5, 1.5]
    rng = np.random.default_rng(2026)

    def curve(eta: float, gap: float) -> tuple[np.ndarray, np.ndarray, float]:
        ests = [
            ae.concentration_probability(race_graph(eta, gap), K, G, 0.0, level=level, runs=runs, rng=rng) for K in Ks
        ]
        p = np.array([e.estimate for e in ests])
        ci = np.array([e.ci for e in ests])
        return p, ci, ests[0].params["deterministic_share"]

    fig = new_figure(12.5, 4.8)
    ax_e, ax_g = fig.subplots(1, 2, sharey=True)
    for ax, key, values, fixed in ((ax_e, "eta", etas, 0.5), (ax_g, "gap", gaps, 0.1)):
        for i, v in enumerate(values):
            eta, gap = (v, fixed) if key == "eta" else (fixed, v)
            p, ci, det = curve(eta, gap)
            c = COLORS[i]
            label = rf"$\eta = {v}$" if key == "eta" else f"gap = {v}"
            eb = ax.errorbar(Ks, p, yerr=[p - ci[:, 0], ci[:, 1] - p], fmt="o-", ms=4, capsize=2.5, color=c,
                             label=label)
            eb.lines[0].set_gid(f"P:{key}={v}")
            # the infinite population: probability 1 if its share exceeds the level, 0 otherwise
            ax.plot([Ks[-1] * 2.0 * 1.3**i], [float(det >= level)], "D", ms=7, color=c, mec="k", mew=0.6,
                    gid=f"det:{key}={v}", clip_on=False, zorder=5)
        ax.axvspan(Ks[-1] * 1.5, Ks[-1] * 6, color="0.93", zorder=0)
        ax.text(Ks[-1] * 3.0, 0.5, "$K \\to \\infty$", ha="center", va="center", fontsize=10)
        ax.set_xscale("log")
        ax.set_xlim(Ks[0] * 0.8, Ks[-1] * 6)
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel("population size $K$")
        ax.legend(loc="lower left", bbox_to_anchor=(0.6, 0.03) if key == "eta" else (0.5, 0.22),
                  title=("gap = 0.5" if key == "eta" else r"$\eta = 0.1$"))
    ax_e.set_ylabel(rf"P(share with $f = F^*$ $\geq$ {level} at $t = {G}$)")
    ax_e.set_title(r"Weaker locking needs larger populations")
    ax_g.set_title(r"A smaller fitness gap needs larger populations")
    panel_label(ax_e, "a")
    panel_label(ax_g, "b")
    fig.suptitle(
        "Finite populations: concentration on the best program happens with high probability only for large K\n"
        f"(Wright-Fisher, {runs} replicates per point, 95% Wilson intervals; diamonds: the deterministic limit)",
        fontsize=12,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# the learning evaluator
# ---------------------------------------------------------------------------------------------
def _evaluator_run(s: float, k: float, rate: float, G: int, p0: float = 0.0):
    import aievo as ae

    D = EVALUATOR_D
    g = ae.deception_grid(5, D, 0.2, phi=lambda z: 1.0 + k * D + z)
    ev = ae.LearningEvaluator(rate=rate, sensitivity=s, penalty=k, p0=p0)
    return ae.simulate(g, G, traits=["d"], evaluator=ev), ev


@styled
def evaluator_figure(*, quick: bool = False) -> "Figure":
    """Where deception is still selected when evaluators learn to detect it.

    The deception grid (``C = D = 5``, eta-locking 0.2) with human-judged
    fitness on a baseline ``1 + k D``; the evaluator detects deception with
    probability ``p_t``, ``p_{t+1} = 0.9 p_t + 0.1 (1 - exp(-s dbar_t))``, and
    ``f_t = base + c + d (1 - p_t) - k p_t d``. Deception pays while
    ``(1 + k) p < 1``, so mean deception is held at the break-even level
    ``log((1 + k) / k) / s`` when that is below ``D`` and is still selected
    all the way to ``D`` above the curve ``s = log((1 + k) / k) / D``.
    """
    D = EVALUATOR_D
    G = 300 if quick else 800
    ss = np.geomspace(0.02, 3.0, 8 if quick else 25)
    ks = np.linspace(0.0, 3.0, 7 if quick else 25)
    final = np.empty((ks.size, ss.size))
    for i, k in enumerate(ks):
        for j, s in enumerate(ss):
            tr, _ = _evaluator_run(float(s), float(k), 0.1, G)
            final[i, j] = tr.trait_means["d"][-1] / D

    fig = new_figure(13.0, 4.9)
    ax_m, ax_d, ax_p = fig.subplots(1, 3, width_ratios=[1.25, 1, 1])
    mesh = ax_m.pcolormesh(ss, ks, final, cmap="magma", vmin=0, vmax=1, shading="nearest", gid="final_d")
    fig.colorbar(mesh, ax=ax_m, label=r"final mean deception $\bar d / D$", pad=0.01)
    kk = np.linspace(0.02, 3.0, 300)
    ax_m.plot(np.log((1 + kk) / kk) / D, kk, "--", color="w", lw=2, gid="boundary")
    ax_m.set_xscale("log")
    ax_m.set_xlim(ss[0], ss[-1])
    ax_m.set_ylim(ks[0], ks[-1])
    ax_m.text(0.04, 1.5, "deception\nstill selected\n" r"($\bar d \to D$)", color="k", fontsize=10, ha="left",
              va="center")
    ax_m.text(0.9, 2.4, "held at\nbreak-even\n" r"$\bar d = \log\frac{1+k}{k} / s$", color="w", fontsize=10,
              ha="center", va="center")
    ax_m.set_xlabel("detection sensitivity $s$")
    ax_m.set_ylabel("penalty $k$ on detected deception")
    ax_m.set_title("Regimes after learning")
    panel_label(ax_m, "a")

    cases = [
        (0.5, 0.0, 0.0, "no learning (rate 0)"),
        (0.5, 0.0, 0.1, "learns, no penalty: $s = 0.5$, $k = 0$"),
        (0.1, 1.0, 0.1, "learns, weak: $s = 0.1$, $k = 1$"),
        (0.5, 1.0, 0.1, "learns, strong: $s = 0.5$, $k = 1$"),
    ]
    Gt = 250 if quick else 400
    t = np.arange(Gt + 1)
    for i, (s, k, rate, label) in enumerate(cases):
        tr, ev = _evaluator_run(s, k, rate, Gt)
        c = ["0.3", COLORS[0], COLORS[2], COLORS[1]][i]
        ls = "--" if i == 1 else "-"  # dashed: it runs under the weak learner's curve in (b)
        ax_d.plot(t, tr.trait_means["d"], ls, color=c, label=label, gid=f"d:case{i}")
        ax_p.plot(t, tr.trait_means["detection"], ls, color=c, label=label, gid=f"p:case{i}")
        be = ev.break_even()
        if be < D:
            ax_d.axhline(be, color=c, ls=":", lw=1.2)
            ax_p.axhline(1 / (1 + k), color=c, ls=":", lw=1.2)
    ax_d.set_ylim(-0.1, D + 0.3)
    ax_d.set_xlabel("generation $t$")
    ax_d.set_ylabel(r"mean deception $\bar d_t$ (dotted: break-even)")
    ax_d.set_title("Mean deception")
    ax_d.legend(loc="lower right", fontsize=8.5)
    panel_label(ax_d, "b")
    ax_p.set_ylim(-0.03, 1.03)
    ax_p.set_xlabel("generation $t$")
    ax_p.set_ylabel("detection probability $p_t$ (dotted: $1/(1+k)$)")
    ax_p.set_title("Detection probability")
    panel_label(ax_p, "c")
    fig.suptitle("A learning evaluator: deception is still selected unless detection is sensitive and punished",
                 fontsize=12.5)
    return fig


# ---------------------------------------------------------------------------------------------
# ancestry and the Muller plot
# ---------------------------------------------------------------------------------------------
def muller_tree(n: int = 40, seed: int = 7, self_prob: float = 0.99) -> "DesignGraph":
    """A random recursive design tree whose fitness rises with depth (for the Muller figure).

    Program ``i >= 1`` is designed by a uniformly chosen earlier program; its
    fitness is its designer's times ``Uniform(0.95, 1.12)``; each program copies
    itself with probability ``self_prob`` and designs its children with the rest
    (split uniformly at random).
    """
    import aievo as ae

    gen = np.random.default_rng(seed)
    parent = np.full(n, -1, dtype=np.int64)
    parent[1:] = np.floor(gen.random(n - 1) * np.arange(1, n)).astype(np.int64)
    f = np.ones(n)
    for i in range(1, n):
        f[i] = f[parent[i]] * gen.uniform(0.95, 1.12)
    w = gen.exponential(size=n)
    w[0] = 0.0
    totals = np.bincount(parent[1:], weights=w[1:], minlength=n)
    has_children = np.bincount(parent[1:], minlength=n) > 0
    prob = np.zeros(n)
    prob[1:] = w[1:] / totals[parent[1:]] * (1 - self_prob)
    return ae.DesignGraph.tree(parent, f, prob, self_prob=np.where(has_children, self_prob, 1.0))


@styled
def muller_figure(*, quick: bool = False) -> "Figure":
    """Muller plot and ancestry of the deterministic dynamics on a branching design tree.

    (a) Nested clade shares (:meth:`aievo.Trajectory.muller`) coloured by
    fitness: successive designs sweep inside their designers' clades.
    (b) The share of the population descended from each program alive at
    generation ``s`` (:func:`aievo.ancestry`): one of them ends up the ancestor
    of nearly everyone. (c) The line of most likely parents of the final
    dominant program (:func:`aievo.dominant_lineage`) and its share: in an
    infinite population the final winner's founders are designed in the first
    generations, at vanishing shares, and then grow.
    """
    import aievo as ae

    g = muller_tree()
    G = 400
    s = 100
    tr = ae.simulate(g, G, record_shares=list(range(G + 1)))
    anc = ae.ancestry(g, G, since=s)
    lin = ae.dominant_lineage(g, G)

    fig = new_figure(13.0, 8.0)
    gs = fig.add_gridspec(2, 2, height_ratios=[1.25, 1])
    ax_m = fig.add_subplot(gs[0, :])
    ax_a = fig.add_subplot(gs[1, 0])
    ax_l = fig.add_subplot(gs[1, 1])
    tr.muller(ax_m, graph=g, threshold=0.005)
    ax_m.axvline(s, color="k", ls=":", lw=1.2)
    ax_m.set_title("Muller plot: nested clade shares, coloured by fitness")
    panel_label(ax_m, "a")

    top = np.argsort(-anc.shares.max(axis=0))[:4]
    for i, a in enumerate(top):
        ax_a.plot(anc.times, anc.shares[:, a], color=COLORS[i], label=f"program {anc.labels[a]}",
                  gid=f"anc:{anc.labels[a]}")
    rest = 1 - anc.shares[:, top].sum(axis=1)
    ax_a.plot(anc.times, rest, color="0.5", ls="--", label=f"the other {anc.labels.size - top.size}", gid="anc:rest")
    ax_a.set_xlim(0, G)
    ax_a.set_ylim(-0.02, 1.02)
    ax_a.axvline(s, color="k", ls=":", lw=1.2)
    ax_a.set_xlabel("generation $t$")
    ax_a.set_ylabel(f"share descended from\nprograms alive at $s = {s}$")
    ax_a.set_title(f"Ancestry from generation {s}")
    ax_a.legend(loc="center right", fontsize=8.5)
    panel_label(ax_a, "b")

    t = np.arange(G + 1)
    own = tr.snapshots[t, lin.programs]
    ax_l.semilogy(t, own, color=COLORS[1], label="share of the lineage's program $x_t$(ancestor at $t$)",
                  gid="lineage")
    for gen_, v in lin.steps[1:]:
        ax_l.annotate(f"{v} (f = {g.fitness[v]:.2f})", (gen_, own[gen_]), xytext=(6, -3), textcoords="offset points",
                      fontsize=8.5)
    ax_l.set_xlabel("generation $t$")
    ax_l.set_ylabel("share (log scale)")
    ax_l.set_title("The dominant lineage: founded early, at tiny shares")
    ax_l.legend(loc="lower right", fontsize=8.5)
    panel_label(ax_l, "c")
    fig.suptitle(f"Ancestry on a branching design tree ({g.n} programs, each copies itself w.p. 0.99)",
                 fontsize=12.5)
    return fig
