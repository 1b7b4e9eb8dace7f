"""State-dependent fitness: compiled laws against the Python escape hatch, and fate replicates.

Run ``python benchmarks/bench_state.py`` (``--quick`` for a smoke run). Prints
microseconds per generation of

* ``payoff``: ``simulate(g, G, payoff=A)`` (compiled, no Python call per generation);
* ``evaluator``: ``simulate(g, G, evaluator=LearningEvaluator(...))`` (compiled);
* ``callable``: ``simulate(g, G, evaluator=law)`` with the same fitness law as
  ``payoff`` written as a Python function (one call per generation);

on the 72-program deception grid, and replicates per second of
``concentration_probability`` (Wright-Fisher, K = 1000, 60 generations) and of
``fixation_probability`` (Moran, K = 100).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best(fn, repeats=3):
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(quick: bool = False) -> dict[str, float]:
    import aievo as ae
    from aievo.fixation import race_graph

    G = 2_000 if quick else 50_000
    g = ae.deception_grid(5, 5, 0.2)
    A = np.full((g.n, g.n), 0.01)
    ev = ae.LearningEvaluator(rate=0.1, sensitivity=0.5)
    f = np.ascontiguousarray(g.fitness)

    def law(t, x):
        return f + A @ x

    for kw in ({"payoff": A}, {"evaluator": ev}, {"evaluator": law}):  # compile and warm
        ae.simulate(g, 10, **kw)
    out = {
        "payoff_us_per_gen": 1e6 * _best(lambda: ae.simulate(g, G, payoff=A)) / G,
        "evaluator_us_per_gen": 1e6 * _best(lambda: ae.simulate(g, G, evaluator=ev)) / G,
        "callable_us_per_gen": 1e6 * _best(lambda: ae.simulate(g, G, evaluator=law)) / G,
    }
    runs = 200 if quick else 2000
    rg = race_graph(0.1)
    ae.concentration_probability(rg, 10, 2, 0.0, runs=2)
    out["wf_K1000_t60_replicates_per_s"] = runs / _best(
        lambda: ae.concentration_probability(rg, 1000, 60, 0.0, runs=runs, rng=0), 1
    )
    two = ae.DesignGraph.from_matrix([1.0, 1.1], np.eye(2))
    ae.fixation_probability(two, 10, {0: 9, 1: 1}, 1, runs=2)
    out["moran_K100_fixation_replicates_per_s"] = runs / _best(
        lambda: ae.fixation_probability(two, 100, {0: 99, 1: 1}, 1, runs=runs, rng=0), 1
    )
    return out


if __name__ == "__main__":
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's aievo
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    for k, v in run(p.parse_args().quick).items():
        print(f"{k:40s} {v:12.3f}")
