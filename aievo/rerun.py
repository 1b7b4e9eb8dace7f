"""Regenerate a saved result from the recipe it records, and check that it is identical.

A result file written by aievo records what made it (:func:`aievo.io.provenance`:
versions, platform, command line) and, when the parameters suffice to make it
again, a *recipe*:

* a scenario run (``aievo run FILE.toml``, :func:`aievo.run_scenario`,
  :meth:`aievo.Scenario.run`): the whole scenario as data (the TOML content
  after any overrides) and its name, in the trajectory's ``params["recipe"]``;
* a call of one of the functions in :data:`RERUNNABLE` with JSON arguments
  (for example :func:`aievo.mesa.regression.regression_benchmark` with
  regressors named from the registry), in ``params["recipe"]``;
* a sweep cell (``cells/cell-NNNNNN.npz``) whose function is in
  :data:`RERUNNABLE`: its parameters, seed and function name.

:func:`rerun` (``aievo rerun RESULT``) reads only that one file, makes the
result again, and compares every array bit for bit (``NaN`` equal to ``NaN``,
dtype and shape included) and the metadata that describes the result (not
the provenance, timings or host). A file without a recipe (for example a
trajectory of :func:`aievo.simulate` on a graph built in Python) raises
:class:`~aievo.errors.ResultFileError`.

Only the functions listed in :data:`RERUNNABLE` are ever called: a result file
names what to run, and a file from elsewhere must not be able to run anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidParameterError, ResultFileError, bad_argument

__all__ = [
    "RERUNNABLE",
    "RerunReport",
    "call_recipe",
    "first_difference",
    "rerun",
    "scenario_recipe",
    "configure",
    "run",
]

#: ``"module:function"`` names a recipe may call (a sweep cell's function included).
RERUNNABLE: tuple[str, ...] = (
    "aievo.sweep:eta_locked_chain",
    "aievo.mesa.regression:regression_benchmark",
)
#: Metadata keys that describe how and where a result was made, not the result: not compared.
VOLATILE_META = frozenset({"provenance", "npz_file", "npz_sha256", "elapsed_s", "host", "pid", "aievo_version"})


def _json_copy(data: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(data, allow_nan=True))
    except (TypeError, ValueError, RecursionError) as exc:
        raise bad_argument(ResultFileError, what, data, f"JSON-serialisable data ({exc})") from None


def scenario_recipe(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe of a scenario run: its name and the scenario data (a JSON copy)."""
    return {"kind": "aievo.scenario", "name": str(name), "scenario": _json_copy(dict(config), "scenario")}


def call_recipe(function: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe of a call ``function(**kwargs)``; ``function`` must be in :data:`RERUNNABLE`."""
    if function not in RERUNNABLE:
        raise bad_argument(ResultFileError, "function", function, f"one of {list(RERUNNABLE)}")
    return {"kind": "aievo.call", "function": function, "kwargs": _json_copy(dict(kwargs), "kwargs")}


@dataclass(frozen=True)
class RerunReport:
    """The outcome of :func:`rerun`.

    Attributes
    ----------
    path : pathlib.Path
        The result file.
    recipe : str
        What was run again (``"scenario 'name'"``, ``"aievo.sweep:eta_locked_chain(...)"``).
    difference : str or None
        The first difference found (array name, index and both values), or None.
    """

    path: Path
    recipe: str
    difference: str | None

    @property
    def identical(self) -> bool:
        """Whether the regenerated result equals the saved one bit for bit."""
        return self.difference is None

    def __str__(self) -> str:
        if self.identical:
            return f"{self.path}: identical (regenerated from its recipe: {self.recipe})"
        return f"{self.path}: differs (regenerated from its recipe: {self.recipe}): {self.difference}"


def _value(a: np.ndarray, idx: tuple[int, ...]) -> str:
    v = a[idx] if a.ndim else a[()]
    return repr(v.item() if hasattr(v, "item") else v)


def _array(value: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise bad_argument(InvalidParameterError, name, value, f"an array ({exc})") from None
    if a.dtype.hasobject:
        raise bad_argument(InvalidParameterError, name, value, "a numeric, boolean or string array")
    return a


def first_difference(saved: Mapping[str, np.ndarray], regenerated: Mapping[str, np.ndarray]) -> str | None:
    """The first difference between two named sets of arrays, or None when identical.

    Arrays are equal when they have the same dtype, shape and values, ``NaN``
    equal to ``NaN`` at the same place (so ``0.0`` and ``-0.0`` count as
    equal, as ``==`` says). The message names the array, the index and both values.
    """
    for arg, value in (("saved", saved), ("regenerated", regenerated)):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise bad_argument(InvalidParameterError, arg, value, "a mapping of array name (str) -> array")
    for name in sorted(set(saved) | set(regenerated)):
        if name not in regenerated:
            return f"array {name!r} is in the file but not in the regenerated result"
        if name not in saved:
            return f"array {name!r} is in the regenerated result but not in the file"
        a, b = _array(saved[name], f"saved[{name!r}]"), _array(regenerated[name], f"regenerated[{name!r}]")
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"array {name!r}: file has dtype {a.dtype} shape {a.shape}, rerun dtype {b.dtype} shape {b.shape}"
        same = np.asarray(a == b)
        if a.dtype.kind in "fc":
            same = same | (np.isnan(a) & np.isnan(b))
        if not np.all(same):
            idx = tuple(int(i) for i in np.argwhere(~same)[0]) if a.ndim else ()
            where = f"[{', '.join(map(str, idx))}]" if idx else ""
            return f"array {name!r}{where}: file {_value(a, idx)}, rerun {_value(b, idx)}"
    return None


def _meta_difference(saved: Any, regenerated: Any, where: str = "meta") -> str | None:
    """The first difference between two JSON metadata values, volatile keys skipped."""
    if isinstance(saved, dict) and isinstance(regenerated, dict):
        for key in sorted(set(saved) | set(regenerated)):
            if key in VOLATILE_META:
                continue
            if key not in saved or key not in regenerated:
                side = "file" if key in saved else "rerun"
                return f"{where}[{key!r}] is only in the {side}"
            diff = _meta_difference(saved[key], regenerated[key], f"{where}[{key!r}]")
            if diff is not None:
                return diff
        return None
    a = json.dumps(saved, sort_keys=True, allow_nan=True)
    b = json.dumps(regenerated, sort_keys=True, allow_nan=True)
    return None if a == b else f"{where}: file {a[:200]}, rerun {b[:200]}"


def _resolve(function: str, where: Path) -> Callable[..., Any]:
    """A function of :data:`RERUNNABLE`, imported; anything else is refused."""
    import importlib

    if function not in RERUNNABLE:
        raise ResultFileError(
            f"{where} names function {function!r}: aievo reruns only {list(RERUNNABLE)} "
            "(it never calls other functions named in result files)"
        )
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


def _saved_again(result: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Save ``result`` (an object with ``save``) to a temporary file and read it back."""
    from .io import load_result

    with tempfile.TemporaryDirectory(prefix="aievo-rerun-") as tmp:
        path = result.save(Path(tmp) / "rerun")
        return load_result(path)


def _recipe(meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """The recipe of a loaded result, or a ResultFileError saying that it has none."""
    if meta.get("aievo_sweep_cell") is not None:
        fn = meta.get("fn")
        if not isinstance(fn, str):
            raise ResultFileError(
                f"{path} is a sweep cell that does not record its function (written by an older aievo): "
                "it cannot be rerun"
            )
        return {"kind": "aievo.sweep_cell", "function": fn}
    params = meta.get("params")
    recipe = params.get("recipe") if isinstance(params, dict) else None
    if not isinstance(recipe, dict) or recipe.get("kind") not in ("aievo.scenario", "aievo.call"):
        raise ResultFileError(
            f"{path} ({meta.get('kind', 'an aievo result')}) records no recipe, so it cannot be regenerated: "
            "expected a scenario run (aievo run, run_scenario), a sweep cell or a call of one of "
            f"{list(RERUNNABLE)}; a run of simulate() on a graph built in Python records its parameters "
            "and provenance but not the graph"
        )
    return recipe


def rerun(path: str | os.PathLike) -> RerunReport:
    """Regenerate the result saved in ``path`` from its recipe and compare it with the file.

    Parameters
    ----------
    path : str or path-like
        An aievo result (``.npz``; the suffix may be omitted). Nothing else is
        read: not the scenario file, not the JSON sidecar.

    Returns
    -------
    RerunReport
        ``identical`` is True when every array is equal bit for bit and the
        describing metadata is equal; otherwise ``difference`` names the first
        difference.

    Raises
    ------
    ResultFileError
        If the file is not an aievo result, records no recipe, or names a
        function outside :data:`RERUNNABLE`.
    """
    from .io import _npz_path, load_result

    npz = _npz_path(path)
    arrays, meta = load_result(npz)
    recipe = _recipe(meta, npz)
    kind = recipe["kind"]
    if kind == "aievo.scenario":
        from .scenario import Scenario, load_scenario

        name = str(recipe.get("name", "scenario"))
        sc = load_scenario(recipe.get("scenario", {}), name=name)
        if not isinstance(sc, Scenario):
            raise ResultFileError(f"{npz}: scenario {name!r} is of another kind; only graph runs can be rerun")
        if sc.population is not None and sc.seed is None:
            raise ResultFileError(
                f"{npz}: scenario {name!r} is a finite-population run without a seed (fresh entropy): it cannot "
                "be regenerated; set scenario.seed to make runs reproducible"
            )
        label = f"scenario {name!r}"
        new_arrays, new_meta = _saved_again(sc.run())
        return _report(npz, label, arrays, meta, new_arrays, new_meta)
    if kind == "aievo.call":
        function = str(recipe.get("function"))
        kwargs = recipe.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise ResultFileError(f"{npz}: recipe kwargs is a {type(kwargs).__name__}: expected a JSON object")
        label = f"{function} with its recorded arguments"
        new_arrays, new_meta = _saved_again(_resolve(function, npz)(**kwargs))
        return _report(npz, label, arrays, meta, new_arrays, new_meta)
    # a sweep cell
    fn = _resolve(recipe["function"], npz)
    seed = meta.get("seed", {})
    params = meta.get("params", {})
    if not isinstance(params, dict) or not isinstance(seed, dict):
        raise ResultFileError(f"{npz}: sweep cell without params or seed: expected a cell written by aievo.sweep")
    entropy = seed.get("entropy")
    rng = np.random.default_rng(np.random.SeedSequence(
        tuple(entropy) if isinstance(entropy, list) else entropy, spawn_key=tuple(seed.get("spawn_key", ())),
    ))
    label = f"{recipe['function']} at cell {meta.get('cell')} {json.dumps(params, sort_keys=True)[:80]} with its seed"
    value = fn(**params, rng=rng)
    if meta.get("kind") == "arrays":
        new = {k: np.asarray(v) for k, v in value.items()}
        return RerunReport(npz, label, first_difference(arrays, new))
    saved_arrays, saved_meta = load_result(npz.parent / str(meta.get("value_file")))
    new_arrays, new_meta = _saved_again(value)
    return _report(npz, label, saved_arrays, saved_meta, new_arrays, new_meta)


def _report(
    npz: Path, label: str, arrays: dict[str, np.ndarray], meta: dict[str, Any],
    new_arrays: dict[str, np.ndarray], new_meta: dict[str, Any],
) -> RerunReport:
    diff = first_difference(arrays, new_arrays) or _meta_difference(meta, new_meta)
    return RerunReport(npz, label, diff)


# ---------------------------------------------------------------------- command line
def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aievo rerun``."""
    parser.epilog = (
        "Regenerates a saved result from the recipe recorded in the file alone (a scenario run, a sweep "
        "cell, a regression benchmark of registry regressors) and compares it bit for bit. Exit status 0: "
        "identical; 1: the first difference is printed; 2: the file cannot be rerun."
    )
    parser.add_argument("result", help="result file (.npz) written by aievo")


def run(args: argparse.Namespace) -> int:
    """``aievo rerun RESULT``: 0 and one line when identical, 1 and the first difference otherwise."""
    report = rerun(args.result)
    print(report)
    return 0 if report.identical else 1
