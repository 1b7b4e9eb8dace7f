"""Run every aievo benchmark and print each result against its baseline or target.

Usage::

    python benchmarks/run.py            # everything (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # small sizes: checks the runner, measures nothing
    python benchmarks/run.py --only engine,mesa

Ratios are measured against baselines run in the same process (numpy's copy
bandwidth, scipy.sparse, plain numpy, simulating the tree just built);
absolute targets are wall-clock seconds on this machine, so they are only
meaningful on an idle one (the CPU seconds of each child are printed beside
them). Every target is printed with ``ok`` or ``MISS``; exits with status 1
when one is missed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys

__all__ = ["print_rows", "row_ok", "main"]

SUITES = {
    "startup": "bench_startup",
    "construction": "bench_construction",
    "engine": "bench_engine",
    "lazy": "bench_lazy",
    "state": "bench_state",
    "mesa": "bench_mesa",
}
#: Suites whose ``run`` takes ``quick`` (the others read ``AIEVO_BENCH_QUICK``).
_QUICK_ARG = ("startup", "construction", "engine", "state")


def row_ok(row: dict) -> bool | None:
    """Whether a result row meets its target (``None`` when it has none)."""
    if "error" in row or "skipped" in row:
        return False if "error" in row else None
    if "ok" in row:
        return bool(row["ok"])
    if "ratio" in row and "target" in row:
        return row["ratio"] >= row["target"]
    if "target_seconds" in row:
        return row["seconds"] <= row["target_seconds"]
    return None


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def print_rows(rows: list[dict]) -> bool:
    """Print result rows; return whether every target was met."""
    all_ok = True
    for r in rows:
        ok = row_ok(r)
        all_ok &= ok is not False
        mark = {True: "ok  ", False: "MISS", None: "    "}[ok]
        if "error" in r:
            print(f"[{mark}] {r['name']}: ERROR {r['error']}")
            continue
        if "skipped" in r:
            print(f"[skip] {r['name']}: {r['skipped']}")
            continue
        parts = [f"{_fmt_s(r['seconds'])}" + (f" {r['unit']}" if r.get("unit") else "")] if "seconds" in r else []
        if "ratio" in r:
            base = r.get("baseline", "baseline")
            parts.append(f"{base} {_fmt_s(r['baseline_seconds'])}: ratio {r['ratio']:.2f}x "
                         f"(target >= {r['target']:g}x)")
        elif "target_seconds" in r:
            parts.append(f"target <= {r['target_seconds']:g} s")
        if r.get("value") is not None and "ratio" not in r:
            parts.append(f"value {r['value']:.3g}")
        if "peak_mib" in r:
            parts.append(f"peak {r['peak_mib']:.0f} MiB")
        if r.get("note"):
            parts.append(r["note"])
        print(f"[{mark}] {r['name']}: " + "; ".join(parts))
    return all_ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="aievo benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", help="comma-separated suites: " + ",".join(SUITES))
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    sys.path.insert(0, os.path.dirname(here))  # this checkout's aievo, for the suites run in this process
    if args.quick:
        os.environ["AIEVO_BENCH_QUICK"] = "1"
    print(f"# aievo benchmarks on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    chosen = args.only.split(",") if args.only else list(SUITES)
    all_ok = True
    for suite in chosen:
        try:
            mod = importlib.import_module(SUITES[suite])
        except ModuleNotFoundError:
            print(f"[skip] {suite}: {SUITES[suite]}.py not present")
            continue
        print(f"## {suite}")
        kwargs = {"quick": True} if (args.quick and suite in _QUICK_ARG) else {}
        result = mod.run(**kwargs)
        if isinstance(result, dict):  # a suite of plain measurements, without targets
            result = [dict(name=name, value=value) for name, value in result.items()]
        all_ok &= print_rows(result)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
