"""The experiment: evolve in-context learners under human-judged and under objective fitness.

:func:`run_experiment` explores the design space from a root learner
(:class:`~aievo.evolving.design.DesignSpace`), measures every learner on the
proxy and deployment distributions (:class:`~aievo.evolving.evaluator.Evaluator`),
builds one eta-locked type graph per evaluator (fitness = proxy score for
*human-judged*, deployment score for *objective*), runs the share dynamics
(:func:`aievo.simulate`) and adds the lineage exponents
(:func:`aievo.lineage_exponents`) and the Price decomposition
(:func:`aievo.price_along`) of capability and deception. The engine never
sees a learner: it gets a fitness vector computed by running them.

A scenario file with ``[scenario] kind = "evolving_mesa"`` describes one run
(see :data:`SCENARIO_KEYS` and ``docs/evolving-mesa-optimizers.md``)::

    aievo run examples/scenarios/evolving_mesa_optimizers.toml
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AievoError, ScenarioError
from .design import DesignRules, DesignSpace
from .evaluator import EVALUATORS, Evaluator, TaskDistribution
from .faithfulness import SimplifiedForms, simplified_forms
from .learners import (
    GD,
    KNN,
    LSA,
    ContextLength,
    InputRange,
    Learner,
    MesaLayer,
    Ridge,
    TrainedLSA,
    Transformer,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..dynamics import Trajectory
    from ..graph import DesignGraph
    from ..price import PriceSeries

__all__ = [
    "ExperimentConfig",
    "EvaluatorRun",
    "ExperimentResult",
    "run_experiment",
    "EvolvingMesaScenario",
    "load_scenario_data",
    "SCENARIO_KEYS",
    "TRAITS",
]

#: Per-learner quantities whose population mean is recorded every generation.
TRAITS = ("proxy_loss", "deployment_loss", "proxy_score", "deployment_score", "capability", "deception", "branch")

#: Tables and keys of an ``evolving_mesa`` scenario file (``*`` = required).
SCENARIO_KEYS: dict[str, tuple[str, ...]] = {
    "scenario": ("kind*", "name", "description", "generations*"),
    "tasks": ("d", "w_scale", "noise"),
    "proxy": ("x_halfwidth", "N"),
    "deployment": ("x_halfwidth", "N"),
    "evaluator": ("draws", "seed"),
    "design": (
        "root", "eta_grid", "K_max", "gamma_grid", "lam_grid", "k_max", "train_halfwidth_grid", "train_steps_max",
        "p_step", "p_retune", "p_precondition", "p_branch", "p_attention", "detector",
    ),
    "locking": ("eta*",),
    "output": ("plot",),
}

#: Root learners a scenario may name: learner -> its keys.
ROOT_LEARNERS: dict[str, tuple[str, ...]] = {
    "GD": ("eta*", "K*", "gamma"),
    "LSA": ("eta*", "K*", "N*"),
    "TrainedLSA": ("x_halfwidth*", "N", "steps", "seed"),
    "Transformer": ("x_halfwidth*", "layers", "attention"),
    "Ridge": ("lam*",),
    "KNN": ("k*",),
    "MesaLayer": ("lam*",),
}

#: Detectors a scenario may give new branches; each tests for the proxy's signature.
DETECTORS = ("input_range", "context_length", "none")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run needs (a scenario file read into data).

    Attributes
    ----------
    proxy, deployment : TaskDistribution
    rules : DesignRules
        Its ``detector`` is what new branches test for; the scenario files set
        it from the proxy (its input range or context length), so change it
        with the proxy.
    root : learner
    generations : int
    eta : float
        eta-locking probability (``(0, 1]``).
    draws, seed : int
        Monte-Carlo sample size and seed of the evaluator.
    name, description : str
    """

    proxy: TaskDistribution = field(default_factory=lambda: TaskDistribution(x_halfwidth=0.5))
    deployment: TaskDistribution = field(default_factory=lambda: TaskDistribution(x_halfwidth=1.5))
    rules: DesignRules = field(default_factory=lambda: DesignRules(detector=InputRange(0.5)))
    root: Learner = field(default_factory=lambda: GD(1.0, 1))
    generations: int = 300
    eta: float = 0.1
    draws: int = 400
    seed: int = 0
    name: str = "evolving_mesa"
    description: str = ""

    def evaluator(self) -> Evaluator:
        """A fresh :class:`Evaluator` for this configuration."""
        return Evaluator(self.proxy, self.deployment, draws=self.draws, seed=self.seed)


@dataclass(frozen=True, eq=False)
class EvaluatorRun:
    """One evolutionary run under one evaluator.

    Attributes
    ----------
    evaluator : str
        ``"human_judged"`` or ``"objective"``.
    graph : DesignGraph
        The eta-locked type graph (learners, then their locked copies);
        ``attrs["original"]`` maps each program to its learner.
    trajectory : Trajectory
        With ``trait_means`` for every name of :data:`TRAITS`.
    learner_shares : ndarray
        Final share of each learner (its designing and locked copies together).
    price : dict of str to PriceSeries
        Price decomposition of ``"capability"`` and ``"deception"`` at every generation.
    lineage_root : float
        Exact lineage exponent of the root learner.
    designer_rate : float
        The largest ``log rho`` over the components of designing (unlocked)
        programs: the growth rate of the mass that keeps designing, at most
        ``log((1 - eta) F*)`` by the locking theorem.
    """

    evaluator: str
    graph: "DesignGraph"
    trajectory: "Trajectory"
    learner_shares: np.ndarray
    price: dict[str, "PriceSeries"]
    lineage_root: float
    designer_rate: float

    @property
    def dominant(self) -> int:
        """Index of the learner with the largest final share."""
        return int(np.argmax(self.learner_shares))

    def final(self, trait: str) -> float:
        """Final population mean of a trait of :data:`TRAITS`."""
        return float(self.trajectory.trait_means[trait][-1])


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """The result of :func:`run_experiment`.

    Attributes
    ----------
    config : ExperimentConfig
    space : DesignSpace
    evaluator : Evaluator
    measured : dict of str to ndarray
        :meth:`Evaluator.table` of every learner of the space.
    runs : dict of str to EvaluatorRun
        ``"human_judged"`` and ``"objective"``.
    forms : SimplifiedForms
        Every learner's simplified form and its faithfulness on the proxy and
        in deployment (:func:`aievo.evolving.faithfulness.simplified_forms`).
    """

    config: ExperimentConfig
    space: DesignSpace
    evaluator: Evaluator
    measured: dict[str, np.ndarray]
    runs: dict[str, EvaluatorRun]
    forms: "SimplifiedForms"

    def fitness(self, evaluator: str) -> np.ndarray:
        """The measured fitness vector of the learners under ``evaluator``."""
        return self.measured["proxy_score" if evaluator == "human_judged" else "deployment_score"]

    def tied_with_best(self, evaluator: str, z: float = 2.0) -> np.ndarray:
        """``bool[n]``: learners whose fitness is within ``z`` paired Monte-Carlo errors of the best one's.

        The difference of each learner's fitness from the best one's is measured
        on the same tasks (:meth:`Evaluator.paired_difference`); learners whose
        difference is at most ``z`` of its errors (the best one included) are
        statistically tied with it. Learners with identical predictions on the
        evaluated tasks tie exactly.
        """
        which = "proxy" if evaluator == "human_judged" else "deployment"
        f = self.fitness(evaluator)
        best = self.space.learners[int(np.argmax(f))]
        S = np.stack([self.evaluator.scores(v, which) for v in self.space.learners])
        diff = self.evaluator.scores(best, which)[None, :] - S
        se = diff.std(axis=1, ddof=1) / np.sqrt(diff.shape[1])
        return diff.mean(axis=1) <= z * se

    def summary(self) -> str:
        """The text ``aievo run`` prints."""
        c = self.config
        sp = self.space
        n_branch = int(sp.is_branch().sum())
        lines = [
            f"evolving mesa-optimizers {c.name!r}: {sp.n} learners reachable from {c.root.name} "
            f"({n_branch} conditional branches), {c.generations} generations, eta-locking {c.eta:g}",
        ]
        if c.description:
            lines.append(f"  {c.description.strip()}")
        lines += [
            f"  proxy: {c.proxy.describe()}; deployment: {c.deployment.describe()}; "
            f"{c.draws} tasks each (seed {c.seed})",
            "  fitness = mean over tasks of 1/(1 + loss): human_judged on the proxy, objective in deployment;",
            "  capability = deployment score, deception = proxy score - deployment score",
            f"  {'evaluator':<13s} {'proxy loss':>11s} {'deploy loss':>11s} {'capability':>10s} "
            f"{'deception':>9s} {'branches':>8s}  dominant learner (share)",
        ]
        m0 = {k: float(v[0]) for k, v in self.measured.items()}
        lines.append(
            f"  {'(root, t = 0)':<13s} {m0['proxy_loss']:>11.4g} {m0['deployment_loss']:>11.4g} "
            f"{m0['capability']:>10.4f} {m0['deception']:>+9.4f} {0.0:>8.3f}  {c.root.name} (1)"
        )
        for name, r in self.runs.items():
            dom = r.dominant
            lines.append(
                f"  {name:<13s} {r.final('proxy_loss'):>11.4g} {r.final('deployment_loss'):>11.4g} "
                f"{r.final('capability'):>10.4f} {r.final('deception'):>+9.4f} {r.final('branch'):>8.3f}  "
                f"{sp.learners[dom].name} ({r.learner_shares[dom]:.3f})"
            )
        lines.append(
            "  best measured fitness (+- Monte-Carlo error); the learners within 2 paired errors of it, "
            "their capability and deception:"
        )
        m = self.measured
        for name in self.runs:
            f = self.fitness(name)
            se = m["proxy_se" if name == "human_judged" else "deployment_se"]
            b = int(np.argmax(f))
            tied = self.tied_with_best(name)
            lines.append(
                f"    {name:<13s} {f[b]:.4f} +- {se[b]:.4f} ({sp.learners[b].name}); {int(tied.sum())} learners, "
                f"c in [{m['capability'][tied].min():.3f}, {m['capability'][tied].max():.3f}], "
                f"d in [{m['deception'][tied].min():+.3f}, {m['deception'][tied].max():+.3f}]"
            )
        fm = self.forms
        lines.append(
            "  simplified forms (closest ridge / one-step GD on the proxy): the population's median relative "
            "difference on the proxy, in deployment; the dominant learner's form:"
        )
        for name, r in self.runs.items():
            dom = r.dominant
            lines.append(
                f"    {name:<13s} {fm.median('proxy', r.learner_shares):.3f}, "
                f"{fm.median('deployment', r.learner_shares):.3f}; {fm.name(dom)} "
                f"({fm.rel_diff_proxy[dom]:.3f} on the proxy, {fm.rel_diff_deployment[dom]:.3f} in deployment)"
            )
        lines.append("  lineage exponent of the root (= log F*), growth rate of the designing programs:")
        for name, r in self.runs.items():
            F = float(self.fitness(name).max())
            lines.append(
                f"    {name:<13s} {r.lineage_root:.4f} (log F* = {np.log(F):.4f}), "
                f"{r.designer_rate:.4f} <= log((1 - eta) F*) = {np.log((1 - c.eta) * F):.4f}"
            )
        lines.append("  Price decomposition summed over the run (selection + transmission = change):")
        for name, r in self.runs.items():
            parts = []
            for trait in ("capability", "deception"):
                p = r.price[trait]
                parts.append(
                    f"{trait} {p.selection.sum():+.4f} {p.transmission.sum():+.4f} = {p.total.sum():+.4f}"
                )
            lines.append(f"    {name:<13s} " + "; ".join(parts))
        return "\n".join(lines)

    def plot(self) -> "Figure":
        """The divergence figure (see :func:`aievo.figures.evolving.divergence_figure`)."""
        from ..figures.evolving import divergence_figure

        return divergence_figure(self)


def _run_one(
    space: DesignSpace, measured: dict[str, np.ndarray], evaluator: str, cfg: ExperimentConfig
) -> EvaluatorRun:
    from ..dynamics import simulate
    from ..lineage import lineage_exponents
    from ..locking import with_locking
    from ..price import price_along

    f = measured["proxy_score" if evaluator == "human_judged" else "deployment_score"]
    traits = {k: measured[k] for k in TRAITS if k != "branch"}
    traits["branch"] = space.is_branch().astype(np.float64)
    g = with_locking(space.graph(f, **traits), cfg.eta)
    G = cfg.generations
    tr = simulate(g, G, traits=list(TRAITS), record_shares=range(G))
    orig = g.attrs["original"]
    shares = np.bincount(orig, weights=tr.shares, minlength=space.n)
    price = {k: price_along(g, tr, trait=k) for k in ("capability", "deception")}
    lam = lineage_exponents(g)
    assert lam.component is not None and lam.component_rate is not None  # "exact" always sets them
    designing = ~g.attrs["locked"].astype(bool)
    return EvaluatorRun(
        evaluator=evaluator,
        graph=g,
        trajectory=tr,
        learner_shares=shares,
        price=price,
        lineage_root=float(lam.value[g.root]),
        designer_rate=float(lam.component_rate[lam.component[designing]].max()),
    )


def run_experiment(config: ExperimentConfig | None = None, *, space: DesignSpace | None = None) -> ExperimentResult:
    """Explore, measure and evolve: one run per evaluator.

    Parameters
    ----------
    config : ExperimentConfig, optional
        Default: ``ExperimentConfig()``.
    space : DesignSpace, optional
        A space already explored from ``config.root`` with ``config.rules``.

    Returns
    -------
    ExperimentResult
    """
    cfg = ExperimentConfig() if config is None else config
    if space is None:
        space = DesignSpace.explore(cfg.rules, cfg.root)
    ev = cfg.evaluator()
    measured = ev.table(space.learners)
    runs = {name: _run_one(space, measured, name, cfg) for name in EVALUATORS}
    forms = simplified_forms(ev, space.learners)
    return ExperimentResult(config=cfg, space=space, evaluator=ev, measured=measured, runs=runs, forms=forms)


# ---------------------------------------------------------------------- scenario files
def _config_from_data(data: Mapping[str, Any], default_name: str) -> tuple[ExperimentConfig, str | None]:
    from ..scenario import _Table

    top = _Table(data, "", tuple(k + "*" if k in ("scenario", "locking") else k for k in SCENARIO_KEYS))
    s = top.table("scenario", SCENARIO_KEYS["scenario"])
    name = s.str("name", default_name)
    description = s.str("description", "")
    generations = s.int("generations", lo=0)

    t = top.table("tasks", SCENARIO_KEYS["tasks"]) if top.has("tasks") else None
    common: dict[str, Any] = {}
    if t is not None:
        if t.has("d"):
            common["d"] = t.int("d", lo=1)
        for k in ("w_scale", "noise"):
            if t.has(k):
                common[k] = t.float(k, check=(lambda x: x >= 0, "a number >= 0"))

    def dist(key: str, halfwidth: float) -> TaskDistribution:
        kw = dict(common)
        if top.has(key):
            dt = top.table(key, SCENARIO_KEYS[key])
            kw["x_halfwidth"] = dt.float("x_halfwidth", halfwidth, check=(lambda x: x > 0, "a number > 0"))
            if dt.has("N"):
                kw["N"] = dt.int("N", lo=1)
        else:
            kw["x_halfwidth"] = halfwidth
        return TaskDistribution(**kw)

    proxy, deployment = dist("proxy", 0.5), dist("deployment", 1.5)
    e = top.table("evaluator", SCENARIO_KEYS["evaluator"]) if top.has("evaluator") else None
    draws = e.int("draws", 400, lo=2) if e else 400
    seed = e.int("seed", 0, lo=0) if e else 0

    rules_kw: dict[str, Any] = {}
    root: Learner = GD(1.0, 1)
    detector = "input_range"
    if top.has("design"):
        d = top.table("design", SCENARIO_KEYS["design"])
        for k in ("eta_grid", "gamma_grid", "lam_grid", "train_halfwidth_grid"):
            if d.has(k):
                rules_kw[k] = tuple(d.numbers(k))
        for k in ("K_max", "k_max", "train_steps_max"):
            if d.has(k):
                rules_kw[k] = d.int(k, lo=1)
        for k in ("p_step", "p_retune", "p_precondition", "p_branch", "p_attention"):
            if d.has(k):
                rules_kw[k] = d.float(k, check=(lambda x: 0 <= x <= 1, "a probability in [0, 1]"))
        detector = d.str("detector", "input_range", choices=DETECTORS)
        if d.has("root"):
            head = _Table(d.raw("root"), d.key("root"), None)
            kind = head.str("learner", choices=ROOT_LEARNERS)
            r = _Table(d.raw("root"), d.key("root"), ("learner*",) + ROOT_LEARNERS[kind])
            args = {k.rstrip("*"): r.raw(k.rstrip("*")) for k in ROOT_LEARNERS[kind] if r.has(k.rstrip("*"))}
            cls = {
                "GD": GD, "LSA": LSA, "TrainedLSA": TrainedLSA, "Transformer": Transformer, "Ridge": Ridge,
                "KNN": KNN, "MesaLayer": MesaLayer,
            }[kind]
            try:
                root = cls(**args)
            except AievoError as exc:
                raise ScenarioError(f"{d.key('root')}: {exc}") from exc
    rules_kw["detector"] = {
        "input_range": InputRange(proxy.x_halfwidth),
        "context_length": ContextLength(proxy.N),
        "none": None,
    }[detector]
    try:
        rules = DesignRules(**rules_kw)
        rules.moves(root)  # the root must sit on the grids
    except AievoError as exc:
        raise ScenarioError(f"design: {exc}") from exc
    lt = top.table("locking", SCENARIO_KEYS["locking"])
    eta = lt.float("eta", check=(lambda x: 0 < x <= 1, "a number in (0, 1]"))
    o = top.table("output", SCENARIO_KEYS["output"]) if top.has("output") else None
    plot = (o.str("plot", f"{name}.png") if o else f"{name}.png") or None
    cfg = ExperimentConfig(
        proxy=proxy, deployment=deployment, rules=rules, root=root, generations=generations, eta=eta,
        draws=draws, seed=seed, name=name, description=description,
    )
    return cfg, plot


class EvolvingMesaScenario:
    """A validated ``evolving_mesa`` scenario (what :func:`aievo.load_scenario` returns for that kind).

    Attributes
    ----------
    name : str
    config : ExperimentConfig
    plot_path : str or None
        File name of the divergence figure (relative to the output directory).
    data : dict
        The scenario as read.
    """

    population = None
    initial = None

    def __init__(self, config: ExperimentConfig, plot_path: str | None, data: Mapping[str, Any]) -> None:
        self.config = config
        self.name = config.name
        self.plot_path = plot_path
        self.data = dict(data)

    @property
    def generations(self) -> int:
        """Number of generations."""
        return self.config.generations

    @functools.cached_property
    def result(self) -> ExperimentResult:
        """The experiment, run once on first access."""
        return run_experiment(self.config)

    @property
    def graph(self) -> "DesignGraph":
        """The human-judged, eta-locked type graph (fitness measured on first access)."""
        return self.result.runs["human_judged"].graph

    def run(self, out: str | os.PathLike | None = None) -> ExperimentResult:
        """Run the experiment; with ``out`` also write the figure there."""
        res = self.result
        if out is not None:
            self.write(res, out)
        return res

    def write(self, result: ExperimentResult, out: str | os.PathLike) -> list[Path]:
        """Write the divergence figure (PNG) into directory ``out``; returns the paths written."""
        if not self.plot_path:
            return []
        from ..io import atomic_write

        path = Path(out) / self.plot_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = result.plot()  # a pyplot-free Figure: no backend is switched
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
        return [path]

    def cli(self, args: argparse.Namespace) -> int:
        """``aievo run`` for this kind: run, print the summary, write the figure."""
        res = self.run()
        written = [] if getattr(args, "no_plot", False) else self.write(res, args.out)
        print(res.summary())
        for p in written:
            print(f"  wrote {p}")
        return 0


def load_scenario_data(data: Mapping[str, Any], default_name: str) -> EvolvingMesaScenario:
    """Validate an ``evolving_mesa`` scenario (TOML data); nothing is measured yet.

    Raises
    ------
    ScenarioError
        For an unknown, missing or ill-typed key, naming it.
    """
    cfg, plot = _config_from_data(data, default_name)
    return EvolvingMesaScenario(cfg, plot, data)
