"""Small trained checkpoints shipped inside the package, and retraining them.

Figures that need a trained transformer load it from
``aievo/mesa/checkpoints/<name>.npz`` + ``<name>.json`` (written by
:meth:`TrainedTransformer.save`: arrays and JSON, never pickle), so drawing
them needs neither JAX nor minutes of training. ``aievo figures --retrain``
trains every such model from scratch instead, with the recipe that produced
the shipped file; ``python -m aievo.mesa.nn.shipped NAME ...`` (from a source
checkout) rewrites shipped checkpoints from their recipes.

A recipe is registered with :func:`recipe`: a function of no arguments that
trains and returns a :class:`TrainedTransformer`. Loading is lazy and cached
per process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from ...errors import InvalidParameterError, bad_argument
from .result import TrainedTransformer

__all__ = ["CHECKPOINT_DIR", "recipe", "recipes", "shipped_model", "main"]

#: Directory of the shipped checkpoints (inside the installed package).
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"

_RECIPES: dict[str, Callable[[], TrainedTransformer]] = {}


def recipe(name: str) -> Callable[[Callable[[], TrainedTransformer]], Callable[[], TrainedTransformer]]:
    """Register the training recipe of the shipped checkpoint ``name`` (decorator)."""

    def register(fn: Callable[[], TrainedTransformer]) -> Callable[[], TrainedTransformer]:
        _RECIPES[name] = fn
        return fn

    return register


def recipes() -> dict[str, Callable[[], TrainedTransformer]]:
    """The registered recipes, by checkpoint name (imports the modules that register them)."""
    import importlib

    for module in _RECIPE_MODULES:
        importlib.import_module(module)
    return dict(_RECIPES)


#: Modules that register recipes; imported by :func:`recipes` and :func:`shipped_model`.
_RECIPE_MODULES: tuple[str, ...] = (
    "aievo.evolving.transformers",
    "aievo.mesa.experiments.vonoswald2023b",
    "aievo.mesa.experiments.vonoswald2023b_fewshot",
    "aievo.mesa.experiments.friedman2023",
    "aievo.mesa.experiments.akyurek2022",
    "aievo.mesa.experiments.icl_regression_mech",
    "aievo.mesa.experiments.vonoswald2023a",
    "aievo.mesa.experiments.faithfulness",
)


@cache
def _load(name: str) -> TrainedTransformer:
    return TrainedTransformer.load(CHECKPOINT_DIR / name)


def shipped_model(name: str, *, retrain: bool = False) -> TrainedTransformer:
    """The trained model ``name``: the shipped checkpoint, or trained afresh when ``retrain``.

    Parameters
    ----------
    name : str
        Checkpoint name (a file stem in :data:`CHECKPOINT_DIR`).
    retrain : bool, default False
        Train from scratch with the registered recipe (needs the ``jax`` extra)
        instead of loading the shipped file.

    Returns
    -------
    TrainedTransformer

    Raises
    ------
    InvalidParameterError
        If no checkpoint or recipe of that name exists.
    """
    known = recipes()
    if retrain:
        if name not in known:
            raise bad_argument(InvalidParameterError, "name", name, f"one of {sorted(known)}")
        return known[name]()
    if not (CHECKPOINT_DIR / f"{name}.json").is_file():
        shipped = sorted(p.stem for p in CHECKPOINT_DIR.glob("*.json"))
        raise bad_argument(InvalidParameterError, "name", name, f"a shipped checkpoint, one of {shipped}")
    return _load(name)


def main(argv: list[str] | None = None) -> int:
    """Retrain the named shipped checkpoints (all when none is named) and write them to :data:`CHECKPOINT_DIR`."""
    names = list(sys.argv[1:] if argv is None else argv)
    known = recipes()
    for name in names or sorted(known):
        if name not in known:
            raise bad_argument(InvalidParameterError, "name", name, f"one of {sorted(known)}")
        path = known[name]().save(CHECKPOINT_DIR / name)
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    # Run as a script this file is ``__main__``, while the recipe modules register into the
    # imported ``aievo.mesa.nn.shipped``: call that module's ``main`` so they are seen.
    from aievo.mesa.nn.shipped import main as _main

    raise SystemExit(_main())
