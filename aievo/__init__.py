"""aievo: evolution of self-designing AIs, and mesa-optimizers.

After K. D. Harris, "A mathematical theory of evolution for self-designing AIs"
(arXiv 2604.05142, 2026); the formulation is the package's own (see the docs).

The public API in one screen::

    g = DesignGraph.tree(parent, fitness, prob)      # or from_matrix / from_networkx / trees.*
    gl = with_locking(g, eta); gp = with_preservation(g, eta)
    tr = simulate(g, generations, traits=..., sets=...)
    tr.mean_fitness, tr.log_growth, tr.shares, tr.trait_means, tr.plot(), tr.save(path)
    lineage_exponents(g, method="exact"); price_decomposition(g, shares)
    sweep(fn, grid, out=...); run_scenario(load_scenario("file.toml"))

Subpackages: ``aievo.theory`` (results R1-R6), ``aievo.testing.strategies``
(Hypothesis strategies), ``aievo.figures``, ``aievo.mesa`` (mesa-optimizers),
``aievo.evolving`` (mesa-optimizers evolved with measured fitness).
"""

from ._version import __version__ as __version__
from .ancestry import Ancestry as Ancestry
from .ancestry import Lineage as Lineage
from .ancestry import ancestry as ancestry
from .ancestry import dominant_lineage as dominant_lineage
from .continuous import OdeTrajectory as OdeTrajectory
from .continuous import replicator_mutator_ode as replicator_mutator_ode
from .dynamics import Trajectory as Trajectory
from .dynamics import simulate as simulate
from .errors import AievoError as AievoError
from .errors import InvalidFitnessError as InvalidFitnessError
from .errors import InvalidGraphError as InvalidGraphError
from .errors import InvalidKernelError as InvalidKernelError
from .errors import InvalidParameterError as InvalidParameterError
from .errors import InvalidTreeError as InvalidTreeError
from .errors import MissingExtraError as MissingExtraError
from .errors import NumericalRangeError as NumericalRangeError
from .errors import ResultFileError as ResultFileError
from .errors import ScenarioError as ScenarioError
from .errors import ShapeError as ShapeError
from .fixation import FateEstimate as FateEstimate
from .fixation import concentration_probability as concentration_probability
from .fixation import fixation_probability as fixation_probability
from .graph import DesignGraph as DesignGraph
from .lazy import LazyTrajectory as LazyTrajectory
from .lazy import LazyTree as LazyTree
from .lazy import lazy_binary_pm_tree as lazy_binary_pm_tree
from .lazy import simulate_lazy as simulate_lazy
from .lazy import simulate_lazy_dfs as simulate_lazy_dfs
from .lineage import LineageExponents as LineageExponents
from .lineage import clade_abundance as clade_abundance
from .lineage import lineage_exponents as lineage_exponents
from .locking import with_locking as with_locking
from .locking import with_preservation as with_preservation
from .price import PriceDecomposition as PriceDecomposition
from .price import PriceSeries as PriceSeries
from .price import price_along as price_along
from .price import price_decomposition as price_decomposition
from .scenario import Scenario as Scenario
from .scenario import load_scenario as load_scenario
from .scenario import run_scenario as run_scenario
from .state import LearningEvaluator as LearningEvaluator
from .state import Payoff as Payoff
from .sweep import SerialExecutor as SerialExecutor
from .sweep import SweepResult as SweepResult
from .sweep import sweep as sweep
from .traits import deception_grid as deception_grid
from .traits import human_judged_fitness as human_judged_fitness
from .traits import linear_utility as linear_utility
from .traits import objective_fitness as objective_fitness
from .trees import binary_pm_tree as binary_pm_tree
from .trees import chain as chain
from .trees import kary_tree as kary_tree
from .trees import lattice as lattice
from .trees import random_tree as random_tree
from .trees import type_graph as type_graph
from .trees import unfold as unfold

__all__ = [
    "__version__",
    # errors
    "AievoError",
    "InvalidFitnessError",
    "InvalidGraphError",
    "InvalidKernelError",
    "InvalidParameterError",
    "InvalidTreeError",
    "NumericalRangeError",
    "ResultFileError",
    "MissingExtraError",
    "ScenarioError",
    "ShapeError",
    # graphs
    "DesignGraph",
    "chain",
    "kary_tree",
    "binary_pm_tree",
    "random_tree",
    "lattice",
    "type_graph",
    "unfold",
    "with_locking",
    "with_preservation",
    # dynamics
    "simulate",
    "Trajectory",
    # continuous time
    "replicator_mutator_ode",
    "OdeTrajectory",
    # trees larger than memory
    "LazyTree",
    "LazyTrajectory",
    "simulate_lazy",
    "simulate_lazy_dfs",
    "lazy_binary_pm_tree",
    # state-dependent fitness
    "Payoff",
    "LearningEvaluator",
    # traits
    "deception_grid",
    "human_judged_fitness",
    "objective_fitness",
    "linear_utility",
    # diagnostics
    "lineage_exponents",
    "clade_abundance",
    "LineageExponents",
    "ancestry",
    "dominant_lineage",
    "Ancestry",
    "Lineage",
    "price_decomposition",
    "price_along",
    "PriceDecomposition",
    "PriceSeries",
    # finite populations: fixation and concentration
    "fixation_probability",
    "concentration_probability",
    "FateEstimate",
    # scenarios and sweeps
    "Scenario",
    "load_scenario",
    "run_scenario",
    "sweep",
    "SweepResult",
    "SerialExecutor",
]

#: Subpackages loaded on first attribute access (``aievo.mesa``, ``aievo.theory``, ...).
_LAZY_SUBMODULES = ("figures", "mesa", "testing", "theory", "io", "evolving")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'aievo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
