"""The example conjecture of docs/explanation/results.md, as a user would write it."""

import numpy as np
from hypothesis import given

from aievo.lineage import lineage_exponents
from aievo.testing import strategies as aest


@given(case=aest.locked_trees())
def test_locking_lifts_the_root_exponent_to_log_fstar(case):
    g, eta = case
    lam = lineage_exponents(g).value[g.root]
    assert abs(lam - np.log(g.F_star)) <= 1e-9
