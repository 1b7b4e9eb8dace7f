"""High-precision oracles for aievo's numerical results (mpmath and fractions).

Slow, simple and independent of the package's kernels: they take the float
inputs as exact numbers and compute the quantity the package approximates,
with mpmath at a chosen number of digits or exactly with fractions. The
verification suite (``tests/verification``) runs them against adversarial
families. mpmath is imported when a function is called (it is in the ``dev``
extra, not a runtime dependency).

* :func:`perron_log_rate`: ``log rho`` of a nonnegative irreducible matrix by
  bisection on ``lambda``, deciding ``lambda > rho`` by whether ``lambda I - A``
  is a nonsingular M-matrix (every pivot of Gaussian elimination without
  pivoting positive), at ``dps`` digits. No eigen-solver, so defective and
  ill-conditioned Perron roots are no harder than others.
* :func:`lineage_exponent`: the exact lineage exponent of every program of a
  graph (the largest ``log rho`` over the components reachable from it).
* :func:`log_clade_abundance`: ``log N_t^v = log (M^t 1)_v`` with mpmath.
* :func:`price_terms`: the Price terms with fractions (exact).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["lineage_exponent", "lineage_exponent_interval", "log_clade_abundance", "perron_log_rate", "price_terms"]


def _mp(dps: int) -> Any:
    import mpmath

    ctx = mpmath.mp.clone() if hasattr(mpmath.mp, "clone") else mpmath.mp
    ctx.dps = dps
    return ctx


class _Sparse:
    """Rows of a square mpmath matrix as ``{column: value}`` dicts (nonzeros only)."""

    def __init__(self, A: list[list[Any]]) -> None:
        self.rows = [{j: v for j, v in enumerate(r) if v != 0} for r in A]

    def __len__(self) -> int:
        return len(self.rows)


def _is_above(A: list[list[Any]] | _Sparse, lam: Any, mp: Any) -> bool:
    """Whether ``lam > rho(A)`` for irreducible nonnegative ``A`` (positive pivots of ``lam I - A``).

    Sparse Gaussian elimination without pivoting (rows as dicts, a column
    index of the rows below the pivot), so cycles and chains cost ``O(k)``.
    """
    k = len(A)
    if isinstance(A, _Sparse):
        rows = [{j: -v for j, v in r.items() if j != i} for i, r in enumerate(A.rows)]
        for i in range(k):
            rows[i][i] = lam - A.rows[i].get(i, 0)
    else:
        rows = [{j: -A[i][j] for j in range(k) if A[i][j] != 0 and j != i} for i in range(k)]
        for i in range(k):
            rows[i][i] = lam - A[i][i]
    cols: list[set[int]] = [set() for _ in range(k)]
    for i in range(k):
        for j in rows[i]:
            cols[j].add(i)
    for p in range(k):
        piv = rows[p].get(p, 0)
        if piv <= 0:
            return False
        below = [i for i in cols[p] if i > p]
        row_p = [(j, v) for j, v in rows[p].items() if j > p and v != 0]
        for i in below:
            m = rows[i].pop(p) / piv
            cols[p].discard(i)
            if m == 0:
                continue
            ri = rows[i]
            for j, v in row_p:
                if j in ri:
                    ri[j] -= m * v
                else:
                    ri[j] = -m * v
                    cols[j].add(i)
    return True


def perron_log_rate(A: Any, *, dps: int = 60, rel: float = 1e-30) -> Any:
    """``log rho(A)`` of a nonnegative irreducible matrix, as an mpmath number.

    Parameters
    ----------
    A : array_like, shape (k, k)
        Float entries, taken as exact.
    dps : int
        Working digits (raise for nearly defective matrices: an entry ``eps``
        closing a ``k``-chain of equal diagonals needs about ``-log10(eps)/k``
        digits more than the answer's).
    rel : float
        Relative width at which the bisection on ``rho`` stops.
    """
    mp = _mp(dps)
    A = np.asarray(A, dtype=np.float64)
    k = A.shape[0]
    return _perron_mp([[mp.mpf(float(A[i, j])) for j in range(k)] for i in range(k)], mp, rel)


def lineage_exponent(g: Any, *, dps: int = 60, rel: float = 1e-30) -> list[Any]:
    """The exact exponent ``lambda(v)`` of every program, as mpmath numbers (``-inf`` for extinction).

    Accurate to a relative ``rel`` in ``rho`` (so an absolute ``rel`` in the
    exponent); :func:`lineage_exponent_interval` gives the enclosing interval.
    """
    return [(lo + hi) / 2 if lo != hi else lo for lo, hi in _lineage_impl(g, dps, rel)]


def lineage_exponent_interval(g: Any, *, dps: int = 60, rel: float = 1e-30) -> list[tuple[Any, Any]]:
    """``(lo, hi)`` with ``lo <= lambda(v) <= hi`` for every program (``hi / lo`` of ``rho`` within ``rel``)."""
    return _lineage_impl(g, dps, rel)


def _lineage_impl(g: Any, dps: int, rel: float) -> list[tuple[Any, Any]]:
    from scipy.sparse.csgraph import connected_components

    mp = _mp(dps)
    T = g.T.toarray()
    f = np.asarray(g.fitness, dtype=np.float64)
    pattern = (T > 0) & (f[:, None] > 0)
    n_comp, comp = connected_components(pattern.astype(float), directed=True, connection="strong")
    rate = []
    for c in range(n_comp):
        idx = np.flatnonzero(comp == c)
        sub = pattern[np.ix_(idx, idx)]
        if idx.size == 1 and not sub[0, 0]:
            rate.append((mp.ninf, mp.ninf))
            continue
        if idx.size == 1:
            r = mp.log(mp.mpf(float(f[idx[0]]))) + mp.log(mp.mpf(float(T[idx[0], idx[0]])))
            eps = abs(r) * mp.mpf(10) ** (-dps + 5)
            rate.append((r - eps, r + eps))
            continue
        # the exact products f * T (106 bits: exact at dps >= 33)
        k = idx.size
        M = [[mp.mpf(float(f[idx[i]])) * mp.mpf(float(T[idx[i], idx[j]])) for j in range(k)] for i in range(k)]
        rate.append(_perron_bracket(M, mp, rel))
    reach: list[set[int]] = [set() for _ in range(n_comp)]
    for v in range(g.n):
        for w in np.flatnonzero(pattern[v]):
            if comp[v] != comp[w]:
                reach[comp[v]].add(int(comp[w]))
    best: dict[int, Any] = {}

    def visit(c: int) -> Any:
        if c in best:
            return best[c]
        lo, hi = rate[c]
        for d in reach[c]:
            a, b = visit(d)
            lo, hi = max(lo, a), max(hi, b)
        best[c] = (lo, hi)
        return best[c]

    return [visit(int(comp[v])) for v in range(g.n)]


def _perron_mp(M: list[list[Any]], mp: Any, rel: float) -> Any:
    lo, hi = _perron_bracket(M, mp, rel)
    return (lo + hi) / 2


def _perron_bracket(M: list[list[Any]], mp: Any, rel: float) -> tuple[Any, Any]:
    """``(log lo, log hi)`` with ``lo < rho <= hi`` from the M-matrix bisection."""
    k = len(M)
    rows = [mp.fsum(r) for r in M]
    diag = [M[i][i] for i in range(k)]
    S = _Sparse(M)
    hi = max(rows) * (1 + mp.mpf(2) ** -40)
    lo = max(max(diag), min(rows))
    if hi <= 0:
        return mp.ninf, mp.ninf
    if lo <= 0 or _is_above(S, lo, mp):
        lo = hi
        while _is_above(S, lo, mp):
            lo /= 2**20
    for _ in range(100000):
        if hi - lo <= rel * hi:
            break
        mid = mp.sqrt(lo * hi) if hi > 4 * lo else (lo + hi) / 2
        if _is_above(S, mid, mp):
            hi = mid
        else:
            lo = mid
    return mp.log(lo), mp.log(hi)


def log_clade_abundance(g: Any, t: int, *, dps: int = 40) -> list[Any]:
    """``log N_t^v`` for every program, by ``t`` exact-input mpmath steps of ``a <- M a``."""
    mp = _mp(dps)
    T = g.T.tocsr()
    f = [mp.mpf(float(x)) for x in g.fitness]
    data = [mp.mpf(float(x)) for x in T.data]
    a = [mp.mpf(1)] * g.n
    for _ in range(t):
        a = [
            f[v] * mp.fsum(data[e] * a[int(T.indices[e])] for e in range(T.indptr[v], T.indptr[v + 1]))
            for v in range(g.n)
        ]
    return [mp.log(x) if x > 0 else mp.ninf for x in a]


def price_terms(f: Any, T: Any, x: Any, z: Any) -> dict[str, Fraction]:
    """The Price terms exactly (fractions), for shares ``x`` normalised to sum 1.

    Returns ``selection = Cov(f, z) / F``, ``transmission = E[f (z~ - z)] / F``,
    ``total = zbar' - zbar``, ``fisher = Var(f) / F`` and ``mean_fitness = F``.
    """
    f = [Fraction(float(v)) for v in np.asarray(f, dtype=np.float64)]
    z = [Fraction(float(v)) for v in np.asarray(z, dtype=np.float64)]
    x = [Fraction(float(v)) for v in np.asarray(x, dtype=np.float64)]
    s = sum(x)
    x = [v / s for v in x]
    T = np.asarray(T.toarray() if hasattr(T, "toarray") else T, dtype=np.float64)
    n = len(f)
    Tq = [[Fraction(float(T[i, j])) for j in range(n)] for i in range(n)]
    F = sum(xi * fi for xi, fi in zip(x, f))
    zbar = sum(xi * zi for xi, zi in zip(x, z))
    zt = [sum(Tq[i][j] * z[j] for j in range(n)) for i in range(n)]
    cov = sum(x[i] * (f[i] - F) * (z[i] - zbar) for i in range(n))
    var = sum(x[i] * (f[i] - F) ** 2 for i in range(n))
    trans = sum(x[i] * f[i] * (zt[i] - z[i]) for i in range(n)) / F
    q = [sum(x[i] * f[i] * Tq[i][j] for i in range(n)) / F for j in range(n)]
    total = sum(q[j] * z[j] for j in range(n)) - zbar
    return {"selection": cov / F, "transmission": trans, "total": total, "fisher": var / F, "mean_fitness": F}
