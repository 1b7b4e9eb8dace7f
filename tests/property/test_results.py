"""R2, R3, R4, R6 and lineage dominance on drawn graphs (docs/explanation/results.md).

Each test compares the package's checkers with quantities computed here from
first principles: dense spectral radii, plain numpy abundances, path products
and a linear solve for the limit of the deception grid.
"""

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import aievo as ae
from aievo.lineage import clade_abundance
from aievo.testing import strategies as aest
from aievo.theory import (
    check_deception,
    check_dominance,
    check_locking,
    check_preservation,
    check_utility,
)


def _dense_exponent(g, v):
    M = np.diag(g.fitness) @ g.T.toarray()
    R = np.flatnonzero(g.reachable(v))
    return np.log(np.abs(np.linalg.eigvals(M[np.ix_(R, R)])).max())


# ---------------------------------------------------------------- R2
@given(case=aest.preserved_trees(max_nodes=10))
def test_r2_exponents_between_log_eta_f_and_log_fstar(case):
    g, eta = case
    rep = check_preservation(g, eta, generations=0)
    assert rep.preserving and rep.bounds_hold
    Fs = g.fitness[g.reachable()].max()
    for v in np.flatnonzero(g.reachable()):
        lam = _dense_exponent(g, v)
        assert np.log(eta * g.fitness[v]) - 1e-9 <= lam <= np.log(Fs) + 1e-9
    np.testing.assert_allclose(rep.exponent, [_dense_exponent(g, v) for v in rep.nodes], atol=1e-9)


# ---------------------------------------------------------------- R3
def _numpy_abundances(g, G):
    M = np.diag(g.fitness) @ g.T.toarray()
    n = np.zeros(g.n)
    n[g.root] = 1.0
    out = [n]
    for _ in range(G):
        n = n @ M
        out.append(n)
    return np.array(out)


def _concentration_bound(base, gl, eta, eps, G):
    """Bound on the share with f < F* - eps at t = d+1 .. G, from R3's argument.

    Bad mass <= r^t + t eta F* r^(t-1), r = max((1 - eta) F*, F* - eps); good mass
    >= eta n_d(b) F*^(t-d) for the best program b at depth d, n_d(b) its path product.
    """
    Fs = base.fitness.max()
    r = max((1 - eta) * Fs, Fs - eps)
    T = gl.T.toarray()
    best_log, best_d = -np.inf, 0
    for b in np.flatnonzero(base.fitness == Fs):
        logp, v = 0.0, b
        while base.parent[v] >= 0:
            p = base.parent[v]
            logp += np.log(base.fitness[p] * T[p, v])
            v = p
        d = int(base.attrs["depth"][b])
        if logp - d * np.log(Fs) > best_log - best_d * np.log(Fs):
            best_log, best_d = logp, d
    t = np.arange(best_d + 1, G + 1)
    log_bad = np.logaddexp(t * np.log(r), np.log(t * eta * Fs) + (t - 1) * np.log(r))
    log_good = np.log(eta) + best_log + (t - best_d) * np.log(Fs)
    return t, np.minimum(1.0, np.exp(log_bad - log_good))


@given(base=aest.design_trees(max_nodes=10, min_fitness=0.5), eta=aest.etas(0.05, 0.9))
def test_r3_unlocked_mass_bound_and_concentration(base, eta):
    gl = ae.with_locking(base, eta)
    G, eps = 150, 0.1
    rep = check_locking(gl, eta, G, eps=eps)
    assert rep.locking and rep.bound_holds
    # unlocked mass against plain numpy abundances
    n = _numpy_abundances(gl, G)
    U = n[:, ~gl.attrs["locked"]].sum(axis=1)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(rep.log_unlocked_mass, np.log(U), rtol=1e-9, atol=1e-9)
    Fs = base.fitness.max()
    assert np.all(U <= ((1 - eta) * Fs) ** np.arange(G + 1) * (1 + 1e-9))
    # the share below F* - eps obeys the concentration bound
    t, bound = _concentration_bound(base, gl, eta, eps, G)
    assert np.all(rep.share_below[t] <= bound * (1 + 1e-9) + 1e-12)
    # and mean fitness is within reach of F*: F_t >= (F* - eps)(1 - share_below)
    assert np.all(rep.mean_fitness[t] >= (Fs - eps) * (1 - bound) - 1e-9)


# ---------------------------------------------------------------- R4
@given(base=aest.design_trees(max_nodes=8, min_fitness=0.5), eta=aest.etas(0.2, 0.9), data=st.data())
def test_r4_mean_utility_reaches_g_of_fstar(base, eta, data):
    """u >= g(f) = f and u >= -B: ubar_t >= (F* - eps)(1 - s_t) - B s_t with s_t -> 0."""
    gl = ae.with_locking(base, eta)
    u = data.draw(aest.dominated_utilities(gl))
    G, eps = 200, 0.1
    rep = check_utility(gl, G, utility=u, g_of_f=lambda f: f)
    assert rep.dominated
    Fs = base.fitness.max()
    assert rep.target == Fs
    t, bound = _concentration_bound(base, gl, eta, eps, G)
    B = -min(0.0, u.min())
    assert np.all(rep.mean_utility[t] >= (Fs - eps) * (1 - bound) - B * bound - 1e-9)
    # independent mean utility from numpy abundances
    n = _numpy_abundances(gl, G)
    np.testing.assert_allclose(rep.mean_utility, (n @ u) / n.sum(axis=1), rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- R6
def _grid_limit(grid):
    """Limit shares of the locked copies, from n_t(L(v)) = sum_s eta F* U_s(v) F*^(t-s-1).

    Normalised by F*^t: eta e_root (I - (1 - eta) diag(f) T0 / F*)^(-1) on the grid,
    restricted to programs with f = F* (the others' locked copies grow more slowly).
    """
    g, eta = grid.graph, grid.eta
    locked = g.attrs["locked"].astype(bool)
    grid_nodes = np.flatnonzero(~locked)
    T = g.T.toarray()[np.ix_(grid_nodes, grid_nodes)] / (1 - eta)  # T0
    f = g.fitness[grid_nodes]
    Fs = f.max()
    A = (1 - eta) * np.diag(f) @ T / Fs
    e = np.zeros(grid_nodes.size)
    e[0] = 1.0
    w = eta * np.linalg.solve((np.eye(grid_nodes.size) - A).T, e)
    w = np.where(f == Fs, w, 0.0)
    return w / w.sum(), g.attrs["c"][grid_nodes], g.attrs["d"][grid_nodes]


@given(grid=aest.deception_grids(max_C=4, max_D=4))
def test_r6_deception_grid_limits(grid):
    rep = check_deception(grid.graph, 400)
    w, c, d = _grid_limit(grid)
    c_lim, d_lim = w @ c, w @ d
    assert abs(rep.mean_c[-1] - c_lim) <= 1e-6
    assert abs(rep.mean_d[-1] - d_lim) <= 1e-6
    assert abs(rep.top_capability_share[-1] - 1.0) <= 1e-6
    assert abs(c_lim - grid.C) <= 1e-12
    if grid.fitness == "human_judged":
        assert abs(d_lim - grid.D) <= 1e-12
        assert abs(rep.corner_share[-1] - 1.0) <= 1e-6
        assert abs(rep.mean_fitness[-1] - (1 + grid.C + grid.D)) <= 1e-5
    else:
        # deception is neutral: its level is set by the kernel, strictly inside (0, D)
        assert 0.0 < d_lim < grid.D
        assert 0.0 < rep.mean_d[-1] < grid.D
        assert abs(rep.mean_fitness[-1] - (1 + grid.C)) <= 1e-5


# ---------------------------------------------------------------- lineage dominance
@given(g=aest.design_trees(min_nodes=3, max_nodes=12), data=st.data())
def test_lineage_dominance_on_trees(g, data):
    u = data.draw(st.integers(1, g.n - 1))
    v = data.draw(st.integers(1, g.n - 1))
    assume(not g.reachable(u)[v] and not g.reachable(v)[u])
    leaf_rate = g.T.diagonal() * g.fitness
    lam_u = np.log(leaf_rate[g.reachable(u)].max())
    lam_v = np.log(leaf_rate[g.reachable(v)].max())
    assume(abs(lam_u - lam_v) >= 0.05)
    if lam_u < lam_v:
        u, v, lam_u, lam_v = v, u, lam_v, lam_u
    H = 3000
    rep = check_dominance(g, u, v, H)
    assert rep.disjoint and rep.predicted
    # log N_H^v - log N_H^u <= -(lam_u - lam_v) H + C, C from depth, fitness and probability ranges
    D = int(g.attrs["depth"].max())
    pmin = g.T.data.min()
    fmin, fmax = g.fitness.min(), g.fitness.max()
    C = 2 * D * (np.log(max(fmax, 1) / fmin) + np.log(1 / pmin)) + 1e-9
    assert rep.log_ratio[-1] <= -(lam_u - lam_v) * H + C
    # the checker's ratio is the clades' own abundance ratio
    logs = clade_abundance(g, H)
    assert abs(rep.log_ratio[-1] - (logs[v] - logs[u])) <= 1e-9 * abs(rep.log_ratio[-1])
