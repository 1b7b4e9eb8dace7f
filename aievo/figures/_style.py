"""Shared look of the aievo figures: fonts, colours, panel labels, tidy trees.

Figures are built on :class:`matplotlib.figure.Figure` directly (never through
``pyplot``), so drawing them neither needs nor changes a GUI backend and leaves
no global figure state behind. :func:`styled` wraps a figure function so that
every artist it creates uses the package's rc settings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

__all__ = [
    "RC",
    "COLORS",
    "styled",
    "new_figure",
    "panel_label",
    "tree_layout",
    "draw_tree",
]

#: rc settings applied while a figure is drawn.
RC: dict[RcKeyType, Any] = {
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "lines.linewidth": 1.8,
    "figure.titlesize": 13.5,
    "figure.titleweight": "bold",
    "savefig.dpi": 150,
}

#: A colour-blind friendly cycle (Okabe-Ito) used across figures.
COLORS: list[str] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

F = TypeVar("F", bound=Callable[..., Any])


def styled(func: F) -> F:
    """Run a figure function with :data:`RC` in effect."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import matplotlib as mpl
        from matplotlib.rcsetup import cycler

        with mpl.rc_context({**RC, "axes.prop_cycle": cycler(color=COLORS)}):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def new_figure(width: float, height: float) -> "Figure":
    """A figure of the given size in inches with constrained layout (no pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def panel_label(ax: "Axes", letter: str) -> None:
    """Put a bold panel letter ``(a)``, ``(b)``, ... in the top-left corner outside the axes."""
    ax.text(
        -0.02, 1.02, f"({letter})", transform=ax.transAxes, ha="right", va="bottom",
        fontsize=12, fontweight="bold",
    )


def tree_layout(parent: Sequence[int] | np.ndarray) -> np.ndarray:
    """A tidy layout of a rooted tree: leaves evenly spaced, parents centred over children.

    Parameters
    ----------
    parent : array_like of int
        ``parent[i]`` is the parent of node ``i`` (``-1`` for the root).

    Returns
    -------
    ndarray, shape (n, 2)
        ``x`` in leaf units (first leaf at 0) and ``y = -depth``.
    """
    par = np.asarray(parent, dtype=np.int64)
    n = par.size
    children: list[list[int]] = [[] for _ in range(n)]
    root = -1
    for i, p in enumerate(par.tolist()):
        if p < 0:
            root = i
        else:
            children[p].append(i)
    pos = np.zeros((n, 2))
    next_leaf = [0.0]

    def place(v: int, depth: int) -> float:
        pos[v, 1] = -depth
        if not children[v]:
            pos[v, 0] = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            xs = [place(c, depth + 1) for c in children[v]]
            pos[v, 0] = 0.5 * (xs[0] + xs[-1])
        return float(pos[v, 0])

    place(root, 0)
    return pos


def draw_tree(
    ax: "Axes",
    parent: Sequence[int] | np.ndarray,
    pos: np.ndarray,
    values: np.ndarray,
    *,
    cmap: str,
    norm: Any,
    size: float = 900.0,
    node_text: Sequence[str] | None = None,
    edge_text: dict[int, str] | None = None,
    text_size: float = 9.0,
    edge_text_size: float = 8.5,
    gid: str | None = None,
) -> Any:
    """Draw a tree: edges parent -> child, nodes coloured by ``values``.

    Returns the node ``PathCollection``; its ``get_array()`` holds ``values``
    (tests read the plotted data back from it).
    """
    import matplotlib as mpl

    par = np.asarray(parent)
    for i, p in enumerate(par.tolist()):
        if p < 0:
            continue
        ax.plot(pos[[p, i], 0], pos[[p, i], 1], color="0.55", lw=1.3, zorder=1)
        if edge_text and i in edge_text:
            mx, my = 0.5 * (pos[p] + pos[i])
            ax.text(
                mx, my, edge_text[i], ha="center", va="center", fontsize=edge_text_size, color="0.15",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.9}, zorder=2,
            )
    sc = ax.scatter(
        pos[:, 0], pos[:, 1], c=values, cmap=cmap, norm=norm, s=size, edgecolors="0.2",
        linewidths=1.0, zorder=3,
    )
    if gid is not None:
        sc.set_gid(gid)
    if node_text is not None:
        colors = mpl.colormaps[cmap](norm(np.asarray(values, dtype=float)))
        for (x, y), text, rgba in zip(pos, node_text, colors):
            lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            ax.text(
                x, y, text, ha="center", va="center", fontsize=text_size, zorder=4,
                color="white" if lum < 0.5 else "black",
            )
    ax.set_axis_off()
    return sc
