"""DesignGraph construction, validation messages and networkx interop."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo.errors import (
    AievoError,
    InvalidFitnessError,
    InvalidKernelError,
    InvalidParameterError,
    InvalidTreeError,
    ShapeError,
)
from aievo.testing import strategies


def test_tree_builds_expected_kernel():
    g = ae.DesignGraph.tree([-1, 0, 0, 1], [1.0, 2.0, 0.5, 3.0], [0.0, 0.3, 0.7, 1.0])
    expected = np.array(
        [[0, 0.3, 0.7, 0], [0, 0, 0, 1.0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]
    )
    np.testing.assert_array_equal(g.T.toarray(), expected)
    assert g.root == 0 and g.n == 4 and g.is_tree
    assert g.parent.tolist() == [-1, 0, 0, 1]


def test_tree_default_prob_splits_equally_and_self_prob():
    g = ae.DesignGraph.tree([-1, 0, 0], [1, 1, 1], self_prob=[0.5, 1.0, 1.0])
    np.testing.assert_allclose(g.T.toarray()[0], [0.5, 0.25, 0.25])


def test_arrays_are_read_only():
    g = ae.chain([1.0, 2.0])
    with pytest.raises(ValueError):
        g.fitness[0] = 5.0
    with pytest.raises(ValueError):
        g.T.data[0] = 0.5


def test_dense_and_sparse_inputs_agree():
    rng = np.random.default_rng(0)
    A = rng.random((6, 6)) * (rng.random((6, 6)) < 0.5)
    A[np.arange(6), np.arange(6)] += 0.1
    A /= A.sum(axis=1, keepdims=True)
    f = rng.random(6)
    g1 = ae.DesignGraph.from_matrix(f, A)
    g2 = ae.DesignGraph.from_matrix(f, sp.csr_matrix(A))
    g3 = ae.DesignGraph.from_matrix(f, sp.coo_array(A))
    for g in (g2, g3):
        np.testing.assert_array_equal(g.T.toarray(), g1.T.toarray())


@pytest.mark.parametrize(
    "fitness, message",
    [
        ([1.0, -0.5], r"fitness\[1\]=-0\.5 .*finite number >= 0"),
        ([1.0, np.nan], r"fitness\[1\]=nan"),
        ([np.inf, 1.0], r"fitness\[0\]=inf"),
    ],
)
def test_bad_fitness_named(fitness, message):
    with pytest.raises(InvalidFitnessError, match=message):
        ae.DesignGraph.from_matrix(fitness, np.eye(2))


def test_negative_and_nan_probabilities():
    with pytest.raises(InvalidKernelError, match=r"T\[0, 1\]=-0\.5"):
        ae.DesignGraph.from_matrix([1, 1], [[1.5, -0.5], [0, 1]])
    with pytest.raises(InvalidKernelError, match=r"T\[1, 0\]=nan"):
        ae.DesignGraph.from_matrix([1, 1], [[1, 0], [np.nan, 1]])


def test_row_sum_reports_worst_row():
    T = np.array([[1.0, 0, 0], [0.5, 0.4, 0], [0, 0, 0.7]])
    with pytest.raises(InvalidKernelError, match=r"row 2 sums to 0\.7.*2 rows off") as info:
        ae.DesignGraph.from_matrix([1, 1, 1], T)
    assert isinstance(info.value, AievoError) and isinstance(info.value, ValueError)


def test_row_sum_tolerance_is_1e_9():
    ae.DesignGraph.from_matrix([1, 1], [[1 - 5e-10, 0], [0, 1]])
    with pytest.raises(InvalidKernelError):
        ae.DesignGraph.from_matrix([1, 1], [[1 - 5e-9, 0], [0, 1]])


def test_empty_row_is_refused():
    with pytest.raises(InvalidKernelError, match="row 1 sums to 0"):
        ae.DesignGraph.from_matrix([1, 1], sp.csr_array(np.array([[1.0, 0], [0, 0]])))


def test_shape_mismatches():
    with pytest.raises(ShapeError, match=r"expected \(3, 3\)"):
        ae.DesignGraph.from_matrix([1, 1, 1], np.eye(2))
    with pytest.raises(ShapeError, match="fitness has length 2"):
        ae.DesignGraph.tree([-1, 0, 0], [1, 1])
    with pytest.raises(ShapeError, match=r"prob has shape \(2,\)"):
        ae.DesignGraph.tree([-1, 0, 0], [1, 1, 1], [0, 1])


@pytest.mark.parametrize(
    "parent, message",
    [
        ([-1, 0, -1], r"2 roots .* at \[0, 2\]"),
        ([0, 0, 1], r"0 roots"),
        ([-1, 2, 1], r"cycle through node 1"),
        ([-1, 0, 7], r"parent\[2\]=7 is out of range"),
        ([-1, 1, 0], r"parent\[1\]=1: a program cannot be its own designer"),
    ],
)
def test_bad_parent_arrays(parent, message):
    with pytest.raises(InvalidTreeError, match=message):
        ae.DesignGraph.tree(parent, np.ones(len(parent)))


def test_tree_rows_must_sum_to_one():
    with pytest.raises(InvalidKernelError, match="row 0 sums to 0.9"):
        ae.DesignGraph.tree([-1, 0, 0], [1, 1, 1], [0, 0.5, 0.4])


def test_leaf_self_prob_must_be_one():
    with pytest.raises(InvalidKernelError, match=r"self_prob\[1\]=0\.5"):
        ae.DesignGraph.tree([-1, 0], [1, 1], [0, 1], self_prob=[0, 0.5])


@pytest.mark.parametrize("eta", [0.0, -0.1, 1.5, np.nan, "x"])
def test_eta_outside_unit_interval(eta):
    with pytest.raises(InvalidParameterError, match=r"eta=.* expected a number in \(0, 1\]"):
        ae.with_locking(ae.chain([1.0, 2.0]), eta)
    with pytest.raises(InvalidParameterError):
        ae.with_preservation(ae.chain([1.0, 2.0]), eta)


def test_networkx_round_trip():
    g = ae.random_tree(30, rng=3)
    G = g.to_networkx()
    assert G.number_of_nodes() == 30 and G.number_of_edges() == g.T.nnz
    h = ae.DesignGraph.from_networkx(G)
    np.testing.assert_array_equal(h.fitness, g.fitness)
    np.testing.assert_array_equal(h.T.toarray(), g.T.toarray())
    np.testing.assert_array_equal(h.attrs["depth"], g.attrs["depth"])
    assert h.root == g.root


def test_from_networkx_labels_and_errors():
    G = nx.DiGraph()
    G.add_node("a", fitness=1.0)
    G.add_node("b", fitness=2.0)
    G.add_edge("a", "b", p=1.0)
    G.add_edge("b", "b", p=1.0)
    g = ae.DesignGraph.from_networkx(G)
    assert g.labels == ["a", "b"] and g.root == 0
    G.add_node("c")
    with pytest.raises(InvalidFitnessError, match="node 'c' has no attribute 'fitness'"):
        ae.DesignGraph.from_networkx(G)
    G.nodes["c"]["fitness"] = 1.0
    G.add_edge("c", "a")
    with pytest.raises(InvalidKernelError, match=r"edge \('c', 'a'\) has no attribute 'p'"):
        ae.DesignGraph.from_networkx(G)


def test_reachable_and_F_star():
    # program 2 (fitness 9) is not reachable from the root
    T = np.array([[0.5, 0.5, 0], [0, 1, 0], [1, 0, 0]])
    g = ae.DesignGraph.from_matrix([1.0, 3.0, 9.0], T)
    assert g.reachable().tolist() == [True, True, False]
    assert g.F_star == 3.0


def test_mean_matrix():
    g = ae.DesignGraph.tree([-1, 0, 0], [2.0, 1.0, 1.0], [0, 0.25, 0.75])
    np.testing.assert_allclose(g.mean_matrix().toarray(), np.diag(g.fitness) @ g.T.toarray())


@given(st.one_of(strategies.design_trees(max_nodes=12, self_loops=True), strategies.type_graphs(max_types=6)))
def test_small_graph_repr_rebuilds_an_equal_graph(g):
    """What a failing property test prints is enough to rebuild its counterexample."""
    text = repr(g)
    h = eval(text.split("  #")[0], {"DesignGraph": ae.DesignGraph})
    np.testing.assert_array_equal(h.fitness, g.fitness)
    np.testing.assert_array_equal(h.T.toarray(), g.T.toarray())
    assert h.root == g.root and h.is_tree == g.is_tree
    if g.parent is not None:
        np.testing.assert_array_equal(h.parent, g.parent)


def test_large_graph_repr_is_short():
    g = ae.chain(np.linspace(1.0, 2.0, 500))
    assert len(repr(g)) < 200 and "n=500" in repr(g)


def test_with_fitness_and_with_attrs_validate_the_new_parts_and_share_the_kernel():
    g = ae.binary_pm_tree(3)
    h = g.with_fitness(np.arange(g.n, dtype=float))
    assert h.T is g.T and h.parent is g.parent and h.attrs["plus"] is g.attrs["plus"]
    np.testing.assert_array_equal(h.fitness, np.arange(g.n))
    assert not h.fitness.flags.writeable
    np.testing.assert_array_equal(h.depths(), g.depths())
    with pytest.raises(ae.InvalidFitnessError):
        g.with_fitness(-np.ones(g.n))
    with pytest.raises(ae.ShapeError):
        g.with_fitness(np.ones(g.n + 1))
    a = g.with_attrs(score=list(range(g.n)))
    np.testing.assert_array_equal(a.attrs["score"], np.arange(g.n))
    assert not a.attrs["score"].flags.writeable and a.attrs["depth"] is g.attrs["depth"]
    with pytest.raises(ae.ShapeError):
        g.with_attrs(score=[1, 2])
