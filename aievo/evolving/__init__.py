"""Evolving mesa-optimizers: the two halves of aievo joined.

Programs of the evolution model are in-context learners of :mod:`aievo.mesa`
(:mod:`~aievo.evolving.learners`), among them small transformers trained by
the JAX layer and shipped as checkpoints (:mod:`~aievo.evolving.transformers`);
they design their successors by documented modifications
(:mod:`~aievo.evolving.design`); their fitness is measured by running them on
tasks drawn by an evaluator (:mod:`~aievo.evolving.evaluator`), on a proxy
(human-judged) or on deployment (objective); the experiment evolves them under
both (:mod:`~aievo.evolving.experiment`), checks whether the winners'
simplified forms stay faithful out of distribution
(:mod:`~aievo.evolving.faithfulness`) and draws the divergence
(:mod:`~aievo.figures.evolving`). See ``docs/evolving-mesa-optimizers.md``.

Nothing heavy is imported here.
"""

from __future__ import annotations

from .design import MOVES as MOVES
from .design import DesignRules as DesignRules
from .design import DesignSpace as DesignSpace
from .design import lazy_design_tree as lazy_design_tree
from .evaluator import EVALUATORS as EVALUATORS
from .evaluator import Evaluator as Evaluator
from .evaluator import Measurement as Measurement
from .evaluator import TaskDistribution as TaskDistribution
from .evaluator import score_of_loss as score_of_loss
from .experiment import EvaluatorRun as EvaluatorRun
from .experiment import ExperimentConfig as ExperimentConfig
from .experiment import ExperimentResult as ExperimentResult
from .experiment import run_experiment as run_experiment
from .faithfulness import SIMPLE_FORMS as SIMPLE_FORMS
from .faithfulness import SimplifiedForms as SimplifiedForms
from .faithfulness import simplified_forms as simplified_forms
from .learners import GD as GD
from .learners import KNN as KNN
from .learners import LSA as LSA
from .learners import Branch as Branch
from .learners import ContextLength as ContextLength
from .learners import InputRange as InputRange
from .learners import MesaLayer as MesaLayer
from .learners import Ridge as Ridge
from .learners import TrainedLSA as TrainedLSA
from .learners import Transformer as Transformer

__all__ = [
    # learners
    "GD",
    "LSA",
    "TrainedLSA",
    "Transformer",
    "Ridge",
    "KNN",
    "MesaLayer",
    "Branch",
    "InputRange",
    "ContextLength",
    # design
    "DesignRules",
    "DesignSpace",
    "MOVES",
    "lazy_design_tree",
    # evaluation
    "TaskDistribution",
    "Evaluator",
    "Measurement",
    "EVALUATORS",
    "score_of_loss",
    # experiment
    "ExperimentConfig",
    "ExperimentResult",
    "EvaluatorRun",
    "run_experiment",
    # faithfulness of simplified forms
    "SIMPLE_FORMS",
    "SimplifiedForms",
    "simplified_forms",
]
