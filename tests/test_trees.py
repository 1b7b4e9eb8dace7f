"""Generators: structure against hand-computed expectations; type graphs against their unfolding."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo.errors import InvalidParameterError, ShapeError


def test_chain_structure():
    g = ae.chain([3.0, 2.0, 1.0])
    np.testing.assert_array_equal(g.T.toarray(), [[0, 1, 0], [0, 0, 1], [0, 0, 1]])
    assert g.attrs["depth"].tolist() == [0, 1, 2]


def test_kary_tree_sizes_and_rule():
    g = ae.kary_tree(3, 2, lambda pf, j, d: pf + j * 10.0**-d, root_fitness=1.0)
    assert g.n == 13
    # children of node 1 (fitness 1.0 at depth 1) are 4, 5, 6 with fitness 1 + j/100
    np.testing.assert_allclose(g.fitness[4:7], 1.0 + np.arange(3) / 100)
    np.testing.assert_allclose(g.T.toarray()[0, 1:4], 1 / 3)
    assert g.parent[4:7].tolist() == [1, 1, 1]


def test_binary_pm_tree_matches_model_definition():
    g = ae.binary_pm_tree(6)
    parent, f, d = g.parent, g.fitness, g.attrs["depth"]
    for i in range(1, g.n):
        k = d[parent[i]]
        step = 2.0 ** -(k + 1)
        assert f[i] - f[parent[i]] in (-step, step)
    assert f.max() == pytest.approx(2.0 - 2.0**-6)  # sup 2 not attained
    assert f[g.attrs["plus"]].tolist() == sorted(f[g.attrs["plus"]])
    assert np.all(f[g.attrs["plus"]] == [2.0 - 2.0**-k for k in range(7)])


def test_random_tree_reproducible_and_valid():
    a, b = ae.random_tree(100, rng=5), ae.random_tree(100, rng=5)
    np.testing.assert_array_equal(a.parent, b.parent)
    np.testing.assert_array_equal(a.fitness, b.fitness)
    assert np.all(a.parent[1:] < np.arange(1, 100))


def test_lattice_kernel():
    g = ae.lattice(4, [1, 2, 3, 4], 0.2)
    expected = np.array(
        [[0.9, 0.1, 0, 0], [0.1, 0.8, 0.1, 0], [0, 0.1, 0.8, 0.1], [0, 0, 0.1, 0.9]]
    )
    np.testing.assert_allclose(g.T.toarray(), expected)
    assert g.root == 2
    with pytest.raises(InvalidParameterError, match="mutation_rate=1.5"):
        ae.lattice(4, np.ones(4), 1.5)


def test_generator_argument_errors():
    with pytest.raises(InvalidParameterError, match="k=0"):
        ae.kary_tree(0, 2, lambda pf, j, d: pf)
    with pytest.raises(ShapeError, match="fitness_rule returned shape"):
        ae.kary_tree(2, 2, lambda pf, j, d: pf[:1])
    with pytest.raises(InvalidParameterError, match="n=0"):
        ae.random_tree(0)


def _random_type_graph(seed, k):
    rng = np.random.default_rng(seed)
    A = rng.random((k, k)) * (rng.random((k, k)) < 0.6)
    A[A.sum(axis=1) == 0, rng.integers(0, k)] = 1.0
    A /= A.sum(axis=1, keepdims=True)
    return ae.type_graph(rng.uniform(0.2, 2.0, k), A)


@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 4), depth=st.integers(0, 6))
def test_type_graph_and_its_unfolding_agree_by_type(seed, k, depth):
    tg = _random_type_graph(seed, k)
    tree = ae.unfold(tg, depth)
    assert tree.is_tree
    a = ae.simulate(tg, depth, record_shares=range(depth + 1))
    b = ae.simulate(tree, depth, record_shares=range(depth + 1))
    typ = tree.attrs["type"]
    for t in range(depth + 1):
        by_type = np.bincount(typ, weights=b.shares_at(t), minlength=k)
        np.testing.assert_allclose(by_type, a.shares_at(t), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.mean_fitness, b.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(a.log_growth, b.log_growth, rtol=1e-12, atol=1e-12)


def test_unfold_size_guard():
    tg = ae.type_graph([1.0, 1.0], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(InvalidParameterError, match="max_nodes=100"):
        ae.unfold(tg, 10, max_nodes=100)


@pytest.mark.parametrize("k, depth, prob", [(2, 5, None), (3, 4, [0.2, 0.5, 0.3]), (1, 6, None), (4, 0, None)])
def test_kary_tree_equals_the_same_tree_built_from_its_parent_array(k, depth, prob):
    """The generator's own construction path (no re-validation) gives what DesignGraph.tree gives."""
    g = ae.kary_tree(k, depth, lambda pf, j, d: pf * 0.5 + j, root_fitness=2.0, prob=prob)
    n = (k ** (depth + 1) - 1) // (k - 1) if k > 1 else depth + 1
    parent = np.array([-1] + [(i - 1) // k for i in range(1, n)])
    p = np.full(k, 1.0 / k) if prob is None else np.asarray(prob)
    ref = ae.DesignGraph.tree(parent, g.fitness, np.r_[0.0, p[(np.arange(1, n) - 1) % k]])
    np.testing.assert_array_equal(g.parent, parent)
    np.testing.assert_array_equal(g.T.toarray(), ref.T.toarray())
    np.testing.assert_array_equal(g.depths(), ref.depths())
    np.testing.assert_array_equal(g.attrs["depth"], ref.depths())
    assert g.root == 0 and g.T.indices.dtype == np.int64 and not g.T.data.flags.writeable
    tr, tr_ref = ae.simulate(g, depth + 2), ae.simulate(ref, depth + 2)
    np.testing.assert_array_equal(tr.mean_fitness, tr_ref.mean_fitness)


def test_kary_tree_refuses_child_probabilities_not_summing_to_one():
    from aievo.errors import InvalidKernelError

    with pytest.raises(InvalidKernelError, match=r"prob.sum\(\)"):
        ae.kary_tree(2, 3, lambda pf, j, d: pf, prob=[0.5, 0.4])
    with pytest.raises(InvalidKernelError, match="prob"):
        ae.kary_tree(2, 3, lambda pf, j, d: pf, prob=[1.5, -0.5])
    with pytest.raises(ae.InvalidFitnessError):
        ae.kary_tree(2, 2, lambda pf, j, d: pf - 10.0)
