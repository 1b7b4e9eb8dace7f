"""Running the dynamics: :func:`simulate` and its result, :class:`Trajectory`.

Deterministic update (docs/explanation/model.md)::

    x_{t+1}(w) = sum_v x_t(v) f(v) T(v, w) / F_t,    F_t = sum_v x_t(v) f(v),
    log N_{t+1} = log N_t + log F_t,                  log N_0 = 0.

With ``population=K`` the finite-population counterpart draws ``K`` offspring
per generation: the new counts are multinomial with the deterministic update of
the current shares as probabilities (a parent with probability proportional to
``x_t(v) f(v)``, then a design by ``T(v, .)``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validate import available_memory, check_int, check_rng, int_array, real_array
from ._version import __version__
from .errors import InvalidParameterError, ShapeError, bad_argument
from .graph import DesignGraph

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["simulate", "Trajectory"]

#: The frontier sweep gives way to the full sweep above this fraction of active programs.
FULL_SWEEP_FRACTION = 0.25
#: The frontier sweep on a tree carries absorbing programs by group when there are at most this
#: many groups (distinct pairs of fitness and self-loop weight) ...
ABSORBING_GROUPS_MAX = 256
#: ... and the group table (one entry per group and entry time) has at most this many entries ...
ABSORBING_TABLE_MAX = 2**20
#: ... and the tree has at least this many programs (smaller trees sweep them: a cold start then
#: compiles no closed form).
ABSORBING_MIN_PROGRAMS = 200_000


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The result of :func:`simulate`: data, parameters and provenance.

    Attributes
    ----------
    mean_fitness : ndarray, shape (generations + 1,)
        ``F_t`` for ``t = 0 .. generations``.
    log_growth : ndarray, shape (generations + 1,)
        ``log N_t`` with ``log N_0 = 0``.
    shares : ndarray, shape (n,)
        Shares at the final generation (if the population died out, at
        ``extinct_at``, the last generation with individuals). Shares below
        ``2**-1074`` (about 5e-324) print as 0 here; :attr:`log_shares`
        carries them.
    trait_means : dict of str to ndarray
        Mean of each trait over time, each of shape ``(generations + 1,)``.
    set_shares : dict of str to ndarray
        Share of each node set over time, each of shape ``(generations + 1,)``.
    times : ndarray
        Times at which full share vectors were recorded (see :meth:`shares_at`).
    snapshots : ndarray, shape (len(times), n)
        The recorded share vectors.
    extinct_at : int or None
        The first generation ``t`` with ``F_t = 0`` (every individual has
        fitness 0), or None. The population is then empty from ``t + 1`` on,
        and the entries after it are defined, not NaN: ``mean_fitness`` is 0
        from ``extinct_at`` on, ``log_growth`` is ``-inf`` after it
        (``N_t = 0``), set shares and recorded share vectors are 0 after it;
        only trait means after it are NaN (the mean over no individuals).
        ``simulate(..., on_extinction="raise")`` raises instead.
    params : dict
        The parameters of the run (generations, population, seed, graph summary);
        a run of a scenario adds ``"recipe"``, the scenario as data, from which
        ``aievo rerun`` regenerates a saved run (:mod:`aievo.rerun`).
    """

    mean_fitness: np.ndarray
    log_growth: np.ndarray
    shares: np.ndarray
    trait_means: dict[str, np.ndarray] = field(default_factory=dict)
    set_shares: dict[str, np.ndarray] = field(default_factory=dict)
    times: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    snapshots: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    extinct_at: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    _log_shares: np.ndarray | None = field(default=None, repr=False)

    @property
    def generations(self) -> int:
        """Number of generations run."""
        return int(self.mean_fitness.size - 1)

    @property
    def growth_rate(self) -> np.ndarray:
        """Running geometric mean growth ``log N_t / t`` for ``t >= 1`` (shape ``(generations,)``)."""
        t = np.arange(1, self.generations + 1)
        return self.log_growth[1:] / t

    @property
    def extinct(self) -> bool:
        """Whether the population died out (see ``extinct_at``)."""
        return self.extinct_at is not None

    @property
    def log_shares(self) -> np.ndarray:
        """Natural logarithm of :attr:`shares` (``-inf`` where a share is 0).

        Exact even for shares far below the ``float64`` range (a lineage at
        ``1e-400`` has ``log_shares`` about ``-921``), since the engine carries
        such shares with their own exponent.
        """
        if self._log_shares is not None:
            return self._log_shares
        with np.errstate(divide="ignore"):
            return np.log(self.shares)

    def shares_at(self, t: int) -> np.ndarray:
        """Shares at a recorded time ``t`` (the final time is always available).

        After extinction (``t > extinct_at``) the population is empty: all zeros.
        """
        if self.extinct_at is not None and isinstance(t, (int, np.integer)) and t > self.extinct_at:
            if 0 <= t <= self.generations:
                return np.zeros_like(self.shares)
        if t == self.generations or (t == -1):
            return self.shares
        hits = np.flatnonzero(self.times == t)
        if hits.size == 0:
            raise bad_argument(
                InvalidParameterError, "t", t,
                f"a recorded time {sorted(set(self.times.tolist()) | {self.generations})}; "
                "pass record_shares=[...] to simulate() to record others",
            )
        return self.snapshots[hits[0]]

    def __repr__(self) -> str:
        F = self.mean_fitness
        ext = "" if self.extinct_at is None else f", extinct_at={self.extinct_at}"
        return (
            f"Trajectory(generations={self.generations}, n={self.shares.size}, "
            f"F_0={F[0]:.6g}, F_end={F[-1]:.6g}, log N_end={self.log_growth[-1]:.6g}{ext}, "
            f"traits={sorted(self.trait_means)}, sets={sorted(self.set_shares)})"
        )

    # ------------------------------------------------------------------ labelled data
    def to_xarray(self) -> Any:
        """The trajectory as an :class:`xarray.Dataset` with labelled axes.

        Variables ``mean_fitness`` and ``log_growth`` (over ``generation``
        ``0 .. G``), ``trait_means`` (``trait`` x ``generation``), ``set_shares``
        (``set`` x ``generation``), ``shares`` and ``log_shares`` (over
        ``program``) and ``snapshots`` (``time`` x ``program``, the recorded
        share vectors). ``attrs`` hold ``extinct_at`` (-1 if the population
        survived) and the run's ``params`` as JSON text. Needs the ``labels``
        extra (xarray).
        """
        import json

        from ._extras import require_extra

        (xr,) = require_extra("labels", "xarray", purpose="Trajectory.to_xarray")
        gen = np.arange(self.generations + 1)
        n = self.shares.size
        traits, sets = list(self.trait_means), list(self.set_shares)
        data = {
            "mean_fitness": (("generation",), self.mean_fitness),
            "log_growth": (("generation",), self.log_growth),
            "trait_means": (("trait", "generation"),
                            np.array([self.trait_means[k] for k in traits]).reshape(len(traits), gen.size)),
            "set_shares": (("set", "generation"),
                           np.array([self.set_shares[k] for k in sets]).reshape(len(sets), gen.size)),
            "shares": (("program",), self.shares),
            "log_shares": (("program",), self.log_shares),
            "snapshots": (("time", "program"), self.snapshots.reshape(self.times.size, n)),
        }
        coords = {"generation": gen, "trait": traits, "set": sets, "program": np.arange(n), "time": self.times}
        attrs = {"extinct_at": -1 if self.extinct_at is None else int(self.extinct_at),
                 "params": json.dumps(self.params, sort_keys=True)}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def to_dataframe(self) -> Any:
        """The per-generation series as a :class:`pandas.DataFrame` indexed by ``generation``.

        Columns ``mean_fitness``, ``log_growth``, ``trait:NAME`` for each trait
        mean and ``set:NAME`` for each set share (the share vectors, over
        programs, are in :meth:`to_xarray`). Needs the ``labels`` extra (pandas).
        """
        from ._extras import require_extra

        (pd,) = require_extra("labels", "pandas", purpose="Trajectory.to_dataframe")
        cols = {"mean_fitness": self.mean_fitness, "log_growth": self.log_growth}
        cols.update({f"trait:{k}": v for k, v in self.trait_means.items()})
        cols.update({f"set:{k}": v for k, v in self.set_shares.items()})
        index = pd.RangeIndex(self.generations + 1, name="generation")
        return pd.DataFrame(cols, index=index)

    # ------------------------------------------------------------------ plotting
    def plot(self, ax: "Axes | None" = None, *, what: str = "mean_fitness", **kwargs: Any) -> "Axes":
        """Plot mean fitness (default), a trait mean, a set share or ``"growth_rate"`` over time.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is made if omitted.
        what : str
            ``"mean_fitness"``, ``"growth_rate"``, ``"trait:NAME"`` or ``"set:NAME"``.
        **kwargs
            Passed to ``Axes.plot``.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        t = np.arange(self.generations + 1)
        if what == "mean_fitness":
            ax.plot(t, self.mean_fitness, **{"label": "mean fitness $F_t$", **kwargs})
            ax.set_ylabel("mean fitness $F_t$")
        elif what == "growth_rate":
            ax.plot(t[1:], self.growth_rate, **{"label": r"$\log N_t / t$", **kwargs})
            ax.set_ylabel(r"$\log N_t \,/\, t$")
        elif what.startswith("trait:") and what[6:] in self.trait_means:
            ax.plot(t, self.trait_means[what[6:]], **{"label": f"mean {what[6:]}", **kwargs})
            ax.set_ylabel(f"mean {what[6:]}")
        elif what.startswith("set:") and what[4:] in self.set_shares:
            ax.plot(t, self.set_shares[what[4:]], **{"label": f"share of {what[4:]}", **kwargs})
            ax.set_ylabel(f"share of {what[4:]}")
        else:
            options = ["mean_fitness", "growth_rate"] + [f"trait:{k}" for k in self.trait_means] + [
                f"set:{k}" for k in self.set_shares
            ]
            raise bad_argument(InvalidParameterError, "what", what, f"one of {options}")
        if self.extinct_at is not None:
            # log N_t = -inf after extinction draws nothing: keep the whole time axis
            ax.axvline(self.extinct_at, color="0.3", linestyle=":", linewidth=1.0,
                       label=f"extinct at $t={self.extinct_at}$")
            ax.set_xlim(1 if what == "growth_rate" else 0, max(self.generations, 1))
        ax.set_xlabel("generation $t$")
        return ax

    def muller(self, ax: "Axes | None" = None, *, graph: DesignGraph | None = None, **kwargs: Any) -> "Axes":
        """Muller plot of the recorded share vectors (see :func:`aievo.ancestry.muller`).

        Uses the times recorded with ``record_shares=`` (and the final
        generation). With ``graph`` (the tree the run was made on) each band
        is a clade with its descendants nested inside it, coloured by fitness;
        without it the programs' shares are stacked.
        """
        from .ancestry import muller

        times = self.times.tolist()
        snaps = list(self.snapshots)
        if self.generations not in times:
            times.append(self.generations)
            snaps.append(self.shares)
        if len(times) < 2:
            raise bad_argument(
                InvalidParameterError, "record_shares", times,
                "at least one recorded time besides the final one (pass record_shares=range(G + 1) to simulate())",
            )
        kw: dict[str, Any] = {}
        if graph is not None:
            if not isinstance(graph, DesignGraph) or graph.n != self.shares.size:
                raise bad_argument(
                    InvalidParameterError, "graph", graph, f"the DesignGraph of the run ({self.shares.size} programs)"
                )
            if graph.parent is None:
                raise bad_argument(InvalidParameterError, "graph", graph, "a tree (nested clades need a parent array)")
            kw = {"parent": graph.parent, "fitness": graph.fitness}
        return muller(np.array(times), np.array(snaps), ax=ax, **{**kw, **kwargs})

    # ------------------------------------------------------------------ files
    def _arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`save` writes, by name."""
        arrays = {
            "mean_fitness": self.mean_fitness,
            "log_growth": self.log_growth,
            "shares": self.shares,
            "times": self.times,
            "snapshots": self.snapshots,
        }
        for k, v in self.trait_means.items():
            arrays[f"trait:{k}"] = v
        for k, v in self.set_shares.items():
            arrays[f"set:{k}"] = v
        if self._log_shares is not None:
            arrays["log_shares"] = self._log_shares
        return arrays

    def save(self, path: str | os.PathLike) -> "os.PathLike":
        """Save as ``.npz`` plus a JSON sidecar (atomic; never pickled).

        The metadata holds :attr:`params` (with the run's recipe when it has
        one: a scenario run records its whole scenario, so ``aievo rerun FILE``
        can regenerate it) and :func:`aievo.io.provenance`.
        """
        from .io import save_result

        arrays = self._arrays()
        meta = {
            "kind": "aievo.Trajectory",
            "extinct_at": self.extinct_at,
            "params": self.params,
        }
        return save_result(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Trajectory":
        """Load a trajectory written by :meth:`save`."""
        from .io import load_result

        arrays, meta = load_result(
            path, kind="aievo.Trajectory", meta_required=("extinct_at", "params"),
            arrays_required=("mean_fitness", "log_growth", "shares", "times", "snapshots"),
        )
        return cls(
            mean_fitness=arrays["mean_fitness"],
            log_growth=arrays["log_growth"],
            shares=arrays["shares"],
            trait_means={k[6:]: v for k, v in arrays.items() if k.startswith("trait:")},
            set_shares={k[4:]: v for k, v in arrays.items() if k.startswith("set:")},
            times=arrays["times"],
            snapshots=arrays["snapshots"],
            extinct_at=meta["extinct_at"],
            params=meta["params"],
            _log_shares=arrays.get("log_shares"),
        )


def _scaled_fitness(g: DesignGraph) -> tuple[np.ndarray, int, bool]:
    """Fitness scaled by a power of two so that its maximum lies in ``[1/2, 1)``.

    Returns ``(f * 2**-k, k, fast_ok)``; the scaling is exact, so the fast
    kernels compute the same shares whatever the scale of the fitness.
    ``fast_ok`` is False when some non-zero fitness falls below
    :data:`aievo._kernels.TINY` of the largest (a range the fast kernels do
    not carry; :func:`aievo._kernels.run_exact` runs from the start).
    Cached on the graph.
    """
    cache = g._cache
    if "scaled_fitness" not in cache:
        from ._kernels import TINY

        f = g.fitness
        fmax = float(f.max()) if f.size else 0.0
        k = int(np.frexp(fmax)[1]) if fmax > 0.0 else 0
        fs = np.ascontiguousarray(np.ldexp(f, -k))
        nz = f != 0.0
        fast_ok = bool(not nz.any() or fs[nz].min() >= TINY)
        cache["scaled_fitness"] = (fs, k, fast_ok)
    return cache["scaled_fitness"]


def _tree_plan(g: DesignGraph) -> dict[str, Any]:
    """Gather coefficients and frontier schedule of a tree (cached on the graph).

    ``c`` and ``d`` use the scaled fitness of :func:`_scaled_fitness`;
    ``fast_ok`` is False when one of their non-zero entries falls below
    :data:`aievo._kernels.TREE_MIN` (the general kernels run instead).
    ``segments`` split the index range into runs alternately without and
    with self-loops (the full sweep reads ``d`` and the program's own share
    only in the latter), ``schedule`` the
    frontier's orders (:func:`aievo._kernels.tree_schedule`) and ``groups``
    the absorbing programs' groups with their fitness and ``d`` (none when
    the tree is small or there are too many groups to carry them in closed
    form: the frontier then sweeps them).
    """
    cache = g._cache
    if "tree_plan" not in cache:
        from ._kernels import TREE_MIN, tree_schedule

        f, _, fast_ok = _scaled_fitness(g)
        # from the tree's own arrays, without its CSR kernel; the root "designs itself" with c = 0
        gpar, c, d, self_loop, gather_ok = g._tree_gather(f, TREE_MIN)
        fast_ok = fast_ok and gather_ok
        depth = g.depths()
        index_type = np.int32 if g.n < 2**31 - 1 else np.int64
        # the tree's own index arrays, read-only (no int64 copy of an int32 tree: every tree below
        # 2**31 - 1 programs stores int32, so one specialisation of the schedule compiles)
        par, depth = _readonly_index(g.parent), _readonly_index(depth)
        sched, group, members = _absorbing_split(
            tree_schedule(par, depth, self_loop), par, depth, self_loop, d, f,
            g.n >= ABSORBING_MIN_PROGRAMS,
        )
        # segments of the index range, alternately without and with self-loops (the first may be
        # empty); one segment "with" when there are too many
        edges = np.flatnonzero(np.diff(self_loop.astype(np.int8))) + 1
        segments = np.concatenate([[0, 0] if self_loop[0] else [0], edges, [g.n]]).astype(np.int64)
        if segments.size > max(16, g.n // 2048):
            segments = np.array([0, 0, g.n], dtype=np.int64)
        cache["tree_plan"] = {
            "parent": gpar,  # int32 below 2**31 - 1 programs: 4-byte indices move less memory
            "c": c,
            "d": d,
            "fast_ok": fast_ok,
            "schedule": tuple(a.astype(index_type) if i % 2 == 0 else a for i, a in enumerate(sched)),
            "groups": (group, np.ascontiguousarray(f[members]), np.ascontiguousarray(d[members])),
            "segments": segments,
        }
    return cache["tree_plan"]


def _readonly_index(a: Any) -> np.ndarray:
    """A read-only view of the index array ``a``, in the integer width it has.

    The schedule kernel sees a read-only array of the width the graph stores
    (``int32`` below ``2**31 - 1`` programs), so it compiles one specialisation
    and a large tree's indices are not copied into ``int64``.
    """
    out = np.asarray(a).view()
    out.flags.writeable = False
    return out


def _absorbing_split(
    sched: tuple, parent: np.ndarray, depth: np.ndarray, self_loop: np.ndarray, d: np.ndarray, f: np.ndarray,
    split: bool,
) -> tuple[tuple, np.ndarray, np.ndarray]:
    """Split the absorbing programs off the persistent ones of a frontier schedule.

    A persistent program is *absorbing* when it has a self-loop with ``d > 0``,
    no children and a transient designer (like the locked copies of an
    eta-locked tree): it receives mass once and then only keeps its own, so
    :func:`aievo._kernels.run_tree` carries it in closed form, by groups of
    equal ``(f, d)``. Returns the schedule extended by ``abs_order`` and
    ``abs_ptr`` (both in depth order, like ``pers_order`` and ``pers_ptr``),
    each absorbing program's group and one member of each group; no absorbing
    programs without ``split`` (small trees), when there are more than
    :data:`ABSORBING_GROUPS_MAX` groups or when the group table would exceed
    :data:`ABSORBING_TABLE_MAX` entries.
    """
    trans_order, trans_ptr, pers_order, pers_ptr = sched
    none = (*sched, np.zeros(0, dtype=np.int64), np.zeros(trans_ptr.size, dtype=np.int64))
    if not split or pers_order.size == 0:
        return none, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    from ._kernels import absorbing_groups

    n = parent.size
    pers = np.zeros(n, dtype=bool)
    pers[pers_order] = True
    has_child = np.zeros(n, dtype=bool)
    has_child[parent[parent >= 0]] = True
    p = parent[pers_order]
    absorbing = self_loop[pers_order] & ~has_child[pers_order] & (p >= 0) & (d[pers_order] > 0.0)
    absorbing &= ~pers[np.maximum(p, 0)]  # a designer without a self-looped ancestor
    abs_order = pers_order[absorbing]
    if abs_order.size == 0:
        return none, np.zeros(0, dtype=np.int32), abs_order
    group, first, count = absorbing_groups(f.view(np.int64), d.view(np.int64), abs_order,
                                           np.int64(ABSORBING_GROUPS_MAX))
    if count < 0 or count * (trans_ptr.size - 1) > ABSORBING_TABLE_MAX:
        return none, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    dmax = trans_ptr.size - 2

    def ptr(order: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(np.bincount(depth[order], minlength=dmax + 1))]).astype(np.int64)

    rest = pers_order[~absorbing]
    return (trans_order, trans_ptr, rest, ptr(rest), abs_order, ptr(abs_order)), group, abs_order[first[:count]]


def _frontier_work(plan: dict[str, Any], G: int) -> int:
    """Programs the frontier sweep would visit over ``G`` generations."""
    _, trans_ptr, _, pers_ptr, _, abs_ptr = plan["schedule"]
    dmax = trans_ptr.size - 2
    t = np.arange(G)
    nxt = np.minimum(t + 1, dmax + 1)
    level = np.where(t + 1 <= dmax, trans_ptr[np.minimum(t + 2, dmax + 1)] - trans_ptr[nxt], 0)
    # absorbing programs are visited once, when they receive their mass
    return int(level.sum() + pers_ptr[np.minimum(t + 1, dmax) + 1].sum() + abs_ptr[min(G, dmax) + 1])


def _ndim(value: Any) -> int:
    """``np.ndim`` that reports -1 for ragged nested sequences instead of raising."""
    try:
        return int(np.ndim(value))
    except (ValueError, TypeError):
        return -1


def _initial_shares(g: DesignGraph, initial: Any) -> np.ndarray:
    n = g.n
    if initial is None:
        x = np.zeros(n)
        x[g.root] = 1.0
        return x
    if isinstance(initial, (str, bytes)) or _ndim(initial) == 0:
        i = check_int(initial, "initial", 0, n - 1) if not isinstance(initial, (str, bytes)) else None
        if i is None:
            raise bad_argument(InvalidParameterError, "initial", initial, f"a program index in [0, {n}) or shares")
        x = np.zeros(n)
        x[i] = 1.0
        return x
    x = real_array(initial, "initial", finite=False, what=f"a program index in [0, {n}) or {n} real shares")
    if x.shape != (n,):
        raise ShapeError(f"initial has shape {x.shape}: expected ({n},)")
    if not np.all(np.isfinite(x)) or (x < 0).any():
        i = int(np.flatnonzero(~np.isfinite(x) | (x < 0))[0])
        raise bad_argument(InvalidParameterError, f"initial[{i}]", float(x[i]), "a finite share >= 0")
    if abs(x.sum() - 1.0) > 1e-9:
        raise bad_argument(
            InvalidParameterError, "initial.sum()", float(x.sum()),
            "shares summing to 1 (divide abundances by their total; log N_0 is taken as 0)",
        )
    return x


def _vectors(
    g: DesignGraph, spec: Mapping[str, Any] | Sequence[str] | None, what: str
) -> dict[str, np.ndarray]:
    """Resolve traits (or sets) given as arrays, or as names of ``g.attrs``."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if not isinstance(spec, Mapping):
        if what == "sets" or isinstance(spec, (bytes, np.ndarray)) or not hasattr(spec, "__iter__"):
            raise bad_argument(
                InvalidParameterError, what, spec,
                "a dict of name -> node set" if what == "sets" else "a dict of name -> array, or names of g.attrs",
            )
        spec = list(spec)
        for name in spec:
            if not isinstance(name, str):
                raise bad_argument(InvalidParameterError, f"{what} entry", name, "the name (str) of one of g.attrs")
        spec = {name: name for name in spec}
    out: dict[str, np.ndarray] = {}
    for name, value in spec.items():
        if isinstance(value, str):
            attrs = g.attrs
            if value not in attrs:
                raise bad_argument(
                    InvalidParameterError, f"{what}[{name!r}]", value,
                    f"an array of length {g.n} or the name of one of g.attrs {sorted(attrs)}",
                )
            value = attrs[value]
        if what == "sets":
            arr = value if isinstance(value, np.ndarray) else None
            if arr is None:
                try:
                    arr = np.asarray(value) if not isinstance(value, (bytes, Mapping)) else None
                except (TypeError, ValueError, OverflowError):
                    arr = None
            if arr is not None and arr.dtype == bool:
                if arr.shape != (g.n,):
                    raise ShapeError(f"sets[{name!r}] has shape {arr.shape}: expected a mask of shape ({g.n},)")
                vec = arr.astype(np.float64)
            else:
                idx = int_array(
                    value, f"sets[{name!r}]", lo=0, hi=g.n - 1,
                    what=f"a boolean mask of length {g.n} or node indices",
                ).ravel()
                vec = np.zeros(g.n)
                vec[idx] = 1.0
        else:
            vec = real_array(
                value, f"traits[{name!r}]", finite=False, what=f"{g.n} real trait values", allow_bool=True
            )
            if vec.shape != (g.n,):
                raise ShapeError(f"traits[{name!r}] has shape {vec.shape}: expected ({g.n},)")
            if not np.all(np.isfinite(vec)):
                raise bad_argument(
                    InvalidParameterError, f"traits[{name!r}]", vec, "finite values"
                )
        out[str(name)] = vec
    return out


def _run_deterministic(
    g: DesignGraph, x0: np.ndarray, G: int, Z: np.ndarray, times: np.ndarray, method: str
) -> tuple:
    """The deterministic run: a fast kernel, continued by the exact one if it stops.

    Returns ``(mean_f, log_n, zmeans, snaps, x, log_x, extinct_at)``; ``log_x``
    is the exact log of the final shares when the exact kernel ran, else None.
    """
    from ._kernels import _CHUNKS, PARALLEL_MIN, _outputs, row_minima, run_deterministic, run_exact, run_tree

    fs, fexp, fast_ok = _scaled_fitness(g)
    if not fast_ok:
        mean_f, log_n, zm, snaps = _outputs(np.int64(G), Z.shape[0], times.size, g.n)
        x, stopped, acc, comp = x0, 0, 0.0, 0.0
    elif g.is_tree and x0[g.root] == 1.0 and _tree_plan(g)["fast_ok"]:
        plan = _tree_plan(g)
        if method == "auto":
            method = "frontier" if _frontier_work(plan, G) <= 0.5 * G * g.n else "full"
        # small trees compile neither the parallel code nor the closed form of absorbing programs
        parts = np.zeros(_CHUNKS) if g.n >= PARALLEL_MIN else None
        if parts is not None:
            # start numba's threads: a kernel loaded from the cache that launches parallel work
            # from inside a function which is not itself parallel does not start them (and crashes)
            import numba

            numba.get_num_threads()
        sched = plan["schedule"]
        absorb = (*sched[4:], *plan["groups"]) if sched[4].size else None
        # numpy maps large zeroed buffers lazily and in huge pages: far fewer page faults than
        # an allocation inside the kernel
        ya, yb = np.zeros(g.n), np.zeros(g.n)
        mean_f, log_n, zm, snaps, x, stopped, acc, comp = run_tree(
            plan["parent"], plan["c"], plan["d"], fs, np.int64(fexp), np.int64(g.root), np.int64(G),
            Z, times, method == "frontier", sched[0], sched[1], sched[2], sched[3], absorb, plan["segments"], parts,
            ya, yb,
        )
    else:
        fraction = {"auto": FULL_SWEEP_FRACTION, "frontier": 2.0, "full": -1.0}[method]
        T = g.T
        if "row_minima" not in g._cache:
            g._cache["row_minima"] = row_minima(T.indptr, T.data)
        mean_f, log_n, zm, snaps, x, stopped, acc, comp = run_deterministic(
            T.indptr, T.indices, T.data, g._cache["row_minima"], fs, np.int64(fexp), x0, np.int64(G), Z,
            times, np.float64(fraction),
        )
    if stopped < 0:
        return mean_f, log_n, zm, snaps, x, None, -1
    # a share or product left the range the fast kernels carry exactly: continue from x_t
    T = g.T
    x, log_x, ext = run_exact(
        T.indptr, T.indices, T.data, np.ascontiguousarray(g.fitness), np.ascontiguousarray(x),
        np.int64(stopped), Z, times, mean_f, log_n, zm, snaps, acc, comp,
    )
    return mean_f, log_n, zm, snaps, x, log_x, int(ext)


def _mark_extinction(
    ext: int, n_traits: int, mean_f: np.ndarray, log_n: np.ndarray, zm: np.ndarray,
    snaps: np.ndarray, times: np.ndarray,
) -> None:
    """Fill the entries after extinction at ``ext`` with their defined values (in place).

    ``F_t = 0`` from ``ext`` on (no individual has offspring; an empty
    population has none either), ``log N_t = -inf`` after ``ext``, set
    shares and recorded share vectors 0 after ``ext``, trait means NaN after
    ``ext`` (the mean over an empty population).
    """
    mean_f[ext:] = 0.0
    log_n[ext + 1:] = -np.inf
    zm[:n_traits, ext + 1:] = np.nan
    zm[n_traits:, ext + 1:] = 0.0
    snaps[times > ext] = 0.0


def simulate(
    g: DesignGraph,
    generations: int,
    initial: Any = None,
    record_shares: Sequence[int] | None = None,
    traits: Mapping[str, Any] | Sequence[str] | None = None,
    *,
    sets: Mapping[str, Any] | None = None,
    population: int | None = None,
    rng: Any = None,
    method: str = "auto",
    payoff: Any = None,
    evaluator: Any = None,
    on_extinction: str = "record",
) -> Trajectory:
    """Evolve shares on a design graph.

    Parameters
    ----------
    g : DesignGraph
        The programs, their fitness and design kernel.
    generations : int
        Number of generations ``G``; results cover ``t = 0 .. G``.
    initial : int or array_like, optional
        Starting program (index) or initial shares summing to 1; default the root.
    record_shares : sequence of int, optional
        Times at which to keep the whole share vector (the final shares are
        always kept); read back with :meth:`Trajectory.shares_at`.
    traits : mapping or sequence, optional
        Trait vectors whose population mean is recorded every generation:
        ``{"name": array}`` or names of ``g.attrs``.
    sets : mapping, optional
        Node sets (boolean masks or index arrays) whose share is recorded every
        generation, for example ``{"near_max": g.fitness >= g.F_star - 0.05}``.
    population : int, optional
        Finite population size ``K``: multinomial sampling of ``K`` offspring
        per generation. Default: the deterministic (infinite-population) dynamics.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the finite-population draws.
    method : {"auto", "frontier", "full"}
        How each generation visits the programs. ``"frontier"`` visits only
        those that can hold mass; ``"full"`` visits all of them (on a tree,
        long sweeps run on all cores in a fixed number of chunks, so results
        do not depend on the thread count); ``"auto"`` (default) picks the cheaper for trees, and on general graphs
        starts with the frontier and moves to the full sweep once a quarter of
        the programs hold mass. All give the same result up to rounding.
    payoff : array_like or aievo.Payoff, optional
        Frequency-dependent fitness ``f_t = f + A x_t`` (see :mod:`aievo.state`).
    evaluator : aievo.LearningEvaluator or callable, optional
        An evaluator that learns to detect deception, or any Python law
        ``law(t, x) -> f_t`` (one call per generation; see :mod:`aievo.state`).
        With an evaluator ``trait_means["detection"]`` holds ``p_t``.
    on_extinction : {"record", "raise"}
        What to do when the population dies out (``F_t = 0``): ``"record"`` (default) keeps the
        run, with ``extinct_at`` set, mean fitness 0 and ``log N = -inf`` from then on;
        ``"raise"`` raises :class:`~aievo.InvalidParameterError` naming the generation.

    Returns
    -------
    Trajectory

    Notes
    -----
    The deterministic loop runs in one compiled kernel. On a tree started
    from its root each program gathers from its designer (and itself, with a
    self-loop); the frontier sweep then updates only the next level and the
    programs that can keep mass (those with a self-looped ancestor), so a
    generation of a tree without self-loops costs one level. On trees of at
    least 200,000 programs the frontier also skips the absorbing programs
    (a self-loop, no children, a designer without one: the locked copies of
    an eta-locked tree) after they receive their mass, carrying them in
    closed form by groups of equal fitness; the results agree with the full
    sweep up to rounding. Other graphs and starts scatter along the rows of
    ``T``.

    Examples
    --------
    >>> import aievo as ae
    >>> g = ae.with_locking(ae.chain([2.0, 1.0, 1.5]), 0.5)
    >>> tr = ae.simulate(g, 50)
    >>> round(float(tr.mean_fitness[-1]), 6)
    2.0
    """
    if not isinstance(g, DesignGraph):
        raise bad_argument(InvalidParameterError, "g", type(g).__name__, "an aievo.DesignGraph")
    G = check_int(generations, "generations", 0)
    if not isinstance(method, str) or method not in ("auto", "frontier", "full"):
        raise bad_argument(InvalidParameterError, "method", method, "'auto', 'frontier' or 'full'")
    x0 = _initial_shares(g, initial)
    if record_shares is None:
        times = np.zeros(0, dtype=np.int64)
    else:
        if isinstance(record_shares, (str, bytes, Mapping)) or _ndim(record_shares) != 1:
            raise bad_argument(InvalidParameterError, "record_shares", record_shares, f"a sequence of times in [0, {G}]")
        times = np.unique(int_array(record_shares, "record_shares", lo=0, hi=G, what="integer times"))
    tv = _vectors(g, traits, "traits")
    sv = _vectors(g, sets, "sets")
    names = list(tv) + list(sv)
    if population is not None:
        population = check_int(population, "population", 1, 2**62)
        generator = check_rng(rng)
    elif rng is not None:
        raise bad_argument(InvalidParameterError, "rng", rng, "None for the deterministic dynamics (set population=K)")
    need = 8 * ((G + 1) * (2 + len(names)) + times.size * g.n + 4 * g.n)
    if need > available_memory():
        raise bad_argument(
            InvalidParameterError, "generations", G,
            f"a run whose results fit in memory (this one needs about {need // 2**30} GiB "
            f"for {len(names)} recorded series and {times.size} snapshots)",
        )
    Z = np.ascontiguousarray(np.array([*tv.values(), *sv.values()]).reshape(len(names), g.n))
    params: dict[str, Any] = {
        "generations": G,
        "graph": g.summary(),
        "initial": "root" if initial is None else ("index" if _ndim(initial) == 0 else "shares"),
        "record_shares": times.tolist(),
        "traits": list(tv),
        "sets": list(sv),
        "method": method,
        "aievo_version": __version__,
    }
    if params["initial"] == "index":
        params["initial_index"] = int(np.flatnonzero(x0)[0])
    if not isinstance(on_extinction, str) or on_extinction not in ("record", "raise"):
        raise bad_argument(InvalidParameterError, "on_extinction", on_extinction, "'record' or 'raise'")
    extra: dict[str, np.ndarray] = {}
    if payoff is not None or evaluator is not None:
        from .state import run_state_dependent

        mean_f, log_n, zm, snaps, x, ext, extra = run_state_dependent(
            g, G, x0, Z, times, payoff, evaluator, population, rng, params
        )
        log_x = None
    elif population is None:
        mean_f, log_n, zm, snaps, x, log_x, ext = _run_deterministic(g, x0, G, Z, times, method)
    else:
        from .stochastic import run_finite_population

        params["population"] = int(population)
        params["seed"] = int(rng) if isinstance(rng, (int, np.integer)) else (None if rng is None else type(rng).__name__)
        fs, fexp, _ = _scaled_fitness(g)
        T = g.T
        mean_f, log_n, zm, snaps, x, ext = run_finite_population(
            T.indptr, T.indices, T.data, fs, fexp, x0, G, Z, times, int(population), generator
        )
        log_x = None
    ext = int(ext)
    if ext >= 0:
        _mark_extinction(ext, len(tv), mean_f, log_n, zm, snaps, times)
        if on_extinction == "raise":
            raise bad_argument(
                InvalidParameterError, "generations", G,
                f"at most {ext} generations: the population dies out at generation {ext} "
                "(F_t = 0); pass on_extinction='record' to keep the run",
            )
    return Trajectory(
        mean_fitness=mean_f,
        log_growth=log_n,
        shares=x,
        trait_means={**{k: zm[i] for i, k in enumerate(tv)}, **extra},
        set_shares={k: zm[len(tv) + i] for i, k in enumerate(sv)},
        times=times,
        snapshots=snaps,
        extinct_at=None if ext < 0 else ext,
        params=params,
        _log_shares=log_x,
    )
