"""Figures of von Oswald et al. (2023a), "Transformers learn in-context by gradient descent".

Group ``"vonoswald2023a"`` of :mod:`aievo.figures`, drawn from small shipped checkpoints
(:mod:`aievo.mesa.nn.shipped`; recipes in :mod:`aievo.mesa.experiments.vonoswald2023a`), all
trained on the official task (``d = N = 10``, ``x ~ U(-0.5, 0.5)``, ``w ~ N(0, I)``):

* :func:`fig_heads` -- one softmax self-attention layer with 1, 2 and 4 heads against one
  linear head and one GD step (the paper: a softmax layer needs two heads to match one step);
* :func:`fig_depth` -- trained linear self-attention of depth 1 to 3, untied and weight-tied,
  against ``K`` steps of GD and ``K`` layers of GD++ with tuned step sizes;
* :func:`fig_ood` -- the trained one-layer LSA against one GD step outside the training
  distribution, over the official input-scale and weight-scale grids.

Drawing needs neither JAX nor training: the forward pass is numpy
(:func:`regression_forward`, the reference forward of :mod:`aievo.mesa.nn.reference`). ``retrain=True`` trains the models from their recipes instead
(needs the ``jax`` extra). The data behind each figure come from ``*_data`` functions (cached
per process); plotted artists carry a ``gid`` so tests can read the data back.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from .._blas import with_single_threaded_blas
from ..mesa.experiments.vonoswald2023a import regression_forward, tune_gdpp
from ._style import COLORS, new_figure, panel_label, styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..mesa.nn.result import TrainedTransformer

__all__ = [
    "SIZES",
    "SEED",
    "INPUT_SCALES",
    "WEIGHT_SCALES",
    "heads_data",
    "depth_data",
    "ood_data",
    "fig_heads",
    "fig_depth",
    "fig_ood",
]

#: Tasks drawn at draw time (full, quick): held-out evaluation, GD++ tuning, per OOD grid point.
SIZES = {False: dict(eval=10000, fit=1000, ood=2000), True: dict(eval=500, fit=200, ood=100)}
#: Seed of the tasks drawn at draw time.
SEED = 0
#: The official out-of-distribution grids: input scale (inputs ``alpha * U(-0.5, 0.5)``) and
#: weight scale (``w ~ N(0, s^2 I)``).
INPUT_SCALES = np.round(np.arange(0.5, 2.0 + 1e-9, 0.03), 10)
WEIGHT_SCALES = np.round(np.arange(0.5, 5.0 + 1e-9, 0.1), 10)


def _split(tokens: np.ndarray, yq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``X, y, xq, yq`` of the baselines from regression tokens and query labels."""
    return tokens[:, :-1, :-1], tokens[:, :-1, -1], tokens[:, -1, :-1], yq


def _tasks(task: Any, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    tokens, yq = task.sample(np.random.default_rng(seed), n)
    return tokens, yq[:, 0, 0]


def _model(name: str, retrain: bool) -> TrainedTransformer:
    from ..mesa.nn.shipped import shipped_model

    return shipped_model(name, retrain=retrain)


# --------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def heads_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Held-out losses of one softmax layer with 1, 2, 4 heads, one linear head and one GD step.

    Returns
    -------
    dict
        ``heads``; ``softmax`` (loss per head count), ``lsa`` (one linear head), ``gd`` and
        ``eta`` (one GD step at the grid-best ``eta`` of the official grid, chosen on the same
        tasks), ``zero`` (zero predictor), ``n`` (tasks); ``curves``: per head count the
        training history ``(eval_step, eval_loss)``.
    """
    from ..mesa.baselines import regression_loss, scan_eta
    from ..mesa.experiments.vonoswald2023a import DEPTH_MODELS, HEADS_MODELS, SHIPPED_SETUP

    n = SIZES[quick]["eval"]
    tokens, yq = _tasks(SHIPPED_SETUP["task"], n, SEED)
    out: dict[str, Any] = dict(heads=np.array(sorted(HEADS_MODELS)), n=n, curves={})
    soft = []
    for h in out["heads"]:
        m = _model(HEADS_MODELS[int(h)], retrain)
        soft.append(regression_loss(regression_forward(m.params, m.config, tokens), yq))
        out["curves"][int(h)] = (np.asarray(m.history["eval_step"]), np.asarray(m.history["eval_loss"]))
    out["softmax"] = np.array(soft)
    lsa = _model(DEPTH_MODELS[1], retrain)
    out["lsa"] = regression_loss(regression_forward(lsa.params, lsa.config, tokens), yq)
    out["lsa_curve"] = (np.asarray(lsa.history["eval_step"]), np.asarray(lsa.history["eval_loss"]))
    out["eta"], out["gd"], _ = scan_eta(*_split(tokens, yq))
    out["zero"] = regression_loss(np.zeros_like(yq), yq)
    return out


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def depth_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Held-out losses against depth ``K``: trained LSA (untied, tied), K-step GD, K-layer GD++.

    GD's ``eta`` is the grid-best on the official grid and GD++'s per-layer ``(eta_k, gamma_k)``
    are tuned (:func:`tune_gdpp`) on ``fit`` separate tasks; all losses are on the same
    ``eval`` held-out tasks.

    Returns
    -------
    dict
        ``K``; ``lsa``, ``gd``, ``gdpp`` (per ``K``); ``tied_K`` and ``tied`` (tied models exist
        for ``K >= 2``; at ``K = 1`` tying changes nothing); ``gd_eta``, ``gdpp_etas``,
        ``gdpp_gammas``; ``zero``; ``n``.
    """
    from ..mesa.baselines import gd_steps, gdpp_predict, regression_loss, scan_eta
    from ..mesa.experiments.vonoswald2023a import DEPTH_MODELS, SHIPPED_SETUP, TIED_MODELS

    sz = SIZES[quick]
    tokens, yq = _tasks(SHIPPED_SETUP["task"], sz["eval"], SEED)
    ftok, fyq = _tasks(SHIPPED_SETUP["task"], sz["fit"], SEED + 1)
    ev, fit = _split(tokens, yq), _split(ftok, fyq)
    Ks = np.array(sorted(DEPTH_MODELS))
    out: dict[str, Any] = dict(K=Ks, n=sz["eval"], lsa=[], gd=[], gdpp=[], gd_eta=[], gdpp_etas=[], gdpp_gammas=[])
    for K in Ks:
        m = _model(DEPTH_MODELS[int(K)], retrain)
        out["lsa"].append(regression_loss(regression_forward(m.params, m.config, tokens), yq))
        eta, _, _ = scan_eta(*fit, K=int(K))
        out["gd_eta"].append(eta)
        out["gd"].append(regression_loss(gd_steps(*ev[:3], eta, int(K)), yq))
        etas, gammas, _ = tune_gdpp(*fit, K=int(K), eta0=eta)
        out["gdpp_etas"].append(etas)
        out["gdpp_gammas"].append(gammas)
        out["gdpp"].append(regression_loss(gdpp_predict(*ev[:3], etas, gammas), yq))
    out["tied_K"] = np.array(sorted(TIED_MODELS))
    out["tied"] = []
    for K in out["tied_K"]:
        m = _model(TIED_MODELS[int(K)], retrain)
        out["tied"].append(regression_loss(regression_forward(m.params, m.config, tokens), yq))
    for k in ("lsa", "gd", "gdpp", "gd_eta", "tied"):
        out[k] = np.array(out[k])
    out["zero"] = regression_loss(np.zeros_like(yq), yq)
    return out


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def ood_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Losses of the trained one-layer LSA and one GD step over the official OOD grids.

    GD's ``eta`` is the grid-best on ``eval`` in-distribution tasks and kept fixed, as the
    trained model's weights are. At every grid point ``ood`` fresh tasks are drawn with inputs
    ``alpha * U(-0.5, 0.5)`` (weights ``N(0, I)``) or weights ``N(0, s^2 I)`` (inputs
    ``U(-0.5, 0.5)``).

    Returns
    -------
    dict
        ``input_scales``, ``weight_scales``; ``lsa_input``, ``gd_input``, ``zero_input`` and
        ``lsa_weight``, ``gd_weight``, ``zero_weight`` (loss per grid point); ``eta``; ``n``.
    """
    import dataclasses

    from ..mesa.baselines import gd_steps, regression_loss, scan_eta
    from ..mesa.experiments.vonoswald2023a import DEPTH_MODELS, SHIPPED_SETUP

    sz = SIZES[quick]
    base = SHIPPED_SETUP["task"]
    m = _model(DEPTH_MODELS[1], retrain)
    eta, _, _ = scan_eta(*_split(*_tasks(base, sz["eval"], SEED)))
    alphas = INPUT_SCALES[::6] if quick else INPUT_SCALES
    scales = WEIGHT_SCALES[::6] if quick else WEIGHT_SCALES
    out: dict[str, Any] = dict(input_scales=alphas, weight_scales=scales, eta=eta, n=sz["ood"])
    for key, grid, field in (("input", alphas, "x_halfwidth"), ("weight", scales, "w_scale")):
        lsa, gd, zero = [], [], []
        for i, s in enumerate(grid):
            value = base.x_halfwidth * s if field == "x_halfwidth" else s
            task = dataclasses.replace(base, **{field: float(value)})
            tokens, yq = _tasks(task, sz["ood"], SEED + 10 + i)
            lsa.append(regression_loss(regression_forward(m.params, m.config, tokens), yq))
            gd.append(regression_loss(gd_steps(*_split(tokens, yq)[:3], eta), yq))
            zero.append(regression_loss(np.zeros_like(yq), yq))
        out[f"lsa_{key}"], out[f"gd_{key}"], out[f"zero_{key}"] = np.array(lsa), np.array(gd), np.array(zero)
    return out


# --------------------------------------------------------------------------- figures
@styled
def fig_heads(*, quick: bool = False, retrain: bool = False) -> Figure:
    """One softmax self-attention layer with 1, 2, 4 heads against one linear head and one GD step."""
    d = heads_data(quick, retrain)
    fig = new_figure(11.0, 4.2)
    ax, bx = fig.subplots(1, 2)
    heads = d["heads"]
    ax.plot(heads, d["softmax"], "o-", color=COLORS[0], ms=7, label="trained softmax layer", gid="softmax")
    ax.axhline(d["gd"], color=COLORS[1], ls="--", label=f"1 GD step ($\\eta$ = {d['eta']:.1f})", gid="gd")
    ax.axhline(d["lsa"], color=COLORS[2], ls=":", lw=2, label="trained linear head (LSA)", gid="lsa")
    ax.set_xscale("log", base=2)
    ax.set_xticks(heads, [str(h) for h in heads])
    ax.set_xlabel("softmax heads")
    ax.set_ylabel(f"held-out loss ({d['n']} tasks)")
    lo = min(d["gd"], d["lsa"], d["softmax"].min())
    ax.set_ylim(0.9 * lo, 1.1 * max(d["softmax"].max(), d["gd"]))
    ax.set_title("One layer: loss against heads")
    ax.legend(loc="upper right", fontsize=9)
    panel_label(ax, "a")
    for i, h in enumerate(heads):
        step, loss = d["curves"][int(h)]
        bx.plot(step, loss, color=COLORS[0], alpha=0.35 + 0.65 * (i + 1) / len(heads), lw=1.5,
                label=f"softmax, {h} head{'s' if h > 1 else ''}", gid=f"curve:{h}")
    step, loss = d["lsa_curve"]
    bx.plot(step, loss, color=COLORS[2], lw=1.5, label="linear, 1 head", gid="curve:lsa")
    bx.axhline(d["gd"], color=COLORS[1], ls="--", label="1 GD step")
    bx.set_ylim(0.9 * lo, 1.05 * d["zero"])
    bx.set_xlabel("training step")
    bx.set_ylabel("evaluation loss during training")
    bx.set_title("Training curves")
    bx.legend(loc="upper right", fontsize=9)
    panel_label(bx, "b")
    fig.suptitle("A softmax layer needs several heads to match one step of gradient descent")
    return fig


@styled
def fig_depth(*, quick: bool = False, retrain: bool = False) -> Figure:
    """Trained linear self-attention of depth K (untied and tied) against K steps of GD and of GD++."""
    d = depth_data(quick, retrain)
    fig = new_figure(6.4, 4.6)
    ax = fig.subplots()
    K = d["K"]
    ax.plot(K, d["gd"], "s--", color=COLORS[1], label="K steps of GD (tuned $\\eta$)", gid="gd")
    ax.plot(K, d["gdpp"], "D--", color=COLORS[3], label="K layers of GD++ (tuned)", gid="gdpp")
    ax.plot(K, d["lsa"], "o-", color=COLORS[0], ms=7, label="trained LSA, K layers", gid="lsa")
    tk = np.concatenate([K[:1], d["tied_K"]])
    ax.plot(tk, np.concatenate([d["lsa"][:1], d["tied"]]), "^:", color=COLORS[2], ms=7,
            label="trained LSA, weight-tied", gid="tied")
    ax.set_xticks(K)
    ax.set_xlabel("layers / steps K")
    ax.set_ylabel(f"held-out loss ({d['n']} tasks)")
    ax.set_ylim(0, None)
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title("Deeper linear self-attention: closer to GD++ than to GD")
    return fig


@styled
def fig_ood(*, quick: bool = False, retrain: bool = False) -> Figure:
    """The trained one-layer LSA and one GD step out of distribution: input scale and weight scale."""
    d = ood_data(quick, retrain)
    fig = new_figure(11.0, 4.2)
    ax, bx = fig.subplots(1, 2)
    for a, key, xlabel, title in ((ax, "input", "input scale $\\alpha$ (inputs $\\alpha\\,U(-0.5, 0.5)$)",
                                   "Scaling the inputs"),
                                  (bx, "weight", "weight scale $s$ ($w \\sim N(0, s^2 I)$)", "Scaling the weights")):
        s = d[f"{key}_scales"]
        a.plot(s, d[f"zero_{key}"], color="0.6", lw=1.2, label="zero predictor", gid=f"zero:{key}")
        a.plot(s, d[f"gd_{key}"], color=COLORS[1], lw=2.5, label=f"1 GD step ($\\eta$ = {d['eta']:.1f})",
               gid=f"gd:{key}")
        a.plot(s, d[f"lsa_{key}"], color=COLORS[0], ls="--", lw=1.5, label="trained 1-layer LSA", gid=f"lsa:{key}")
        a.axvline(1.0, color="0.4", ls=":", lw=1, label="training distribution")
        a.set_yscale("log")
        a.set_xlabel(xlabel)
        a.set_ylabel(f"loss ({d['n']} tasks per point)")
        a.set_title(title)
        a.legend(loc="upper left", fontsize=9)
    panel_label(ax, "a")
    panel_label(bx, "b")
    fig.suptitle("Out of distribution, the trained layer keeps behaving like one GD step")
    return fig
