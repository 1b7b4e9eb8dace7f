"""The tree kernel's fast paths against a plain scipy.sparse iteration and closed forms.

The frontier sweep carries absorbing programs (a self-loop, no children, a
transient designer: the locked copies of an eta-locked tree, the leaves of a
tree) by group in closed form on trees of at least
``dynamics.ABSORBING_MIN_PROGRAMS`` programs (lowered to 0 here, so small
trees take that path too), and the full sweep reads ``d`` and a program's own
share only in the index ranges that hold self-loops. Both must give the
shares of the plain iteration ``x_{t+1} = (x_t f) T / F_t``.

Tolerances: the closed form multiplies a program's entry share by one
product per generation where the sweep rounds once per generation, and sums
the mean fitness in another order, so results differ by a few units in the
last place per generation: ``rtol=1e-12`` on ``F_t`` and ``1e-10`` on shares
over at most 40 generations (measured differences are below ``1e-14``).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import aievo as ae
from aievo import dynamics


def sparse_reference(g, generations):
    """``F_t`` and the shares ``x_t`` by a plain scipy.sparse iteration (the oracle)."""
    MT = sp.csr_array(g.T.T)
    x = np.zeros(g.n)
    x[g.root] = 1.0
    F, xs = [], [x]
    for t in range(generations + 1):
        F.append(x @ g.fitness)
        if t == generations:
            break
        x = MT @ (x * g.fitness) / F[-1]
        xs.append(x)
    return np.array(F), np.array(xs)


@pytest.fixture
def closed_form(monkeypatch):
    """Absorbing programs in closed form whatever the size of the tree."""
    monkeypatch.setattr(dynamics, "ABSORBING_MIN_PROGRAMS", 0)


def _tree(seed, n, kind, levels, eta):
    rng = np.random.default_rng(seed)
    g = ae.random_tree(n, rng=seed, self_prob=0.3 if kind == "self" else 0.0)
    if levels:  # the same tree with few distinct fitness values: few absorbing groups
        T = g.T.toarray()
        prob = np.concatenate([[1.0], T[g.parent[1:], np.arange(1, n)]])
        f = rng.choice(np.linspace(0.5, 2.0, levels), n)
        g = ae.DesignGraph.tree(g.parent, f, prob, self_prob=np.diag(T).copy())
    if kind == "locked":
        g = ae.with_locking(g, eta)
    elif kind == "preserved":
        g = ae.with_preservation(g, eta)
    return g


@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 80),
    G=st.integers(0, 40),
    kind=st.sampled_from(["plain", "locked", "preserved", "self"]),
    levels=st.sampled_from([0, 1, 3]),
    eta=st.floats(0.05, 0.95),
    closed=st.booleans(),
)
def test_tree_sweeps_match_sparse_reference(seed, n, G, kind, levels, eta, closed):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dynamics, "ABSORBING_MIN_PROGRAMS", 0 if closed else 10**9)
        g = _tree(seed, n, kind, levels, eta)
        assert (dynamics._tree_plan(g)["schedule"][4].size > 0) <= closed
    F, xs = sparse_reference(g, G)
    z = np.random.default_rng(seed).normal(size=g.n)
    for method in ("frontier", "full"):
        tr = ae.simulate(g, G, method=method, record_shares=range(G + 1), traits={"z": z})
        np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
        np.testing.assert_allclose(tr.trait_means["z"], xs @ z, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(tr.snapshots, xs, rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(tr.shares, xs[-1], rtol=1e-10, atol=1e-300)


def test_locked_copies_are_carried_in_closed_form(closed_form):
    """On an eta-locked tree the frontier sweeps no locked copy (they form groups by fitness)."""
    g = ae.with_locking(ae.binary_pm_tree(6), 0.5)
    plan = dynamics._tree_plan(g)
    pers_order, abs_order = plan["schedule"][2], plan["schedule"][4]
    locked = g.attrs["locked"]
    internal = np.bincount(g.parent[(g.parent >= 0) & ~locked], minlength=g.n) > 0  # has unlocked children
    # every locked copy of a program with children is absorbing; the leaves' copies are not
    # (a leaf copies itself, so its copy keeps receiving mass)
    expected = np.flatnonzero(locked & internal[g.attrs["original"]])
    np.testing.assert_array_equal(np.sort(abs_order), expected)
    assert not np.isin(pers_order, expected).any()
    group, gf, gd = plan["groups"]
    np.testing.assert_array_equal(np.unique(gf), np.unique(dynamics._scaled_fitness(g)[0][expected]))
    np.testing.assert_array_equal(gf, gd)  # T(copy, copy) = 1


def test_absorbed_shares_below_float64_continue_exactly(closed_form):
    """A leaf whose share falls far below 2**-1074: closed form, then the exact kernel.

    The root designs a leaf of fitness 1e-12 with probability p and one of
    fitness 1 otherwise; both copy themselves, so for t >= 1
    ``x_t(low) = p 1e-12^(t-1) / (p 1e-12^(t-1) + 1 - p)``.
    """
    p, G = 0.25, 120
    g = ae.DesignGraph.tree([-1, 0, 0], [1.0, 1e-12, 1.0], [1.0, p, 1.0 - p])
    assert dynamics._tree_plan(g)["schedule"][4].size == 2  # both leaves are absorbing
    tr = ae.simulate(g, G, method="frontier", record_shares=[30])
    log_low = np.log(p) + (G - 1) * np.log(1e-12) - np.log1p(-p)  # the high leaf's share is 1 - 1e-1400
    assert tr.log_shares[1] == pytest.approx(log_low, rel=1e-12)
    assert tr.shares[2] == 1.0 and tr.mean_fitness[-1] == 1.0
    x30 = p * 1e-12**29 / (p * 1e-12**29 + 1 - p)
    assert tr.shares_at(30)[1] == pytest.approx(x30, rel=1e-12)
    general = ae.simulate(ae.DesignGraph.from_matrix(g.fitness, g.T), G)
    np.testing.assert_allclose(tr.log_shares, general.log_shares, rtol=1e-12)
    np.testing.assert_allclose(tr.log_growth, general.log_growth, rtol=1e-12)


def test_too_many_groups_are_swept(closed_form, monkeypatch):
    """Beyond ABSORBING_GROUPS_MAX groups the frontier sweeps the absorbing programs instead."""
    monkeypatch.setattr(dynamics, "ABSORBING_GROUPS_MAX", 2)
    g = ae.with_locking(ae.random_tree(60, rng=3), 0.4)  # continuous fitness: one group per copy
    plan = dynamics._tree_plan(g)
    assert plan["schedule"][4].size == 0 and plan["groups"][1].size == 0
    F, xs = sparse_reference(g, 25)
    tr = ae.simulate(g, 25, method="frontier", record_shares=[7])
    np.testing.assert_allclose(tr.mean_fitness, F, rtol=1e-12)
    np.testing.assert_allclose(tr.shares_at(7), xs[7], rtol=1e-10, atol=1e-300)


def test_index_width_and_thread_count_do_not_change_results(monkeypatch):
    """int32 or int64 parents, one thread or all: the same bits (chunks are fixed, not per thread).

    The leaves (self-loops) and the inner programs are two index ranges, each
    gathered on all cores. Absorbing programs are swept here (the compiled
    variant the other large-tree test uses; the closed form on a large tree
    is checked by the slow cache test).
    """
    numba = pytest.importorskip("numba")
    from aievo._kernels import PARALLEL_MIN

    monkeypatch.setattr(dynamics, "ABSORBING_MIN_PROGRAMS", 10**12)

    n = 3 * PARALLEL_MIN
    rng = np.random.default_rng(5)
    parent = np.concatenate([[-1], (np.arange(1, n) - 1) // 2])
    f = rng.uniform(0.5, 1.5, n)
    runs = []
    for dtype in (np.int64, np.int32):
        g = ae.DesignGraph.tree(parent.astype(dtype), f)
        runs.append(ae.simulate(g, 6, method="full"))
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        runs.append(ae.simulate(g, 6, method="full"))
    finally:
        numba.set_num_threads(threads)
    assert dynamics._tree_plan(g)["segments"].tolist() == [0, n // 2, n]  # inner programs, then leaves
    for r in runs[1:]:
        np.testing.assert_array_equal(r.mean_fitness, runs[0].mean_fitness)
        np.testing.assert_array_equal(r.shares, runs[0].shares)


@pytest.mark.slow
def test_large_tree_kernel_loaded_from_the_numba_cache(tmp_path):
    """Large trees in fresh processes whose kernels come from a warm numba cache.

    The tree kernel launches the parallel gather without being parallel
    itself: loaded from a cache filled this way it called a null function
    pointer (numba's threads not started) until ``simulate`` started them first.
    """
    import os
    import subprocess
    import sys

    tree = "import numpy as np, aievo as ae, numba\nn = {n}\nparent = np.concatenate([[-1], (np.arange(1, n) - 1) // 2])\n"
    fill = tree.format(n=600_000) + (
        "g = ae.DesignGraph.tree(parent, np.linspace(0.5, 1.5, n))\n"
        "ae.simulate(g, 6, method='full'); numba.set_num_threads(1); ae.simulate(g, 6, method='full')\n"
    )
    locked = tree.format(n=2**19 - 1) + (
        "g = ae.with_locking(ae.DesignGraph.tree(parent, np.ones(n)), 0.5)\n"
        "ae.simulate(g, 1)\n"
        "a = ae.simulate(g, 18, method='frontier'); b = ae.simulate(g, 18, method='full')\n"
        "assert np.allclose(a.shares, b.shares, rtol=1e-12, atol=1e-300)\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    for code in (fill, locked, locked):
        out = subprocess.run([sys.executable, "-c", code + "print('ok')"], env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0 and out.stdout.strip() == "ok", (out.returncode, out.stderr[-2000:])
