"""The trained models of the simplification-faithfulness study (:mod:`aievo.mesa.faithfulness`).

Both are transformers of :mod:`aievo.mesa.nn` trained by
:func:`aievo.mesa.nn.train_transformer` with the official model, optimiser and task of
von Oswald et al. (:func:`aievo.mesa.nn.official_setup`), shorter runs than the official
ones (:data:`FAITHFULNESS_SETUPS`). They ship as checkpoints (:mod:`aievo.mesa.nn.shipped`:
``faithfulness_lsa`` and ``faithfulness_linear_tf``), so the study and its figure
(:func:`aievo.figures.mesa.faithfulness_figure`) load them without JAX;
``faithfulness_models(retrain=True)`` trains them afresh (the ``jax`` extra).
"""

from __future__ import annotations

import functools
from typing import Any

from ...errors import InvalidParameterError, bad_argument
from ..nn.config import official_setup
from ..nn.shipped import recipe, shipped_model

__all__ = ["FAITHFULNESS_SETUPS", "train_faithfulness_model", "faithfulness_models"]

#: The trained models of the study, as data: checkpoint name (:mod:`aievo.mesa.nn.shipped`),
#: official setup (:func:`aievo.mesa.nn.official_setup`: model, optimiser and task, all kept),
#: steps, batch size and seed.  Both runs are shorter than the official ones so that retraining
#: takes a minute or two on two cores: the LSA runs 5000 of the official 50000 steps at batch
#: 512 instead of 2048 (it has reached one GD step by then), the transformer the official 2500
#: steps at batch 64 instead of 256 (the schedule, warm-up and cosine, is unchanged).
FAITHFULNESS_SETUPS: dict[str, dict[str, Any]] = {
    "lsa": dict(checkpoint="faithfulness_lsa", setup="vonoswald2023a_regression", steps=5000, batch_size=512,
                seed=0),
    "linear_tf": dict(checkpoint="faithfulness_linear_tf", setup="vonoswald2023b_lds", steps=2500, batch_size=64,
                      seed=0),
}


def train_faithfulness_model(which: str) -> Any:
    """Train one model of :data:`FAITHFULNESS_SETUPS` (``"lsa"`` or ``"linear_tf"``; needs the ``jax`` extra).

    Returns
    -------
    TrainedTransformer
    """
    if which not in FAITHFULNESS_SETUPS:
        raise bad_argument(InvalidParameterError, "which", which, f"one of {sorted(FAITHFULNESS_SETUPS)}")
    from ..nn.train import train_transformer

    s = FAITHFULNESS_SETUPS[which]
    o = official_setup(s["setup"])
    return train_transformer(o.model, o.task, s["steps"], s["batch_size"], s["seed"], optim=o.optim)


for _which, _setup in FAITHFULNESS_SETUPS.items():
    recipe(_setup["checkpoint"])(functools.partial(train_faithfulness_model, _which))


def faithfulness_models(*, retrain: bool = False) -> tuple[Any, Any]:
    """The trained LSA and linear transformer of the study.

    Parameters
    ----------
    retrain : bool, default False
        Train them afresh with :func:`train_faithfulness_model` (needs the ``jax`` extra)
        instead of loading the checkpoints shipped with the package (rewritten from a
        source checkout by ``python -m aievo.mesa.nn.shipped faithfulness_lsa faithfulness_linear_tf``).

    Returns
    -------
    (TrainedTransformer, TrainedTransformer)
    """
    lsa, tf = (shipped_model(FAITHFULNESS_SETUPS[w]["checkpoint"], retrain=retrain) for w in ("lsa", "linear_tf"))
    return lsa, tf
