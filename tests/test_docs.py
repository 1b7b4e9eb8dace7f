"""Every ```python block of README.md and docs/**/*.md runs, and the reference page is current.

Blocks of one file run in order in one namespace, in a temporary working
directory, with the Agg backend. A block fenced ```{.python .no-run} (attribute-list syntax, which the site's
Markdown renders as Python) is skipped.
A block fenced ```output right after a python block must equal what that block
printed (so numbers quoted in the docs come from runs of the code): the text exactly,
every number within ``DOCS_RTOL`` (see ``same_output``).
A page containing the line ``<!-- docs-test: slow -->`` runs only with ``-m slow``.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))], key=str)
DOCS = [p for p in DOCS if p.exists()]
SLOW_MARK = "<!-- docs-test: slow -->"
#: ``<!-- docs-test: requires jax -->`` on a page: it runs only where that module imports (an extra)
REQUIRES = re.compile(r"<!-- docs-test: requires (\w+) -->")

#: Relative tolerance for numbers in ```output blocks.  Pages print numbers rounded to 3-6
#: significant digits; results that pass through BLAS, trained weights or sums of many terms differ
#: between machines and library builds in their last bits, which can flip the last printed digit or,
#: after many training steps, move the fourth significant digit.  A difference of one unit in the
#: last printed place of a number printed with decimals or an exponent is allowed as well.  Pages must not print values at rounding level
#: (errors of 1e-14 and the like): they print a bound instead.
DOCS_RTOL = 1e-3

_NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")


def _last_place(token: str) -> float:
    """One unit in the last printed place of a rounded number ("0.2112" -> 1e-4, "3.1e-01" -> 1e-3).

    Integers ("10 steps") are counts or already-rounded values: no allowance beyond ``DOCS_RTOL``.
    """
    mantissa, _, exponent = token.lower().partition("e")
    if "." not in mantissa and not exponent:
        return 0.0
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


def same_output(printed: str, page: str, rtol: float = DOCS_RTOL, atol: float = 0.0) -> bool:
    """Texts equal except that numbers may differ by ``rtol`` relative (or ``atol``) or one unit in the last place."""
    a, b = _NUMBER.split(printed.rstrip("\n")), _NUMBER.split(page.rstrip("\n"))
    if len(a) != len(b):
        return False
    for i, (x, y) in enumerate(zip(a, b)):
        if i % 2 == 0 or x == y:  # text between numbers, or an identical number
            if x != y:
                return False
            continue
        u, v = float(x), float(y)
        tol = max(rtol * max(abs(u), abs(v)), atol, _last_place(x), _last_place(y))
        if not abs(u - v) <= tol * (1 + 1e-9):
            return False
    return True


def _doc_param(path: Path):
    slow = SLOW_MARK in path.read_text(encoding="utf-8")
    return pytest.param(path, id=str(path.relative_to(ROOT)), marks=[pytest.mark.slow] if slow else [])

FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


def blocks(text: str) -> list[tuple[str, str, int]]:
    """Fenced blocks of a markdown text: (info string, body, first line number)."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            fence, info = m["fence"], m["info"].strip()
            if info.startswith("{") and info.endswith("}"):  # {.python .no-run} -> "python no-run"
                info = " ".join(word.lstrip(".") for word in info[1:-1].split())
            body, j = [], i + 1
            while j < len(lines) and not lines[j].startswith(fence):
                body.append(lines[j])
                j += 1
            out.append((info, "\n".join(body) + "\n", i + 1))
            i = j + 1
        else:
            i += 1
    return out


def test_same_output_tolerates_rounding_only():
    assert same_output("loss 0.2112, 10 steps\n", "loss 0.2113, 10 steps")       # last printed digit
    assert same_output("mse 109034.41", "mse 109050.00")                         # within DOCS_RTOL
    assert same_output("err 3.1e-01", "err 3.2e-01")
    assert not same_output("loss 0.2112", "loss 0.2140")                         # a real change
    assert not same_output("mse 109034.41", "mse 108693.34")                     # 0.3 %: too far
    assert not same_output("10 steps", "11 steps")
    assert not same_output("loss 0.2112", "lost 0.2112")                         # text must be equal
    assert not same_output("a 1 b", "a 1 b 2")


def test_fence_parser_handles_info_strings():
    text = "x\n```python\na = 1\n```\n\n```{.python .no-run}\nb\n```\n```output\n1\n```\n"
    assert blocks(text) == [("python", "a = 1\n", 2), ("python no-run", "b\n", 6), ("output", "1\n", 9)]


@pytest.mark.parametrize("path", [_doc_param(p) for p in DOCS])
def test_code_blocks_run(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for module in REQUIRES.findall(path.read_text(encoding="utf-8")):
        pytest.importorskip(module)

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    found = blocks(path.read_text(encoding="utf-8"))
    last_stdout = None
    for info, body, line in found:
        words = info.split()
        if words[:1] == ["output"]:
            assert last_stdout is not None, f"{path.name}:{line}: an output block must follow a python block"
            # ```output atol=X: Monte-Carlo numbers whose random stream differs between numba/numpy releases
            atol = float(words[1].split("=", 1)[1]) if len(words) > 1 and words[1].startswith("atol=") else 0.0
            assert same_output(last_stdout, body, atol=atol), (
                f"{path.name}:{line}: the code printed\n{last_stdout}\nbut the page says\n{body}"
            )
            last_stdout = None
            continue
        last_stdout = None
        if words[:1] != ["python"] or "no-run" in words:
            continue
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(body, f"{path.name}:{line}", "exec"), namespace)
        except Exception as exc:  # name the block in the failure
            raise AssertionError(f"{path.relative_to(ROOT)}, block at line {line} failed: {exc!r}") from exc
        finally:
            plt.close("all")
        last_stdout = buf.getvalue()


#: pages that docs/hooks.py generates when the site is built
GENERATED = {ROOT / "docs" / "reference" / "cli.md", ROOT / "docs" / "gallery" / "index.md"}
MY_PAGES = [ROOT / "docs" / "index.md", ROOT / "docs" / "tutorial.md", *sorted((ROOT / "docs" / "howto").glob("*.md"))]


@pytest.mark.parametrize("page", [p for p in MY_PAGES if p.exists()], ids=lambda p: p.name)
def test_local_links_resolve(page):
    """Relative links of the guide pages point at files or directories that exist."""
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists() or path in GENERATED, f"{page.name}: link to {target} points at nothing"


def test_docs_do_not_reach_into_the_checkout():
    """Pages run against the installed package: none may locate files through aievo.__file__."""
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for info, body, line in blocks(text):
            if info.split()[:1] == ["python"]:
                assert "__file__" not in body, f"{path.name}:{line} finds files through __file__"
