"""Resumable parameter sweeps over any ``concurrent.futures`` executor.

:func:`sweep` runs a function on every cell of a parameter grid and writes each
finished cell to disk the moment it completes; rerunning the same sweep into
the same directory computes only what is missing. :class:`SweepResult` reads a
sweep directory back. ``aievo sweep SWEEP.toml`` is the command-line form
(:func:`configure` and :func:`run`); a sweep file names a function, a built-in
runner, or a base scenario whose keys it sweeps (:func:`scenario_cell`), and the
command ends with :func:`summary_table`.

The directory layout is described in :mod:`aievo._sweep_store`.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import importlib
import itertools
import json
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ._sweep_store import MAX_CELLS, Fingerprint, Store, SweepBusyError, SweepMismatchError, Throttle, check_grid_size
from .errors import AievoError, InvalidParameterError, ResultFileError, ScenarioError, bad_argument

if TYPE_CHECKING:  # pragma: no cover
    import argparse

__all__ = [
    "sweep",
    "SweepResult",
    "SweepCell",
    "SerialExecutor",
    "SweepWarning",
    "SweepMismatchError",
    "SweepBusyError",
    "MAX_CELLS",
    "SCENARIOS",
    "eta_locked_chain",
    "scenario_cell",
    "summary_table",
    "load_sweep_file",
    "configure",
    "run",
]

#: worker processes of the default executor
DEFAULT_WORKERS = 2


class SweepWarning(UserWarning):
    """Some cells of a sweep did not finish (they are retried on the next run)."""


class SerialExecutor(cf.Executor):
    """Run each submitted call at once, in this process.

    Useful for small sweeps, debugging (breakpoints work), and functions that
    cannot be pickled (defined in a notebook). :func:`sweep` submits one cell
    at a time to it, so every cell is written before the next one starts.
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the waiter like any executor
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future


# ---------------------------------------------------------------------------- inputs
def _jsonable(value: Any, where: str) -> Any:
    """The JSON form of a grid value (numpy scalars and arrays, tuples become lists)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise bad_argument(
        InvalidParameterError, where, value,
        "JSON-serialisable values (numbers, strings, booleans, None, lists, dicts)",
    )


def _normalise_grid(grid: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if not isinstance(grid, Mapping):
        raise bad_argument(InvalidParameterError, "grid", grid, "a dict of parameter name -> list of values")
    lengths = []
    for values in grid.values():
        n = len(values) if hasattr(values, "__len__") and not isinstance(values, (str, bytes, Mapping)) else 1
        lengths.append(n)
    check_grid_size(tuple(lengths))  # before converting any value: 2**63 cells fail at once
    out = []
    for name, values in grid.items():
        if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")) or name == "rng":
            raise bad_argument(
                InvalidParameterError, "grid key", name,
                "a Python identifier other than 'rng' (it becomes a keyword argument of fn), or a dotted "
                "path of identifiers (a scenario key such as 'graph.depth', for a fn taking **params)",
            )
        if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
            raise bad_argument(
                InvalidParameterError, f"grid[{name!r}]", values,
                f"a list of values, e.g. [{values!r}] for a single value",
            )
        # bounded before anything is converted: range(10**12) must fail at once
        length = len(values) if hasattr(values, "__len__") else None
        if length is None:
            values = list(itertools.islice(values, MAX_CELLS + 1))
            length = len(values)
        if length > MAX_CELLS:
            raise bad_argument(
                InvalidParameterError, f"grid[{name!r}]", f"<{length} values>",
                f"at most {MAX_CELLS} values (the grid may hold at most {MAX_CELLS} cells)",
            )
        # the JSON round trip makes a new run and a resumed one pass identical values
        try:
            vals = tuple(
                json.loads(json.dumps(_jsonable(v, f"grid[{name!r}] entry"), allow_nan=False)) for v in values
            )
        except (ValueError, RecursionError) as exc:
            raise bad_argument(
                InvalidParameterError, f"grid[{name!r}]", values, f"JSON-representable finite values ({exc})"
            ) from None
        if not vals:
            raise bad_argument(InvalidParameterError, f"grid[{name!r}]", values, "a non-empty list of values")
        out.append((name, vals))
    check_grid_size(tuple(len(v) for _, v in out))
    return tuple(out)


def _qualified_name(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of ``fn``; a functools.partial also records its fixed arguments."""
    if isinstance(fn, functools.partial):
        try:
            fixed = json.dumps(
                [_jsonable(list(fn.args), "args"), _jsonable(dict(fn.keywords), "keywords")],
                sort_keys=True,
            )
        except (InvalidParameterError, ValueError):
            fixed = repr((fn.args, fn.keywords))
        return f"functools.partial({_qualified_name(fn.func)}, {fixed})"
    module = getattr(fn, "__module__", None) or type(fn).__module__
    qual = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}:{qual}"


def _check_signature(fn: Callable[..., Any], names: tuple[str, ...]) -> None:
    """Refuse a grid that cannot be passed to ``fn`` before running any cell."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some callables have no signature
        return
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = None
    else:
        accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    wanted = set(names) | {"rng"}
    if accepted is not None and not wanted <= accepted:
        extra = sorted(wanted - accepted)
        raise bad_argument(
            InvalidParameterError, "grid", list(names),
            f"names that fn{sig} accepts as keywords, plus rng; it does not accept {extra}",
        )
    missing = sorted(
        n for n, p in params.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in wanted
    )
    if missing:
        raise bad_argument(
            InvalidParameterError, "grid", list(names),
            f"a value list for every required parameter of fn{sig}; missing {missing}",
        )


def _root_seed(rng: Any) -> tuple[int | tuple[int, ...], tuple[int, ...]] | None:
    """(entropy, spawn_key) of the sweep's root SeedSequence, or None for "not given"."""
    if rng is None:
        return None
    if isinstance(rng, np.random.SeedSequence):
        entropy = rng.entropy
        if isinstance(entropy, (list, tuple, np.ndarray)):
            entropy = tuple(int(e) for e in entropy)
        # numpy types .entropy as optional; a SeedSequence always holds it (drawn if not given)
        return cast("int | tuple[int, ...]", entropy), tuple(int(k) for k in rng.spawn_key)
    if isinstance(rng, np.random.Generator):
        words = rng.integers(0, 2**32, size=4, dtype=np.uint64)
        return sum(int(w) << (32 * k) for k, w in enumerate(words)), ()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng), ()
    if isinstance(rng, (list, tuple)) and rng and all(
        isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e >= 0 for e in rng
    ):
        return tuple(int(e) for e in rng), ()
    raise bad_argument(
        InvalidParameterError, "rng", rng,
        "None, a non-negative int (or list of them), a numpy SeedSequence or Generator",
    )


def _make_executor(executor: Any) -> tuple[cf.Executor, bool]:
    """(executor, owned): owned executors are shut down by :func:`sweep`."""
    if executor is None:
        executor = DEFAULT_WORKERS
    if isinstance(executor, cf.Executor):
        return executor, False
    if isinstance(executor, (int, np.integer)) and not isinstance(executor, bool) and 0 <= executor <= 1024:
        if executor == 0:
            return SerialExecutor(), True
        import multiprocessing

        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        return cf.ProcessPoolExecutor(max_workers=int(executor), mp_context=ctx), True
    raise bad_argument(
        InvalidParameterError, "executor", executor,
        "None (2 local processes), an int n in [0, 1024] (n local processes; 0 runs in this process) "
        "or a concurrent.futures.Executor such as dask's Client.get_executor()",
    )


def _in_flight_limit(executor: cf.Executor) -> int | None:
    if isinstance(executor, SerialExecutor):
        return 1
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers > 0:
        return 2 * workers
    return None  # hand everything to the scheduler (dask balances it)


# ---------------------------------------------------------------------------- worker side
def _run_cell(fn: Callable[..., Any], params: dict[str, Any], seed: np.random.SeedSequence):
    """Run one cell in a worker; errors come back as text so any executor can carry them."""
    import socket
    import time

    start = time.perf_counter()
    try:
        value = fn(**params, rng=np.random.default_rng(seed))
    except AievoError as exc:  # refused input: deterministic, rerunning fails the same way
        return False, f"{type(exc).__name__}: {exc}", traceback.format_exc(), True
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback, retried next run
        return False, f"{type(exc).__name__}: {exc}", traceback.format_exc(), False
    info = {
        "elapsed_s": round(time.perf_counter() - start, 6),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    return True, value, info, False


def _class_path(value: Any) -> str | None:
    cls = type(value)
    if callable(getattr(value, "save", None)) and callable(getattr(cls, "load", None)):
        return f"{cls.__module__}:{cls.__qualname__}"
    return None


def _store_value(store: Store, index: int, value: Any, info: dict[str, Any]) -> None:
    """Write a finished cell; raises AievoError if ``value`` cannot be stored."""
    if isinstance(value, Mapping):
        arrays = {}
        for key, arr in value.items():
            if not isinstance(key, str) or key.startswith("__"):
                raise bad_argument(
                    ResultFileError, "result key", key, "a str not starting with '__'"
                )
            a = np.asarray(arr)
            if a.dtype == object:
                raise bad_argument(
                    ResultFileError, f"result[{key!r}]", arr, "a numeric or string array"
                )
            arrays[key] = a
        store.write_arrays(index, arrays, info)
        return
    class_path = _class_path(value)
    if class_path is None:
        raise bad_argument(
            ResultFileError, "fn's return value", value,
            "a dict of arrays, or an object with .save(path) and a classmethod .load(path) "
            "(such as an aievo.Trajectory)",
        )
    store.write_object(index, value, class_path, info)


# ---------------------------------------------------------------------------- the sweep
def sweep(
    fn: Callable[..., Any],
    grid: Mapping[str, Any],
    *,
    out: str | os.PathLike,
    executor: Any = None,
    rng: Any = None,
    progress: bool | None = None,
) -> "SweepResult":
    """Run ``fn`` on every cell of a parameter grid, saving each cell as it finishes.

    Parameters
    ----------
    fn : callable
        Called as ``fn(**params, rng=generator)`` for each cell, where ``params``
        maps every grid name to one of its values and ``generator`` is a
        :class:`numpy.random.Generator` seeded for that cell. It returns a dict
        of arrays, or an object with a ``save(path)`` method and a ``load(path)``
        classmethod (such as :class:`aievo.Trajectory`). With process or Dask
        executors it must be picklable (a module-level function).
    grid : dict of str to list
        Parameter name -> values (JSON-serialisable; numpy scalars and arrays
        are converted). The cells are the Cartesian product, in C order (the
        last name varies fastest).
    out : str or path-like
        Directory for the results: new, empty, or holding this same sweep, in
        which case only the missing and failed cells are computed.
    executor : None, int or concurrent.futures.Executor, optional
        Where cells run. None: 2 local worker processes; an int ``n``: ``n``
        local processes (0: in this process, one cell after the other); or any
        executor, for example :class:`SerialExecutor` or a Dask cluster's
        ``Client(...).get_executor()``. Executors passed in are not shut down.
    rng : int, sequence of int, SeedSequence or Generator, optional
        Root seed. Cell ``i`` (flat C-order index) receives child ``i`` of
        ``SeedSequence(rng).spawn(n_cells)``, so results do not depend on the
        executor, the number of workers or the order cells finish in. When
        omitted, a resumed sweep reuses the stored seed, and a new one draws
        fresh entropy (stored in ``out/sweep.json``).
    progress : bool, optional
        Show a progress display (default: when stderr is a terminal or in a Jupyter notebook);
        it counts finished cells and names the last one.

    Returns
    -------
    SweepResult
        The state of every cell after this run.

    Raises
    ------
    SweepMismatchError
        If ``out`` holds a sweep with another function name, grid or seed.
    InvalidParameterError
        If ``grid``, ``rng``, ``executor`` or ``out`` is not as described.

    Warns
    -----
    SweepWarning
        When some cells failed or were lost with a worker; their tracebacks are
        in ``out/failures/`` and :attr:`SweepResult.failures`, and the next run
        of the same sweep retries them.

    Notes
    -----
    Each finished cell is written atomically to ``out/cells/`` by this process
    as soon as its result arrives, so neither a crashed worker nor an
    interrupted run loses a finished cell. ``out/index.json`` summarises all
    cells; it is rebuilt from the cell files and never read back.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from aievo.sweep import sweep, SerialExecutor
    >>> def noisy_line(a, b, rng):
    ...     return {"y": a * np.arange(3) + b + rng.normal(size=3)}
    >>> res = sweep(noisy_line, {"a": [0, 1], "b": [10, 20, 30]},
    ...             out=tempfile.mkdtemp(), executor=SerialExecutor(), rng=1)
    >>> res.shape, res.complete
    ((2, 3), True)
    """
    if not callable(fn):
        raise bad_argument(InvalidParameterError, "fn", fn, "a callable fn(**params, rng=...)")
    if out is None or not isinstance(out, (str, os.PathLike)):
        raise bad_argument(InvalidParameterError, "out", out, "a directory path")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise bad_argument(InvalidParameterError, "progress", progress, "None, True or False")
    norm_grid = _normalise_grid(grid)
    _check_signature(fn, tuple(name for name, _ in norm_grid))
    seed = _root_seed(rng)
    # no seed given: fresh entropy, which create_or_check replaces by the stored sweep's when out holds one
    entropy, spawn_key = seed if seed is not None else (cast(int, np.random.SeedSequence().entropy), ())
    fingerprint = Fingerprint(_qualified_name(fn), norm_grid, entropy, spawn_key)
    store = Store.create_or_check(out, fingerprint, seed_given=seed is not None)
    with store.lock():
        exe, owned = _make_executor(executor)  # after validation: nothing to clean up on bad input
        try:
            refused = _drive(store, fn, exe, progress)
        except BaseException:  # interrupted: do not wait for the running cells
            if owned:
                exe.shutdown(wait=False, cancel_futures=True)
            raise
        if owned:
            exe.shutdown(wait=True)
    result = SweepResult(store)
    if result.failed or result.pending:
        failed = result.failed
        invalid = [c for c in failed if c.invalid]
        msg = f"{len(failed)} of {len(result)} cells failed"
        if failed:
            msg += f" (first: cell {failed[0].index} {failed[0].params}: {failed[0].error})"
        if invalid:
            msg += (
                f"; {len(invalid)} of them refused their parameters (an AievoError): rerunning gives the "
                "same error, change the grid or fn"
            )
        if result.pending:
            msg += f"; {len(result.pending)} were not run"
            if refused:
                msg += f" (the executor refused new work: {refused})"
        retry = len(failed) > len(invalid) or result.pending
        warnings.warn(
            f"sweep into {str(out)!r}: {msg}. Tracebacks are in {store.root / 'failures'}"
            + (f"; rerun the same sweep to retry the {'other ' if invalid else ''}unfinished cells."
               if retry else "."),
            SweepWarning,
            stacklevel=2,
        )
    return result


def _drive(store: Store, fn: Callable[..., Any], exe: cf.Executor, show: bool | None) -> str | None:
    """Submit the unfinished cells, write each result as it arrives, keep the index current.

    Returns the executor's error if it refused to take more cells, else None.
    """
    from ._progress import progress

    store.remove_stale_temporaries()
    done, failed = store.rebuild_index()
    fp = store.fingerprint
    todo = iter([i for i in range(fp.size) if i not in done])
    n_todo = fp.size - len(done)
    limit = _in_flight_limit(exe)
    in_flight: dict[cf.Future, int] = {}
    throttle = Throttle(1.0)
    submit_error: list[str] = []

    def fill() -> None:
        while not submit_error and (limit is None or len(in_flight) < limit):
            i = next(todo, None)
            if i is None:
                return
            try:
                in_flight[exe.submit(_run_cell, fn, fp.params(i), fp.cell_seed(i))] = i
            except Exception as exc:  # noqa: BLE001 - a broken executor: stop submitting
                submit_error.append(f"{type(exc).__name__}: {exc}")

    def record(i: int, future: cf.Future) -> None:
        if future.cancelled():  # cancelled by someone else: the cell stays pending
            return
        exc = future.exception()
        if exc is not None:  # the executor lost the call (worker killed, pickling, ...)
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            error = f"{type(exc).__name__}: {exc}"
            store.write_failure(i, f"the executor lost this cell: {error}", text)
            failed.add(i)
            return
        ok, value, info, invalid = future.result()
        if not ok:
            store.write_failure(i, value, info, deterministic=invalid)
            failed.add(i)
            return
        try:
            _store_value(store, i, value, info)
        except Exception as err:  # noqa: BLE001 - an unstorable result is this cell's failure
            store.write_failure(
                i, f"{type(err).__name__}: {err}", traceback.format_exc(), deterministic=isinstance(err, AievoError)
            )
            failed.add(i)
            return
        done.add(i)
        failed.discard(i)

    def completions() -> Iterator[int]:
        fill()
        while in_flight:
            finished, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
            for future in finished:
                i = in_flight.pop(future)
                record(i, future)
                yield i
            if throttle():
                store.write_index(done, failed)
            fill()

    def label(i: int) -> str:
        return f"last finished: cell {i} {json.dumps(fp.params(i))}"

    try:
        for _ in progress(completions(), total=n_todo, desc="sweep", enabled=show, label=label):
            pass
    finally:
        for future in in_flight:
            future.cancel()
        store.rebuild_index()
    return submit_error[0] if submit_error else None


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SweepCell:
    """One cell of a sweep.

    Attributes
    ----------
    index : int
        Flat C-order index in the grid.
    position : tuple of int
        Index along each grid axis.
    params : dict
        Grid name -> value for this cell.
    status : str
        ``"done"``, ``"failed"`` or ``"pending"``.
    path : pathlib.Path or None
        The cell's ``.npz`` file when done.
    error : str or None
        The last error of a failed cell (the traceback is in :attr:`SweepResult.failures`).
    invalid : bool
        Whether the failure was ``fn`` refusing its parameters (an
        :class:`~aievo.errors.AievoError`): deterministic, so retrying cannot help.
    """

    index: int
    position: tuple[int, ...]
    params: dict[str, Any]
    status: str
    path: Path | None = None
    error: str | None = None
    invalid: bool = False


class SweepResult:
    """The cells of a sweep directory, read from its files.

    Obtain one from :func:`sweep` or :meth:`SweepResult.open`. Iterating yields
    :class:`SweepCell` records in grid order; :meth:`load` reads a cell's
    result and :meth:`collect` gathers one number per cell into an array shaped
    like the grid.
    """

    def __init__(self, store: Store):
        self._store = store
        done, failed = store.scan()
        fp = store.fingerprint
        cells = []
        for i in range(fp.size):
            record: dict[str, Any] = {}
            if i in done:
                status, path, error = "done", store.cell_path(i), None
            elif i in failed:
                record = store.read_failure(i) or {}
                status, path, error = "failed", None, str(record.get("error", ""))
            else:
                status, path, error = "pending", None, None
            invalid = status == "failed" and bool(record.get("deterministic", False))
            cells.append(SweepCell(i, fp.position(i), fp.params(i), status, path, error, invalid))
        self._cells = cells

    @classmethod
    def open(cls, out: str | os.PathLike) -> "SweepResult":
        """Read the sweep in directory ``out`` (its state is rebuilt from the cell files)."""
        return cls(Store.open(out))

    # ------------------------------------------------------------- description
    @property
    def out(self) -> Path:
        """The sweep directory."""
        return self._store.root

    @property
    def names(self) -> tuple[str, ...]:
        """Grid parameter names, in axis order."""
        return self._store.fingerprint.names

    @property
    def axes(self) -> dict[str, list[Any]]:
        """Grid parameter name -> its values (one array axis each)."""
        return {name: list(values) for name, values in self._store.fingerprint.grid}

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the grid (one axis per parameter)."""
        return self._store.fingerprint.shape

    @property
    def fn(self) -> str:
        """Qualified name ``module:function`` of the swept function."""
        return self._store.fingerprint.fn

    @property
    def seed(self) -> np.random.SeedSequence:
        """The root SeedSequence; cell ``i`` used ``seed.spawn(n)[i]``."""
        return self._store.fingerprint.seed_sequence()

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self) -> Iterator[SweepCell]:
        return iter(self._cells)

    def __repr__(self) -> str:
        return (
            f"SweepResult(out={str(self.out)!r}, names={self.names}, shape={self.shape}, "
            f"done={len(self.done)}, failed={len(self.failed)}, pending={len(self.pending)})"
        )

    @property
    def cells(self) -> list[SweepCell]:
        """All cells in grid (C) order."""
        return list(self._cells)

    @property
    def done(self) -> list[SweepCell]:
        """Finished cells."""
        return [c for c in self._cells if c.status == "done"]

    @property
    def failed(self) -> list[SweepCell]:
        """Cells whose last attempt failed."""
        return [c for c in self._cells if c.status == "failed"]

    @property
    def pending(self) -> list[SweepCell]:
        """Cells never attempted (or whose failure record was removed)."""
        return [c for c in self._cells if c.status == "pending"]

    @property
    def complete(self) -> bool:
        """True when every cell is finished."""
        return all(c.status == "done" for c in self._cells)

    @property
    def status(self) -> np.ndarray:
        """Array shaped like the grid with each cell's status string."""
        return np.array([c.status for c in self._cells], dtype="<U7").reshape(self.shape)

    @property
    def failures(self) -> dict[int, str]:
        """Cell index -> traceback text of its last failure, for failed cells."""
        out = {}
        for c in self.failed:
            record = self._store.read_failure(c.index) or {}
            out[c.index] = record.get("traceback", "")
        return out

    # ------------------------------------------------------------------ access
    def cell(self, key: int | tuple[int, ...] | Mapping[str, Any]) -> SweepCell:
        """The cell at a flat index, a grid position tuple, or with given parameter values."""
        n = len(self._cells)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -n <= key < n:
                raise bad_argument(InvalidParameterError, "cell", key, f"an index in [0, {n})")
            return self._cells[int(key)]
        if isinstance(key, tuple):
            shape = self.shape
            if len(key) != len(shape) or not all(
                isinstance(k, (int, np.integer)) and 0 <= k < s for k, s in zip(key, shape)
            ):
                raise bad_argument(
                    InvalidParameterError, "cell", key, f"a position tuple within shape {shape}"
                )
            return self._cells[int(np.ravel_multi_index(key, shape))] if shape else self._cells[0]
        if isinstance(key, Mapping):
            want = {k: _jsonable(v, "cell value") for k, v in key.items()}
            if set(want) != set(self.names):
                raise bad_argument(
                    InvalidParameterError, "cell", dict(key), f"values for exactly {list(self.names)}"
                )
            for c in self._cells:
                if c.params == want:
                    return c
            raise bad_argument(
                InvalidParameterError, "cell", dict(key), f"grid values from {self.axes}"
            )
        raise bad_argument(
            InvalidParameterError, "cell", key, "an int index, a position tuple or a dict of parameters"
        )

    def load(self, cell: int | tuple[int, ...] | Mapping[str, Any]) -> Any:
        """Load a finished cell's result.

        Parameters
        ----------
        cell : int, tuple or dict
            Flat index, grid position, or parameter values (see :meth:`cell`).

        Returns
        -------
        dict of ndarray or object
            What ``fn`` returned: a dict of arrays, or the object reloaded with
            its class's ``load`` (the class must be in aievo or already imported:
            loading never imports modules named in files).
        """
        c = self.cell(cell)
        if c.status != "done":
            raise ResultFileError(
                f"cell {c.index} {c.params} is {c.status}: expected a finished cell "
                "(rerun the sweep to compute it)"
            )
        arrays, meta = self._store.read_cell(c.index)
        if meta.get("kind") == "arrays":
            return arrays
        cls = _resolve_class(str(meta.get("class")), c.index)
        return cls.load(self._store.root / "cells" / meta["value_file"])

    def meta(self, cell: int | tuple[int, ...] | Mapping[str, Any]) -> dict[str, Any]:
        """Metadata of a finished cell: params, seed, timing, host and provenance."""
        c = self.cell(cell)
        if c.status != "done":
            raise ResultFileError(f"cell {c.index} {c.params} is {c.status}: expected a finished cell")
        return self._store.read_cell(c.index)[1]

    def collect(
        self,
        value: str | Callable[[Any], Any],
        *,
        fill: Any = np.nan,
        dtype: Any = float,
    ) -> np.ndarray:
        """One value per cell, in an array shaped like the grid.

        Parameters
        ----------
        value : str or callable
            A key of the cells' dict results (the array must hold one element),
            or a function of a loaded result returning a scalar, e.g.
            ``lambda tr: tr.mean_fitness[-1]``.
        fill : scalar
            Value for cells that are not finished.
        dtype : dtype
            dtype of the returned array.

        Returns
        -------
        ndarray, shape ``self.shape``
        """
        if not (isinstance(value, str) or callable(value)):
            raise bad_argument(InvalidParameterError, "value", value, "an array key or a callable")
        out = np.full(len(self._cells), fill, dtype=dtype)
        for c in self._cells:
            if c.status != "done":
                continue
            result = self.load(c.index)
            if isinstance(value, str):
                if not isinstance(result, Mapping) or value not in result:
                    keys = sorted(result) if isinstance(result, Mapping) else type(result).__name__
                    raise bad_argument(InvalidParameterError, "value", value, f"one of {keys}")
                arr = np.asarray(result[value])
                if arr.size != 1:
                    raise bad_argument(
                        InvalidParameterError, "value", value,
                        f"a key of a one-element array (cell {c.index} has shape {arr.shape}); "
                        "pass a callable to reduce it",
                    )
                out[c.index] = arr.reshape(())[()]
            else:
                out[c.index] = value(result)
        return out.reshape(self.shape)

    # ------------------------------------------------------------------ labelled data
    def _grid_coords(self) -> dict[str, Any]:
        """Grid name -> its values as a coordinate (positions, plus the values as JSON, when not scalars)."""
        coords: dict[str, Any] = {}
        for name, values in self.axes.items():
            scalar = all(isinstance(v, (bool, int, float, str)) for v in values)
            if scalar and len({json.dumps(v) for v in values}) == len(values):
                coords[name] = list(values)
            else:
                coords[name] = np.arange(len(values))
                coords[f"{name}_value"] = (name, [json.dumps(v, sort_keys=True) for v in values])
        return coords

    def to_xarray(self, value: str | Callable[[Any], Any], *, name: str | None = None, fill: Any = np.nan,
                  dtype: Any = float) -> Any:
        """One value per cell as an :class:`xarray.DataArray` with the grid's axes as coordinates.

        Parameters
        ----------
        value, fill, dtype
            As in :meth:`collect` (a key of the cells' dict results, or a function of a loaded result).
        name : str, optional
            Name of the array (default: ``value`` when it is a key, else ``"value"``).

        Returns
        -------
        xarray.DataArray
            Dimensions are the grid names in order; each coordinate holds that
            parameter's values (non-scalar values, such as lists, get their
            positions, with the values as JSON text in ``NAME_value``). The
            coordinate ``status`` holds each cell's status; cells that are not
            done hold ``fill``. Needs the ``labels`` extra (xarray).
        """
        from ._extras import require_extra

        (xr,) = require_extra("labels", "xarray", purpose="SweepResult.to_xarray")
        data = self.collect(value, fill=fill, dtype=dtype)
        coords = {**self._grid_coords(), "status": (self.names, self.status)}
        label = name if name is not None else (value if isinstance(value, str) else "value")
        return xr.DataArray(data, dims=self.names, coords=coords, name=label, attrs={"fn": self.fn})

    def to_dataframe(self, value: str | Callable[[Any], Any] | None = None, *, name: str | None = None,
                     fill: Any = np.nan, dtype: Any = float) -> Any:
        """One row per cell as a :class:`pandas.DataFrame`, in grid (C) order, indexed by ``cell``.

        Columns: each grid parameter's value, ``status``, and with ``value`` (as
        in :meth:`collect`) a column named ``name`` (default: ``value`` when it
        is a key, else ``"value"``). Needs the ``labels`` extra (pandas).
        """
        from ._extras import require_extra

        (pd,) = require_extra("labels", "pandas", purpose="SweepResult.to_dataframe")
        cols: dict[str, Any] = {n: [c.params[n] for c in self._cells] for n in self.names}
        cols["status"] = [c.status for c in self._cells]
        if value is not None:
            label = name if name is not None else (value if isinstance(value, str) else "value")
            cols[label] = self.collect(value, fill=fill, dtype=dtype).reshape(-1)
        return pd.DataFrame(cols, index=pd.RangeIndex(len(self._cells), name="cell"))


def _resolve_class(path: str, index: int) -> Any:  # a class with a load(path) method
    module, _, qual = path.partition(":")
    if module.split(".")[0] == "aievo":
        mod = importlib.import_module(module)
    elif module in sys.modules:
        mod = sys.modules[module]
    else:
        raise ResultFileError(
            f"cell {index} holds a {path} object but module {module!r} is not imported; "
            f"import it first (aievo never imports modules named in result files)"
        )
    obj: Any = mod
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or not callable(getattr(obj, "load", None)):
        raise ResultFileError(f"cell {index} names class {path!r}, which has no load(path)")
    return obj


# ---------------------------------------------------------------------------- built-in scenarios
def eta_locked_chain(
    eta: float,
    generations: int,
    *,
    fitness: list[float] | None = None,
    length: int = 20,
    step: float = 0.1,
    rng: np.random.Generator | None = None,
):
    """Built-in sweep scenario: a chain of improving designs with eta-locking.

    Program ``k`` of a chain ``0 -> 1 -> ... -> length-1`` has fitness
    ``fitness[k]`` (default ``1 + step * k``) and designs its successor;
    :func:`aievo.with_locking` makes each design a locked copy with
    probability ``eta``. ``eta = 0`` is the unlocked baseline: the chain itself,
    without locked copies (so an eta sweep can include it; ``with_locking``
    itself requires ``eta > 0``). Deterministic: ``rng`` is accepted and unused.

    Returns
    -------
    aievo.Trajectory
        The run from the chain's root for ``generations`` generations.
    """
    from ._validate import check_int, check_real
    from .dynamics import simulate
    from .locking import with_locking
    from .trees import chain

    if fitness is None:
        length = check_int(length, "length", 1, 10**7)
        step = check_real(step, "step")
        fitness = list(1.0 + step * np.arange(int(length)))
    eta = check_real(eta, "eta", lo=0.0, hi=1.0, expected="a number in [0, 1] (0: the unlocked baseline)")
    g = chain(fitness)
    return simulate(g if eta == 0.0 else with_locking(g, eta), generations)


def scenario_cell(*, base: Mapping[str, Any], name: str = "scenario", rng: Any = None, **params: Any) -> Any:
    """One cell of a sweep over a scenario's keys: the scenario ``base`` with ``params`` set, run.

    Parameters
    ----------
    base : dict
        Scenario data (what a scenario file holds, :mod:`aievo.scenario`).
    name : str
        Default scenario name (the base file's stem).
    rng : numpy.random.Generator, optional
        The cell's generator; it seeds a finite-population run whose scenario
        gives no ``scenario.seed``.
    **params
        Dotted scenario key -> value (``{"graph.depth": 4}``), set on top of
        ``base`` as :func:`aievo.scenario.apply_overrides` does.

    Returns
    -------
    Trajectory or dict
        A graph run's :class:`~aievo.Trajectory` (its ``params`` record the
        scenario as run); for a scenario of another kind, the
        :func:`aievo.scenario.headline` numbers as a dict of arrays.
    """
    from .scenario import Scenario, headline, load_scenario

    sc = load_scenario(base, name=name, overrides=params)
    if isinstance(sc, Scenario):
        return sc.run(rng=rng)
    return {k: np.asarray(v) for k, v in headline(sc.run()).items()}


#: name usable as ``scenario = "..."`` in a sweep file -> the function it runs
SCENARIOS: dict[str, Callable[..., Any]] = {"eta_locked_chain": eta_locked_chain}


# ---------------------------------------------------------------------------- command line
_KEYS = {
    "function": "a 'module:function' string",
    "scenario": f"one of {sorted(SCENARIOS)}",
    "base": "a scenario: the path of a scenario file (relative to the sweep file) or an inline table",
    "grid": "a table of parameter = [values]",
    "out": "a directory path (relative to the sweep file)",
    "seed": "a non-negative integer",
    "workers": "a non-negative integer (0 runs cells in this process)",
    "scheduler": "a Dask scheduler address such as 'tcp://host:8786'",
}


def _import_function(spec: str) -> Callable[..., Any]:
    module, sep, qual = spec.partition(":")
    if not sep or not module or not qual:
        raise bad_argument(ScenarioError, "function", spec, "'module:function', e.g. 'mypkg.model:run_cell'")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise bad_argument(
            ScenarioError, "function", spec, f"an importable module ({type(exc).__name__}: {exc})"
        ) from exc
    for part in qual.split("."):
        if not hasattr(obj, part):
            raise bad_argument(ScenarioError, "function", spec, f"a name defined in module {module!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise bad_argument(ScenarioError, "function", spec, "a callable")
    return obj


def load_sweep_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a sweep file; returns fn, grid, out, seed, executor settings.

    With ``base`` (a scenario file or inline table), ``fn`` is :func:`scenario_cell`
    bound to that scenario and the grid's keys are its dotted keys; the base
    scenario with the first cell's values is validated here, before any cell runs.

    The file is parsed with :mod:`tomllib` and never evaluated; but
    ``function = "module:function"`` imports that module, which runs its code:
    only use sweep files you trust.
    """
    import tomllib

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise bad_argument(ScenarioError, "sweep file", str(p), f"a readable file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise bad_argument(ScenarioError, "sweep file", str(p), f"a UTF-8 text file (TOML; {exc})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p} is not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - set(_KEYS))
    if unknown:
        raise ScenarioError(f"{p}: unknown key(s) {unknown}: expected keys among {sorted(_KEYS)}")

    def typed(key: str, kind: type | tuple[type, ...], required: bool = False) -> Any:
        if key not in doc:
            if required:
                raise ScenarioError(f"{p}: missing key {key!r}: expected {_KEYS[key]}")
            return None
        value = doc[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad_argument(ScenarioError, key, value, _KEYS[key])
        return value

    function, scenario, base = typed("function", str), typed("scenario", str), typed("base", (str, dict))
    if sum(x is not None for x in (function, scenario, base)) != 1:
        raise ScenarioError(
            f"{p}: expected exactly one of 'function' ({_KEYS['function']}), "
            f"'scenario' ({_KEYS['scenario']}) or 'base' ({_KEYS['base']})"
        )
    grid = typed("grid", dict, required=True)
    if base is not None:
        fn, grid = _base_sweep(p, base, grid)
    elif scenario is not None:
        if scenario not in SCENARIOS:
            raise bad_argument(ScenarioError, "scenario", scenario, _KEYS["scenario"])
        fn = SCENARIOS[scenario]
    else:
        fn = _import_function(function)
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise bad_argument(ScenarioError, f"grid.{name}", values, "a non-empty array of values, e.g. [1, 2]")
        try:
            _normalise_grid({name: values})
        except InvalidParameterError as exc:
            raise ScenarioError(f"{p}: grid.{name}: {exc}") from exc
    out = Path(typed("out", str, required=True))
    if not out.is_absolute():
        out = p.parent / out
    seed = typed("seed", int)
    if seed is not None and seed < 0:
        raise bad_argument(ScenarioError, "seed", seed, _KEYS["seed"])
    workers = typed("workers", int)
    if workers is not None and workers < 0:
        raise bad_argument(ScenarioError, "workers", workers, _KEYS["workers"])
    scheduler = typed("scheduler", str)
    if scheduler is not None and workers is not None:
        raise ScenarioError(f"{p}: give 'workers' (local processes) or 'scheduler' (Dask), not both")
    return {"fn": fn, "grid": grid, "out": out, "seed": seed, "workers": workers, "scheduler": scheduler}


def _flatten(grid: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"graph": {"depth": [2, 3]}}`` (TOML's ``graph.depth = [2, 3]``) -> ``{"graph.depth": [2, 3]}``."""
    out: dict[str, Any] = {}
    for key, value in grid.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _base_sweep(p: Path, base: str | dict[str, Any], grid: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The cell function and flat grid of a sweep over the keys of a base scenario."""
    import tomllib

    from .scenario import load_scenario

    if isinstance(base, str):
        path = Path(base) if Path(base).is_absolute() else p.parent / base
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise bad_argument(ScenarioError, "base", base, f"a readable scenario file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path} (base of {p}): not valid TOML: {exc}") from None
        name = path.stem
    else:
        data, name = base, "scenario"
    flat = _flatten(grid)
    for key, values in flat.items():
        if not isinstance(values, list) or not values:
            raise bad_argument(ScenarioError, f"grid.{key}", values, "a non-empty array of values, e.g. [1, 2]")
    try:  # the base scenario with the first cell's values: unknown keys fail before any cell runs
        load_scenario(data, name=name, overrides={k: v[0] for k, v in flat.items()})
    except ScenarioError as exc:
        where = f"base {base!r}" if isinstance(base, str) else "base"
        raise ScenarioError(f"{p}: {where}: {str(exc).replace('--set ', 'grid.')}") from None
    return functools.partial(scenario_cell, base=data, name=name), flat


def configure(parser: "argparse.ArgumentParser") -> None:
    """Add the ``aievo sweep`` arguments to ``parser``."""
    parser.add_argument("file", metavar="SWEEP.toml", help="sweep file (see docs/sweeps.md)")
    parser.add_argument("--out", help="override the file's output directory")
    parser.add_argument("--workers", type=int, help="local worker processes (0: this process)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument(
        "--status", action="store_true", help="report the state of the sweep directory; run nothing"
    )


def run(args: "argparse.Namespace") -> int:
    """Run (or resume) the sweep described by ``args.file``; returns the exit status."""
    spec = load_sweep_file(args.file)
    out = Path(args.out) if args.out else spec["out"]
    if args.status:
        res = SweepResult.open(out)
        _report(res)
        print(summary_table(res))
        return 0 if res.complete else 1
    workers = args.workers if args.workers is not None else spec["workers"]
    scheduler = args.scheduler or (spec["scheduler"] if workers is None else None)
    client = None
    if scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError as exc:
            raise ScenarioError(
                "scheduler needs Dask: pip install 'aievo[dask]'"
            ) from exc
        client = Client(scheduler)
        executor: Any = client.get_executor()
    else:
        executor = workers
    before = SweepResult.open(out) if (out / "sweep.json").exists() else None
    found = len(before.done) if before is not None else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SweepWarning)  # reported below instead
            res = sweep(
                spec["fn"], spec["grid"], out=out, executor=executor, rng=spec["seed"],
                progress=None if not getattr(args, "quiet", False) else False,
            )
    finally:
        if client is not None:
            client.close()
    print(f"computed {len(res.done) - found} cell(s), found {found} already done")
    _report(res)
    print(summary_table(res))
    return 0 if res.complete else 1


def _report(res: SweepResult) -> None:
    print(
        f"{res.out}: {len(res.done)}/{len(res)} cells done, {len(res.failed)} failed, "
        f"{len(res.pending)} pending (grid {dict(zip(res.names, res.shape))})"
    )
    for c in res.failed:
        tag = " [invalid parameters: retrying gives the same error]" if c.invalid else ""
        print(f"  cell {c.index} {json.dumps(c.params)}: {c.error}{tag}")
    if res.failed:
        retry = any(not c.invalid for c in res.failed)
        print(f"  tracebacks: {res.out / 'failures'}" + ("; run the same command again to retry" if retry else ""))


def _headline(value: Any) -> dict[str, Any]:
    """The summary-table columns of one cell's result."""
    from .dynamics import Trajectory
    from .scenario import headline

    if isinstance(value, Trajectory):
        return headline(value)
    if isinstance(value, Mapping):
        return {k: np.asarray(v).reshape(()).item() for k, v in value.items() if np.asarray(v).size == 1}
    return {}


def _cell_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def summary_table(res: SweepResult, max_rows: int = 50) -> str:
    """A text table with one row per cell: its swept values and its result's headline numbers.

    The columns of a result are :func:`aievo.scenario.headline` for a
    :class:`~aievo.Trajectory` (final mean fitness ``F_T``, growth rate,
    dominant program and its share, trait means and set shares), or the
    one-element arrays of a dict result. Unfinished cells show their status.
    At most ``max_rows`` rows are shown.
    """
    rows: list[dict[str, str]] = []
    columns: list[str] = list(res.names)
    for c in res.cells[:max_rows]:
        row = {k: _cell_text(v) for k, v in c.params.items()}
        values = _headline(res.load(c.index)) if c.status == "done" else {"status": c.status}
        for k, v in values.items():
            if k not in columns:
                columns.append(k)
            row[k] = _cell_text(v)
        rows.append(row)
    widths = {k: max([len(k)] + [len(r.get(k, "")) for r in rows]) for k in columns}
    lines = ["  ".join(f"{k:>{widths[k]}s}" for k in columns)]
    lines += ["  ".join(f"{r.get(k, ''):>{widths[k]}s}" for k in columns) for r in rows]
    if len(res) > max_rows:
        lines.append(f"... {len(res) - max_rows} more cells: aievo.sweep.SweepResult.open({str(res.out)!r})")
    return "\n".join(lines)
