"""Figures of Friedman et al. (2023), "Interpretability illusions in the generalization of simplified models".

Faithfulness of simplified proxies (SVD, k-means, one-hot attention) of small trained
transformers in and out of distribution, on Dyck languages and on in-context regression
(data: :mod:`aievo.mesa.experiments.friedman2023`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..mesa.experiments.friedman2023 import (
    DYCK_CHECKPOINT,
    REGRESSION_CHECKPOINT,
    FriedmanResult,
    dyck_friedman,
    regression_friedman,
)

__all__ = ["friedman2023_dyck", "friedman2023_regression"]


@lru_cache(maxsize=8)
def _result(task: str, quick: bool, retrain: bool) -> FriedmanResult:
    from ..mesa.nn.shipped import shipped_model

    if task == "dyck":
        return dyck_friedman(shipped_model(DYCK_CHECKPOINT, retrain=retrain), n=120 if quick else 1000)
    return regression_friedman(shipped_model(REGRESSION_CHECKPOINT, retrain=retrain), n=200 if quick else 2000)


def _plot(res: FriedmanResult, title: str) -> Any:
    import matplotlib.pyplot as plt

    fig, (ax_f, ax_s) = plt.subplots(1, 2, figsize=(12, 4.4), constrained_layout=True)
    S, P = len(res.splits), len(res.proxies)
    width = 0.8 / P
    colors = plt.get_cmap("tab10")
    xs = np.arange(S)
    dyck = res.task == "dyck"
    # Dyck: every agreement is high, so the axis starts near the lowest; regression: 1 - rel_diff below -1 is cut
    lo = np.floor(float(np.min(res.faithfulness)) * 20) / 20 - 0.05 if dyck else -1.0
    for i, name in enumerate(res.proxies):
        off = (i - (P - 1) / 2) * width
        bars = ax_f.bar(xs + off, res.faithfulness[i], width, color=colors(i), label=name,
                        gid=f"faithfulness:{name}")
        for rect, v in zip(bars, res.faithfulness[i]):
            if v < lo:
                ax_f.text(rect.get_x() + width / 2, lo + 0.02, f"{v:.1f}", rotation=90, ha="center", va="bottom",
                          fontsize=7, color="white")
        ax_s.bar(xs + off, res.score_proxy[i], width, color=colors(i), gid=f"score:{name}")
    ax_s.plot(xs, res.score_model, "k_", markersize=220 / S, markeredgewidth=2.5, gid="score:model")
    ax_f.set_ylim(lo, 1.0)
    ax_f.set_ylabel("agreement with the model's predicted bracket" if dyck
                    else "faithfulness: 1 - relative RMS difference")
    if dyck:
        ax_s.set_ylim(lo, 1.0)
        ax_s.set_ylabel("accuracy (higher is better)")
    else:
        ax_s.set_yscale("log")
        ax_s.set_ylabel("loss (lower is better; log scale)")
    for ax in (ax_f, ax_s):
        ax.set_xticks(xs, res.splits)
        ax.axvspan(-0.5, 0.5, color="0.9", zorder=-1)
        ax.set_xlim(-0.5, S - 0.5)
    ax_f.set_title("faithfulness: in distribution (grey) and on shifted splits", fontsize=10)
    ax_s.set_title(f"{res.score_name} of each proxy; black bar: the original model", fontsize=10)
    from matplotlib.lines import Line2D

    handles, labels = ax_f.get_legend_handles_labels()
    handles.append(Line2D([], [], color="k", linewidth=2.5))
    fig.legend(handles, [*labels, "original model"], loc="outside lower center", ncol=P + 1, fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def friedman2023_dyck(*, quick: bool = False, retrain: bool = False) -> Any:
    """Dyck-(4, 4): faithfulness and accuracy of the SVD, k-means and one-hot proxies of layer 2, per split."""
    res = _result("dyck", bool(quick), bool(retrain))
    t = res.info["task"]
    return _plot(res, f"Friedman et al. 2023 on Dyck-({t['k']}, {t['m']}), length {t['T']}: "
                      "simplified second-layer attention")


def friedman2023_regression(*, quick: bool = False, retrain: bool = False) -> Any:
    """In-context regression: faithfulness and loss of SVD, k-means and one-hot proxies, per split."""
    res = _result("regression", bool(quick), bool(retrain))
    return _plot(res, "Friedman et al. 2023 on in-context regression (2-layer softmax, d = 2, N = 10): "
                      "both layers simplified")
