"""simulate() against a plain-numpy reference, closed forms and worked numbers, docs/explanation/results.md."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo.errors import InvalidParameterError, ShapeError


def reference(g, generations, x0=None, Z=None):
    """Plain dense numpy iteration of docs/explanation/model.md (the oracle)."""
    T = g.T.toarray()
    f = g.fitness
    x = np.zeros(g.n)
    if x0 is None:
        x[g.root] = 1.0
    else:
        x = np.asarray(x0, float).copy()
    F, logN, zs, xs = [], [0.0], [], [x]
    for t in range(generations + 1):
        Ft = x @ f
        F.append(Ft)
        if Z is not None:
            zs.append(Z @ x)
        if t == generations:
            break
        logN.append(logN[-1] + np.log(Ft))
        x = (x * f) @ T / Ft
        xs.append(x)
    return np.array(F), np.array(logN), np.array(zs).T, np.array(xs)


def random_graph(seed, n, density=0.3, self_loops=True):
    rng = np.random.default_rng(seed)
    A = rng.random((n, n)) * (rng.random((n, n)) < density)
    if self_loops:
        A[np.arange(n), np.arange(n)] += 0.05
    A[A.sum(axis=1) == 0, 0] = 1.0
    A /= A.sum(axis=1, keepdims=True)
    return ae.DesignGraph.from_matrix(rng.uniform(0.1, 3.0, n), A)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 25), G=st.integers(0, 40))
def test_matches_numpy_reference_on_random_graphs(seed, n, G):
    g = random_graph(seed, n)
    z = np.random.default_rng(seed + 1).normal(size=(2, n))
    tr = ae.simulate(g, G, traits={"a": z[0], "b": z[1]}, record_shares=range(G + 1))
    F, logN, zs, xs = reference(g, G, Z=z)
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
    np.testing.assert_allclose(tr.log_growth, logN, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tr.trait_means["a"], zs[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tr.trait_means["b"], zs[1], rtol=1e-10, atol=1e-12)
    for t in range(G + 1):
        np.testing.assert_allclose(tr.shares_at(t), xs[t], rtol=1e-11, atol=1e-15)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 200), G=st.integers(1, 30))
def test_shares_stay_a_distribution(seed, n, G):
    g = ae.random_tree(n, rng=seed, self_prob=0.2)
    tr = ae.simulate(g, G, record_shares=range(0, G + 1, 3))
    for t in list(tr.times) + [G]:
        x = tr.shares_at(int(t))
        assert (x >= 0).all()
        assert abs(x.sum() - 1.0) < 1e-12


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 300), G=st.integers(1, 25))
def test_frontier_and_full_sweep_agree(seed, n, G):
    g = ae.random_tree(n, rng=seed)
    sets = {"top": g.fitness > 1.0}
    frontier = ae.simulate(g, G, sets=sets, method="frontier")
    full = ae.simulate(g, G, sets=sets, method="full")
    np.testing.assert_allclose(frontier.mean_fitness, full.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(frontier.shares, full.shares, rtol=1e-11, atol=1e-300)
    np.testing.assert_allclose(frontier.set_shares["top"], full.set_shares["top"], rtol=1e-11, atol=1e-15)


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 60))
def test_path_product_formula_on_trees(seed, n):
    """On a tree without self-loops n_t(w) = prod f(v_k) T(v_k, v_k+1) along the root path."""
    g = ae.random_tree(n, rng=seed)
    depth = g.attrs["depth"]
    parent = g.parent
    internal = np.bincount(parent[1:], minlength=n) > 0
    T = g.T.toarray()
    G = int(depth.max())
    tr = ae.simulate(g, G, record_shares=range(G + 1))
    for t in range(G + 1):
        # abundance on depth-t programs, from the path product
        nt = np.zeros(n)
        for w in np.flatnonzero(depth == t):
            prod, v = 1.0, w
            while parent[v] >= 0:
                prod *= g.fitness[parent[v]] * T[parent[v], v]
                v = parent[v]
            nt[w] = prod
        # programs above depth t that are leaves keep (self-loop) mass; compare the rest
        on_level = depth == t
        x = tr.shares_at(t)
        N_t = np.exp(tr.log_growth[t])
        np.testing.assert_allclose(x[on_level] * N_t, nt[on_level], rtol=1e-10, atol=1e-300)
        assert not np.any(x[(depth > t)] > 0)
        assert np.all(x[(depth < t) & internal] == 0)


def test_explicit_sparse_and_dense_give_identical_trajectories():
    g = ae.random_tree(40, rng=11, self_prob=0.3)
    dense = ae.DesignGraph.from_matrix(g.fitness, g.T.toarray())
    sparse = ae.DesignGraph.from_matrix(g.fitness, g.T)
    runs = [ae.simulate(h, 60, traits={"f": g.fitness}) for h in (g, dense, sparse)]
    # the tree runs the gather kernel, the matrices the scatter kernel: equal to rounding
    for r in runs[1:]:
        np.testing.assert_allclose(r.mean_fitness, runs[0].mean_fitness, rtol=1e-13)
        np.testing.assert_allclose(r.trait_means["f"], runs[0].trait_means["f"], rtol=1e-13)
        np.testing.assert_allclose(r.shares, runs[0].shares, rtol=1e-11, atol=1e-300)
    np.testing.assert_array_equal(runs[1].shares, runs[2].shares)


@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 150),
    G=st.integers(1, 30),
    eta=st.floats(0.05, 0.95),
    kind=st.sampled_from(["plain", "locked", "preserved", "self"]),
)
def test_tree_and_general_kernels_agree(seed, n, G, eta, kind):
    g = ae.random_tree(n, rng=seed, self_prob=0.3 if kind == "self" else 0.0)
    if kind == "locked":
        g = ae.with_locking(g, eta)
    elif kind == "preserved":
        g = ae.with_preservation(g, eta)
    general = ae.DesignGraph.from_matrix(g.fitness, g.T)
    z = {"depth": g.attrs["depth"]}
    runs = [ae.simulate(g, G, traits=z, method=m, record_shares=[G // 2]) for m in ("frontier", "full")]
    runs += [ae.simulate(general, G, traits=z, method=m, record_shares=[G // 2]) for m in ("frontier", "full")]
    for r in runs[1:]:
        np.testing.assert_allclose(r.mean_fitness, runs[0].mean_fitness, rtol=1e-12)
        np.testing.assert_allclose(r.log_growth, runs[0].log_growth, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(r.trait_means["depth"], runs[0].trait_means["depth"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r.shares_at(G // 2), runs[0].shares_at(G // 2), rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(r.shares, runs[0].shares, rtol=1e-10, atol=1e-300)


def test_fisher_theorem_with_identity_kernel():
    """With T = I: F_{t+1} - F_t = Var_x(f) / F_t, and x_t(v) = x_0(v) f(v)^t / sum(...)."""
    f = np.array([0.5, 1.0, 1.7, 2.2, 0.1])
    x0 = np.array([0.3, 0.25, 0.2, 0.05, 0.2])
    g = ae.DesignGraph.from_matrix(f, np.eye(5))
    tr = ae.simulate(g, 30, initial=x0, record_shares=range(31))
    for t in range(30):
        x = tr.shares_at(t)
        F = x @ f
        var = x @ (f - F) ** 2
        assert tr.mean_fitness[t + 1] - tr.mean_fitness[t] == pytest.approx(var / F, rel=1e-10)
    closed = x0 * f**30 / (x0 * f**30).sum()
    np.testing.assert_allclose(tr.shares, closed, rtol=1e-12)


def test_million_generations_of_locked_chain():
    """log N_t / t -> log F* without overflow; F_t -> F* (docs/explanation/model.md)."""
    f = 1.0 + 2.0 ** -np.arange(41)
    g = ae.with_locking(ae.chain(f), 0.3)
    tr = ae.simulate(g, 1_000_000)
    assert np.isfinite(tr.log_growth).all()
    assert tr.mean_fitness[-1] == pytest.approx(2.0, rel=1e-12)
    assert tr.log_growth[-1] / 1e6 == pytest.approx(np.log(2.0), rel=1e-5)
    assert abs(tr.shares.sum() - 1) < 1e-12


@pytest.mark.parametrize("eta", [0.1, 0.3, 0.6])
def test_model_worked_numbers_locking(eta):
    f = 1.0 + 2.0 ** -np.arange(41)
    g = ae.with_locking(ae.chain(f), eta)
    tr = ae.simulate(g, 200, sets={"near": g.fitness >= 1.95})
    assert tr.mean_fitness[-1] == pytest.approx(2.0, abs=1e-12)
    assert tr.set_shares["near"][-1] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("eta, F200", [(0.1, 1.0), (0.3, 1.0), (0.6, 1.2)])
def test_model_worked_numbers_preservation(eta, F200):
    f = 1.0 + 2.0 ** -np.arange(41)
    tr = ae.simulate(ae.with_preservation(ae.chain(f), eta), 200)
    assert tr.mean_fitness[-1] == pytest.approx(F200, abs=1e-9)


@pytest.mark.parametrize("method", ["frontier", "full"])
@pytest.mark.parametrize("as_tree", [True, False])
def test_extinction_is_reported(method, as_tree):
    g = ae.DesignGraph.tree([-1, 0], [2.0, 0.0], [0, 1.0])
    if not as_tree:
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    tr = ae.simulate(g, 5, method=method)
    assert tr.extinct_at == 1
    np.testing.assert_array_equal(tr.shares, [0.0, 1.0])
    # defined after extinction, never NaN: F_t = 0 from extinct_at on, log N_t = -inf after it
    assert tr.mean_fitness.tolist() == [2.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert tr.log_growth[1] == pytest.approx(np.log(2)) and np.isneginf(tr.log_growth[2:]).all()


def test_traits_by_attribute_name_and_sets_by_index():
    g = ae.binary_pm_tree(4)
    tr = ae.simulate(g, 4, traits=["depth"], sets={"ray": np.flatnonzero(g.attrs["plus"])})
    np.testing.assert_allclose(tr.trait_means["depth"], np.arange(5))
    _, _, zs, _ = reference(g, 4, Z=g.attrs["plus"][None, :].astype(float))
    np.testing.assert_allclose(tr.set_shares["ray"], zs[0], rtol=1e-13)
    assert tr.set_shares["ray"][-1] > 0.5**4  # selection favours the + ray


def test_bad_arguments():
    g = ae.chain([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="generations=-1"):
        ae.simulate(g, -1)
    with pytest.raises(InvalidParameterError, match="generations=2.5"):
        ae.simulate(g, 2.5)
    with pytest.raises(ShapeError, match=r"initial has shape \(3,\)"):
        ae.simulate(g, 2, initial=[1, 0, 0])
    with pytest.raises(InvalidParameterError, match=r"initial.sum\(\)=2\.0"):
        ae.simulate(g, 2, initial=[1.0, 1.0])
    with pytest.raises(InvalidParameterError, match=r"initial\[1\]=-0\.5"):
        ae.simulate(g, 2, initial=[1.5, -0.5])
    with pytest.raises(InvalidParameterError, match="record_shares=5"):
        ae.simulate(g, 2, record_shares=[5])
    with pytest.raises(ShapeError, match=r"traits\['z'\] has shape \(3,\)"):
        ae.simulate(g, 2, traits={"z": [1, 2, 3]})
    with pytest.raises(InvalidParameterError, match=r"traits\['c'\]='c'"):
        ae.simulate(g, 2, traits=["c"])
    with pytest.raises(InvalidParameterError, match="population=0"):
        ae.simulate(g, 2, population=0)
    tr = ae.simulate(g, 3)
    with pytest.raises(InvalidParameterError, match="t=1 is invalid: expected a recorded time"):
        tr.shares_at(1)


def test_plot_draws_mean_fitness():
    import matplotlib

    matplotlib.use("Agg")
    tr = ae.simulate(ae.with_locking(ae.chain([1.0, 2.0, 0.5]), 0.2), 20)
    ax = tr.plot()
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), tr.mean_fitness)
    ax2 = tr.plot(what="growth_rate")
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), tr.log_growth[1:] / np.arange(1, 21))
    with pytest.raises(InvalidParameterError, match="what='trait:x'"):
        tr.plot(what="trait:x")


def test_parallel_gather_on_a_large_tree_matches_the_scatter_kernel():
    """Trees above PARALLEL_MIN programs are gathered in chunks on all cores."""
    from aievo._kernels import PARALLEL_MIN

    n = PARALLEL_MIN + 54_321
    rng = np.random.default_rng(4)
    parent = np.concatenate([[-1], (np.arange(1, n) - 1) // 3])
    g = ae.with_preservation(ae.DesignGraph.tree(parent, rng.uniform(0.5, 1.5, n)), 0.2)
    general = ae.DesignGraph.from_matrix(g.fitness, g.T)
    G = 15
    runs = [ae.simulate(g, G, method=m) for m in ("full", "frontier")]
    ref = ae.simulate(general, G, method="full")
    for r in runs:
        np.testing.assert_allclose(r.mean_fitness, ref.mean_fitness, rtol=1e-12)
        np.testing.assert_allclose(r.shares, ref.shares, rtol=1e-9, atol=1e-300)
