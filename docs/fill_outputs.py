"""Refresh the ```output blocks of a documentation page from real runs.

Each ```output block that follows a ```python block is replaced by what that
block prints when the page's python blocks run in order in one namespace (in a
temporary directory, Agg backend), the same way ``tests/test_docs.py`` runs
them. Usage: ``python docs/fill_outputs.py docs/tutorial.md [more pages]``.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_docs import FENCE  # noqa: E402


def fill(path: Path) -> None:
    import matplotlib.pyplot as plt

    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    namespace: dict = {"__name__": "__docs__"}
    last = None
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            i = 0
            while i < len(lines):
                m = FENCE.match(lines[i])
                if not m:
                    out.append(lines[i])
                    i += 1
                    continue
                fence, info = m["fence"], m["info"].strip().split()
                j = i + 1
                while j < len(lines) and not lines[j].startswith(fence):
                    j += 1
                body = lines[i + 1 : j]
                if info[:1] == ["output"] and last is not None:
                    out += [lines[i], *last.rstrip("\n").split("\n"), lines[j]]
                    last = None
                else:
                    out += lines[i : j + 1]
                    last = None
                    if info[:1] == ["python"] and "no-run" not in info:
                        buf = io.StringIO()
                        with contextlib.redirect_stdout(buf):
                            exec(compile("\n".join(body) + "\n", f"{path.name}:{i + 1}", "exec"), namespace)
                        plt.close("all")
                        last = buf.getvalue()
                i = j + 1
        finally:
            os.chdir(cwd)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"filled {path}")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        fill(Path(arg))
