"""Clade abundances and lineage exponents (MODEL.md section 3).

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
two the paper uses is not known to the package (MODEL.md); the default counts
design, ``f * T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._blas import single_threaded_blas
from .errors import InvalidParameterError, bad_argument
from .graph import DesignGraph

__all__ = ["clade_abundance", "lineage_exponents", "LineageExponents", "spectral_radius_bounds"]

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
        Estimate of the upper exponent ``lambda(v)``: the largest ``(1/t) log N_t^v``
        over the tail window ``H - tail <= t <= H``. For ``"exact"``, equal to ``value``.
    lower : ndarray, shape (n,)
        Estimate of the lower exponent: the smallest value over the tail window.
        For ``"exact"``, equal to ``value``.
    error_bound : ndarray, shape (n,)
        For ``"exact"``: a bound on ``|value - lambda(v)|`` from Collatz-Wielandt
        brackets of the spectral radius (rounding-level for dense solves).
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

    def __getitem__(self, v: int) -> float:
        return float(self.value[v])

    def __len__(self) -> int:
        return int(self.value.size)

    def __repr__(self) -> str:
        finite = self.value[np.isfinite(self.value)]
        rng = f"[{finite.min():.6g}, {finite.max():.6g}]" if finite.size else "none finite"
        extra = f", horizon={self.horizon}, tail={self.tail}" if self.method == "estimate" else ""
        return (
            f"LineageExponents(method={self.method!r}, n={self.value.size}, "
            f"include_design={self.include_design}, values {rng}{extra})"
        )


def _check_graph(g: Any) -> DesignGraph:
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    return g


def _check_int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise bad_argument(InvalidParameterError, name, value, f"an integer >= {lo}")
    return int(value)


def clade_abundance(g: DesignGraph, times: Any, *, log: bool = True) -> np.ndarray:
    """Clade abundance ``N_t^v`` of every program at each of the given times.

    Parameters
    ----------
    g : DesignGraph
    times : int or sequence of int
        Times ``t >= 0`` (any order, repeats allowed).
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
    g = _check_graph(g)
    scalar = np.ndim(times) == 0
    t_arr = np.atleast_1d(np.asarray(times))
    if t_arr.size == 0:
        return np.zeros((0, g.n))
    if not np.issubdtype(t_arr.dtype, np.integer) or (t_arr < 0).any():
        raise bad_argument(InvalidParameterError, "times", times, "integers >= 0")
    t_arr = t_arr.astype(np.int64).ravel()
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
        ``"exact"``: relative width at which the certified bracket of a large
        component's spectral radius is accepted.

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
    Exact, with design: components up to ``DENSE_MAX`` programs are solved with
    dense eigenvalues, batched by size, and up to ``DENSE_SINGLE_MAX`` one by
    one; larger ones by power iteration on ``M_C + s I`` (helped by ARPACK)
    until the Collatz-Wielandt bounds
    ``min_i (A x)_i / x_i <= rho(A) <= max_i (A x)_i / x_i`` agree to ``rtol``.
    For slowly mixing large components (long cycles, lattices with a narrow
    peak) the bracket may stay wider; ``error_bound`` reports it.
    The maximum over reachable components is one pass over the condensation DAG.
    Without design (``include_design=False``), each component's best cycle mean
    of ``log f`` comes from Karp's algorithm (``O(|C| |E_C|)``).

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
        return _estimate(g, H, tl, bool(include_design))
    r = float(rtol)
    if not (0.0 < r < 1.0):
        raise bad_argument(InvalidParameterError, "rtol", rtol, "a number in (0, 1)")
    return _exact(g, bool(include_design), r)


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
        include_design=include_design, horizon=H, tail=tl,
    )


# ---------------------------------------------------------------------- exact
def _components(g: DesignGraph) -> tuple[Any, np.ndarray, int]:
    """The mean matrix (pattern of f * T, zero rows for f = 0) and its strong components."""
    from scipy.sparse.csgraph import connected_components

    M = g.mean_matrix()
    M.eliminate_zeros()
    n_comp, comp = connected_components(M, directed=True, connection="strong")
    return M, comp.astype(np.int64), int(n_comp)


def _condensation(M: Any, comp: np.ndarray, n_comp: int) -> tuple[np.ndarray, np.ndarray]:
    import scipy.sparse as sp

    coo = M.tocoo()
    a = comp[coo.row]
    b = comp[coo.col]
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

    Power iteration on ``B = A + s I`` (``s > 0`` makes it primitive, with
    spectral radius ``rho(A) + s``) tightens the Collatz-Wielandt bounds
    ``min_i (Bx)_i/x_i <= rho(B) <= max_i (Bx)_i/x_i`` until
    ``hi - lo <= rtol * hi``. If a few hundred steps from ``x = 1`` do not
    suffice, Noda's inverse iteration (a sparse LU solve of
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
        The bracket and a point estimate inside it (the converged upper bound of
        Noda's iteration or ARPACK's eigenvalue when the bracket did not close,
        else the bracket's midpoint). For slowly mixing components
        whose Perron vector spans hundreds of orders of magnitude the bracket
        can stay wide; it is still valid.
    """
    import scipy.sparse as sp

    A = sp.csr_array(A, dtype=np.float64)
    k = A.shape[0]
    rowsum = np.asarray(A.sum(axis=1)).ravel()
    # The shift s makes B = A + s I primitive; a component with a positive diagonal
    # entry is primitive already, and a smaller shift converges faster there.
    s = max(float(rowsum.mean()), 1e-300)
    if k > 1 and A.diagonal().max() > 0:
        s *= 1e-3
    state = {"lo": 0.0, "hi": np.inf}

    def power(x: np.ndarray, steps: int) -> tuple[np.ndarray, bool]:
        for _ in range(steps):
            y = A @ x + s * x
            ratio = y / x
            state["lo"] = max(state["lo"], float(ratio.min()) - s)
            state["hi"] = min(state["hi"], float(ratio.max()) - s)
            if state["hi"] - state["lo"] <= rtol * max(state["hi"], 1e-300):
                return x, True
            x = np.maximum(y / y.max(), 1e-300)
        return x, False

    # well-mixing components converge within a few hundred steps from x = 1
    x, done = power(np.ones(k), min(300, maxiter))
    est = None
    if not done and _lu_is_cheap(A):
        x, done = _noda(A, x, state, rtol)
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
        est = 0.5 * (lo + hi)
    est = min(max(est, lo), hi)
    return lo, hi, est


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


def _noda(A: Any, x: np.ndarray, state: dict, rtol: float, maxiter: int = 60) -> tuple[np.ndarray, bool]:
    """Noda's inverse iteration for the Perron root (superlinear; keeps ``x > 0``).

    With ``sigma`` the current upper Collatz-Wielandt bound, ``sigma >= rho``,
    so ``(sigma I - A)^{-1}`` is a positive matrix for irreducible ``A`` and
    ``y = (sigma I - A)^{-1} x`` stays positive; both bounds tighten.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    k = A.shape[0]
    eye = sp.eye_array(k, format="csc")
    Acsc = sp.csc_array(A)
    previous = np.inf
    for _ in range(maxiter):
        y = A @ x
        ratio = y / x
        state["lo"] = max(state["lo"], float(ratio.min()))
        state["hi"] = min(state["hi"], float(ratio.max()))
        if state["hi"] - state["lo"] <= rtol * max(state["hi"], 1e-300):
            return x, True
        sigma = float(ratio.max())
        if sigma >= previous * (1.0 - 1e-15):
            # the upper bound no longer moves: sigma has converged to rho, but the
            # lower bound is stuck (a Perron vector too small in places to certify it)
            state["noda"] = sigma
            return x, False
        previous = sigma
        try:
            with np.errstate(all="ignore"):
                z = splu(sigma * eye - Acsc).solve(x)
        except (RuntimeError, MemoryError, ValueError):
            return x, False
        if not np.all(np.isfinite(z)) or z.min() <= 0:
            return x, False
        x = np.maximum(z / z.max(), 1e-300)
    return x, False


def _component_radii(
    M: Any, comp: np.ndarray, n_comp: int, rtol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral radius of ``M`` restricted to each component: estimate, lower and upper bound."""
    coo = M.tocoo()
    r, c, v = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    inside = comp[r] == comp[c]
    r, c, v = r[inside], c[inside], v[inside]
    size = np.bincount(comp, minlength=n_comp)
    order = np.argsort(comp, kind="stable")
    start = np.concatenate([[0], np.cumsum(size)])
    local = np.empty(comp.size, dtype=np.int64)
    local[order] = np.arange(comp.size) - start[comp[order]]
    rho = np.zeros(n_comp)
    lo = np.zeros(n_comp)
    hi = np.zeros(n_comp)
    # singletons: the self-loop weight
    single = size[comp[r]] == 1
    rho[comp[r[single]]] = v[single]
    lo[comp[r[single]]] = v[single]
    hi[comp[r[single]]] = v[single]
    # small components: batched dense eigenvalues, grouped by size
    edge_size = size[comp[r]]
    for s in np.unique(size[(size > 1) & (size <= DENSE_MAX)]):
        ids = np.flatnonzero(size == s)
        slot = np.full(n_comp, -1, dtype=np.int64)
        slot[ids] = np.arange(ids.size)
        sel = edge_size == s
        blocks = np.zeros((ids.size, s, s))
        blocks[slot[comp[r[sel]]], local[r[sel]], local[c[sel]]] = v[sel]
        with single_threaded_blas():
            ev = np.abs(np.linalg.eigvals(blocks)).max(axis=1)
        scale = np.abs(blocks).sum(axis=2).max(axis=1)  # an upper bound on rho
        err = 1e-12 * scale + 1e-300
        rho[ids] = ev
        lo[ids] = np.maximum(ev - err, 0.0)
        hi[ids] = np.minimum(ev + err, scale)
    # larger components: one dense solve each, then certified iteration
    import scipy.sparse as sp

    for cid in np.flatnonzero(size > DENSE_MAX):
        sel = comp[r] == cid
        k = int(size[cid])
        A = sp.csr_array((v[sel], (local[r[sel]], local[c[sel]])), shape=(k, k))
        if k <= DENSE_SINGLE_MAX:
            dense = A.toarray()
            with single_threaded_blas():
                ev = float(np.abs(np.linalg.eigvals(dense)).max())
            scale = float(np.abs(dense).sum(axis=1).max())
            err = 1e-12 * scale * k + 1e-300
            rho[cid], lo[cid], hi[cid] = ev, max(ev - err, 0.0), min(ev + err, scale)
        else:
            lo[cid], hi[cid], rho[cid] = spectral_radius_bounds(A, rtol=rtol)
    return rho, lo, hi


def _exact(g: DesignGraph, include_design: bool, rtol: float) -> LineageExponents:
    from ._theory_kernels import dag_max

    M, comp, n_comp = _components(g)
    cptr, cidx = _condensation(M, comp, n_comp)
    if include_design:
        rho, lo, hi = _component_radii(M, comp, n_comp, rtol)
        best = dag_max(cptr, cidx, rho)
        best_lo = dag_max(cptr, cidx, lo)
        best_hi = dag_max(cptr, cidx, hi)
        with np.errstate(divide="ignore"):
            comp_rate = np.log(rho)
            value = np.log(best)[comp]
            lv = np.log(best_lo)[comp]
            hv = np.log(best_hi)[comp]
        err = np.zeros(g.n)
        fin = np.isfinite(value)
        with np.errstate(invalid="ignore"):
            err[fin] = np.maximum(hv[fin] - value[fin], value[fin] - lv[fin])
    else:
        size = np.bincount(comp, minlength=n_comp)
        if size.max() > KARP_MAX:
            raise bad_argument(
                InvalidParameterError, "include_design", False,
                f"True, or method='estimate': a strongly connected component has {int(size.max())} "
                f"programs, above KARP_MAX={KARP_MAX} for the exact fitness-only exponent",
            )
        from ._theory_kernels import component_max_cycle_mean

        order = np.argsort(comp, kind="stable").astype(np.int64)
        start = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
        local = np.empty(comp.size, dtype=np.int64)
        local[order] = np.arange(comp.size) - start[comp[order]]
        with np.errstate(divide="ignore"):
            w = np.log(g.fitness)
        comp_rate = component_max_cycle_mean(
            M.indptr.astype(np.int64), M.indices.astype(np.int64), w, comp, order, start, local
        )
        value = dag_max(cptr, cidx, comp_rate)[comp]
        err = np.zeros(g.n)
    return LineageExponents(
        value=value, upper=value.copy(), lower=value.copy(), error_bound=err, method="exact",
        include_design=include_design, component=comp, component_rate=comp_rate,
    )
