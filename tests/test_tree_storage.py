"""How a tree is stored: int32 indices, the probabilities on its edges, a CSR kernel built on demand.

Every generator is checked against an independent plain-numpy (or networkx)
construction of the same tree: the reference implementations below are the
straightforward array formulas, written without the numba kernels, so any
difference in parent, fitness, kernel, depths, attributes or in what the
engine gathers from the tree is a bug. Equalities are exact: the same
floating-point operations in the same order give the same bits.
"""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aievo as ae
import aievo._tree_kernels as kernels
import aievo.trees as trees_mod
from aievo.graph import index_dtype
from aievo.testing import strategies


# ---------------------------------------------------------------------------- plain-numpy references
def _csr_of_tree(parent, prob, diag):
    """The dense kernel of a tree from its arrays (plain numpy)."""
    n = parent.size
    T = np.zeros((n, n))
    child = np.flatnonzero(parent >= 0)
    T[parent[child], child] = prob[child]
    T[np.arange(n), np.arange(n)] += diag
    return T


def _random_tree_reference(n, seed, self_prob):
    """random_tree as its docstring defines it, in plain numpy with one draw per array."""
    gen = np.random.default_rng(seed)
    parent = np.full(n, -1, dtype=np.int64)
    if n > 1:
        parent[1:] = np.floor(gen.random(n - 1) * np.arange(1, n)).astype(np.int64)
    f = gen.uniform(0.0, 2.0, n)
    w = gen.exponential(size=n)
    w[0] = 0.0
    totals = np.bincount(parent[1:], weights=w[1:], minlength=n)
    prob = np.zeros(n)
    prob[1:] = w[1:] / totals[parent[1:]] * (1.0 - self_prob)
    has_children = np.bincount(parent[1:], minlength=n) > 0
    return parent, f, prob, np.where(has_children, self_prob, 1.0)


def _unfold_reference(g, depth):
    """unfold level by level with np.repeat (plain numpy): parent, type, depth, probability."""
    T = g.T
    types, parents, probs, offset = [np.array([g.root])], [np.array([-1])], [np.array([0.0])], 0
    for _ in range(depth):
        level = types[-1]
        counts = np.diff(T.indptr)[level]
        e = np.repeat(T.indptr[level], counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        parents.append(offset + np.repeat(np.arange(level.size), counts))
        types.append(T.indices[e])
        probs.append(T.data[e])
        offset += level.size
    d = np.concatenate([np.full(a.size, i) for i, a in enumerate(types)])
    return np.concatenate(parents), np.concatenate(types), d, np.concatenate(probs)


def _gather_reference(g, fs):
    """What the engine gathers from a tree, computed from its CSR kernel (plain numpy)."""
    T = g.T
    rows = np.repeat(np.arange(g.n), np.diff(T.indptr))
    cols = T.indices
    loop = rows == cols
    c, d = np.zeros(g.n), np.zeros(g.n)
    c[cols[~loop]] = fs[rows[~loop]] * T.data[~loop]
    d[cols[loop]] = fs[rows[loop]] * T.data[loop]
    self_loop = np.zeros(g.n, dtype=bool)
    self_loop[cols[loop]] = True
    prod = fs[rows] * T.data
    real = (fs[rows] != 0.0) & (T.data != 0.0)
    par = np.where(g.parent < 0, np.arange(g.n), g.parent)
    return par, c, d, self_loop, bool(not real.any() or prod[real].min() >= 2.0**-100)


def _depths_networkx(parent):
    G = nx.DiGraph()
    G.add_nodes_from(range(parent.size))
    G.add_edges_from((int(p), i) for i, p in enumerate(parent) if p >= 0)
    lengths = nx.single_source_shortest_path_length(G, int(np.flatnonzero(parent < 0)[0]))
    return np.array([lengths[i] for i in range(parent.size)])


def _assert_same_tree(g, parent, fitness, T_dense):
    assert g.parent.dtype == index_dtype(g.n) == np.int32 and not g.parent.flags.writeable
    np.testing.assert_array_equal(g.parent, parent)
    np.testing.assert_array_equal(g.fitness, fitness)
    np.testing.assert_array_equal(g.T.toarray(), T_dense)
    assert g.nnz == np.count_nonzero(T_dense) == g.T.nnz
    np.testing.assert_array_equal(g.depths(), _depths_networkx(np.asarray(parent)))


# ---------------------------------------------------------------------------- generators vs references
@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1), self_prob=st.sampled_from([0.0, 0.25]),
       chunk=st.sampled_from([1, 7, 1 << 16]))
def test_random_tree_equals_the_plain_numpy_construction(n, seed, self_prob, chunk):
    """Parents drawn a chunk at a time are the draws of one call (any chunk size)."""
    old = trees_mod._DRAW_CHUNK
    trees_mod._DRAW_CHUNK = chunk
    try:
        g = ae.random_tree(n, seed, self_prob=self_prob)
    finally:
        trees_mod._DRAW_CHUNK = old
    parent, f, prob, diag = _random_tree_reference(n, seed, self_prob)
    _assert_same_tree(g, parent, f, _csr_of_tree(parent, prob, diag))
    np.testing.assert_array_equal(g.attrs["depth"], g.depths())


@settings(deadline=None, max_examples=25)
@given(g=strategies.type_graphs(max_types=5), depth=st.integers(0, 5))
def test_unfold_equals_the_plain_numpy_construction(g, depth):
    tree = ae.unfold(g, depth)
    parent, typ, d, prob = _unfold_reference(g, depth)
    leaf = np.bincount(parent[1:], minlength=parent.size) == 0
    _assert_same_tree(tree, parent, g.fitness[typ], _csr_of_tree(parent, prob, leaf.astype(float)))
    np.testing.assert_array_equal(tree.attrs["type"], typ)
    np.testing.assert_array_equal(tree.attrs["depth"], d)


@pytest.mark.parametrize("depth", [0, 1, 5, 9])
def test_binary_pm_tree_equals_the_generic_kary_tree_with_its_rule(depth):
    g = ae.binary_pm_tree(depth, root_fitness=1.5)
    ref = ae.kary_tree(2, depth, lambda pf, j, d: pf + np.where(j == 1, 1.0, -1.0) * 2.0 ** (-d), root_fitness=1.5)
    n = ref.n
    parent = np.r_[-1, (np.arange(1, n) - 1) // 2]
    _assert_same_tree(g, parent, ref.fitness, ref.T.toarray())
    for key in ("depth", "child_index"):
        np.testing.assert_array_equal(g.attrs[key], ref.attrs[key])
    assert np.flatnonzero(g.attrs["plus"]).tolist() == [2 ** (k + 1) - 2 for k in range(depth + 1)]


def test_chain_equals_the_tree_of_its_parent_array():
    f = 1.0 + 1.0 / np.arange(1, 40)
    g = ae.chain(f)
    ref = ae.DesignGraph.tree(np.arange(-1, f.size - 1), f, np.ones(f.size))
    _assert_same_tree(g, np.arange(-1, f.size - 1), f, ref.T.toarray())
    np.testing.assert_array_equal(g.attrs["depth"], np.arange(f.size))


@settings(deadline=None, max_examples=30)
@given(g=strategies.design_trees(max_nodes=25, self_loops=True))
def test_a_tree_built_from_its_parent_array_equals_one_built_from_its_kernel(g):
    """DesignGraph.tree (kernel built on demand) and DesignGraph(fitness, T, parent=) agree on everything."""
    h = ae.DesignGraph(g.fitness, g.T.toarray(), root=g.root, parent=g.parent)
    assert g.parent.dtype == h.parent.dtype == np.int32
    np.testing.assert_array_equal(h.parent, g.parent)
    np.testing.assert_array_equal(h.depths(), g.depths())
    np.testing.assert_array_equal(h.T.toarray(), g.T.toarray())
    assert h.nnz == g.nnz == g.T.nnz
    fs = g.fitness / 4.0
    for numpy_max in (kernels.NUMPY_MAX, 0):  # small trees take numpy, large ones the kernels: same bits
        old, kernels.NUMPY_MAX = kernels.NUMPY_MAX, numpy_max
        try:
            for graph in (g, h):
                for got, want in zip(graph._tree_gather(fs, 2.0**-100), _gather_reference(graph, fs)):
                    np.testing.assert_array_equal(got, want)
                indptr, indices, data = kernels.tree_csr(graph.parent, graph._prob, graph._diag)
                np.testing.assert_array_equal(indptr, graph.T.indptr)
                np.testing.assert_array_equal(indices, graph.T.indices)
                np.testing.assert_array_equal(data, graph.T.data)
        finally:
            kernels.NUMPY_MAX = old
    for x, y in zip(ae.simulate(g, 6).shares, ae.simulate(h, 6).shares):
        assert x == y


@pytest.mark.parametrize("numpy_max", [1 << 14, 0])
@pytest.mark.parametrize("p, fast", [(1e-40, False), (1e-20, True)])
def test_the_gather_refuses_the_fast_path_below_its_threshold(p, fast, numpy_max, monkeypatch):
    """A product fitness x probability below 2**-100 sends the run to the exact kernels."""
    monkeypatch.setattr(kernels, "NUMPY_MAX", numpy_max)
    g = ae.DesignGraph.tree([-1, 0, 0], [1.0, 1.0, 1.0], [0.0, p, 1.0 - p])
    assert g._tree_gather(g.fitness, 2.0**-100)[-1] is fast
    assert _gather_reference(g, g.fitness)[-1] is fast


# ---------------------------------------------------------------------------- storage
def test_building_and_simulating_a_tree_never_builds_its_csr_kernel():
    g = ae.binary_pm_tree(8)
    tr = ae.simulate(g, 10)
    assert g._kernel[0] is None  # neither construction nor the tree engine needed it
    assert g.summary()["edges"] == g.nnz == (g.n - 1) + 2**8  # n - 1 designs and a self-loop on each leaf
    h = g.with_fitness(g.fitness * 2.0)
    assert h.T is g.T  # built once, shared by the graphs derived from the tree
    assert g._kernel[0] is not None and tr.shares.shape == (g.n,)


@pytest.mark.parametrize("make, limit", [
    (lambda: ae.binary_pm_tree(12), 30.0),  # parent, depth, child index (4 each), fitness, prob (8), plus (1)
    (lambda: ae.kary_tree(3, 7, lambda pf, j, d: pf), 28.0),
    (lambda: ae.random_tree(5000, 1), 24.0),  # parent, depth (4 each), fitness, prob (8)
    (lambda: ae.random_tree(5000, 1, self_prob=0.2), 32.0),  # and the self-loops (8)
    (lambda: ae.chain(np.linspace(1.0, 2.0, 5000)), 24.0),
])
def test_a_built_tree_holds_at_most_its_arrays(make, limit):
    """Bytes per program of everything a freshly built tree holds (the issue's target is 48 at peak)."""
    g = make()
    held = {id(a): a.nbytes for a in (g.fitness, g.parent, g._prob, g._diag, *g.attrs.values(), g.depths())}
    assert sum(held.values()) / g.n <= limit + 1e-9
    assert g._kernel[0] is None
