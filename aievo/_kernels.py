"""Numba kernels of the engine: arrays and scalars in, arrays out.

Nothing here validates input; :mod:`aievo.dynamics` does that and passes
contiguous ``int64`` / ``float64`` arrays. The design kernel is passed in CSR
form (``indptr``, ``indices``, ``data``).

The generation loop runs entirely inside one kernel. Each generation moves
``h(v) = x_t(v) f(v) / F_t`` along the rows of ``T``; ``log N_t`` is
accumulated with Neumaier's compensated sum.

Numerical range (see ``docs/explanation/numerics.md``):

* the fast kernels (:func:`run_deterministic`, :func:`run_tree`) take fitness
  pre-scaled by a power of two so that ``max f`` lies in ``[1/2, 1)`` (exact in
  floating point) plus the exponent ``k`` of that scale, so results do not
  depend on the scale of the fitness;
* they check that every product they form with non-zero factors is at least
  :data:`TINY` (``2**-960``, far above the subnormal range), so every share
  they compute carries full relative precision. The first time the check
  fails they stop and return the generation ``t`` and the (still exact) shares
  ``x_t``;
* :func:`run_exact` then continues from ``x_t`` with every share held as a
  mantissa and its own binary exponent, so no lineage is lost to the range of
  ``float64`` whatever the horizon.

Two sweeps share the fast general update:

* the **frontier** sweep visits only the programs that currently hold mass
  (kept in an active list), so on a tree without self-loops a generation
  costs the size of one level, not of the tree;
* the **full** sweep visits every program in index order. The kernel moves
  from the frontier sweep to the full sweep once the active set exceeds
  ``full_fraction * n`` and stays there.

On trees (:func:`run_tree`) the full sweep reads a program's own share and
self-loop weight only in the index ranges that hold self-loops, and the
frontier sweep of a large tree carries *absorbing* programs (a self-loop, no
children, a transient designer: the locked copies of an eta-locked tree) in
closed form: each is written once, when it receives its mass, and afterwards
only its group (programs with the same fitness and self-loop weight) is
multiplied by ``f T(w, w) / F_t`` each generation; its share is formed when
shares are recorded or returned. The range check then applies to each group's
smallest share.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload, register_jitable

__all__ = [
    "TINY",
    "log_scaled",
    "run_deterministic",
    "run_exact",
    "row_minima",
    "step_shares",
    "run_tree",
    "tree_schedule",
]


#: Smallest product the fast kernels accept: far above the subnormal range
#: (``2**-1022``), so a sum of such products keeps full relative precision.
TINY = 2.0**-960
#: Smallest non-zero ``c``, ``d`` the tree kernel accepts: with shares >= TINY
#: a product of non-zero factors then never rounds to 0.
TREE_MIN = 2.0**-100
#: Smallest normal float64.
_NORMAL = 2.0**-1022
_LN2 = 0.6931471805599453


@njit(cache=True, nogil=True, inline="always")
def _outputs(G, k, n_snaps, n):
    """Result arrays of a run: ``F_t``, ``log N_t`` (``log N_0 = 0``), trait means, snapshots.

    Entries a run does not reach (after extinction) stay NaN / ``-inf``.
    """
    mean_f = np.empty(G + 1, dtype=np.float64)
    mean_f[:] = np.nan
    log_n = np.empty(G + 1, dtype=np.float64)
    log_n[:] = -np.inf
    log_n[0] = 0.0
    zmeans = np.empty((k, G + 1), dtype=np.float64)
    zmeans[:] = np.nan
    snaps = np.empty((n_snaps, n), dtype=np.float64)
    snaps[:] = 0.0
    return mean_f, log_n, zmeans, snaps


@njit(cache=True, nogil=True, inline="always")
def log_scaled(m, e):
    """``log(m * 2**e)`` for ``m > 0``, exact to rounding whatever ``e``.

    When ``m * 2**e`` is a normal float64 its logarithm is taken directly
    (one rounding); otherwise ``log m + e log 2`` (then ``|log| > 700`` and
    the sum has no cancellation).
    """
    v = math.ldexp(m, e)
    if v >= _NORMAL and v <= 1.7976931348623157e308:
        return math.log(v)
    return math.log(m) + e * _LN2


@njit(cache=True, nogil=True, inline="always")
def _neumaier(acc, comp, v):
    """One step of Neumaier's compensated sum: returns the new ``(acc, comp)``."""
    s = acc + v
    if abs(acc) >= abs(v):
        comp += (acc - s) + v
    else:
        comp += (v - s) + acc
    return s, comp


@njit(cache=True, nogil=True, inline="always")
def _record(y, f, Z, zsum, idx, count, full, n):
    """Mean fitness of the shares ``y`` over the support; fills ``zsum`` with trait means."""
    F = 0.0
    k = Z.shape[0]
    for j in range(k):
        zsum[j] = 0.0
    if full:
        for v in range(n):
            xv = y[v]
            if xv != 0.0:
                F += xv * f[v]
                for j in range(k):
                    zsum[j] += xv * Z[j, v]
    else:
        for a in range(count):
            v = idx[a]
            xv = y[v]
            F += xv * f[v]
            for j in range(k):
                zsum[j] += xv * Z[j, v]
    return F


@njit(cache=True, nogil=True)
def run_deterministic(
    indptr, indices, data, rowmin, f, fexp, y0, generations, Z, snap_times, full_fraction
):
    """Run the deterministic share dynamics for ``generations`` steps (fast kernel).

    Parameters
    ----------
    indptr, indices, data : int64[:], int64[:], float64[:]
        CSR design kernel.
    rowmin : float64[:]
        Smallest non-zero entry of each row of ``T`` (:func:`row_minima`): a
        share ``h`` whose ``h * rowmin`` is at least :data:`TINY` sends every
        product ``h T(v, w)`` above it, so the scatter needs no check.
    f : float64[:]
        Fitness scaled by ``2**-fexp`` (``max f`` in ``[1/2, 1)``; every
        non-zero entry at least :data:`TINY`).
    fexp : int64
        The exponent of that scale: the true fitness is ``f * 2**fexp``.
    y0 : float64[:]
        Initial shares (sum 1).
    generations : int64
    Z : float64[:, :]
        Trait matrix ``(k, n)``; the mean of each row is recorded every generation.
    snap_times : int64[:]
        Sorted times at which the full share vector is stored.
    full_fraction : float64
        Switch to the full sweep once the active set exceeds this fraction of n.

    Returns
    -------
    mean_f : float64[G+1]
        True mean fitness (scaled back by ``2**fexp``).
    log_n : float64[G+1]
    zmeans : float64[k, G+1]
    snaps : float64[len(snap_times), n]
    x : float64[n]
        Final shares; if ``stopped >= 0``, the exact shares ``x_stopped``.
    stopped : int64
        ``-1`` when the run finished; else the generation ``t`` at which a
        product fell below :data:`TINY`: entries up to ``t - 1`` (and
        ``log_n[t]``) are final; :func:`run_exact` continues from ``x``.
    acc, comp : float64
        Neumaier sum of ``log F`` so far and its compensation term.
    """
    n = f.shape[0]
    G = generations
    k = Z.shape[0]
    mean_f, log_n, zmeans, snaps = _outputs(G, k, snap_times.shape[0], n)
    zsum = np.empty(k, dtype=np.float64)
    zsum[:] = 0.0

    y = np.empty(n, dtype=np.float64)  # the shares x_t
    for v in range(n):
        y[v] = y0[v]
    yn = np.empty(n, dtype=np.float64)
    yn[:] = 0.0  # x_{t+1}; all zero at the start of each step
    h = np.empty(n, dtype=np.float64)
    h[:] = 0.0  # x_t * f / F_t, scattered along the rows of T
    active = np.empty(n, dtype=np.bool_)
    active[:] = False
    idx = np.empty(n, dtype=np.int64)
    count = 0
    for v in range(n):
        if y[v] != 0.0:
            active[v] = True
            idx[count] = v
            count += 1
    full = count > full_fraction * n
    stopped = -1
    snap_i = 0
    acc = 0.0
    comp = 0.0
    for t in range(G + 1):
        F = _record(y, f, Z, zsum, idx, count, full, n)
        mean_f[t] = math.ldexp(F, fexp)
        for j in range(k):
            zmeans[j, t] = zsum[j]
        while snap_i < snap_times.shape[0] and snap_times[snap_i] == t:
            for v in range(n):
                snaps[snap_i, v] = y[v]
            snap_i += 1
        if t == G:
            break
        if F < TINY:
            # extinct, or mass on fitness too small for this kernel: run_exact decides
            stopped = t
            break
        inv = 1.0 / F
        lost = False
        if full:
            for v in range(n):
                # f * inv <= 1 / TINY and y f <= F: no overflow
                h[v] = y[v] * (f[v] * inv)
                yn[v] = 0.0
            for v in range(n):
                hv = h[v]
                if hv != 0.0:
                    if hv * rowmin[v] < TINY:  # some product h T(v, w) would fall below TINY
                        lost = True
                        break
                    for e in range(indptr[v], indptr[v + 1]):
                        yn[indices[e]] += hv * data[e]
                elif y[v] != 0.0 and f[v] != 0.0:  # h underflowed to 0
                    lost = True
                    break
        else:
            # frontier sweep: gather h on the active list, scatter to the new list
            old = count
            for a in range(old):
                v = idx[a]
                hv = y[v] * (f[v] * inv)
                h[v] = hv
                active[v] = False
                if hv != 0.0:
                    if hv * rowmin[v] < TINY:
                        lost = True
                elif y[v] != 0.0 and f[v] != 0.0:
                    lost = True
            # the new list is appended after the old one, then moved to the front
            new_start = old
            m = new_start
            if not lost:
                for a in range(old):
                    v = idx[a]
                    hv = h[v]
                    if hv != 0.0:
                        for e in range(indptr[v], indptr[v + 1]):
                            w = indices[e]
                            yn[w] += hv * data[e]
                            if not active[w]:
                                active[w] = True
                                if m < n:
                                    idx[m] = w
                                m += 1
            if not lost:
                for a in range(old):  # the old shares become the next zero buffer
                    y[idx[a]] = 0.0
                if m > n:
                    # more new entries than room after the old list: rebuild densely
                    count = 0
                    for v in range(n):
                        if active[v]:
                            idx[count] = v
                            count += 1
                else:
                    count = m - new_start
                    for a in range(count):
                        idx[a] = idx[new_start + a]
        if lost:
            stopped = t
            break
        acc, comp = _neumaier(acc, comp, log_scaled(F, fexp))
        log_n[t + 1] = acc + comp
        y, yn = yn, y
        if not full and count > full_fraction * n:
            full = True
    return mean_f, log_n, zmeans, snaps, y, stopped, acc, comp


@njit(cache=True, nogil=True)
def row_minima(indptr, data):
    """Smallest non-zero entry of each CSR row (``inf`` for a row without one)."""
    n = indptr.shape[0] - 1
    out = np.empty(n, dtype=np.float64)
    out[:] = np.inf
    for v in range(n):
        for e in range(indptr[v], indptr[v + 1]):
            d = data[e]
            if d != 0.0 and d < out[v]:
                out[v] = d
    return out


@njit(cache=True, nogil=True)
def step_shares(indptr, indices, data, f, x):
    """One deterministic update ``x f T / F`` (returns the new shares and ``F``)."""
    n = f.shape[0]
    y = np.empty(n, dtype=np.float64)
    y[:] = 0.0
    F = 0.0
    for v in range(n):
        hv = x[v] * f[v]
        if hv != 0.0:
            F += hv
            for e in range(indptr[v], indptr[v + 1]):
                y[indices[e]] += hv * data[e]
    if F > 0.0:
        for w in range(n):
            y[w] /= F
    return y, F


#: Exponent below every exponent a run can reach (marks "no contribution yet").
_NO_EXP = -(2**62)
#: ``2**-i`` for ``i = 0 .. 1074`` (the last ones subnormal).
_POW2_NEG = np.array([math.ldexp(1.0, -i) for i in range(1075)])
#: Mantissas of the exact kernel are renormalised once they leave ``[2**-64, 2**64]``.
_M_LO = 2.0**-64
_M_HI = 2.0**64


@njit(cache=True, nogil=True)
def _down(val, d):
    """``val * 2**d`` for ``d <= 0`` (one rounding, like ``ldexp``; 0 below the range)."""
    if d == 0:
        return val
    if d < -1074:
        return 0.0
    return val * _POW2_NEG[-d]


@njit(cache=True, nogil=True)
def run_exact(indptr, indices, data, f, x0, t0, Z, snap_times, mean_f, log_n, zmeans, snaps, acc, comp):
    """Continue the deterministic dynamics from ``x_{t0} = x0`` with no loss of range.

    Every share is held as ``m(v) * 2**e(v)`` with its own ``int64`` exponent
    and a mantissa kept in ``[2**-64, 2**64]`` (renormalised by ``frexp`` when
    it leaves that range), and fitness and design probabilities are split the
    same way, so no share, however small, underflows and no product
    overflows. Each generation:

    * ``F_t = sum_v x_t(v) f(v)`` is summed with every term scaled to the
      largest exponent (terms more than ``2**-1074`` below add nothing, far
      below rounding);
    * each new share sums its contributions ``x_t(v) f(v) T(v, w) / F_t``
      scaled to the largest exponent seen so far for it (rescaling the
      partial sum when a larger one arrives).

    ``f`` is the true (unscaled) fitness. ``mean_f``, ``log_n``, ``zmeans``
    and ``snaps`` (from a fast kernel) are filled from ``t0`` on, ``log_n``
    continuing the Neumaier sum ``(acc, comp)``.

    Returns
    -------
    x : float64[n]
        Shares at the last generation with individuals (``ldexp(m, e)``;
        shares below ``2**-1074`` are 0 here, though carried exactly).
    log_x : float64[n]
        Their natural logarithms (``-inf`` where the share is 0), never underflowing.
    extinct_at : int64
        First generation with ``F_t = 0`` (``-1`` if none).
    """
    n = f.shape[0]
    G = mean_f.shape[0] - 1
    k = Z.shape[0]
    nnz = data.shape[0]
    fm = np.empty(n, dtype=np.float64)
    fm[:] = 0.0
    fe = np.empty(n, dtype=np.int64)
    fe[:] = 0
    for v in range(n):
        mv, ev = math.frexp(f[v])
        fm[v] = mv
        fe[v] = ev
    tm = np.empty(nnz, dtype=np.float64)
    tm[:] = 0.0
    te = np.empty(nnz, dtype=np.int64)
    te[:] = 0
    for e in range(nnz):
        mv, ev = math.frexp(data[e])
        tm[e] = mv
        te[e] = ev
    m = np.empty(n, dtype=np.float64)
    m[:] = 0.0
    ex = np.empty(n, dtype=np.int64)
    ex[:] = 0
    hm = np.empty(n, dtype=np.float64)
    hm[:] = 0.0
    he = np.empty(n, dtype=np.int64)
    he[:] = 0
    top = np.empty(n, dtype=np.int64)
    top[:] = 0
    am = np.empty(n, dtype=np.float64)
    am[:] = 0.0
    mark = np.empty(n, dtype=np.bool_)
    mark[:] = False
    idx = np.empty(n, dtype=np.int64)
    nidx = np.empty(n, dtype=np.int64)
    count = 0
    for v in range(n):
        if x0[v] != 0.0:
            mv, ev = math.frexp(x0[v])
            m[v] = mv
            ex[v] = ev
            idx[count] = v
            count += 1
    zsum = np.empty(k, dtype=np.float64)
    zsum[:] = 0.0
    snap_i = 0
    while snap_i < snap_times.shape[0] and snap_times[snap_i] < t0:
        snap_i += 1
    extinct_at = -1
    for t in range(t0, G + 1):
        # F_t, every term aligned to the largest
        emax = _NO_EXP
        for a in range(count):
            v = idx[a]
            if fm[v] != 0.0:
                hm[v] = m[v] * fm[v]
                he[v] = ex[v] + fe[v]
                if he[v] > emax:
                    emax = he[v]
        Fm = 0.0
        for a in range(count):
            v = idx[a]
            if fm[v] != 0.0:
                Fm += _down(hm[v], he[v] - emax)
        mean_f[t] = math.ldexp(Fm, emax) if Fm > 0.0 else 0.0
        for j in range(k):
            zsum[j] = 0.0
        if k > 0:
            for a in range(count):
                v = idx[a]
                xv = math.ldexp(m[v], ex[v])
                if xv != 0.0:
                    for j in range(k):
                        zsum[j] += xv * Z[j, v]
        for j in range(k):
            zmeans[j, t] = zsum[j]
        while snap_i < snap_times.shape[0] and snap_times[snap_i] == t:
            for v in range(n):
                snaps[snap_i, v] = 0.0
            for a in range(count):
                v = idx[a]
                snaps[snap_i, v] = math.ldexp(m[v], ex[v])
            snap_i += 1
        if t == G:
            break
        if Fm == 0.0:
            extinct_at = t
            break
        acc, comp = _neumaier(acc, comp, log_scaled(Fm, emax))
        log_n[t + 1] = acc + comp
        # contributions x f T / F, each target's sum scaled to its largest exponent so far
        for a in range(count):
            v = idx[a]
            if fm[v] != 0.0:
                hm[v] = hm[v] / Fm
                he[v] = he[v] - emax
        for a in range(count):
            m[idx[a]] = 0.0
        ncount = 0
        for a in range(count):
            v = idx[a]
            if fm[v] != 0.0:
                hv = hm[v]
                ev = he[v]
                for e in range(indptr[v], indptr[v + 1]):
                    if tm[e] != 0.0:
                        w = indices[e]
                        ee = ev + te[e]
                        val = hv * tm[e]
                        if not mark[w]:
                            mark[w] = True
                            top[w] = ee
                            am[w] = val
                            nidx[ncount] = w
                            ncount += 1
                        elif ee > top[w]:
                            am[w] = _down(am[w], top[w] - ee) + val
                            top[w] = ee
                        else:
                            am[w] += _down(val, ee - top[w])
        for a in range(ncount):
            w = nidx[a]
            mw = am[w]
            if mw < _M_LO or mw > _M_HI:
                mw, ew = math.frexp(mw)
                m[w] = mw
                ex[w] = top[w] + ew
            else:
                m[w] = mw
                ex[w] = top[w]
            am[w] = 0.0
            mark[w] = False
        idx, nidx = nidx, idx
        count = ncount
    x = np.empty(n, dtype=np.float64)
    x[:] = 0.0
    log_x = np.empty(n, dtype=np.float64)
    log_x[:] = -np.inf
    for a in range(count):
        v = idx[a]
        x[v] = math.ldexp(m[v], ex[v])
        log_x[v] = log_scaled(m[v], ex[v])
    return x, log_x, extinct_at


# ---------------------------------------------------------------------------- trees
@njit(cache=True, nogil=True)
def tree_schedule(parent, depth, self_loop):
    """Orders for the frontier sweep on a tree started at its root.

    A program is *persistent* when it or an ancestor has a self-loop: it may
    hold mass at any time from its depth on. Every other program is
    *transient*: it holds mass only at the generation equal to its depth.

    Returns ``trans_order`` with ``trans_ptr`` (transient programs by depth;
    level ``d`` is ``trans_order[trans_ptr[d]:trans_ptr[d+1]]``) and
    ``pers_order`` with ``pers_ptr`` (persistent programs sorted by depth;
    those of depth ``<= d`` are ``pers_order[:pers_ptr[d+1]]``).
    """
    n = parent.shape[0]
    dmax = 0
    for w in range(n):
        if depth[w] > dmax:
            dmax = depth[w]
    # programs by depth, by a stable counting sort: every parent comes before its children
    level = np.empty(dmax + 2, dtype=np.int64)
    level[:] = 0
    for w in range(n):
        level[depth[w] + 1] += 1
    for dd in range(dmax + 1):
        level[dd + 1] += level[dd]
    order = np.empty(n, dtype=np.int64)
    for w in range(n):
        order[level[depth[w]]] = w
        level[depth[w]] += 1
    pers = np.empty(n, dtype=np.bool_)
    for a in range(n):
        w = order[a]
        p = parent[w]
        pers[w] = self_loop[w] or (p >= 0 and pers[p])
    tcount = np.empty(dmax + 2, dtype=np.int64)
    tcount[:] = 0
    pcount = np.empty(dmax + 2, dtype=np.int64)
    pcount[:] = 0
    for w in range(n):
        if pers[w]:
            pcount[depth[w] + 1] += 1
        else:
            tcount[depth[w] + 1] += 1
    for d in range(dmax + 1):
        tcount[d + 1] += tcount[d]
        pcount[d + 1] += pcount[d]
    trans_order = np.empty(tcount[dmax + 1], dtype=np.int64)
    pers_order = np.empty(pcount[dmax + 1], dtype=np.int64)
    ti = 0
    pi = 0
    for a in range(n):  # `order` is sorted by depth, so both lists are too
        w = order[a]
        if pers[w]:
            pers_order[pi] = w
            pi += 1
        else:
            trans_order[ti] = w
            ti += 1
    return trans_order, tcount, pers_order, pcount


@njit(cache=True, nogil=True)
def absorbing_groups(fbits, dbits, order, cap):
    """Group the absorbing programs ``order`` by their pair ``(f, d)`` (given as int64 bit patterns).

    Returns ``(group, first, count)``: the group of each entry of ``order``
    (``int32``), the position in ``order`` of each group's first member and
    the number of groups; ``count = -1`` when there are more than ``cap``
    (an open-addressing table of ``4 cap`` slots, so this is one pass).
    """
    m = order.shape[0]
    size = 4
    while size < 4 * cap:
        size *= 2
    slot_f = np.empty(size, dtype=np.int64)
    slot_d = np.empty(size, dtype=np.int64)
    slot_g = np.empty(size, dtype=np.int64)
    slot_g[:] = -1
    group = np.empty(m, dtype=np.int32)
    first = np.empty(cap, dtype=np.int64)
    count = 0
    for a in range(m):
        w = order[a]
        fb = fbits[w]
        db = dbits[w]
        h = (fb * 0x9E3779B97F4A7C15 + db * 0xC2B2AE3D27D4EB4F) ^ (fb >> 29) ^ (db >> 31)
        i = h & (size - 1)
        while True:
            gi = slot_g[i]
            if gi < 0:
                if count == cap:
                    return group, first, -1
                slot_g[i] = count
                slot_f[i] = fb
                slot_d[i] = db
                first[count] = a
                group[a] = count
                count += 1
                break
            if slot_f[i] == fb and slot_d[i] == db:
                group[a] = gi
                break
            i = (i + 1) & (size - 1)
    return group, first, count


@njit(cache=True, nogil=True, inline="always")
def _tree_traits(y, s, f, Z, zsum, t, trans_order, trans_ptr, pers_order, pers_ptr, full, n):
    """Mean fitness and trait sums of x = y * s (over the active programs unless ``full``)."""
    k = Z.shape[0]
    for j in range(k):
        zsum[j] = 0.0
    F = 0.0
    if full:
        for w in range(n):
            xw = y[w] * s
            if xw != 0.0:
                F += xw * f[w]
                for j in range(k):
                    zsum[j] += xw * Z[j, w]
        return F
    dmax = trans_ptr.shape[0] - 2
    if t <= dmax:
        for a in range(trans_ptr[t], trans_ptr[t + 1]):
            w = trans_order[a]
            xw = y[w] * s
            F += xw * f[w]
            for j in range(k):
                zsum[j] += xw * Z[j, w]
    hi = pers_ptr[min(t, dmax) + 1]
    for a in range(hi):
        w = pers_order[a]
        xw = y[w] * s
        F += xw * f[w]
        for j in range(k):
            zsum[j] += xw * Z[j, w]
    return F


#: Ranges at least this long are gathered on all cores.
PARALLEL_MIN = 200_000
#: Fixed number of chunks, so the sum (and so every result) does not depend on the thread count.
_CHUNKS = 64


@register_jitable
def _gather_serial(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s):
    F = 0.0
    umin = np.inf
    # smallest non-zero u, without a branch (a product of non-zero factors is
    # never 0 here: shares are >= TINY and c, d >= TREE_MIN, see _tree_plan).
    # Without self-loops in the range (d = 0) neither d nor the program's own
    # share is read (a loop-invariant test: the compiler moves it out of the loop).
    for a in range(lo, hi):
        w = order[a] if use_order else a
        u = y[parent[w]] * c[w]
        if with_d:
            u = y[w] * d[w] + u
        umin = min(umin, u if u > 0.0 else np.inf)
        v = u * s
        yn[w] = v
        F += v
    return -1.0 if umin < TINY else F


@njit(cache=True, nogil=True, parallel=True)
def _gather_parallel(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts):
    size = hi - lo
    for ch in prange(_CHUNKS):
        parts[ch] = _gather_serial(
            order, lo + ch * size // _CHUNKS, lo + (ch + 1) * size // _CHUNKS, use_order, with_d,
            parent, c, d, y, yn, s,
        )
    F = 0.0
    for ch in range(_CHUNKS):
        if parts[ch] < 0.0:
            return -1.0
        F += parts[ch]
    return F


def _gather(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts):
    """``yn[w] = (x M)(w)`` for ``w`` in ``order[lo:hi]`` (or ``lo:hi``); returns the sum.

    ``with_d`` False: the range has no self-loops (``d = 0``), so only the
    designer's share is read. Returns ``-1`` instead when a non-zero product
    ``y(v) M(v, w)`` summed to less than :data:`TINY` (its relative
    precision, or the lineage, could be lost). With ``parts`` (a float64
    array of :data:`_CHUNKS` entries), ranges of at least
    :data:`PARALLEL_MIN` programs are split into that fixed number of chunks,
    gathered on all cores and summed in order, so results do not depend on
    the machine; with ``parts=None`` everything runs on one core.

    Inside a kernel the *type* of ``parts`` picks the code at compile time
    (:func:`_gather_overload`): a kernel compiled for ``parts=None`` never
    compiles the parallel code, the costliest part of a cold start.
    """
    if parts is not None and hi - lo >= PARALLEL_MIN:
        return _gather_parallel(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts)
    return _gather_serial(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s)


def _gather_on_all_cores(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts):
    if hi - lo >= PARALLEL_MIN:
        return _gather_parallel(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts)
    return _gather_serial(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s)


def _gather_on_one_core(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts):
    return _gather_serial(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s)


@overload(_gather)
def _gather_overload(order, lo, hi, use_order, with_d, parent, c, d, y, yn, s, parts):
    """The compiled :func:`_gather`: one core when ``parts`` is ``None``, else all cores."""
    return _gather_on_one_core if isinstance(parts, types.NoneType) else _gather_on_all_cores


@njit(cache=True, nogil=True)
def _group_state(ng, k, n_tab):
    """Zeroed state of ``ng`` absorbing groups (see :func:`run_tree`).

    Mass ``B``, trait sums ``Cz`` and smallest share ``mn`` (in shares), this
    generation's entries ``ent``, ``ent_z``, ``ent_mn``, the product of the
    factors ``gd s`` as mantissa and binary exponent (an integer held exactly
    in a float64) now (``am``, ``ae``) and at each entry time (``Am``,
    ``Ae``), and ``s_t`` at each entry time (``sv``). Only float64 arrays, made
    by ``np.empty`` and filled: every other dtype or constructor would compile
    another specialisation on a cold start.
    """
    B = np.empty(ng, dtype=np.float64)
    B[:] = 0.0
    Cz = np.empty((ng, k), dtype=np.float64)
    Cz[:] = 0.0
    mn = np.empty(ng, dtype=np.float64)
    mn[:] = np.inf
    ent = np.empty(ng, dtype=np.float64)
    ent[:] = 0.0
    ent_z = np.empty((ng, k), dtype=np.float64)
    ent_z[:] = 0.0
    ent_mn = np.empty(ng, dtype=np.float64)
    ent_mn[:] = np.inf
    am = np.empty(ng, dtype=np.float64)
    am[:] = 1.0
    ae = np.empty(ng, dtype=np.float64)
    ae[:] = 0.0
    Am = np.empty((n_tab, ng), dtype=np.float64)
    Am[:] = 1.0
    Ae = np.empty((n_tab, ng), dtype=np.float64)
    Ae[:] = 0.0
    sv = np.empty(n_tab, dtype=np.float64)
    sv[:] = 1.0
    return B, Cz, mn, ent, ent_z, ent_mn, am, ae, Am, Ae, sv


@njit(cache=True, nogil=True)
def _enter_absorbing(abs_order, lo, hi, abs_group, parent, c, Z, y, yn, s, ent, ent_mn, ent_z):
    """Absorbing programs ``abs_order[lo:hi]`` receive their mass (their own share is still 0).

    Writes ``yn[w] = (x M)(w)``, adds it to its group's entries ``ent`` (with
    the smallest in ``ent_mn`` and trait sums in ``ent_z``) and returns the
    sum, or ``-1`` when a non-zero product fell below :data:`TINY`.
    """
    k = Z.shape[0]
    F = 0.0
    umin = np.inf
    for a in range(lo, hi):
        w = abs_order[a]
        u = y[parent[w]] * c[w]
        umin = min(umin, u if u > 0.0 else np.inf)
        v = u * s
        yn[w] = v
        g = abs_group[a]
        ent[g] += v
        if v > 0.0:
            ent_mn[g] = min(ent_mn[g], v)
        for j in range(k):
            ent_z[g, j] += v * Z[j, w]
        F += v
    return -1.0 if umin < TINY else F


@njit(cache=True, nogil=True)
def _advance_groups(t1, s, gd, B, Cz, mn, ent, ent_mn, ent_z, am, ae, Am, Ae, sv):
    """Carry the absorbing groups to generation ``t1`` (``s = 1 / F_{t1 - 1}``), in place.

    Each group's mass, trait sums and smallest share are multiplied by
    ``gd s`` and take in this generation's entries; the product of the
    factors is kept as mantissa ``am`` and exponent ``ae`` and, for the
    entry times ``t1 < len(sv)``, recorded in ``Am``, ``Ae`` with ``s`` in ``sv``.
    """
    k = Cz.shape[1]
    n_tab = sv.shape[0]
    for g in range(B.shape[0]):  # no groups in a full sweep
        B[g] = (B[g] * gd[g] + ent[g]) * s
        mn[g] = min(mn[g] * gd[g], ent_mn[g]) * s  # gd > 0: no 0 * inf
        for j in range(k):
            Cz[g, j] = (Cz[g, j] * gd[g] + ent_z[g, j]) * s
            ent_z[g, j] = 0.0
        ent[g] = 0.0
        ent_mn[g] = np.inf
        mg, eg = math.frexp(am[g] * (gd[g] * s))
        am[g] = mg
        ae[g] += float(eg)
        if t1 < n_tab:
            Am[t1, g] = mg
            Ae[t1, g] = ae[g]
    if t1 < n_tab:
        sv[t1] = s


@njit(cache=True, nogil=True)
def _absorbed_shares(out, t, dmax, abs_order, abs_ptr, abs_group, ya, yb, sv, Am, Ae, am, ae):
    """Write into ``out`` the shares at time ``t`` of the absorbing programs that hold mass by then.

    A program that received its mass at time ``t_w`` keeps its raw entry
    value in the buffer of that parity; since then it was multiplied by
    ``gd s`` each generation, a product its group carries as mantissa ``am``
    and binary exponent ``ae`` (``Am``, ``Ae``: the same at each entry time),
    and ``x_{t_w} = raw * s_{t_w}``. One factor per entry time and group.
    """
    ng = am.shape[0]
    fac = np.empty(ng, dtype=np.float64)
    for t_w in range(min(t, dmax) + 1):
        lo = abs_ptr[t_w]
        hi = abs_ptr[t_w + 1]
        if hi == lo:
            continue
        for g in range(ng):
            fac[g] = sv[t_w] * math.ldexp(am[g] / Am[t_w, g], int(ae[g] - Ae[t_w, g]))
        src = ya if t_w % 2 == 0 else yb
        for a in range(lo, hi):
            w = abs_order[a]
            out[w] = src[w] * fac[abs_group[a]]


@njit(cache=True, nogil=True)
def run_tree(
    parent, c, d, f, fexp, root, generations, Z, snap_times, frontier,
    trans_order, trans_ptr, pers_order, pers_ptr, absorb, segments, parts, ya, yb,
):
    """The deterministic dynamics on a tree, by gathering from each program's designer.

    ``parent`` here maps the root to itself (its ``c`` is 0), so no branch is
    needed. On a tree the programs that design ``w`` are its parent and, with a
    self-loop, ``w`` itself, so ``(x M)(w) = x(p(w)) c(w) + x(w) d(w)`` with
    ``c(w) = f(p(w)) T(p(w), w)`` and ``d(w) = f(w) T(w, w)``, with ``f`` the
    fitness scaled by ``2**-fexp`` (see :func:`run_deterministic`); every
    non-zero ``f``, ``c`` and ``d`` must be at least :data:`TINY`. Writes are
    sequential and reads nearly so in breadth-first order.

    The full sweep visits every program in index order, in the ranges
    ``segments[r]:segments[r + 1]``: those with odd ``r`` hold the self-loops
    and use the formula above, the others have none and are swept without
    reading ``d`` or the program's own share. With ``frontier`` only the transient
    programs of the next level and the persistent programs of depth
    ``<= t + 1`` are updated at step ``t`` (see :func:`tree_schedule`).
    ``absorb`` is None or ``(abs_order, abs_ptr, abs_group, gf, gd)``: then
    the frontier writes the absorbing programs (``abs_order`` by depth,
    ``abs_ptr``) once, when they receive their mass, and carries them by group
    (``abs_group``; group fitness ``gf`` and factor ``gd = f T(w, w)``): a
    group's mass is multiplied by ``gd / F_t`` each generation, and each
    program's share is formed from its entry value only when shares are
    recorded or returned. With None (the type picks the code at compile
    time, like ``parts``) the frontier sweeps them with the other persistent
    programs and the closed form is not compiled.

    ``parts`` is ``None`` (gather on one core: pass it for trees of fewer than
    :data:`PARALLEL_MIN` programs, so that they never compile the parallel
    code) or a float64 array of :data:`_CHUNKS` entries (long ranges gathered
    on all cores, see :func:`_gather`). ``ya`` and ``yb`` are two zeroed
    float64 buffers of ``n`` entries (allocated by numpy, whose large
    allocations the kernel maps in huge pages); one of them is returned as
    the final shares.

    Returns the same tuple as :func:`run_deterministic`.
    """
    n = f.shape[0]
    G = generations
    k = Z.shape[0]
    mean_f, log_n, zmeans, snaps = _outputs(G, k, snap_times.shape[0], n)
    zsum = np.empty(k, dtype=np.float64)
    ya[root] = 1.0
    s = 1.0  # x_t = y * s
    F = 0.0
    stopped = -1
    snap_i = 0
    dmax = trans_ptr.shape[0] - 2
    # not the literals 0, True and False passed to _gather: each literal would
    # compile another specialisation of it
    first = pers_ptr[0]
    yes = n >= 0
    no = n < 0
    acc = 0.0
    comp = 0.0
    if absorb is not None:  # pruned at compile time when absorb is None
        abs_order, abs_ptr, abs_group, gf, gd = absorb
        ng = gf.shape[0] if frontier else 0
        n_tab = min(G, dmax) + 1 if ng > 0 else 0
        B, Cz, mn, ent, ent_z, ent_mn, am, ae, Am, Ae, sv = _group_state(ng, k, n_tab)
    for t in range(G + 1):
        y = ya if t % 2 == 0 else yb
        yn = yb if t % 2 == 0 else ya
        if k > 0 or t == G:
            F = _tree_traits(y, s, f, Z, zsum, t, trans_order, trans_ptr, pers_order, pers_ptr, not frontier, n)
            if absorb is not None:
                for g in range(ng):
                    F += B[g] * gf[g]
                    for j in range(k):
                        zsum[j] += Cz[g, j]
            for j in range(k):
                zmeans[j, t] = zsum[j]
        while snap_i < snap_times.shape[0] and snap_times[snap_i] == t:
            for w in range(n):
                snaps[snap_i, w] = y[w] * s
            if absorb is not None and ng > 0:
                _absorbed_shares(snaps[snap_i], t, dmax, abs_order, abs_ptr, abs_group, ya, yb, sv, Am, Ae, am, ae)
            snap_i += 1
        if t == G:
            if F < TINY:
                stopped = t  # run_exact recomputes F_G without underflow
            else:
                mean_f[t] = math.ldexp(F, fexp)
            break
        # y_next = (x_t M); it sums to F_t
        F = 0.0
        if frontier:
            if absorb is not None:
                lost = False
                for g in range(ng):
                    # the product the sweep would form for the group's smallest share: y(w) d >= TINY
                    lost = lost or mn[g] * gd[g] < TINY * s
                    F += B[g] * gd[g]
                if lost:
                    F = -1.0
            if t - 1 >= 0 and t - 1 <= dmax:
                for a in range(trans_ptr[t - 1], trans_ptr[t]):
                    yn[trans_order[a]] = 0.0
            if F >= 0.0 and t + 1 <= dmax:
                Ft = _gather(trans_order, trans_ptr[t + 1], trans_ptr[t + 2], yes, no, parent, c, d, y, yn, s,
                             parts)
                F = -1.0 if Ft < 0.0 else F + Ft
            if F >= 0.0:
                hi = pers_ptr[min(t + 1, dmax) + 1]
                Fp = _gather(pers_order, first, hi, yes, yes, parent, c, d, y, yn, s, parts)
                F = -1.0 if Fp < 0.0 else F + Fp
            if absorb is not None and F >= 0.0 and ng > 0 and t + 1 <= dmax:
                Fa = _enter_absorbing(abs_order, abs_ptr[t + 1], abs_ptr[t + 2], abs_group, parent, c, Z, y, yn,
                                      s, ent, ent_mn, ent_z)
                F = -1.0 if Fa < 0.0 else F + Fa
        else:
            for r in range(segments.shape[0] - 1):
                if F >= 0.0 and segments[r + 1] > segments[r]:
                    Fr = _gather(trans_order, segments[r], segments[r + 1], no, r % 2 == 1, parent, c, d, y, yn,
                                 s, parts)
                    F = -1.0 if Fr < 0.0 else F + Fr
        if F < TINY:
            # a lost product, extinction or tiny mean fitness: run_exact continues from x_t
            stopped = t
            break
        mean_f[t] = math.ldexp(F, fexp)
        acc, comp = _neumaier(acc, comp, log_scaled(F, fexp))
        log_n[t + 1] = acc + comp
        s = 1.0 / F
        if absorb is not None:
            _advance_groups(t + 1, s, gd, B, Cz, mn, ent, ent_mn, ent_z, am, ae, Am, Ae, sv)
    t_end = stopped if stopped >= 0 else G
    x_final = ya if t_end % 2 == 0 else yb  # scaled in place: no new array of n shares
    if frontier:
        # only the transient level t_end and the persistent prefix hold x_t / s (the absorbing
        # programs' raw entry values are read below, unscaled)
        if t_end <= dmax:
            for a in range(trans_ptr[t_end], trans_ptr[t_end + 1]):
                x_final[trans_order[a]] *= s
        for a in range(pers_ptr[min(t_end, dmax) + 1]):
            x_final[pers_order[a]] *= s
    else:
        for w in range(n):
            x_final[w] *= s
    if absorb is not None and ng > 0:
        _absorbed_shares(x_final, t_end, dmax, abs_order, abs_ptr, abs_group, ya, yb, sv, Am, Ae, am, ae)
    return mean_f, log_n, zmeans, snaps, x_final, stopped, acc, comp
