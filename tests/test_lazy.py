"""Tests of aievo.lazy: lazy expansion, lumping and certified pruning.

Oracles: the explicit-tree engine (``aievo.simulate`` on ``DesignGraph.tree`` /
``with_locking`` / ``with_preservation``, built here directly from arrays, not
through the lazy code), the type-graph engine for lumping, and closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import aievo as ae
import aievo.lazy as lz
from aievo.errors import InvalidFitnessError, InvalidKernelError, InvalidParameterError

# ----------------------------------------------------------------- rules used as test inputs


@njit(cache=True)
def explicit_rule(state, depth, params, cs, cf, cp, cb):
    """An explicit tree stored in params: [n, fitness(n), bound(n), prob(n), ptr(n+1), kids(n-1)]."""
    n = int(params[0])
    fit = params[1 : 1 + n]
    bound = params[1 + n : 1 + 2 * n]
    prob = params[1 + 2 * n : 1 + 3 * n]
    ptr = params[1 + 3 * n : 2 + 4 * n]
    kids = params[2 + 4 * n :]
    v = int(state[0])
    k = 0
    for e in range(int(ptr[v]), int(ptr[v + 1])):
        w = int(kids[e])
        cs[k, 0] = w
        cf[k] = fit[w]
        cp[k] = prob[w]
        if bound[w] >= 0.0:
            cb[k] = bound[w]
        k += 1
    return k


@njit(cache=True)
def type_rule(state, depth, params, cs, cf, cp, cb):
    """A type graph stored in params: [m, fitness(m), T (m*m, row major)]; state = [type]."""
    m = int(params[0])
    a = int(state[0])
    k = 0
    for b in range(m):
        p = params[1 + m + a * m + b]
        if p > 0.0:
            cs[k, 0] = b
            cf[k] = params[1 + b]
            cp[k] = p
            k += 1
    return k


@njit(cache=True)
def bad_rule(state, depth, params, cs, cf, cp, cb):
    """Misbehaves in the way params[0] selects."""
    mode = int(params[0])
    cs[0, 0] = 0.0
    cs[1, 0] = 0.0
    cf[0] = 1.0
    cf[1] = 1.0
    cp[0] = 0.5
    cp[1] = 0.5
    if mode == 1:
        cp[1] = 0.6  # probabilities sum to 1.1
    elif mode == 2:
        cf[1] = -1.0  # negative fitness
    elif mode == 3:
        cf[1] = 5.0  # above f_max (the pre-filled bound)
    elif mode == 4:
        return 3  # more children than max_children
    return 2


# ----------------------------------------------------------------- helpers


def random_tree_arrays(rng: np.random.Generator, n: int, tight_bounds: bool):
    """A random recursive tree: parent, fitness, prob (from parent), clade bounds."""
    parent = np.full(n, -1)
    for i in range(1, n):
        parent[i] = rng.integers(0, i)
    fit = rng.uniform(0.0, 2.0, n)
    w = rng.exponential(size=n)
    w[0] = 0.0
    tot = np.bincount(parent[1:], weights=w[1:], minlength=n)
    prob = np.zeros(n)
    prob[1:] = w[1:] / tot[parent[1:]]
    bound = np.full(n, -1.0)  # -1: keep the pre-filled f_max
    if tight_bounds:
        bound = fit.copy()
        for i in range(n - 1, 0, -1):  # children come after parents
            bound[parent[i]] = max(bound[parent[i]], bound[i])
    return parent, fit, prob, bound


def explicit_params(parent, fit, prob, bound) -> np.ndarray:
    n = parent.size
    order = np.argsort(parent[1:], kind="stable") + 1
    counts = np.bincount(parent[1:], minlength=n)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    return np.concatenate([[n], fit, bound, prob, ptr, order]).astype(np.float64)


def explicit_graph(parent, fit, prob, locking, preservation):
    g = ae.DesignGraph.tree(parent, fit, prob)
    if locking:
        g = ae.with_locking(g, locking)
    if preservation:
        g = ae.with_preservation(g, preservation)
    return g


def lazy_index(tr: lz.LazyTrajectory, n: int) -> np.ndarray:
    """Index in the explicit (locked) graph of each retained lazy program of the explicit rule."""
    ids = tr.states[:, 0].astype(np.int64)
    return np.where(tr.locked, n + ids, ids)


# ----------------------------------------------------------------- exactness without pruning


@pytest.mark.parametrize("locking, preservation", [(None, None), (0.5, None), (0.3, 0.2), (None, 0.4)])
def test_pm_tree_equals_explicit(locking, preservation):
    depth = 9
    g = ae.binary_pm_tree(depth)
    if locking:
        g = ae.with_locking(g, locking)
    if preservation:
        g = ae.with_preservation(g, preservation)
    ex = ae.simulate(g, depth)
    tr = lz.simulate_lazy(lz.lazy_binary_pm_tree(), depth, locking=locking, preservation=preservation)
    np.testing.assert_allclose(tr.mean_fitness, ex.mean_fitness, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.log_growth, ex.log_growth, rtol=0, atol=1e-12)
    assert tr.bound == 0.0 and tr.pruned == 0
    locked = g.attrs.get("locked", np.zeros(g.n, bool))
    key_ex = {}
    for i in np.flatnonzero(ex.shares > 0):
        key_ex[(bool(locked[i]), int(g.attrs["depth"][i]), float(g.fitness[i]))] = ex.shares[i]
    key_lz = {(bool(a), int(b), float(c)): x for a, b, c, x in zip(tr.locked, tr.depth, tr.fitness, tr.shares)}
    assert key_ex.keys() == key_lz.keys()
    assert max(abs(key_ex[k] - key_lz[k]) for k in key_ex) < 1e-12


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    gens=st.integers(0, 12),
    locking=st.sampled_from([None, 0.2, 0.5, 1.0]),
    preservation=st.sampled_from([None, 0.3]),
)
def test_random_rule_equals_explicit(seed, n, gens, locking, preservation):
    rng = np.random.default_rng(seed)
    parent, fit, prob, bound = random_tree_arrays(rng, n, tight_bounds=False)
    tree = lz.LazyTree(explicit_rule, [0.0], fit[0], f_max=2.0, max_children=n,
                       params=explicit_params(parent, fit, prob, bound))
    tr = lz.simulate_lazy(tree, gens, locking=locking, preservation=preservation)
    g = explicit_graph(parent, fit, prob, locking, preservation)
    ex = ae.simulate(g, gens)
    np.testing.assert_allclose(tr.mean_fitness, ex.mean_fitness, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tr.log_growth, ex.log_growth, rtol=0, atol=1e-11)
    x = np.zeros(g.n)
    np.add.at(x, lazy_index(tr, n), tr.shares)
    np.testing.assert_allclose(x, ex.shares, rtol=0, atol=1e-12)


# ----------------------------------------------------------------- certified pruning


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    gens=st.integers(1, 14),
    locking=st.sampled_from([None, 0.3, 0.6]),
    preservation=st.sampled_from([None, 0.25]),
    threshold=st.sampled_from([1e-3, 1e-2, 5e-2]),
    tight=st.booleans(),
)
def test_certified_bound_holds_on_random_rules(seed, n, gens, locking, preservation, threshold, tight):
    rng = np.random.default_rng(seed)
    parent, fit, prob, bound = random_tree_arrays(rng, n, tight_bounds=tight)
    tree = lz.LazyTree(explicit_rule, [0.0], fit[0], f_max=2.0, max_children=n,
                       params=explicit_params(parent, fit, prob, bound))
    level = 1.0
    tr = lz.simulate_lazy(tree, gens, locking=locking, preservation=preservation, threshold=threshold,
                          fitness_levels=[level])
    g = explicit_graph(parent, fit, prob, locking, preservation)
    idx = lazy_index(tr, n)
    assert np.unique(idx).size == idx.size
    ex = ae.simulate(g, gens, sets={"hi": g.fitness >= level})
    eps = tr.error_bound
    assert np.all(tr.mean_fitness_lo - 1e-12 <= ex.mean_fitness)
    assert np.all(ex.mean_fitness <= tr.mean_fitness_hi + 1e-12)
    assert np.all(tr.log_growth - 1e-10 <= ex.log_growth)
    assert np.all(ex.log_growth <= tr.log_growth_hi + 1e-10)
    assert np.all(np.abs(ex.set_shares["hi"] - tr.level_shares[level]) <= eps + 1e-12)
    err = np.abs(ex.shares[idx] - tr.shares)
    assert np.all(err <= eps[-1] + 1e-12)
    lo, hi = tr.share_interval()
    assert np.all(lo - 1e-12 <= ex.shares[idx]) and np.all(ex.shares[idx] <= hi + 1e-12)
    rest = np.ones(g.n, bool)
    rest[idx] = False
    assert ex.shares[rest].sum() <= eps[-1] + 1e-12


@pytest.mark.parametrize("locking", [None, 0.5])
def test_pm_tree_bound_holds_against_explicit(locking):
    depth = 14
    g = ae.binary_pm_tree(depth)
    if locking:
        g = ae.with_locking(g, locking)
    ex = ae.simulate(g, depth, sets={"near": g.fitness >= 1.75})
    tr = lz.simulate_lazy(lz.lazy_binary_pm_tree(), depth, locking=locking, threshold=2e-5, fitness_levels=[1.75])
    assert tr.pruned > 0 and 0 < tr.bound < 1
    locked = g.attrs.get("locked", np.zeros(g.n, bool))
    lookup = {(bool(locked[i]), int(g.attrs["depth"][i]), float(g.fitness[i])): i for i in range(g.n)}
    idx = np.array([lookup[(bool(a), int(b), float(c))] for a, b, c in zip(tr.locked, tr.depth, tr.fitness)])
    assert np.all(np.abs(ex.shares[idx] - tr.shares) <= tr.bound + 1e-12)
    rest = np.ones(g.n, bool)
    rest[idx] = False
    assert ex.shares[rest].sum() <= tr.bound + 1e-12
    assert np.all(np.abs(ex.set_shares["near"] - tr.level_shares[1.75]) <= tr.error_bound + 1e-12)
    assert np.all((tr.mean_fitness_lo - 1e-12 <= ex.mean_fitness) & (ex.mean_fitness <= tr.mean_fitness_hi + 1e-12))


def test_memory_cap_respected_and_certified():
    depth = 12
    cap = 300
    tr = lz.simulate_lazy(lz.lazy_binary_pm_tree(), depth, locking=0.5, max_programs=cap)
    assert np.all(tr.n_unlocked + tr.n_locked <= cap)
    g = ae.with_locking(ae.binary_pm_tree(depth), 0.5)
    ex = ae.simulate(g, depth)
    assert np.all((tr.mean_fitness_lo - 1e-12 <= ex.mean_fitness) & (ex.mean_fitness <= tr.mean_fitness_hi + 1e-12))
    lookup = {(bool(g.attrs["locked"][i]), float(g.fitness[i]), int(g.attrs["depth"][i])): i for i in range(g.n)}
    idx = np.array([lookup[(bool(a), float(c), int(b))] for a, b, c in zip(tr.locked, tr.depth, tr.fitness)])
    assert np.all(np.abs(ex.shares[idx] - tr.shares) <= tr.bound + 1e-12)


def test_locked_pm_tree_long_run_certified_and_converging():
    """R3 on the +/- tree: with eta-locking F_t -> F* = 2; the lazy run certifies it far beyond explicit depths."""
    tr = lz.simulate_lazy(lz.lazy_binary_pm_tree(), 60, locking=0.5, threshold=1e-8, fitness_levels=[1.9])
    assert tr.bound < 1e-3
    assert tr.mean_fitness_lo[-1] > 1.9  # certified
    assert tr.mean_fitness_hi[-1] <= 2.0 + 1e-12  # F* = 2 is never exceeded (or attained)
    # the retained unlocked share obeys R3: U_t <= ((1 - eta) F*)^t / N_t <= 1 / N~_t
    unl = tr.shares[~tr.locked].sum()
    assert unl <= np.exp(-tr.log_growth[-1]) * (1 + 1e-9)


# ----------------------------------------------------------------- exact lumping


def _random_type_graph(rng, m):
    fit = rng.uniform(0.2, 2.0, m)
    T = rng.random((m, m)) * (rng.random((m, m)) < 0.5)
    T[np.arange(m), rng.integers(0, m, m)] += 0.1
    T /= T.sum(axis=1, keepdims=True)
    return fit, T


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), gens=st.integers(0, 9),
       locking=st.sampled_from([None, 0.25]), depth_dependent=st.booleans())
def test_lumping_equals_type_graph_and_unlumped(seed, m, gens, locking, depth_dependent):
    rng = np.random.default_rng(seed)
    fit, T = _random_type_graph(rng, m)
    params = np.concatenate([[m], fit, T.ravel()])
    tree = lz.LazyTree(type_rule, [0.0], fit[0], f_max=float(fit.max()), max_children=m, params=params,
                       depth_dependent=depth_dependent)
    lumped = lz.simulate_lazy(tree, gens, locking=locking, lump=True)
    plain = lz.simulate_lazy(tree, gens, locking=locking, lump=False)
    g = ae.type_graph(fit, T)
    if locking:
        g = ae.with_locking(g, locking)
    ex = ae.simulate(g, gens)

    def by_type(tr):
        x = np.zeros(g.n)
        t = tr.states[:, 0].astype(np.int64)
        np.add.at(x, np.where(tr.locked, m + t, t), tr.shares)
        return x

    np.testing.assert_allclose(by_type(lumped), ex.shares, rtol=0, atol=1e-12)
    np.testing.assert_allclose(by_type(plain), ex.shares, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lumped.mean_fitness, plain.mean_fitness, rtol=0, atol=1e-12)
    # lumping keeps at most one program per (type, locked), or per (type, depth, locked) when depth matters
    per_type = 1 if not depth_dependent else gens + 1
    assert lumped.shares.size <= (1 + per_type if locking else per_type) * m


def test_lumping_keeps_deception_grid_finite():
    """paper figure 7, docs/figures.md rule: a 2^t-program tree collapses to the (C+1)(D+1) grid, with the same shares."""
    C = D = 3

    @njit
    def grid_rule(state, depth, params, cs, cf, cp, cb):
        c, d = state[0], state[1]
        cs[0, 0] = min(c + 1, params[0])
        cs[0, 1] = d
        cs[1, 0] = c
        cs[1, 1] = min(d + 1, params[1])
        for j in range(2):
            cf[j] = 1.0 + cs[j, 0] + cs[j, 1]
            cp[j] = 0.5
        return 2

    tree = lz.LazyTree(grid_rule, [0.0, 0.0], 1.0, f_max=1.0 + C + D, max_children=2, params=[C, D],
                       depth_dependent=False)
    gens = 12
    lumped = lz.simulate_lazy(tree, gens, locking=0.2, lump=True)
    plain = lz.simulate_lazy(tree, gens, locking=0.2)
    assert lumped.shares.size <= 2 * (C + 1) * (D + 1) < plain.shares.size
    np.testing.assert_allclose(lumped.mean_fitness, plain.mean_fitness, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lumped.state_means, plain.state_means, rtol=0, atol=1e-12)


def test_pm_tree_lumping_merges_nothing():
    """No two programs of the +/- tree at one depth share fitness: lumping is exact and changes nothing."""
    a = lz.simulate_lazy(lz.lazy_binary_pm_tree(), 8, locking=0.5, lump=True)
    b = lz.simulate_lazy(lz.lazy_binary_pm_tree(), 8, locking=0.5)
    assert a.shares.size == b.shares.size == 2**8 + (2**8 - 1)  # unlocked at depth 8, locked at 0..7
    np.testing.assert_allclose(np.sort(a.shares), np.sort(b.shares), rtol=0, atol=1e-15)


# ----------------------------------------------------------------- result object and errors


def test_growth_closed_form_chain():
    """A single-child chain with fitness 1.5: log N_t = t log 1.5 exactly, F_t = 1.5."""
    @njit
    def chain_rule(state, depth, params, cs, cf, cp, cb):
        cs[0, 0] = state[0]
        cf[0] = 1.5
        cp[0] = 1.0
        return 1

    tr = lz.simulate_lazy(lz.LazyTree(chain_rule, [0.0], 1.5, f_max=1.5, max_children=1), 20)
    np.testing.assert_allclose(tr.log_growth, np.arange(21) * np.log(1.5), rtol=1e-13)
    np.testing.assert_allclose(tr.growth_rate, np.log(1.5), rtol=1e-13)


def test_save_load_roundtrip(tmp_path):
    tr = lz.simulate_lazy(lz.lazy_binary_pm_tree(), 10, locking=0.5, threshold=1e-3, fitness_levels=[1.5])
    back = lz.LazyTrajectory.load(tr.save(tmp_path / "run"))
    for k in ("mean_fitness", "error_bound", "shares", "states", "locked", "depth"):
        np.testing.assert_array_equal(getattr(back, k), getattr(tr, k))
    np.testing.assert_array_equal(back.level_shares[1.5], tr.level_shares[1.5])
    assert back.params == tr.params and back.pruned == tr.pruned


def test_time_limit_stops_early():
    tr = lz.simulate_lazy(lz.lazy_binary_pm_tree(), 50, time_limit=1e-9)
    assert tr.stopped_early and tr.generations == 0 and tr.mean_fitness[0] == 1.0


@pytest.mark.parametrize(
    "mode, exc, words",
    [(1, InvalidKernelError, "sum to 1"), (2, InvalidFitnessError, "child_fitness[1]"),
     (3, InvalidFitnessError, "exceeds"), (4, InvalidKernelError, "max_children")],
)
def test_bad_rules_are_reported(mode, exc, words):
    tree = lz.LazyTree(bad_rule, [0.0], 1.0, f_max=2.0, max_children=2, params=[mode])
    with pytest.raises(exc) as info:
        lz.simulate_lazy(tree, 3)
    assert words in str(info.value) and "depth 0" in str(info.value)


def test_bad_arguments():
    tree = lz.lazy_binary_pm_tree()
    with pytest.raises(InvalidParameterError, match="rule"):
        lz.LazyTree(lambda *a: 0, [1.0], 1.0, f_max=2.0, max_children=2)
    with pytest.raises(InvalidParameterError, match="root_fitness"):
        lz.LazyTree(explicit_rule, [1.0], 3.0, f_max=2.0, max_children=2)
    with pytest.raises(InvalidParameterError, match="f_max"):
        lz.LazyTree(explicit_rule, [1.0], 1.0, f_max=float("inf"), max_children=2)
    for kwargs, name in [({"locking": 0.0}, "locking"), ({"preservation": 1.5}, "preservation"),
                         ({"threshold": 1.0}, "threshold"), ({"max_programs": 0}, "max_programs")]:
        with pytest.raises(InvalidParameterError, match=name):
            lz.simulate_lazy(tree, 3, **kwargs)
    with pytest.raises(InvalidParameterError, match="generations"):
        lz.simulate_lazy(tree, -1)


# ----------------------------------------------------------------- depth-first aggregates


@settings(max_examples=20)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 50),
    gens=st.integers(0, 12),
    locking=st.sampled_from([None, 0.3, 1.0]),
    threshold=st.sampled_from([0.0, 1e-3, 3e-2]),
    max_nodes=st.sampled_from([None, 5, 20]),
    tight=st.booleans(),
    prune=st.sampled_from(["share", "final"]),
)
def test_dfs_equals_explicit_or_is_certified(seed, n, gens, locking, threshold, max_nodes, tight, prune):
    rng = np.random.default_rng(seed)
    parent, fit, prob, bound = random_tree_arrays(rng, n, tight_bounds=tight)
    tree = lz.LazyTree(explicit_rule, [0.0], fit[0], f_max=2.0, max_children=n,
                       params=explicit_params(parent, fit, prob, bound))
    tr = lz.simulate_lazy_dfs(tree, gens, locking=locking, threshold=threshold, max_nodes=max_nodes,
                              fitness_levels=[1.0], pilot_programs=8, prune=prune)
    g = explicit_graph(parent, fit, prob, locking, None)
    ex = ae.simulate(g, gens, sets={"hi": g.fitness >= 1.0})
    eps = tr.error_bound
    if tr.pruned == 0:
        assert np.all(eps == 0.0)
        np.testing.assert_allclose(tr.mean_fitness, ex.mean_fitness, rtol=0, atol=1e-12)
        np.testing.assert_allclose(tr.log_growth, ex.log_growth, rtol=0, atol=1e-11)
    assert np.all(tr.mean_fitness_lo - 1e-12 <= ex.mean_fitness)
    assert np.all(ex.mean_fitness <= tr.mean_fitness_hi + 1e-12)
    assert np.all(tr.log_growth - 1e-10 <= ex.log_growth)
    assert np.all(ex.log_growth <= tr.log_growth_hi + 1e-10)
    assert np.all(np.abs(ex.set_shares["hi"] - tr.level_shares[1.0]) <= eps + 1e-12)


def test_dfs_pm_tree_matches_breadth_first_and_counts_levels():
    tree = lz.lazy_binary_pm_tree()
    a = lz.simulate_lazy_dfs(tree, 12, locking=0.5, fitness_levels=[1.5])
    b = lz.simulate_lazy(tree, 12, locking=0.5, fitness_levels=[1.5])
    np.testing.assert_allclose(a.mean_fitness, b.mean_fitness, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.level_shares[1.5], b.level_shares[1.5], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.n_unlocked, 2 ** np.arange(13))  # every level of the binary tree visited


def test_dfs_reports_bad_rules():
    tree = lz.LazyTree(bad_rule, [0.0], 1.0, f_max=2.0, max_children=2, params=[1])
    with pytest.raises(InvalidKernelError, match="sum to 1"):
        lz.simulate_lazy_dfs(tree, 3)


@njit(cache=True)
def dying_rule(state, depth, params, cs, cf, cp, cb):
    """One child of fitness 0: the population dies out after generation 1."""
    cs[0, 0] = 0.0
    cf[0] = 0.0
    cp[0] = 1.0
    return 1


def test_extinction_reported_by_both_engines():
    tree = lz.LazyTree(dying_rule, [0.0], 1.0, f_max=1.0, max_children=1)
    a = lz.simulate_lazy(tree, 5)
    b = lz.simulate_lazy_dfs(tree, 5, threshold=0.1)
    assert a.extinct_at == b.extinct_at == 1  # F_0 = 1, F_1 = 0 (closed form)
    np.testing.assert_array_equal(a.mean_fitness, [1.0, 0.0])
    np.testing.assert_array_equal(b.mean_fitness[:2], [1.0, 0.0])
    assert np.all(b.error_bound == 0.0)  # nothing was pruned: extinction is not lost information
