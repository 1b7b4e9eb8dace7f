"""Result files are whole: metadata inside the .npz, atomic writes, bounded and checked loading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import aievo as ae
import aievo.lazy as lz
from aievo.errors import ResultFileError
from aievo.io import RESERVED_KEY, atomic_savefig, load_result, save_result

SAVER = textwrap.dedent(
    """
    import sys, numpy as np
    from aievo.io import save_result
    path = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]))
    v = 0
    while True:
        v += 1
        # random data: compression makes each save take a few milliseconds
        save_result(path, {"a": np.full(200_000, float(v)) + rng.random(200_000) * 0}, {"v": v})
        if v == 1:
            print("ready", flush=True)
    """
)


def _consistent(path):
    arrays, meta = load_result(path)
    assert arrays["a"][0] == meta["v"]  # arrays and metadata of the same version
    side = path.with_suffix(".json")
    if side.exists():  # the convenience copy, if present, describes exactly this .npz
        import hashlib

        doc = json.loads(side.read_text())
        assert doc["npz_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert doc["v"] == meta["v"]
    return meta["v"]


@pytest.mark.parametrize(
    "trial", [*range(4), *(pytest.param(t, marks=pytest.mark.slow) for t in range(4, 100))]
)
def test_kill_during_save_leaves_a_consistent_result_and_no_orphans(tmp_path, trial):
    path = tmp_path / "r.npz"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(trial)], stdout=subprocess.PIPE,
                            text=True, cwd=os.getcwd())
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.07 * (trial % 8))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    v = _consistent(path)
    assert v >= 1
    # the next save removes the temporaries the killed writer left behind
    save_result(path, {"a": np.full(3, 1000.0)}, {"v": 1000})
    assert _consistent(path) == 1000
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    doc = json.loads(path.with_suffix(".json").read_text())
    assert doc["v"] == 1000 and doc["npz_file"] == "r.npz"


def test_a_failed_save_keeps_the_old_result_and_never_a_mismatched_sidecar(tmp_path, monkeypatch):
    save_result(tmp_path / "r", {"a": np.arange(3)}, {"v": 1})
    before = (tmp_path / "r.npz").read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    with pytest.raises(ResultFileError, match="No space left"):
        save_result(tmp_path / "r", {"a": np.arange(5)}, {"v": 2})
    assert (tmp_path / "r.npz").read_bytes() == before
    side = tmp_path / "r.json"
    assert not side.exists() or json.loads(side.read_text())["v"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_reserved_key_is_refused_at_save_time(tmp_path):
    with pytest.raises(ResultFileError, match=RESERVED_KEY):
        save_result(tmp_path / "r", {RESERVED_KEY: np.arange(2)}, {})
    tr = ae.simulate(ae.chain([1.0, 2.0]), 3, traits={RESERVED_KEY: [1.0, 2.0]})
    back = ae.Trajectory.load(tr.save(tmp_path / "t"))  # stored as "trait:...": round-trips
    np.testing.assert_array_equal(back.trait_means[RESERVED_KEY], tr.trait_means[RESERVED_KEY])


@pytest.mark.parametrize("name", ["file", "allow_pickle"])
def test_numpy_savez_argument_names_are_refused_at_save_time(tmp_path, name):
    # np.savez_compressed(fh, **arrays) would take these as its own arguments: an array named
    # "allow_pickle" was silently left out of the file, one named "file" raised a bare TypeError
    with pytest.raises(ResultFileError, match=name):
        save_result(tmp_path / "r", {name: np.arange(2), "x": np.ones(2)}, {})
    assert not (tmp_path / "r.npz").exists()


@pytest.mark.parametrize(
    "text, what",
    [("{not json", "not valid JSON"), ("[1, 2]", "JSON list"), ('{"kind": "aievo.Trajectory"}', "lacks"),
     ("[" * 100_000 + "]" * 100_000, "nested deeper")],
    ids=["not-json", "list", "missing-keys", "deep-nesting"],
)
def test_tampered_metadata_is_a_result_file_error(tmp_path, text, what):
    tr = ae.simulate(ae.chain([1.0, 2.0]), 3)
    arrays = {k: getattr(tr, k) for k in ("mean_fitness", "log_growth", "shares", "times", "snapshots")}
    np.savez(tmp_path / "bad.npz", **arrays, **{RESERVED_KEY: np.array(text)})
    with pytest.raises(ResultFileError, match=what):
        ae.Trajectory.load(tmp_path / "bad.npz")


def test_a_member_that_lies_about_its_size_is_refused_before_reading(tmp_path):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    header = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "lie.npz", "w") as zf:
        zf.writestr("a.npy", header + b"\0" * 64)
        zf.writestr(RESERVED_KEY + ".npy", b"")
    start = time.perf_counter()
    with pytest.raises(ResultFileError, match="declares"):
        load_result(tmp_path / "lie.npz")
    assert time.perf_counter() - start < 2.0


def test_a_symlink_to_dev_zero_fails_fast(tmp_path):
    os.symlink("/dev/zero", tmp_path / "z.npz")
    start = time.perf_counter()
    with pytest.raises(ResultFileError, match="not a regular file"):
        ae.Trajectory.load(tmp_path / "z.npz")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("bad", ["", "a\x00b", "DIR", "RO/x", "L" * 300])
def test_unwritable_or_odd_paths_are_result_file_errors(tmp_path, bad):
    (tmp_path / "d.npz").mkdir()
    ro = tmp_path / "RO"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        target = {"DIR": str(tmp_path / "d.npz"), "RO/x": str(ro / "x")}.get(bad)
        if target is None:
            target = bad if bad in ("", "a\x00b") else str(tmp_path / bad)
        if bad == "RO/x" and os.access(ro, os.W_OK):  # running as root: permissions do not apply
            pytest.skip("the directory stays writable for this user")
        with pytest.raises(ResultFileError):
            ae.simulate(ae.chain([1.0]), 1).save(target)
    finally:
        ro.chmod(0o700)
    assert [p.name for p in tmp_path.rglob("*.tmp")] == []


@pytest.mark.parametrize("dfs", [False, True])
def test_lazy_trajectory_without_fitness_levels_saves_and_loads(tmp_path, dfs):
    run = lz.simulate_lazy_dfs if dfs else lz.simulate_lazy
    tr = run(lz.lazy_binary_pm_tree(), 3)
    back = ae.LazyTrajectory.load(tr.save(tmp_path / "x"))
    np.testing.assert_array_equal(back.mean_fitness, tr.mean_fitness)
    assert back.level_shares == {} and back.expanded == tr.expanded


def test_atomic_savefig_keeps_the_previous_png_when_a_write_fails(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = tmp_path / "f.png"
    atomic_savefig(fig, path, dpi=50)
    good = path.read_bytes()
    assert good.endswith(b"IEND\xaeB`\x82")

    class Broken:
        def savefig(self, fh, **kwargs):
            fh.write(good[:100])  # a truncated PNG ...
            raise OSError(27, "File too large")  # ... then the write limit

    with pytest.raises(ResultFileError, match="File too large"):
        atomic_savefig(Broken(), path)
    plt.close(fig)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
