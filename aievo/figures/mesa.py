"""Mesa-optimization figures (group ``"mesa"`` of :mod:`aievo.figures`).

* :func:`mesa1_lsa_vs_gd` -- a trained one-layer LSA against one step of GD;
* :func:`mesa2_steps` -- K-step GD, GD++ and least squares against K;
* :func:`mesa3_positions` -- per-position loss of Prop-1 GD, least squares,
  the mesa layer and a trained linear transformer on LDS sequences;
* :func:`mesa4_probes` -- what linear probes decode from each layer of that
  transformer.

Every function takes ``quick`` (tiny sizes, for tests) and returns a
:class:`matplotlib.figure.Figure`; nothing is written to disk. The trained
linear transformer is shared by figures 3 and 4 through an in-memory cache
(:func:`trained_linear_tf`). Plotted artists carry a ``gid`` so tests can read
the data back.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._recorded import Record, load_or_compute
from ._style import COLORS, new_figure, panel_label, styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..mesa.train import LinearTFResult, LSAResult

__all__ = [
    "mesa1_lsa_vs_gd",
    "mesa2_steps",
    "mesa2_record",
    "mesa3_positions",
    "mesa4_probes",
    "trained_linear_tf",
    "trained_lsa",
    "write_figure_models",
    "FIGURE_SIZES",
    "CHECKPOINT_DIR",
]

#: Sizes used by the figures (full, quick).
FIGURE_SIZES: dict[str, dict[bool, dict[str, Any]]] = {
    "lsa": {False: dict(steps=2000, batch=512, eval_tasks=10000, eval_every=50),
            True: dict(steps=60, batch=128, eval_tasks=1000, eval_every=20)},
    "steps": {False: dict(tasks=5000, K_max=6), True: dict(tasks=500, K_max=3)},
    # the official 2023b setup (init N(0, 2e-4^2), act clip 1.5, AdamW wd 0.05, element-wise clip 1) at a smaller
    # budget: 1500 steps at batch 64 (official: 2500 at 256), so a peak rate of 1e-3 after 150 warm-up steps,
    # decaying over the run (official: 3e-4 after 1000, decay until step 20000)
    "tf": {False: dict(steps=1500, batch=64, lr=1e-3, warmup=150, decay_steps=None, eval_every=100),
           True: dict(steps=6, batch=8, lr=2e-3, warmup=2, init_std=0.02, eval_every=3, eval_batch=16)},
    "seq": {False: dict(sequences=1000, probe_sequences=1000), True: dict(sequences=60, probe_sequences=240)},
}

SEED = 0
#: Where the trained models of figures mesa1, mesa3 and mesa4 (full sizes) are shipped,
#: written by :func:`write_figure_models` (arrays and JSON with provenance, no pickle).
CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "mesa" / "checkpoints" / "figures"
_RECIPES = {"lsa": "aievo.figures.mesa.trained_lsa(retrain=True)",
            "linear_tf": "aievo.figures.mesa.trained_linear_tf(retrain=True)"}


def trained_lsa(quick: bool = False, retrain: bool = False) -> "LSAResult":
    """The one-layer LSA of figure 1: ``train_lsa(rng=SEED, **FIGURE_SIZES["lsa"][False])``.

    Loaded from the shipped checkpoint (no JAX needed) unless ``retrain``, which trains it
    afresh (the ``jax`` extra) at the full sizes, or at the tiny ``FIGURE_SIZES["lsa"][True]``
    when ``quick`` as well.
    """
    if retrain:
        from ..mesa.train import train_lsa

        return train_lsa(rng=SEED, **FIGURE_SIZES["lsa"][quick])
    from ..mesa._trained_files import load_trained

    return load_trained(CHECKPOINT_DIR / "lsa")


def write_figure_models(directory: "str | Path | None" = None) -> list[Path]:
    """Train the full-size models of figures mesa1, mesa3 and mesa4 and save them as the shipped files.

    ``python -c "from aievo.figures.mesa import write_figure_models as w; w()"`` from a source
    checkout rewrites them (the ``jax`` extra; about two minutes of training on the loaded 2-core machine).

    Returns
    -------
    list of pathlib.Path
        The ``.npz`` files written.
    """
    from ..mesa._trained_files import save_trained

    folder = Path(CHECKPOINT_DIR if directory is None else directory)
    models = {"lsa": trained_lsa(retrain=True), "linear_tf": trained_linear_tf(retrain=True)}
    return [save_trained(m, folder / name, _RECIPES[name]) for name, m in models.items()]


# --------------------------------------------------------------------------- figure 1
@styled
def mesa1_lsa_vs_gd(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """A trained one-layer LSA reaches the loss of one GD step and computes it.

    (a) Evaluation loss of the LSA during training (:func:`aievo.mesa.train_lsa`:
    the official optimiser of von Oswald et al. 2023a, fresh batches) with
    the loss of one GD step at the best ``eta`` (official grid, same
    evaluation tasks) and the zero predictor. (b) LSA predictions against the
    GD predictions on held-out tasks, with the alignment measures. The LSA is
    the shipped one (:func:`trained_lsa`), trained afresh when ``retrain``.
    """
    from ..mesa.baselines import scan_eta
    from ..mesa.tasks import sample_regression_tasks
    from ..mesa.train import GDReference, alignment

    res = trained_lsa(quick, retrain)
    eval_tasks = res.evaluation_tasks()  # the evaluation set of train_lsa
    best_eta, gd_loss, _ = scan_eta(*eval_tasks[:4])
    zero = float(np.sum(eval_tasks[3] ** 2) / (2 * eval_tasks[3].size))
    held = sample_regression_tasks(SEED + 1, 2000 if not quick else 200)
    al = alignment(res, GDReference(best_eta), held)

    fig = new_figure(10.5, 4.2)
    ax, bx = fig.subplots(1, 2)
    ax.plot(res.eval_steps, res.eval_loss, color=COLORS[0], label="trained LSA (1 layer)", gid="lsa")
    ax.axhline(gd_loss, color=COLORS[1], ls="--", label=f"1-step GD, best $\\eta$ = {best_eta:.2f}", gid="gd")
    ax.axhline(zero, color="0.4", ls=":", label="zero predictor", gid="zero")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss  $\\Sigma(\\hat y - y)^2 / 2B$")
    ax.set_title("Trained LSA reaches one step of GD")
    ax.set_ylim(0, zero * 1.12)
    ax.legend(loc="upper right")
    ax.text(0.03, 0.04, f"final LSA {res.eval_loss[-1]:.3f}\n1-step GD {gd_loss:.3f}\n"
            f"LSA step {res.effective_step():.3f} vs $\\eta/N$ = {best_eta / 10:.3f}",
            transform=ax.transAxes, ha="left", va="bottom", fontsize=9,
            bbox=dict(boxstyle="round", fc="white", ec="0.8"))
    panel_label(ax, "a")

    p_lsa = res.predict(*held[:3])
    p_gd = GDReference(best_eta).predict(*held[:3])
    bx.scatter(p_gd, p_lsa, s=6, alpha=0.5, color=COLORS[0], gid="scatter", rasterized=True)
    lim = float(np.max(np.abs(np.concatenate([p_gd, p_lsa])))) * 1.05
    bx.plot([-lim, lim], [-lim, lim], color="0.3", lw=1, ls="--", label="$y = x$")
    bx.set_xlim(-lim, lim)
    bx.set_ylim(-lim, lim)
    bx.set_aspect("equal")
    bx.set_xlabel("1-step GD prediction")
    bx.set_ylabel("trained LSA prediction")
    bx.set_title("Predictions on held-out tasks")
    bx.text(0.03, 0.97, f"cos-sim of $\\partial\\hat y/\\partial x_q$: {al.cos_sim:.4f}\n"
            f"mean $|\\Delta \\hat y|$: {al.preds_diff:.3f}", transform=bx.transAxes, va="top", fontsize=9,
            bbox=dict(boxstyle="round", fc="white", ec="0.8"))
    bx.legend(loc="lower right")
    panel_label(bx, "b")
    fig.suptitle("In-context regression (d = 10, N = 10): one LSA layer = one gradient step")
    return fig


# --------------------------------------------------------------------------- figure 2
def _gdpp_fast(X: np.ndarray, y: np.ndarray, xq: np.ndarray, eta: float, gamma: float, K: int) -> np.ndarray:
    """:func:`aievo.mesa.baselines.gdpp_predict` with shared (eta, gamma), written with matmuls.

    Same token dynamics (the tests check equality); BLAS-backed so that tuning
    is quick.
    """
    N = X.shape[1]
    Xk, r, q, rq = X.copy(), y.copy(), xq.copy(), np.zeros(X.shape[0])
    for _ in range(K):
        XrT = np.matmul(r[:, None, :], Xk)[:, 0]  # sum_i r_i x_i
        r_new = r - (eta / N) * np.matmul(Xk, XrT[..., None])[..., 0]
        rq = rq - (eta / N) * np.sum(XrT * q, axis=1)
        Hk = np.matmul(Xk.transpose(0, 2, 1), Xk)
        Xk = Xk - gamma * np.matmul(Xk, Hk)
        q = q - gamma * np.matmul(Hk, q[..., None])[..., 0]
        r = r_new
    return -rq


def _gdpp_tune(tasks: tuple, K: int, eta0: float, n_fit: int = 1000) -> tuple[float, float]:
    """Shared (eta, gamma) of K GD++ layers by Nelder-Mead from (eta0, 0) (that is, K-step GD).

    Tuned on the first ``n_fit`` tasks; returns ``(eta, gamma)``.
    """
    from scipy.optimize import minimize

    X, y, xq, yq = (a[:n_fit] for a in tasks[:4])
    N = X.shape[1]

    def f(p: np.ndarray) -> float:
        res = _gdpp_fast(X, y, xq, float(p[0]), float(p[1]) / N**2, K) - yq
        val = float(res @ res / (2 * res.size))
        return val if np.isfinite(val) else 1e9

    simplex = np.array([[eta0, 0.0], [eta0 * 1.1, 0.0], [eta0, eta0]])
    best = minimize(f, simplex[0], method="Nelder-Mead",
                    options=dict(initial_simplex=simplex, xatol=1e-3, fatol=1e-6, maxiter=60))
    return float(best.x[0]), float(best.x[1]) / N**2


#: Learning rates scanned for K-step GD in :func:`mesa2_steps`.
_STEPS_ETA_GRID = np.arange(0.5, 25, 0.25)


def mesa2_record(quick: bool = False) -> Record:
    """The step sizes :func:`mesa2_steps` tunes, as a :class:`~aievo.figures._recorded.Record`.

    For each ``K``: the grid-best GD step ``gd_eta`` (:func:`aievo.mesa.baselines.scan_eta` on
    :data:`_STEPS_ETA_GRID`) and GD++'s shared ``(eta, gamma)`` (:func:`_gdpp_tune`, Nelder--Mead
    from it), on the figure's tasks (seed ``SEED + 2``): arrays ``gd_eta``, ``gdpp_eta``,
    ``gdpp_gamma`` of shape ``(K_max,)``. No checkpoint is read.
    """
    from ..mesa.baselines import scan_eta
    from ..mesa.tasks import sample_regression_tasks

    kw = FIGURE_SIZES["steps"][quick]
    params: dict[str, Any] = {"seed": SEED + 2, **kw, "eta_grid": _STEPS_ETA_GRID.tolist()}

    def compute() -> dict[str, np.ndarray]:
        tasks = sample_regression_tasks(params["seed"], kw["tasks"])
        out: dict[str, list[float]] = {"gd_eta": [], "gdpp_eta": [], "gdpp_gamma": []}
        for K in range(1, kw["K_max"] + 1):
            eta = scan_eta(*tasks[:4], grid=_STEPS_ETA_GRID, K=K)[0]
            e_pp, g_pp = _gdpp_tune(tasks, K, eta)
            for key, v in zip(out, (eta, e_pp, g_pp)):
                out[key].append(v)
        return {k: np.array(v) for k, v in out.items()}

    return Record("mesa2_steps", (), params, compute)


@styled
def mesa2_steps(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Loss of K steps of GD (best eta per K), GD++ (tuned shared eta, gamma) and least squares.

    All on the same regression tasks (d = N = 10, x ~ U(-0.5, 0.5)). The tuned step sizes
    come from the result recorded with the package (:func:`mesa2_record`); ``quick`` or
    ``retrain`` tunes them afresh (a few seconds).
    """
    from ..mesa.baselines import gd_steps, gdpp_predict, ols_minnorm, regression_loss, ridge_predict
    from ..mesa.tasks import sample_regression_tasks

    kw = FIGURE_SIZES["steps"][quick]
    tasks = sample_regression_tasks(SEED + 2, kw["tasks"])
    X, y, xq, yq, _ = tasks
    Ks = np.arange(1, kw["K_max"] + 1)
    steps = load_or_compute(mesa2_record(quick), recompute=quick or retrain)
    gd = [regression_loss(gd_steps(X, y, xq, float(steps["gd_eta"][K - 1]), int(K)), yq) for K in Ks]
    gdpp = [regression_loss(gdpp_predict(X, y, xq, float(steps["gdpp_eta"][K - 1]), float(steps["gdpp_gamma"][K - 1]),
                                         K=int(K)), yq) for K in Ks]
    ridge = regression_loss(ridge_predict(X, y, xq, 1e-3), yq)
    ols = regression_loss(ols_minnorm(X, y, xq), yq)
    zero = regression_loss(np.zeros_like(yq), yq)

    fig = new_figure(7.0, 4.6)
    ax = fig.subplots()
    ax.plot(Ks, gd, "o-", color=COLORS[1], label="K steps of GD (best $\\eta$ per K)", gid="gd")
    ax.plot(Ks, gdpp, "s-", color=COLORS[2], label="K layers of GD++ (tuned shared $\\eta, \\gamma$)", gid="gdpp")
    ax.axhline(ridge, color=COLORS[0], ls="--", label=f"ridge, $\\lambda = 10^{{-3}}$ ({ridge:.3f})", gid="ridge")
    ax.axhline(zero, color="0.4", ls=":", label=f"zero predictor ({zero:.3f})", gid="zero")
    ax.set_yscale("log")
    ax.set_ylim(ridge * 0.5, zero * 1.4)
    ax.plot([], [], " ", label=f"exact least squares: {ols:.0e} (N = d, no noise)")
    ax.set_xlabel("number of steps / layers K")
    ax.set_ylabel("loss  $\\Sigma(\\hat y - y)^2 / 2B$")
    ax.set_xticks(Ks)
    ax.set_title("Deeper in-context optimizers approach least squares")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 0.1), fontsize=8.5)
    return fig


# --------------------------------------------------------------------------- figures 3 and 4
@functools.lru_cache(maxsize=4)
def trained_linear_tf(quick: bool = False, retrain: bool = False) -> "LinearTFResult":
    """The 2-layer, 4-head linear transformer of figures 3 and 4 (once per process).

    Loaded from the shipped checkpoint (no JAX needed) unless ``retrain``, which trains
    ``train_linear_tf(rng=SEED, **FIGURE_SIZES["tf"][quick])`` afresh (the ``jax`` extra).
    """
    if retrain:
        from ..mesa.train import train_linear_tf

        return train_linear_tf(rng=SEED, **FIGURE_SIZES["tf"][quick])
    from ..mesa._trained_files import load_trained

    return load_trained(CHECKPOINT_DIR / "linear_tf")


def _seq_losses(quick: bool, retrain: bool = False) -> dict[str, np.ndarray]:
    """Per-position losses of the four predictors on held-out LDS sequences."""
    from ..mesa.baselines import gd_sequence_predict, lsq_sequence_predict, scan_eta_sequence, sequence_loss
    from ..mesa.mesa_layer import mesa_layer
    from ..mesa.tasks import sample_lds

    B = FIGURE_SIZES["seq"][quick]["sequences"]
    inputs, targets, _ = sample_lds(SEED + 3, B)
    eta, _, _ = scan_eta_sequence(inputs, targets)
    prev = np.zeros_like(inputs)
    prev[:, 1:] = inputs[:, :-1]
    out = {
        "gd": sequence_loss(gd_sequence_predict(inputs, eta), targets),
        "lsq": sequence_loss(lsq_sequence_predict(inputs, 1e-3), targets),
        "mesa": sequence_loss(mesa_layer(prev, inputs, inputs, 1e3), targets),
        "tf": trained_linear_tf(quick, retrain).per_position_loss(inputs, targets),
        "zero": sequence_loss(np.zeros_like(targets), targets),
        "eta": np.array([eta]),
    }
    return out


@styled
def mesa3_positions(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Per-position loss on LDS sequences (D = 10, T = 50, sigma = 0.01).

    Prop-1 GD (one global step, best on a grid), least squares (pairs before
    ``t``, ``lambda = 1e-3``: the official baseline), a mesa layer with keys
    ``s_{t-1}``, values and queries ``s_t`` and ``lambda = 1e3`` (inclusive ridge
    with penalty ``1e-3``), and the trained 2-layer linear transformer (shipped,
    see :func:`trained_linear_tf`; trained afresh when ``retrain``).
    """
    L = _seq_losses(quick, retrain)
    tf = trained_linear_tf(quick, retrain)
    t = np.arange(L["gd"].size)
    fig = new_figure(7.6, 4.8)
    ax = fig.subplots()
    ax.plot(t, L["gd"], color=COLORS[1], label=f"Prop. 1: one GD step, $\\eta$ = {L['eta'][0]:.4f} "
            f"(mean {L['gd'].mean():.3f})", gid="gd")
    ax.plot(t, L["tf"], color=COLORS[3], label=f"trained 2-layer linear TF, {tf.config['steps']} steps "
            f"(mean {L['tf'].mean():.3f})", gid="tf")
    ax.plot(t, L["lsq"], color=COLORS[0], label=f"least squares, pairs before t (mean {L['lsq'].mean():.3f})",
            gid="lsq")
    ax.plot(t, L["mesa"], color=COLORS[2], ls="--", label=f"mesa layer, $\\lambda = 10^3$ "
            f"(mean {L['mesa'].mean():.3f})", gid="mesa")
    ax.axhline(L["zero"].mean(), color="0.4", ls=":", label="zero predictor", gid="zero")
    ax.set_yscale("log")
    ax.set_xlabel("position t in the sequence")
    ax.set_ylabel("loss at t  $\\Sigma_{b,i}(\\hat s - s)^2 / 2B$")
    ax.set_title("Next-state prediction on linear dynamical systems")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.12), fontsize=8.5)
    return fig


def _probe_scores(quick: bool, retrain: bool = False) -> dict[str, np.ndarray]:
    """Held-out R^2 of linear probes, per target, layer and position (fit and test sets disjoint)."""
    from ..mesa.probes import probe_over_time, probe_targets
    from ..mesa.tasks import sample_lds

    tf = trained_linear_tf(quick, retrain)
    n = FIGURE_SIZES["seq"][quick]["probe_sequences"]
    inputs, targets, _ = sample_lds(SEED + 4, 2 * n)
    acts = tf.activations(inputs)
    tg = probe_targets(inputs, targets)
    fit = [a[:n] for a in acts]
    test = [a[n:] for a in acts]
    return probe_over_time(fit, {k: v[:n] for k, v in tg.items()}, metric="r2", test_acts=test,
                           test_targets={k: v[n:] for k, v in tg.items()})


@styled
def mesa4_probes(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """What a linear probe reads from each layer of the trained linear transformer.

    Held-out ``R^2`` of least-squares probes (no bias, fitted across sequences
    at each position) for the current state ``s_t``, the next state
    ``s_{t+1}`` and the preconditioned state ``(S_{<t}^T S_{<t} + 10^{-3} I)^{-1} s_t``.
    """
    scores = _probe_scores(quick, retrain)
    n_layers = scores["next"].shape[0]
    T = scores["next"].shape[1]
    start = min(12, T - 1)  # past the first D = 10 positions, where S^T S is singular
    fig = new_figure(11.0, 4.3)
    ax, bx = fig.subplots(1, 2)
    names = {"current": "current $s_t$", "next": "next $s_{t+1}$",
             "preconditioned": "preconditioned $(S^TS+\\lambda I)^{-1}s_t$"}
    layers = np.arange(n_layers)
    for c, (key, label) in zip(COLORS, names.items()):
        ax.plot(layers, scores[key][:, start:].mean(axis=1), "o-", color=c, label=label, gid=f"layer:{key}")
    ax.set_xticks(layers, ["tokens"] + [f"layer {i}" for i in range(1, n_layers)])
    ax.set_ylabel(f"held-out $R^2$ (mean over t $\\geq$ {start})")
    ax.set_title("Decodability by layer")
    ax.set_ylim(min(-0.05, float(np.min([s[:, start:].mean(1) for s in scores.values()])) - 0.05), 1.05)
    ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.4), fontsize=8.5)
    panel_label(ax, "a")
    t = np.arange(T)
    for li in range(n_layers):
        bx.plot(t, scores["next"][li], color=COLORS[li], label="tokens" if li == 0 else f"layer {li}",
                gid=f"next:{li}")
    bx.set_xlabel("position t")
    bx.set_ylabel("held-out $R^2$ for $s_{t+1}$")
    bx.set_title("Next state over the sequence")
    bx.set_ylim(min(-0.1, float(np.min(scores["next"])) - 0.05), 1.05)
    bx.legend(loc="upper left")
    panel_label(bx, "b")
    fig.suptitle("Linear probes on the trained 2-layer linear transformer")
    return fig


# --------------------------------------------------------------------------- simplification faithfulness

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ..mesa.faithfulness import FaithfulnessResult

__all__ += ["faithfulness_figure", "faithfulness_record", "plot_faithfulness"]


#: One colour and marker per proxy, the same in every row (the compressed algorithm in black).
_PROXY_STYLES: dict[str, dict[str, Any]] = {
    "rank-1": dict(color="C0", marker="o"), "rank-2": dict(color="C9", marker="o"),
    "rank-5": dict(color="C1", marker="s"), "rank-9": dict(color="C2", marker="^"),
    "rank-10": dict(color="C3", marker="v"), "rank-20": dict(color="C5", marker="v"),
    "compressed": dict(color="k", marker="D"),
}


def _plot_faithfulness_row(res: "FaithfulnessResult", axes: Any, title: str) -> None:
    """Disagreement and loss gap against input scale, and disagreement on the other shifts, of one result."""
    from ..mesa.faithfulness import QUANTITIES

    fam = [s.family for s in res.splits]
    idx_a = [j for j, f in enumerate(fam) if f == "input scale"]
    idx_o = [j for j, f in enumerate(fam) if f != "input scale"]
    rd = res.get("rel_diff")
    lg = res.get("loss_gap")
    lm = res.values[0, :, QUANTITIES.index("loss_model")]
    xa = [res.splits[j].value for j in idx_a]
    styles = {p: _PROXY_STYLES.get(p, dict(color=f"C{i}", marker="P")) for i, p in enumerate(res.proxies)}
    ax0, ax1, ax2 = axes
    floor = 1e-3  # exact agreement (0) is drawn at the floor
    for p in res.proxies:
        ax0.plot(xa, np.maximum(rd[p][idx_a], floor), label=p, **styles[p])
        ax1.plot(xa, lg[p][idx_a] / lm[idx_a], label=p, **styles[p])
    ax0.set_yscale("log")
    ax0.set_ylim(floor / 2, 2)
    ax0.axhline(0.1, color="k", ls=":", lw=1)
    ax0.text(xa[0], 0.115, "faithfulness threshold 0.1", fontsize=8)
    ax0.set_xlabel("input scale (training: 1)")
    ax0.set_ylabel(f"relative disagreement with model\n(0 drawn at {floor:g})")
    ax0.set_title(f"{title}\ndisagreement vs input scale", fontsize=10)
    ax1.axhline(0, color="k", lw=0.8)
    ax1.set_yscale("symlog", linthresh=0.01)
    ax1.set_xlabel("input scale (training: 1)")
    ax1.set_ylabel("(loss proxy - loss model) / loss model")
    ax1.set_title(f"{title}\nloss gap vs input scale", fontsize=10)
    width = 0.8 / len(res.proxies)
    for i, p in enumerate(res.proxies):
        ax2.bar(np.arange(len(idx_o)) + (i - (len(res.proxies) - 1) / 2) * width,
                np.maximum(rd[p][idx_o], floor), width=width, color=styles[p]["color"], label=p)
    ax2.set_yscale("log")
    ax2.set_ylim(floor / 2, 2)
    ax2.axhline(0.1, color="k", ls=":", lw=1)
    ax2.set_xticks(range(len(idx_o)), [res.splits[j].name for j in idx_o], rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("relative disagreement with model")
    ax2.set_title(f"{title}\ndisagreement under other shifts", fontsize=10)
    for ax in axes:
        ax.grid(alpha=0.3)
    ax0.legend(fontsize=8, ncol=2)


def faithfulness_record(quick: bool = False, retrain: bool = False, models: "tuple[Any, Any] | None" = None) -> Record:
    """The agreement values :func:`faithfulness_figure` draws, as a :class:`~aievo.figures._recorded.Record`.

    Arrays ``lsa_values`` and ``tf_values`` (``FaithfulnessResult.values``) and the proxy names
    ``lsa_proxies``, ``tf_proxies`` of :func:`aievo.mesa.faithfulness.lsa_faithfulness` (20000 tasks
    per split; 2000 when ``quick``) and :func:`~aievo.mesa.faithfulness.tf_faithfulness` (ranks 5
    and 10, 256 sequences per split; 32 when ``quick``), default seeds, on the shipped checkpoints
    (on ``models``, the LSA and the transformer, when given: the figure's own, trained once when ``retrain``).
    """
    from ..mesa import faithfulness as F
    from ..mesa.experiments.faithfulness import FAITHFULNESS_SETUPS, faithfulness_models

    params: dict[str, Any] = {"lsa_n_tasks": 2000 if quick else 20000, "tf_n_seqs": 32 if quick else 256, "tf_ranks": [5, 10],
              "lsa_splits": [sp.name for sp in F.lsa_splits(quick)], "tf_splits": [sp.name for sp in F.tf_splits(quick)]}

    def compute() -> dict[str, np.ndarray]:
        lsa, tf = faithfulness_models(retrain=retrain) if models is None else models
        a = F.lsa_faithfulness(lsa, splits=F.lsa_splits(quick), n_tasks=params["lsa_n_tasks"])
        # ranks 5 and 10 (rank 20 is the model itself at key size 20); 256 sequences keep it within seconds
        b = F.tf_faithfulness(tf, ranks=tuple(params["tf_ranks"]), splits=F.tf_splits(quick), n_seqs=params["tf_n_seqs"])
        return {"lsa_values": a.values, "lsa_proxies": np.array(a.proxies), "tf_values": b.values,
                "tf_proxies": np.array(b.proxies)}

    return Record("faithfulness", tuple(FAITHFULNESS_SETUPS[w]["checkpoint"] for w in ("lsa", "linear_tf")), params,
                  compute)


def faithfulness_figure(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Disagreement and loss gap of simplified proxies of two trained mesa-optimizers.

    Draws, for the one-layer LSA and the two-layer, four-head linear transformer of
    :func:`aievo.mesa.experiments.faithfulness.faithfulness_models` (shipped checkpoints trained with
    the official defaults; trained afresh when ``retrain``, which needs the ``jax`` extra),
    the relative disagreement and loss gap against input scale and the disagreement on the
    other shifted splits (the transformer's rank-5 and rank-10 proxies and 256 sequences per
split, against 512 in the tables of docs/regression.md). ``quick`` evaluates fewer splits
and tasks. The values come from the result recorded with the package while the shipped
checkpoints are unchanged (:func:`faithfulness_record`); ``quick`` or ``retrain`` computes them.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ..mesa import faithfulness as F
    from ..mesa.experiments.faithfulness import faithfulness_models

    lsa, tf = faithfulness_models(retrain=retrain)
    data = load_or_compute(faithfulness_record(quick, retrain, (lsa, tf)), recompute=quick or retrain)
    res = [F.FaithfulnessResult(name, [str(p) for p in data[f"{key}_proxies"]], splits, data[f"{key}_values"],
                                {"train_config": F._train_info(model)})
           for name, key, model, splits in (("lsa", "lsa", lsa, F.lsa_splits(quick)),
                                            ("linear_tf", "tf", tf, F.tf_splits(quick)))]
    return plot_faithfulness(res)


def plot_faithfulness(results: "Sequence[FaithfulnessResult]") -> "Figure":
    """One row per result: disagreement and loss gap against input scale, disagreement on other shifts.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from ..errors import InvalidParameterError, bad_argument

    res = list(results)
    if not res:
        raise bad_argument(InvalidParameterError, "results", results, "at least one FaithfulnessResult")
    fig, axes = plt.subplots(len(res), 3, figsize=(15, 4.3 * len(res)), layout="constrained", squeeze=False)
    for r, row in zip(res, axes):
        tc = r.info.get("train_config") or {}
        label = "1-layer LSA (regression)" if r.model == "lsa" else "2-layer, 4-head linear TF (LDS)"
        if "steps" in tc:
            label += f", {tc['steps']} steps" + (f" at batch {tc['batch_size']}" if "batch_size" in tc else "")
        _plot_faithfulness_row(r, row, label)
    fig.suptitle("Are simplified proxies faithful to the trained mesa-optimizer? Official setups; "
                 "in distribution = scale 1", fontsize=12)
    return fig

