"""MkDocs hooks: pages generated at build time from the package itself.

* ``reference/cli.md``: the ``aievo`` command's ``--help`` and every subcommand's, from the
  argparse parser the command uses (so the page cannot drift from the code).
* ``gallery/``: every script in ``examples/`` is run with ``--quick --out DIR``; the page shows its
  story (the module docstring), what it printed, and the figures it wrote, regenerated on every
  build. A script that fails fails the build.

Set ``AIEVO_DOCS_GALLERY=0`` to skip running the examples (the gallery then says so), for a
quick local preview of prose changes.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _cli_page() -> str:
    from aievo import cli

    parser = cli._parser()
    parts = [
        "# Command line\n",
        "The `aievo` command (also `python -m aievo`). This page is generated from the command's own",
        "argument parser when the documentation is built. User errors (a bad file, a bad value) print one",
        "line naming what was wrong and exit with status 2.\n",
        "## `aievo`\n",
        "```text\n" + parser.format_help() + "```\n",
    ]
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, subparser in sub.choices.items():
        parts.append(f"## `aievo {name}`\n")
        parts.append("```text\n" + subparser.format_help() + "```\n")
    return "\n".join(parts)


def _story(path: Path) -> tuple[str, str]:
    """(title, body) from an example's module docstring."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.stem
    title, _, body = doc.partition("\n")
    # usage lines like "[--quick] [--out DIR]" are not markdown links
    return title.strip().rstrip("."), body.strip().replace("[", "\\[")


def _gallery(config, files: Files) -> None:
    scripts = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    run = os.environ.get("AIEVO_DOCS_GALLERY", "1") != "0"
    index = [
        "# Gallery\n",
        "Runnable stories from `examples/`. Each page is regenerated when the documentation is built:",
        "the script runs with `--quick` (reduced sizes) and the page shows what it printed and the",
        "figure it drew. Run one yourself with `python examples/NAME.py [--quick] [--out DIR]`.\n",
    ]
    import aievo

    # the scripts import the same aievo as this build (installed, or the checkout being documented)
    here = str(Path(aievo.__file__).resolve().parents[1])
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    for script in scripts:
        title, body = _story(script)
        index.append(f"- [{title}]({script.stem}.md) (`examples/{script.name}`)")
        page = [f"# {title}\n", f"`examples/{script.name}`\n", body + "\n"]
        if run:
            with tempfile.TemporaryDirectory() as out:
                proc = subprocess.run(
                    [sys.executable, str(script), "--quick", "--out", out],
                    capture_output=True, text=True, env=env, cwd=out, timeout=600,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"gallery: examples/{script.name} failed:\n{proc.stderr[-2000:]}")
                page.append("It printed (with `--quick`):\n")
                page.append("```text\n" + proc.stdout.rstrip() + "\n```\n")
                for png in sorted(Path(out).rglob("*.png")):
                    uri = f"gallery/{script.stem}/{png.name}"
                    files.append(File.generated(config, uri, content=png.read_bytes()))
                    page.append(f"![{png.stem}]({script.stem}/{png.name})\n")
        else:
            page.append("*(examples were not run for this build: `AIEVO_DOCS_GALLERY=0`)*\n")
        page.append("## The script\n")
        page.append("```python\n" + script.read_text(encoding="utf-8").rstrip() + "\n```\n")
        files.append(File.generated(config, f"gallery/{script.stem}.md", content="\n".join(page)))
    files.append(File.generated(config, "gallery/index.md", content="\n".join(index) + "\n"))


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "reference/cli.md", content=_cli_page()))
    _gallery(config, files)
    return files
