"""Capability, deception and utility (docs/explanation/model.md, figure 7).

Programs carry traits ``c(v) >= 0`` (capability) and ``d(v) >= 0`` (deception).

* human-judged fitness ``f = phi(c + d)``: humans cannot tell capability from
  deception and reward both;
* objective fitness ``f = phi(c)``: deception earns nothing;
* human utility, for example ``u = c - kappa * d``.

``phi`` must be increasing; the default is ``phi(s) = 1 + s``.
:func:`deception_grid` builds the eta-locked capability-deception grid of
paper figure 7, docs/figures.md with either fitness.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._validate import check_int, check_real, check_tree_fits, real_array
from .errors import InvalidParameterError, ShapeError, bad_argument
from .graph import DesignGraph

__all__ = [
    "default_phi",
    "human_judged_fitness",
    "objective_fitness",
    "linear_utility",
    "deception_grid",
]


def default_phi(s: np.ndarray) -> np.ndarray:
    """The default increasing map from judged trait to fitness, ``phi(s) = 1 + s``."""
    return 1.0 + np.asarray(s, dtype=np.float64)


def _trait(name: str, value: Any) -> np.ndarray:
    a = real_array(value, name, finite=False, what="an array of numbers >= 0")
    if a.ndim > 1:
        raise ShapeError(f"{name} has shape {a.shape}: expected a scalar or a 1-D array")
    if not np.all(np.isfinite(a)) or (a < 0).any():
        raise bad_argument(InvalidParameterError, name, value, "finite numbers >= 0")
    return a


def _apply_phi(phi: Callable[[np.ndarray], Any] | None, s: np.ndarray) -> np.ndarray:
    if phi is None:
        return default_phi(s)
    if not callable(phi):
        raise bad_argument(InvalidParameterError, "phi", phi, "a callable, increasing map s -> fitness")
    out = np.asarray(phi(s), dtype=np.float64)
    if out.shape != s.shape:
        raise ShapeError(f"phi returned shape {out.shape}: expected {s.shape} (phi must be vectorised)")
    if not np.all(np.isfinite(out)) or (out < 0).any():
        raise bad_argument(InvalidParameterError, "phi", phi, "a map to finite fitness values >= 0")
    flat_s, flat_o = s.ravel(), out.ravel()
    order = np.argsort(flat_s, kind="stable")
    ss, oo = flat_s[order], flat_o[order]
    up = np.diff(ss) > 0
    if np.any(np.diff(oo)[up] <= 0):
        raise bad_argument(InvalidParameterError, "phi", phi, "an increasing map (phi(s) < phi(s') for s < s')")
    return out


def human_judged_fitness(c: Any, d: Any, phi: Callable[[np.ndarray], Any] | None = None) -> np.ndarray:
    """Human-judged fitness ``f = phi(c + d)``.

    Parameters
    ----------
    c, d : array_like
        Capability and deception (``>= 0``), same shape.
    phi : callable, optional
        Increasing, vectorised map to fitness; default ``1 + s``.

    Examples
    --------
    >>> from aievo.traits import human_judged_fitness
    >>> human_judged_fitness([0, 1, 2], [2, 1, 0])
    array([3., 3., 3.])
    """
    ca, da = _trait("c", c), _trait("d", d)
    if ca.shape != da.shape:
        raise ShapeError(f"c has shape {ca.shape} and d {da.shape}: expected the same shape")
    return _apply_phi(phi, ca + da)


def objective_fitness(c: Any, phi: Callable[[np.ndarray], Any] | None = None) -> np.ndarray:
    """Objective fitness ``f = phi(c)``: deception earns nothing.

    Examples
    --------
    >>> from aievo.traits import objective_fitness
    >>> objective_fitness([0, 1, 2])
    array([1., 2., 3.])
    """
    return _apply_phi(phi, _trait("c", c))


def linear_utility(c: Any, d: Any, kappa: float = 0.0) -> np.ndarray:
    """Human utility ``u = c - kappa * d`` (``kappa >= 0``: how much deception hurts).

    Examples
    --------
    >>> from aievo.traits import linear_utility
    >>> linear_utility([1.0, 2.0], [1.0, 0.0], kappa=2.0)
    array([-1.,  2.])
    """
    ca, da = _trait("c", c), _trait("d", d)
    if ca.shape != da.shape:
        raise ShapeError(f"c has shape {ca.shape} and d {da.shape}: expected the same shape")
    k = check_real(kappa, "kappa", lo=0.0, expected="a finite number >= 0")
    return ca - k * da


def deception_grid(
    C: int,
    D: int,
    eta: float,
    *,
    fitness: str = "human_judged",
    phi: Callable[[np.ndarray], Any] | None = None,
) -> DesignGraph:
    """The eta-locked capability-deception grid (paper figure 7, docs/figures.md).

    Unlocked programs sit on the grid ``c in {0..C}``, ``d in {0..D}``. Each
    designs its locked copy with probability ``eta`` and, with probability
    ``(1 - eta) / 2`` each, the program with ``c + 1`` or with ``d + 1``; a step
    off the grid's edge stays put (so the corner ``(C, D)`` designs itself with
    probability ``1 - eta``). The start (``root``) is ``(0, 0)``.

    Parameters
    ----------
    C, D : int
        Largest capability and deception (``>= 0``).
    eta : float in (0, 1]
        Locking probability.
    fitness : {"human_judged", "objective"}
        ``"human_judged"``: ``f = phi(c + d)``; ``"objective"``: ``f = phi(c)`` (the
        values of ``mode`` in a scenario file's ``[fitness]`` table). The old
        spelling ``"human"`` is accepted with a :class:`DeprecationWarning`.
    phi : callable, optional
        Increasing map to fitness; default ``1 + s``.

    Returns
    -------
    DesignGraph
        ``2 (C + 1) (D + 1)`` programs: the grid (index ``c * (D + 1) + d``)
        then the locked copies, with ``attrs`` ``c``, ``d``, ``locked`` and
        ``original``.

    Examples
    --------
    >>> from aievo.traits import deception_grid
    >>> g = deception_grid(1, 1, 0.2)
    >>> g.n, g.fitness[:4].tolist(), g.T[[0], :4].toarray().round(2).tolist()
    (8, [1.0, 2.0, 2.0, 3.0], [[0.0, 0.4, 0.4, 0.0]])
    """
    C, D = check_int(C, "C", 0), check_int(D, "D", 0)
    check_tree_fits(2 * (C + 1) * (D + 1), "C" if C >= D else "D", C if C >= D else D, kind="deception_grid")
    if fitness == "human":
        warnings.warn(
            'deception_grid(fitness="human") is deprecated: use fitness="human_judged" (the scenario files\' '
            "name); the old spelling will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        fitness = "human_judged"
    if fitness not in ("human_judged", "objective"):
        raise bad_argument(InvalidParameterError, "fitness", fitness, '"human_judged" or "objective"')
    C, D = int(C), int(D)
    cc, dd = np.meshgrid(np.arange(C + 1), np.arange(D + 1), indexing="ij")
    c = cc.ravel().astype(np.float64)
    d = dd.ravel().astype(np.float64)
    n = c.size
    idx = np.arange(n)
    up_c = np.where(cc.ravel() < C, idx + (D + 1), idx)
    up_d = np.where(dd.ravel() < D, idx + 1, idx)
    T0 = sp.csr_array(
        (np.full(2 * n, 0.5), (np.concatenate([idx, idx]), np.concatenate([up_c, up_d]))), shape=(n, n)
    )
    f = human_judged_fitness(c, d, phi) if fitness == "human_judged" else objective_fitness(c, phi)
    base = DesignGraph.from_matrix(f, T0, root=0, attrs={"c": c, "d": d})
    from .locking import with_locking

    return with_locking(base, eta)
