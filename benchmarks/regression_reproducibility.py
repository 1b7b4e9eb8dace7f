"""Reproducibility of the blog's in-context regression table across software environments.

Builds one virtual environment per entry of :data:`ENVIRONMENTS` with pip (the blog's pinned
``uv.lock`` versions, current releases, and aievo's lowest supported versions), runs the blog's
table -- all 24 regressors, blog protocol, ``original2`` seeds 0..99 -- in each, once with the
machine's own OpenBLAS kernels and once with ``OPENBLAS_CORETYPE=Haswell`` (the kernels of a
machine without AVX-512), and writes

* ``<out>/runs/<run>.json``: versions and per-seed MSE of every regressor for one run;
* ``aievo/mesa/regression_reproducibility.json``: the summary that ``docs/regression.md`` and the
  ``regress`` figure read (per-run means, per-seed spread, the seeds that dominate each mean,
  rankings).

Usage::

    python benchmarks/regression_reproducibility.py --jobs 4         # everything (about an hour)
    python benchmarks/regression_reproducibility.py --runs blog-pinned --seeds 5   # a smoke test
    python benchmarks/regression_reproducibility.py --summarize-only  # rebuild the summary

The virtual environments live under ``--venv-root`` (default ``/tmp/aievo-regression-venvs``) and
are reused when their versions already match; the worker imports aievo from this repository
(``PYTHONPATH``), so the code measured is the code checked out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUMMARY = REPO / "aievo" / "mesa" / "regression_reproducibility.json"

#: what every environment needs besides the pinned packages (aievo's own runtime dependencies)
AIEVO_DEPS = ["numba", "networkx", "matplotlib", "hypothesis"]

#: environment name -> pip requirements (the blog's ``uv.lock`` for ``blog-pinned``)
ENVIRONMENTS: dict[str, list[str]] = {
    "blog-pinned": ["numpy==1.26.4", "scipy==1.14.1", "scikit-learn==1.6.0", "pandas==2.2.3",
                    "joblib==1.4.2", "threadpoolctl==3.5.0"],
    "current": ["numpy", "scipy", "scikit-learn", "pandas"],
    "lowest": ["numpy==1.24.4", "scipy==1.10.1", "scikit-learn==1.1.3", "pandas==2.0.3"],
}

#: run name -> (environment, extra environment variables).  ``/haswell`` runs select OpenBLAS's
#: Haswell kernels (AVX2, as on a machine without AVX-512 or on AMD Zen); the others use the kernels
#: OpenBLAS picks for this machine.
RUNS: dict[str, tuple[str, dict[str, str]]] = {
    "blog-pinned/haswell": ("blog-pinned", {"OPENBLAS_CORETYPE": "Haswell"}),
    "blog-pinned": ("blog-pinned", {}),
    "current/haswell": ("current", {"OPENBLAS_CORETYPE": "Haswell"}),
    "current": ("current", {}),
    "lowest/haswell": ("lowest", {"OPENBLAS_CORETYPE": "Haswell"}),
    "lowest": ("lowest", {}),
}

THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


# --------------------------------------------------------------------------- driver side
def _venv_python(root: Path, env: str) -> Path:
    return root / env / "bin" / "python"


def build_env(root: Path, env: str, python: str) -> Path:
    """Create (or reuse) the virtual environment ``env`` under ``root``; return its python."""
    py = _venv_python(root, env)
    stamp = root / env / "aievo-requirements.json"
    wanted = ENVIRONMENTS[env] + AIEVO_DEPS
    if py.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return py
    subprocess.run([python, "-m", "venv", "--clear", str(root / env)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", *wanted], check=True)
    stamp.write_text(json.dumps(wanted))
    return py


def run_one(py: Path, run: str, extra_env: dict[str, str], seeds: int, out: Path, jobs: int = 1) -> Path:
    """Run the worker in one environment (``jobs`` processes on contiguous seed chunks); return
    the path of the merged result file."""
    target = out / "runs" / (run.replace("/", "__") + ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **THREADS, **extra_env, "PYTHONPATH": str(REPO)}
    bounds = [round(i * seeds / jobs) for i in range(jobs + 1)]
    parts, procs = [], []
    t0 = time.time()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=target.parent) as tmp:
            parts.append(Path(tmp.name))
        procs.append(subprocess.Popen([str(py), __file__, "--worker", "--first-seed", str(lo), "--seeds",
                                       str(hi - lo), "--to", str(parts[-1])], env=env))
    if any(p.wait() != 0 for p in procs):
        raise SystemExit(f"{run}: a worker failed")
    chunks = [json.loads(p.read_text()) for p in parts]
    data = chunks[0]
    for c in chunks[1:]:
        data["seeds"] += c["seeds"]
        for m in data["mse"]:
            data["mse"][m] += c["mse"][m]
    data.update(run=run, extra_env=extra_env, seconds=round(time.time() - t0, 1), jobs=jobs)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=target.parent) as tmp:
        tmp.write(json.dumps(data))
    Path(tmp.name).replace(target)  # never a half-written result
    for p in parts:
        p.unlink()
    print(f"{run}: {data['versions']} in {data['seconds']} s", flush=True)
    return target


def _share_of_top(values: list[float], k: int) -> float:
    tot = sum(values)
    return sum(sorted(values, reverse=True)[:k]) / tot if tot > 0 else float("nan")


def summarize(out: Path) -> dict:
    """Summary of every run file under ``out/runs`` (see the module docstring); also written."""
    import numpy as np

    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json")) if not p.name.startswith("tmp")]
    if not runs:
        raise SystemExit(f"no run files under {out / 'runs'}")
    order = {r: i for i, r in enumerate(RUNS)}
    runs.sort(key=lambda d: order.get(d["run"], len(order)))
    methods = list(runs[0]["methods"])
    seeds = runs[0]["seeds"]
    summary: dict = {"seeds": [min(seeds), max(seeds)], "n_seeds": len(seeds), "runs": [], "methods": {}}
    for d in runs:
        summary["runs"].append({"run": d["run"], "versions": d["versions"], "extra_env": d["extra_env"],
                                "blas": d.get("blas", ""), "seconds": d["seconds"],
                                "dataframe_check": d.get("dataframe_check")})
    for m in methods:
        per = np.array([d["mse"][m] for d in runs])  # (runs, seeds)
        means = per.mean(axis=1)
        ref = per[0]
        top = [int(i) for i in np.argsort(-ref)[:3]]
        summary["methods"][m] = {
            "mean": {d["run"]: float(v) for d, v in zip(runs, means)},
            "min_mean": float(means.min()),
            "max_mean": float(means.max()),
            "median_seed_mse": float(np.median(ref)),
            "max_seed_mse": float(ref.max()),
            "top_seeds": top,
            "top3_share": _share_of_top(ref.tolist(), 3),
            "seeds_differing": int(np.sum(np.any(per != per[0], axis=0))),
            "max_rel_seed_diff": float(np.max(np.abs(per - per[0]) / np.maximum(np.abs(per[0]), 1e-300))),
        }
    ranks = {}
    for d in runs:
        ms = {m: float(np.mean(d["mse"][m])) for m in methods}
        ranks[d["run"]] = sorted(methods, key=lambda m: ms[m])
    summary["ranking"] = ranks
    SUMMARY.write_text(json.dumps(summary, indent=1, sort_keys=False) + "\n")
    return summary


# --------------------------------------------------------------------------- worker side
def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info

        return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except Exception as exc:  # pragma: no cover - informative only
        return f"unknown ({exc})"


def _dataframe_check(seeds: list[int]) -> dict | None:
    """Do the blog's pandas inputs give the same predictions as aievo's arrays (first seeds)?"""
    try:
        import pandas as pd
    except ImportError:
        return None
    import numpy as np

    from aievo.mesa.regression import BLOG_REGRESSORS, get_original2
    from aievo.mesa.regressors import SKLEARN_SPECS, SklearnRegressor

    same, total = 0, 0
    for seed in seeds:
        Xtr, ytr, Xte, _ = get_original2(seed)
        cols = {f"Feature {j}": Xtr[:, j] for j in range(4)}
        dtr = pd.DataFrame(cols)
        dte = pd.DataFrame({f"Feature {j}": Xte[:, j] for j in range(4)})
        for m in BLOG_REGRESSORS:
            if m not in SKLEARN_SPECS:
                continue
            ours = SklearnRegressor(m, seed).fit(Xtr, ytr)
            est = SklearnRegressor(m, seed)._build(len(Xtr))
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(dtr, pd.Series(ytr))
                theirs = np.asarray(est.predict(dte), dtype=float)
            total += 1
            same += bool(np.array_equal(ours.predict(Xte), theirs))
    return {"seeds": seeds, "identical": same, "compared": total}


def worker(first: int, seeds: int, to: Path) -> None:
    import platform

    import numpy as np
    import scipy
    import sklearn

    from aievo.mesa.regression import BLOG_REGRESSORS, regression_benchmark

    res = regression_benchmark("original2", list(BLOG_REGRESSORS), seeds=range(first, first + seeds),
                               protocol="blog", progress=False)
    tab = res.table("mse")
    versions = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__}
    try:
        import pandas

        versions["pandas"] = pandas.__version__
    except ImportError:
        pass
    data = {"versions": versions, "blas": _blas(), "methods": list(BLOG_REGRESSORS),
            "seeds": [int(s) for s in res.seeds], "mse": {m: tab[m].tolist() for m in BLOG_REGRESSORS},
            "dataframe_check": _dataframe_check(list(range(first, first + min(seeds, 3)))) if first == 0 else None}
    to.write_text(json.dumps(data))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, among {', '.join(RUNS)}")
    ap.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes per run, on seed chunks (default 1)")
    ap.add_argument("--first-seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "regression_reproducibility"))
    ap.add_argument("--venv-root", default="/tmp/aievo-regression-venvs")
    ap.add_argument("--python", default=sys.executable, help="interpreter the venvs are made from")
    ap.add_argument("--summarize-only", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--to", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.first_seed, args.seeds, Path(args.to))
        return 0
    out = Path(args.out)
    if not args.summarize_only:
        root = Path(args.venv_root)
        root.mkdir(parents=True, exist_ok=True)
        for run in [r.strip() for r in args.runs.split(",") if r.strip()]:
            if run not in RUNS:
                raise SystemExit(f"--runs: {run!r} is not one of {', '.join(RUNS)}")
            env, extra = RUNS[run]
            py = build_env(root, env, args.python)
            run_one(py, run, extra, args.seeds, out, args.jobs)
    summary = summarize(out)
    print(f"summary: {SUMMARY} ({len(summary['runs'])} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
