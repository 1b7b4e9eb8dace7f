"""Clade abundances and lineage exponents (docs/explanation/model.md).

The clade abundance ``N_t^v`` is the total abundance at time ``t`` of the
population started from one copy of ``v``: ``N_t^v = (M^t 1)_v`` with the mean
matrix ``M = diag(f) T``. The lineage exponents are

* upper: ``lambda(v) = limsup_t (1/t) log N_t^v``;
* lower: ``lambda_(v) = liminf_t (1/t) log N_t^v``.

:func:`lineage_exponents` estimates them over a finite horizon
(``method="estimate"``) or computes them exactly on a finite graph
(``method="exact"``): ``lambda(v) = lambda_(v) = log max rho(C)`` over the
strongly connected components ``C`` reachable from ``v``, ``rho`` the spectral
radius of ``M`` restricted to ``C``.

With ``include_design=False`` the design probabilities are left out and a
lineage is scored by its fitness alone: the exponent of ``v`` is the largest
long-run geometric mean of fitness along an infinite lineage (path of
positive-probability designs) starting at ``v``. On a finite graph this is the
largest mean of ``log f`` over the cycles reachable from ``v``. Which of the
two the paper uses is not known to the package (docs/explanation/model.md); the default counts
design, ``f * T``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ._blas import single_threaded_blas
from .errors import InvalidParameterError, bad_argument
from .graph import DesignGraph

__all__ = ["LineageExponents", "clade_abundance", "lineage_exponents", "spectral_radius_bounds"]

#: Components up to this size get a dense eigenvalue solve batched by size.
DENSE_MAX = 64
#: Components up to this size get a dense eigenvalue solve of their own; larger
#: ones an iterative, certified bracket (see :func:`spectral_radius_bounds`).
DENSE_SINGLE_MAX = 200
#: Largest component Karp's algorithm is run on (``include_design=False``, exact).
KARP_MAX = 3000


@dataclass(frozen=True, eq=False)
class LineageExponents:
    """Lineage exponents of every program of a graph.

    Attributes
    ----------
    value : ndarray, shape (n,)
        ``"exact"``: the exponent ``lambda(v) = lambda_(v)``. ``"estimate"``:
        ``(1/H) log N_H^v`` at the horizon ``H``. ``-inf`` where the clade dies out.
    upper : ndarray, shape (n,)
        ``"exact"``: a certified upper bound on ``lambda(v)`` (rounded outward:
        it holds for the exact matrix ``diag(f) T`` of the float inputs).
        ``"estimate"``: the largest ``(1/t) log N_t^v`` over the tail window
        ``H - tail <= t <= H``, an estimate of the upper exponent.
    lower : ndarray, shape (n,)
        ``"exact"``: a certified lower bound on ``lambda(v)``. ``"estimate"``:
        the smallest value over the tail window.
    error_bound : ndarray, shape (n,)
        For ``"exact"``: ``max(upper - value, value - lower)``, so
        ``|value - lambda(v)| <= error_bound`` is proved. It is wide (even
        ``inf``) where only a wide bracket could be proved, never narrow and wrong.
        For ``"estimate"``: ``upper - lower``, the spread over the tail.
    method : str
        ``"exact"`` or ``"estimate"``.
    include_design : bool
        Whether design probabilities count (``M = diag(f) T``) or fitness alone.
    horizon, tail : int or None
        The estimate's horizon ``H`` and tail window (``None`` for ``"exact"``).
    component : ndarray of int or None
        For ``"exact"``: the strongly connected component of each program.
    component_rate : ndarray or None
        For ``"exact"``: ``log rho(C)`` of each component on its own (or its best
        cycle mean of ``log f`` when ``include_design=False``).
    certified : ndarray of bool or None
        Where ``lower <= lambda(v) <= upper`` is proved (every program for
        ``"exact"``; none for ``"estimate"``, whose tail spread is a diagnostic).
    params : dict
        The call's parameters (method, include_design, horizon, tail, rtol) and
        a summary of the graph; saved with the result (:meth:`save`).
    """

    value: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    error_bound: np.ndarray
    method: str
    include_design: bool
    horizon: int | None = None
    tail: int | None = None
    component: np.ndarray | None = None
    component_rate: np.ndarray | None = None
    certified: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, v: int) -> float:
        return float(self.value[v])

    def __len__(self) -> int:
        return int(self.value.size)

    def __repr__(self) -> str:
        finite = self.value[np.isfinite(self.value)]
        rng = f"[{finite.min():.6g}, {finite.max():.6g}]" if finite.size else "none finite"
        dead = self.value.size - finite.size
        extra = f", horizon={self.horizon}, tail={self.tail}" if self.method == "estimate" else ""
        err = self.error_bound[np.isfinite(self.value)]
        worst = f", max error_bound={err.max():.3g}" if err.size else ""
        return (
            f"LineageExponents(method={self.method!r}, include_design={self.include_design}, "
            f"value in {rng} over {self.value.size} programs"
            + (f" ({dead} -inf)" if dead else "") + f"{worst}{extra})"
        )

    _OPTIONAL = ("component", "component_rate", "certified")

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Save as ``.npz`` plus a JSON sidecar (:func:`aievo.io.save_result`: atomic, never pickled)."""
        from .io import save_result

        arrays = {"value": self.value, "upper": self.upper, "lower": self.lower, "error_bound": self.error_bound}
        arrays.update({k: getattr(self, k) for k in self._OPTIONAL if getattr(self, k) is not None})
        meta = {
            "kind": "aievo.LineageExponents", "method": self.method, "include_design": bool(self.include_design),
            "horizon": self.horizon, "tail": self.tail, "params": self.params,
        }
        return save_result(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LineageExponents":
        """Load lineage exponents written by :meth:`save`."""
        from .io import load_result

        arrays, meta = load_result(
            path, kind="aievo.LineageExponents", meta_required=("method", "include_design", "horizon", "tail"),
            arrays_required=("value", "upper", "lower", "error_bound"),
        )
        return cls(
            value=arrays["value"], upper=arrays["upper"], lower=arrays["lower"], error_bound=arrays["error_bound"],
            method=meta["method"], include_design=meta["include_design"], horizon=meta["horizon"],
            tail=meta["tail"], params=dict(meta.get("params", {})),
            **{k: arrays.get(k) for k in cls._OPTIONAL},
        )


def _check_graph(g: Any) -> DesignGraph:
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    return g


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise bad_argument(InvalidParameterError, name, value, f"an integer >= {lo}")
    return int(value)


#: The recursion behind :func:`clade_abundance` costs ``max(times) * (edges + programs)`` steps;
#: beyond this many (tens of seconds) it is refused, and the exponents answer the long-run question.
MAX_CLADE_WORK = 10**10


def clade_abundance(g: DesignGraph, times: Any, *, log: bool = True) -> np.ndarray:
    """Clade abundance ``N_t^v`` of every program at each of the given times.

    Parameters
    ----------
    g : DesignGraph
    times : int or sequence of int
        Times ``t >= 0`` (any order, repeats allowed), with
        ``max(times) * (edges + programs) <= MAX_CLADE_WORK`` (``1e10``).
    log : bool
        Return ``log N_t^v`` (default; ``-inf`` for an extinct clade) or ``N_t^v``
        itself (which overflows to ``inf`` for long horizons).

    Returns
    -------
    ndarray, shape (len(times), n)
        Row ``i`` holds the values at ``times[i]`` (a 1-D array if ``times`` is a
        single integer).

    Notes
    -----
    One backward recursion ``a_{t+1} = M a_t`` from ``a_0 = 1`` serves all
    programs at once (compiled). Each value carries its own exponent, so a
    clade growing far more slowly than the fastest one keeps its full
    relative precision instead of underflowing to ``-inf``.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.lineage import clade_abundance
    >>> g = ae.chain([2.0, 3.0])     # 0 -> 1, and 1 reproduces itself
    >>> clade_abundance(g, [0, 1, 2], log=False)
    array([[1., 1.],
           [2., 3.],
           [6., 9.]])
    """
    from ._validate import int_array

    g = _check_graph(g)
    t_given = int_array(times, "times", lo=0, what="integer times")
    scalar = t_given.ndim == 0
    t_arr = np.atleast_1d(t_given).ravel()
    if t_arr.size == 0:
        return np.zeros((0, g.n))
    work = int(t_arr.max()) * (g.T.nnz + g.n)
    if work > MAX_CLADE_WORK:
        raise bad_argument(
            InvalidParameterError, "times", int(t_arr.max()),
            f"times with max(times) * (edges + programs) <= {MAX_CLADE_WORK:.0e} (here {work:.2e}); "
            "for the long-run growth use lineage_exponents(g)",
        )
    uniq, inv = np.unique(t_arr, return_inverse=True)
    from ._theory_kernels import log_clade_abundance

    T = g.T
    out = log_clade_abundance(
        T.indptr, T.indices, T.data, np.ascontiguousarray(g.fitness), uniq, np.int64(uniq[-1])
    )[inv]
    if not log:
        with np.errstate(over="ignore"):
            out = np.exp(out)
    return out[0] if scalar else out


def lineage_exponents(
    g: DesignGraph,
    method: str = "exact",
    *,
    horizon: int = 2000,
    tail: int | None = None,
    include_design: bool = True,
    rtol: float = 1e-10,
) -> LineageExponents:
    """Lineage exponents of every program.

    Parameters
    ----------
    g : DesignGraph
        A finite design tree or type graph.
    method : {"exact", "estimate"}
        ``"exact"``: ``log`` of the largest spectral radius over the strongly
        connected components reachable from each program (all programs at once).
        ``"estimate"``: ``(1/t) log N_t^v`` over a finite horizon.
    horizon : int
        The estimate's horizon ``H`` (``"estimate"`` only).
    tail : int, optional
        The estimate's tail window: lim sup and lim inf are estimated by the max
        and min of ``(1/t) log N_t^v`` over ``H - tail <= t <= H``. Default ``H // 2``.
    include_design : bool
        ``True`` (default): growth of ``M = diag(f) T``, design probabilities
        included. ``False``: fitness alone, the largest geometric mean of ``f``
        along an infinite lineage from ``v`` (max-plus instead of sum-product).
    rtol : float
        ``"exact"``: relative width at which the certified bracket of the
        spectral radius of a component (other than a single program or a
        cycle, which get closed forms) is accepted.

    Returns
    -------
    LineageExponents

    Raises
    ------
    InvalidParameterError
        For a bad ``method``, ``horizon``, ``tail`` or ``rtol``, or (exact,
        ``include_design=False``) a strongly connected component larger than
        ``KARP_MAX`` programs.

    Notes
    -----
    Exact, with design: ``[lower, upper]`` is a certified bracket of
    ``lambda(v)`` for the exact matrix ``diag(f) T`` of the float inputs, by
    construction, whatever the conditioning. A program that is a component of
    its own gets ``log f + log T_vv``; a component that is one cycle through
    all its programs (self-loops allowed: ``prod_i (rho - d_i) = prod_i c_i``)
    its closed form, solved by a certified bisection in the log domain (a
    20,000-cycle costs milliseconds); any other component a Collatz-Wielandt
    bracket ``min_i (A x)_i / x_i <= rho(A) <= max_i (A x)_i / x_i`` from a
    positive vector ``x``, rounded outward (stored entries, sums, underflow).
    ``x`` comes from a dense eigen-solve, batched by size up to ``DENSE_MAX``
    programs and one by one up to ``DENSE_SINGLE_MAX``, refined by Noda's
    iteration until the bracket closes to ``rtol``, and, if an ill-conditioned
    Perron vector keeps it open, by bisection with an M-matrix test of
    ``lam I - A`` rounded outward (Gaussian elimination without pivoting,
    pivots rounded down and up), which keeps relative accuracy because the
    Perron root is monotone in every entry; larger components use
    power iteration on ``M_C + s I`` (helped by Noda's iteration or ARPACK).
    Where ``x`` is poor (ill-conditioned or slowly mixing components) the
    bracket stays wide, and ``error_bound`` says so. Blocks are scaled by a
    power of two, so fitness from ``1e-300`` to ``1e300`` loses nothing.
    The maximum over reachable components is one pass over the condensation
    DAG (for the value and both bounds).
    Without design (``include_design=False``), each component's best cycle mean
    of ``log f`` comes from Karp's algorithm (``O(|C| |E_C|)``), with an
    error bound from its rounding analysis.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.lineage import lineage_exponents
    >>> g = ae.type_graph([4.0, 1.0], [[0.0, 1.0], [1.0, 0.0]])  # 4, 1, 4, 1, ...
    >>> lam = lineage_exponents(g)
    >>> round(float(lam.value[0]), 12), round(float(lineage_exponents(g, "estimate").value[0]), 12)
    (0.69314718056, 0.69314718056)
    """
    g = _check_graph(g)
    if method not in ("exact", "estimate"):
        raise bad_argument(InvalidParameterError, "method", method, '"exact" or "estimate"')
    if not isinstance(include_design, (bool, np.bool_)):
        raise bad_argument(InvalidParameterError, "include_design", include_design, "True or False")
    if method == "estimate":
        H = _check_int("horizon", horizon, 1)
        tl = H // 2 if tail is None else _check_int("tail", tail, 0)
        if tl > H - 1:
            raise bad_argument(InvalidParameterError, "tail", tail, f"an integer in [0, horizon - 1 = {H - 1}]")
        out = _estimate(g, H, tl, bool(include_design))
        params = {"method": method, "include_design": bool(include_design), "horizon": H, "tail": tl}
    else:
        from ._validate import check_real

        r = check_real(rtol, "rtol", lo=0.0, hi=1.0, lo_open=True, hi_open=True, expected="a number in (0, 1)")
        out = _exact(g, bool(include_design), r)
        params = {"method": method, "include_design": bool(include_design), "rtol": r}
    return replace(out, params={**params, "graph": g.summary()})


# ---------------------------------------------------------------------- estimate
def _estimate(g: DesignGraph, H: int, tl: int, include_design: bool) -> LineageExponents:
    times = np.arange(H - tl, H + 1, dtype=np.int64)
    T = g.T
    if include_design:
        from ._theory_kernels import log_clade_abundance

        logs = log_clade_abundance(
            T.indptr, T.indices, T.data, np.ascontiguousarray(g.fitness), times, np.int64(H)
        )
    else:
        from ._theory_kernels import maxplus_lineage

        with np.errstate(divide="ignore"):
            w = np.log(g.fitness)
        logs = maxplus_lineage(T.indptr, T.indices, w, times, np.int64(H))
    rates = logs / times[:, None].astype(np.float64)
    if times[0] == 0:  # (1/0) log N_0 is undefined; drop t = 0 from the tail
        rates = rates[1:]
    value = rates[-1].copy()
    upper = rates.max(axis=0)
    lower = rates.min(axis=0)
    with np.errstate(invalid="ignore"):
        spread = np.where(np.isfinite(upper) & np.isfinite(lower), upper - lower, 0.0)
    return LineageExponents(
        value=value, upper=upper, lower=lower, error_bound=spread, method="estimate",
        include_design=include_design, horizon=H, tail=tl, certified=np.zeros(g.n, dtype=bool),
    )


# ---------------------------------------------------------------------- exact
def _components(g: DesignGraph) -> tuple[Any, np.ndarray, int]:
    """The mean matrix ``f * T`` on the edges with ``f > 0``, ``T > 0`` and its strong components.

    The pattern comes from ``f`` and ``T``, not from their rounded product, so an
    edge whose product underflows still connects its programs.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    T = sp.csr_array(g.T)
    f = np.asarray(g.fitness, dtype=np.float64)
    rows = np.repeat(np.arange(g.n, dtype=np.int64), np.diff(T.indptr))
    keep = (T.data > 0.0) & (f[rows] > 0.0)
    r, c, t = rows[keep], T.indices[keep].astype(np.int64), T.data[keep]
    pattern = sp.csr_array((np.ones(r.size), (r, c)), shape=(g.n, g.n))
    n_comp, comp = connected_components(pattern, directed=True, connection="strong")
    M = sp.csr_array((f[r] * t, (r, c)), shape=(g.n, g.n))
    M.sum_duplicates()
    M.sort_indices()
    M.eliminate_zeros()
    return (M, (r, c, t)), comp.astype(np.int64), int(n_comp)


def _condensation(M: Any, comp: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    import scipy.sparse as sp

    _, (r, c, _t) = M
    a = comp[r]
    b = comp[c]
    keep = a != b
    C = sp.csr_array(
        (np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n_comp, n_comp)
    )
    C.sum_duplicates()
    return C.indptr.astype(np.int64), C.indices.astype(np.int64)


def spectral_radius_bounds(
    A: Any, *, rtol: float = 1e-10, maxiter: int = 2000
) -> tuple[float, float, float]:
    """Certified bracket ``lo <= rho(A) <= hi`` for an irreducible nonnegative matrix.

    Power iteration on ``B = A + s I`` (``s > 0`` makes it primitive) supplies
    positive vectors ``x``; every bracket is the Collatz-Wielandt bound
    ``min_i (Ax)_i/x_i <= rho(A) <= max_i (Ax)_i/x_i`` of ``A`` itself (never
    of ``B`` minus the shift, which cancels when ``s`` dwarfs ``rho``), rounded
    outward so it holds for the exact matrix whose stored entries are within a
    relative ``2**-53`` (see :func:`aievo._perron.cw_bounds`). The iteration
    stops when ``hi - lo <= rtol * hi``. If a few hundred steps from ``x = 1``
    do not suffice, Noda's inverse iteration (a sparse LU solve of
    ``(sigma I - A) y = x`` per step, ``sigma`` the upper bound) takes over
    when the LU factors stay sparse (see ``_lu_is_cheap``); otherwise, and as
    the last resort, ARPACK's Perron vector seeds more power steps.

    Parameters
    ----------
    A : scipy.sparse matrix or ndarray, shape (k, k)
        Nonnegative and irreducible (one strongly connected component).
    rtol : float
        Relative width of the accepted bracket.
    maxiter : int
        Iteration cap; the (still valid, wider) bracket is returned when reached.

    Returns
    -------
    (lo, hi, estimate) : tuple of float
        The bracket and a point estimate inside it. For slowly mixing
        components whose Perron vector spans hundreds of orders of magnitude
        the bracket can stay wide; it is still valid.
    """
    import scipy.sparse as sp

    from ._perron import cw_bounds, down, up

    A = sp.csr_array(A, dtype=np.float64)
    k = A.shape[0]
    nnz = np.diff(A.indptr).astype(np.float64)
    rowsum = np.asarray(A.sum(axis=1)).ravel()
    # always-valid bounds: min row sum <= rho <= max row sum, rho >= max diagonal entry
    lo0, hi0 = cw_bounds(rowsum, np.ones(k), nnz)
    diag_lo = float(down(A.diagonal().max() * (1.0 - 2.0 * 2.0**-53))) if k else 0.0
    state: dict[str, float] = {"lo": max(lo0, diag_lo, 0.0), "hi": hi0}
    # The shift s makes B = A + s I primitive; a component with a positive diagonal
    # entry is primitive already, and a smaller shift converges faster there.
    s = max(float(rowsum.mean()), 1e-300)
    if k > 1 and A.diagonal().max() > 0:
        s *= 1e-3

    def certify(Ax: np.ndarray, x: np.ndarray) -> bool:
        lo, hi = cw_bounds(Ax, x, nnz)
        state["lo"] = max(state["lo"], lo)
        state["hi"] = min(state["hi"], hi)
        return state["hi"] - state["lo"] <= rtol * max(state["hi"], 1e-300)

    def power(x: np.ndarray, steps: int) -> tuple[np.ndarray, bool]:
        # the plain (uncertified) ratios' running bracket, with the vectors that gave each side;
        # those two are certified when the running bracket closes (and every 50 steps)
        best_lo, best_hi = -np.inf, np.inf
        pair_lo = pair_hi = None
        for i in range(steps):
            Ax = A @ x
            with np.errstate(all="ignore"):
                ratio = Ax / x
            plo, phi = float(ratio.min()), float(ratio.max())
            if plo > best_lo:
                best_lo, pair_lo = plo, (Ax, x)
            if phi < best_hi:
                best_hi, pair_hi = phi, (Ax, x)
            if best_hi - best_lo <= 0.5 * rtol * max(best_hi, 1e-300) or i % 50 == 49 or i == steps - 1:
                done = False
                for pair in {id(p): p for p in (pair_lo, pair_hi) if p is not None}.values():
                    done = certify(*pair)
                if done:
                    return x, True
            y = Ax + s * x
            x = np.maximum(y / y.max(), 1e-300)
        return x, False

    # well-mixing components converge within a few hundred steps from x = 1
    x, done = power(np.ones(k), min(300, maxiter))
    est = None
    if not done and _lu_is_cheap(A):
        x, done = _noda(A, x, state, rtol, certify)
    stalled = "noda" in state  # rho found; the lower bound cannot be certified further
    if not done and not stalled and k > 3:
        # last resort: ARPACK's Perron vector, then more power steps
        # (Collatz-Wielandt bounds hold for any positive x, so the bracket stays valid)
        from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigs

        try:
            val, vec = eigs(A, k=1, which="LR", tol=0, maxiter=5000, v0=x)
            est = float(val[0].real)
            v = np.abs(vec[:, 0].real)
            if np.all(np.isfinite(v)) and v.max() > 0:
                x = np.maximum(v / v.max(), 1e-300)
        except (ArpackNoConvergence, ArpackError):
            pass
    if not done and not stalled:
        x, done = power(x, maxiter)
    lo = max(state["lo"], 0.0)
    hi = max(state["hi"], lo)
    if est is None and "noda" in state:
        est = state["noda"]
    if est is None or not np.isfinite(est):
        est = 0.5 * (lo + hi) if np.isfinite(hi) else lo
    est = min(max(est, lo), hi)
    return lo, float(up(hi, 0)), est


#: Noda's iteration factorises ``sigma I - A``; above this many programs it is
#: used only when a bandwidth-reducing order shows the factors stay sparse.
NODA_DIRECT_MAX = 1000


def _lu_is_cheap(A: Any) -> bool:
    """Whether a sparse LU of ``A`` stays cheap: small, or of small bandwidth after RCM.

    Random sparse components have LU factors that fill in almost completely
    (a 17,000-program component took minutes); lattices and chains do not.
    """
    k = A.shape[0]
    if k <= NODA_DIRECT_MAX:
        return True
    import scipy.sparse as sp
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    perm = reverse_cuthill_mckee(sp.csr_array(A + A.T), symmetric_mode=True)
    inv = np.empty(k, dtype=np.int64)
    inv[perm] = np.arange(k)
    coo = A.tocoo()
    bandwidth = int(np.abs(inv[coo.row] - inv[coo.col]).max(initial=0))
    return bandwidth * k <= 20_000_000


def _noda(
    A: Any, x: np.ndarray, state: dict, rtol: float, certify: Any, maxiter: int = 60
) -> tuple[np.ndarray, bool]:
    """Noda's inverse iteration for the Perron root (superlinear; keeps ``x > 0``).

    With ``sigma`` the current upper Collatz-Wielandt bound, ``sigma >= rho``,
    so ``(sigma I - A)^{-1}`` is a positive matrix for irreducible ``A`` and
    ``y = (sigma I - A)^{-1} x`` stays positive; both bounds tighten. The
    bracket itself comes from ``certify(A @ x, x)`` (outward rounded), so a
    step spoiled by rounding can only fail to tighten it. ``A`` is sparse or a
    dense ndarray.
    """
    import scipy.sparse as sp

    k = A.shape[0]
    dense = isinstance(A, np.ndarray)
    if not dense:
        from scipy.sparse.linalg import splu

        eye = sp.eye_array(k, format="csc")
        Acsc = sp.csc_array(A)
    previous = np.inf
    for _ in range(maxiter):
        y = A @ x
        if certify(y, x):
            return x, True
        with np.errstate(all="ignore"):
            sigma = float((y / x).max())
        if not np.isfinite(sigma) or sigma >= previous * (1.0 - 1e-15):
            # the upper bound no longer moves: sigma has converged to rho, but the
            # lower bound is stuck (a Perron vector too small in places to certify it)
            if np.isfinite(sigma):
                state["noda"] = sigma
            return x, False
        previous = sigma
        try:
            with np.errstate(all="ignore"):
                if dense:
                    z = np.linalg.solve(sigma * np.eye(k) - A, x)
                else:
                    z = splu(sigma * eye - Acsc).solve(x)
        except (RuntimeError, MemoryError, ValueError, np.linalg.LinAlgError):
            return x, False
        if not np.all(np.isfinite(z)) or z.min() <= 0:
            return x, False
        x = np.maximum(z / z.max(), 1e-300)
    return x, False


def _dense_bracket(
    A: np.ndarray, A_err: np.ndarray, x0: np.ndarray | None, rtol: float, scale_exp: int = 0
) -> tuple[float, float, tuple[float, float] | None]:
    """Certified bracket of ``rho(A)`` for a dense irreducible block.

    Collatz-Wielandt bounds from ``x0`` refined by Noda's iteration; if the
    bracket is still wider than ``rtol`` (an ill-conditioned Perron vector),
    bisection with the rounded M-matrix test of ``lam I - A``
    (:func:`aievo._perron.mmatrix_log_bracket`), which keeps relative accuracy
    and returns a bracket of ``log(2**scale_exp rho)`` (else ``None``).
    ``A_err`` bounds the error of each stored entry.
    """
    from ._perron import cw_bounds, down, mmatrix_log_bracket

    k = A.shape[0]
    nnz = np.full(k, float(k))
    lo, hi = cw_bounds(A.sum(axis=1), np.ones(k), nnz)
    lo = max(lo, float(down(A.diagonal().max() * (1.0 - 2.0 * 2.0**-53))))
    state = {"lo": lo, "hi": hi}

    def certify(Ax: np.ndarray, x: np.ndarray) -> bool:
        a, b = cw_bounds(Ax, x, nnz)
        state["lo"] = max(state["lo"], a)
        state["hi"] = min(state["hi"], b)
        return state["hi"] - state["lo"] <= rtol * max(state["hi"], 1e-300)

    x = np.ones(k) if x0 is None else x0
    with single_threaded_blas():
        if not certify(A @ x, x):
            x, _ = _noda(A, x, state, rtol, certify, maxiter=40)
        if state["hi"] - state["lo"] > rtol * state["hi"]:
            # an ill-conditioned Perron vector: its tiny entries are the least accurate, and
            # dropping them (x_i = 0) still gives lower bounds, those of principal submatrices
            for tau in 10.0 ** -np.arange(1.0, 300.0, 6.0):
                xs = np.where(x >= tau, x, 0.0)
                if xs.any():
                    certify(A @ xs, xs)
    logs = None
    if state["hi"] - state["lo"] > rtol * state["hi"] and k <= DENSE_SINGLE_MAX:
        logs = mmatrix_log_bracket(A, A_err, state["lo"], state["hi"], rtol, scale_exp=scale_exp)
    return state["lo"], state["hi"], logs


def _perron_vectors(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense eigen-solve of a stack of blocks: the Perron root estimates and positive vectors."""
    with single_threaded_blas():
        w, V = np.linalg.eig(blocks)
    i = np.argmax(w.real, axis=-1)
    ev = np.abs(np.take_along_axis(w, i[..., None], axis=-1)[..., 0])
    v = np.abs(np.take_along_axis(V, i[..., None, None], axis=-1)[..., 0].real)
    with np.errstate(all="ignore"):
        v = v / v.max(axis=-1, keepdims=True)
    v = np.where(np.isfinite(v), np.maximum(v, 1e-300), 1.0)
    return ev, v


def _cycle_components(
    r: np.ndarray, c: np.ndarray, comp: np.ndarray, size: np.ndarray
) -> np.ndarray:
    """Components (of two or more programs) that are one cycle through all their programs, plus self-loops."""
    off = (r != c) & (comp[r] == comp[c])
    outdeg = np.bincount(r[off], minlength=comp.size)
    n_comp = size.size
    bad = np.zeros(n_comp, dtype=bool)
    bad[comp[outdeg != 1]] = True
    return (size > 1) & ~bad


def _component_log_radii(
    M: Any, f: np.ndarray, comp: np.ndarray, n_comp: int, rtol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log rho`` of ``diag(f) T`` restricted to each component: estimate, certified lower and upper bound.

    Singletons and cycles (with or without self-loops) get their closed forms
    in the log domain; other components a Collatz-Wielandt bracket from a dense
    eigenvector (refined by Noda's iteration) or from iteration
    (:func:`spectral_radius_bounds`), computed on the block scaled by a power
    of two (exact) so that no entry over- or underflows, and rounded outward.
    """
    import scipy.sparse as sp

    from ._perron import (
        FUNC_ULPS,
        TINY,
        U,
        cw_bounds,
        cycle_log_bracket,
        down,
        log_bracket,
        product_error,
        up,
    )

    _, (r, c, t) = M
    inside = comp[r] == comp[c]
    r, c, t = r[inside], c[inside], t[inside]
    with np.errstate(divide="ignore"):
        lf = np.log(f)
        lt = np.log(t)
    le = lf[r] + lt  # log of each entry, no under/overflow
    le_err = up(FUNC_ULPS * 2.0 * U * (np.abs(lf[r]) + np.abs(lt)) + 2.0 * U * np.abs(le) + TINY)
    size = np.bincount(comp, minlength=n_comp)
    rate = np.full(n_comp, -np.inf)
    lo = np.full(n_comp, -np.inf)
    hi = np.full(n_comp, -np.inf)
    # singletons: the self-loop weight, log f + log T
    single = size[comp[r]] == 1
    cs = comp[r[single]]
    rate[cs] = le[single]
    lo[cs] = down(le[single] - le_err[single], 2)
    hi[cs] = up(le[single] + le_err[single], 2)
    # cycles through a whole component, with or without self-loops: closed form
    is_cycle = _cycle_components(r, c, comp, size)
    order = np.argsort(comp[r], kind="stable")
    r_s, c_s, t_s, le_s, err_s = r[order], c[order], t[order], le[order], le_err[order]
    estart = np.searchsorted(comp[r_s], np.arange(n_comp + 1))
    def closed_form(cid: int) -> None:
        sl = slice(estart[cid], estart[cid + 1])
        rr, cc = r_s[sl], c_s[sl]
        loop = rr == cc
        d = np.zeros(int(size[cid]))
        _, pos = np.unique(rr, return_inverse=True)
        d_err = np.zeros(d.size)
        d[pos[loop]] = f[rr[loop]] * t_s[sl][loop]  # fl(f T), and a bound on its error
        d_err[pos[loop]] = product_error(f[rr[loop]], t_s[sl][loop])
        lo[cid], hi[cid], rate[cid] = cycle_log_bracket(le_s[sl][~loop], err_s[sl][~loop], d, d_err)

    # A cycle without self-loops is a mean of logs (cheap); one with self-loops needs a bisection,
    # so small ones try the batched dense bracket first and fall back to the closed form
    has_loop = np.zeros(n_comp, dtype=bool)
    has_loop[comp[r[r == c]]] = True
    cycle_first = is_cycle & (~has_loop | (size > DENSE_MAX))
    for cid in np.flatnonzero(cycle_first):
        closed_form(int(cid))
    # other components: a block scaled by 2**-e, e the exponent of its largest fitness
    general = (size > 1) & ~cycle_first
    if not general.any():
        return rate, lo, hi
    gsel = general[comp[r]]
    rg, cg, tg = r[gsel], c[gsel], t[gsel]
    cid_e = comp[rg]
    fmax = np.zeros(n_comp)
    np.maximum.at(fmax, comp, f)
    _, ex = np.frexp(fmax)
    ex = ex.astype(np.int64)
    fs = np.ldexp(f[rg], -ex[cid_e])
    vals = fs * tg  # entries <= 1; the scaling by a power of two is exact
    vals_err = product_error(fs, tg)
    tiny_entry = np.zeros(n_comp, dtype=bool)
    tiny_entry[cid_e[vals < 2.0**-1000]] = True  # (near-)subnormal entries: the relative error model fails
    local = np.empty(comp.size, dtype=np.int64)
    corder = np.argsort(comp, kind="stable")
    cstart = np.concatenate([[0], np.cumsum(size)])
    local[corder] = np.arange(comp.size) - cstart[comp[corder]]
    log2 = np.log(2.0)

    def finish(cid: int, blo: float, bhi: float, est: float, logs: tuple[float, float] | None = None) -> None:
        e = float(ex[cid])
        a, b = log_bracket(blo, bhi)
        shift_lo, shift_hi = down(e * log2, 2), up(e * log2, 2)
        lo[cid] = float(down(a + shift_lo))
        hi[cid] = float(up(b + shift_hi))
        if logs is not None:  # a second certified bracket of log rho (unscaled): keep the intersection
            lo[cid], hi[cid] = max(lo[cid], logs[0]), min(hi[cid], logs[1])
        if not (np.isfinite(est) and blo <= est <= bhi):
            est = 0.5 * (blo + bhi) if np.isfinite(bhi) else blo
        with np.errstate(divide="ignore", invalid="ignore"):
            r = float(np.log(est) + e * log2)
            if logs is not None and np.isfinite(lo[cid]) and np.isfinite(hi[cid]):
                r = 0.5 * (lo[cid] + hi[cid])
        rate[cid] = min(max(r, lo[cid]), hi[cid]) if np.isfinite(r) or r == -np.inf else lo[cid]

    pending = []
    for s in np.unique(size[general & (size <= DENSE_MAX)]):
        ids = np.flatnonzero(general & (size == s) & ~tiny_entry)
        if ids.size == 0:
            continue
        slot = np.full(n_comp, -1, dtype=np.int64)
        slot[ids] = np.arange(ids.size)
        sel = slot[cid_e] >= 0
        blocks = np.zeros((ids.size, s, s))
        blocks[slot[cid_e[sel]], local[rg[sel]], local[cg[sel]]] = vals[sel]
        errs = np.zeros((ids.size, s, s))
        errs[slot[cid_e[sel]], local[rg[sel]], local[cg[sel]]] = vals_err[sel]
        ev, x = _perron_vectors(blocks)
        with single_threaded_blas():
            Ax = np.matmul(blocks, x[..., None])[..., 0]
        blo, bhi = cw_bounds(Ax, x, np.full(s, float(s)))
        rs = blocks.sum(axis=2)
        rlo, rhi = cw_bounds(rs, np.ones_like(rs), np.full(s, float(s)))
        blo, bhi = np.maximum(blo, rlo), np.minimum(bhi, rhi)
        for j, cid in enumerate(ids):
            if bhi[j] - blo[j] <= rtol * bhi[j]:
                finish(int(cid), float(blo[j]), float(bhi[j]), float(ev[j]))
            elif is_cycle[cid]:
                closed_form(int(cid))
            else:
                pending.append((int(cid), blocks[j], errs[j], x[j], float(ev[j])))
    for cid in np.flatnonzero(general & ((size > DENSE_MAX) | tiny_entry)):
        if is_cycle[cid]:
            closed_form(int(cid))
            continue
        sel = cid_e == cid
        k = int(size[cid])
        if tiny_entry[cid]:
            # entries below 2**-1000 of the largest: the always-valid log-domain bracket
            # (largest diagonal or best row <= rho <= largest row sum), wide but proved
            lo[cid], hi[cid], rate[cid] = _wide_log_bracket(le[gsel][sel], le_err[gsel][sel], rg[sel], cg[sel])
            continue
        A = sp.csr_array((vals[sel], (local[rg[sel]], local[cg[sel]])), shape=(k, k))
        if k <= DENSE_SINGLE_MAX:
            dense = A.toarray()
            err = sp.csr_array((vals_err[sel], (local[rg[sel]], local[cg[sel]])), shape=(k, k)).toarray()
            ev, x = _perron_vectors(dense[None])
            pending.append((int(cid), dense, err, x[0], float(ev[0])))
        else:
            blo, bhi, est = spectral_radius_bounds(A, rtol=rtol)
            finish(int(cid), blo, bhi, est)
    for pid, dense, err, x0, pev in pending:
        blo, bhi, logs = _dense_bracket(dense, err, x0, rtol, int(ex[pid]))
        finish(pid, blo, bhi, pev, logs)
    return rate, lo, hi


def _wide_log_bracket(
    le: np.ndarray, le_err: np.ndarray, r: np.ndarray, c: np.ndarray
) -> tuple[float, float, float]:
    """An always-valid bracket of ``log rho`` of an irreducible block from its log entries.

    ``rho >= max_i A_ii``, ``rho >= min_i sum_j A_ij`` and ``rho <= max_i sum_j A_ij``;
    the row sums are taken in the log domain (``logaddexp``), rounded outward.
    """
    from ._perron import FUNC_ULPS, down, up

    nodes, pos = np.unique(r, return_inverse=True)
    lo_e = down(le - le_err, 2)
    hi_e = up(le + le_err, 2)
    row_lo = np.full(nodes.size, -np.inf)
    row_hi = np.full(nodes.size, -np.inf)
    np.logaddexp.at(row_lo, pos, lo_e)
    np.logaddexp.at(row_hi, pos, hi_e)
    deg = np.bincount(pos, minlength=nodes.size)
    row_lo = down(row_lo - 2.0 * deg * 2.0**-53 * np.abs(row_lo), FUNC_ULPS * 2)
    row_hi = up(row_hi + 2.0 * deg * 2.0**-53 * np.abs(row_hi), FUNC_ULPS * 2)
    diag = lo_e[r == c]
    lo = float(max(row_lo.min(), diag.max() if diag.size else -np.inf))
    hi = float(row_hi.max())
    return lo, hi, 0.5 * (lo + hi)


def _exact(g: DesignGraph, include_design: bool, rtol: float) -> LineageExponents:
    from ._theory_kernels import dag_max

    M, comp, n_comp = _components(g)
    cptr, cidx = _condensation(M, comp, n_comp)
    f = np.asarray(g.fitness, dtype=np.float64)
    if include_design:
        comp_rate, clo, chi = _component_log_radii(M, f, comp, n_comp, rtol)
        value = dag_max(cptr, cidx, comp_rate)[comp]
        lower = dag_max(cptr, cidx, clo)[comp]
        upper = dag_max(cptr, cidx, chi)[comp]
        value = np.minimum(np.maximum(value, lower), upper)
    else:
        size = np.bincount(comp, minlength=n_comp)
        if size.max() > KARP_MAX:
            raise bad_argument(
                InvalidParameterError, "include_design", False,
                f"True, or method='estimate': a strongly connected component has {int(size.max())} "
                f"programs, above KARP_MAX={KARP_MAX} for the exact fitness-only exponent",
            )
        from ._perron import U, down, up
        from ._theory_kernels import component_max_cycle_mean

        Msp = M[0]
        order = np.argsort(comp, kind="stable").astype(np.int64)
        start = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
        local = np.empty(comp.size, dtype=np.int64)
        local[order] = np.arange(comp.size) - start[comp[order]]
        pattern = Msp.copy()
        pattern.data[:] = 1.0
        with np.errstate(divide="ignore"):
            w = np.log(f)
        comp_rate = component_max_cycle_mean(
            pattern.indptr.astype(np.int64), pattern.indices.astype(np.int64), w, comp, order, start, local
        )
        # Karp's value is a max-min of (D_k - D_j) / (k - j), sums of at most k node weights:
        # each within k u sum|w| of exact (and each log within 4 ulps), so within this of the truth
        wabs = np.where(np.isfinite(w), np.abs(w), 0.0)
        wmax = np.zeros(n_comp)
        np.maximum.at(wmax, comp, wabs)
        err_c = up((2.0 * size.astype(np.float64) ** 2 + 8.0 * size + 4.0) * U * wmax * 1.01)
        with np.errstate(invalid="ignore"):
            clo = np.where(np.isfinite(comp_rate), down(comp_rate - err_c), comp_rate)
            chi = np.where(np.isfinite(comp_rate), up(comp_rate + err_c), comp_rate)
        value = dag_max(cptr, cidx, comp_rate)[comp]
        lower = dag_max(cptr, cidx, clo)[comp]
        upper = dag_max(cptr, cidx, chi)[comp]
    err = np.zeros(g.n)
    fin = np.isfinite(value)
    with np.errstate(invalid="ignore"):
        err[fin] = np.maximum(upper[fin] - value[fin], value[fin] - lower[fin])
    return LineageExponents(
        value=value, upper=upper, lower=lower, error_bound=err, method="exact",
        include_design=include_design, component=comp, component_rate=comp_rate,
        certified=np.ones(g.n, dtype=bool),
    )
