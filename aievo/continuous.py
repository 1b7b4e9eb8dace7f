"""Continuous time: the replicator-mutator ODE and its discrete-time counterpart.

Beyond the paper, whose time is discrete. In continuous time every program
``v`` produces offspring at rate ``f(v)`` (plus ``(A x)(v)`` with a payoff),
each designed by ``T(v, .)``, and nobody dies::

    dn/dt = n diag(f) T,
    dx_w/dt = sum_v x_v f_v T(v, w) - F x_w,     F = sum_v x_v f_v,
    d log N / dt = F.

:func:`replicator_mutator_ode` integrates the shares with
:func:`scipy.integrate.solve_ivp`. :func:`discretize` builds the design graph
whose discrete generations are time steps of length ``dt``: after one step a
program has its ``1`` surviving self plus ``dt f(v)`` offspring, so

    f_dt(v) = 1 + dt f(v),      T_dt(v, .) = (e_v + dt f(v) T(v, .)) / (1 + dt f(v)),

and ``simulate(discretize(g, dt), t / dt)`` approaches the ODE's shares at
time ``t`` with an error of order ``dt`` (``log N`` with one of order ``dt``
too, since ``log(1 + dt F) = dt F + O(dt^2)``). A payoff ``A`` becomes
``dt A``; this is the ODE's counterpart only when programs copy themselves
(``T = I``, as in games), because the engine hands the payoff's offspring the
same design kernel ``T_dt`` as the others, which copies the parent with
probability ``1 - O(dt)``. :func:`discretize` therefore refuses a payoff on a
graph with ``T != I``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import InvalidFitnessError, InvalidParameterError, bad_argument
from .graph import DesignGraph

__all__ = ["OdeTrajectory", "replicator_mutator_ode", "discretize"]


@dataclass(frozen=True, eq=False)
class OdeTrajectory:
    """The solution of :func:`replicator_mutator_ode` at the requested times.

    Attributes
    ----------
    t : ndarray, shape (k,)
        Times.
    shares : ndarray, shape (k, n)
        Shares ``x(t)``.
    mean_fitness : ndarray, shape (k,)
        ``F(t)`` (with a payoff, the mean of ``f + A x``).
    log_growth : ndarray, shape (k,)
        ``log N(t) = int_0^t F``.
    params : dict
        Solver settings and its statistics.
    """

    t: np.ndarray
    shares: np.ndarray
    mean_fitness: np.ndarray
    log_growth: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"OdeTrajectory(t_end={self.t[-1]:.6g}, points={self.t.size}, n={self.shares.shape[1]}, "
            f"F_end={self.mean_fitness[-1]:.6g}, log N_end={self.log_growth[-1]:.6g})"
        )


def _positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not (
        math.isfinite(v) and v > 0
    ):
        raise bad_argument(InvalidParameterError, name, v, "a finite number > 0")
    return float(v)


def replicator_mutator_ode(
    g: DesignGraph,
    t_end: float,
    initial: Any = None,
    *,
    payoff: Any = None,
    t_eval: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    method: str = "RK45",
) -> OdeTrajectory:
    """Integrate the continuous-time replicator-mutator equation.

    Parameters
    ----------
    g : DesignGraph
    t_end : float
        End time (``> 0``).
    initial : int or array_like, optional
        Starting program or shares, as in :func:`aievo.simulate`; default the root.
    payoff : array_like or aievo.Payoff, optional
        Frequency dependence: offspring rate ``f + A x`` (as in :func:`aievo.simulate`).
    t_eval : array_like, optional
        Times to report (default 201 equally spaced points on ``[0, t_end]``).
    rtol, atol : float
        Tolerances of :func:`scipy.integrate.solve_ivp`.
    method : str
        Its integration method (default ``"RK45"``; ``"DOP853"`` takes so few steps
        on smooth problems that its interpolation at ``t_eval`` loses accuracy).

    Returns
    -------
    OdeTrajectory

    Raises
    ------
    InvalidFitnessError
        If a payoff makes some offspring rate negative along the solution.

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.state import hawk_dove
    >>> g, A = hawk_dove(2.0, 5.0)
    >>> sol = ae.replicator_mutator_ode(g, 60.0, [0.9, 0.1], payoff=A)
    >>> round(float(sol.shares[-1, 0]), 6)
    0.4
    """
    from scipy.integrate import solve_ivp

    from .dynamics import _initial_shares
    from .state import _payoff_arrays

    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    t_end = _positive("t_end", t_end)
    x0 = _initial_shares(g, initial)
    A, groups = _payoff_arrays(g, payoff)
    m = A.shape[0]
    if t_eval is None:
        times = np.linspace(0.0, t_end, 201)
    else:
        times = np.asarray(t_eval, dtype=np.float64)
        if times.ndim != 1 or times.size == 0 or np.any(np.diff(times) <= 0) or times[0] < 0 or times[-1] > t_end:
            raise bad_argument(InvalidParameterError, "t_eval", t_eval, f"increasing times in [0, {t_end}]")
    f = np.asarray(g.fitness, dtype=np.float64)
    TT = sp.csr_array(g.T.T)
    n = g.n

    def rates(x: np.ndarray) -> np.ndarray:
        if m == 0:
            return f
        gs = np.bincount(groups, weights=x, minlength=m)
        return f + (A @ gs)[groups]

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        x = y[:n]
        h = x * rates(x)
        F = h.sum()
        out = np.empty(n + 1)
        out[:n] = TT @ h - F * x
        out[n] = F
        return out

    sol = solve_ivp(rhs, (0.0, t_end), np.append(x0, 0.0), method=method, t_eval=times, rtol=rtol, atol=atol)
    if not sol.success:  # pragma: no cover - solver failure is reported, not hidden
        raise InvalidParameterError(f"solve_ivp failed: {sol.message}")
    X = sol.y[:n].T
    fits = np.array([rates(x) for x in X])
    bad = fits < 0
    if bad.any():
        k, v = np.argwhere(bad)[0]
        raise InvalidFitnessError(
            f"offspring rate fitness[{v}]={fits[k, v]!r} at t={times[k]:.6g} is invalid: expected >= 0 "
            "(raise the baseline fitness or shrink the payoffs)"
        )
    return OdeTrajectory(
        t=times,
        shares=X,
        mean_fitness=np.einsum("ij,ij->i", X, fits),
        log_growth=sol.y[n],
        params={"t_end": t_end, "method": method, "rtol": rtol, "atol": atol, "nfev": int(sol.nfev)},
    )


def discretize(g: DesignGraph, dt: float, payoff: Any = None) -> tuple[DesignGraph, Any]:
    """The design graph whose generations are time steps ``dt`` of the ODE.

    ``f_dt = 1 + dt f`` and ``T_dt(v, .) = (e_v + dt f(v) T(v, .)) / (1 + dt f(v))``;
    a payoff ``A`` becomes ``dt A`` (a :class:`~aievo.state.Payoff` keeps its groups;
    only on graphs with ``T = I``, see the module notes).

    Returns
    -------
    (DesignGraph, payoff)
        The graph (same labels and attributes) and the scaled payoff (``None`` if none).

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.continuous import discretize
    >>> gd, _ = discretize(ae.chain([2.0, 1.0]), 0.1)
    >>> gd.fitness.tolist(), gd.T.toarray().round(4).tolist()
    ([1.2, 1.1], [[0.8333, 0.1667], [0.0, 1.0]])
    """
    from .state import Payoff

    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    dt = _positive("dt", dt)
    f = np.asarray(g.fitness)
    fd = 1.0 + dt * f
    M = sp.identity(g.n, format="csr") + sp.diags(dt * f) @ g.T
    Td = sp.csr_array(sp.diags(1.0 / fd) @ M)
    gd = DesignGraph.from_matrix(fd, Td, root=g.root, labels=g.labels, attrs=dict(g.attrs) or None)
    if payoff is None:
        return gd, None
    eye = sp.identity(g.n, format="csr")
    if abs(g.T - eye).sum() > 1e-12:
        raise bad_argument(
            InvalidParameterError, "payoff", "a payoff",
            "None on a graph whose programs design others (T != I): the engine cannot hand the payoff's "
            "offspring the design kernel T while the survivors copy themselves",
        )
    if isinstance(payoff, Payoff):
        return gd, Payoff(dt * np.asarray(payoff.matrix, dtype=np.float64), payoff.groups)
    return gd, dt * np.asarray(payoff, dtype=np.float64)
