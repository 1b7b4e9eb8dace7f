"""Shipped checkpoints and the ``--retrain`` path of ``aievo figures``."""

from __future__ import annotations

import pytest

from aievo.errors import InvalidParameterError
from aievo.figures import REGISTRY, accepts_retrain, make
from aievo.mesa.nn import shipped


def test_unknown_checkpoint_is_refused_with_the_known_names():
    with pytest.raises(InvalidParameterError, match="name="):
        shipped.shipped_model("no-such-model")
    with pytest.raises(InvalidParameterError, match="name="):
        shipped.shipped_model("no-such-model", retrain=True)


def test_every_shipped_checkpoint_has_a_recipe_and_loads():
    known = shipped.recipes()
    for path in sorted(shipped.CHECKPOINT_DIR.glob("*.json")):
        assert path.stem in known, f"{path.name} is shipped without a recipe to retrain it"
        model = shipped.shipped_model(path.stem)
        assert model.params, path.stem


def test_make_passes_retrain_only_to_figures_that_take_it(monkeypatch):
    calls = []

    def plain(*, quick=False):
        calls.append(("plain", quick))
        return "fig"

    def trained(*, quick=False, retrain=False):
        calls.append(("trained", quick, retrain))
        return "fig"

    from aievo.figures import FigureSpec

    monkeypatch.setitem(REGISTRY, "_plain", FigureSpec("_plain", "test", "x:y", "plain"))
    monkeypatch.setitem(REGISTRY, "_trained", FigureSpec("_trained", "test", "x:z", "trained"))
    monkeypatch.setattr(FigureSpec, "function", lambda self: plain if self.name == "_plain" else trained)
    assert not accepts_retrain("_plain") and accepts_retrain("_trained")
    make("_plain", quick=True, retrain=True)
    make("_trained", quick=True, retrain=True)
    assert calls == [("plain", True), ("trained", True, True)]
