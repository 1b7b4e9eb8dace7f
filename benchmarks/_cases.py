"""Run a benchmark file's cases, each in a fresh subprocess, so every case's peak memory is its own.

A benchmark file defines ``CASES`` (name -> function returning result rows)
and ends with ``case_main(__file__, __doc__, CASES)``: with ``--case NAME
--json`` it runs one case in this process and prints its rows as JSON (what
:func:`run_cases` asks each child for); otherwise it runs the selected cases
in children and prints the rows with :func:`run.print_rows`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable

__all__ = ["run_cases", "case_main"]


def run_cases(script: str, cases: Iterable[str], quick: bool) -> list[dict]:
    """Rows of ``script``'s ``cases``, each run by ``python script --case NAME --json`` in a fresh process.

    A case whose child fails gives one row with the last line of its stderr as ``error``.
    """
    rows: list[dict] = []
    env = {**os.environ, "AIEVO_BENCH_QUICK": "1" if quick else "0"}
    for name in cases:
        proc = subprocess.run([sys.executable, script, "--case", name, "--json"],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            rows.append(dict(name=name, error=(proc.stderr.strip().splitlines() or ["failed"])[-1]))
            continue
        rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def case_main(script: str, doc: str | None, cases: dict[str, Callable[[], list[dict]]],
              run: Callable[..., list[dict]]) -> None:
    """The command line of a benchmark file (``--case NAME``, ``--json``, ``--quick``)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--case", choices=list(cases))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(script))))  # this checkout's aievo
    if args.case and args.json:
        print(json.dumps(cases[args.case]()))
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    from run import print_rows

    print_rows(run([args.case] if args.case else None, quick=args.quick))
