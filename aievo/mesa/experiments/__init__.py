"""Experiments of the mesa-optimization papers, one module per paper (need the ``jax`` extra).

:mod:`~aievo.mesa.experiments.vonoswald2023a` -- "Transformers learn in-context by gradient descent";
:mod:`~aievo.mesa.experiments.vonoswald2023b` -- "Uncovering mesa-optimization algorithms in Transformers";
:mod:`~aievo.mesa.experiments.friedman2023` -- "Interpretability illusions in the generalization of simplified models";
:mod:`~aievo.mesa.experiments.akyurek2022` -- "What learning algorithm is in-context learning?";
:mod:`~aievo.mesa.experiments.icl_regression_mech` -- how a small transformer regresses Friedman #2-like data in context;
:mod:`~aievo.mesa.experiments.faithfulness` -- the trained models of the simplification-faithfulness study.
Each experiment is a function of a few configuration values that trains what it needs with
:func:`aievo.mesa.train_transformer` and returns a small result dataclass.
"""

__all__: list[str] = []
