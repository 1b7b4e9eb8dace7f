"""Price decomposition: hand-computed cases, Fisher's theorem, trajectories and bad input."""

from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import pytest
import scipy.sparse as sp

import aievo as ae
from aievo.errors import InvalidParameterError, ShapeError
from aievo.price import PriceDecomposition, price_along, price_decomposition


def test_falling_fitness_by_hand():
    # f = (2, 1), x = (1/2, 1/2), 0 designs 1, 1 copies itself. By hand (exact fractions):
    F = Fraction(3, 2)
    cov = Fraction(1, 2) * (2 - F) * (2 - F) + Fraction(1, 2) * (1 - F) * (1 - F)  # Cov(f, f)
    trans = Fraction(1, 2) * 2 * (1 - 2)  # E[f (f~ - f)], f~ = (1, 1)
    p = price_decomposition(ae.chain([2.0, 1.0]), [0.5, 0.5])
    assert isinstance(p, PriceDecomposition)
    assert p.selection == pytest.approx(float(cov / F), abs=1e-15)
    assert p.transmission == pytest.approx(float(trans / F), abs=1e-15)
    assert p.total == pytest.approx(1.0 - 1.5, abs=1e-15)  # all offspring are program 1
    assert p.fisher == pytest.approx(float(cov / F), abs=1e-15)
    assert abs(p.residual) <= 1e-15
    assert (p.mean_fitness, p.mean_trait, p.next_mean_trait) == (1.5, 1.5, 1.0)


def test_trait_by_attribute_name_and_array_agree():
    g = ae.chain([1.0, 2.0, 3.0]).with_attrs(z=np.array([0.0, 5.0, -1.0]))
    x = np.array([0.2, 0.3, 0.5])
    a = price_decomposition(g, x, "z")
    b = price_decomposition(g, x, np.array([0.0, 5.0, -1.0]))
    assert a == b
    # by hand: F = 0.2 + 0.6 + 1.5 = 2.3; next shares (0, 0.2, 0.6 + 1.5)/2.3
    assert a.total == pytest.approx((0.2 * 5 + 2.1 * -1) / 2.3 - (1.5 - 0.5), abs=1e-14)


def test_fisher_with_identity_design():
    f = np.array([0.5, 1.0, 3.0])
    g = ae.DesignGraph.from_matrix(f, sp.eye_array(3, format="csr"))
    x = np.array([0.5, 0.25, 0.25])
    p = price_decomposition(g, x)
    F = x @ f
    assert p.transmission == 0.0
    assert p.total == pytest.approx(x @ (f - F) ** 2 / F, rel=1e-14)
    tr = ae.simulate(g, 1, initial=x)
    assert tr.mean_fitness[1] - tr.mean_fitness[0] == pytest.approx(p.fisher, rel=1e-12)


def test_price_along_from_generations_and_from_a_trajectory():
    g = ae.with_locking(ae.chain([2.0, 1.0, 1.5]), 0.3)
    G = 12
    a = price_along(g, G)
    tr = ae.simulate(g, G, record_shares=range(G))
    b = price_along(g, tr)
    np.testing.assert_allclose(a.total, b.total, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.total, np.diff(tr.mean_fitness), rtol=1e-9, atol=1e-12)
    assert a.generations == G
    for t in (0, 5, 11):
        p = price_decomposition(g, tr.shares_at(t))
        assert a.selection[t] == pytest.approx(p.selection, rel=1e-12)
    ax = a.plot()
    assert len(ax.get_lines()) == 4  # three series and the zero line
    plt.close(ax.figure)


def test_bad_input_is_refused():
    g = ae.chain([1.0, 2.0])
    with pytest.raises(InvalidParameterError, match="shares.sum"):
        price_decomposition(g, [0.5, 0.6])
    with pytest.raises(InvalidParameterError, match="shares"):
        price_decomposition(g, [1.5, -0.5])
    with pytest.raises(ShapeError, match="shares"):
        price_decomposition(g, [1.0, 0.0, 0.0])
    with pytest.raises(ShapeError, match="trait"):
        price_decomposition(g, [1.0, 0.0], [1.0])
    with pytest.raises(InvalidParameterError, match="trait"):
        price_decomposition(g, [1.0, 0.0], "nope")
    with pytest.raises(InvalidParameterError, match="extinct"):
        price_decomposition(ae.chain([0.0, 1.0]), [1.0, 0.0])
    with pytest.raises(InvalidParameterError, match="run"):
        price_along(g, -1)
    with pytest.raises(InvalidParameterError, match="record_shares"):
        price_along(g, ae.simulate(g, 5))
    with pytest.raises(InvalidParameterError, match="extinct"):
        price_along(ae.chain([1.0, 0.0, 1.0]), 5)
