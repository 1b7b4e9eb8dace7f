"""The README's commands are the ones CI runs, and the public API is what the contract names."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aievo as ae

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = _bash_blocks(readme)
    assert len(blocks) >= 2, "README must give the install/main-job command and the test command"
    test_command = blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_public_api_contract_names():
    for name in ["DesignGraph", "with_locking", "with_preservation", "simulate", "Trajectory",
                 "AievoError", "__version__"]:
        assert name in ae.__all__ and hasattr(ae, name)
    for name in ae.__all__:
        assert hasattr(ae, name), name


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, aievo; heavy = [m for m in ('numba', 'matplotlib', 'networkx', 'hypothesis', 'dask') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_flag():
    out = subprocess.run([sys.executable, "-m", "aievo", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"aievo {ae.__version__}"


@pytest.mark.skipif(os.environ.get("AIEVO_TEST_INSTALLED") != "1",
                    reason="CI sets AIEVO_TEST_INSTALLED=1 when it tests an installed wheel")
def test_suite_runs_against_the_installed_package():
    """CI tests what users install: the imported aievo is the wheel in site-packages, not ./aievo."""
    here = Path(ae.__file__).resolve()
    assert ROOT / "aievo" not in here.parents, f"aievo was imported from the checkout ({here}), not the wheel"
    assert "site-packages" in here.parts


def test_licence_citation_changelog_and_typing_marker():
    yaml = pytest.importorskip("yaml")
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert (Path(ae.__file__).parent / "py.typed").exists()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    # the keys CFF 1.2.0 requires, and the package's own facts
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors"} <= set(cff)
    assert cff["version"] == ae.__version__ and cff["license"] == "BSD-3-Clause"
    titles = " ".join(ref["title"] for ref in cff["references"])
    assert "self-designing AIs" in titles and "mesa-optimization" in titles


def test_installed_metadata_declares_the_licence():
    from importlib import metadata

    try:
        meta = metadata.metadata("aievo")
    except metadata.PackageNotFoundError:
        pytest.skip("aievo is not installed (running from a checkout)")
    assert meta["License-Expression"] == "BSD-3-Clause"


def test_cached_kernels_reload_in_a_new_process(tmp_path):
    """numba's on-disk cache is loaded by the next process: the tree kernel, which calls a parallel
    gather, must run from it (numba < 0.63 segfaulted here; hence the lower bound in pyproject.toml)."""
    code = ("import aievo as ae; tr = ae.simulate(ae.binary_pm_tree(18), 4, method='full'); "
            "print(round(float(tr.mean_fitness[-1]), 12))")
    here = str(Path(ae.__file__).resolve().parents[1])  # the aievo under test, installed or checked out
    env = {**os.environ, "PYTHONPATH": here}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout
