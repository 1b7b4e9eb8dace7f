"""The figures beyond the theorem's assumptions: plotted data against independent computations."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from _figure_data import artists, line

import aievo as ae
from aievo.figures import REGISTRY, beyond
from aievo.fixation import race_graph


@pytest.fixture(scope="module")
def figs():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = getattr(beyond, name)(quick=True)
        return cache[name]

    return get


def test_registered_with_names():
    for name in ("concentration", "evaluator", "muller"):
        assert REGISTRY[name].group == "beyond"
        assert callable(REGISTRY[name].function())
    assert any("concentration" in n for n in REGISTRY) and any("muller" in n for n in REGISTRY)


def test_concentration_figure(figs):
    fig = figs("concentration_figure")
    for key, vals, fixed in (("eta", [0.02, 0.05, 0.2, 0.5], 0.5), ("gap", [0.05, 0.2, 0.5, 1.5], 0.1)):
        for v in vals:
            eta, gap = (v, fixed) if key == "eta" else (fixed, v)
            g = race_graph(eta, gap)
            det = ae.simulate(g, 60, sets={"top": g.fitness >= g.F_star}).set_shares["top"][-1]
            _, y = line(fig, f"det:{key}={v}")
            assert y[0] == float(det >= 0.9)
            _, p = line(fig, f"P:{key}={v}")
            assert np.all((p >= 0) & (p <= 1))
            # the largest population agrees with the deterministic limit
            assert abs(p[-1] - float(det >= 0.9)) < 0.05


def test_evaluator_figure_matches_break_even(figs):
    fig = figs("evaluator_figure")
    (mesh,) = artists(fig, "final_d")
    final = np.asarray(mesh.get_array()).reshape(7, 8)
    ss = np.geomspace(0.02, 3.0, 8)
    ks = np.linspace(0.0, 3.0, 7)
    D = beyond.EVALUATOR_D
    for i, k in enumerate(ks):
        for j, s in enumerate(ss):
            be = np.inf if k == 0 else np.log((1 + k) / k) / s
            pred = min(1.0, be / D)
            if k > 0 and (be < 0.8 * D or be > 1.5 * D):  # away from the boundary: converged
                assert abs(final[i, j] - pred) < 0.01, (k, s, final[i, j], pred)
            if k == 0:  # without a penalty deception is selected (neutral once p_t ~ 1)
                assert final[i, j] > 0.85
    _, d = line(fig, "d:case3")
    assert abs(d[-1] - np.log(2) / 0.5) < 1e-3
    _, p = line(fig, "p:case3")
    assert abs(p[-1] - 0.5) < 1e-3 and np.all((p >= 0) & (p <= 1))


def test_muller_figure(figs):
    fig = figs("muller_figure")
    g = beyond.muller_tree()
    tr = ae.simulate(g, 400, record_shares=list(range(401)))
    lin = ae.dominant_lineage(g, 400)
    _, y = line(fig, "lineage")
    np.testing.assert_allclose(y, tr.snapshots[np.arange(401), lin.programs], rtol=1e-9)
    assert lin.programs[-1] == np.argmax(tr.shares)
    # ancestry lines and "the rest" add up to the whole population
    total = sum(line(fig, gid)[1] for gid in [a.get_gid() for a in fig.findobj(
        lambda a: (a.get_gid() or "").startswith("anc:"))])
    np.testing.assert_allclose(total, 1.0, atol=1e-9)
    bands = fig.findobj(lambda a: (a.get_gid() or "").startswith("muller:"))
    assert len(bands) >= 3
