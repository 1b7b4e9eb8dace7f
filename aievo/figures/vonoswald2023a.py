"""Figures of von Oswald et al. (2023a), "Transformers learn in-context by gradient descent".

Group ``"vonoswald2023a"`` of :mod:`aievo.figures`, drawn from small shipped checkpoints
(:mod:`aievo.mesa.nn.shipped`; recipes in :mod:`aievo.mesa.experiments.vonoswald2023a`), all
trained on the official task (``d = N = 10``, ``x ~ U(-0.5, 0.5)``, ``w ~ N(0, I)``):

* :func:`fig_heads` -- one softmax self-attention layer with 1, 2 and 4 heads against one
  linear head and one GD step (the paper: a softmax layer needs two heads to match one step);
* :func:`fig_depth` -- trained linear self-attention of depth 1 to 3, untied and weight-tied,
  against ``K`` steps of GD and ``K`` layers of GD++ with tuned step sizes;
* :func:`fig_ood` -- the trained one-layer LSA against one GD step outside the training
  distribution, over the official input-scale and weight-scale grids;
* :func:`fig_separate_tokens` -- tokens ``x_1, y_1, x_2, ..., x_q`` (separate x and y tokens):
  a softmax first layer binds each pair and an LSA second layer then matches one GD step, while
  one LSA layer alone cannot;
* :func:`fig_sine` -- sine regression with an input MLP before one LSA layer, against GD on raw
  inputs, a fitted line and GD on the model's own learned features.

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
from ._recorded import Record, load_or_compute
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
    "depth_gdpp_record",
    "ood_data",
    "fig_heads",
    "fig_depth",
    "fig_ood",
    "separate_data",
    "fig_separate_tokens",
    "SINE_EXAMPLES",
    "SINE_GRID",
    "sine_data",
    "fig_sine",
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


def depth_gdpp_record(quick: bool = False) -> Record:
    """GD++'s tuned per-layer steps in :func:`depth_data`, as a :class:`~aievo.figures._recorded.Record`.

    For each depth ``K`` of the trained models: the grid-best GD step (:func:`aievo.mesa.baselines.scan_eta`)
    and, from it, :func:`~aievo.mesa.experiments.vonoswald2023a.tune_gdpp` (Nelder--Mead, deterministic)
    on the ``fit`` tasks of seed ``SEED + 1``: arrays ``etas_K{K}`` and ``gammas_K{K}``. No checkpoint is
    read, so the fingerprint is that of the parameters.
    """
    from ..mesa.baselines import scan_eta
    from ..mesa.experiments.vonoswald2023a import DEPTH_MODELS, SHIPPED_SETUP

    Ks = sorted(DEPTH_MODELS)
    params: dict[str, Any] = {"task": repr(SHIPPED_SETUP["task"]), "n_fit": SIZES[quick]["fit"], "seed": SEED + 1, "K": Ks}

    def compute() -> dict[str, np.ndarray]:
        fit = _split(*_tasks(SHIPPED_SETUP["task"], params["n_fit"], params["seed"]))
        out = {}
        for K in Ks:
            eta, _, _ = scan_eta(*fit, K=K)
            out[f"etas_K{K}"], out[f"gammas_K{K}"], _ = tune_gdpp(*fit, K=K, eta0=eta)
        return out

    return Record("vonoswald2023a_depth_gdpp", (), params, compute)


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def depth_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Held-out losses against depth ``K``: trained LSA (untied, tied), K-step GD, K-layer GD++.

    GD's ``eta`` is the grid-best on the official grid and GD++'s per-layer ``(eta_k, gamma_k)``
    are tuned (:func:`tune_gdpp`) on ``fit`` separate tasks (recorded with the package:
    :func:`depth_gdpp_record`); all losses are on the same ``eval`` held-out tasks.

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
    gdpp = load_or_compute(depth_gdpp_record(quick), recompute=quick)
    out: dict[str, Any] = dict(K=Ks, n=sz["eval"], lsa=[], gd=[], gdpp=[], gd_eta=[], gdpp_etas=[], gdpp_gammas=[])
    for K in Ks:
        m = _model(DEPTH_MODELS[int(K)], retrain)
        out["lsa"].append(regression_loss(regression_forward(m.params, m.config, tokens), yq))
        eta, _, _ = scan_eta(*fit, K=int(K))
        out["gd_eta"].append(eta)
        out["gd"].append(regression_loss(gd_steps(*ev[:3], eta, int(K)), yq))
        etas, gammas = gdpp[f"etas_K{K}"], gdpp[f"gammas_K{K}"]
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


# --------------------------------------------------------------------------- separate tokens, sine regression
@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def separate_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Separate x/y tokens: held-out losses, the first layer's attention and binding probes.

    Losses on ``eval`` held-out tasks of the three separate-token models (softmax + LSA; two LSA
    layers; one LSA layer), the one-layer LSA on tokens ``(x_i, y_i)`` (``vonoswald2023a_lsa1``), one GD step at
    the grid-best ``eta`` on the same tasks and the zero predictor. The 2-layer model's first
    layer: its attention weights averaged over ``attn`` tasks, the mean weight a token gives
    itself, the token after it and the token before it, and the probes of
    :func:`copy_probe` (fitted on ``fit`` tasks, scored on the ``eval`` tasks' first ``attn``).

    Returns
    -------
    dict
        ``loss`` (dict by model key ``"softmax+lsa"``, ``"lsa+lsa"``, ``"lsa"``, ``"lsa_xy"``), ``gd``, ``eta``,
        ``zero``, ``n``; ``curves`` (key -> ``(eval_step, eval_loss)``); ``attention`` ``(T, T)``;
        ``self``, ``next``, ``prev`` (mean weights over the context tokens); ``probe_x`` and
        ``probe_y`` (R² per layer 0..2: ``y_i`` from the x-token, ``x_i`` from the y-token).
    """
    from ..mesa.baselines import regression_loss, scan_eta
    from ..mesa.experiments.vonoswald2023a import DEPTH_MODELS, SEPARATE_MODELS, SEPARATE_SETUP, copy_probe
    from ..mesa.nn.reference import predict, run

    sz = SIZES[quick]
    task = SEPARATE_SETUP["task"]
    tokens, yq = _tasks(task, sz["eval"], SEED)
    ftok, _ = _tasks(task, sz["fit"], SEED + 1)
    models = {"softmax+lsa": _model(SEPARATE_MODELS[("softmax", "linear")], retrain),
              "lsa+lsa": _model(SEPARATE_MODELS[("linear", "linear")], retrain),
              "lsa": _model(SEPARATE_MODELS[("linear",)], retrain)}
    out: dict[str, Any] = dict(n=sz["eval"], loss={}, curves={})
    for key, m in models.items():
        out["loss"][key] = regression_loss(predict(m.params, m.config, tokens)[:, 0, 0], yq)
        out["curves"][key] = (np.asarray(m.history["eval_step"]), np.asarray(m.history["eval_loss"]))
    lsa = _model(DEPTH_MODELS[1], retrain)
    out["loss"]["lsa_xy"] = regression_loss(regression_forward(lsa.params, lsa.config, tokens), yq)
    out["eta"], out["gd"], _ = scan_eta(*_split(tokens, yq))
    out["zero"] = regression_loss(np.zeros_like(yq), yq)
    m = models["softmax+lsa"]
    n_attn = sz["fit"]
    A = run(m.params, m.config, tokens[:n_attn], attention=True).attention[0].mean(axis=(0, 1))
    out["attention"] = A
    ctx = A.shape[0] - 1  # the 2N context tokens (the query reads, is not read)
    idx = np.arange(ctx)
    out["self"] = float(A[idx, idx].mean())
    out["next"] = float(A[idx[:-1], idx[:-1] + 1].mean())
    out["prev"] = float(A[idx[1:], idx[1:] - 1].mean())
    ev = tokens[:n_attn]
    out["probe_x"] = np.array([copy_probe(m.params, m.config, ftok, ev, L, "x") for L in range(m.config.n_layers + 1)])
    out["probe_y"] = np.array([copy_probe(m.params, m.config, ftok, ev, L, "y") for L in range(m.config.n_layers + 1)])
    return out


@styled
def fig_separate_tokens(*, quick: bool = False, retrain: bool = False) -> Figure:
    """Separate x/y tokens: a softmax first layer binds each pair, then one LSA layer matches one GD step."""
    d = separate_data(quick, retrain)
    fig = new_figure(15.0, 4.5)
    ax, bx, cx = fig.subplots(1, 3, gridspec_kw=dict(width_ratios=[1.25, 1.0, 0.8]))
    names = {"softmax+lsa": ("softmax layer + LSA layer", COLORS[0]), "lsa+lsa": ("two LSA layers", COLORS[4]),
             "lsa": ("one LSA layer", COLORS[3])}
    for key, (label, color) in names.items():
        step, loss = d["curves"][key]
        ax.plot(step, loss, color=color, label=f"{label} ({d['loss'][key]:.3f})", gid=f"curve:{key}")
    ax.axhline(d["gd"], color=COLORS[1], ls="--", label=f"1 GD step ({d['gd']:.3f})", gid="gd")
    ax.axhline(d["loss"]["lsa_xy"], color=COLORS[2], ls=":", lw=2,
               label=f"one LSA layer on tokens $(x_i, y_i)$ ({d['loss']['lsa_xy']:.3f})", gid="lsa_xy")
    ax.axhline(d["zero"], color="0.6", lw=1.2, label=f"zero predictor ({d['zero']:.3f})", gid="zero")
    ax.set_ylim(0.9 * min(d["gd"], d["loss"]["lsa_xy"]), 1.5 * d["zero"])
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (evaluation set; legend: held-out)")
    ax.set_title("Tokens $x_1, y_1, x_2, \\ldots, x_q$: loss")
    ax.legend(loc="upper right", fontsize=8.5, ncol=2)
    panel_label(ax, "a")
    A = d["attention"]
    T = A.shape[0]
    im = bx.imshow(A, cmap="Blues", vmin=0, vmax=max(A.max(), 1e-12), gid="attention")
    ticks = np.arange(0, T, 4)
    labels = [f"$x_{{{t // 2 + 1}}}$" if t % 2 == 0 else f"$y_{{{t // 2 + 1}}}$" for t in ticks[:-1]]
    bx.set_xticks(ticks, [*labels, "$x_q$"] if ticks[-1] == T - 1 else [*labels, ""])
    bx.set_yticks(ticks, [*labels, "$x_q$"] if ticks[-1] == T - 1 else [*labels, ""])
    bx.grid(False)
    bx.set_xlabel("key token")
    bx.set_ylabel("query token")
    bx.set_title("Layer 1 (softmax): mean attention")
    fig.colorbar(im, ax=bx, shrink=0.85)
    bx.text(0.98, 0.02, f"self {d['self']:.2f}\nnext {d['next']:.2f}\nprevious {d['prev']:.2f}",
            transform=bx.transAxes, ha="right", va="bottom", fontsize=8.5,
            bbox=dict(boxstyle="round", fc="white", ec="0.7"))
    panel_label(bx, "b")
    layers = np.arange(len(d["probe_x"]))
    w = 0.38
    cx.bar(layers - w / 2, d["probe_x"], w, color=COLORS[0], label="$y_i$ from the $x_i$ token", gid="probe_x")
    cx.bar(layers + w / 2, d["probe_y"], w, color=COLORS[4], label="$x_i$ from the $y_i$ token", gid="probe_y")
    for xs, vals in ((layers - w / 2, d["probe_x"]), (layers + w / 2, d["probe_y"])):
        for xv, v in zip(xs, vals):
            cx.text(xv, max(v, 0.0) + 0.015, f"{v:.2f}" if abs(v) >= 0.005 else "0.00", ha="center", va="bottom",
                    fontsize=8)
    cx.set_xticks(layers, ["embedded", "after layer 1", "after layer 2"][: len(layers)])
    cx.set_ylim(-0.05, 1.08)
    cx.set_ylabel("held-out $R^2$ of a linear probe")
    cx.set_title("Which token holds the pair")
    cx.legend(loc="center left", fontsize=8.5)
    panel_label(cx, "c")
    fig.suptitle("Separate x and y tokens: the softmax layer copies each $y_i$ into the $x_i$ token, "
                 "the LSA layer then does one GD step")
    return fig


#: Tasks whose fitted curves :func:`fig_sine` draws, and the query grid.
SINE_EXAMPLES = 4
SINE_GRID = np.linspace(-5.0, 5.0, 201)


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def sine_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Sine regression: the trained model against GD on raw ``x``, a fitted line and GD on its own features.

    The model's features are :func:`sine_features` (embedding + input MLP of the token ``(x, 0)``).
    Step sizes are tuned in closed form (:func:`best_step`) on ``fit`` separate tasks; losses on
    ``eval`` held-out tasks. "GD with the model's metric" replaces the dot product of the features
    by ``phi_i^T W_K^T W_Q phi_q``, the model's own query-key form.

    Returns
    -------
    dict
        ``loss`` (dict: ``model``, ``gd_features``, ``gd_metric``, ``gd_raw``, ``line``, ``zero``),
        ``eta`` (dict: ``gd_features``, ``gd_metric``, ``gd_raw``), ``n``, ``curve``
        ``(eval_step, eval_loss)``, ``feature_sv`` (singular values of the centred features over
        the grid, normalised by the largest); ``examples``: ``x``, ``y`` (contexts), ``amp``,
        ``phase``, ``grid``, and on the grid ``model``, ``gd_features``, ``line`` ``(SINE_EXAMPLES, G)``.
    """
    from ..mesa.baselines import regression_loss
    from ..mesa.experiments.vonoswald2023a import (
        SINE_MODEL,
        SINE_SETUP,
        best_step,
        gd_on_features,
        line_fit,
        sine_features,
    )
    from ..mesa.nn.reference import predict

    sz = SIZES[quick]
    task = SINE_SETUP["task"]
    m = _model(SINE_MODEL, retrain)
    ev = task.sample_raw(np.random.default_rng(SEED), sz["eval"])
    fit = task.sample_raw(np.random.default_rng(SEED + 1), sz["fit"])
    tokens, _ = task.sample(np.random.default_rng(SEED), sz["eval"])
    yq = ev["yq"]
    A = m.params["layers"][0]["attn"]
    metric = np.asarray(A["Wk"][0], np.float64).T @ np.asarray(A["Wq"][0], np.float64)

    def unit_steps(r: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pc, pq = sine_features(m.params, m.config, r["x"]), sine_features(m.params, m.config, r["xq"])
        return {"gd_features": gd_on_features(pc, r["y"], pq), "gd_metric": gd_on_features(pc @ metric, r["y"], pq),
                "gd_raw": np.mean(r["y"] * r["x"], axis=1) * r["xq"]}

    a_ev, a_fit = unit_steps(ev), unit_steps(fit)
    eta = {k: best_step(a_fit[k], fit["yq"]) for k in a_fit}
    loss = {"model": regression_loss(predict(m.params, m.config, tokens)[:, 0, 0], yq)}
    loss.update({k: regression_loss(eta[k] * a_ev[k], yq) for k in a_ev})
    loss["line"] = regression_loss(line_fit(ev["x"], ev["y"], ev["xq"]), yq)
    loss["zero"] = regression_loss(np.zeros_like(yq), yq)
    k = SINE_EXAMPLES
    G = len(SINE_GRID)
    grid_tokens = np.zeros((k, G, task.N + 1, 2))
    grid_tokens[:, :, :-1, 0] = ev["x"][:k, None, :]
    grid_tokens[:, :, :-1, 1] = ev["y"][:k, None, :]
    grid_tokens[:, :, -1, 0] = SINE_GRID
    model_curve = predict(m.params, m.config, grid_tokens.reshape(k * G, task.N + 1, 2))[:, 0, 0].reshape(k, G)
    pc = sine_features(m.params, m.config, ev["x"][:k])
    pg = np.broadcast_to(sine_features(m.params, m.config, SINE_GRID), (k, G, pc.shape[-1]))
    feats = sine_features(m.params, m.config, SINE_GRID)
    sv = np.linalg.svd(feats - feats.mean(axis=0), compute_uv=False)
    examples = dict(x=ev["x"][:k], y=ev["y"][:k], amp=ev["amp"][:k], phase=ev["phase"][:k], grid=SINE_GRID,
                    model=model_curve, gd_features=eta["gd_features"] * gd_on_features(pc, ev["y"][:k], pg),
                    line=line_fit(ev["x"][:k], ev["y"][:k], np.broadcast_to(SINE_GRID, (k, G))))
    return dict(loss=loss, eta=eta, n=sz["eval"], examples=examples, feature_sv=sv / sv[0],
                curve=(np.asarray(m.history["eval_step"]), np.asarray(m.history["eval_loss"])))


@styled
def fig_sine(*, quick: bool = False, retrain: bool = False) -> Figure:
    """Sine regression with an input MLP: losses against GD on raw and on learned features, and fitted curves."""
    d = sine_data(quick, retrain)
    fig = new_figure(14.0, 5.6)
    left, right = np.asarray(fig.subfigures(1, 2, width_ratios=[1.05, 1.6]), dtype=object)
    ax = left.subplots()
    rows = [("zero", "zero predictor", "0.6"), ("line", "least-squares line (per task)", COLORS[5]),
            ("gd_raw", "1 GD step on raw $x$", COLORS[1]),
            ("gd_features", "1 GD step on the model's features", COLORS[4]),
            ("gd_metric", "1 GD step on the features,\nmetric $W_K^T W_Q$ of the model", COLORS[3]),
            ("model", "trained: input MLP + LSA layer", COLORS[0])]
    vals = [d["loss"][k] for k, _, _ in rows]
    ypos = np.arange(len(rows))
    ax.barh(ypos, vals, color=[c for _, _, c in rows], gid="losses")
    for yv, v in zip(ypos, vals):
        ax.text(v * 1.08, yv, f"{v:.4f}", va="center", fontsize=8.5)
    ax.set_yticks(ypos, [lab for _, lab, _ in rows], fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(0.5 * min(vals), 3.0 * max(vals))
    ax.set_xlabel(f"held-out loss ({d['n']} tasks, log scale)")
    ax.set_title("Losses")
    ax.grid(axis="y", visible=False)
    panel_label(ax, "a")
    ex = d["examples"]
    g = ex["grid"]
    axes = right.subplots(2, 2, sharex=True, sharey=True)
    for i, a in enumerate(axes.flat[: SINE_EXAMPLES]):
        a.plot(g, ex["amp"][i] * np.sin(g + ex["phase"][i]), color="0.3", lw=1.2, label="true sine")
        a.plot(g, ex["line"][i], color=COLORS[5], lw=1.2, ls=":", label="least-squares line")
        a.plot(g, ex["gd_features"][i], color=COLORS[4], lw=1.4, ls="--", label="1 GD step on the features")
        a.plot(g, ex["model"][i], color=COLORS[0], lw=1.8, label="trained model", gid=f"model:{i}")
        a.plot(ex["x"][i], ex["y"][i], "o", color="k", ms=4, label="context", gid=f"context:{i}")
        a.set_ylim(-0.65, 0.65)
        a.set_title(f"task {i + 1}: amplitude {ex['amp'][i]:.2f}", fontsize=10)
    for a in axes[-1]:
        a.set_xlabel("$x$ (query)")
    for a in axes[:, 0]:
        a.set_ylabel("$y$")
    panel_label(axes[0, 0], "b")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    right.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8.5)
    fig.suptitle("Sine regression: an input MLP learns features, one LSA layer regresses on them in context")
    return fig
