"""Properties over adversarial families: the certified bracket contains the high-precision truth.

Run long with ``HYPOTHESIS_PROFILE=deep`` (2,000 examples per property).
"""

import mpmath
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from aievo.lineage import clade_abundance, lineage_exponents
from aievo.testing import oracle
from aievo.testing import strategies as aest


@given(g=aest.adversarial_graphs())
def test_certified_bracket_contains_the_high_precision_truth(g):
    lam = lineage_exponents(g)
    # the oracle's own interval (width ~1e-65 in rho) encloses the truth: the brackets must meet
    truth = oracle.lineage_exponent_interval(g, dps=80, rel=1e-65)
    for v in range(g.n):
        assert lam.certified[v]
        lo, hi = truth[v]
        if hi == mpmath.ninf:
            assert lam.upper[v] == -np.inf
        else:
            assert lam.lower[v] <= hi and lo <= lam.upper[v], (v, lam.lower[v], float(lo), float(hi), lam.upper[v])
        assert lam.lower[v] <= lam.value[v] <= lam.upper[v]


@given(g=aest.long_cycles(max_length=40, fitness_exp=300.0))
def test_cycles_get_narrow_certified_brackets(g):
    lam = lineage_exponents(g)
    lo, hi = oracle.lineage_exponent_interval(g, dps=80, rel=1e-65)[0]
    assert lam.lower[0] <= hi and lo <= lam.upper[0]
    assert lam.upper[0] - lam.lower[0] <= 1e-12 * max(1.0, abs(float(lo)))


@given(g=st.one_of(aest.rare_lineage_graphs(), aest.extreme_type_graphs(max_types=5)), t=st.integers(1, 120))
def test_clade_abundance_matches_the_oracle(g, t):
    got = clade_abundance(g, t)
    want = oracle.log_clade_abundance(g, t, dps=40)
    for v in range(g.n):
        if want[v] == mpmath.ninf:
            assert got[v] == -np.inf
        else:
            # each step rounds relatively (a few u per edge), so log N drifts by at most ~ t * deg * u
            assert abs(got[v] - float(want[v])) <= 1e-13 * t * 4 + 1e-12 * abs(float(want[v])) * 1e-3
