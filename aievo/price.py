"""The Price equation and Fisher's fundamental theorem (docs/explanation/results.md).

For shares ``x``, fitness ``f``, mean fitness ``F = sum_v x(v) f(v)`` and a trait
``z`` with design average ``z~(v) = sum_w T(v, w) z(w)``, one generation changes
the trait mean by

    zbar' - zbar = Cov_x(f, z) / F + E_x[f (z~ - z)] / F
                 = selection      + transmission.

With ``z = f`` and no change at design (``f~ = f``, for example ``T = I``) the
transmission term vanishes and the selection term is Fisher's
``Var_x(f) / F >= 0``. :func:`price_decomposition` computes the terms for one
share vector; :func:`price_along` for every generation of a run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidParameterError, ShapeError, bad_argument
from .graph import DesignGraph

__all__ = ["PriceDecomposition", "PriceSeries", "price_along", "price_decomposition"]


@dataclass(frozen=True)
class PriceDecomposition:
    """One generation's change of a trait mean, split into selection and transmission.

    Attributes
    ----------
    selection : float
        ``Cov_x(f, z) / F``.
    transmission : float
        ``E_x[f (z~ - z)] / F``: the change made by design.
    total : float
        ``zbar_{t+1} - zbar_t``, computed from the updated shares (not as the sum
        of the two terms), so ``total - selection - transmission`` is rounding.
    fisher : float
        ``Var_x(f) / F``: the change of mean fitness if design did not change
        fitness (Fisher's fundamental theorem).
    mean_fitness : float
        ``F``.
    mean_trait : float
        ``zbar_t``.
    next_mean_trait : float
        ``zbar_{t+1}``.
    """

    selection: float
    transmission: float
    total: float
    fisher: float
    mean_fitness: float
    mean_trait: float
    next_mean_trait: float

    @property
    def residual(self) -> float:
        """``total - (selection + transmission)``; zero up to rounding."""
        return self.total - (self.selection + self.transmission)


@dataclass(frozen=True, eq=False)
class PriceSeries:
    """The Price decomposition at every generation ``t = 0 .. G - 1`` of a run.

    Attributes
    ----------
    selection, transmission, total, fisher, mean_fitness, mean_trait : ndarray, shape (G,)
        As in :class:`PriceDecomposition`, for the step from ``t`` to ``t + 1``.
    params : dict
        The call's parameters (the trait, the run, the initial shares) and a
        summary of the graph; saved with the series (:meth:`save`).
    """

    selection: np.ndarray
    transmission: np.ndarray
    total: np.ndarray
    fisher: np.ndarray
    mean_fitness: np.ndarray
    mean_trait: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    #: the arrays of the series, in order (each of shape ``(G,)``)
    SERIES = ("selection", "transmission", "total", "fisher", "mean_fitness", "mean_trait")

    @property
    def generations(self) -> int:
        """Number of steps decomposed."""
        return int(self.total.size)

    def __repr__(self) -> str:
        G = self.generations
        if G == 0:
            return "PriceSeries(generations=0)"
        sums = ", ".join(f"{k} sum={float(np.sum(getattr(self, k))):.6g}" for k in ("selection", "transmission", "total"))
        return (
            f"PriceSeries(generations={G} (t = 0 .. {G - 1}), {sums}, "
            f"mean_trait {self.mean_trait[0]:.6g} -> {self.mean_trait[-1]:.6g}, "
            f"mean_fitness {self.mean_fitness[0]:.6g} -> {self.mean_fitness[-1]:.6g})"
        )

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Save as ``.npz`` plus a JSON sidecar (:func:`aievo.io.save_result`: atomic, never pickled)."""
        from .io import save_result

        return save_result(path, {k: getattr(self, k) for k in self.SERIES},
                           {"kind": "aievo.PriceSeries", "params": self.params})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PriceSeries":
        """Load a series written by :meth:`save`."""
        from .io import load_result

        arrays, meta = load_result(path, kind="aievo.PriceSeries", arrays_required=cls.SERIES)
        return cls(**{k: arrays[k] for k in cls.SERIES}, params=dict(meta.get("params", {})))

    # ------------------------------------------------------------------ labelled data
    def to_xarray(self) -> Any:
        """The series as an :class:`xarray.Dataset`: one variable per term over ``generation`` ``0 .. G - 1``.

        Entry ``t`` decomposes the step from ``t`` to ``t + 1``. Needs the ``labels`` extra (xarray).
        """
        import json

        from ._extras import require_extra

        (xr,) = require_extra("labels", "xarray", purpose="PriceSeries.to_xarray")
        data = {k: (("generation",), getattr(self, k)) for k in self.SERIES}
        return xr.Dataset(data, coords={"generation": np.arange(self.generations)},
                          attrs={"params": json.dumps(self.params, sort_keys=True)})

    def to_dataframe(self) -> Any:
        """The series as a :class:`pandas.DataFrame` indexed by ``generation``, a column per term.

        Needs the ``labels`` extra (pandas).
        """
        from ._extras import require_extra

        (pd,) = require_extra("labels", "pandas", purpose="PriceSeries.to_dataframe")
        return pd.DataFrame({k: getattr(self, k) for k in self.SERIES},
                            index=pd.RangeIndex(self.generations, name="generation"))

    def plot(self, ax: Any = None) -> Any:
        """Plot selection, transmission and their sum (the change of the trait mean) over time."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        t = np.arange(self.generations)
        ax.plot(t, self.selection, label=r"selection  $\mathrm{Cov}(f, z)/F$")
        ax.plot(t, self.transmission, label=r"transmission  $E[f(\tilde z - z)]/F$")
        ax.plot(t, self.total, "k--", lw=1, label=r"total  $\bar z_{t+1} - \bar z_t$")
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.set_xlabel("generation $t$")
        ax.set_ylabel("change of the trait mean")
        ax.legend(fontsize=8)
        return ax


def _trait(g: DesignGraph, trait: Any) -> np.ndarray:
    if trait is None:
        return np.asarray(g.fitness, dtype=np.float64)
    if isinstance(trait, str):
        attrs = g.attrs
        if trait not in attrs:
            raise bad_argument(
                InvalidParameterError, "trait", trait, f"an array of length {g.n} or one of g.attrs {sorted(attrs)}"
            )
        trait = attrs[trait]
    try:
        z = np.asarray(trait, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_argument(InvalidParameterError, "trait", trait, "an array of real numbers") from None
    if z.shape != (g.n,):
        raise ShapeError(f"trait has shape {z.shape}: expected ({g.n},)")
    if not np.all(np.isfinite(z)):
        raise bad_argument(InvalidParameterError, "trait", trait, "finite values")
    return z


def _shares(g: DesignGraph, shares: Any, name: str = "shares") -> np.ndarray:
    from ._validate import real_array

    x = real_array(shares, name, finite=False, what="an array of shares")
    if x.ndim not in (1, 2) or x.shape[-1] != g.n:
        raise ShapeError(f"{name} has shape {x.shape}: expected ({g.n},) or (k, {g.n})")
    if not np.all(np.isfinite(x)) or (x < 0).any():
        raise bad_argument(InvalidParameterError, name, shares, "finite shares >= 0")
    s = x.sum(axis=-1)
    if np.any(np.abs(s - 1.0) > 1e-9):
        raise bad_argument(InvalidParameterError, f"{name}.sum()", s, "shares summing to 1 within 1e-9")
    return x


def _row_excess(g: DesignGraph) -> np.ndarray:
    """``sum_w T(v, w) - 1`` for every row, correctly rounded (``math.fsum``), not cancelled."""
    import math

    T = g.T
    out = np.empty(g.n)
    ptr, data = T.indptr, T.data
    for v in range(g.n):
        out[v] = math.fsum([*data[ptr[v]:ptr[v + 1]].tolist(), -1.0])
    return out


def _decompose(g: DesignGraph, X: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
    """Vectorised over the rows of ``X`` (shape (k, n)).

    Every moment is taken about the row's own means (two passes) with the
    correction term of the corrected two-pass algorithm (Chan, Golub and
    LeVeque), so ``Var(f)`` and ``Cov(f, z)`` keep their relative precision
    when the spread is tiny against the mean (``f = 1, 1 + 1e-6`` at shares
    ``1 - 1e-9, 1e-9``) or a trait sits on a large offset (``1e8 + N(0, 1)``);
    the design change ``z~ - z`` is summed as ``sum_w T(v, w) (z_w - z_v)`` plus
    ``z_v`` times the correctly rounded excess of the row sum over 1.
    Shares are used normalised (``x / sum x``).
    """
    f = np.asarray(g.fitness, dtype=np.float64)
    X = X / X.sum(axis=1, keepdims=True)
    F = X @ f
    if np.any(F <= 0.0):
        k = int(np.flatnonzero(F <= 0.0)[0])
        raise bad_argument(
            InvalidParameterError, "shares", f"row {k} with mean fitness {F[k]!r}",
            "shares with positive mean fitness (the population is extinct)",
        )
    with np.errstate(over="ignore", invalid="ignore"):
        zbar0 = X @ z
        df = f[None, :] - F[:, None]
        dz = z[None, :] - zbar0[:, None]
        mf = np.einsum("kv,kv->k", X, df)  # ~ F - fl(F): the correction terms
        mz = np.einsum("kv,kv->k", X, dz)
        var = np.einsum("kv,kv->k", X, df * df) - mf * mf
        cov = np.einsum("kv,kv->k", X, df * dz) - mf * mz
        zbar = zbar0 + mz
        # z~(v) - z(v) = sum_w T(v, w) (z_w - z_v) + z_v (sum_w T(v, w) - 1)
        T = g.T
        rows = np.repeat(np.arange(g.n), np.diff(T.indptr))
        diff = T.data * (z[T.indices] - z[rows])
        delta = np.bincount(rows, weights=diff, minlength=g.n) + z * _row_excess(g)
        transmission = (X @ (f * delta)) / F
        # the next shares q, from the update itself, for an independent `total`:
        # zbar' - zbar = sum_w (q_w - x_w)(z_w - c) + c (sum q - 1), c = fl(zbar), where
        # q - x = x (T - I) + (x (f - F)) T / F, so that nothing of size x cancels
        import scipy.sparse as sp

        Fc = F + mf  # F, corrected by the mean of the deviations from its rounded value
        D = sp.csr_array(T - sp.eye_array(g.n, format="csr"))  # diagonal T_vv - 1: exact for T_vv >= 1/2
        qx = X @ D + ((X * (df - mf[:, None])) @ T) / Fc[:, None]
        q_excess = ((X * f) @ _row_excess(g)) / Fc  # sum q - 1, not cancelled
        total = np.einsum("kv,kv->k", qx, dz) + zbar0 * q_excess
        nxt_zbar = zbar + total
        F = Fc
    out = {
        "selection": cov / F,
        "transmission": transmission,
        "total": total,
        "fisher": np.maximum(var, 0.0) / F,
        "mean_fitness": F,
        "mean_trait": zbar,
        "next_mean_trait": nxt_zbar,
    }
    for name, val in out.items():
        if not np.all(np.isfinite(val)):
            k = int(np.flatnonzero(~np.isfinite(val))[0])
            raise bad_argument(
                InvalidParameterError, "trait" if name not in ("fisher", "mean_fitness") else "g.fitness",
                f"values giving {name}={val[k]!r} (row {k})",
                "fitness and trait values whose spreads and products stay within the float range "
                "(about 1e154 for squared deviations)",
            )
    return out


def price_decomposition(g: DesignGraph, shares: Any, trait: Any = None) -> PriceDecomposition:
    """Split one generation's change of a trait mean into selection and transmission.

    Parameters
    ----------
    g : DesignGraph
    shares : array_like, shape (n,)
        The shares ``x_t`` (non-negative, summing to 1).
    trait : array_like of length n or str, optional
        The trait ``z`` (or the name of one of ``g.attrs``); default fitness.

    Returns
    -------
    PriceDecomposition

    Examples
    --------
    >>> import aievo as ae
    >>> from aievo.price import price_decomposition
    >>> g = ae.chain([2.0, 1.0])          # a fit program designing a less fit one
    >>> p = price_decomposition(g, [0.5, 0.5])
    >>> p.selection, p.transmission, p.total    # F = 1.5: mean fitness falls
    (0.16666666666666666, -0.6666666666666666, -0.5)
    """
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    x = _shares(g, shares)
    if x.ndim != 1:
        raise ShapeError(f"shares has shape {x.shape}: expected ({g.n},); use price_along for many")
    d = _decompose(g, x[None, :], _trait(g, trait))
    return PriceDecomposition(**{k: float(v[0]) for k, v in d.items()})


def price_along(
    g: DesignGraph, run: Any, *, trait: Any = None, initial: Any = None
) -> PriceSeries:
    """The Price decomposition for every generation of a run.

    Parameters
    ----------
    g : DesignGraph
        The graph the run is on.
    run : int or Trajectory
        A number of generations ``G`` (the run from ``initial`` is recomputed
        step by step; memory ``G * n``) or a :class:`~aievo.Trajectory` of
        ``g`` that recorded the shares at every ``t = 0 .. G - 1``
        (``simulate(g, G, record_shares=range(G))``).
    trait : array_like or str, optional
        The trait (default fitness).
    initial : int or array_like, optional
        Starting program or shares when ``run`` is an int (default the root).

    Returns
    -------
    PriceSeries
        Entry ``t`` decomposes the step from ``t`` to ``t + 1``.
    """
    from .dynamics import Trajectory, _initial_shares

    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    z = _trait(g, trait)
    if isinstance(run, Trajectory):
        G = run.generations
        if run.shares.shape != (g.n,):
            raise ShapeError(f"run has shares of shape {run.shares.shape}: expected ({g.n},) for g")
        missing = sorted(set(range(G)) - set(run.times.tolist()))
        if missing:
            raise bad_argument(
                InvalidParameterError, "run", f"a Trajectory without shares at t={missing[:5]}",
                "a Trajectory from simulate(g, G, record_shares=range(G))",
            )
        X = np.stack([run.shares_at(t) for t in range(G)]) if G else np.zeros((0, g.n))
        if initial is not None:
            raise bad_argument(InvalidParameterError, "initial", initial, "None when run is a Trajectory")
    else:
        if isinstance(run, bool) or not isinstance(run, (int, np.integer)) or run < 0:
            raise bad_argument(InvalidParameterError, "run", run, "an integer >= 0 or an aievo.Trajectory")
        G = int(run)
        from ._kernels import step_shares

        T = g.T
        f = np.ascontiguousarray(g.fitness)
        x = _initial_shares(g, initial)
        X = np.empty((G, g.n))
        for t in range(G):
            X[t] = x
            x, F = step_shares(T.indptr, T.indices, T.data, f, x)
            if F <= 0.0 and t < G - 1:
                raise bad_argument(
                    InvalidParameterError, "run", run,
                    f"at most {t + 1} generations: the population is extinct after generation {t}",
                )
    params = {
        "graph": g.summary(),
        "trait": trait if isinstance(trait, str) else ("fitness" if trait is None else "array"),
        "run": "trajectory" if isinstance(run, Trajectory) else G,
        "initial": "root" if initial is None else ("index" if np.ndim(initial) == 0 else "shares"),
    }
    if G == 0:
        e = np.zeros(0)
        return PriceSeries(e, e, e, e, e, e, params=params)
    d = _decompose(g, X, z)
    return PriceSeries(
        selection=d["selection"], transmission=d["transmission"], total=d["total"],
        fisher=d["fisher"], mean_fitness=d["mean_fitness"], mean_trait=d["mean_trait"], params=params,
    )
