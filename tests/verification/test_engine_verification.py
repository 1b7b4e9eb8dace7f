"""Verification of the deterministic engine against the mpmath oracle on adversarial families.

Each Hypothesis example draws a small graph from one family, runs
:func:`aievo.simulate` and the oracle of :mod:`tests.verification.engine_oracle`
(50 digits, unbounded exponent) and checks every ``F_t``, every ``log N_t``,
the final (log) shares and ``extinct_at``:

* **scaled**: random kernels with design probabilities down to ``1e-300``,
  fitness spread over up to 60 orders of magnitude, everything multiplied by
  a global scale from ``2**-1070`` (subnormal) to ``2**1000``;
* **rare lineage**: a fast self-copying program next to a long chain that ends
  in a fitter program, so that the chain's share falls far below ``1e-308``
  before it takes over;
* **trees**: random trees with self-loops at extreme scale (the gather kernel).

Tolerance: shares are sums of positive terms, so each generation adds a few
roundings per entry: relative ``(G + 2)(n + 2) 4 eps`` for shares and ``F_t``
(``F_t`` below the normal range is stored to one subnormal step), and the
same factor times ``t + sum_s |log F_s|`` for ``log N_t`` (a sum of logs, each
with the relative error of its ``F_s``). Run
``HYPOTHESIS_PROFILE=deep python -m pytest tests/verification`` for a long search.
"""

import math

import mpmath
import numpy as np
import scipy.sparse as sp
from hypothesis import event, given
from hypothesis import strategies as st

import aievo as ae

from .engine_oracle import exact_run

EPS = 2.0**-53


@st.composite
def scales(draw):
    """A global fitness scale ``m * 2**k`` from subnormal to 2**1000."""
    k = draw(st.integers(-1070, 1000))
    return math.ldexp(draw(st.floats(0.5, 1.0)), k)


@st.composite
def scaled_graphs(draw):
    n = draw(st.integers(2, 6))
    c = draw(scales())
    spread = draw(st.integers(0, 60))
    logs = draw(st.lists(st.floats(-spread, 0.0), min_size=n, max_size=n))
    f = np.array([c * 10.0**v for v in logs])
    if draw(st.booleans()):
        f[draw(st.integers(0, n - 1))] = 0.0  # a sterile program
    A = np.zeros((n, n))
    for v in range(n):
        k = draw(st.integers(1, n))
        cols = draw(st.permutations(range(n)))[:k]
        for w in cols:
            tiny = draw(st.booleans()) and draw(st.booleans())
            A[v, w] = 10.0 ** -draw(st.floats(0.0, 300.0)) if tiny else draw(st.floats(0.05, 1.0))
        if A[v].max() < 0.05:
            A[v, cols[0]] = 1.0
    A /= A.sum(axis=1, keepdims=True)
    G = draw(st.integers(1, 120))
    return ae.DesignGraph.from_matrix(f, sp.csr_array(A)), G


@st.composite
def rare_lineage_graphs(draw):
    L = draw(st.integers(1, 30))
    c = draw(scales())
    depth = draw(st.integers(100, 3000))  # the chain's share falls to about 2**-depth
    fa = 2.0 ** min(1000, -(-depth // L))
    n = L + 3
    parent = np.concatenate([[-1, 0, 0], np.arange(2, 2 + L - 1), [1 + L]]).astype(np.int64)
    f = np.ones(n)
    f[1] = fa
    f[-1] = fa * 2.0 ** draw(st.floats(-1.0, 12.0))
    f = f * min(c, 2.0**1000 / f.max())  # keep the largest fitness finite
    g = ae.DesignGraph.tree(parent, f, self_prob=None)
    G = draw(st.integers(L, L + 90))
    if draw(st.booleans()):
        g = ae.DesignGraph.from_matrix(g.fitness, g.T)
    return g, G


@st.composite
def extreme_trees(draw):
    n = draw(st.integers(2, 10))
    parent = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    c = draw(scales())
    f = np.array([c * 10.0 ** draw(st.floats(-3.0, 0.0)) for _ in range(n)])
    self_prob = np.array([draw(st.sampled_from([0.0, 0.0, 0.3, 1e-200])) for _ in range(n)])
    children = np.bincount(np.array(parent[1:]), minlength=n)
    self_prob[children == 0] = 0.0  # leaves copy themselves with probability 1 anyway
    prob = np.zeros(n)
    for w in range(1, n):
        p = parent[w]
        prob[w] = (1.0 - self_prob[p]) / children[p]
    g = ae.DesignGraph.tree(parent, f, prob, self_prob=self_prob)
    return g, draw(st.integers(1, 40))


def _check(g, G):
    tr = ae.simulate(g, G)
    event("exact kernel ran" if tr._log_shares is not None else "fast kernel only")
    ex = exact_run(g.fitness, g.T, G)
    bound = (G + 2) * (g.n + 2) * 4 * EPS
    assert tr.extinct_at == ex.extinct_at
    assert not np.isnan(tr.mean_fitness).any() and not np.isnan(tr.log_growth).any()
    scale = mpmath.mpf(0)
    for t in range(G + 1):
        F, Fx = mpmath.mpf(tr.mean_fitness[t]), ex.mean_fitness[t]
        assert abs(F - Fx) <= bound * Fx + 2.0**-1074, (t, F, Fx)
        if t >= 1 and ex.extinct_at is None:
            scale += abs(ex.log_growth[t] - ex.log_growth[t - 1])
            assert abs(tr.log_growth[t] - ex.log_growth[t]) <= bound * (t + scale), t
    for v in range(g.n):
        xv = ex.shares[v]
        if xv == 0:
            assert tr.shares[v] == 0.0 and tr.log_shares[v] == -math.inf
        else:
            lx = mpmath.log(xv)
            # relative error of the share, plus the rounding of the log itself
            assert abs(tr.log_shares[v] - lx) <= 2 * bound + 4 * EPS * abs(lx), (v, tr.log_shares[v], lx)
            assert abs(mpmath.mpf(tr.shares[v]) - xv) <= 2 * bound * xv + 2.0**-1074


@given(scaled_graphs())
def test_scaled_graphs_match_the_oracle(case):
    _check(*case)


@given(rare_lineage_graphs())
def test_rare_lineages_match_the_oracle(case):
    _check(*case)


@given(extreme_trees())
def test_extreme_trees_match_the_oracle(case):
    _check(*case)
