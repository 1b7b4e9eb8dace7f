"""Lineage exponents and clade abundances against the high-precision oracle (aievo.testing.oracle).

Adversarial families, each at a small size here and at full size under ``-m slow``:
ill-conditioned components (a Perron root near a Jordan block), extreme fitness
scales, long cycles, clades dominated by a term of tiny probability. The
assertion is always the certificate: ``lower <= truth <= upper``, plus, where a
closed form makes it possible, a narrow bracket.
"""

import math
import time

import mpmath
import numpy as np
import pytest
import scipy.sparse as sp

import aievo as ae
from aievo.lineage import clade_abundance, lineage_exponents, spectral_radius_bounds
from aievo.testing import oracle


def line(k, eps, *, chord=False, scale=1.0):
    """k programs in a line (copy itself / design the next, 1/2 each, f = 2); the last (f = 1) closes with eps."""
    f = np.array([2.0] * (k - 1) + [1.0]) * scale
    T = np.zeros((k, k))
    for i in range(k - 1):
        T[i, i] = T[i, i + 1] = 0.5
    T[k - 1, k - 1] = 1.0 - eps
    T[k - 1, 0] = eps
    if chord:
        T[0, 1] = T[0, 2] = 0.25
    return ae.type_graph(f, T)


def cycle(f, stay=None):
    L = len(f)
    stay = np.zeros(L) if stay is None else np.asarray(stay)
    idx = np.arange(L)
    T = sp.csr_array(
        (np.concatenate([1.0 - stay, stay]), (np.concatenate([idx, idx]), np.concatenate([(idx + 1) % L, idx]))),
        shape=(L, L),
    )
    T.eliminate_zeros()
    return ae.type_graph(np.asarray(f, dtype=np.float64), T)


def rose_log_rate(weights, lengths, dps=50):
    """``log rho`` of a matrix whose cycles all pass through one program: ``sum_c w_c rho**-len_c = 1``."""
    mp = mpmath.mp
    mp.dps = dps
    w = [mpmath.mpf(x) for x in weights]

    def excess(s):  # decreasing in s = log rho
        return mpmath.fsum(wc * mpmath.exp(-lc * s) for wc, lc in zip(w, lengths)) - 1

    lo, hi = mpmath.mpf(-800), mpmath.mpf(800)
    for _ in range(400):
        mid = (lo + hi) / 2
        if excess(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def assert_contains(lam, truth, v=0):
    # the oracle is accurate to ~1e-30 or better (its bisection width); allow that much
    slack = 1e-25 * max(1.0, abs(float(truth)))
    assert lam.lower[v] - slack <= truth <= lam.upper[v] + slack, (lam.lower[v], float(truth), lam.upper[v])
    assert lam.certified[v]


@pytest.mark.parametrize(("k", "exact"), [(5, 9.999995000003334e-07), (30, 0.09531017980432487)])
def test_ill_conditioned_line_reproducers(k, exact):
    # the dense 1e-12 * rowsum bound returned 0.0 +- 2e-12 for both
    g = line(k, 1e-30)
    truth = oracle.lineage_exponent(g, dps=80, rel=1e-65)[0]
    assert float(truth) == pytest.approx(exact, rel=1e-12)
    lam = lineage_exponents(g)
    assert_contains(lam, truth)
    assert lam.upper[0] - lam.lower[0] <= 1e-9 * abs(float(truth))  # a cycle with self-loops: closed form
    assert lam.value[0] == pytest.approx(float(truth), rel=1e-9)


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1.0, 1e150, 1e300])
@pytest.mark.parametrize("chord", [False, True])
def test_ill_conditioned_lines_at_every_scale(scale, chord):
    # with a chord the component is no cycle: eigenvectors are poor (a Perron root near a Jordan block)
    g = line(6, 1e-40, chord=chord, scale=scale)
    truth = oracle.lineage_exponent(g, dps=80, rel=1e-65)[0]
    lam = lineage_exponents(g)
    for v in range(g.n):
        assert_contains(lam, truth, v)
    if not chord:  # a cycle with self-loops: its closed form
        assert lam.upper[0] - lam.lower[0] <= 1e-12 * max(1.0, abs(float(truth)))
    else:  # the rounded M-matrix bisection on rho - max diagonal, to rtol = 1e-10: relative, even for 1e-7
        assert lam.upper[0] - lam.lower[0] <= 2e-10 * abs(float(truth)) + 1e-14 * max(1.0, abs(float(truth)))


def test_large_cycle_with_one_huge_fitness():
    # 201-cycle, f = 1 except f_0 = 1e30: exact log(1e30) / 201 = 0.3437 (lo = min(ratio) - shift gave 0)
    f = np.ones(201)
    f[0] = 1e30
    lam = lineage_exponents(cycle(f))
    truth = mpmath.log(mpmath.mpf(1e30)) / 201
    assert float(truth) == pytest.approx(0.3437, abs=1e-4)
    assert_contains(lam, truth)
    assert lam.error_bound[0] <= 1e-14


def test_large_component_that_is_no_cycle():
    # the 201-cycle plus a chord: the iterative path, whose bracket must hold (Collatz-Wielandt on A, no shift)
    L = 201
    f = np.ones(L)
    f[0] = 1e30
    T = sp.lil_array((L, L))
    for i in range(L):
        T[i, (i + 1) % L] = 1.0
    T[5, 6] = 0.5
    T[5, 100] = 0.5
    g = ae.type_graph(f, sp.csr_array(T))
    lam = lineage_exponents(g)
    # every cycle passes through program 5: the whole one (201 steps) and 100 -> ... -> 5 -> 100 (106 steps),
    # each with weight 1e30 / 2
    truth = rose_log_rate([0.5e30, 0.5e30], [201, 106])
    assert_contains(lam, truth)


def test_spectral_radius_bounds_contain_rho_without_cancellation():
    L = 300
    A = sp.lil_array((L, L))
    for i in range(L):
        A[i, (i + 1) % L] = 1.0
    A[0, 1] = 1e30
    A[7, 8] = 0.5
    A[7, 150] = 0.5
    lo, hi, est = spectral_radius_bounds(sp.csr_array(A))
    # cycles through program 7: the whole one (300 steps) and 150 -> ... -> 7 -> 150 (157 steps)
    truth = mpmath.exp(rose_log_rate([0.5e30, 0.5e30], [300, 157]))
    assert lo <= truth <= hi
    assert lo <= est <= hi


@pytest.mark.parametrize("L", [1000, 20_000])
def test_long_cycle_is_its_closed_form(L):
    rng = np.random.default_rng(L)
    f = np.exp(rng.uniform(-5, 5, L))
    p = rng.uniform(0.1, 0.9, L)
    g = cycle(f, stay=1.0 - p)  # designs the next with p_i, copies itself with 1 - p_i
    lam = lineage_exponents(g)
    assert lam.error_bound[0] <= 1e-12
    # without self-loops the exponent is the mean of log(f_i) over the cycle, exactly
    g0 = cycle(f)
    lam0 = lineage_exponents(g0)
    truth = mpmath.fsum(mpmath.log(mpmath.mpf(float(x))) for x in f) / L
    assert_contains(lam0, truth)
    assert lam0.error_bound[0] <= 1e-13


def test_cycle_with_self_loops_against_the_oracle():
    rng = np.random.default_rng(5)
    L = 25
    f = 10.0 ** rng.uniform(-20, 20, L)
    g = cycle(f, stay=rng.uniform(0.0, 0.999, L))
    truth = oracle.lineage_exponent(g, dps=60, rel=1e-40)[0]
    lam = lineage_exponents(g)
    assert_contains(lam, truth)
    assert lam.error_bound[0] <= 1e-12 * max(1.0, abs(float(truth)))


@pytest.mark.parametrize("seed", range(6))
def test_random_components_at_extreme_scales(seed):
    rng = np.random.default_rng(seed)
    n = 7
    T = rng.uniform(size=(n, n)) * (rng.uniform(size=(n, n)) < 0.5) + np.roll(np.eye(n), 1, axis=1) * 1e-12
    T /= T.sum(axis=1, keepdims=True)
    f = 10.0 ** rng.uniform(-150, 150, n)
    g = ae.type_graph(f, T)
    truth = oracle.lineage_exponent(g, dps=60, rel=1e-40)
    lam = lineage_exponents(g)
    for v in range(n):
        assert_contains(lam, truth[v], v)


def test_fitness_only_exponents_carry_a_bound():
    g = ae.type_graph([4.0, 1.0, 3.0], [[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    lam = lineage_exponents(g, include_design=False)
    assert lam.lower[0] <= math.log(3.0) <= lam.upper[0]  # max(log(4*1)/2, log 3) = log 3
    assert lam.error_bound[0] <= 1e-13


# ---------------------------------------------------------------------- clade abundance kernel
def test_clade_estimate_of_a_tiny_fitness_returns():
    g = ae.chain([1e-200, 0.5])
    t0 = time.perf_counter()
    lam = lineage_exponents(g, "estimate", horizon=200)
    assert time.perf_counter() - t0 < 60.0  # it used to loop forever
    # N^0_t = 1e-200 * 0.5**(t-1), N^1_t = 0.5**t
    assert lam.value[1] == pytest.approx(math.log(0.5), rel=1e-13)
    assert lam.value[0] == pytest.approx((math.log(1e-200) + 199 * math.log(0.5)) / 200, rel=1e-13)


def test_clade_keeps_a_dominant_term_of_tiny_probability():
    f = [1.0, math.exp(0.5), 1.0]
    g = ae.DesignGraph.from_matrix(f, [[0, 1e-140, 1], [0, 1, 0], [0, 0, 1]])
    got = clade_abundance(g, 640)[0]
    mp = mpmath.mp
    mp.dps = 40
    truth = mpmath.log(mpmath.mpf(1e-140) * mpmath.mpf(f[1]) ** 639 + 1)
    assert float(truth) == pytest.approx(0.0556, abs=1e-4)
    assert got == pytest.approx(float(truth), rel=1e-12)
    assert oracle.log_clade_abundance(g, 640)[0] == pytest.approx(float(truth), rel=1e-15)


@pytest.mark.parametrize("m", [5, 60])
def test_clade_of_a_rare_deep_lineage(m):
    # root -> A (f = 2, copies itself) w.p. 1 - 1e-150, or a chain of m programs f = 1 ending in f = 1000
    n = m + 3
    T = np.zeros((n, n))
    T[0, 1], T[0, 2] = 1.0 - 1e-150, 1e-150
    T[1, 1] = 1.0
    for i in range(2, 2 + m):
        T[i, i + 1] = 1.0
    T[n - 1, n - 1] = 1.0
    f = np.ones(n)
    f[1], f[n - 1] = 2.0, 1000.0
    g = ae.type_graph(f, T)
    t = 300
    want = oracle.log_clade_abundance(g, t)
    got = clade_abundance(g, t)
    for v in range(n):
        assert got[v] == pytest.approx(float(want[v]), rel=1e-12, abs=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("k", [10, 20, 40, 60])
@pytest.mark.parametrize("eps_exp", [-10, -60, -200, -300])
def test_full_size_ill_conditioned_lines(k, eps_exp):
    g = line(k, 10.0**eps_exp)
    truth = oracle.lineage_exponent(g, dps=120, rel=1e-90)[0]
    lam = lineage_exponents(g)
    assert_contains(lam, truth)
    gc = line(k, 10.0**eps_exp, chord=True)
    truth = oracle.lineage_exponent(gc, dps=120, rel=1e-90)[0]
    assert_contains(lineage_exponents(gc), truth)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_full_size_random_dense_components(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(15, 40))
    T = rng.uniform(size=(n, n)) ** 8 * (rng.uniform(size=(n, n)) < 0.2) + np.roll(np.eye(n), 1, axis=1) * 1e-20
    T /= T.sum(axis=1, keepdims=True)
    f = 10.0 ** rng.uniform(-100, 100, n)
    g = ae.type_graph(f, T)
    truth = oracle.lineage_exponent(g, dps=60, rel=1e-40)
    lam = lineage_exponents(g)
    for v in range(n):
        assert_contains(lam, truth[v], v)


@pytest.mark.slow
@pytest.mark.parametrize("L", [500, 2000])
def test_full_size_long_cycles_with_self_loops(L):
    rng = np.random.default_rng(L)
    f = 10.0 ** rng.uniform(-30, 30, L)
    g = cycle(f, stay=rng.uniform(0.0, 0.999, L))
    lo, hi = oracle.lineage_exponent_interval(g, dps=50, rel=1e-35)[0]
    lam = lineage_exponents(g)
    assert lam.lower[0] <= hi and lo <= lam.upper[0]
    assert lam.error_bound[0] <= 1e-12 * max(1.0, abs(float(lo)))


@pytest.mark.slow
@pytest.mark.parametrize("m", [200, 1100])
def test_full_size_rare_deep_lineage_clades(m):
    n = m + 3
    T = sp.lil_array((n, n))
    T[0, 1], T[0, 2] = 1.0 - 1e-300, 1e-300
    T[1, 1] = 1.0
    for i in range(2, 2 + m):
        T[i, i + 1] = 1.0
    T[n - 1, n - 1] = 1.0
    f = np.ones(n)
    f[1], f[n - 1] = 2.0, 1000.0
    g = ae.type_graph(f, sp.csr_array(T))
    t = m + 200
    got = clade_abundance(g, t)[0]
    want = oracle.log_clade_abundance(g, t, dps=30)[0]
    assert got == pytest.approx(float(want), rel=1e-12)
