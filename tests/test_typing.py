"""The package type-checks: mypy with the project's configuration (pyproject.toml [tool.mypy])."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean():
    pytest.importorskip("mypy", reason="mypy is not installed (it comes with the dev extra)")
    # the checkout's aievo/ (what the annotations in this repository say), with mypy's cache in ROOT
    proc = subprocess.run([sys.executable, "-m", "mypy", "aievo"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, "mypy aievo failed:\n" + proc.stdout[-6000:] + proc.stderr[-2000:]
