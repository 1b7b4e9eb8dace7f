"""Certified brackets of Perron roots, computed in floating point with outward rounding.

Everything here proves ``lo <= rho <= hi`` for the spectral radius ``rho`` of
the *exact* matrix ``diag(f) T`` built from the float inputs ``f`` and ``T``,
not of its rounded product:

* :func:`cw_bounds`: Collatz-Wielandt bounds ``min_i (A x)_i / x_i <= rho <=
  max_i (A x)_i / x_i`` for any positive ``x``, with the rounding of the stored
  entries (``fl(f T)``, relative ``u = 2**-53``), of the sums (``gamma_n``) and
  of underflow (an absolute ``2**-1074`` per operation) added outward. A poor
  ``x`` gives a wide bracket, never a wrong one.
* :func:`cycle_log_bracket`: the closed form of a component that is one cycle
  through all its programs, with or without self-loops:
  ``prod_i (rho - d_i) = prod_i c_i`` on ``rho > max_i d_i``, solved by a
  bisection whose every decision is certified by interval evaluation in the
  log domain (so a 20,000-cycle, a 1e30 fitness on a 201-cycle or a
  ``1e-30`` closing probability cost nothing and lose nothing).
* :func:`down` / :func:`up`: outward rounding by whole ulps (``numpy``'s
  ``log``/``exp`` are within a few ulps; four ulps are added to every result).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "TINY", "U", "cw_bounds", "cycle_log_bracket", "down", "log_bracket", "mmatrix_log_bracket", "mmatrix_side",
    "product_error", "up",
]

#: Unit roundoff of float64.
U = 2.0**-53
#: Smallest positive subnormal: the absolute error of an operation that underflows.
TINY = 2.0**-1074
#: Ulps added outward after a libm-style function (log, log1p, exp, logaddexp).
FUNC_ULPS = 4


def down(v, ulps: int = 1):
    """``v`` moved ``ulps`` floats towards ``-inf`` (elementwise)."""
    v = np.asarray(v, dtype=np.float64)
    for _ in range(ulps):
        v = np.nextafter(v, -np.inf)
    return v


def up(v, ulps: int = 1):
    """``v`` moved ``ulps`` floats towards ``+inf`` (elementwise)."""
    v = np.asarray(v, dtype=np.float64)
    for _ in range(ulps):
        v = np.nextafter(v, np.inf)
    return v


def cw_bounds(Ax: np.ndarray, x: np.ndarray, nnz: np.ndarray) -> tuple[Any, Any]:  # floats, or arrays
    """Certified Collatz-Wielandt bracket from ``Ax = fl(A @ x)`` and a positive ``x``.

    Parameters
    ----------
    Ax : ndarray, shape (..., k)
        The computed product (any summation order).
    x : ndarray, shape (..., k)
        The nonnegative vector used (exact as stored). Rows with ``x_i = 0``
        are skipped by the lower bound (``A x >= s x`` with ``x >= 0, x != 0``
        proves ``rho >= s``); they make the upper bound ``inf``.
    nnz : ndarray or int
        Terms per row of the product (bounds its summation error ``gamma_nnz``).

    Returns
    -------
    (lo, hi) : float, or arrays over the leading axes
        ``lo <= rho(A) <= hi`` for the exact matrix whose stored entries are
        within a relative ``u`` of ``A``'s.
    """
    gam = (np.asarray(nnz, dtype=np.float64) + 10.0) * U * 1.01
    with np.errstate(all="ignore"):
        slack = (np.asarray(nnz, dtype=np.float64) + 2.0) * TINY
        ylo = np.maximum(down(Ax * (1.0 - gam) - slack), 0.0)
        yhi = up(Ax * (1.0 + gam) + slack)
        good = np.isfinite(x) & (x > 0.0)
        # lower bound: A x >= s x with x >= 0, x != 0 gives rho >= s, so rows with x_i = 0 are skipped
        rlo = np.where(good, down(ylo / np.where(good, x, 1.0)), np.inf)
        rhi = np.where(good, up(yhi / np.where(good, x, 1.0)), np.inf)
        rhi = np.where(np.isnan(rhi), np.inf, rhi)
        rlo = np.where(np.isnan(rlo), 0.0, rlo)
    lo = rlo.min(axis=-1)
    lo = np.where(np.isfinite(lo), np.maximum(lo, 0.0), 0.0)
    hi = rhi.max(axis=-1)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def product_error(a, b):
    """Bound on ``|a b - fl(a b)|`` (elementwise): Dekker's exact error term, or ``u |fl(a b)|`` + underflow.

    Dekker's two-product (Veltkamp splitting) gives the rounding error exactly
    when nothing over- or underflows; elsewhere the relative bound is used.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        p = a * b
        split = 134217729.0  # 2**27 + 1
        ca = split * a
        ah = ca - (ca - a)
        al = a - ah
        cb = split * b
        bh = cb - (cb - b)
        bl = b - bh
        err = np.abs(((ah * bh - p) + ah * bl + al * bh) + al * bl)
    safe = (np.abs(p) > 2.0**-960) & (np.abs(p) < 2.0**996) & np.isfinite(err)
    return np.where(safe, err, up(U * np.abs(p) + TINY))


def log_bracket(lo, hi):
    """``(log lo rounded down, log hi rounded up)`` (``-inf`` for 0)."""
    with np.errstate(divide="ignore"):
        return down(np.log(lo), FUNC_ULPS), up(np.log(hi), FUNC_ULPS)


def _sum_bounds(terms: np.ndarray) -> tuple[float, float]:
    """Bracket of the exact sum of the float ``terms`` (``math.fsum`` rounds once)."""
    if np.any(np.isneginf(terms)):
        return -np.inf, -np.inf
    s = math.fsum(terms.tolist())
    return float(down(s)), float(up(s))


def cycle_log_bracket(
    log_c: np.ndarray, log_c_err: np.ndarray, d: np.ndarray, d_err: np.ndarray, *, iters: int = 200
) -> tuple[float, float, float]:
    """Certified bracket of ``log rho`` for a cycle through all ``k`` programs of a component.

    ``rho`` is the root above ``max d`` of ``prod_i (rho - d_i) = prod_i c_i``
    (the characteristic equation of a cycle with cycle weights ``c_i`` and
    self-loop weights ``d_i``); without self-loops ``log rho = mean(log c)``.

    Parameters
    ----------
    log_c : ndarray, shape (k,)
        ``log c_i`` as computed (``log f + log T``, so no product under- or overflows).
    log_c_err : ndarray, shape (k,)
        A bound on the absolute error of each ``log_c``.
    d : ndarray, shape (k,)
        Self-loop weights ``fl(f_i T_ii)`` (0 where none).
    d_err : ndarray, shape (k,)
        Bounds on ``|f_i T_ii - d_i|`` (see :func:`product_error`).

    Returns
    -------
    (lo, hi, estimate) : float
        ``lo <= log rho <= hi`` and a value inside.
    """
    k = log_c.size
    Plo, Phi = _sum_bounds(log_c)
    err = math.fsum(log_c_err.tolist()) * (1.0 + 4.0 * U * k)
    Plo, Phi = float(down(Plo - err, 2)), float(up(Phi + err, 2))
    dmax = float(d.max()) if d.size else 0.0
    if dmax <= 0.0:
        lo, hi = float(down(Plo / k, 2)), float(up(Phi / k, 2))
        return lo, hi, min(max(0.5 * (lo + hi), lo), hi)
    # rho = dmax + mu; e_i = dmax - d_i with its error (stored d within relative u, plus underflow)
    ref = int(np.argmax(d))
    e = dmax - d  # exact when d_i >= dmax / 2 (Sterbenz); else within u e
    de = up(d_err + np.where(d >= 0.5 * dmax, 0.0, U * e), 2)
    e_lo = np.maximum(down(e - de), 0.0)
    e_lo[ref] = 0.0  # the reference program itself: its error is dmax_err, below
    e_hi = up(e + de)
    e_hi[ref] = 0.0
    dmax_err = float(up(d_err[ref], 2)) if d_err[ref] > 0.0 else 0.0  # the reference's exact self-loop

    def side(mu: float) -> int:
        """+1 if mu is certainly above the root, -1 if certainly below, 0 if undecided."""
        with np.errstate(all="ignore"):
            # lower value of sum log(mu + e_i): smallest e, and mu shrunk by the reference's error
            a = down(mu - dmax_err + e_lo)
            if np.all(a > 0.0):
                t = down(np.log(a), FUNC_ULPS)
                s = math.fsum(t.tolist())
                s = float(down(s - k * U * float(np.abs(t).sum()) * 1.01, 2))
                if s > Phi:
                    return 1
            b = up(mu + dmax_err + e_hi)
            t = up(np.log(b), FUNC_ULPS)
            s = math.fsum(t.tolist())
            s = float(up(s + k * U * float(np.abs(t).sum()) * 1.01, 2))
            if s < Plo:
                return -1
        return 0

    mu_lo = 0.0  # rho >= max_i d_i always (the largest diagonal entry)
    with np.errstate(over="ignore", under="ignore"):
        mu_hi = float(up(np.exp(Phi / k), FUNC_ULPS)) * (1.0 + 1e-9) + 4.0 * float(dmax_err) + float(e_hi.max())
    ok_hi = False
    for _ in range(60):
        if not np.isfinite(mu_hi):
            break
        if side(mu_hi) == 1:
            ok_hi = True
            break
        mu_hi *= 2.0
    if not ok_hi:
        mu_hi = np.inf
    # a lower start: (rho - min d)^k >= prod c
    with np.errstate(over="ignore", under="ignore"):
        cand = float(down(np.exp(Plo / k), FUNC_ULPS)) * (1.0 - 1e-9) - float(e_hi.max())
    if cand > 0.0 and side(cand) == -1:
        mu_lo = cand
    if np.isfinite(mu_hi):
        for _ in range(iters):
            if mu_hi - mu_lo <= 4.0 * U * mu_hi:
                break
            geometric = not (mu_lo > 0.0 and mu_hi / mu_lo < 4.0)
            base = (mu_lo if mu_lo > 0.0 else max(mu_hi * 2.0**-1000, TINY)) if geometric else mu_lo
            if geometric and not base < mu_hi:
                break
            moved = False
            # the midpoint first; near the root it is undecided, then points nearer each end
            for frac in (0.5, 0.3, 0.7, 0.1, 0.9, 0.01, 0.99):
                if geometric:
                    mid = math.exp(math.log(base) + frac * (math.log(mu_hi) - math.log(base)))
                else:
                    mid = mu_lo + frac * (mu_hi - mu_lo)
                if not (mu_lo < mid < mu_hi):
                    continue
                sd = side(mid)
                if sd == 1:
                    mu_hi, moved = mid, True
                elif sd == -1:
                    mu_lo, moved = mid, True
                if moved:
                    break
            if not moved:
                break
    # log rho = log dmax + log1p(mu / dmax), rounded outward; the reference's error included
    with np.errstate(all="ignore"):
        d_lo = float(down(dmax - dmax_err)) if dmax_err > 0.0 else dmax
        d_hi = float(up(dmax + dmax_err)) if dmax_err > 0.0 else dmax
        ld_lo = float(down(np.log(d_lo), FUNC_ULPS))
        ld_hi = float(up(np.log(d_hi), FUNC_ULPS))
        r_lo = float(down(np.log1p(float(down(mu_lo / d_hi))), FUNC_ULPS))
        r_hi = float(up(np.log1p(float(up(mu_hi / d_lo))), FUNC_ULPS))
    lo = float(down(ld_lo + max(r_lo, 0.0)))
    hi = float(up(ld_hi + r_hi)) if np.isfinite(r_hi) else np.inf
    mid = 0.5 * (lo + hi) if np.isfinite(hi) else lo
    return lo, hi, mid


def _pivots_positive(N: np.ndarray, D: np.ndarray, lower: bool) -> int:
    """Gaussian elimination of the Z-matrix ``diag(D) - N`` (``N >= 0``, zero diagonal) with directed rounding.

    ``lower=True`` rounds so that every computed pivot is at most the exact one
    (off-diagonal magnitudes up, diagonals down); ``lower=False`` the opposite.
    Returns the index of the first pivot that is ``<= 0`` (``k`` if none).
    """
    N = N.copy()
    D = D.copy()
    k = D.size
    rnd_hi, rnd_lo = (up, down) if lower else (down, up)
    with np.errstate(all="ignore"):
        for p in range(k):
            piv = D[p]
            if not piv > 0.0:
                return p
            if p == k - 1:
                break
            col = N[p + 1:, p]  # |B_ip|
            row = N[p, p + 1:]  # |B_pj|
            # N_ij += |B_ip| |B_pj| / piv ; D_i -= |B_ip| |B_pi| / piv
            upd = rnd_hi(rnd_hi(np.outer(col, row)) / piv)
            diag_upd = np.diagonal(upd).copy()
            np.fill_diagonal(upd, 0.0)
            N[p + 1:, p + 1:] = rnd_hi(N[p + 1:, p + 1:] + upd)
            if not lower:  # rounding down may cross zero below the subnormal range; 0 is still a lower bound
                np.maximum(N, 0.0, out=N)
            D[p + 1:] = rnd_lo(D[p + 1:] - diag_upd)
    return k


def mmatrix_side(A: np.ndarray, A_err: np.ndarray, mu: float, dref: float) -> int:
    """Certified comparison of ``lam = dref + mu`` with ``rho`` of an irreducible nonnegative matrix.

    ``lam I - A`` is a nonsingular M-matrix exactly when ``lam > rho(A)``, that
    is when Gaussian elimination without pivoting meets only positive pivots.
    Eliminating once with every pivot rounded down (entries ``A + A_err``) and
    once rounded up (``A - A_err``) decides it rigorously: ``+1`` if certainly
    ``lam > rho``, ``-1`` if certainly ``lam <= rho`` (a leading principal
    block already has ``rho >= lam``), ``0`` if undecided. The diagonal
    ``lam - a_ii = mu + (dref - a_ii)`` is formed from ``mu`` (``dref`` the
    largest stored diagonal entry), so ``rho - dref`` keeps its relative
    accuracy even when it is far below ``dref``. Relative rounding of entries
    costs relative accuracy only, however ill-conditioned the Perron root is
    in the normwise sense (it is monotone in every entry).
    """
    k = A.shape[0]
    exact = A_err == 0.0  # an exactly stored entry needs no widening
    hiA = np.where(exact, A, up(A + A_err))
    loA = np.where(exact, A, np.maximum(down(A - A_err), 0.0))
    d = np.diagonal
    with np.errstate(all="ignore"):
        e_lo = _sub(dref, d(hiA), down)
        e_hi = _sub(dref, d(loA), up)
        NL = hiA.copy()
        np.fill_diagonal(NL, 0.0)
        if _pivots_positive(NL, np.where(e_lo == 0.0, mu, down(mu + e_lo)), True) == k:
            return 1
        NH = loA.copy()
        np.fill_diagonal(NH, 0.0)
        if _pivots_positive(NH, np.where(e_hi == 0.0, mu, up(mu + e_hi)), False) < k:
            return -1
    return 0


def _sub(a: float, b: np.ndarray, rnd) -> np.ndarray:
    """``a - b`` rounded by ``rnd`` (``up`` or ``down``) unless exact (Sterbenz: ``b`` within a factor 2 of ``a``)."""
    diff = a - b
    exact = (b >= 0.5 * a) & (b <= 2.0 * a)
    return np.where(exact, diff, rnd(diff))


def mmatrix_log_bracket(
    A: np.ndarray, A_err: np.ndarray, lo: float, hi: float, rtol: float, *, scale_exp: int = 0, iters: int = 160
) -> tuple[float, float]:
    """A bracket of ``log(2**scale_exp rho)`` by bisection with :func:`mmatrix_side`, from a valid ``lo <= rho <= hi``.

    Dense, ``O(k^3)`` a step. The bisection runs on ``mu = rho - dref`` and
    stops when ``mu`` is known to a relative ``rtol``; then
    ``log(2**e rho) = log(2**e dref) + log1p(mu / dref)`` (``2**e dref`` is exact),
    so a tiny exponent keeps its relative accuracy.
    """
    dref = float(np.diagonal(A).max())
    dref_err = float(A_err[np.diag_indices_from(A)][int(np.argmax(np.diagonal(A)))])
    mu_lo = max(float(down(lo - dref)), -float(up(dref_err)))
    mu_hi = float(up(hi - dref))
    if not np.isfinite(mu_hi):
        mu_hi = float(up(np.abs(A).sum(axis=1).max() * 2.0 - dref))
    if mu_lo < 0.0 and mmatrix_side(A, A_err, 0.0, dref) == -1:
        mu_lo = 0.0  # rho >= the largest diagonal entry, certified
    for _ in range(iters):
        if mu_hi - mu_lo <= rtol * max(abs(mu_hi), abs(mu_lo)):
            break
        geometric = mu_lo <= 0.0 or mu_hi / mu_lo > 4.0
        moved = False
        for frac in (0.5, 0.3, 0.7, 0.1, 0.9):
            if geometric:
                base = mu_lo if mu_lo > 0.0 else max(mu_hi * 2.0**-60, TINY)
                if not base < mu_hi:
                    break
                mid = math.exp(math.log(base) + frac * (math.log(mu_hi) - math.log(base)))
            else:
                mid = mu_lo + frac * (mu_hi - mu_lo)
            if not (mu_lo < mid < mu_hi):
                continue
            s = mmatrix_side(A, A_err, mid, dref)
            if s == 1:
                mu_hi, moved = mid, True
            elif s == -1:
                mu_lo, moved = mid, True
            if moved:
                break
        if not moved:
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        if dref > 0.0:
            big = math.ldexp(dref, scale_exp) if -1000 < scale_exp + math.frexp(dref)[1] < 1000 else None
            ld = np.log(big) if big is not None else np.log(dref) + scale_exp * np.log(2.0)
            if big is None:  # the sum above is rounded: widen by its ulps
                ld = float(ld)
            l_lo = float(down(down(ld, FUNC_ULPS) + down(np.log1p(max(float(down(mu_lo / dref)), -1.0)), FUNC_ULPS)))
            l_hi = float(up(up(ld, FUNC_ULPS) + up(np.log1p(float(up(mu_hi / dref))), FUNC_ULPS)))
        else:
            sh = scale_exp * np.log(2.0)
            l_lo = float(down(down(np.log(mu_lo), FUNC_ULPS) + down(sh, 2))) if mu_lo > 0.0 else -np.inf
            l_hi = float(up(up(np.log(mu_hi), FUNC_ULPS) + up(sh, 2)))
    return l_lo, l_hi
