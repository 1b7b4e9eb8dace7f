"""Lazy-tree benchmarks: trees larger than memory (``aievo.lazy``).

Run ``python benchmarks/bench_lazy.py`` (all cases) or ``--case NAME``. Each
case runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``,
the whole process: Python, numpy and numba included) is its own. Every row
reports wall-clock seconds and the process's CPU seconds: on a machine shared
with other jobs the wall clock measures the load, the CPU time the code. The
30 s targets are judged on CPU time (the work is single-threaded), and the
wall time is printed beside it.
The first call of each kernel on a rule compiles it; that warm-up is run on a
tiny problem first and reported separately (``compile_seconds``).

Cases (targets from the scale issue, part 4):

* ``locked_pm_100``: the eta-locked (eta = 0.5) binary +/- tree of paper figure 5, docs/figures.md for 100 generations (2^100 programs in principle) with every
  reported share certified to within 1e-4, in <= 30 s and <= 2 GiB;
* ``unlocked_pm_exact``: the unlocked +/- tree, exactly (bound 0), by the
  depth-first walk, to the deepest depth whose walk fits in 30 s (each extra
  level doubles the work);
* ``unlocked_pm_certified``: the unlocked tree two levels deeper (depth 30), with
  certified pruning at threshold 1e-10; the bound it reaches is printed;
* ``unlocked_pm_bfs``: for contrast, the breadth-first engine (which keeps every
  program's share) on the unlocked tree at the deepest level that fits 2 GiB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

__all__ = ["run", "CASES"]

SECONDS = 30.0
MIB = 2048.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def _warm():
    import aievo.lazy as lz

    tree = lz.lazy_binary_pm_tree()
    _, w, _ = _timed(lambda: (lz.simulate_lazy(tree, 3, locking=0.5), lz.simulate_lazy_dfs(tree, 3)))
    return lz, tree, w


def case_locked_pm_100() -> list[dict]:
    lz, tree, comp = _warm()
    tr, wall, cpu = _timed(lambda: lz.simulate_lazy(tree, 100, locking=0.5, threshold=3e-10, fitness_levels=[1.95]))
    peak = _peak_mib()
    ok = tr.bound <= 1e-4 and cpu <= SECONDS and peak <= MIB
    return [dict(
        name="lazy: eta-locked +/- tree, 100 generations", seconds=wall, cpu_seconds=cpu, compile_seconds=comp,
        peak_mib=peak, target="bound <= 1e-4, <= 30 s, <= 2 GiB", value=tr.bound, ok=ok,
        note=(f"bound {tr.bound:.2e}; F_100 in [{tr.mean_fitness_lo[-1]:.6f}, {tr.mean_fitness_hi[-1]:.6f}]; "
              f"share(f >= 1.95) {tr.level_shares[1.95][-1]:.4f} +/- {tr.bound:.1e}; expanded {tr.expanded}, "
              f"pruned {tr.pruned}, retained {tr.shares.size}; cpu {cpu:.2f} s"),
    )]


def case_unlocked_pm_exact() -> list[dict]:
    lz, tree, comp = _warm()
    depth, last, best = 16, 0.0, None
    spent = 0.0
    while True:
        G = depth + 1
        if best is not None and 2.1 * last > SECONDS:  # the next level doubles the walk
            break
        tr, wall, cpu = _timed(lambda G=G: lz.simulate_lazy_dfs(tree, G))
        spent += wall
        if cpu > SECONDS:
            break
        depth, last, best = G, cpu, (tr, wall, cpu)
    tr, wall, cpu = best
    peak = _peak_mib()
    return [dict(
        name="lazy: unlocked +/- tree, exact depth-first", seconds=wall, cpu_seconds=cpu, compile_seconds=comp,
        peak_mib=peak, target="deepest depth with bound 0 in <= 30 s, <= 2 GiB", value=float(depth),
        unit="", ok=cpu <= SECONDS and peak <= MIB,
        note=(f"depth {depth} ({2 ** (depth + 1) - 1:.3g} programs visited), bound 0; "
              f"F_{depth} = {tr.mean_fitness[-1]:.6f}; cpu {cpu:.2f} s"),
    )]


def case_unlocked_pm_certified() -> list[dict]:
    lz, tree, comp = _warm()
    G, theta = 30, 1e-10
    tr, wall, cpu = _timed(lambda: lz.simulate_lazy_dfs(tree, G, threshold=theta, max_nodes=1_200_000_000))
    peak = _peak_mib()
    return [dict(
        name="lazy: unlocked +/- tree, certified depth-first", seconds=wall, cpu_seconds=cpu, compile_seconds=comp,
        peak_mib=peak, target="<= 30 s, <= 2 GiB; bound printed", value=tr.bound,
        ok=cpu <= SECONDS and peak <= MIB,
        note=(f"depth {G}, threshold {theta:g}: bound {tr.bound:.2e}; F_{G} in [{tr.mean_fitness_lo[-1]:.6f}, "
              f"{tr.mean_fitness_hi[-1]:.6f}]; visited {tr.n_unlocked.sum():.3g} of {2 ** (G + 1) - 1:.3g}; cpu {cpu:.2f} s"),
    )]


def case_unlocked_pm_bfs() -> list[dict]:
    lz, tree, comp = _warm()
    G = 23
    tr, wall, cpu = _timed(lambda: lz.simulate_lazy(tree, G))
    peak = _peak_mib()
    return [dict(
        name="lazy: unlocked +/- tree, breadth-first (all shares kept)", seconds=wall, cpu_seconds=cpu,
        compile_seconds=comp, peak_mib=peak, target="<= 30 s, <= 2 GiB", value=float(G),
        ok=cpu <= SECONDS and peak <= MIB,
        note=f"depth {G}: {tr.shares.size} shares kept, bound {tr.bound:g}; cpu {cpu:.2f} s",
    )]


CASES = {
    "locked_pm_100": case_locked_pm_100,
    "unlocked_pm_exact": case_unlocked_pm_exact,
    "unlocked_pm_certified": case_unlocked_pm_certified,
    "unlocked_pm_bfs": case_unlocked_pm_bfs,
}


def run(cases=None) -> list[dict]:
    """Run each case in a fresh subprocess; rows have name, seconds, peak_mib, target, value, ok."""
    rows: list[dict] = []
    for name in cases or CASES:
        proc = subprocess.run([sys.executable, __file__, "--case", name, "--json"], capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append(dict(name=name, error=(proc.stderr.strip().splitlines() or ["failed"])[-1]))
            continue
        rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=list(CASES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.case and args.json:
        print(json.dumps(CASES[args.case]()))
        return
    rows = run([args.case] if args.case else None)
    for r in rows:
        if "error" in r:
            print(f"[ERROR] {r['name']}: {r['error']}")
            continue
        mark = "ok  " if r["ok"] else "MISS"
        print(f"[{mark}] {r['name']}: wall {r['seconds']:.2f} s, cpu {r['cpu_seconds']:.2f} s "
              f"(compile {r['compile_seconds']:.1f} s), peak {r['peak_mib']:.0f} MiB; {r['note']}")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
