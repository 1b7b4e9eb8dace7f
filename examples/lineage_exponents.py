"""Lineage exponents on a type graph: current fitness against long-run success.

The story (docs/explanation/model.md). Seven program types; the seed (fitness 1) designs
one of four successors with probability 1/4 each:

* a **sprinter** (fitness 3) whose every design is a **burnout** (fitness 0.5);
* an **alternator** (fitness 4) that designs a **rester** (fitness 1) that designs
  an alternator again: fitness 4, 1, 4, 1, ...;
* a **mixer** (fitness 1.5) that copies itself or designs a **steady** program
  (fitness 1.6) with probability 1/2 each;
* the seed itself.

The lineage exponent ``lambda(v) = lim (1/t) log N_t^v`` of a type is the
long-run growth rate of the clade it founds. On a type graph it is exact:
``log`` of the largest spectral radius of ``M = diag(f) T`` over the strongly
connected components reachable from ``v``. The sprinter is fitter than its designer
(3 against 1) but has the lowest exponent (``log 0.5``); the alternator's clade grows like
``sqrt(4 * 1) = 2`` per generation (``log 2``), the mixer's like the steady program
(``log 1.6``). :func:`aievo.lineage.lineage_exponents` computes it; the empirical growth
``(1/t) log N_t^v`` from :func:`aievo.simulate`
(started from one program of type ``v``) converges to these values.

Run ``python examples/lineage_exponents.py [--quick] [--out DIR]``; writes
``lineage_exponents.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import aievo as ae  # noqa: E402
from aievo.lineage import lineage_exponents  # noqa: E402

TYPES = ["seed", "sprinter", "burnout", "alternator", "rester", "mixer", "steady"]
FITNESS = [1.0, 3.0, 0.5, 4.0, 1.0, 1.5, 1.6]


def build() -> ae.DesignGraph:
    """The seven-type graph described in the module docstring."""
    T = np.zeros((7, 7))
    T[0, [0, 1, 3, 5]] = 0.25
    T[1, 2] = 1.0
    T[2, 2] = 1.0
    T[3, 4] = 1.0
    T[4, 3] = 1.0
    T[5, [5, 6]] = 0.5
    T[6, 6] = 1.0
    return ae.type_graph(FITNESS, T, labels=TYPES)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter horizon")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    args = parser.parse_args(argv)
    horizon = 200 if args.quick else 2000

    g = build()
    growth = {name: ae.simulate(g, horizon, initial=v).growth_rate for v, name in enumerate(TYPES)}
    exact = lineage_exponents(g, "exact").value

    print(f"type graph with {g.n} types; empirical growth (1/t) log N_t at t = {horizon}")
    for v, name in enumerate(TYPES):
        print(f"{name:<11s} f={FITNESS[v]:<4g} growth={growth[name][-1]:+.6f}  exact={exact[v]:+.6f}")

    fig, ax = plt.subplots(figsize=(9, 5), layout="constrained")
    t = np.arange(1, horizon + 1)
    for v, name in enumerate(TYPES):
        color = f"C{v}"
        ax.plot(t, growth[name], color=color, lw=1.6, label=f"{name} ($f$ = {FITNESS[v]:g})")
        ax.axhline(exact[v], color=color, ls="--", lw=0.9)
    ax.set_xscale("log")
    ax.set(xlabel="generation $t$", ylabel=r"$(1/t)\,\log N^v_t$",
           title="Clade growth from one program of each type\n"
                 "(solid: simulation; dashed: exact lineage exponent, log of the largest\n"
                 "spectral radius of $M = \\mathrm{diag}(f)\\,T$ over the reachable components)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.01, 0.5), title="founding type")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "lineage_exponents.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'lineage_exponents.png'}")
    return {"graph": g, "growth": growth, "exact": exact}


if __name__ == "__main__":
    main()
