"""Save/load round trips, atomic writes and refusal of pickles."""

import json

import numpy as np
import pytest

import aievo as ae
from aievo.errors import ResultFileError
from aievo.io import load_result, save_result


def test_trajectory_round_trip_is_exact(tmp_path):
    g = ae.with_locking(ae.random_tree(50, rng=2), 0.2)
    tr = ae.simulate(g, 40, traits={"f": g.fitness}, sets={"locked": g.attrs["locked"]}, record_shares=[0, 7, 40])
    path = tr.save(tmp_path / "run")
    assert path.name == "run.npz" and (tmp_path / "run.json").exists()
    back = ae.Trajectory.load(path)
    for name in ("mean_fitness", "log_growth", "shares", "times", "snapshots"):
        np.testing.assert_array_equal(getattr(back, name), getattr(tr, name))
    np.testing.assert_array_equal(back.trait_means["f"], tr.trait_means["f"])
    np.testing.assert_array_equal(back.set_shares["locked"], tr.set_shares["locked"])
    np.testing.assert_array_equal(back.shares_at(7), tr.shares_at(7))
    assert back.params == tr.params and back.extinct_at is None
    side = json.loads((tmp_path / "run.json").read_text())
    assert side["params"]["generations"] == 40
    assert side["provenance"]["aievo_version"] == ae.__version__


def test_save_is_atomic_when_interrupted(tmp_path, monkeypatch):
    save_result(tmp_path / "r.npz", {"a": np.arange(3)}, {"v": 1})
    before = (tmp_path / "r.npz").read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(KeyboardInterrupt):
        save_result(tmp_path / "r.npz", {"a": np.arange(5)}, {"v": 2})
    assert (tmp_path / "r.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_load_refuses_pickles_and_foreign_files(tmp_path):
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ResultFileError, match="pickled"):
        load_result(tmp_path / "obj.npz")
    np.savez(tmp_path / "plain.npz", a=np.arange(2))
    with pytest.raises(ResultFileError, match="no aievo metadata"):
        load_result(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ResultFileError, match="not a readable"):
        load_result(tmp_path / "junk.npz")
    with pytest.raises(ResultFileError, match="does not exist"):
        load_result(tmp_path / "missing.npz")
    with pytest.raises(ResultFileError, match="dtype object"):
        save_result(tmp_path / "x", {"a": np.array([None])}, {})
    save_result(tmp_path / "other", {"a": np.arange(2)}, {"kind": "something"})
    with pytest.raises(ResultFileError, match="expected an aievo.Trajectory"):
        ae.Trajectory.load(tmp_path / "other.npz")
