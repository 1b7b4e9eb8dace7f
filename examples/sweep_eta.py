"""A resumable sweep over the lock rate eta: when does locking help, and when does it cost?

The story (docs/explanation/model.md). Two chains of programs ``0 -> 1 -> ... -> 40``,
each program designing the next, made eta-locked: every unlocked program designs,
with probability ``eta``, a locked copy of itself that only reproduces itself.

* **Declining** chain ``f_k = 1 + 2**-k``: the first program is the best (``F* = 2``).
  Locking is what saves it (result R3): the root's locked copy grows like 2 per
  generation and takes over, faster for larger ``eta``.
* **Improving** chain ``f_k = 1 + 0.1 k``: every design is better. Locking now
  holds mass back on the programs already reached, so ``F_T`` falls as ``eta``
  grows.

The grid is ``chain x eta x generations``; every cell is one :func:`aievo.simulate`
run, saved by :func:`aievo.sweep.sweep` as it finishes. Interrupt the script and
run it again: it computes only the missing cells.

Run ``python examples/sweep_eta.py [--quick] [--out DIR] [--workers N]``; it prints
``F_T`` for each cell and writes ``sweep_eta.png``: the gap ``F* - F_T`` of the
declining chain on a log scale, and ``F_T`` of the improving chain, against
``eta``. The sweep itself goes to ``DIR/sweep_eta`` (``DIR/sweep_eta_quick``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import aievo as ae  # noqa: E402
from aievo.sweep import SweepResult, sweep  # noqa: E402

LENGTH = 41  # programs k = 0..40, the last one absorbing


def chain_fitness(chain: str) -> np.ndarray:
    k = np.arange(LENGTH)
    return {"declining": 1.0 + 2.0**-k, "improving": 1.0 + 0.1 * k}[chain]


def locked_chain(chain: str, eta: float, generations: int, rng: np.random.Generator):
    """One cell: the eta-locked chain run for ``generations`` generations (deterministic)."""
    return ae.simulate(ae.with_locking(ae.chain(chain_fitness(chain)), eta), generations)


def main(argv: list[str] | None = None) -> SweepResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small grid, in this process")
    parser.add_argument("--out", default=".", help="directory for the sweep and the figure")
    parser.add_argument("--workers", type=int, default=None, help="local processes (0: this process)")
    args = parser.parse_args(argv)

    if args.quick:
        grid = {"chain": ["declining", "improving"], "eta": [0.05, 0.2, 0.5, 1.0], "generations": [3, 10]}
        workers = 0 if args.workers is None else args.workers
    else:
        grid = {
            "chain": ["declining", "improving"],
            "eta": np.round(np.linspace(0.02, 1.0, 50), 4),
            "generations": [3, 10, 30, 100],
        }
        workers = args.workers  # None: two local processes
    out = Path(args.out)
    res = sweep(locked_chain, grid, out=out / ("sweep_eta_quick" if args.quick else "sweep_eta"),
                executor=workers, rng=0)
    F_T = res.collect(lambda tr: tr.mean_fitness[-1])  # shape (chain, eta, generations)

    etas, Ts = res.axes["eta"], res.axes["generations"]
    print(f"{res}")
    print(f"{'F_T':<10s}" + "".join(f"  {c:>10s} T={T:<4d}" for c in res.axes["chain"] for T in Ts))
    for j, eta in enumerate(etas):
        row = "".join(f"  {F_T[c, j, k]:17.6f}" for c in range(len(res.axes["chain"])) for k in range(len(Ts)))
        print(f"eta={eta:<6g}" + row)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    titles = {
        "declining": "Declining chain $f_k = 1 + 2^{-k}$: locking helps",
        "improving": "Improving chain $f_k = 1 + 0.1\\,k$: locking costs",
    }
    for c, (ax, chain) in enumerate(zip(axes, res.axes["chain"])):
        f_star = chain_fitness(chain).max()
        for k, T in enumerate(Ts):
            y = F_T[c, :, k]
            if chain == "declining":  # the gap to F* shrinks geometrically: log scale
                y = np.where(f_star - y > 0, f_star - y, np.nan)
            ax.plot(etas, y, marker="o" if args.quick else None, ms=4, lw=1.8,
                    label=f"$T$ = {T}", color=f"C{k}")
        if chain == "declining":
            ax.set_yscale("log")
            ax.set(ylabel=r"gap to the best, $F^* - F_T$ ($F^* = 2$)")
        else:
            ax.axhline(f_star, color="0.5", lw=0.8, ls=":", label=f"$F^* = {f_star:g}$")
            ax.set(ylabel=r"mean fitness $F_T$ after $T$ generations")
        ax.set(xlabel=r"lock rate $\eta$", title=titles[chain], xlim=(0, 1.02))
        ax.grid(alpha=0.3)
        if chain == "declining":
            ax.legend(fontsize=9, loc="best")
        else:  # in the empty band between the T = 30 and T = 100 curves
            ax.legend(fontsize=9, loc="center", bbox_to_anchor=(0.42, 0.72), ncol=2)
    fig.suptitle(f"Sweep over $\\eta$: {len(res)} runs of the eta-locked chain (k = 0..{LENGTH - 1})")
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "sweep_eta.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'sweep_eta.png'}")
    return res


if __name__ == "__main__":
    main()
