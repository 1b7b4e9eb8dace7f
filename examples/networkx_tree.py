"""A custom design tree built with networkx: the flashy champion and the steady designer.

The story (docs/explanation/model.md, lineage dominance). A root program (fitness 1)
designs two kinds of successor with probability 1/2 each:

* ``F``, *flashy*: fitness 1.8 today, but a poor designer: each of its designs is
  worse than its designer (children at ``f - 0.3`` and ``f - 0.1``, floored at 0.2);
* ``S``, *steady*: fitness only 1.2, but a good designer: its children are at
  ``f + 0.05`` and ``f - 0.02``.

Early on the flashy clade holds most of the population; its clade abundance grows
fast and then stalls, while the steady clade's keeps compounding. After a few
generations the steady clade takes over: long-run success is the geometric mean
growth of a clade (its lineage exponent), not the fitness of its founder.

The tree is written as a ``networkx.DiGraph`` with node attribute ``fitness`` and
edge attribute ``p`` and converted with :meth:`aievo.DesignGraph.from_networkx`.
Run ``python examples/networkx_tree.py [--quick] [--out DIR]``; writes
``networkx_tree.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402

import aievo as ae  # noqa: E402

RULES = {"F": (-0.3, -0.1), "S": (+0.05, -0.02)}


def build_tree(depth: int) -> nx.DiGraph:
    """The tree as a networkx DiGraph; node names are design paths ("", "F", "F0", "S01", ...)."""
    G = nx.DiGraph()
    G.add_node("root", fitness=1.0, depth=0)
    G.add_node("F", fitness=1.8, depth=1)
    G.add_node("S", fitness=1.2, depth=1)
    G.add_edge("root", "F", p=0.5)
    G.add_edge("root", "S", p=0.5)
    frontier = ["F", "S"]
    for d in range(2, depth + 1):
        nxt = []
        for v in frontier:
            f = G.nodes[v]["fitness"]
            for j, delta in enumerate(RULES[v[0]]):
                w = f"{v}{j}"
                G.add_node(w, fitness=max(0.2, round(f + delta, 10)), depth=d)
                G.add_edge(v, w, p=0.5)
                nxt.append(w)
        frontier = nxt
    for v in frontier:  # leaves reproduce themselves (a self-loop with probability 1)
        G.add_edge(v, v, p=1.0)
    return G


def layered_positions(G: nx.DiGraph, root: str, max_depth: int) -> dict[str, tuple[float, float]]:
    """x = order of the leaves below (in-order), y = -depth; only nodes down to max_depth."""
    pos: dict[str, tuple[float, float]] = {}
    counter = [0]

    def place(v: str, d: int) -> float:
        kids = [w for w in G.successors(v) if w != v] if d < max_depth else []
        if not kids:
            x = float(counter[0])
            counter[0] += 1
        else:
            x = float(np.mean([place(w, d + 1) for w in kids]))
        pos[v] = (x, -d)
        return x

    place(root, 0)
    return pos


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shallower tree")
    parser.add_argument("--out", default=".", help="directory for the PNG")
    args = parser.parse_args(argv)
    depth = 8 if args.quick else 12
    generations = depth + 8

    G = build_tree(depth)
    g = ae.DesignGraph.from_networkx(G, fitness="fitness", prob="p")
    labels = g.labels
    steady = np.array([str(v).startswith("S") for v in labels])
    flashy = np.array([str(v).startswith("F") for v in labels])
    tr = ae.simulate(g, generations, sets={"steady": steady, "flashy": flashy},
                     record_shares=[1, 2, 3])
    cross = int(np.argmax(tr.set_shares["steady"] > tr.set_shares["flashy"]))
    print(f"tree of {g.n} programs, depth {depth}; {generations} generations from the root")
    print(f"t=1: share flashy={tr.set_shares['flashy'][1]:.6f} steady={tr.set_shares['steady'][1]:.6f}")
    print(f"steady clade overtakes at t={cross}")
    print(f"t={generations}: share steady={tr.set_shares['steady'][-1]:.6f}  F={tr.mean_fitness[-1]:.6f}")

    fig = plt.figure(figsize=(12, 5), layout="constrained")
    gs = fig.add_gridspec(2, 2, width_ratios=[1.3, 1])
    ax_tree = fig.add_subplot(gs[:, 0])
    show = 4
    pos = layered_positions(G, "root", show)
    nodes = list(pos)
    index = {v: i for i, v in enumerate(labels)}
    x3 = tr.shares_at(3)
    sub = G.subgraph(nodes)
    edges = [(u, v) for u, v in sub.edges if u != v]
    nx.draw_networkx_edges(sub, pos, edgelist=edges, ax=ax_tree, arrows=False, edge_color="0.6")
    # clade abundance share below each node at t = 3 (mass sits at depth 3 then)
    below = {v: x3[[index[w] for w in nx.descendants(G, v) | {v}]].sum() for v in nodes}
    sc = nx.draw_networkx_nodes(sub, pos, nodelist=nodes, ax=ax_tree, node_size=520,
                                node_color=[below[v] for v in nodes], cmap="Blues", vmin=0, vmax=1,
                                edgecolors="k", linewidths=0.6)
    nx.draw_networkx_labels(sub, pos, labels={v: f"{G.nodes[v]['fitness']:.2f}" for v in nodes},
                            font_size=7, ax=ax_tree)
    ax_tree.set_title(f"Depths 0 to {show} (label: fitness; colour: share of the clade at $t$ = 3)")
    ax_tree.text(pos["F"][0], pos["F"][1] + 0.25, "flashy F", ha="center", fontsize=10, color="C3")
    ax_tree.text(pos["S"][0], pos["S"][1] + 0.25, "steady S", ha="center", fontsize=10, color="C0")
    ax_tree.axis("off")
    fig.colorbar(sc, ax=ax_tree, shrink=0.6, label="share of the clade at $t$ = 3")
    t = np.arange(generations + 1)
    ax_s = fig.add_subplot(gs[0, 1])
    ax_s.plot(t, tr.set_shares["flashy"], color="C3", lw=1.8, label="flashy clade F")
    ax_s.plot(t, tr.set_shares["steady"], color="C0", lw=1.8, label="steady clade S")
    ax_s.axvline(cross, color="0.5", ls=":", lw=1)
    ax_s.set(ylabel="share", title="Clade shares", ylim=(-0.03, 1.03))
    ax_s.legend(fontsize=9)
    ax_s.grid(alpha=0.3)
    ax_f = fig.add_subplot(gs[1, 1], sharex=ax_s)
    tr.plot(ax_f, color="k", lw=1.8)
    ax_f.set_title("Mean fitness")
    ax_f.grid(alpha=0.3)
    fig.suptitle("A tree from networkx: the flashy champion loses to the steady designer")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "networkx_tree.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / 'networkx_tree.png'}")
    return {"graph": g, "trajectory": tr, "crossing": cross}


if __name__ == "__main__":
    main()
