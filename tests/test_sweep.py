"""Tests of aievo.sweep: resumable parameter sweeps on any executor.

Oracles: ``itertools.product`` for the grid order, ``SeedSequence(seed).spawn(n)[i]``
drawn directly for each cell's random numbers, direct calls of the swept
function, and the closed form of the eta-locked chain's mean fitness.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import AievoError, InvalidParameterError, ResultFileError, ScenarioError
from aievo.io import load_result, save_result
from aievo.sweep import (
    SerialExecutor,
    SweepBusyError,
    SweepMismatchError,
    SweepResult,
    SweepWarning,
    eta_locked_chain,
    load_sweep_file,
    sweep,
)

SEED = 20261123


# ----------------------------------------------------------------- swept functions
# Module level so that worker processes (forkserver, Dask) can import them.
def draws(a, b, rng):
    """Four uniforms from the cell's generator, plus the parameters."""
    return {"x": rng.random(4), "ab": np.array([a, b], dtype=float)}


def logged(i, workdir, rng, sleep=0.0, kill_cell=-1, fail_cell=-1):
    """Record each call in ``workdir/calls``; optionally die or fail once for one cell."""
    wd = Path(workdir)
    (wd / "calls").mkdir(exist_ok=True)
    (wd / "calls" / f"{i}-{os.getpid()}-{time.perf_counter_ns()}").touch()
    if i == kill_cell and not (wd / "killed").exists():
        (wd / "killed").touch()
        time.sleep(0.5)  # let the other worker finish cells first
        os.kill(os.getpid(), signal.SIGKILL)
    if i == fail_cell and not (wd / "failed").exists():
        (wd / "failed").touch()
        raise ValueError(f"deliberate failure in cell {i}")
    time.sleep(sleep)
    return {"x": rng.random(5), "i": np.int64(i)}


def calls(workdir):
    d = Path(workdir) / "calls"
    return sorted(int(p.name.split("-")[0]) for p in d.iterdir()) if d.exists() else []


def oracle_uniforms(seed, n_cells, i, size):
    """Cell i's draws, from the documented seeding rule (not from aievo)."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(n_cells)[i]).random(size)


class Box:
    """A minimal result object with save/load (stored through aievo.io)."""

    def __init__(self, value):
        self.value = np.asarray(value)

    def save(self, path):
        return save_result(path, {"value": self.value}, {"kind": "Box"})

    @classmethod
    def load(cls, path):
        arrays, meta = load_result(path)
        assert meta["kind"] == "Box"
        return cls(arrays["value"])


def boxed(k, rng):
    return Box(k * np.ones(3) + rng.random(3))


def bad_return(k, rng):
    return [k]


# ----------------------------------------------------------------- grid, seeds, storage
GRID = {"a": [0.5, 1.5, 2.5], "b": ["u", "v"]}


def check_against_oracle(res, grid, seed):
    names = list(grid)
    product = list(itertools.product(*grid.values()))
    assert res.shape == tuple(len(v) for v in grid.values())
    assert len(res) == len(product)
    for i, values in enumerate(product):
        cell = res.cell(i)
        assert cell.params == dict(zip(names, values))
        assert cell.position == tuple(int(k) for k in np.unravel_index(i, res.shape))
        out = res.load(i)
        np.testing.assert_array_equal(out["x"], oracle_uniforms(seed, len(product), i, 4))


def test_serial_sweep_matches_product_order_and_seeding(tmp_path):
    res = sweep(draws_ab, GRID, out=tmp_path / "s", executor=SerialExecutor(), rng=SEED)
    assert res.complete and not res.failed and not res.pending
    check_against_oracle(res, GRID, SEED)
    assert (res.status == "done").all() and res.status.shape == (3, 2)
    # collect: one number per cell, shaped like the grid, from a direct oracle
    expect = np.array([[oracle_uniforms(SEED, 6, 2 * r + c, 4)[0] for c in range(2)] for r in range(3)])
    np.testing.assert_array_equal(res.collect(lambda out: out["x"][0]), expect)
    assert res.load({"a": 2.5, "b": "v"})["x"][0] == expect[2, 1]
    assert res.load((1, 0))["x"][0] == expect[1, 0]


def draws_ab(a, b, rng):
    return {"x": rng.random(4), "a": np.float64(a)}


@settings(max_examples=12)
@given(
    st.dictionaries(
        st.sampled_from(["p", "q", "r"]),
        st.lists(st.one_of(st.integers(-5, 5), st.floats(-1, 1), st.text("xyz", max_size=2)),
                 min_size=1, max_size=3),
        min_size=1,
    ),
    st.integers(0, 2**64),
)
def test_property_cells_are_the_product_with_spawned_seeds(grid, seed):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        res = sweep(record_params, grid, out=Path(d) / "s", executor=0, rng=seed)
        product = list(itertools.product(*grid.values()))
        assert [c.params for c in res] == [dict(zip(grid, v)) for v in product]
        for i, values in enumerate(product):
            out = res.load(i)
            assert json.loads(str(out["params"])) == dict(zip(grid, values))
            np.testing.assert_array_equal(out["u"], oracle_uniforms(seed, len(product), i, 2))
        idx = json.loads((Path(d) / "s" / "index.json").read_text())
        assert idx["shape"] == [len(v) for v in grid.values()]
        assert [c["params"] for c in idx["cells"]] == [dict(zip(grid, v)) for v in product]


def record_params(rng, **params):
    return {"params": np.array(json.dumps(params)), "u": rng.random(2)}


def test_numpy_grid_values_and_string_collect(tmp_path):
    grid = {"k": np.arange(3), "w": np.linspace(0, 1, 2)}
    res = sweep(weighted, grid, out=tmp_path / "s", executor=0, rng=1)
    assert res.axes == {"k": [0, 1, 2], "w": [0.0, 1.0]}
    expect = np.array([[k + w for w in (0.0, 1.0)] for k in range(3)])
    np.testing.assert_array_equal(res.collect("y"), expect)


def weighted(k, w, rng):
    return {"y": np.float64(k + w)}


def test_object_results_are_saved_and_reloaded_with_their_class(tmp_path):
    res = sweep(boxed, {"k": [1, 2]}, out=tmp_path / "s", executor=0, rng=7)
    for i, k in enumerate([1, 2]):
        box = res.load(i)
        assert isinstance(box, Box)
        np.testing.assert_array_equal(box.value, k + oracle_uniforms(7, 2, i, 3))
        assert res.meta(i)["class"] == f"{Box.__module__}:Box"


class Unimported(Box):
    pass


Unimported.__module__ = "module_that_is_not_imported"


def unimported(rng):
    return Unimported([1.0])


def test_loading_never_imports_modules_named_in_files(tmp_path):
    res = sweep(unimported, {}, out=tmp_path / "s", executor=0, rng=0)
    assert res.complete and len(res) == 1
    with pytest.raises(ResultFileError, match="module_that_is_not_imported"):
        res.load(0)


# ----------------------------------------------------------------- executors
def test_same_results_serial_processes_and_worker_counts(tmp_path):
    runs = {
        name: sweep(draws, {"a": [1, 2, 3], "b": [0, 1]}, out=tmp_path / name, executor=ex, rng=SEED)
        for name, ex in [("serial", SerialExecutor()), ("one", 1), ("two", None)]
    }
    ref = runs["serial"]
    for res in runs.values():
        assert res.complete
        for i in range(len(ref)):
            np.testing.assert_array_equal(res.load(i)["x"], oracle_uniforms(SEED, 6, i, 4))
            np.testing.assert_array_equal(res.load(i)["ab"], ref.load(i)["ab"])


def test_dask_local_cluster_equals_serial_run(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    grid = {"a": [1, 2, 3], "b": [10, 20]}
    serial = sweep(draws, grid, out=tmp_path / "serial", executor=0, rng=SEED)
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        res = sweep(draws, grid, out=tmp_path / "dask", executor=client.get_executor(), rng=SEED)
        pids = {res.meta(i)["pid"] for i in range(len(res))}
    assert res.complete
    assert os.getpid() not in pids  # the cells really ran in the cluster's workers
    for i in range(len(res)):
        for key in ("x", "ab"):
            np.testing.assert_array_equal(res.load(i)[key], serial.load(i)[key])
        np.testing.assert_array_equal(res.load(i)["ab"], list(itertools.product(*grid.values()))[i])


# ----------------------------------------------------------------- crashes, failures, resume
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_worker_loses_nothing_and_resume_completes(tmp_path):
    n = 8
    work = tmp_path / "work"
    work.mkdir()
    grid = {"i": list(range(n)), "workdir": [str(work)], "sleep": [0.15], "kill_cell": [2]}
    with pytest.warns(SweepWarning, match="rerun the same sweep"):
        first = sweep(logged, grid, out=tmp_path / "s", executor=2, rng=SEED)
    assert (work / "killed").exists()
    done_first = {c.index for c in first.done}
    assert 1 <= len(done_first) < n  # cells finished before the kill, the rest did not
    assert 2 not in done_first
    assert "BrokenProcessPool" in first.failures[first.failed[0].index]
    files_before = {c.index: c.path.stat().st_mtime_ns for c in first.done}
    calls_first = calls(work)

    second = sweep(logged, grid, out=tmp_path / "s", executor=2, rng=SEED)
    assert second.complete
    assert not list((tmp_path / "s" / "failures").glob("*.json"))
    all_calls = calls(work)
    for i in range(n):  # the second run computed exactly the cells the first did not finish
        extra = all_calls.count(i) - calls_first.count(i)
        assert extra == (0 if i in done_first else 1), (i, extra)
    for i, mtime in files_before.items():  # and never rewrote a finished one
        assert second.cell(i).path.stat().st_mtime_ns == mtime

    # identical to an uninterrupted serial run of the same sweep
    work2 = tmp_path / "work2"
    work2.mkdir()
    (work2 / "killed").touch()
    ref_grid = {**grid, "workdir": [str(work2)], "sleep": [0.0]}
    ref = sweep(logged, ref_grid, out=tmp_path / "ref", executor=0, rng=SEED)
    for i in range(n):
        np.testing.assert_array_equal(second.load(i)["x"], ref.load(i)["x"])
        np.testing.assert_array_equal(second.load(i)["x"], oracle_uniforms(SEED, n, i, 5))


def test_failure_recorded_with_traceback_then_retried(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    grid = {"i": [0, 1, 2, 3], "workdir": [str(work)], "fail_cell": [2]}
    with pytest.warns(SweepWarning, match="1 of 4 cells failed"):
        res = sweep(logged, grid, out=tmp_path / "s", executor=0, rng=SEED)
    assert [c.index for c in res.failed] == [2] and len(res.done) == 3
    assert res.cell(2).error == "ValueError: deliberate failure in cell 2"
    tb = res.failures[2]
    assert "Traceback" in tb and "in logged" in tb and "deliberate failure in cell 2" in tb
    record = json.loads((tmp_path / "s" / "failures" / "cell-000002.json").read_text())
    assert record["attempts"] == 1 and record["params"]["i"] == 2 and record["traceback"] == tb
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert [c["status"] for c in index["cells"]] == ["done", "done", "failed", "done"]

    res2 = sweep(logged, grid, out=tmp_path / "s", executor=0, rng=SEED)
    assert res2.complete and res2.failures == {}
    assert calls(work) == [0, 1, 2, 2, 3]  # only the failed cell ran again
    assert not (tmp_path / "s" / "failures" / "cell-000002.json").exists()
    np.testing.assert_array_equal(res2.load(2)["x"], oracle_uniforms(SEED, 4, 2, 5))


def test_unstorable_result_is_a_failure_naming_what_was_expected(tmp_path):
    with pytest.warns(SweepWarning):
        res = sweep(bad_return, {"k": [1]}, out=tmp_path / "s", executor=0, rng=0)
    assert res.failed and "expected a dict of arrays" in res.cell(0).error


def test_index_is_rebuilt_from_cell_files(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    grid = {"i": list(range(5)), "workdir": [str(work)]}
    out = tmp_path / "s"
    sweep(logged, grid, out=out, executor=0, rng=SEED)
    (out / "cells" / "cell-000003.npz").unlink()
    (out / "index.json").write_text("this index is garbage")
    reopened = SweepResult.open(out)
    assert [c.status for c in reopened] == ["done", "done", "done", "pending", "done"]
    res = sweep(logged, grid, out=out, executor=0, rng=SEED)
    assert calls(work) == [0, 1, 2, 3, 3, 4]
    index = json.loads((out / "index.json").read_text())
    on_disk = sorted(p.name for p in (out / "cells").glob("cell-??????.npz"))
    listed = sorted(Path(c["path"]).name for c in index["cells"] if c["status"] == "done")
    assert listed == on_disk and len(on_disk) == 5 and index["counts"]["done"] == 5
    assert res.complete


# ----------------------------------------------------------------- fingerprint
def test_fingerprint_mismatch_is_refused(tmp_path):
    out = tmp_path / "s"
    sweep(draws, {"a": [1, 2], "b": [0]}, out=out, executor=0, rng=1)
    with pytest.raises(SweepMismatchError, match="grid"):
        sweep(draws, {"a": [1, 2, 3], "b": [0]}, out=out, executor=0, rng=1)
    with pytest.raises(SweepMismatchError, match="function"):
        sweep(draws_ab, {"a": [1, 2], "b": [0]}, out=out, executor=0, rng=1)
    with pytest.raises(SweepMismatchError, match="seed"):
        sweep(draws, {"a": [1, 2], "b": [0]}, out=out, executor=0, rng=2)
    assert issubclass(SweepMismatchError, AievoError)
    # without a seed, the stored one is reused: nothing to recompute, same numbers
    again = sweep(draws, {"a": [1, 2], "b": [0]}, out=out, executor=0)
    np.testing.assert_array_equal(again.load(1)["x"], oracle_uniforms(1, 2, 1, 4))


def test_bad_arguments_name_the_argument(tmp_path):
    cases = [
        (dict(fn=draws, grid=[1, 2], out=tmp_path / "a"), "grid="),
        (dict(fn=draws, grid={"a": "abc"}, out=tmp_path / "a"), "grid['a']"),
        (dict(fn=draws, grid={"rng": [1]}, out=tmp_path / "a"), "grid key"),
        (dict(fn=draws, grid={"a": []}, out=tmp_path / "a"), "non-empty"),
        (dict(fn=draws, grid={"a": [object()]}, out=tmp_path / "a"), "JSON"),
        (dict(fn=draws, grid={"a": [1], "b": [2]}, out=tmp_path / "a", rng=-1), "rng=-1"),
        (dict(fn=draws, grid={"a": [1], "b": [2]}, out=tmp_path / "a", executor="fast"), "executor='fast'"),
        (dict(fn=3, grid={"a": [1]}, out=tmp_path / "a"), "fn=3"),
        (dict(fn=draws, grid={"a": [1], "c": [2]}, out=tmp_path / "a"), "does not accept ['c']"),
        (dict(fn=draws, grid={"a": [1]}, out=tmp_path / "a"), "missing ['b']"),
        (dict(fn=lambda a: a, grid={"a": [1]}, out=tmp_path / "a"), "does not accept ['rng']"),
    ]
    for kwargs, words in cases:
        with pytest.raises(InvalidParameterError) as info:
            sweep(kwargs.pop("fn"), kwargs.pop("grid"), **kwargs)
        assert words in str(info.value)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InvalidParameterError, match="out="):
        sweep(draws, {"a": [1], "b": [2]}, out=busy, executor=0)


# ----------------------------------------------------------------- engine scenario
def locked_chain_mean_fitness(f, eta, generations):
    """Closed form of F_t for the eta-locked chain while the front has not reached the end.

    Unnormalised counts: the unlocked front sits at program t with weight
    prod_{j<t} (1 - eta) f_j; the locked copy of program j is created at
    generation j + 1 with weight eta f_j prod_{i<j} (1 - eta) f_i and then
    multiplies by f_j each generation.
    """
    F = []
    for t in range(generations + 1):
        front = np.prod([(1 - eta) * f[j] for j in range(t)])
        weights, fits = [front], [f[t]]
        for j in range(t):
            w = eta * f[j] * np.prod([(1 - eta) * f[i] for i in range(j)]) * f[j] ** (t - 1 - j)
            weights.append(w)
            fits.append(f[j])
        weights = np.array(weights)
        F.append(float(weights @ np.array(fits) / weights.sum()))
    return np.array(F)


def test_eta_locked_chain_sweep_matches_closed_form(tmp_path):
    grid = {"eta": [0.1, 0.5, 1.0], "generations": [6]}
    res = sweep(eta_locked_chain, grid, out=tmp_path / "s", executor=0, rng=0)
    f = 1.0 + 0.1 * np.arange(20)
    for i, eta in enumerate(grid["eta"]):
        tr = res.load(i)
        assert type(tr).__name__ == "Trajectory"
        np.testing.assert_allclose(tr.mean_fitness, locked_chain_mean_fitness(f, eta, 6), rtol=1e-12)
    final = res.collect(lambda tr: tr.mean_fitness[-1])
    assert final.shape == (3, 1)
    np.testing.assert_allclose(final[:, 0], [locked_chain_mean_fitness(f, e, 6)[-1] for e in grid["eta"]])


# ----------------------------------------------------------------- command line
def write_toml(path, body):
    path.write_text(body)
    return path


def main(argv):
    """``aievo sweep ARGV`` through this module's configure/run, as aievo.cli dispatches it."""
    import argparse

    from aievo.sweep import configure, run

    parser = argparse.ArgumentParser(prog="aievo sweep")
    parser.add_argument("-q", "--quiet", action="store_true")
    configure(parser)
    try:
        return run(parser.parse_args(argv))
    except AievoError as exc:
        print(f"aievo sweep: error: {exc}", file=sys.stderr)
        return 2


def test_cli_sweep_equals_python_sweep(tmp_path, capsys):
    toml = write_toml(
        tmp_path / "s.toml",
        f'function = "{__name__}:draws"\nout = "res"\nseed = {SEED}\nworkers = 0\n'
        "[grid]\na = [1, 2]\nb = [0.5]\n",
    )
    assert main(["-q", str(toml)]) == 0
    assert "2/2 cells done" in capsys.readouterr().out
    res = SweepResult.open(tmp_path / "res")
    ref = sweep(draws, {"a": [1, 2], "b": [0.5]}, out=tmp_path / "ref", executor=0, rng=SEED)
    for i in range(2):
        np.testing.assert_array_equal(res.load(i)["x"], ref.load(i)["x"])
    assert main([str(toml), "--status"]) == 0
    assert main([str(toml)]) == 0  # resume: nothing left
    assert "computed 0 cell(s), found 2" in capsys.readouterr().out


def test_cli_builtin_scenario(tmp_path):
    toml = write_toml(
        tmp_path / "s.toml",
        'scenario = "eta_locked_chain"\nout = "res"\nworkers = 0\n'
        "[grid]\neta = [0.25]\ngenerations = [4]\n",
    )
    assert main(["-q", str(toml)]) == 0
    tr = SweepResult.open(tmp_path / "res").load(0)
    np.testing.assert_allclose(
        tr.mean_fitness, locked_chain_mean_fitness(1.0 + 0.1 * np.arange(20), 0.25, 4), rtol=1e-12
    )


@pytest.mark.parametrize(
    "body, words",
    [
        ('out = "r"\n[grid]\na = [1]\n', "exactly one of 'function'"),
        ('function = "x"\nscenario = "eta_locked_chain"\nout = "r"\n[grid]\na=[1]\n', "exactly one"),
        ('function = "nocolon"\nout = "r"\n[grid]\na = [1]\n', "function='nocolon'"),
        ('function = "no_such_module_xyz:f"\nout = "r"\n[grid]\na = [1]\n', "importable module"),
        ('scenario = "nope"\nout = "r"\n[grid]\na = [1]\n', "scenario='nope'"),
        ('scenario = "eta_locked_chain"\nout = "r"\n', "missing key 'grid'"),
        ('scenario = "eta_locked_chain"\n[grid]\neta = [1]\n', "missing key 'out'"),
        ('scenario = "eta_locked_chain"\nout = "r"\n[grid]\neta = 0.5\n', "grid.eta=0.5"),
        ('scenario = "eta_locked_chain"\nout = "r"\nworkers = "two"\n[grid]\neta = [1]\n', "workers='two'"),
        ('scenario = "eta_locked_chain"\nout = "r"\nseed = -3\n[grid]\neta = [1]\n', "seed=-3"),
        ('scenario = "eta_locked_chain"\nout = "r"\nsed = 3\n[grid]\neta = [1]\n', "unknown key(s) ['sed']"),
        ('scenario = "eta_locked_chain"\nout = 3\n[grid]\neta = [1]\n', "out=3"),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_cli_sweep_file_errors_name_the_key(tmp_path, capsys, body, words):
    from aievo.sweep import load_sweep_file

    toml = write_toml(tmp_path / "s.toml", body)
    with pytest.raises(ScenarioError) as info:
        load_sweep_file(toml)
    assert words in str(info.value)
    assert main([str(toml)]) == 2
    assert words in capsys.readouterr().err


# ----------------------------------------------------------------- the user guide
DOCS = Path(__file__).resolve().parents[1] / "docs" / "sweeps.md"


def doc_blocks():
    """(code, documented output or None) for each runnable ```python block of docs/sweeps.md.

    The docs follow the project's convention (tests/test_docs.py): a ```output block
    right after a python block is what it prints; ```python no-run blocks are skipped.
    """
    import re

    found = re.findall(r"^```([^\n`]*)\n(.*?)^```$", DOCS.read_text(), re.S | re.M)
    out = []
    for info, body in found:
        if info.strip() == "python":
            out.append([body, None])
        elif info.strip() == "output" and out and out[-1][1] is None:
            out[-1][1] = body
    return out


def test_docs_python_blocks_print_what_the_docs_say(tmp_path, capsys, monkeypatch):
    """Run as __main__ (so the Dask block runs too, unlike in tests/test_docs.py)."""
    blocks = doc_blocks()
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    outputs = []
    for code, expected in blocks:
        exec(compile(code, str(DOCS), "exec"), namespace)
        printed = capsys.readouterr().out
        outputs.append(printed)
        if expected is not None:
            assert printed.rstrip("\n") == expected.rstrip("\n")
    (dask_out,) = [o for (code, _), o in zip(blocks, outputs) if "LocalCluster" in code]
    (walk_out,) = [o for (code, _), o in zip(blocks, outputs) if "def walk_end" in code and "Cluster" not in code]
    assert dask_out == walk_out and "69.642" in dask_out  # the same numbers on the cluster


def test_docs_toml_example_is_a_valid_sweep_file(tmp_path):
    import re

    from aievo.sweep import eta_locked_chain as builtin
    from aievo.sweep import load_sweep_file

    (toml,) = re.findall(r"```toml\n(.*?)```", DOCS.read_text(), re.S)
    spec = load_sweep_file(write_toml(tmp_path / "eta.toml", toml))
    assert spec["fn"] is builtin and spec["seed"] == 1 and spec["workers"] == 2
    assert spec["grid"] == {"eta": [0.1, 0.5, 0.9], "generations": [50], "length": [60]}
    assert spec["out"] == tmp_path / "eta-sweep"


def test_example_sweep_eta_quick_matches_closed_form(tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "sweep_eta.py"
    spec = importlib.util.spec_from_file_location("sweep_eta_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    res = example.main(["--quick", "--out", str(tmp_path)])
    assert res.complete and (tmp_path / "sweep_eta.png").stat().st_size > 10_000
    F_T = res.collect(lambda tr: tr.mean_fitness[-1])
    k = np.arange(41)
    for c, f in enumerate([1.0 + 2.0**-k, 1.0 + 0.1 * k]):  # res.axes["chain"] order
        for j, eta in enumerate(res.axes["eta"]):
            for t, T in enumerate(res.axes["generations"]):
                assert T < 40  # the closed form holds until the front reaches the chain's end
                np.testing.assert_allclose(F_T[c, j, t], locked_chain_mean_fitness(f, eta, T)[-1],
                                           rtol=1e-12)


def test_fingerprint_tells_int_from_float_and_partial_arguments(tmp_path):
    import functools

    out = tmp_path / "s"
    sweep(weighted, {"k": [1], "w": [0]}, out=out, executor=0, rng=1)
    with pytest.raises(SweepMismatchError, match="grid"):  # 0.0 is not 0: fn would see a float
        sweep(weighted, {"k": [1], "w": [0.0]}, out=out, executor=0, rng=1)
    out2 = tmp_path / "p"
    sweep(functools.partial(weighted, w=1.0), {"k": [1, 2]}, out=out2, executor=0, rng=1)
    with pytest.raises(SweepMismatchError, match="function"):
        sweep(functools.partial(weighted, w=2.0), {"k": [1, 2]}, out=out2, executor=0, rng=1)
    res = sweep(functools.partial(weighted, w=1.0), {"k": [1, 2]}, out=out2, executor=0, rng=1)
    np.testing.assert_array_equal(res.collect("y"), [2.0, 3.0])


def test_seed_sequence_and_generator_roots(tmp_path):
    child = np.random.SeedSequence(99).spawn(3)[2]  # a spawned sequence as the root
    res = sweep(draws, {"a": [1, 2], "b": [0]}, out=tmp_path / "ss", executor=0, rng=child)
    kids = np.random.SeedSequence(99).spawn(3)[2].spawn(2)  # a fresh copy's children
    for i in range(2):
        expect = np.random.default_rng(kids[i]).random(4)
        np.testing.assert_array_equal(res.load(i)["x"], expect)
    # a Generator supplies 128 bits of entropy: the same generator state, the same sweep
    r1 = sweep(draws, {"a": [1], "b": [0]}, out=tmp_path / "g1", executor=0, rng=np.random.default_rng(5))
    r2 = sweep(draws, {"a": [1], "b": [0]}, out=tmp_path / "g2", executor=0, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(r1.load(0)["x"], r2.load(0)["x"])
    entropy = r1.seed.entropy
    words = np.random.default_rng(5).integers(0, 2**32, size=4, dtype=np.uint64)
    assert entropy == sum(int(w) << (32 * k) for k, w in enumerate(words))


@settings(max_examples=15)
@given(st.sets(st.integers(0, 5)), st.booleans())
def test_property_resume_computes_exactly_the_missing_cells(missing, garble_index):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        work, out = Path(d) / "work", Path(d) / "s"
        work.mkdir()
        grid = {"i": list(range(6)), "workdir": [str(work)]}
        sweep(logged, grid, out=out, executor=0, rng=SEED)
        for i in missing:
            (out / "cells" / f"cell-{i:06d}.npz").unlink()
        if garble_index:
            (out / "index.json").write_text("{not json")
        assert {c.index for c in SweepResult.open(out).pending} == missing
        res = sweep(logged, grid, out=out, executor=0, rng=SEED)
        assert sorted(calls(work)) == sorted(list(range(6)) + list(missing))
        assert res.complete
        index = json.loads((out / "index.json").read_text())
        assert [c["status"] for c in index["cells"]] == ["done"] * 6
        for i in range(6):
            np.testing.assert_array_equal(res.load(i)["x"], oracle_uniforms(SEED, 6, i, 5))


def test_any_executor_threads_and_a_refusing_executor(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        res = sweep(draws, {"a": [1, 2], "b": [3, 4]}, out=tmp_path / "t", executor=pool, rng=SEED)
    for i in range(4):
        np.testing.assert_array_equal(res.load(i)["x"], oracle_uniforms(SEED, 4, i, 4))
    closed = ThreadPoolExecutor(1)
    closed.shutdown()
    with pytest.warns(SweepWarning, match="refused new work: RuntimeError"):
        res = sweep(draws, {"a": [1, 2], "b": [0]}, out=tmp_path / "c", executor=closed, rng=SEED)
    assert len(res.pending) == 2 and not res.done and not res.failed


def test_aievo_command_line_dispatches_sweep(tmp_path, capsys):
    from aievo.cli import main as aievo_main

    toml = write_toml(
        tmp_path / "s.toml",
        f'function = "{__name__}:draws"\nout = "res"\nseed = 3\nworkers = 0\n[grid]\na = [1]\nb = [2]\n',
    )
    assert aievo_main(["-q", "sweep", str(toml)]) == 0
    assert "1/1 cells done" in capsys.readouterr().out
    np.testing.assert_array_equal(SweepResult.open(tmp_path / "res").load(0)["x"], oracle_uniforms(3, 1, 0, 4))
    assert aievo_main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "sweep file=" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_dask_resubmits_a_killed_workers_cell(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    work = tmp_path / "work"
    work.mkdir()
    grid = {"i": list(range(6)), "workdir": [str(work)], "sleep": [0.1], "kill_cell": [2]}
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        res = sweep(logged, grid, out=tmp_path / "s", executor=client.get_executor(), rng=SEED)
    assert (work / "killed").exists() and res.complete  # one run: Dask retried the cell itself
    assert calls(work).count(2) == 2
    for i in range(6):
        np.testing.assert_array_equal(res.load(i)["x"], oracle_uniforms(SEED, 6, i, 5))


# ----------------------------------------------------------------- one writer per directory (issue 18)
def refuse_odd(k, rng):
    """Refuse odd k with an AievoError (a deterministic validation failure)."""
    if k % 2:
        raise InvalidParameterError(f"k={k} is invalid: expected an even number")
    return {"k": np.array([k])}


def test_a_second_writer_gets_a_clear_error_and_the_first_finishes(tmp_path):
    n = 6
    work = tmp_path / "work"
    work.mkdir()
    grid = {"i": list(range(n)), "workdir": [str(work)], "sleep": [0.4]}
    out = tmp_path / "s"
    here = Path(__file__).resolve().parent
    code = (
        f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parent)!r}]\n"
        "from test_sweep import logged, SEED\n"
        "from aievo.sweep import sweep\n"
        f"res = sweep(logged, {grid!r}, out={str(out)!r}, executor=0, rng=SEED)\n"
        "print('complete', res.complete)\n"
    )
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = out / ".aievo-sweep.lock"
        deadline = time.monotonic() + 60
        while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock.exists(), proc.communicate()[1][-2000:]
        with pytest.raises(SweepBusyError, match=r"being written by another aievo sweep \(pid \d+"):
            sweep(logged, grid, out=out, executor=0, rng=SEED)
    finally:
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert "complete True" in stdout
    res = SweepResult.open(out)
    assert res.complete and not res.failed
    assert calls(work) == list(range(n))  # every cell computed once, by the first writer only
    assert not lock.exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    import socket
    import subprocess

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "s"
    grid = {"a": [0.5, 1.5], "b": [1, 2]}
    first = sweep(draws, grid, out=out, executor=0, rng=SEED)
    assert first.complete
    (out / ".aievo-sweep.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    (out / "cells" / f".cell-000000.npz.{dead.pid}.abcdefgh.tmp").write_bytes(b"half")  # its orphan
    again = sweep(draws, grid, out=out, executor=0, rng=SEED)
    assert again.complete
    assert not (out / ".aievo-sweep.lock").exists()
    assert not list((out / "cells").glob("*.tmp"))


@pytest.mark.parametrize(
    "grid",
    [
        {"a": list(range(2**21)), "b": list(range(2**21)), "c": list(range(2**21))},  # 2**63 cells
        {"a": range(1000), "b": range(1000), "c": range(1000)},  # 1e9 cells
        {"a": range(10**12)},
    ],
    ids=["2**63", "1e9", "1e12-values"],
)
def test_grid_sizes_are_exact_and_refused_quickly(tmp_path, grid):
    def f(a, rng, b=0, c=0):
        return {"x": np.zeros(1)}

    start = time.perf_counter()
    with pytest.raises(InvalidParameterError, match="at most 10000000"):
        sweep(f, grid, out=tmp_path / "s", executor=0)
    assert time.perf_counter() - start < 2.0
    assert not (tmp_path / "s").exists()


def test_a_tampered_sweep_file_with_a_huge_grid_is_a_result_file_error(tmp_path):
    out = tmp_path / "s"
    sweep(draws, {"a": [0.5], "b": [1]}, out=out, executor=0, rng=SEED)
    doc = json.loads((out / "sweep.json").read_text())
    doc["fingerprint"]["grid"] = [["a", list(range(2**12))]] * 3
    (out / "sweep.json").write_text(json.dumps(doc))
    with pytest.raises(ResultFileError, match="at most"):
        SweepResult.open(out)
    (out / "sweep.json").write_text("[1, 2]")
    with pytest.raises(ResultFileError, match="not a readable aievo sweep file"):
        SweepResult.open(out)


def test_validation_failures_are_not_offered_for_retry(tmp_path, capsys):
    with pytest.warns(SweepWarning) as record:
        res = sweep(refuse_odd, {"k": [0, 1, 2, 3]}, out=tmp_path / "s", executor=0, rng=1)
    text = str(record[0].message)
    assert "refused their parameters" in text and "retry" not in text
    assert [c.index for c in res.failed] == [1, 3] and all(c.invalid for c in res.failed)
    assert res.load(0)["k"].tolist() == [0]
    from aievo.sweep import _report

    _report(res)
    out = capsys.readouterr().out
    assert "invalid parameters" in out and "run the same command again" not in out
    # a transient failure is still offered for retry
    work = tmp_path / "w"
    work.mkdir()
    with pytest.warns(SweepWarning, match="rerun the same sweep to retry"):
        res2 = sweep(logged, {"i": [0, 1], "workdir": [str(work)], "fail_cell": [1]}, out=tmp_path / "t",
                     executor=0, rng=1)
    assert [c.invalid for c in res2.failed] == [False]


def test_eta_zero_is_the_unlocked_baseline(tmp_path):
    import aievo as ae

    base = eta_locked_chain(0.0, 30, length=5, step=0.2)
    ref = ae.simulate(ae.chain(1.0 + 0.2 * np.arange(5)), 30)
    np.testing.assert_array_equal(base.mean_fitness, ref.mean_fitness)
    res = sweep(eta_locked_chain, {"eta": [0.0, 0.5], "generations": [30], "length": [5], "step": [0.2]},
                out=tmp_path / "s", executor=0, rng=1)
    assert res.complete
    F = res.collect(lambda tr: tr.mean_fitness[-1])
    assert F[0, 0, 0, 0] == ref.mean_fitness[-1] and F[1, 0, 0, 0] < F[0, 0, 0, 0]
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(InvalidParameterError, match="eta"):
            eta_locked_chain(bad, 3)


def test_non_utf8_sweep_file_is_a_one_line_cli_error(tmp_path, capsys):
    from aievo.cli import main

    path = tmp_path / "s.toml"
    path.write_bytes(b'scenario = "eta_locked_chain"\nout = "\xff\xfe"\n')
    with pytest.raises(ScenarioError, match="UTF-8"):
        load_sweep_file(path)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "UTF-8" in err and "Traceback" not in err
