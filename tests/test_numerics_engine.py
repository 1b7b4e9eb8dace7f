"""The engine's numerical guarantees (issue 17 item 1, issue 18 item 5), against an mpmath oracle.

* scale-free: multiplying every fitness by ``c`` (1e-300 .. 1e300, subnormal
  fitness included) multiplies ``F_t`` by ``c`` and leaves the shares alone;
* no lineage lost to the float64 range, however rare (shares far below 1e-308);
* ``log N_t`` by a compensated sum (relative error ~1e-16 over 10**6 generations);
* extinction is explicit: ``extinct_at``, ``F_t = 0``, ``log N_t = -inf``, never NaN.

Tolerances: every share is a sum of positive terms (no cancellation), so each
generation adds a few roundings of relative size ``eps = 2**-53`` per entry;
the bounds below are ``(generations + 2) * (n + 2) * 4 * eps`` unless stated.
"""

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp
from verification.engine_oracle import exact_run, log_of, rel_err

import aievo as ae
from aievo.errors import InvalidParameterError

EPS = 2.0**-53


def _bound(G, n):
    return (G + 2) * (n + 2) * 4 * EPS


def _scaled_tree(c):
    return ae.DesignGraph.tree([-1, 0, 0], np.array([1.0, 2.0, 0.5]) * c, [0, 0.3, 0.7])


# ---------------------------------------------------------------- 1. scale-free dynamics
@pytest.mark.parametrize("method", ["frontier", "full"])
@pytest.mark.parametrize("c", [1e-300, 1e-170, 3e-50, 7.0, 1e160, 1e300])
def test_tree_reproducer_is_scale_free(c, method):
    ref = ae.simulate(_scaled_tree(1.0), 4, method=method)
    tr = ae.simulate(_scaled_tree(c), 4, method=method)
    assert tr.extinct_at is None
    assert np.all(np.isfinite(tr.mean_fitness))
    np.testing.assert_allclose(tr.mean_fitness / c, ref.mean_fitness, rtol=1e-12)
    np.testing.assert_allclose(tr.shares, ref.shares, rtol=1e-12)


@pytest.mark.parametrize("c", [1.0, 1e-200, 1e-300, 1e200, 1e300])
def test_general_reproducer_mutant_grows_at_every_scale(c):
    f = np.array([1.0, 2.0]) * c
    T = [[1 - 1e-130, 1e-130], [0.0, 1.0]]
    tr = ae.simulate(ae.DesignGraph.from_matrix(f, T), 600)
    ex = exact_run(f, T, 600)
    assert tr.mean_fitness[-1] / c == pytest.approx(2.0, rel=1e-12)
    for t in range(0, 601, 50):
        assert rel_err(tr.mean_fitness[t], ex.mean_fitness[t]) <= _bound(t, 2)
    assert rel_err(tr.log_growth[-1], ex.log_growth[-1]) <= 1e-13


@pytest.mark.parametrize("as_tree", [True, False])
def test_subnormal_fitness(as_tree):
    tiny = 5e-324  # the smallest subnormal float64
    g = ae.DesignGraph.tree([-1, 0], [tiny, 2 * tiny], [0, 0.5], self_prob=[0.5, 0.0])
    if not as_tree:
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    tr = ae.simulate(g, 80)
    ex = exact_run(g.fitness, g.T, 80)
    assert not np.isnan(tr.mean_fitness).any() and tr.extinct_at is None
    for t in range(81):
        # F_t is itself subnormal: stored to within one subnormal step 2**-1074
        assert abs(mpmath.mpf(tr.mean_fitness[t]) - ex.mean_fitness[t]) <= 2.0**-1074
    # log N_t carries full precision
    for t in range(1, 81):
        assert rel_err(tr.log_growth[t], ex.log_growth[t]) <= 1e-14


@pytest.mark.parametrize("population", [None, 50])
def test_scale_free_general_and_finite_population(population):
    rng = np.random.default_rng(3)
    n = 6
    A = rng.uniform(0.1, 1.0, (n, n))
    A /= A.sum(axis=1, keepdims=True)
    f = rng.uniform(0.5, 2.0, n)
    ref = ae.simulate(ae.DesignGraph.from_matrix(f, A), 40, population=population,
                      rng=None if population is None else 7)
    for c in (2.0**-1000, 1e-300, 1e300):
        tr = ae.simulate(ae.DesignGraph.from_matrix(f * c, A), 40, population=population,
                         rng=None if population is None else 7)
        np.testing.assert_allclose(tr.mean_fitness / c, ref.mean_fitness, rtol=1e-12)
        np.testing.assert_allclose(tr.shares, ref.shares, rtol=1e-12)


# ---------------------------------------------------------------- 2. no lineage lost
def _rare_lineage_tree(chain_len=1100, f_a=2.0, f_tip=1000.0):
    """root -> A (fitness f_a, copies itself) or -> a chain of programs with f = 1 -> tip."""
    n = 2 + chain_len + 1
    parent = np.concatenate([[-1, 0, 0], np.arange(2, 2 + chain_len - 1), [1 + chain_len]])
    assert parent.size == n
    f = np.ones(n)
    f[1] = f_a
    f[-1] = f_tip
    return ae.DesignGraph.tree(parent, f)  # leaves (A and the tip) copy themselves


@pytest.mark.parametrize("as_tree", [True, False])
def test_exponentially_rare_lineage_is_kept(as_tree):
    g = _rare_lineage_tree()
    if not as_tree:
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    tr = ae.simulate(g, 1300)
    ex = exact_run(g.fitness, g.T, 1300, dps=30)
    assert tr.mean_fitness[-1] == pytest.approx(1000.0, rel=1e-12)
    assert float(ex.log_growth[-1]) == pytest.approx(1373.95, abs=0.005)
    assert rel_err(tr.log_growth[-1], ex.log_growth[-1]) <= 1e-12
    for t in (0, 1, 500, 1100, 1200, 1220, 1250, 1300):
        assert rel_err(tr.mean_fitness[t], ex.mean_fitness[t]) <= _bound(t, 3)
    # A is left with a share of about e^-474
    assert rel_err(tr.shares[1], ex.shares[1]) <= 1e-12
    assert abs(tr.log_shares[1] - log_of(ex.shares[1])) <= 1e-12 * abs(log_of(ex.shares[1]))


def test_share_below_float64_range_recovers():
    """A share that falls to 1e-500 and then takes over (general path)."""
    f = [1.0, 1e-200, 1e6]
    # 0 copies itself; with probability 1e-300 it designs 1, which designs 2
    T = [[1 - 1e-300, 1e-300, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    g = ae.DesignGraph.from_matrix(f, T)
    G = 120
    tr = ae.simulate(g, G, record_shares=[1, 2, 60])
    ex = exact_run(f, T, G)
    assert tr.mean_fitness[-1] == pytest.approx(1e6, rel=1e-12)
    for t in range(G + 1):
        assert rel_err(tr.mean_fitness[t], ex.mean_fitness[t]) <= _bound(t, 3)
    assert tr.shares_at(2)[2] == 0.0  # about 1e-500: below float64, carried exactly
    assert rel_err(tr.log_growth[-1], ex.log_growth[-1]) <= 1e-13


@pytest.mark.parametrize("as_tree", [True, False])
def test_fitness_range_wider_than_float64(as_tree):
    """Fitness 1e-300 next to 1e300: the exact kernel runs from the start."""
    g = ae.DesignGraph.tree([-1, 0], [1e-300, 1e300], [0, 0.5], self_prob=[0.5, 0.0])
    if not as_tree:
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    tr = ae.simulate(g, 30)
    ex = exact_run(g.fitness, g.T, 30)
    for t in range(31):
        assert rel_err(tr.mean_fitness[t], ex.mean_fitness[t]) <= _bound(t, 2)
    assert rel_err(tr.log_growth[-1], ex.log_growth[-1]) <= 1e-13


def test_exact_kernel_matches_fast_kernel_on_ordinary_graphs():
    """The exact continuation agrees with the fast kernels where both apply (40 graphs)."""
    from aievo._kernels import _outputs, run_exact

    rng = np.random.default_rng(11)
    for _ in range(40):
        n = int(rng.integers(2, 9))
        A = rng.uniform(0, 1, (n, n)) * (rng.uniform(0, 1, (n, n)) < 0.5)
        A[np.arange(n), rng.integers(0, n, n)] += 0.5
        A /= A.sum(axis=1, keepdims=True)
        f = rng.uniform(0.2, 3.0, n)
        g = ae.DesignGraph.from_matrix(f, sp.csr_array(A))
        G = 60
        Z = np.ascontiguousarray(rng.normal(size=(1, n)))
        tr = ae.simulate(g, G, traits={"z": Z[0]}, record_shares=[5, 30])
        x0 = np.zeros(n)
        x0[0] = 1.0
        mean_f, log_n, zm, snaps = _outputs(np.int64(G), 1, 2, n)
        x, log_x, ext = run_exact(g.T.indptr, g.T.indices, g.T.data, f, x0, np.int64(0), Z,
                                  np.array([5, 30]), mean_f, log_n, zm, snaps, 0.0, 0.0)
        assert ext == -1
        np.testing.assert_allclose(mean_f, tr.mean_fitness, rtol=_bound(G, n))
        # a sum of logs: the error bound scales with the sum of their magnitudes
        scale = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(tr.log_growth)))])
        assert np.all(np.abs(log_n - tr.log_growth) <= _bound(G, n) * scale)
        np.testing.assert_allclose(x, tr.shares, rtol=_bound(G, n), atol=1e-300)
        np.testing.assert_allclose(snaps, tr.snapshots, rtol=_bound(G, n), atol=1e-300)
        np.testing.assert_allclose(zm[0], tr.trait_means["z"], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- 3. compensated log N
@pytest.mark.parametrize("as_tree", [True, False])
def test_log_growth_long_horizon(as_tree):
    G = 10**6
    g = ae.chain([1.1])
    if not as_tree:
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    tr = ae.simulate(g, G)
    exact = G * mpmath.log(mpmath.mpf(1.1))  # mpf(1.1) is the float64 the run uses
    assert rel_err(tr.log_growth[-1], exact) <= 1e-13
    assert rel_err(tr.log_growth[G // 3], (G // 3) * mpmath.log(mpmath.mpf(1.1))) <= 1e-13


@pytest.mark.slow
def test_log_growth_ten_million_generations():
    G = 10**7
    tr = ae.simulate(ae.chain([1.1]), G)
    assert rel_err(tr.log_growth[-1], G * mpmath.log(mpmath.mpf(1.1))) <= 1e-13


# ---------------------------------------------------------------- 4. extinction
@pytest.mark.parametrize("method", ["frontier", "full"])
@pytest.mark.parametrize("as_tree", [True, False])
def test_extinction_is_explicit_and_never_nan(method, as_tree):
    g = ae.chain([0.0, 1.0])
    if not as_tree:
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    tr = ae.simulate(g, 5, method=method, traits={"z": [1.0, 2.0]}, sets={"first": [0]},
                     record_shares=[0, 3])
    assert tr.extinct and tr.extinct_at == 0
    assert tr.mean_fitness.tolist() == [0.0] * 6
    assert tr.log_growth[0] == 0.0 and np.isneginf(tr.log_growth[1:]).all()
    assert tr.set_shares["first"].tolist() == [1.0, 0, 0, 0, 0, 0]
    assert tr.trait_means["z"][0] == 1.0 and np.isnan(tr.trait_means["z"][1:]).all()
    np.testing.assert_array_equal(tr.shares, [1.0, 0.0])  # at extinct_at, the last individuals
    np.testing.assert_array_equal(tr.shares_at(3), [0.0, 0.0])
    np.testing.assert_array_equal(tr.shares_at(5), [0.0, 0.0])
    assert "extinct_at=0" in repr(tr)
    ex = exact_run(g.fitness, g.T, 5)
    assert ex.extinct_at == tr.extinct_at


def test_extinction_later_and_on_request():
    g = ae.DesignGraph.tree([-1, 0], [2.0, 0.0], [0, 1.0])
    tr = ae.simulate(g, 4)
    assert tr.extinct_at == 1 and tr.mean_fitness.tolist() == [2.0, 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(InvalidParameterError, match="dies out at generation 1"):
        ae.simulate(g, 4, on_extinction="raise")
    assert ae.simulate(g, 1, on_extinction="raise").extinct_at is None  # F_1 is recorded, nothing after
    with pytest.raises(InvalidParameterError, match="on_extinction"):
        ae.simulate(g, 4, on_extinction="ignore")


def test_extinction_finite_population():
    tr = ae.simulate(ae.chain([0.0, 1.0]), 5, population=10, rng=1)
    assert tr.extinct_at == 0 and tr.mean_fitness.tolist() == [0.0] * 6
    assert np.isneginf(tr.log_growth[1:]).all()


def test_extinction_survives_save_load_and_plot(tmp_path):
    import matplotlib.pyplot as plt

    tr = ae.simulate(ae.DesignGraph.tree([-1, 0], [2.0, 0.0], [0, 1.0]), 4)
    back = ae.Trajectory.load(tr.save(tmp_path / "ext"))
    assert back.extinct_at == 1
    np.testing.assert_array_equal(back.mean_fitness, tr.mean_fitness)
    ax = tr.plot()
    assert any("extinct" in line.get_label() for line in ax.get_lines())
    plt.close(ax.figure)


def test_log_shares_round_trip(tmp_path):
    tr = ae.simulate(_rare_lineage_tree(chain_len=400, f_a=8.0), 405)
    assert tr.shares[-1] == 0.0 and -850 < tr.log_shares[-1] < -744  # the tip, about 2**-1165
    back = ae.Trajectory.load(tr.save(tmp_path / "rare"))
    np.testing.assert_array_equal(back.log_shares, tr.log_shares)
