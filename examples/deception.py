"""Human-judged against objective fitness: evolution selects for deception.

The story (result R6 and figure 7, docs/explanation/results.md). Programs carry two traits on a grid:
capability ``c`` in ``0..C`` and deception ``d`` in ``0..D``. Each unlocked
program designs its locked copy with probability ``eta`` and otherwise raises
``c`` or ``d`` by one (probability ``(1 - eta)/2`` each, clipped at the grid's
edge).

* **Human-judged** fitness ``f = 1 + c + d``: humans cannot tell capability from
  deception, so both pay. By eta-locking (R3) the population concentrates on
  ``F* = 1 + C + D``, which forces mean capability to ``C`` *and* mean deception
  to ``D``.
* **Objective** fitness ``f = 1 + c``: deception earns nothing. Mean capability
  still goes to ``C``; mean deception stays strictly between 0 and ``D``, wherever
  the design kernel happened to leave it.

The grid comes from :func:`aievo.traits.deception_grid`; the same scenario as a
file is ``examples/scenarios/deception_grid.toml`` (run it with ``aievo run``).
Run ``python examples/deception.py [--quick] [--out DIR]``; writes ``deception.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import aievo as ae  # noqa: E402
from aievo.traits import deception_grid  # noqa: E402

MODES = ("human_judged", "objective")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 4 x 4 grid and 200 generations")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    args = parser.parse_args(argv)
    C = D = 3 if args.quick else 5
    generations = 200 if args.quick else 400
    eta = 0.2

    results = {}
    print(f"trait grid C = {C}, D = {D}, eta-locking {eta}, {generations} generations")
    for mode in MODES:
        g = deception_grid(C, D, eta, fitness=mode)
        tr = ae.simulate(g, generations, traits={"capability": "c", "deception": "d"})
        results[mode] = (g, tr)
        print(
            f"{mode:<13s} F={tr.mean_fitness[-1]:.6f}  mean_c={tr.trait_means['capability'][-1]:.6f}  "
            f"mean_d={tr.trait_means['deception'][-1]:.6f}"
        )

    fig = plt.figure(figsize=(12, 4.2), layout="constrained")
    gs = fig.add_gridspec(1, 3, width_ratios=[1.5, 1, 1])
    ax = fig.add_subplot(gs[0])
    t = np.arange(generations + 1)
    for mode, ls in zip(MODES, ("-", "--")):
        tr = results[mode][1]
        label = "human-judged $f=1+c+d$" if mode == "human_judged" else "objective $f=1+c$"
        ax.plot(t, tr.trait_means["capability"], color="C0", ls=ls, lw=1.8, label=f"capability, {label}")
        ax.plot(t, tr.trait_means["deception"], color="C3", ls=ls, lw=1.8, label=f"deception, {label}")
    horizon = min(generations, 80)
    ax.set(xlabel=f"generation $t$ (first {horizon}; flat afterwards)", ylabel="population mean",
           title="Mean capability (blue) and deception (red)", ylim=(-0.1, max(C, D) + 0.3), xlim=(0, horizon))
    ax.text(horizon * 0.97, max(C, D) + 0.05, "human-judged: the two curves coincide", ha="right", va="bottom",
            fontsize=8, color="0.3")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    for k, mode in enumerate(MODES):
        g, tr = results[mode]
        grid = np.zeros((C + 1, D + 1))
        c = g.attrs["c"].astype(int)
        d = g.attrs["d"].astype(int)
        np.add.at(grid, (c, d), tr.shares)
        axh = fig.add_subplot(gs[k + 1])
        im = axh.imshow(grid.T, origin="lower", cmap="viridis", vmin=0, vmax=1)
        axh.set(xlabel="capability $c$", ylabel="deception $d$",
                title=("human-judged" if k == 0 else "objective") + f": shares at $t$ = {generations}")
        axh.set_xticks(range(C + 1))
        axh.set_yticks(range(D + 1))
    fig.colorbar(im, ax=fig.axes[1:], shrink=0.8, label="share")
    fig.suptitle("Evolution selects for deception when humans judge fitness")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "deception.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'deception.png'}")
    return results


if __name__ == "__main__":
    main()
