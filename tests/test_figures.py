"""The paper figures: the data they plot agree with independent computations.

Each figure is drawn with ``quick=True``; the plotted data are read back from
the artists (found by ``gid``) and compared with plain-numpy oracles built here
from the model's definitions (docs/explanation/model.md), or with closed forms.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _figure_data import artists, line
from hypothesis import given
from hypothesis import strategies as st

from aievo.figures import REGISTRY, paper
from aievo.figures._style import tree_layout


# ------------------------------------------------------------------ helpers
def iterate(M, x0, steps):
    """Plain numpy share recursion x_{t+1} = x_t M / F_t; returns shares (steps+1, n) and F_t."""
    xs = [np.asarray(x0, float)]
    F = []
    for _ in range(steps):
        h = xs[-1] @ M
        F.append(h.sum())
        xs.append(h / h.sum())
    return np.array(xs), np.array(F)


def mean_fitness(M, f, x0, steps):
    xs, _ = iterate(M, x0, steps)
    return xs @ f


@pytest.fixture(scope="module")
def figs():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = getattr(paper, name)(quick=True)
        return cache[name]

    return get


def test_registry_targets_resolve():
    for name in [f"fig{i}" for i in range(1, 8)]:
        spec = REGISTRY[name]
        assert spec.group == "paper"
        assert callable(spec.function())


# ------------------------------------------------------------------ figure 1
def lattice_matrix(f, mu):
    """diag(f) T for the lattice, T written from its definition (paper figure 1, docs/figures.md)."""
    n = f.size
    T = np.zeros((n, n))
    for i in range(n):
        T[i, i] = 1 - mu
        for j in (i - 1, i + 1):
            if 0 <= j < n:
                T[i, j] += mu / 2
            else:
                T[i, i] += mu / 2
    return np.diag(f) @ T


def perron_left(M):
    w, V = np.linalg.eig(M.T)
    k = int(np.argmax(w.real))
    v = np.abs(V[:, k].real)
    return v / v.sum(), np.sort(w.real)[::-1]


def test_fig1_equilibrium_is_the_perron_vector(figs):
    fig = figs("fig1_flattest")
    bars = artists(fig, "fitness")
    f = np.array([b.get_y() + b.get_height() for b in bars])
    assert (f == 2.0).sum() == 1 and (f == 1.6).sum() == 15 and set(np.unique(f)) == {1.0, 1.6, 2.0}
    narrow, broad = f == 2.0, f == 1.6
    for mu, winner in ((0.02, "narrow"), (0.4, "broad")):
        shares = np.array([b.get_height() for b in artists(fig, f"shares:mu={mu}")])
        oracle, _ = perron_left(lattice_matrix(f, mu))
        np.testing.assert_allclose(shares, oracle, atol=1e-8)
        won = "narrow" if oracle[narrow].sum() > oracle[broad].sum() else "broad"
        assert won == winner


def test_fig1_sweep_switches_from_narrow_to_broad(figs):
    fig = figs("fig1_flattest")
    bars = artists(fig, "fitness")
    f = np.array([b.get_y() + b.get_height() for b in bars])
    narrow, broad = f == 2.0, f == 1.6
    mus, s_narrow = line(fig, "sweep:narrow")
    _, s_broad = line(fig, "sweep:broad")
    checked = 0
    for mu, a, b in zip(mus, s_narrow, s_broad):
        oracle, w = perron_left(lattice_matrix(f, mu))
        if w[1] / w[0] > 0.995:  # too close to the switch for a finite run to settle
            continue
        checked += 1
        assert a == pytest.approx(oracle[narrow].sum(), abs=1e-6)
        assert b == pytest.approx(oracle[broad].sum(), abs=1e-6)
    assert checked >= len(mus) - 2
    # low mu: the narrow peak wins; high mu: the broad one
    assert s_narrow[0] > 0.9 > s_broad[0]
    assert s_broad[-1] > 0.9 > s_narrow[-1]


# ------------------------------------------------------------------ figure 2
def test_fig2_shares_follow_path_products(figs):
    fig = figs("fig2_tree")
    g, names = paper.fig2_example_tree()
    parent = g.parent
    f = g.fitness
    T = g.T.toarray()
    n = g.n
    # abundance after t generations along the unique path (no self-loops above the leaves)
    depth = np.zeros(n, int)
    weight = np.ones(n)  # prod over the path of f(v_k) T(v_k, v_{k+1})
    for i in range(1, n):  # parents precede children
        depth[i] = depth[parent[i]] + 1
        weight[i] = weight[parent[i]] * f[parent[i]] * T[parent[i], i]
    leaves = np.setdiff1d(np.arange(n), parent[parent >= 0])
    assert (depth[leaves] == 3).all()
    # under each box: share x_n(t) and abundance y_n(t) at t = depth(n), printed to 3 decimals
    for i, name in enumerate(names):
        (txt,) = artists(fig, f"xy:{name}")
        x_shown, y_shown = (float(v) for v in re.findall(r"= ([-\d.]+)", txt.get_text()))
        x_exact = weight[i] / weight[depth == depth[i]].sum()
        assert abs(x_shown - x_exact) <= 5e-4 and abs(y_shown - weight[i]) <= 5e-4, name
    # leaves copy themselves from t = 3 on: shares proportional to weight * f^(t - 3)
    for leaf in leaves:
        t, shown = line(fig, f"leaf:{names[leaf]}")
        tt = t.astype(int)
        expected = weight[leaves][None, :] * f[leaves][None, :] ** (tt[:, None] - 3)
        np.testing.assert_allclose(shown, expected[:, list(leaves).index(leaf)] / expected.sum(axis=1), rtol=1e-10)
    t, F = line(fig, "F")
    x0 = np.eye(n)[0]
    np.testing.assert_allclose(F, mean_fitness(np.diag(f) @ T, f, x0, len(t) - 1), rtol=1e-10)


# ------------------------------------------------------------------ figure 3
def test_fig3_rate_matches_block_sums_and_closed_form(figs):
    fig = figs("fig3_limsup")
    t, rate = line(fig, "rate")
    # fitness of generation s: 2 in blocks of even index j (length 2^j), 1/2 in odd ones
    blocks = []
    j = 0
    while len(blocks) < t[-1]:
        blocks.extend([2.0 if j % 2 == 0 else 0.5] * 2**j)
        j += 1
    logs = np.log(np.array(blocks[: int(t[-1])]))
    np.testing.assert_allclose(rate, np.cumsum(logs) / t, rtol=1e-12, atol=1e-15)
    for jj in range(j):
        end = 2 ** (jj + 1) - 1
        if end <= t[-1]:
            closed = np.log(2) * (1 - (-2.0) ** (jj + 1)) / (3 * end)
            assert rate[end - 1] == pytest.approx(closed, rel=1e-12)
    lam = np.log(2) / 3
    assert line(fig, "limsup")[1][0] == pytest.approx(lam)
    assert line(fig, "liminf")[1][0] == pytest.approx(-lam)
    late = t >= t[-1] / 4
    assert rate[late].max() == pytest.approx(lam, abs=2e-3)
    assert rate[late].min() == pytest.approx(-lam, abs=2e-3)


# ------------------------------------------------------------------ figure 4
def test_fig4_oscillates_while_geometric_mean_converges(figs):
    fig = figs("fig4_oscillating")
    t, F = line(fig, "F")
    np.testing.assert_array_equal(F, np.where(t % 2 == 0, 4.0, 1.0))
    ts, geo = line(fig, "geo")
    closed = np.where(ts % 2 == 0, 2.0, 2.0 ** ((ts + 1) / ts))
    np.testing.assert_allclose(geo, closed, rtol=1e-12)
    assert abs(geo[-1] - 2.0) <= 2 * np.log(2) / ts[-1] * 1.1
    _, arith = line(fig, "arith")
    np.testing.assert_allclose(arith, np.cumsum(F)[:-1] / ts, rtol=1e-12)
    assert line(fig, "rho")[1][0] == pytest.approx(2.0, rel=1e-12)


# ------------------------------------------------------------------ figure 5
def binary_pm_mean_fitness(depth):
    """F_t on the +/- tree by enumerating each level: abundance = prod f * (1/2)^t."""
    fit = np.array([1.0])
    ab = np.array([1.0])
    F = [1.0]
    for k in range(depth):
        step = 2.0 ** -(k + 1)
        ab = np.repeat(ab * fit * 0.5, 2)
        fit = np.repeat(fit, 2) + np.tile([-step, step], fit.size)
        F.append(float((ab * fit).sum() / ab.sum()))
    return np.array(F)


def test_fig5_mean_fitness_creeps_to_two(figs):
    fig = figs("fig5_binary")
    t, F = line(fig, "F")
    np.testing.assert_allclose(F, binary_pm_mean_fitness(int(t[-1])), rtol=1e-12)
    assert (F < 2).all()
    assert (np.diff(F[1:]) > 0).all() and F[1] == pytest.approx(1.0)
    assert F[-1] > 1.8


def test_fig5_marks_exactly_the_all_plus_ray(figs):
    fig = figs("fig5_binary")
    (tree,) = artists(fig, "tree:lambda")
    (ring,) = artists(fig, "tree:optimal")
    pos = np.asarray(tree.get_offsets())
    sup = np.asarray(tree.get_array(), float)  # exp(lambda) = sup of fitness in the clade
    marked = {tuple(p) for p in np.asarray(ring.get_offsets())}
    levels = sorted(set(pos[:, 1]), reverse=True)
    assert len(marked) == len(levels)
    # independent: the all-+ node at each level is the right-most one; its clade sup is 2
    for y in levels:
        row = np.flatnonzero(pos[:, 1] == y)
        right = row[np.argmax(pos[row, 0])]
        assert tuple(pos[right]) in marked
        assert sup[right] == 2.0
        assert (sup[np.setdiff1d(row, [right])] < 2.0).all()


# ------------------------------------------------------------------ figure 6
def fig6_matrices(eta):
    """R, H, h, L, l and (with eta) their locked copies, written out by hand."""
    f = np.array([1.0, 2.0, 0.5, 1.0, 1.5])
    T = np.zeros((5, 5))
    T[0, 1] = T[0, 3] = 0.5
    T[1, 2] = T[2, 2] = T[3, 4] = T[4, 4] = 1.0
    if eta is None:
        return f, T
    T2 = np.zeros((10, 10))
    T2[:5, :5] = (1 - eta) * T
    T2[np.arange(5), 5 + np.arange(5)] = eta
    T2[5 + np.arange(5), 5 + np.arange(5)] = 1.0
    return np.concatenate([f, f]), T2


@pytest.mark.parametrize("eta", [None, 0.05, 0.2, 0.5])
def test_fig6_curves_match_numpy_and_limits(figs, eta):
    fig = figs("fig6_locking")
    key = "none" if eta is None else f"eta={eta}"
    t, F = line(fig, f"F:{key}")
    f, T = fig6_matrices(eta)
    x0 = np.eye(f.size)[0]
    np.testing.assert_allclose(F, mean_fitness(np.diag(f) @ T, f, x0, len(t) - 1), rtol=1e-10)
    _, near = line(fig, f"near:{key}")
    _, below = line(fig, f"below:{key}")
    if eta is None:
        assert F[-1] == pytest.approx(1.5, abs=1e-3)
        assert near[-1] < 1e-12
    else:
        assert F[-1] == pytest.approx(2.0, abs=1e-3)
        assert near[-1] > 1 - 1e-3
        # exponential decay of the share below F* - eps, at the rate 1.5/2 of the two clades
        ratio = below[-1] / below[-11]
        assert ratio == pytest.approx(0.75**10, rel=0.05)


# ------------------------------------------------------------------ figure 7
def deception_oracle(C, D, eta, fitness, steps):
    idx = {}
    for c in range(C + 1):
        for d in range(D + 1):
            idx[(c, d)] = len(idx)
    m = len(idx)
    T = np.zeros((2 * m, 2 * m))
    cs = np.zeros(2 * m)
    ds = np.zeros(2 * m)
    for (c, d), i in idx.items():
        T[i, idx[(min(c + 1, C), d)]] += (1 - eta) / 2
        T[i, idx[(c, min(d + 1, D))]] += (1 - eta) / 2
        T[i, m + i] = eta
        T[m + i, m + i] = 1.0
        cs[i] = cs[m + i] = c
        ds[i] = ds[m + i] = d
    f = fitness(cs, ds)
    xs, _ = iterate(np.diag(f) @ T, np.eye(2 * m)[0], steps)
    return xs @ cs, xs @ ds


def test_fig7_deception_selected_only_by_human_judgement(figs):
    fig = figs("fig7_deception")
    for key, fit in (("human", lambda c, d: 1 + c + d), ("objective", lambda c, d: 1 + c)):
        t, cbar = line(fig, f"{key}:c")
        _, dbar = line(fig, f"{key}:d")
        oc, od = deception_oracle(5, 5, 0.2, fit, len(t) - 1)
        np.testing.assert_allclose(cbar, oc, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(dbar, od, rtol=1e-9, atol=1e-12)
        assert cbar[-1] == pytest.approx(5.0, abs=1e-6)
        if key == "human":
            assert dbar[-1] == pytest.approx(5.0, abs=1e-6)
        else:
            assert 0.5 < dbar[-1] < 4.5


# ------------------------------------------------------------------ tidy tree layout
@st.composite
def parents(draw):
    n = draw(st.integers(1, 40))
    par = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    return np.array(par)


@given(parents())
def test_tree_layout_is_tidy(par):
    pos = tree_layout(par)
    n = par.size
    depth = np.zeros(n)
    for i in range(1, n):
        depth[i] = depth[par[i]] + 1
    np.testing.assert_array_equal(pos[:, 1], -depth)
    leaves = np.setdiff1d(np.arange(n), par[par >= 0])
    # leaves sit on distinct integer slots 0 .. (#leaves - 1)
    np.testing.assert_array_equal(np.sort(pos[leaves, 0]), np.arange(leaves.size))
    for v in np.setdiff1d(np.arange(n), leaves):
        xs = pos[par == v, 0]
        assert xs.min() <= pos[v, 0] <= xs.max()
    # no two nodes of a level overlap
    for d in np.unique(depth):
        xs = np.sort(pos[depth == d, 0])
        assert (np.diff(xs) >= 1 - 1e-12).all()
