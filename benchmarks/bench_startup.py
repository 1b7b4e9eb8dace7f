"""First-use and figure benchmarks: cold numba cache, warm cache, every registered figure.

Run ``python benchmarks/bench_startup.py`` (all cases) or ``--case NAME``;
``--quick`` draws the figures with ``quick=True`` (a smoke run, not a
measurement). Every measurement runs in fresh processes; a *cold* run gets an
empty ``NUMBA_CACHE_DIR`` of its own (so no one else's cache is touched), a
*warm* run reuses the cache a cold run just filled.

Cases (targets from the "fast from the first second" issue):

* ``cold_simulate``: ``import aievo`` and the two ``simulate`` calls of the
  README's first scenario with an empty numba cache (target <= 3 s), and the
  same with that cache warm;
* ``figures``: every registered figure drawn in one process, first with an
  empty numba cache (all figures <= 120 s), then again warm (all <= 60 s, each
  <= 15 s), and ``aievo figures --only paper`` from an empty cache (<= 20 s).

Absolute wall-clock targets depend on the machine and its load: the CPU
seconds of each child (user + system) are printed beside its wall time.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from _cases import case_main, run_cases  # benchmarks/ is on sys.path (run as a script, or by run.py)

__all__ = ["run", "CASES"]

QUICK = os.environ.get("AIEVO_BENCH_QUICK") == "1"

README_SCENARIO = """
import time
t0 = time.perf_counter()
import numpy as np
import aievo as ae
g = ae.chain(1.0 + 2.0 ** -np.arange(41))
locked = ae.with_locking(g, 0.3)
tr = ae.simulate(locked, 200, sets={"near F*": locked.fitness >= 1.95})
kept = ae.simulate(ae.with_preservation(g, 0.3), 200)
assert abs(tr.mean_fitness[-1] - 2.0) < 1e-3
print(time.perf_counter() - t0)
"""

DRAW_ALL = """
import json, sys, time
t0 = time.perf_counter()
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from aievo.figures import available, make
out = {}
for name in available():
    t = time.perf_counter()
    fig = make(name, quick=sys.argv[1] == "1")
    fig.savefig(sys.argv[2] + "/" + name + ".png", dpi=100)
    plt.close(fig)
    out[name] = time.perf_counter() - t
out["total"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def _child(args: list[str], cache: str, cwd: str | None = None) -> tuple[str, float, float]:
    """Run a child Python with ``NUMBA_CACHE_DIR=cache``; return (stdout, wall s, CPU s of children)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "MPLBACKEND": "Agg"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's aievo first
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["child failed"])[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.stdout, wall, cpu


def case_cold_simulate() -> list[dict]:
    cold, cold_cpu, warm = [], [], []
    for _ in range(2):
        with tempfile.TemporaryDirectory(prefix="aievo-numba-") as cache:
            out, _, cpu = _child(["-c", README_SCENARIO], cache)
            cold.append(float(out.split()[-1]))
            cold_cpu.append(cpu)
            warm.append(min(float(_child(["-c", README_SCENARIO], cache)[0].split()[-1]) for _ in range(2)))
    i = cold.index(min(cold))
    return [
        dict(name="import + first simulate of the README scenario, empty numba cache", seconds=cold[i],
             target_seconds=3.0, note=f"child CPU {cold_cpu[i]:.2f} s (user + system)"),
        dict(name="import + first simulate of the README scenario, warm numba cache", seconds=min(warm),
             target_seconds=1.0),
    ]


def case_figures() -> list[dict]:
    quick = "1" if QUICK else "0"
    rows = []
    with tempfile.TemporaryDirectory(prefix="aievo-numba-") as cache, \
            tempfile.TemporaryDirectory(prefix="aievo-figs-") as out:
        text, wall, cpu = _child(["-c", DRAW_ALL, quick, out], cache)
        cold = json.loads(text.strip().splitlines()[-1])
        text, _, warm_cpu = _child(["-c", DRAW_ALL, quick, out], cache)
        warm = json.loads(text.strip().splitlines()[-1])
        rows.append(dict(name=f"all {len(cold) - 1} figures, empty numba cache", seconds=wall,
                         target_seconds=120.0, note=f"child CPU {cpu:.1f} s"))
        rows.append(dict(name=f"all {len(warm) - 1} figures, warm numba cache", seconds=warm["total"],
                         target_seconds=60.0, note=f"child CPU {warm_cpu:.1f} s"))
        for name, seconds in warm.items():
            if name != "total":
                rows.append(dict(name=f"figure {name}, warm", seconds=seconds, target_seconds=15.0))
    with tempfile.TemporaryDirectory(prefix="aievo-numba-") as cache, \
            tempfile.TemporaryDirectory(prefix="aievo-figs-") as out:
        args = ["-m", "aievo", "figures", "--only", "paper", "--out", out] + (["--quick"] if QUICK else [])
        _, wall, cpu = _child(args, cache)
    rows.append(dict(name="aievo figures --only paper, empty numba cache", seconds=wall, target_seconds=20.0,
                     note=f"child CPU {cpu:.1f} s"))
    return rows


CASES = {"cold_simulate": case_cold_simulate, "figures": case_figures}


def run(cases=None, quick: bool = False) -> list[dict]:
    """Run each case in a fresh subprocess and collect its result rows."""
    return run_cases(__file__, cases or CASES, quick or QUICK)


if __name__ == "__main__":
    case_main(__file__, __doc__, CASES, run)
