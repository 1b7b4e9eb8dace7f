"""The figure registry: one function per figure, each returning a matplotlib Figure.

Figures are registered by name with the module and function that draw them, so
that listing figures imports nothing heavy. Paper figures (docs/figures.md)
are ``fig1`` .. ``fig7`` in group ``"paper"``; figures beyond the theorem's
assumptions (finite populations, learning evaluators, ancestry) in group
``"beyond"``; mesa-optimization figures are in group ``"mesa"``, those of a
paper in a group named after it (``"vonoswald2023a"``, ``"vonoswald2023b"``,
``"friedman2023"``, ``"akyurek2022"``); evolving mesa-optimizers
(:mod:`aievo.evolving`) in group ``"evolving"``.

Every figure function takes one keyword, ``quick`` (smaller sizes, for tests),
and returns a :class:`matplotlib.figure.Figure`. Figures drawn from shipped
trained checkpoints (:mod:`aievo.mesa.nn.shipped`) or from results recorded with
the package (``regress``; the deterministic intermediates of
:mod:`aievo.figures._recorded`) also take ``retrain`` (train the models, or
recompute the result, from scratch instead of loading them); :func:`make` passes
it only to those.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InvalidParameterError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["FigureSpec", "accepts_retrain", "available", "get", "make", "select", "REGISTRY"]


@dataclass(frozen=True)
class FigureSpec:
    """A registered figure: its file stem, group, drawing function and caption."""

    name: str
    group: str
    target: str  # "module:function"
    caption: str

    def function(self) -> Callable[..., "Figure"]:
        """Import and return the drawing function."""
        module, func = self.target.split(":")
        return getattr(importlib.import_module(module), func)


REGISTRY: dict[str, FigureSpec] = {
    spec.name: spec
    for spec in [
        FigureSpec("fig1", "paper", "aievo.figures.paper:fig1_flattest", "Survival of the flattest"),
        FigureSpec("fig2", "paper", "aievo.figures.paper:fig2_tree", "Directed evolution on a tree"),
        FigureSpec("fig3", "paper", "aievo.figures.paper:fig3_limsup", "lim sup and lim inf of growth"),
        FigureSpec("fig4", "paper", "aievo.figures.paper:fig4_oscillating",
                   "Oscillating fitness, convergent exponent"),
        FigureSpec("fig5", "paper", "aievo.figures.paper:fig5_binary", "Binary tree, optimum unattained"),
        FigureSpec("fig6", "paper", "aievo.figures.paper:fig6_locking", "eta-locking ensures convergence"),
        FigureSpec("fig7", "paper", "aievo.figures.paper:fig7_deception", "Evolution selects for deception"),
        FigureSpec("concentration", "beyond", "aievo.figures.beyond:concentration_figure",
                   "Finite populations: probability of concentration against K"),
        FigureSpec("evaluator", "beyond", "aievo.figures.beyond:evaluator_figure",
                   "A learning evaluator: where deception is still selected"),
        FigureSpec("muller", "beyond", "aievo.figures.beyond:muller_figure",
                   "Muller plot, ancestry and the dominant lineage"),
        FigureSpec("mesa1", "mesa", "aievo.figures.mesa:mesa1_lsa_vs_gd", "Trained 1-layer LSA against 1-step GD"),
        FigureSpec("mesa2", "mesa", "aievo.figures.mesa:mesa2_steps", "K-step GD, GD++ and least squares against K"),
        FigureSpec("mesa3", "mesa", "aievo.figures.mesa:mesa3_positions",
                   "Per-position loss: Prop-1 GD, least squares, mesa layer, trained linear TF"),
        FigureSpec("mesa4", "mesa", "aievo.figures.mesa:mesa4_probes", "Probe decodability by layer"),
        FigureSpec("regress", "mesa", "aievo.figures.regression:regress_figure",
                   "In-context regression on Friedman #2: blog vs consistent protocol"),
        FigureSpec("icl_regression_mechanism", "mesa",
                   "aievo.figures.regression:icl_regression_mechanism",
                   "A small transformer regressing Friedman #2-like data in context: read-out, probes, attention"),
        FigureSpec("faithfulness", "mesa", "aievo.figures.mesa:faithfulness_figure",
                   "Simplified proxies of trained mesa-optimizers in and out of distribution"),
        FigureSpec("vonoswald2023b_fig2", "vonoswald2023b", "aievo.figures.vonoswald2023b:fig2_token_binding",
                   "2023b Fig 2A: token binding by a softmax first layer"),
        FigureSpec("vonoswald2023b_fig3", "vonoswald2023b", "aievo.figures.vonoswald2023b:fig3_attention_maps",
                   "2023b Fig 3A: first-layer attention maps on raw LDS tokens"),
        FigureSpec("vonoswald2023b_fig4", "vonoswald2023b",
                   "aievo.figures.vonoswald2023b:fig4_linear_algorithms",
                   "2023b Fig 4: linear transformers against GD, compressed weights and Prop 2"),
        FigureSpec("vonoswald2023b_fig5", "vonoswald2023b", "aievo.figures.vonoswald2023b:fig5_linearisation",
                   "2023b Fig 5: softmax layers linearised by distillation; softmax kernel regression"),
        FigureSpec("vonoswald2023b_fig6", "vonoswald2023b",
                   "aievo.figures.vonoswald2023b:fig6_softmax_algorithms",
                   "2023b Fig 6: multi-layer softmax transformers: probes by layer and Prop 2"),
        FigureSpec("vonoswald2023b_fig7", "vonoswald2023b", "aievo.figures.vonoswald2023b:fig7_hybrid",
                   "2023b Fig 7: softmax-mesa hybrids against 4-layer softmax TFs on three task families"),
        FigureSpec("vonoswald2023b_fig8", "vonoswald2023b", "aievo.figures.vonoswald2023b:fig8_few_shot",
                   "2023b Fig 8: few-shot learning after LDS pretraining, with tuned EOS and prefix tokens"),
        FigureSpec("friedman2023_dyck", "friedman2023", "aievo.figures.friedman2023:friedman2023_dyck",
                   "Friedman et al. 2023 on Dyck: SVD, k-means and one-hot proxies in vs out of distribution"),
        FigureSpec("friedman2023_regression", "friedman2023",
                   "aievo.figures.friedman2023:friedman2023_regression",
                   "Friedman et al. 2023 on in-context regression: proxies in vs out of distribution"),
        FigureSpec("akyurek2022_transition", "akyurek2022", "aievo.figures.akyurek2022:transition_figure",
                   "Which learner trained transformers match: SPD and ILWD by depth, width, noise"),
        FigureSpec("akyurek2022_probes", "akyurek2022", "aievo.figures.akyurek2022:probes_figure",
                   "Linear probes for X^T y and the Bayes weights by layer"),
        FigureSpec("vonoswald2023a_heads", "vonoswald2023a", "aievo.figures.vonoswald2023a:fig_heads",
                   "2023a: one softmax layer with 1, 2, 4 heads against one GD step"),
        FigureSpec("vonoswald2023a_depth", "vonoswald2023a", "aievo.figures.vonoswald2023a:fig_depth",
                   "2023a: trained multi-layer and weight-tied LSA against K steps of GD and GD++"),
        FigureSpec("vonoswald2023a_ood", "vonoswald2023a", "aievo.figures.vonoswald2023a:fig_ood",
                   "2023a: trained 1-layer LSA and one GD step over the input-scale and weight-scale grids"),
        FigureSpec("vonoswald2023a_separate_tokens", "vonoswald2023a", "aievo.figures.vonoswald2023a:fig_separate_tokens",
                   "2023a: separate x/y tokens, a softmax copying layer then one LSA layer against one GD step"),
        FigureSpec("vonoswald2023a_sine", "vonoswald2023a", "aievo.figures.vonoswald2023a:fig_sine",
                   "2023a: sine regression with an input MLP against GD on raw and on learned features"),
        FigureSpec("evolving_mesa_divergence", "evolving", "aievo.figures.evolving:evolving_mesa_divergence",
                   "Evolving in-context learners: proxy against deployment loss under each evaluator"),
        FigureSpec("evolving_mesa_transformers", "evolving", "aievo.figures.evolving:evolving_mesa_transformers",
                   "Evolving small trained transformers: proxy against deployment loss under each evaluator"),
    ]
}


def available(group: str | None = None) -> list[str]:
    """Names of the registered figures, optionally of one group only."""
    return [name for name, spec in REGISTRY.items() if group is None or spec.group == group]


def get(name: str) -> FigureSpec:
    """The :class:`FigureSpec` registered under ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InvalidParameterError(
            f"figure={name!r} is not registered: expected one of {', '.join(REGISTRY)}"
        ) from None


def accepts_retrain(name: str) -> bool:
    """Whether the figure ``name`` is drawn from shipped checkpoints or results that ``retrain=True`` recomputes."""
    import inspect

    return "retrain" in inspect.signature(get(name).function()).parameters


def make(name: str, *, quick: bool = False, retrain: bool = False) -> "Figure":
    """Draw the figure registered under ``name`` and return it.

    ``retrain=True`` trains the models of checkpoint-based figures from scratch
    (needs the ``jax`` extra); other figures ignore it. BLAS runs on one thread
    meanwhile, as in ``aievo figures`` (:mod:`aievo._blas`: the figures multiply
    many small matrices, where threads only add synchronisation).
    """
    from .._blas import single_threaded_blas

    func = get(name).function()
    with single_threaded_blas():
        if retrain and accepts_retrain(name):
            return func(quick=quick, retrain=True)
        return func(quick=quick)


def select(only: str | None) -> list[str]:
    """Resolve a ``--only`` selection such as ``"1,5"``, ``"fig2"``, ``"paper"`` or ``"mesa"``.

    Numbers mean paper figures; group names select a whole group; ``None``
    selects every figure.
    """
    if only is None or only.strip() in ("", "all"):
        return list(REGISTRY)
    chosen: list[str] = []
    groups = {spec.group for spec in REGISTRY.values()}
    for token in (t.strip() for t in only.split(",")):
        if not token:
            continue
        if token in groups:
            names = available(token)
        elif token.isdigit():
            names = [get(f"fig{token}").name]
        else:
            names = [get(token).name]
        chosen.extend(n for n in names if n not in chosen)
    return chosen
