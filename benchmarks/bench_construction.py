"""Construction benchmarks: building each generator's tree against simulating it.

Run ``python benchmarks/bench_construction.py`` (all cases) or ``--case NAME``;
``--quick`` shrinks every size (a smoke run, not a measurement). Each case runs
in a fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own;
the kernels are compiled (or loaded) on a tiny instance first, and the memory
of the interpreter at that point is subtracted from the peak.

For every generator the targets (from the "fast from the first second" issue)
are: building the tree costs at most half of simulating it for as many
generations as its depth (``ratio = simulate / build >= 2``), and the peak
memory of building it is at most 48 bytes per program.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

__all__ = ["run", "CASES"]

QUICK = os.environ.get("AIEVO_BENCH_QUICK") == "1"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(name: str, build, depth_of) -> list[dict]:
    import aievo as ae

    small = build(True)
    ae.simulate(small, int(depth_of(small)))  # compile or load every kernel on a tiny tree
    base = _rss_mib()
    t0 = time.perf_counter()
    g = build(False)
    t_build = time.perf_counter() - t0
    peak_build = _rss_mib() - base
    depth = int(depth_of(g))
    t0 = time.perf_counter()
    ae.simulate(g, depth)
    t_sim = time.perf_counter() - t0
    per_program = peak_build * 2**20 / g.n
    return [
        dict(name=f"{name} ({g.n:.2e} programs): build vs simulate {depth} generations", seconds=t_build,
             baseline="simulate", baseline_seconds=t_sim, ratio=t_sim / t_build, target=2.0,
             peak_mib=_rss_mib()),
        dict(name=f"{name}: peak memory of building it", seconds=t_build, ok=per_program <= 48.0, note=f"{per_program:.0f} bytes per program (target <= 48)"),
    ]


def case_binary_pm_tree() -> list[dict]:
    import aievo as ae

    d = 14 if QUICK else 22
    return _measure(f"binary_pm_tree({d})", lambda tiny: ae.binary_pm_tree(3 if tiny else d), lambda g: g.depths()[-1])


def case_kary_tree() -> list[dict]:
    import aievo as ae

    d = 9 if QUICK else 14
    return _measure(f"kary_tree(3, {d})",
                    lambda tiny: ae.kary_tree(3, 2 if tiny else d, lambda pf, j, dd: pf * (0.9 + 0.1 * j)),
                    lambda g: g.depths()[-1])


def case_random_tree() -> list[dict]:
    import aievo as ae

    n = 20_000 if QUICK else 4_000_000
    return _measure(f"random_tree({n:.0e})", lambda tiny: ae.random_tree(50 if tiny else n, 1),
                    lambda g: g.depths().max())


def case_chain() -> list[dict]:
    import aievo as ae

    n = 20_000 if QUICK else 4_000_000
    return _measure(f"chain({n:.0e})", lambda tiny: ae.chain(1.0 + 1.0 / np.arange(1, (50 if tiny else n) + 1)),
                    lambda g: g.n - 1)


CASES = {
    "binary_pm_tree": case_binary_pm_tree,
    "kary_tree": case_kary_tree,
    "random_tree": case_random_tree,
    "chain": case_chain,
}


def run(cases=None, quick: bool = False) -> list[dict]:
    """Run each case in a fresh subprocess and collect its result rows."""
    rows: list[dict] = []
    env = {**os.environ, "AIEVO_BENCH_QUICK": "1" if quick or QUICK else "0"}
    for name in cases or CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--json"],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            rows.append(dict(name=name, error=(proc.stderr.strip().splitlines() or ["failed"])[-1]))
            continue
        rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's aievo
    if args.case and args.json:
        print(json.dumps(CASES[args.case]()))
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from run import print_rows

    print_rows(run([args.case] if args.case else None, quick=args.quick))


if __name__ == "__main__":
    main()
