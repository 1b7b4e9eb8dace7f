"""Figures of evolving mesa-optimizers (registered in ``aievo figures`` as ``evolving_mesa_*``).

* :func:`divergence_figure` draws an :class:`~aievo.evolving.experiment.ExperimentResult`:
  (a, b) the population's proxy and deployment loss over generations under
  each evaluator, (c) mean capability and deception, (d) every learner's
  measured capability and deception with the final population means;
* :func:`evolving_mesa_divergence` runs the default experiment (smaller with
  ``quick``) and draws it;
* :func:`evolving_mesa_transformers` does the same with small trained
  transformers as programs (:func:`transformer_config`, the configuration of
  ``examples/scenarios/evolving_transformers.toml``), from the shipped
  checkpoints or, with ``retrain``, from models trained afresh.

Plotted artists carry a ``gid`` so tests can read the data back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._style import COLORS, new_figure, panel_label, styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..evolving.experiment import ExperimentResult

__all__ = [
    "divergence_figure",
    "evolving_mesa_divergence",
    "evolving_mesa_transformers",
    "quick_config",
    "transformer_config",
]

_LABEL = {"human_judged": "human-judged", "objective": "objective"}


@styled
def divergence_figure(result: "ExperimentResult", *, programs: str = "in-context learners") -> "Figure":
    """Proxy against deployment loss of the evolving population, under each evaluator.

    ``programs`` names the programs in the title.
    """
    cfg = result.config
    fig = new_figure(11.0, 8.0)
    axes = fig.subplots(2, 2)
    t = np.arange(cfg.generations + 1)
    lo, hi = np.inf, 0.0
    for ax, (name, run) in zip(axes[0], result.runs.items()):
        tm = run.trajectory.trait_means
        ax.plot(t, tm["proxy_loss"], color=COLORS[0], lw=2, label="proxy (what the evaluator sees)",
                gid=f"{name}:proxy_loss")
        ax.plot(t, tm["deployment_loss"], color=COLORS[1], lw=2, label="deployment",
                gid=f"{name}:deployment_loss")
        ax.set_yscale("log")
        ax.set_xlabel("generation $t$")
        ax.set_ylabel("population mean loss")
        ax.set_title(f"{_LABEL[name]} fitness")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        both = np.concatenate([tm["proxy_loss"], tm["deployment_loss"]])
        lo, hi = min(lo, both[both > 0].min()), max(hi, both.max())
    for ax in axes[0]:
        ax.set_ylim(lo / 2, hi * 2)
    panel_label(axes[0, 0], "a")
    panel_label(axes[0, 1], "b")

    cx = axes[1, 0]
    for k, (name, run) in enumerate(result.runs.items()):
        tm = run.trajectory.trait_means
        cx.plot(t, tm["capability"], color=COLORS[2 * k], lw=2, label=f"capability, {_LABEL[name]}",
                gid=f"{name}:capability")
        cx.plot(t, tm["deception"], color=COLORS[2 * k], lw=2, ls="--", label=f"deception, {_LABEL[name]}",
                gid=f"{name}:deception")
    cx.axhline(0.0, color="0.6", lw=0.8)
    cx.set_xlabel("generation $t$")
    cx.set_ylabel("population mean (score units)")
    cx.set_title("capability = deployment score,\ndeception = proxy score $-$ deployment score", fontsize=10)
    cx.grid(alpha=0.3)
    cx.legend(loc="best", fontsize=8)
    panel_label(cx, "c")

    dx = axes[1, 1]
    m = result.measured
    br = result.space.is_branch()
    soft = np.array([getattr(v, "attention", None) == "softmax" for v in result.space.learners], dtype=bool)
    plain = ~br & ~soft
    dx.scatter(m["capability"][plain], m["deception"][plain], s=14, color="0.3",
               label="learners" if not soft.any() else "learners (linear attention)", gid="learners", zorder=2)
    if soft.any():
        dx.scatter(m["capability"][soft & ~br], m["deception"][soft & ~br], s=30, facecolor="none",
                   edgecolor=COLORS[3], lw=1.2, label="softmax-attention transformers", gid="softmax_learners",
                   zorder=2)
    dx.scatter(m["capability"][br], m["deception"][br], s=3, color="0.75", label="conditional branches",
               gid="branches", rasterized=True, zorder=1)
    P = float(m["proxy_score"].max())
    c = np.linspace(0.0, P, 2)
    dx.plot(c, P - c, color=COLORS[0], lw=1, ls=":", label="best proxy score: $c + d = P^*$")
    for k, (name, run) in enumerate(result.runs.items()):
        dx.scatter([run.final("capability")], [run.final("deception")], s=120, marker="*", color=COLORS[2 * k],
                   edgecolor="k", zorder=3, label=f"final mean, {_LABEL[name]}", gid=f"{name}:final")
    dx.set_xlabel("capability $c$")
    dx.set_ylabel("deception $d$")
    dx.set_title("measured traits: not a rectangle", fontsize=10)
    dx.grid(alpha=0.3)
    dx.legend(loc="upper right", fontsize=8)
    panel_label(dx, "d")
    fig.suptitle(
        f"Evolving {programs}: {result.space.n} learners, eta-locking {cfg.eta:g}\n"
        f"proxy {cfg.proxy.describe()}; deployment {cfg.deployment.describe()}",
        fontsize=11,
    )
    return fig


def quick_config():
    """A small configuration (fewer learners and draws) for quick figures and tests."""
    from ..evolving.design import DesignRules
    from ..evolving.experiment import ExperimentConfig
    from ..evolving.learners import InputRange

    rules = DesignRules(eta_grid=(1.0, 2.0, 4.0, 8.0), K_max=2, gamma_grid=(0.0, 0.03), detector=InputRange(0.5))
    return ExperimentConfig(rules=rules, generations=120, draws=200, name="quick")


@styled
def evolving_mesa_divergence(*, quick: bool = False) -> "Figure":
    """The default experiment (``quick``: :func:`quick_config`) drawn by :func:`divergence_figure`."""
    from ..evolving.experiment import ExperimentConfig, run_experiment

    return divergence_figure(run_experiment(quick_config() if quick else ExperimentConfig()))


def transformer_config(*, retrain: bool = False):
    """The configuration of ``examples/scenarios/evolving_transformers.toml``.

    Root ``Transformer(1.0)`` (one linear layer trained on inputs in
    ``[-1, 1]``); moves: one layer deeper (0.2), a narrower or wider training
    range (0.3), the other attention kind (0.1), a branch testing for the
    proxy's input range (0.1); proxy ``|x| <= 0.5``, deployment ``|x| <= 1.5``,
    400 tasks, 300 generations, eta-locking 0.1. ``retrain``: every
    transformer is trained afresh from its recipe instead of loaded.
    """
    from ..evolving.design import DesignRules
    from ..evolving.experiment import ExperimentConfig
    from ..evolving.learners import InputRange, Transformer

    rules = DesignRules(
        train_halfwidth_grid=(0.5, 1.0, 1.5), K_max=2, p_step=0.2, p_retune=0.3, p_attention=0.1,
        p_precondition=0.0, p_branch=0.1, detector=InputRange(0.5),
    )
    return ExperimentConfig(rules=rules, root=Transformer(1.0, retrain=retrain), name="evolving_transformers")


@styled
def evolving_mesa_transformers(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """:func:`transformer_config` drawn by :func:`divergence_figure` (``quick``: 120 generations, 200 tasks).

    ``retrain`` trains the twelve transformers afresh (needs the ``jax`` extra;
    minutes) instead of loading the shipped checkpoints.
    """
    from dataclasses import replace

    from ..evolving.experiment import run_experiment

    cfg = transformer_config(retrain=retrain)
    if quick:
        cfg = replace(cfg, generations=120, draws=200)
    return divergence_figure(run_experiment(cfg), programs="trained transformers")
