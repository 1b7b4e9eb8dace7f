"""Locking against preservation: why frozen copies matter.

The story (docs/explanation/results.md). A chain of programs ``0 -> 1 -> 2 -> ...``
where program ``k`` has fitness ``f_k = 1 + 2**-k``: the very first program is the
best (``F* = 2``) and every design is a little worse. Left alone, the population
slides down the chain.

* With **eta-preservation** every program reproduces itself unchanged with
  probability ``eta``, but the copy keeps designing, so its offspring keep sliding.
  The root's clade grows at most like ``eta * 2`` per generation, less than the
  ``1`` at the bottom of the chain for ``eta < 0.5``: mean fitness falls to 1.
* With **eta-locking** every program designs, with probability ``eta``, a locked
  copy that only reproduces itself. The locked copy of the root grows like 2 per
  generation and takes over: ``F_t -> F* = 2`` for every ``eta`` (result R3).

Run ``python examples/locking_vs_preservation.py [--quick] [--out DIR]``; it prints
``F_200`` and the share of programs with ``f >= 1.95`` for each ``eta`` and writes
``locking_vs_preservation.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import aievo as ae  # noqa: E402

ETAS = (0.1, 0.3, 0.6)
GENERATIONS = 200


def run(eta: float, kind: str, generations: int = GENERATIONS) -> ae.Trajectory:
    """One run of the chain ``f_k = 1 + 2^-k`` (k = 0..40) with locking or preservation."""
    chain = ae.chain(1.0 + 2.0 ** -np.arange(41))
    g = ae.with_locking(chain, eta) if kind == "locking" else ae.with_preservation(chain, eta)
    return ae.simulate(g, generations, sets={"near_max": g.fitness >= 1.95})


def main(argv: list[str] | None = None) -> dict[tuple[str, float], ae.Trajectory]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (the chain is cheap: same numbers)")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    args = parser.parse_args(argv)

    runs = {(kind, eta): run(eta, kind) for kind in ("locking", "preservation") for eta in ETAS}
    print(f"chain f_k = 1 + 2^-k, k = 0..40; F* = 2; {GENERATIONS} generations; near_max: f >= 1.95")
    for (kind, eta), tr in runs.items():
        print(
            f"{kind:<12s} eta={eta:.1f}  F_{GENERATIONS}={tr.mean_fitness[-1]:.6f}  "
            f"share_near_max={tr.set_shares['near_max'][-1]:.6f}"
        )

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    colors = dict(zip(ETAS, ("C0", "C1", "C2")))
    t = np.arange(GENERATIONS + 1)
    for (kind, eta), tr in runs.items():
        style = dict(color=colors[eta], ls="-" if kind == "locking" else "--", lw=1.8)
        ax1.plot(t, tr.mean_fitness, label=f"{kind}, $\\eta$ = {eta}", **style)
        ax2.plot(t, tr.set_shares["near_max"], **style)
    ax1.axhline(2.0, color="0.5", lw=0.8, ls=":")
    ax1.set(xlabel="generation $t$", ylabel="mean fitness $F_t$", title="Mean fitness: locking reaches $F^*=2$")
    ax2.set(xlabel="generation $t$", ylabel="share of programs with $f \\geq 1.95$",
            title="Concentration on the best program", ylim=(-0.03, 1.03))
    fig.legend(loc="outside lower center", ncol=6, fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, GENERATIONS)
        ax.set_xlabel("generation $t$ (linear to 10, then log scale)")
        ax.grid(alpha=0.3)
    fig.suptitle("Chain $f_k = 1 + 2^{-k}$: eta-locking (solid) against eta-preservation (dashed)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "locking_vs_preservation.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'locking_vs_preservation.png'}")
    return runs


if __name__ == "__main__":
    main()
