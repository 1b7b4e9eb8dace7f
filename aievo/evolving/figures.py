"""Figures of evolving mesa-optimizers (registered in ``aievo figures`` as ``evolving_mesa_*``).

* :func:`divergence_figure` draws an :class:`~aievo.evolving.experiment.ExperimentResult`:
  (a, b) the population's proxy and deployment loss over generations under
  each evaluator, (c) mean capability and deception, (d) every learner's
  measured capability and deception with the final population means;
* :func:`evolving_mesa_divergence` runs the default experiment (smaller with
  ``quick``) and draws it.

Plotted artists carry a ``gid`` so tests can read the data back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..figures._style import COLORS, new_figure, panel_label, styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .experiment import ExperimentResult

__all__ = ["divergence_figure", "evolving_mesa_divergence", "quick_config"]

_LABEL = {"human_judged": "human-judged", "objective": "objective"}


@styled
def divergence_figure(result: "ExperimentResult") -> "Figure":
    """Proxy against deployment loss of the evolving population, under each evaluator."""
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
    dx.scatter(m["capability"][~br], m["deception"][~br], s=14, color="0.3", label="learners", gid="learners",
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
        f"Evolving in-context learners: {result.space.n} learners, eta-locking {cfg.eta:g}\n"
        f"proxy {cfg.proxy.describe()}; deployment {cfg.deployment.describe()}",
        fontsize=11,
    )
    return fig


def quick_config():
    """A small configuration (fewer learners and draws) for quick figures and tests."""
    from .design import DesignRules
    from .experiment import ExperimentConfig
    from .learners import InputRange

    rules = DesignRules(eta_grid=(1.0, 2.0, 4.0, 8.0), K_max=2, gamma_grid=(0.0, 0.03), detector=InputRange(0.5))
    return ExperimentConfig(rules=rules, generations=120, draws=200, name="quick")


@styled
def evolving_mesa_divergence(*, quick: bool = False) -> "Figure":
    """The default experiment (``quick``: :func:`quick_config`) drawn by :func:`divergence_figure`."""
    from .experiment import ExperimentConfig, run_experiment

    return divergence_figure(run_experiment(quick_config() if quick else ExperimentConfig()))
