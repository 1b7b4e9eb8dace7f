"""Ancestry, the dominant lineage and Muller plots (aievo.ancestry).

Oracles: labelled abundances by plain matrix products (n_t = n_s M^(t-s) split
by the row of the ancestor); a tree's clades by explicit descendant sets.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import aievo as ae
from aievo.ancestry import clade_shares, muller
from aievo.errors import InvalidParameterError
from aievo.state import hawk_dove


def test_ancestry_matches_matrix_powers():
    g = ae.with_preservation(ae.binary_pm_tree(4), 0.4)
    G, s = 12, 3
    M = np.diag(g.fitness) @ g.T.toarray()
    x = np.zeros(g.n)
    x[g.root] = 1
    for _ in range(s):
        x = x @ M / (x @ M).sum()
    anc = ae.ancestry(g, G, since=s)
    assert anc.labels.tolist() == np.flatnonzero(x > 0).tolist()
    Ms = np.linalg.matrix_power(M, G - s)
    contrib = np.array([(x[a] * Ms[a]).sum() for a in anc.labels])
    np.testing.assert_allclose(anc.shares[-1], contrib / contrib.sum(), rtol=1e-10)
    np.testing.assert_allclose(anc.shares.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(anc.final.sum(axis=0), ae.simulate(g, G).shares, rtol=1e-9, atol=1e-15)
    assert anc.of(anc.labels[0]).shape == (G - s + 1,)
    with pytest.raises(InvalidParameterError, match="label"):
        anc.of(-5)


def test_ancestry_by_groups_and_with_payoff():
    g, A = hawk_dove(2.0, 5.0)
    anc = ae.ancestry(g, 200, since=0, initial=[0.9, 0.1], payoff=A, groups=[7, 3])
    assert anc.labels.tolist() == [3, 7]
    # no design change: descendants of the hawks are the hawks
    assert abs(anc.of(7)[-1] - 0.4) < 1e-9


def test_dominant_lineage_on_a_tree_walks_up_the_parent_chain():
    g = ae.with_preservation(ae.chain([1.0, 1.5, 2.0]), 0.5)
    lin = ae.dominant_lineage(g, 30)
    assert lin.programs[-1] == np.argmax(ae.simulate(g, 30).shares)
    assert [v for _, v in lin.steps] == [0, 1, 2]
    g = ae.with_preservation(ae.binary_pm_tree(5), 0.5)
    lin = ae.dominant_lineage(g, 40)
    # consecutive distinct programs are designer and design
    for (_, a), (_, b) in zip(lin.steps, lin.steps[1:]):
        assert g.parent[b] == a
    np.testing.assert_array_equal(lin.fitness, g.fitness[lin.programs])


def test_clade_shares_by_descendant_sets():
    g = ae.random_tree(25, 4)
    x = np.random.default_rng(1).dirichlet(np.ones(g.n), size=3)
    C = clade_shares(g.parent, x)
    for v in range(g.n):
        desc = {v}
        changed = True
        while changed:
            new = {w for w in range(g.n) if g.parent[w] in desc} - desc
            changed = bool(new)
            desc |= new
        np.testing.assert_allclose(C[:, v], x[:, sorted(desc)].sum(axis=1), rtol=1e-12)


def test_muller_bands_nest_and_fill_the_unit_interval():
    g = ae.with_preservation(ae.binary_pm_tree(4), 0.7)
    G = 30
    tr = ae.simulate(g, G, record_shares=list(range(G + 1)))
    ax = tr.muller(graph=g, threshold=0.0)
    C = clade_shares(g.parent, tr.snapshots)
    bands = {}
    for coll in ax.collections:
        gid = coll.get_gid()
        if gid and gid.startswith("muller:"):
            path = coll.get_paths()[0].vertices
            bands[int(gid[7:])] = path
    assert set(bands) == set(range(g.n))
    for v, verts in bands.items():
        # fill_between's polygon: lower edge then upper edge; heights are the clade shares
        k = G + 1
        lo = verts[1:k + 1, 1]
        hi = verts[k + 2:2 * k + 2, 1][::-1]
        np.testing.assert_allclose(hi - lo, C[:, v], atol=1e-12)
        p = g.parent[v]
        if p >= 0:  # nested inside the designer's band
            plo = bands[p][1:k + 1, 1]
            phi = bands[p][k + 2:2 * k + 2, 1][::-1]
            assert np.all(lo >= plo - 1e-12) and np.all(hi <= phi + 1e-12)
    matplotlib.pyplot.close("all")


def test_muller_errors():
    g = ae.chain([1.0, 2.0])
    tr = ae.simulate(g, 5)
    with pytest.raises(InvalidParameterError, match="record_shares"):
        tr.muller()
    tr = ae.simulate(g, 5, record_shares=[0, 1])
    with pytest.raises(InvalidParameterError, match="graph"):
        tr.muller(graph=ae.chain([1.0, 2.0, 3.0]))
    lat = ae.lattice(4, [1.0, 2.0, 1.0, 1.0], 0.1)
    tl = ae.simulate(lat, 5, record_shares=[0, 1])
    with pytest.raises(InvalidParameterError, match="tree"):
        tl.muller(graph=lat)
    ax = tl.muller(threshold=0.3)  # stacked, no nesting; small programs share a grey band
    gids = {c.get_gid() for c in ax.collections}
    assert "muller:other" in gids and "muller:2" in gids and "muller:0" not in gids
    top = max(c.get_paths()[0].vertices[:, 1].max() for c in ax.collections if c.get_gid() == "muller:other")
    assert abs(top - 1.0) < 1e-12  # the stack fills [0, 1]
    with pytest.raises(Exception, match="shares"):
        muller(np.arange(3), np.ones((2, 2)))
    matplotlib.pyplot.close("all")
