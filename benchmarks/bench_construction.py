"""Construction benchmarks: building each generator's tree against simulating it.

Run ``python benchmarks/bench_construction.py`` (all cases) or ``--case NAME``;
``--quick`` shrinks every size (a smoke run, not a measurement). Each case runs
in a fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own;
the kernels are compiled (or loaded) on a tiny instance first, and the memory
of the interpreter at that point is subtracted from the peak.

For every generator the targets (from the "fast from the first second" issue)
are: building the tree costs at most half of simulating it for as many
generations as its depth (``ratio = simulate / build >= 2``, the median over
``REPEATS`` build-then-simulate pairs timed back to back, so that both sides of
a pair see the same load), the peak memory of building it is at most 48 bytes
per program, and the memory guard's prediction (``BYTES_PER_TREE_PROGRAM``
bytes per program, :func:`aievo._validate.check_tree_fits`) is within 25 % of
the peak of building the tree and simulating it (the first pair). Inputs a
user would pass (the chain's fitness vector, the type graph to unfold) are
made before the baseline memory is read. Graphs that are not trees (a
lattice, the deception grid) are simulated for 100 generations and only their
memory guard is checked.
"""

from __future__ import annotations

import os
import resource
import statistics
import time

import numpy as np
from _cases import case_main, run_cases  # benchmarks/ is on sys.path (run as a script, or by run.py)

__all__ = ["run", "CASES"]

QUICK = os.environ.get("AIEVO_BENCH_QUICK") == "1"
#: build-then-simulate pairs timed per case (the ratio is their median)
REPEATS = 1 if QUICK else 5
#: how far the memory guard's prediction may be from the measured peak
GUARD_TOLERANCE = 0.25


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(name: str, build, depth_of, kind: str = "tree") -> list[dict]:
    """Rows for one generator; for a graph that is not a tree (``kind``), only the memory guard's row."""
    import aievo as ae
    from aievo._validate import BYTES_PER_PROGRAM

    predicted = BYTES_PER_PROGRAM[kind]
    small = build(True)
    ae.simulate(small, int(depth_of(small)))  # compile or load every kernel on a tiny tree
    base = _rss_mib()
    builds, sims = [], []
    for rep in range(REPEATS):
        t0 = time.perf_counter()
        g = build(False)
        builds.append(time.perf_counter() - t0)
        if rep == 0:
            peak_build = _rss_mib() - base
        depth = int(depth_of(g))
        t0 = time.perf_counter()
        tr = ae.simulate(g, depth)
        sims.append(time.perf_counter() - t0)
        if rep == 0:
            peak_total = _rss_mib() - base
        n = g.n
        del g, tr
    ratio = statistics.median(s / b for s, b in zip(sims, builds))
    per_program = peak_build * 2**20 / n
    total_per_program = peak_total * 2**20 / n
    off = predicted / total_per_program - 1.0
    guard = dict(name=f"{name}: memory guard vs peak of building and simulating it", ok=abs(off) <= GUARD_TOLERANCE,
                 note=f"measured {total_per_program:.0f} bytes per program, guard predicts {predicted} "
                      f"({off:+.0%}; target within {GUARD_TOLERANCE:.0%})")
    if kind not in ("tree", "chain"):
        return [guard]
    return [
        dict(name=f"{name} ({n:.2e} programs): build vs simulate {depth} generations",
             seconds=statistics.median(builds), baseline="simulate", baseline_seconds=statistics.median(sims),
             ratio=ratio, target=2.0, peak_mib=_rss_mib(),
             note=f"median of {REPEATS} pairs; ratios {', '.join(f'{s / b:.2f}' for s, b in zip(sims, builds))}"),
        dict(name=f"{name}: peak memory of building it", ok=per_program <= 48.0,
             note=f"{per_program:.0f} bytes per program (target <= 48)"),
        guard,
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


def case_random_tree_self_loops() -> list[dict]:
    import aievo as ae

    n = 20_000 if QUICK else 4_000_000
    return _measure(f"random_tree({n:.0e}, self_prob=0.1)", lambda tiny: ae.random_tree(50 if tiny else n, 1, self_prob=0.1),
                    lambda g: g.depths().max())


def case_chain() -> list[dict]:
    import aievo as ae

    n = 20_000 if QUICK else 4_000_000
    fitness = {size: 1.0 + 1.0 / np.arange(1, size + 1) for size in (50, n)}  # the user's input, made beforehand
    return _measure(f"chain({n:.0e})", lambda tiny: ae.chain(fitness[50 if tiny else n]), lambda g: g.n - 1,
                    kind="chain")


def case_unfold() -> list[dict]:
    import aievo as ae

    d = 10 if QUICK else 17  # three types, 7 designs in all: about 3.8e6 programs at depth 17
    types = ae.type_graph([1.0, 1.5, 0.7], [[0.2, 0.5, 0.3], [0.0, 0.6, 0.4], [0.5, 0.0, 0.5]])
    return _measure(f"unfold(3-type graph, {d})", lambda tiny: ae.unfold(types, 3 if tiny else d),
                    lambda g: g.depths()[-1])


def case_lattice() -> list[dict]:
    import aievo as ae

    n = 20_000 if QUICK else 4_000_000
    return _measure(f"lattice({n:.0e}), 100 generations",
                    lambda tiny: ae.lattice(50 if tiny else n, lambda x: 1.0 + x / x.size, 0.1), lambda g: 100,
                    kind="lattice")


def case_deception_grid() -> list[dict]:
    from aievo.traits import deception_grid

    c = 30 if QUICK else 1000
    return _measure(f"deception_grid({c}, {c}), 100 generations",
                    lambda tiny: deception_grid(3 if tiny else c, 3 if tiny else c, 0.2), lambda g: 100,
                    kind="deception_grid")


CASES = {
    "binary_pm_tree": case_binary_pm_tree,
    "kary_tree": case_kary_tree,
    "random_tree": case_random_tree,
    "random_tree_self_loops": case_random_tree_self_loops,
    "chain": case_chain,
    "unfold": case_unfold,
    "lattice": case_lattice,
    "deception_grid": case_deception_grid,
}


def run(cases=None, quick: bool = False) -> list[dict]:
    """Run each case in a fresh subprocess and collect its result rows."""
    return run_cases(__file__, cases or CASES, quick or QUICK)


if __name__ == "__main__":
    case_main(__file__, __doc__, CASES, run)
