"""The progress display: names the running step, never shares a line with messages, shows in Jupyter."""

from __future__ import annotations

import builtins
import io
import sys
import types

import pytest

from aievo import _progress as P


@pytest.fixture
def no_tqdm(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_fallback_names_the_running_step_and_keeps_messages_on_their_own_lines(no_tqdm, monkeypatch):
    err, out = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    bar = P.progress(["fig1", "fig2"], desc="figures", enabled=True, label=str)
    seen = []
    for name in bar:
        # while fig2 runs, the display says so (before it finishes)
        assert err.getvalue().rsplit("\r", 1)[-1].startswith(f"\x1b[Kfigures {len(seen)}/2: {name}")
        bar.write(f"wrote {name}")
        seen.append(name)
    assert seen == ["fig1", "fig2"]
    assert out.getvalue() == "wrote fig1\nwrote fig2\n"  # stdout holds only the messages, whole lines
    last = err.getvalue().rsplit("\r", 1)[-1]
    assert last.startswith("\x1b[Kfigures 2/2: done [") and last.endswith("s]\n")  # ends on its own line


def test_disabled_and_quiet_show_nothing(no_tqdm, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert list(P.progress(range(3), enabled=False)) == [0, 1, 2]
    P.set_quiet(True)
    try:
        assert list(P.progress(range(3), enabled=True)) == [0, 1, 2]
    finally:
        P.set_quiet(False)
    assert err.getvalue() == ""


def test_on_by_default_in_a_jupyter_kernel(monkeypatch):
    class ZMQInteractiveShell:  # the class name is what identifies a notebook kernel
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert P.in_notebook() and P._enabled(None)
    fake.get_ipython = lambda: None  # IPython imported, no shell running
    assert not P.in_notebook()


def test_tqdm_path_names_the_step(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    del tqdm
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    bar = P.progress(["a", "b"], desc="steps", enabled=True, label=lambda s: f"step {s}")
    for item in bar:
        bar.write(item)
    assert "step b" in err.getvalue()
    assert out.getvalue() == "a\nb\n"


def test_sweep_display_names_the_cells_and_leaves_stdout_alone(no_tqdm, monkeypatch, tmp_path):
    from aievo.sweep import SerialExecutor, sweep

    err, out = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)

    def cell(a, rng):
        return {"x": a + rng.random(1)}

    sweep(cell, {"a": [1, 2]}, out=tmp_path / "s", executor=SerialExecutor(), rng=0, progress=True)
    frames = err.getvalue().split("\r")
    # while cell 1 runs, the display counts cell 0 as done and names it
    assert any(f.startswith('\x1b[Ksweep 1/2: last finished: cell 0 {"a": 1}') for f in frames)
    assert any(f.startswith('\x1b[Ksweep 2/2: last finished: cell 1 {"a": 2}') for f in frames)
    assert frames[-1].startswith("\x1b[Ksweep 2/2: done [") and frames[-1].endswith("\n")
    assert out.getvalue() == ""
