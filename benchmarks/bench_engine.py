"""Engine benchmarks: the generation loop against baselines measured in the same process.

Run ``python benchmarks/bench_engine.py`` (all cases) or ``--case NAME``;
``--quick`` shrinks every size (a smoke run, not a measurement). Each case runs
in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its
own; the baseline of a ratio is timed in that same process, right after the
engine.

Cases (targets from the scale issue):

* ``full_sweep``: the full-sweep kernel on a 10^7-program tree against the
  memory-bandwidth bound (one index, one probability and one fitness read and
  one share written per program and generation, at the copy bandwidth numpy
  reaches in the same process) and against ``scipy.sparse`` doing the same
  update;
* ``frontier``: the frontier path on an eta-locked binary tree of depth 22 for
  22 generations against the full sweep;
* ``type_graph``: 10^6 generations on a sparse 100-type graph;
* ``exact_kernel``: the exact continuation kernel (every share with its own
  binary exponent, used once a share falls below ``2**-960``) against the fast
  kernel on the type graph, and the 1,100-program rare-lineage run;
* ``lineage_exact``: exact lineage exponents on a 10^5-type graph;
* ``startup``: ``import aievo`` and the first ``simulate`` with a warm cache.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
from _cases import case_main, run_cases  # benchmarks/ is on sys.path (run as a script, or by run.py)

__all__ = ["run", "CASES"]

QUICK = os.environ.get("AIEVO_BENCH_QUICK") == "1"


def _best(fn, repeats=3):
    best = np.inf
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _bandwidth_gbs(nbytes: int = 400_000_000) -> float:
    """Read+write bandwidth of a large numpy copy (GB/s), best of five."""
    a = np.ones(nbytes // 8 // 2)
    b = np.empty_like(a)
    t, _ = _best(lambda: np.copyto(b, a), 5)
    return 2 * a.nbytes / t / 1e9


def _binary_parent(n: int) -> np.ndarray:
    return np.concatenate([[-1], (np.arange(1, n) - 1) // 2])


def case_full_sweep() -> list[dict]:
    import scipy.sparse as sp

    import aievo as ae

    n = 200_000 if QUICK else 10_000_000
    G = 40
    rng = np.random.default_rng(0)
    g = ae.DesignGraph.tree(_binary_parent(n), rng.uniform(0.5, 1.5, n))
    ae.simulate(g, 1, method="full")  # compile/load kernels, build the gather plan
    t_engine, tr = _best(lambda: ae.simulate(g, G, method="full"))
    per_gen = t_engine / G
    bw = _bandwidth_gbs()
    from aievo.dynamics import _tree_plan

    index_bytes = _tree_plan(g)["parent"].itemsize  # the index width the engine uses
    # the bytes the update cannot avoid: one index, one probability and one fitness
    # read and one share written per program and generation
    bound = (index_bytes + 24) * n / (bw * 1e9)
    MT = sp.csr_array(g.mean_matrix().T)

    def scipy_run():
        x = np.zeros(n)
        x[0] = 1.0
        F = np.empty(G)
        for t in range(G):
            y = MT @ x
            F[t] = y.sum()
            x = y / F[t]
        return F

    t_scipy, F = _best(scipy_run)
    assert np.allclose(F, tr.mean_fitness[:G], rtol=1e-10)
    return [
        dict(name=f"full sweep, {n:.0e}-program tree: fraction of bandwidth bound",
             seconds=per_gen, baseline="bandwidth bound", baseline_seconds=bound,
             ratio=bound / per_gen, target=0.75, unit="per generation",
             note=f"numpy copy bandwidth {bw:.2f} GB/s, {index_bytes + 24} bytes per program",
             peak_mib=_peak_mib()),
        dict(name=f"full sweep, {n:.0e}-program tree: vs scipy.sparse",
             seconds=per_gen, baseline="scipy.sparse matvec + normalise",
             baseline_seconds=t_scipy / G, ratio=t_scipy / t_engine, target=4.0,
             unit="per generation", peak_mib=_peak_mib()),
    ]


def case_frontier() -> list[dict]:
    import aievo as ae

    depth = 14 if QUICK else 22
    n = 2 ** (depth + 1) - 1
    g = ae.with_locking(ae.DesignGraph.tree(_binary_parent(n), np.ones(n)), 0.5)
    ae.simulate(g, 1)  # build the plan once (cached on the graph)
    t_front, a = _best(lambda: ae.simulate(g, depth, method="frontier"))
    t_full, b = _best(lambda: ae.simulate(g, depth, method="full"), 2)
    assert np.allclose(a.mean_fitness, b.mean_fitness, rtol=1e-12)
    return [dict(name=f"frontier vs full sweep, locked binary tree depth {depth} ({g.n:.2e} programs)",
                 seconds=t_front, baseline="full sweep", baseline_seconds=t_full,
                 ratio=t_full / t_front, target=8.0, unit=f"{depth} generations",
                 peak_mib=_peak_mib())]


def case_type_graph() -> list[dict]:
    import scipy.sparse as sp

    import aievo as ae

    k, G = 100, (10_000 if QUICK else 1_000_000)
    rng = np.random.default_rng(1)
    A = sp.random_array((k, k), density=0.05, rng=rng, format="csr") + sp.eye_array(k, format="csr")
    A = sp.csr_array(A.multiply(1.0 / A.sum(axis=1)[:, None]))
    g = ae.type_graph(rng.uniform(0.5, 2.0, k), A)
    ae.simulate(g, 2)
    t, tr = _best(lambda: ae.simulate(g, G), 2)
    return [dict(name=f"{G:.0e} generations on a {k}-type sparse graph ({g.T.nnz} edges)",
                 seconds=t, target_seconds=5.0, peak_mib=_peak_mib())]


def case_exact_kernel() -> list[dict]:
    import scipy.sparse as sp

    import aievo as ae
    from aievo._kernels import _outputs, row_minima, run_deterministic, run_exact
    from aievo.dynamics import _scaled_fitness

    k, G = 100, (10_000 if QUICK else 200_000)
    rng = np.random.default_rng(1)
    A = sp.random_array((k, k), density=0.05, rng=rng, format="csr") + sp.eye_array(k, format="csr")
    A = sp.csr_array(A.multiply(1.0 / A.sum(axis=1)[:, None]))
    g = ae.type_graph(rng.uniform(0.5, 2.0, k), A)
    T = g.T
    fs, fexp, _ = _scaled_fitness(g)
    x0 = np.zeros(k)
    x0[g.root] = 1.0
    Z = np.zeros((0, k))
    times = np.zeros(0, np.int64)
    rmin = row_minima(T.indptr, T.data)

    def fast():
        return run_deterministic(T.indptr, T.indices, T.data, rmin, fs, np.int64(fexp), x0, np.int64(G), Z,
                                 times, np.float64(0.25))

    def exact():
        mean_f, log_n, zm, snaps = _outputs(np.int64(G), 0, 0, k)
        run_exact(T.indptr, T.indices, T.data, g.fitness, x0, np.int64(0), Z, times, mean_f, log_n, zm, snaps,
                  0.0, 0.0)
        return mean_f

    fast(), exact()
    t_fast, a = _best(fast, 2)
    t_exact, b = _best(exact, 2)
    assert np.allclose(a[0], b, rtol=1e-12)
    chain_len = 1100
    parent = np.concatenate([[-1, 0, 0], np.arange(2, 2 + chain_len - 1), [1 + chain_len]])
    f = np.ones(parent.size)
    f[1], f[-1] = 2.0, 1000.0
    rare = ae.DesignGraph.tree(parent, f)
    ae.simulate(rare, 10)
    t_rare, tr = _best(lambda: ae.simulate(rare, 1300), 2)
    assert abs(tr.mean_fitness[-1] - 1000.0) < 1e-9
    return [
        dict(name=f"exact kernel vs fast kernel, {G:.0e} generations on a {k}-type graph",
             seconds=t_exact, baseline="fast kernel", baseline_seconds=t_fast, ratio=t_fast / t_exact,
             target=0.2, note="ratio = fast / exact: the exact kernel is 1/ratio times slower",
             peak_mib=_peak_mib()),
        dict(name="rare lineage below float64 (1,103 programs, 1,300 generations)", seconds=t_rare,
             target_seconds=1.0, peak_mib=_peak_mib()),
    ]


def case_lineage_exact() -> list[dict]:
    import scipy.sparse as sp

    import aievo as ae

    try:
        from aievo.lineage import lineage_exponents
    except ImportError:
        return [dict(name="exact lineage exponents", skipped="aievo.lineage not available")]
    k = 10_000 if QUICK else 100_000
    rng = np.random.default_rng(2)
    A = sp.random_array((k, k), density=3.0 / k, rng=rng, format="csr") + sp.eye_array(k, format="csr")
    A = sp.csr_array(A.multiply(1.0 / A.sum(axis=1)[:, None]))
    g = ae.type_graph(rng.uniform(0.5, 2.0, k), A)
    t, _ = _best(lambda: lineage_exponents(g, method="exact"), 2)
    return [dict(name=f"exact lineage exponents, {k:.0e}-type graph ({g.T.nnz} edges)",
                 seconds=t, target_seconds=3.0, peak_mib=_peak_mib())]


def case_startup() -> list[dict]:
    code_import = "import time; t=time.perf_counter(); import aievo; print(time.perf_counter()-t)"
    code_first = (
        "import time; t=time.perf_counter(); import aievo as ae; "
        "g = ae.with_locking(ae.chain([1.0, 2.0, 1.5]), 0.3); ae.simulate(g, 10); "
        "ae.simulate(ae.type_graph([1.0, 2.0], [[0.5, 0.5], [0, 1]]), 10); "
        "print(time.perf_counter()-t)"
    )
    subprocess.run([sys.executable, "-c", code_first], check=True, capture_output=True)  # warm the cache
    t_imp = min(float(subprocess.run([sys.executable, "-c", code_import], check=True,
                                     capture_output=True, text=True).stdout) for _ in range(3))
    t_first = min(float(subprocess.run([sys.executable, "-c", code_first], check=True,
                                       capture_output=True, text=True).stdout) for _ in range(3))
    return [
        dict(name="import aievo", seconds=t_imp, target_seconds=1.0, peak_mib=_peak_mib()),
        dict(name="import + first simulate (tree and graph kernels), warm numba cache",
             seconds=t_first, target_seconds=2.0, peak_mib=_peak_mib()),
    ]


CASES = {
    "full_sweep": case_full_sweep,
    "frontier": case_frontier,
    "type_graph": case_type_graph,
    "exact_kernel": case_exact_kernel,
    "lineage_exact": case_lineage_exact,
    "startup": case_startup,
}


def run(cases=None, quick: bool = False) -> list[dict]:
    """Run each case in a fresh subprocess and collect its result rows."""
    return run_cases(__file__, cases or CASES, quick)


if __name__ == "__main__":
    case_main(__file__, __doc__, CASES, run)
