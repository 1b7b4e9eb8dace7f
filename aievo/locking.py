"""eta-locking and eta-preservation (docs/explanation/model.md).

* :func:`with_locking`: every unlocked program ``v`` gets a locked copy ``l(v)``
  (same fitness and attributes, ``T(l(v), l(v)) = 1``) and its row becomes
  ``(1 - eta) T(v, .) + eta * delta_{l(v)}``.
* :func:`with_preservation`: every row becomes ``(1 - eta) T(v, .) + eta * delta_v``:
  the copy keeps designing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validate import check_real
from .errors import InvalidParameterError, bad_argument
from .graph import DesignGraph

__all__ = ["with_locking", "with_preservation"]


def _check_eta(eta: float) -> float:
    return check_real(eta, "eta", lo=0.0, hi=1.0, lo_open=True, expected="a number in (0, 1]")


def _check_graph(g: DesignGraph) -> None:
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")


def with_locking(g: DesignGraph, eta: float) -> DesignGraph:
    """The eta-locked version of ``g``.

    Parameters
    ----------
    g : DesignGraph
        Programs already marked locked (``g.attrs["locked"]``) get no second copy.
    eta : float in (0, 1]
        Probability with which each unlocked program designs its locked copy.

    Returns
    -------
    DesignGraph
        ``n + m`` programs, ``m`` the number of unlocked ones: the original
        programs keep their indices and the locked copy of the ``k``-th unlocked
        program is program ``n + k``. ``attrs`` gains ``locked`` (bool) and
        ``original`` (index of the program each one copies); other attributes
        are copied to the locked copies, so ``z[g2.attrs["original"]]`` lifts a
        vector ``z`` on ``g`` to the locked graph.

    Examples
    --------
    >>> import aievo as ae
    >>> gl = ae.with_locking(ae.chain([1.0, 2.0]), 0.25)
    >>> gl.T.toarray()
    array([[0.  , 0.75, 0.25, 0.  ],
           [0.  , 0.75, 0.  , 0.25],
           [0.  , 0.  , 1.  , 0.  ],
           [0.  , 0.  , 0.  , 1.  ]])
    """
    _check_graph(g)
    e = _check_eta(eta)
    n = g.n
    attrs = g.attrs
    locked = attrs.get("locked", np.zeros(n, dtype=bool)).astype(bool)
    original = attrs.get("original", np.arange(n))
    unlocked = np.flatnonzero(~locked)
    m = unlocked.size
    copies = n + np.arange(m)
    lock_of = np.full(n, -1, dtype=np.int64)
    lock_of[unlocked] = copies
    T = g.T.tocoo()
    rows, cols, vals = T.row.astype(np.int64), T.col.astype(np.int64), T.data.copy()
    vals[~locked[rows]] *= 1.0 - e
    rows = np.concatenate([rows, unlocked, copies])
    cols = np.concatenate([cols, copies, copies])
    vals = np.concatenate([vals, np.full(m, e), np.ones(m)])
    N = n + m
    T2 = sp.csr_array((vals, (rows, cols)), shape=(N, N))
    src = np.concatenate([np.arange(n), unlocked])
    new_attrs = {k: v[src] for k, v in attrs.items() if k not in ("locked", "original")}
    new_attrs["locked"] = np.concatenate([locked, np.ones(m, dtype=bool)])
    new_attrs["original"] = np.concatenate([original, original[unlocked]])
    labels = None
    if g.labels is not None:
        labels = g.labels + [f"L({g.label(int(v))})" for v in unlocked]
    parent = None
    if g.parent is not None:
        parent = np.concatenate([g.parent, unlocked])
    return DesignGraph(
        g.fitness[src], T2, root=g.root, labels=labels, attrs=new_attrs, parent=parent
    )


def with_preservation(g: DesignGraph, eta: float) -> DesignGraph:
    """The eta-preserving version of ``g``: each row becomes ``(1 - eta) T(v, .) + eta delta_v``.

    Parameters
    ----------
    g : DesignGraph
    eta : float in (0, 1]
        Probability with which each program reproduces itself, still designing.

    Examples
    --------
    >>> import aievo as ae
    >>> ae.with_preservation(ae.chain([1.0, 2.0]), 0.25).T.toarray()
    array([[0.25, 0.75],
           [0.  , 1.  ]])
    """
    _check_graph(g)
    e = _check_eta(eta)
    n = g.n
    T2 = sp.csr_array((1.0 - e) * g.T + e * sp.eye_array(n, format="csr"))
    return DesignGraph(
        g.fitness, T2, root=g.root, labels=g.labels, attrs=g.attrs, parent=g.parent
    )
