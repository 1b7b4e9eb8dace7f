"""``aievo figures``: selection, file names, formats, atomic writes, errors."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import aievo
from aievo import figures
from aievo.cli import main
from aievo.figures import _cli


def written(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


def test_only_1_5_writes_exactly_fig1_and_fig5(tmp_path, capsys):
    rc = main(["figures", "--only", "1,5", "--quick", "--out", str(tmp_path)])
    assert rc == 0
    names = written(tmp_path)
    assert names == ["fig1_survival-of-the-flattest.png", "fig5_binary-tree-optimum-unattained.png"]
    for name in names:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(tmp_path / n) for n in names)


def test_pdf_format(tmp_path):
    rc = main(["figures", "--only", "fig4", "--quick", "--format", "pdf", "--out", str(tmp_path)])
    assert rc == 0
    assert written(tmp_path) == ["fig4_oscillating-fitness-convergent-exponent.pdf"]
    assert (tmp_path / written(tmp_path)[0]).read_bytes()[:5] == b"%PDF-"


def test_two_formats_from_one_drawing(tmp_path):
    rc = main(["figures", "--only", "3", "--quick", "--format", "png,pdf", "--out", str(tmp_path / "sub")])
    assert rc == 0
    assert written(tmp_path / "sub") == [
        "fig3_lim-sup-and-lim-inf-of-growth.pdf", "fig3_lim-sup-and-lim-inf-of-growth.png"
    ]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--only", "9"], "fig9"),
        (["--only", "fig1,bogus"], "bogus"),
        (["--only", ","], "--only"),
        (["--only", "1", "--format", "gif"], "gif"),
    ],
)
def test_bad_selection_is_a_clear_error(tmp_path, capsys, argv, needle):
    rc = main(["figures", *argv, "--quick", "--out", str(tmp_path)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "aievo figures: error:" in err and needle in err and "expected" in err
    assert written(tmp_path) == []


def test_bad_selection_exit_code_from_the_command_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "aievo", "figures", "--only", "42", "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "fig42" in proc.stderr and "expected one of" in proc.stderr


def test_version():
    proc = subprocess.run([sys.executable, "-m", "aievo", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"aievo {aievo.__version__}"


@pytest.fixture
def fake_group(monkeypatch):
    """Register a figure of a new group ("extra") drawn by a throwaway module."""
    from matplotlib.figure import Figure

    calls = []

    def draw(*, quick=False):
        calls.append(quick)
        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        return fig

    module = types.ModuleType("aievo_fake_figs")
    module.draw = draw
    monkeypatch.setitem(sys.modules, "aievo_fake_figs", module)
    spec = figures.FigureSpec("extra9", "extra", "aievo_fake_figs:draw", "A fake extra figure!")
    monkeypatch.setitem(figures.REGISTRY, "extra9", spec)
    return calls


def test_group_selection_is_generic(tmp_path, fake_group):
    rc = main(["figures", "--only", "extra", "--quick", "--out", str(tmp_path)])
    assert rc == 0
    assert written(tmp_path) == ["extra9_a-fake-extra-figure.png"]
    assert fake_group == [True]


def test_default_selection_includes_every_group(fake_group):
    assert figures.select(None) == list(figures.REGISTRY)
    assert "extra9" in figures.select("all") and "fig7" in figures.select("all")
    assert set(figures.select("paper")) == {f"fig{i}" for i in range(1, 8)}


def test_failed_write_leaves_no_file(tmp_path, fake_group, monkeypatch):
    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        main(["figures", "--only", "extra9", "--out", str(tmp_path)])
    assert written(tmp_path) == []  # neither the target nor a temporary file


def test_slug():
    assert _cli.slug("eta-locking ensures convergence") == "eta-locking-ensures-convergence"
    assert _cli.slug("  Oscillating fitness, convergent exponent ") == "oscillating-fitness-convergent-exponent"
    assert _cli.parse_formats("PNG, pdf,png") == ["png", "pdf"]


def test_a_failing_figure_does_not_stop_the_others(tmp_path, fake_group, monkeypatch, capsys):
    def broken(*, quick=False):
        raise ZeroDivisionError("broken figure")

    module = types.ModuleType("aievo_broken_figs")
    module.draw = broken
    monkeypatch.setitem(sys.modules, "aievo_broken_figs", module)
    spec = figures.FigureSpec("extra8", "extra", "aievo_broken_figs:draw", "Broken")
    monkeypatch.setitem(figures.REGISTRY, "extra8", spec)
    rc = main(["figures", "--only", "extra8,extra9", "--out", str(tmp_path)])
    assert rc == 1
    assert written(tmp_path) == ["extra9_a-fake-extra-figure.png"]
    err = capsys.readouterr().err
    assert "drawing extra8" in err and "ZeroDivisionError" in err and "1 of 2 figures failed: extra8" in err
