"""Figures of Akyürek et al. (2022), "What learning algorithm is in-context learning?".

Which classical learner a trained transformer's in-context predictions are closest to, across
depth, width and noise, and what linear probes decode from its layers (data:
:mod:`aievo.mesa.experiments.akyurek2022`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._blas import with_single_threaded_blas
from ..mesa.experiments.akyurek2022 import (
    DEPTHS,
    LEARNERS,
    NOISES,
    WIDTHS,
    D,
    N,
    checkpoint_name,
    compare_learners,
    grid_cells,
    learner_reference,
    load_grid,
    probe_layers,
    task_for,
)
from ._recorded import Record, load_or_compute

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["transition_figure", "probes_figure", "transition_record", "probes_record"]


_STYLE = {
    "OLS (min-norm)": ("k", "o", "-"),
    "ridge λ=0.1": ("tab:gray", "s", "--"),
    "ridge λ=1": ("tab:blue", "^", "-"),
    "ridge λ=4": ("tab:cyan", "v", ":"),
    "SGD (1 pass, lr 0.1)": ("tab:orange", "D", "-"),
    "GD (5 steps, η=0.1)": ("tab:red", "P", "-"),
    "kNN (k=3)": ("tab:green", "X", "-"),
    "fake LSQ (Xᵀy/n)": ("tab:purple", "*", "-"),
}


def _arch_label(depth: int, width: int) -> str:
    return f"L{depth}\nW{width}"


#: The architectures of :func:`transition_figure`, left to right: widths outer, depths inner.
_ARCHS = [(L, W) for W in WIDTHS for L in DEPTHS]


def transition_record(quick: bool = False, retrain: bool = False) -> Record:
    """The comparisons :func:`transition_figure` draws, as a :class:`~aievo.figures._recorded.Record`.

    Arrays ``"spd"`` and ``"ilwd"`` of shape ``(len(NOISES), len(archs), len(LEARNERS), N)``:
    :func:`~aievo.mesa.experiments.akyurek2022.compare_learners` of every model against every
    learner on ``n_prompts`` prompts (128; 16 when ``quick``) drawn with seed 7, numpy backend.
    """
    params: dict[str, Any] = {"n_prompts": 16 if quick else 128, "rng": 7, "noises": list(NOISES), "archs": _ARCHS,
              "learners": list(LEARNERS), "N": N, "backend": "numpy"}

    def compute() -> dict[str, np.ndarray]:
        models = load_grid(retrain=retrain)
        out = {m: np.empty((len(NOISES), len(_ARCHS), len(LEARNERS), N)) for m in ("spd", "ilwd")}
        for c, noise in enumerate(NOISES):
            ref = learner_reference(task_for(noise), params["n_prompts"], rng=params["rng"])
            for a, (L, W) in enumerate(_ARCHS):
                comp = compare_learners(models[(L, W, noise)], ref, backend="numpy")
                for m in out:
                    out[m][c, a] = [getattr(comp, m)[name] for name in LEARNERS]
        return out

    return Record("akyurek2022_transition", tuple(checkpoint_name(*cell) for cell in grid_cells()), params, compute)


@with_single_threaded_blas
def transition_figure(quick: bool = False, retrain: bool = False) -> Figure:
    """SPD and ILWD of every trained model against every learner, as depth, width and noise vary.

    Columns: label noise ``sigma = 0`` and ``sigma = 1``; rows 1-2: SPD and
    ILWD (means over positions 1..N-1) against the architectures (depth ``L``,
    width ``W``); row 3: SPD of the deepest, widest model per number of
    context pairs. One line per reference learner (log scale: lower = closer).
    The comparisons come from the result recorded with the package while the
    shipped checkpoints are unchanged (:func:`transition_record`); ``quick`` or
    ``retrain`` computes them afresh.
    """
    import matplotlib.pyplot as plt

    data = load_or_compute(transition_record(quick, retrain), recompute=quick or retrain)
    archs = _ARCHS
    fig, axes = plt.subplots(3, len(NOISES), figsize=(11, 10.5), sharey="row", squeeze=False)
    for c, noise in enumerate(NOISES):
        for r, metric in enumerate(("spd", "ilwd")):
            ax = axes[r, c]
            for i, name in enumerate(LEARNERS):
                color, marker, ls = _STYLE[name]
                vals = data[metric][c, :, i, 1:].mean(axis=-1)  # Comparison.summary: positions 1..N-1
                ax.plot(range(len(archs)), vals, color=color, marker=marker, ls=ls, label=name,
                        gid=f"{metric}/{noise:g}/{name}")
            ax.set_yscale("log")
            ax.axvline(len(DEPTHS) - 0.5, color="0.8", lw=0.8)
            ax.set_xlabel("architecture (depth L, width W)")
            ax.set_xticks(range(len(archs)), [_arch_label(L, W) for L, W in archs])
            ax.set_ylabel("SPD  E(ŷ_TF − ŷ_learner)²" if metric == "spd" else "ILWD  E‖ŵ_TF − ŵ_learner‖²")
            if r == 0:
                ax.set_title(f"label noise σ = {noise:g}" + ("  (Bayes: OLS)" if noise == 0
                                                              else f"  (Bayes: ridge λ = σ² = {noise**2:g})"))
        ax = axes[2, c]
        for i, name in enumerate(LEARNERS):  # archs end with the deepest, widest model
            color, marker, ls = _STYLE[name]
            ax.plot(range(1, N), data["spd"][c, -1, i, 1:], color=color, marker=marker, ls=ls, ms=4,
                    gid=f"spd_position/{noise:g}/{name}")
        ax.set_yscale("log")
        ax.axvline(D, color="0.8", lw=0.8)
        ax.set_xlabel("context pairs seen n  (grey: n = d)")
        ax.set_ylabel(f"SPD per position, L{archs[-1][0]} W{archs[-1][1]}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(f"Which learner do trained transformers match? (d = {D}, {N} pairs; lower = closer)")
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    return fig


#: The probe targets of :func:`probes_figure`, by key of :func:`~aievo.mesa.experiments.akyurek2022.probe_layers`.
_TARGETS = {"xty": "moment Xᵀy", "w_hat": "Bayes weights ŵ (OLS; ridge λ=σ²)"}


def probes_record(quick: bool = False, retrain: bool = False) -> Record:
    """The probe scores :func:`probes_figure` draws, as a :class:`~aievo.figures._recorded.Record`.

    One array per model, ``"L{L}W{W}_s{noise}"``, and per noise for the untrained control
    (the deepest, widest architecture at its seed-0 initialisation), ``"control_s{noise}"``:
    shape ``(len(targets), L + 1)``, the held-out R² of
    :func:`~aievo.mesa.experiments.akyurek2022.probe_layers` (seed 3, numpy backend) for
    ``"xty"`` then ``"w_hat"``; fitted on 1000 prompts, scored on 500 (300 and 200 when ``quick``).
    """
    from ..mesa.nn.params import init_params

    n_train, n_test = (300, 200) if quick else (1000, 500)
    params: dict[str, Any] = {"n_train": n_train, "n_test": n_test, "rng": 3, "control_init_seed": 0, "noises": list(NOISES),
              "depths": list(DEPTHS), "widths": list(WIDTHS), "targets": list(_TARGETS), "backend": "numpy"}

    def compute() -> dict[str, np.ndarray]:
        models = load_grid(retrain=retrain)
        out = {}
        for noise in NOISES:
            for L in DEPTHS:
                for W in WIDTHS:
                    res = probe_layers(models[(L, W, noise)], n_train, n_test, rng=3, backend="numpy")
                    out[f"L{L}W{W}_s{noise:g}"] = np.array([res[key] for key in _TARGETS])
            big = models[(max(DEPTHS), max(WIDTHS), noise)]
            ctrl = probe_layers(big, n_train, n_test, rng=3, params=init_params(big.config, 0), backend="numpy")
            out[f"control_s{noise:g}"] = np.array([ctrl[key] for key in _TARGETS])
        return out

    return Record("akyurek2022_probes", tuple(checkpoint_name(*cell) for cell in grid_cells()), params, compute)


@with_single_threaded_blas
def probes_figure(quick: bool = False, retrain: bool = False) -> Figure:
    """Held-out R² of linear probes for ``X^T y`` and the Bayes weights ``w_hat`` by layer, for every model.

    Rows: label noise; columns: the probe target. One line per architecture;
    dashed grey: the deepest, widest architecture at its untrained initialisation (control).
    The scores come from the result recorded with the package while the shipped
    checkpoints are unchanged (:func:`probes_record`); ``quick`` or ``retrain``
    computes them afresh.
    """
    import matplotlib.pyplot as plt

    data = load_or_compute(probes_record(quick, retrain), recompute=quick or retrain)
    colors = {1: "tab:green", 2: "tab:blue", 4: "tab:red"}
    fig, axes = plt.subplots(len(NOISES), 2, figsize=(10, 7), sharex=True, sharey=True, squeeze=False)
    for r, noise in enumerate(NOISES):
        for L in DEPTHS:
            for W in WIDTHS:
                res = data[f"L{L}W{W}_s{noise:g}"]
                for c, key in enumerate(_TARGETS):
                    axes[r, c].plot(range(L + 1), res[c], color=colors[L], marker="o",
                                    ls="-" if W == max(WIDTHS) else ":", label=f"L{L} W{W}",
                                    gid=f"probe/{noise:g}/{key}/L{L}W{W}")
        ctrl = data[f"control_s{noise:g}"]
        for c, key in enumerate(_TARGETS):
            ax = axes[r, c]
            ax.plot(range(max(DEPTHS) + 1), ctrl[c], color="0.5", ls="--", label="control: untrained L4 W32",
                    gid=f"probe/{noise:g}/{key}/control")
            ax.axhline(0, color="0.85", lw=0.8)
            ax.set_title(f"{_TARGETS[key]}, σ = {noise:g}")
            ax.set_ylabel("held-out R²")
    for ax in axes[-1]:
        ax.set_xlabel("layer (0 = embedded tokens)")
        ax.set_xticks(range(max(DEPTHS) + 1))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(f"Linear probes of the y-tokens' residual stream (pairs n = {D}..{N - 1}), by layer")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
