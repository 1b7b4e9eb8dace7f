"""aievo: evolution of self-designing AIs, and mesa-optimizers.

After K. D. Harris, "A mathematical theory of evolution for self-designing AIs"
(arXiv 2604.05142, 2026); the formulation is the package's own (see the docs).

The public API in one screen::

    g = DesignGraph.tree(parent, fitness, prob)      # or from_matrix / from_networkx / trees.*
    gl = with_locking(g, eta); gp = with_preservation(g, eta)
    tr = simulate(g, generations, traits=..., sets=...)
    tr.mean_fitness, tr.log_growth, tr.shares, tr.trait_means, tr.plot(), tr.save(path)
"""

from ._version import __version__ as __version__
from .dynamics import Trajectory as Trajectory
from .dynamics import simulate as simulate
from .errors import AievoError as AievoError
from .errors import InvalidFitnessError as InvalidFitnessError
from .errors import InvalidGraphError as InvalidGraphError
from .errors import InvalidKernelError as InvalidKernelError
from .errors import InvalidParameterError as InvalidParameterError
from .errors import InvalidTreeError as InvalidTreeError
from .errors import ResultFileError as ResultFileError
from .errors import ScenarioError as ScenarioError
from .errors import ShapeError as ShapeError
from .graph import DesignGraph as DesignGraph
from .locking import with_locking as with_locking
from .locking import with_preservation as with_preservation
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
    "ResultFileError",
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
]
