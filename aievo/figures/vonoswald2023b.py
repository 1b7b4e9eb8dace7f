"""Figures of von Oswald et al. (2023b), "Uncovering mesa-optimization algorithms in Transformers".

Group ``"vonoswald2023b"`` of :mod:`aievo.figures`, drawn from small shipped checkpoints
(:mod:`aievo.mesa.nn.shipped`; recipes in :mod:`aievo.mesa.experiments.vonoswald2023b`):

* :func:`fig2_token_binding` -- Fig 2A: after a softmax first layer trained on raw LDS states,
  the previous state ``s_{t-1}`` is linearly decodable from token ``t``;
* :func:`fig3_attention_maps` -- Fig 3A: that layer's attention maps, concentrated on the
  previous token;
* :func:`fig5_linearisation` -- Fig 5: (A) each layer of a 3-layer softmax transformer replaced
  by a linear-attention layer distilled to mimic it; (B) least squares against softmax kernel
  regression as the dimension grows (closed forms and Monte-Carlo, no model);
* :func:`fig4_linear_algorithms` -- Fig 4: trained linear transformers of depth 1..4 on
  constructed tokens against one GD step, their own block-scalar ("compressed") weights, the
  multi-step optimizer of Proposition 2 with tuned step sizes, and probes for the
  preconditioned state by layer;
* :func:`fig6_softmax_algorithms` -- Fig 6: multi-layer softmax transformers on raw LDS states:
  probes by layer, and their loss against the Proposition-2 optimizer with tuned steps;
* :func:`fig7_hybrid` -- Fig 7: a softmax first layer followed by a mesa layer against a
  4-layer softmax-only transformer on three task families (fully observed, partially observed
  and nonlinear dynamics).
* :func:`fig8_few_shot` -- Fig 8: few-shot regression by a frozen LDS-pretrained transformer,
  without prompt, with a tuned EOS token and with a tuned prefix, one task and two in sequence.

Drawing needs neither JAX nor training: the forward passes are numpy (the float64 reference
forward :mod:`aievo.mesa.nn.reference`, through the helpers of
:mod:`aievo.mesa.experiments.vonoswald2023b`). ``retrain=True`` trains the
models from their recipes instead (needs the ``jax`` extra). The data behind each figure come
from ``fig*_data`` functions (cached per process), and plotted artists carry a ``gid`` so tests
can read the data back.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._blas import with_single_threaded_blas
from ..errors import InvalidParameterError, bad_argument
from ..mesa.experiments.vonoswald2023b import (
    gd_expected_loss,
    lsq_expected_loss,
    prop2_predict,
    raw_predict,
    softmax_first_layer,
    swap_layers,
    tune_prop2,
)
from ._recorded import Record, load_or_compute
from ._style import COLORS, new_figure, panel_label, styled

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..mesa.nn.config import LDSTask
    from ..mesa.nn.result import TrainedTransformer

__all__ = [
    "SIZES",
    "SEED",
    "fig2_data",
    "fig3_data",
    "fig4_data",
    "fig4_prop2_record",
    "prop2_record",
    "fig2_token_binding",
    "fig3_attention_maps",
    "fig4_linear_algorithms",
    "KERNEL_SETUP",
    "fig5_data",
    "fig5a_data",
    "fig5_linearisation",
    "fig6_data",
    "fig6_prop2_record",
    "fig6_softmax_algorithms",
    "FIG7_LAMS",
    "FIG7_LAGS",
    "FIG7_TITLES",
    "fig7_data",
    "fig7_hybrid",
    "FIG8_SIZES",
    "FIG8_EXAMPLES",
    "FIG8_YMAX",
    "fig8_data",
    "fig8_record",
    "fig8_few_shot",
]

#: Fresh sequences drawn at draw time (full, quick): probes (half fit, half score), evaluation, tuning.
SIZES = {False: dict(probe=2000, attention=500, eval=1000, fit=300, probe_linear=1000),
         True: dict(probe=200, attention=40, eval=100, fit=60, probe_linear=200)}
#: Seed of the sequences drawn at draw time.
SEED = 0
#: Ridge terms of the preconditioned probe targets of Fig 4: the official 1e-3, and 1.
PROBE_LAMS = (1e-3, 1.0)
#: Deepest Proposition-2 optimizer tuned for Fig 6 (Nelder-Mead in 5 step sizes took over a minute).
PROP2_MAX_K = 4
#: Lags ``k`` probed in Fig 2 (``s_{t-k}`` from token ``t``).
LAGS = (0, 1, 2, 3)


# --------------------------------------------------------------------------- Proposition 2


# --------------------------------------------------------------------------- data
def _lds_task(model: "TrainedTransformer") -> "LDSTask":
    from ..mesa.nn.config import LDSTask

    if not isinstance(model.task, LDSTask):
        raise bad_argument(InvalidParameterError, "model.task", model.task, "an LDSTask")
    return model.task


@functools.lru_cache(maxsize=4)
def _binding_model(retrain: bool) -> "TrainedTransformer":
    from ..mesa.experiments.vonoswald2023b import BINDING_MODEL
    from ..mesa.nn.shipped import shipped_model

    return shipped_model(BINDING_MODEL, retrain=retrain)


@functools.lru_cache(maxsize=4)
def _linear_models(retrain: bool) -> dict[int, "TrainedTransformer"]:
    from ..mesa.experiments.vonoswald2023b import LINEAR_MODELS
    from ..mesa.nn.shipped import shipped_model

    return {L: shipped_model(name, retrain=retrain) for L, name in LINEAR_MODELS.items()}


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig2_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Held-out R^2 of probes for ``s_{t-k}`` before and after the softmax layer.

    Returns
    -------
    dict
        ``positions`` (1..T-1), ``lags`` (:data:`LAGS`), ``r2_input`` and ``r2_layer1``
        (``(len(positions), len(lags))``, NaN where ``t < k``), ``inputs`` (the probe sequences,
        first half fits, second half scores), ``loss`` (the model's final evaluation loss).
    """
    from ..mesa.experiments.vonoswald2023b import binding_r2

    model = _binding_model(retrain)
    task = _lds_task(model)
    inputs, _ = task.sample(np.random.default_rng(SEED + 1), SIZES[quick]["probe"])
    _, h0, h1 = softmax_first_layer(model.params, model.config, inputs)
    positions = tuple(range(1, task.T))
    return dict(positions=np.array(positions), lags=np.array(LAGS), inputs=inputs,
                r2_input=binding_r2(h0, inputs, positions, LAGS), r2_layer1=binding_r2(h1, inputs, positions, LAGS),
                loss=float(model.history["eval_loss"][-1]))


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig3_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Attention weights of the softmax layer, averaged over fresh sequences.

    Returns
    -------
    dict
        ``weights`` ``(H, T, T)`` (mean over sequences), ``by_lag`` ``(H, T)``: mean weight
        on the key ``k`` tokens back, over queries ``t >= k`` (NaN-free: every ``k < T``),
        and ``inputs``.
    """
    model = _binding_model(retrain)
    inputs, _ = _lds_task(model).sample(np.random.default_rng(SEED + 2), SIZES[quick]["attention"])
    w, _, _ = softmax_first_layer(model.params, model.config, inputs)
    W = w.mean(axis=0)
    T = W.shape[-1]
    by_lag = np.stack([[np.mean(np.diagonal(Wh, offset=-k)) for k in range(T)] for Wh in W])
    return dict(weights=W, by_lag=by_lag, inputs=inputs)


def _tf_acts(model: "TrainedTransformer", inputs: np.ndarray) -> list[np.ndarray]:
    return model.activations(inputs, backend="numpy")


def prop2_record(name: str, checkpoints: tuple[str, ...], task: "LDSTask", seed: int, n_fit: int,
                 Ks: list[int]) -> Record:
    """Proposition-2 steps tuned on fresh sequences, as a :class:`~aievo.figures._recorded.Record`.

    :func:`~aievo.mesa.experiments.vonoswald2023b.tune_prop2` with ``K`` layers for each ``K`` of
    ``Ks`` in turn, each started from the steps of ``K - 1`` layers when those were tuned, on
    ``n_fit`` sequences of ``task`` drawn with ``seed``: arrays ``gammas_K{K}`` and ``eta_K{K}``.
    ``checkpoints`` are the models the task was read from.
    """
    params: dict[str, Any] = {"task": repr(task), "seed": seed, "n_fit": n_fit, "K": [int(K) for K in Ks]}

    def compute() -> dict[str, np.ndarray]:
        fit_x, fit_y = task.sample(np.random.default_rng(seed), n_fit)
        out: dict[str, np.ndarray] = {}
        for K in params["K"]:
            g, e = tune_prop2(fit_x, fit_y, K, out.get(f"gammas_K{K - 1}", ()))
            out[f"gammas_K{K}"], out[f"eta_K{K}"] = g, np.array(e)
        return out

    return Record(name, checkpoints, params, compute)


def fig4_prop2_record(quick: bool = False, retrain: bool = False) -> Record:
    """The Proposition-2 steps of :func:`fig4_data` (a :func:`prop2_record`; ``retrain`` retrains the models)."""
    from ..mesa.experiments.vonoswald2023b import LINEAR_MODELS

    models = _linear_models(retrain)
    return prop2_record("vonoswald2023b_fig4_prop2", tuple(LINEAR_MODELS[L] for L in sorted(models)),
                        _lds_task(models[min(models)]), SEED + 3, SIZES[quick]["fit"], sorted(models))


def fig6_prop2_record(quick: bool = False, retrain: bool = False) -> Record:
    """The Proposition-2 steps of :func:`fig6_data` (a :func:`prop2_record`; ``retrain`` retrains the models)."""
    from ..mesa.experiments.vonoswald2023b import SOFTMAX_MODELS

    models = _softmax_models(retrain)
    depths = sorted(models)
    return prop2_record("vonoswald2023b_fig6_prop2", tuple(SOFTMAX_MODELS[L] for L in depths),
                        _lds_task(models[depths[-1]]), SEED + 7, SIZES[quick]["fit"],
                        list(range(1, min(depths[-1], PROP2_MAX_K) + 1)))


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig4_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Per-position losses, tuned optimizers and probe scores behind Fig 4.

    Sequences: ``fit`` (tune the GD step and the Proposition-2 steps), ``eval`` (every loss)
    and ``probe`` (half fit the probes, half score them), all fresh draws of the models' task.

    Returns
    -------
    dict
        ``depths``; per-position losses ``tf[L]``, ``compressed[L]``, ``prop2[L]`` (dicts by
        depth), ``gd``, ``lsq`` (least squares over the pairs before ``t``, ``lambda = 1e-3``),
        ``zero``; ``eta`` (GD step, best on a grid), ``gammas[L]`` and ``etas[L]`` (fitted
        Proposition-2 steps);
        ``probe_pre``, ``probe_pre1`` (preconditioned state ``(H_t + lam I)^{-1} s_t`` with
        ``lam`` = :data:`PROBE_LAMS`) and ``probe_next`` (``s_{t+1}``): held-out R^2 ``(L + 1, T)``
        for the deepest model, rows the tokens and each layer's output, columns the positions
        ``probe_t`` (``t >= 2 D``); ``eval_inputs``, ``eval_targets``.
    """
    from ..mesa.baselines import lsq_sequence_predict, scan_eta_sequence, sequence_loss
    from ..mesa.compressed import compressed_layers, extract_compressed
    from ..mesa.probes import probe_over_time, probe_targets
    from ..mesa.tasks import construct_full_tokens
    from ..mesa.train import linear_tf_forward

    models = _linear_models(retrain)
    depths = sorted(models)
    task = _lds_task(models[depths[0]])
    D = task.D
    sz = SIZES[quick]
    fit_x, fit_y = task.sample(np.random.default_rng(SEED + 3), sz["fit"])
    x, y = task.sample(np.random.default_rng(SEED + 4), sz["eval"])
    eta, _, _ = scan_eta_sequence(fit_x, fit_y, np.arange(0.001, 0.3, 0.001))
    prop2 = load_or_compute(fig4_prop2_record(quick, retrain), recompute=quick or retrain)
    out: dict[str, Any] = dict(depths=np.array(depths), eta=eta, eval_inputs=x, eval_targets=y,
                               tf={}, compressed={}, prop2={}, gammas={}, etas={})
    out["gd"] = sequence_loss(prop2_predict(x, (), eta), y)
    out["lsq"] = sequence_loss(lsq_sequence_predict(x, 1e-3), y)
    out["zero"] = sequence_loss(np.zeros_like(y), y)
    for L in depths:
        m = models[L]
        out["tf"][L] = sequence_loss(_tf_acts(m, x)[-1][..., :D], y)
        layers = [{k: np.asarray(v, np.float64) for k, v in lay["attn"].items()} for lay in m.params["layers"]]
        comp = compressed_layers(extract_compressed(layers, D), D)
        pred = linear_tf_forward(comp, construct_full_tokens(x), act_clip=m.config.act_clip)[-1][..., :D]
        out["compressed"][L] = sequence_loss(pred, y)
        g, e = prop2[f"gammas_K{L}"], float(prop2[f"eta_K{L}"])
        out["gammas"][L], out["etas"][L] = g, e
        out["prop2"][L] = sequence_loss(prop2_predict(x, g, e), y)
    deep = models[depths[-1]]
    n = sz["probe_linear"] // 2
    px, py = task.sample(np.random.default_rng(SEED + 5), 2 * n)
    acts = _tf_acts(deep, px)
    tg = probe_targets(px, py, PROBE_LAMS[0])
    tg = {"pre0": tg["preconditioned"], "next": tg["next"],
          "pre1": probe_targets(px, py, PROBE_LAMS[1])["preconditioned"]}
    probe_t = np.arange(min(2 * D, task.T - 1), task.T)  # past t = 2D, where H_t is well conditioned
    r2 = probe_over_time([a[:n] for a in acts], {k: v[:n] for k, v in tg.items()}, positions=probe_t.tolist(),
                         metric="r2", test_acts=[a[n:] for a in acts], test_targets={k: v[n:] for k, v in tg.items()})
    out.update(probe_t=probe_t, probe_pre=r2["pre0"], probe_pre1=r2["pre1"], probe_next=r2["next"])
    return out


@functools.lru_cache(maxsize=16)
def _raw_model(name: str, retrain: bool) -> "TrainedTransformer":
    """A shipped model of Figs 5A-7, trained once per process when ``retrain`` (three figures share them)."""
    from ..mesa.nn.shipped import shipped_model

    return shipped_model(name, retrain=retrain)


def _softmax_models(retrain: bool) -> dict[int, "TrainedTransformer"]:
    from ..mesa.experiments.vonoswald2023b import SOFTMAX_MODELS

    return {L: _raw_model(name, retrain) for L, name in SOFTMAX_MODELS.items()}


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig6_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Per-position losses, tuned Proposition-2 optimizers and probe scores behind Fig 6.

    Sequences: ``fit`` (tune the Proposition-2 steps), ``eval`` (every loss) and ``probe_linear``
    (half fit the probes, half score them), fresh draws of the models' task (seeds distinct from
    Fig 4's).

    Returns
    -------
    dict
        ``depths`` (of the trained softmax models); per-position losses ``tf[L]`` (by depth),
        ``prop2[K]`` for ``K = 1 .. min(max(depths), PROP2_MAX_K)`` (``K = 1`` is one GD step), ``lsq``
        (``lambda = 1e-3``), ``zero``; ``gammas[K]``, ``etas[K]``; ``probe_pre``, ``probe_pre1``
        (preconditioned state with ``lam`` = :data:`PROBE_LAMS`) and ``probe_next``: held-out
        R^2 ``(L + 1, len(probe_t))`` for the deepest model, rows the embedded tokens and each
        layer's output; ``probe_t``; ``eval_inputs``, ``eval_targets``.
    """
    from ..mesa.baselines import lsq_sequence_predict, sequence_loss
    from ..mesa.probes import probe_over_time, probe_targets

    models = _softmax_models(retrain)
    depths = sorted(models)
    task = _lds_task(models[depths[-1]])
    sz = SIZES[quick]
    prop2 = load_or_compute(fig6_prop2_record(quick, retrain), recompute=quick or retrain)
    x, y = task.sample(np.random.default_rng(SEED + 8), sz["eval"])
    out: dict[str, Any] = dict(depths=np.array(depths), eval_inputs=x, eval_targets=y, tf={}, prop2={}, gammas={},
                               etas={})
    out["lsq"] = sequence_loss(lsq_sequence_predict(x, 1e-3), y)
    out["zero"] = sequence_loss(np.zeros_like(y), y)
    for L in depths:
        out["tf"][L] = sequence_loss(raw_predict(models[L], x)[0], y)
    for K in range(1, min(depths[-1], PROP2_MAX_K) + 1):
        g, e = prop2[f"gammas_K{K}"], float(prop2[f"eta_K{K}"])
        out["gammas"][K], out["etas"][K] = g, e
        out["prop2"][K] = sequence_loss(prop2_predict(x, g, e), y)
    n = sz["probe_linear"] // 2
    px, py = task.sample(np.random.default_rng(SEED + 9), 2 * n)
    acts = raw_predict(models[depths[-1]], px)[1]
    tg = probe_targets(px, py, PROBE_LAMS[0])
    tg = {"pre0": tg["preconditioned"], "next": tg["next"],
          "pre1": probe_targets(px, py, PROBE_LAMS[1])["preconditioned"]}
    probe_t = np.arange(min(2 * task.D, task.T - 1), task.T)
    r2 = probe_over_time([a[:n] for a in acts], {k: v[:n] for k, v in tg.items()}, positions=probe_t.tolist(),
                         metric="r2", test_acts=[a[n:] for a in acts], test_targets={k: v[n:] for k, v in tg.items()})
    out.update(probe_t=probe_t, probe_pre=r2["pre0"], probe_pre1=r2["pre1"], probe_next=r2["next"])
    return out


#: Ridge penalties and delay lengths over which the least-squares baselines of Fig 7 are tuned.
FIG7_LAMS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
FIG7_LAGS = (1, 2, 3, 4, 6)
#: Titles of the Fig 7 panels, by task family.
FIG7_TITLES = {"full": "Fully observed linear", "partial": "Partially observed linear",
               "nonlinear": "Fully observed nonlinear"}


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig7_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Per-position losses of the softmax-mesa hybrid and the 4-layer softmax transformer on three task families.

    Per family (:data:`aievo.mesa.experiments.vonoswald2023b.FIG7_TASKS`): ``eval`` fresh
    sequences score every predictor and ``fit`` others tune the least-squares baselines
    (ridge penalty from :data:`FIG7_LAMS`, delay length from :data:`FIG7_LAGS`).

    Returns
    -------
    dict
        ``families`` (tuple of names) and, per family, a dict with ``models`` (architecture ->
        per-position loss ``(T,)``), ``zero`` (the zero predictor's), ``lsq`` (ridge least squares of the next observation on the
        current one, over the pairs seen so far, tuned ``lam``), ``lsq_informed`` and
        ``informed`` (a label: least squares on delay embeddings of the observations with tuned
        length for the partially observed family, on the true features
        :func:`~aievo.mesa.experiments.vonoswald2023b.nonlinear_features` for the nonlinear one;
        absent for the fully observed family), ``lam``, ``lags`` and ``lam_informed`` (the tuned values),
        ``eval_inputs``, ``eval_targets``.
    """
    from ..mesa.baselines import sequence_loss
    from ..mesa.experiments.vonoswald2023b import (
        FIG7_ARCHS,
        FIG7_MODELS,
        FIG7_TASKS,
        delay_embed,
        feature_lsq_predict,
        nonlinear_features,
    )

    sz = SIZES[quick]

    def tuned(make: Any, lags: tuple[int, ...], fx: np.ndarray, fy: np.ndarray) -> tuple[int, float]:
        # the delay length (if any) and ridge penalty that predict best on separate sequences
        errs = [[sequence_loss(p, fy).mean() for p in feature_lsq_predict(make(fx, k), fx, FIG7_LAMS)] for k in lags]
        i, j = np.unravel_index(int(np.argmin(errs)), (len(lags), len(FIG7_LAMS)))
        return lags[i], FIG7_LAMS[j]

    out: dict[str, Any] = dict(families=tuple(FIG7_TASKS))
    for i, (family, task) in enumerate(FIG7_TASKS.items()):
        x, y = task.sample(np.random.default_rng(SEED + 20 + 2 * i), sz["eval"])
        fx, fy = task.sample(np.random.default_rng(SEED + 21 + 2 * i), sz["fit"])
        d: dict[str, Any] = dict(eval_inputs=x, eval_targets=y, models={}, zero=sequence_loss(np.zeros_like(y), y))
        for arch in FIG7_ARCHS:
            d["models"][arch] = sequence_loss(raw_predict(_raw_model(FIG7_MODELS[family, arch], retrain), x)[0], y)
        _, lam = tuned(lambda o, k: o, (1,), fx, fy)
        d["lsq"], d["lam"] = sequence_loss(feature_lsq_predict(x, x, lam), y), lam
        if family == "partial":
            lags, lam_i = tuned(delay_embed, FIG7_LAGS, fx, fy)
            d["lsq_informed"] = sequence_loss(feature_lsq_predict(delay_embed(x, lags), x, lam_i), y)
            d.update(informed=f"least squares on the last {lags} observations", lags=lags, lam_informed=lam_i)
        elif family == "nonlinear":
            _, lam_i = tuned(lambda o, k: nonlinear_features(o), (1,), fx, fy)
            d["lsq_informed"] = sequence_loss(feature_lsq_predict(nonlinear_features(x), x, lam_i), y)
            d.update(informed="least squares on the true features", lam_informed=lam_i)
        out[family] = d
    return out


# --------------------------------------------------------------------------- Fig 5A


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig5a_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Loss of the 3-layer softmax model with layers linearised (distilled) or removed.

    Returns
    -------
    dict
        ``layers`` (1-based), ``original``, ``linearised`` and ``removed`` (mean loss with that
        one layer replaced by its distilled linear substitute, or deleted), ``combos`` (dict of a
        label to the mean loss with several layers linearised at once), ``gd`` (one tuned GD step
        on the same sequences), ``distill_rel`` (final distillation error over the variance of
        the teacher's update, per layer), ``eval_inputs``, ``eval_targets`` (``SIZES["attention"]``
        sequences: nine forward passes).
    """

    from ..mesa.baselines import scan_eta_sequence, sequence_loss
    from ..mesa.experiments.vonoswald2023b import LINEARISED_MODEL, SOFTMAX_MODELS
    from ..mesa.nn.shipped import shipped_model

    teacher = _raw_model(SOFTMAX_MODELS[3], retrain)
    if retrain:
        from ..mesa.experiments.vonoswald2023b import DISTILL_SETUP, distill_linear_layers

        subs = distill_linear_layers(teacher, **DISTILL_SETUP)
    else:
        subs = shipped_model(LINEARISED_MODEL)
    task = _lds_task(teacher)
    sz = SIZES[quick]
    x, y = task.sample(np.random.default_rng(SEED + 10), sz["attention"])
    fit_x, fit_y = task.sample(np.random.default_rng(SEED + 11), sz["fit"])

    def loss(m: "TrainedTransformer") -> float:
        return float(sequence_loss(raw_predict(m, x)[0], y).mean())

    L = teacher.config.n_layers
    zero = dataclasses.replace(subs, params=dict(subs.params, layers=[
        {"attn": {k: np.zeros_like(v) for k, v in lay["attn"].items()}} for lay in subs.params["layers"]]))
    eta = scan_eta_sequence(fit_x, fit_y, np.arange(0.001, 0.3, 0.001))[0]
    return dict(layers=np.arange(1, L + 1), original=loss(teacher),
                linearised=np.array([loss(swap_layers(teacher, subs, [i])) for i in range(L)]),
                removed=np.array([loss(swap_layers(teacher, zero, [i])) for i in range(L)]),
                combos={f"layers 2-{L}": loss(swap_layers(teacher, subs, range(1, L)))},
                gd=float(sequence_loss(prop2_predict(x, (), eta), y).mean()),
                distill_rel=np.asarray(subs.history["distill_loss"]) / np.asarray(subs.history["update_var"]),
                eval_inputs=x, eval_targets=y)


# --------------------------------------------------------------------------- Fig 5B


#: Settings of Fig 5B: context size, label noise, dimensions, inverse temperatures scanned.
KERNEL_SETUP: dict[str, Any] = dict(N=64, noise=0.1, dims=(1, 2, 4, 8, 16, 32), betas=np.geomspace(0.1, 100.0, 61))


def _kernel_errors(X: np.ndarray, y: np.ndarray, N: int, betas: np.ndarray) -> np.ndarray:
    """Squared errors ``(len(betas), B)`` of softmax kernel regression of ``y[:, N]`` from the first ``N`` pairs.

    The arithmetic of :func:`~aievo.mesa.experiments.vonoswald2023b.softmax_kernel_predict`, with
    the scores ``x_q . x_i`` computed once for every ``beta`` instead of once per call (whose
    checks also copy ``X`` every time): equal to the calls bit for bit.
    """
    scores = np.einsum("bnd,bd->bn", np.ascontiguousarray(X[:, :N]), np.ascontiguousarray(X[:, N]))
    root, yc = math.sqrt(X.shape[2]), y[:, :N]
    errs = np.empty((len(betas), X.shape[0]))
    for i, b in enumerate(betas):
        logits = float(b) * scores / root
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        errs[i] = (np.sum(w * yc, axis=1) / np.sum(w, axis=1) - y[:, N]) ** 2
    return errs


@functools.lru_cache(maxsize=2)
@with_single_threaded_blas
def fig5_data(quick: bool = False) -> dict[str, Any]:
    """Losses of least squares, one GD step and softmax kernel regression against the dimension.

    Returns
    -------
    dict
        ``dims``; ``lsq`` and ``gd`` (closed forms), ``kernel`` (best ``beta`` on the grid,
        Monte-Carlo over ``tasks`` tasks, its standard error ``kernel_se``), ``beta``, ``zero``
        (``1 + noise^2``), ``N``, ``noise``, ``tasks``.
    """
    su = KERNEL_SETUP
    N, noise, dims, betas = su["N"], su["noise"], su["dims"], su["betas"]
    B = 200 if quick else 4000
    g = np.random.default_rng(SEED + 6)
    out: dict[str, Any] = dict(dims=np.array(dims), N=N, noise=noise, tasks=B, lsq=[], gd=[], kernel=[],
                               kernel_se=[], beta=[], zero=1.0 + noise**2)
    for d in dims:
        X = g.standard_normal((B, N + 1, d))
        w = g.standard_normal((B, d))
        y = np.einsum("bnd,bd->bn", X, w) / math.sqrt(d) + noise * g.standard_normal((B, N + 1))
        errs = _kernel_errors(X, y, N, betas)
        i = int(np.argmin(errs.mean(axis=1)))
        out["kernel"].append(float(errs[i].mean()))
        out["kernel_se"].append(float(errs[i].std(ddof=1) / math.sqrt(B)))
        out["beta"].append(float(betas[i]))
        out["lsq"].append(lsq_expected_loss(d, N, noise))
        out["gd"].append(gd_expected_loss(d, N, noise)[1])
    for k in ("lsq", "gd", "kernel", "kernel_se", "beta"):
        out[k] = np.array(out[k])
    return out


# --------------------------------------------------------------------------- figures
@styled
def fig2_token_binding(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 2A: linear probes for past states before and after a softmax first layer (raw LDS tokens)."""
    d = fig2_data(quick, retrain)
    pos, lags = d["positions"], d["lags"]
    full = pos >= lags.max()
    fig = new_figure(11.0, 4.2)
    ax, bx = fig.subplots(1, 2)
    for r2, label, c, gid in ((d["r2_input"], "embedded token (before layer 1)", COLORS[1], "lag:input"),
                              (d["r2_layer1"], "after the softmax layer", COLORS[0], "lag:layer1")):
        ax.plot(lags, r2[full].mean(axis=0), "o-", color=c, label=label, gid=gid)
    ax.set_xticks(lags, ["$s_{t}$" if k == 0 else f"$s_{{t-{k}}}$" for k in lags])
    ax.set_xlabel("probe target (state k steps back)")
    ax.set_ylabel(f"held-out $R^2$ (mean over t $\\geq$ {lags.max()})")
    ax.set_ylim(-0.1, 1.05)
    ax.set_title("What token t carries")
    ax.legend(loc="upper right", fontsize=9)
    panel_label(ax, "a")
    j = int(np.flatnonzero(lags == 1)[0])
    bx.plot(pos, d["r2_layer1"][:, j], color=COLORS[0], label="after the softmax layer", gid="prev:layer1")
    bx.plot(pos, d["r2_input"][:, j], color=COLORS[1], label="embedded token", gid="prev:input")
    bx.axhline(0.9, color="0.4", ls=":", lw=1.2, label="$R^2 = 0.9$")
    bx.set_xlabel("position t")
    bx.set_ylabel("held-out $R^2$ for $s_{t-1}$")
    bx.set_ylim(-0.1, 1.05)
    bx.set_title("Decoding the previous state")
    bx.legend(loc="center right", fontsize=9)
    panel_label(bx, "b")
    fig.suptitle("Softmax first layer on raw LDS states binds each token to its predecessor")
    return fig


@styled
def fig3_attention_maps(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 3A: attention maps of the softmax first layer (mean over sequences), one per head."""
    d = fig3_data(quick, retrain)
    W, by_lag = d["weights"], d["by_lag"]
    H, T, _ = W.shape
    fig = new_figure(3.0 * H + 3.6, 3.5)
    axes = fig.subplots(1, H + 1, gridspec_kw=dict(width_ratios=[1] * H + [1.25]))
    im: Any = None
    for h in range(H):
        ax = axes[h]
        im = ax.imshow(W[h], cmap="viridis", vmin=0.0, vmax=1.0, origin="upper", gid=f"map:{h}")
        ax.set_title(f"head {h + 1}")
        ax.set_xlabel("key position t'")
        if h == 0:
            ax.set_ylabel("query position t")
        ax.grid(False)
    fig.colorbar(im, ax=list(axes[:H]), shrink=0.8, label="attention weight")
    cx = axes[H]
    K = min(T, 6)
    for h in range(H):
        cx.plot(np.arange(K), by_lag[h, :K], "o-", color=COLORS[h % len(COLORS)], label=f"head {h + 1}",
                gid=f"lag:{h}")
    cx.set_xlabel("lag t - t'")
    cx.set_ylabel("mean attention weight")
    cx.set_ylim(-0.02, 1.02)
    cx.set_title("Weight by lag")
    cx.legend(fontsize=8.5)
    fig.suptitle("Softmax first layer: attention on the previous token")
    return fig


def _probes_by_layer(ax: Any, d: dict[str, Any], Lmax: int, panel: str, title: str) -> None:
    """Mean held-out probe R^2 by layer for the preconditioned and next-state targets (Figs 4E and 6A)."""
    rows = np.arange(Lmax + 1)
    for key, label, c, mk in (("probe_pre1", "$(H_t + I)^{-1} s_t$", COLORS[3], "o-"),
                              ("probe_pre", "$(H_t + 10^{-3} I)^{-1} s_t$", COLORS[4], "^-"),
                              ("probe_next", "next state $s_{t+1}$", COLORS[0], "s-")):
        ax.plot(rows, d[key].mean(axis=1), mk, color=c, label=label, gid=f"{panel}:{key}")
    ax.set_xticks(rows, ["tokens"] + [f"layer {i}" for i in range(1, Lmax + 1)])
    ax.set_ylabel(f"held-out $R^2$ (mean over t $\\geq$ {d['probe_t'][0]})")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8.5, loc="upper left")
    panel_label(ax, panel)


@styled
def fig4_linear_algorithms(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 4: trained linear transformers (depth 1-4, constructed tokens) against the algorithms they implement."""
    d = fig4_data(quick, retrain)
    depths = list(d["depths"])
    Lmax = depths[-1]
    T = d["gd"].size
    t = np.arange(T)
    fig = new_figure(15.0, 8.6)
    axes = fig.subplots(2, 3)
    ax = axes[0, 0]
    ax.plot(t, d["tf"][1], color=COLORS[0], label=f"trained 1-layer linear TF (mean {d['tf'][1].mean():.3f})",
            gid="A:tf")
    ax.plot(t, d["gd"], color=COLORS[1], ls="--",
            label=f"one GD step, tuned $\\eta$ = {d['eta']:.3f} (mean {d['gd'].mean():.3f})", gid="A:gd")
    ax.plot(t, d["lsq"], color="0.45", ls=":", label=f"least squares (mean {d['lsq'].mean():.3f})", gid="A:lsq")
    ax.set_title("1 layer against 1 step of GD")
    panel_label(ax, "A")
    bx = axes[0, 1]
    bx.plot(t, d["tf"][Lmax], color=COLORS[0], label=f"trained {Lmax}-layer linear TF "
            f"(mean {d['tf'][Lmax].mean():.3f})", gid="B:tf")
    bx.plot(t, d["compressed"][Lmax], color=COLORS[2], ls="--", label="its block-scalar (compressed) weights "
            f"(mean {d['compressed'][Lmax].mean():.3f})", gid="B:compressed")
    bx.plot(t, d["lsq"], color="0.45", ls=":", label="least squares", gid="B:lsq")
    bx.set_title(f"{Lmax} layers against the compressed algorithm")
    panel_label(bx, "B")
    for a, where in ((ax, "center right"), (bx, "upper right")):
        a.set_yscale("log")
        a.set_xlabel("position t")
        a.set_ylabel("loss at t")
        a.legend(fontsize=8.5, loc=where)
    cx = axes[0, 2]
    cx.plot(depths, [d["tf"][L].mean() for L in depths], "o-", color=COLORS[0], label="trained linear TF",
            gid="C:tf")
    cx.plot(depths, [d["prop2"][L].mean() for L in depths], "s--", color=COLORS[3],
            label="Prop. 2 optimizer, tuned steps", gid="C:prop2")
    cx.plot(depths, [d["compressed"][L].mean() for L in depths], "^:", color=COLORS[2],
            label="compressed TF weights", gid="C:compressed")
    cx.axhline(d["lsq"].mean(), color="0.45", ls=":", label="least squares", gid="C:lsq")
    cx.set_xticks(depths)
    cx.set_xlabel("layers K  (optimizer: K - 1 preconditioning + 1 GD step)")
    cx.set_ylabel("mean loss over t")
    cx.set_title("Loss against depth")
    cx.legend(fontsize=8.5)
    panel_label(cx, "C")
    dx = axes[1, 0]
    for i, L in enumerate(depths):
        c = COLORS[i % len(COLORS)]
        dx.plot(t, d["prop2"][L], color=c, label=f"Prop. 2, K = {L}", gid=f"D:prop2:{L}")
        dx.plot(t, d["tf"][L], color=c, ls=":", lw=1.4, gid=f"D:tf:{L}")
    dx.plot([], [], color="0.3", ls=":", label="trained TF (same colour = same K)")
    dx.set_yscale("log")
    dx.set_xlabel("position t")
    dx.set_ylabel("loss at t")
    dx.set_title("Per position: optimizer and transformer")
    dx.legend(fontsize=8.5, ncol=1, loc="lower left")
    panel_label(dx, "D")
    pt = d["probe_t"]
    ex = axes[1, 1]
    rows = np.arange(Lmax + 1)
    _probes_by_layer(ex, d, Lmax, "E", f"Probes by layer ({Lmax}-layer TF)")
    fx = axes[1, 2]
    for r in rows:
        fx.plot(pt, d["probe_pre1"][r], color=COLORS[r % len(COLORS)],
                label="tokens" if r == 0 else f"layer {r}", gid=f"F:{r}")
    fx.set_xlabel("position t")
    fx.set_ylabel("held-out $R^2$ for $(H_t + I)^{-1} s_t$")
    fx.set_ylim(-0.05, 1.05)
    fx.set_title("Preconditioned state over the sequence")
    fx.legend(fontsize=8.5, loc="lower right", ncol=2)
    panel_label(fx, "F")
    fig.suptitle("Linear transformers on constructed LDS tokens: the algorithms they implement")
    return fig


@styled
def fig5_linearisation(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 5: (A) softmax layers replaced by distilled linear attention; (B) least squares against softmax kernel regression."""
    a = fig5a_data(quick, retrain)
    d = fig5_data(quick)
    fig = new_figure(13.6, 4.8)
    ax, bx = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=[1.1, 1.0]))
    L = len(a["layers"])
    xs = np.arange(L)
    ax.bar(xs - 0.2, a["linearised"], 0.38, color=COLORS[0], label="replaced by distilled linear attention",
           gid="A:linearised")
    ax.bar(xs + 0.2, a["removed"], 0.38, color=COLORS[1], alpha=0.75, label="removed", gid="A:removed")
    labels = list(a["combos"])
    ax.bar(L + np.arange(len(labels)), [a["combos"][k] for k in labels], 0.38, color=COLORS[0],
           gid="A:combos")
    ax.axhline(a["original"], color="0.2", lw=1.4, label=f"all softmax ({a['original']:.3f})", gid="A:original")
    ax.axhline(a["gd"], color=COLORS[2], ls="--", lw=1.4, label=f"one GD step ({a['gd']:.3f})", gid="A:gd")
    for xi, v in zip(np.r_[xs - 0.2, xs + 0.2, L + np.arange(len(labels))],
                     np.r_[a["linearised"], a["removed"], [a["combos"][k] for k in labels]]):
        ax.text(xi, v + 0.02, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(L + len(labels)), [f"layer {i}" for i in a["layers"]] + [f"{k}\n(linear)" for k in labels])
    ax.set_ylim(0.0, 1.9)
    ax.set_ylabel("mean loss over t")
    ax.set_title(f"Linearising the layers of a {L}-layer softmax TF")
    ax.legend(fontsize=8.5, loc="upper right", ncol=2)
    panel_label(ax, "A")
    dims = d["dims"]
    bx.plot(dims, d["kernel"], "o-", color=COLORS[1], label="softmax kernel regression, best $\\beta$", gid="kernel")
    bx.plot(dims, d["gd"], "s--", color=COLORS[2], label="one GD step, best $\\eta$ (linear attention)", gid="gd")
    bx.plot(dims, d["lsq"], "^-", color=COLORS[0], label="least squares", gid="lsq")
    bx.axhline(d["zero"], color="0.4", ls=":", label="zero predictor", gid="zero")
    bx.set_xscale("log", base=2)
    bx.set_yscale("log")
    bx.set_xticks(dims, [str(int(x)) for x in dims])
    bx.set_xlabel("input dimension d")
    bx.set_ylabel("expected squared error on a query")
    bx.set_title(f"In-context linear regression, N = {d['N']} examples, noise {d['noise']}")
    bx.legend(fontsize=9, loc="lower right", bbox_to_anchor=(1.0, 0.2))
    panel_label(bx, "B")
    return fig


@styled
def fig6_softmax_algorithms(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 6: a multi-layer softmax transformer on raw LDS states: probes by layer, and its loss against Proposition 2."""
    d = fig6_data(quick, retrain)
    depths = list(d["depths"])
    Lmax = depths[-1]
    Ks = sorted(d["prop2"])
    T = d["lsq"].size
    t = np.arange(T)
    fig = new_figure(15.0, 4.6)
    ax, bx, cx = fig.subplots(1, 3)
    _probes_by_layer(ax, d, Lmax, "A", f"Probes by layer ({Lmax}-layer softmax TF)")
    for i, L in enumerate(depths):
        bx.plot(t, d["tf"][L], color=COLORS[0] if i == len(depths) - 1 else COLORS[5 % len(COLORS)], lw=2.0,
                label=f"{L}-layer softmax TF ({d['tf'][L].mean():.3f})", gid=f"B:tf:{L}")
    for i, K in enumerate(Ks):
        if K not in (1, Ks[-1]) and K not in depths:
            continue
        name = "one GD step" if K == 1 else f"Prop. 2, K = {K}"
        bx.plot(t, d["prop2"][K], color=COLORS[(i + 1) % len(COLORS)], ls="--",
                label=f"{name} ({d['prop2'][K].mean():.3f})", gid=f"B:prop2:{K}")
    bx.plot(t, d["lsq"], color="0.45", ls=":", label=f"least squares ({d['lsq'].mean():.3f})", gid="B:lsq")
    bx.set_yscale("log")
    bx.set_ylim(1e-4, 30.0)
    bx.set_xlabel("position t")
    bx.set_ylabel("loss at t")
    bx.set_title("Per position (legend: mean over t)")
    bx.legend(fontsize=7.5, loc="upper right", ncol=2)
    panel_label(bx, "B")
    cx.plot(Ks, [d["prop2"][K].mean() for K in Ks], "s--", color=COLORS[3], label="Prop. 2 optimizer, tuned steps",
            gid="C:prop2")
    cx.plot(depths, [d["tf"][L].mean() for L in depths], "o", ms=9, color=COLORS[0],
            label="trained softmax TF (K = its layers)", gid="C:tf")
    cx.axhline(d["lsq"].mean(), color="0.45", ls=":", label="least squares", gid="C:lsq")
    cx.set_xticks(sorted(set(Ks) | set(depths)))
    cx.set_xlabel("K  (optimizer: K - 1 preconditioning + 1 GD step)")
    cx.set_ylabel("mean loss over t")
    cx.set_title("Loss against depth")
    cx.legend(fontsize=8.5)
    panel_label(cx, "C")
    fig.suptitle("Softmax transformers on raw LDS states against the multi-step optimizer of Proposition 2")
    return fig


@styled
def fig7_hybrid(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 7: a softmax-mesa hybrid against a 4-layer softmax transformer on three task families."""
    from ..mesa.experiments.vonoswald2023b import FIG7_TASKS

    d = fig7_data(quick, retrain)
    fams = d["families"]
    fig = new_figure(5.0 * len(fams), 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(fams), sharey=True))
    styles = {"hybrid": ("softmax + mesa (2 layers)", COLORS[0], "-", 2.4),
              "softmax4": ("softmax only (4 layers)", COLORS[1], "--", 1.8)}
    for j, (ax, fam) in enumerate(zip(axes, fams)):
        f = d[fam]
        t = np.arange(f["lsq"].size)
        for arch, loss in f["models"].items():
            label, c, ls, lw = styles[arch]
            ax.plot(t, loss, color=c, ls=ls, lw=lw, label=f"{label}: {loss.mean():.3f}", gid=f"{fam}:{arch}")
        ax.plot(t, f["lsq"], color="0.45", ls=":", lw=1.6, label=f"least squares: {f['lsq'].mean():.3f}",
                gid=f"{fam}:lsq")
        if "lsq_informed" in f:
            ax.plot(t, f["lsq_informed"], color="0.25", ls="-.", lw=1.4,
                    label=f"{f['informed']}: {f['lsq_informed'].mean():.3f}", gid=f"{fam}:lsq_informed")
        task = FIG7_TASKS[fam]
        sub = (f"D = {task.D}" if task.obs_dim is None
               else f"{task.obs_dim} noisy observations of D = {task.D}")
        ax.set_title(f"{FIG7_TITLES[fam]}\n({sub})", fontsize=11)
        ax.set_yscale("log")
        ax.set_xlabel("position t")
        if j == 0:
            ax.set_ylabel("loss at t")
        ax.set_ylim(1e-6, 5.0)  # room below the curves for the legend
        ax.legend(fontsize=8, loc="lower left", title="mean over t", title_fontsize=8)
        panel_label(ax, chr(ord("A") + j))
    fig.suptitle("A softmax layer followed by a mesa layer against a deeper softmax-only transformer")
    return fig


# --------------------------------------------------------------------------- Fig 8
#: Fig 8: sequences drawn at draw time (full, quick), examples of the single task and of the two tasks.
FIG8_SIZES = {False: 1000, True: 200}
#: Top of the loss axis (least squares over both tasks overshoots far above it after the switch).
FIG8_YMAX = 3.8
FIG8_EXAMPLES = dict(single=(18,), switch=(9, 9))


def fig8_record(quick: bool = False, retrain: bool = False) -> Record:
    """The curves of :func:`fig8_data`, as a :class:`~aievo.figures._recorded.Record`.

    :func:`~aievo.mesa.experiments.vonoswald2023b_fewshot.fewshot_curves` of the shipped few-shot
    model on :data:`FIG8_SIZES` sequences, one task (seed ``SEED + 20``) and two tasks in sequence
    (seed ``SEED + 21``): arrays ``single_{curve}`` and ``switch_{curve}``.
    """
    from ..mesa.experiments.vonoswald2023b_fewshot import FEWSHOT_MODEL, fewshot_curves

    params: dict[str, Any] = {"n_sequences": FIG8_SIZES[quick], "examples": {k: list(v) for k, v in FIG8_EXAMPLES.items()},
              "seeds": {"single": SEED + 20, "switch": SEED + 21}}

    def compute() -> dict[str, np.ndarray]:
        model = _raw_model(FEWSHOT_MODEL, retrain)
        return {f"{run}_{k}": v for run in ("single", "switch")
                for k, v in fewshot_curves(model, FIG8_EXAMPLES[run], params["n_sequences"],
                                           params["seeds"][run]).items()}

    return Record("vonoswald2023b_fig8", (FEWSHOT_MODEL,), params, compute)


@functools.lru_cache(maxsize=4)
@with_single_threaded_blas
def fig8_data(quick: bool = False, retrain: bool = False) -> dict[str, Any]:
    """Loss per in-context example of the LDS-pretrained model without prompt, with tuned EOS, with a tuned prefix.

    Returns
    -------
    dict
        ``single`` and ``switch``: dicts of :func:`~aievo.mesa.experiments.vonoswald2023b_fewshot.fewshot_curves`
        (``none``, ``eos``, ``prefix``, ``lsq``, ``lsq_task``) for one task of 18 examples and for two
        tasks of 9; ``switch_at`` (index of the first example of task 2), ``n_prefix``,
        ``n_sequences``, ``tune_loss`` (the final tuning losses ``eos`` and ``prefix``).
    """
    from ..mesa.experiments.vonoswald2023b_fewshot import FEWSHOT_MODEL

    model = _raw_model(FEWSHOT_MODEL, retrain)
    n = FIG8_SIZES[quick]
    data = load_or_compute(fig8_record(quick, retrain), recompute=quick or retrain)
    single, switch = ({k[len(run) + 1:]: v for k, v in data.items() if k.startswith(run + "_")}
                      for run in ("single", "switch"))
    return dict(single=single, switch=switch, switch_at=FIG8_EXAMPLES["switch"][0],
                n_prefix=int(np.shape(model.params["prompt"]["prefix"])[0]), n_sequences=n,
                tune_loss={k: float(model.history[f"prompt_{k}_loss"][-50:].mean()) for k in ("eos", "prefix")})


@styled
def fig8_few_shot(*, quick: bool = False, retrain: bool = False) -> "Figure":
    """Fig 8: few-shot regression by a frozen LDS-pretrained transformer, with tuned EOS and prefix tokens."""
    d = fig8_data(quick, retrain)
    fig = new_figure(12.6, 5.4)
    ax, bx = fig.subplots(1, 2, sharey=True)
    labels = {"none": "no prompt", "eos": "tuned EOS token", "prefix": f"tuned prefix ({d['n_prefix']} tokens) + EOS",
              "lsq": "least squares, all examples so far", "lsq_task": "least squares, current task only"}
    styles: dict[str, dict[str, Any]] = {
        "none": dict(color=COLORS[0], lw=1.8, ls="-", marker="o", ms=3.5),
        "eos": dict(color=COLORS[1], lw=1.8, ls="-", marker="s", ms=3.5),
        "prefix": dict(color=COLORS[2], lw=1.8, ls="-", marker="^", ms=3.5),
        "lsq": dict(color="0.35", lw=1.6, ls=":"),
        "lsq_task": dict(color="0.6", lw=1.4, ls="-."),
    }
    top = FIG8_YMAX
    for panel, axis, key in (("A", ax, "single"), ("B", bx, "switch")):
        curves = d[key]
        i = np.arange(curves["none"].size)
        keys = ("none", "eos", "prefix", "lsq") + (("lsq_task",) if key == "switch" else ())
        for k in keys:
            mean = f" ({curves[k].mean():.2f})" if k != "lsq_task" else ""
            axis.plot(i, curves[k], gid=f"{panel}:{k}", label=labels[k] + mean, **styles[k])
        peak = int(np.argmax(curves["lsq"]))
        if curves["lsq"][peak] > top:  # least squares over both tasks overshoots after the switch
            axis.annotate(f"peak {curves['lsq'][peak]:.1f}", (peak, top), xytext=(peak + 0.6, 0.93 * top),
                          fontsize=8.5, color="0.35", va="top")
        axis.set_ylim(0.0, top)
        axis.set_xlabel("examples of the sequence seen before the query")
        axis.set_xlim(-0.5, i[-1] + 0.5)
        panel_label(axis, panel)
    bx.axvline(d["switch_at"] - 0.5, color="0.2", lw=1.0, ls="--", gid="B:switch")
    bx.text(d["switch_at"] - 0.2, 0.03, "task switch", transform=bx.get_xaxis_transform(), ha="left", fontsize=9)
    ax.set_ylabel("loss at the query  (sum over dims / 2)")
    ax.set_title("One task f(x) = W x, W orthogonal, D = 10")
    bx.set_title(f"Two tasks in sequence ({d['switch_at']} + {d['switch_at']} examples)")
    ax.legend(fontsize=8.5, loc="upper right", title="(mean over the examples)", title_fontsize=8.5)
    bx.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: no curve hidden
    fig.suptitle("Few-shot learning by a frozen transformer pretrained on LDS states (only the prompt vectors tuned)")
    return fig
