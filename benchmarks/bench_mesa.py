"""Benchmark: the mesa layer's Sherman–Morrison RLS kernel against fresh solves.

Run ``python benchmarks/bench_mesa.py``. Times :func:`aievo.mesa.mesa_layer`
against :func:`aievo.mesa.mesa_layer_naive` (normal equations rebuilt and
solved at every position) at D = 64, T = 512, in the same process, and, for
an honest second opinion, against the fastest plain-numpy formulation we know
(cumulative sums of ``k k^T`` and ``v k^T`` and one batched ``numpy.linalg.solve``).
Peak memory is the tracemalloc peak of the timed call (numpy allocations).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

__all__ = ["run"]

D, T, B, LAM = 64, 512, 2, 1.0
TARGET = 20.0


def _inputs():
    g = np.random.default_rng(0)
    K = g.standard_normal((B, T, D)) / np.sqrt(D)
    Q = g.standard_normal((B, T, D)) / np.sqrt(D)
    V = g.standard_normal((B, T, D))
    return K, V, Q


def _cumulative_solve(K, V, Q, lam):
    eye = np.eye(K.shape[2])
    H = np.cumsum(np.einsum("bti,btj->btij", K, K), axis=1) + eye / lam
    G = np.cumsum(np.einsum("bti,btj->btij", V, K), axis=1)
    z = np.linalg.solve(H, Q[..., None])[..., 0]
    return np.einsum("btij,btj->bti", G, z)


def _time(fn, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _peak_mib(fn):
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def run() -> list[dict]:
    """Time the mesa layer against its references; one dict per comparison.

    Returns
    -------
    list of dict
        Keys ``name``, ``seconds`` (mesa_layer, best of 5), ``baseline_seconds``,
        ``ratio`` (baseline / mesa_layer), ``target`` (the wanted minimum ratio),
        ``peak_mib`` (tracemalloc peak of the mesa_layer call) and
        ``baseline_peak_mib``.
    """
    from aievo.mesa import mesa_layer, mesa_layer_naive

    K, V, Q = _inputs()
    mesa_layer(K[:, :4], V[:, :4], Q[:, :4], LAM)  # compile / load the cached kernel
    fast_s, fast = _time(lambda: mesa_layer(K, V, Q, LAM), 5)
    fast_peak = _peak_mib(lambda: mesa_layer(K, V, Q, LAM))
    naive_s, naive = _time(lambda: mesa_layer_naive(K, V, Q, LAM), 1)
    naive_peak = _peak_mib(lambda: mesa_layer_naive(K, V, Q, LAM))
    cum_s, cum = _time(lambda: _cumulative_solve(K, V, Q, LAM), 2)
    cum_peak = _peak_mib(lambda: _cumulative_solve(K, V, Q, LAM))
    err_naive = float(np.max(np.abs(fast - naive)))
    err_cum = float(np.max(np.abs(fast - cum)))
    shape = f"B={B}, T={T}, D={D}"
    return [
        dict(
            name=f"mesa_layer vs mesa_layer_naive ({shape})",
            seconds=fast_s, baseline_seconds=naive_s, ratio=naive_s / fast_s, target=TARGET,
            peak_mib=fast_peak, baseline_peak_mib=naive_peak, max_abs_diff=err_naive,
        ),
        dict(
            name=f"mesa_layer vs cumulative-sum batched solve ({shape})",
            seconds=fast_s, baseline_seconds=cum_s, ratio=cum_s / fast_s, target=1.0,
            peak_mib=fast_peak, baseline_peak_mib=cum_peak, max_abs_diff=err_cum,
        ),
    ]


def main() -> None:
    rows = run()
    for r in rows:
        ok = "OK" if r["ratio"] >= r["target"] else "BELOW TARGET"
        print(
            f"{r['name']}: {r['seconds'] * 1e3:.1f} ms vs {r['baseline_seconds'] * 1e3:.1f} ms, "
            f"ratio {r['ratio']:.1f}x (target >= {r['target']:g}x, {ok}); "
            f"peak {r['peak_mib']:.2f} MiB vs {r['baseline_peak_mib']:.2f} MiB; "
            f"max |diff| {r['max_abs_diff']:.1e}"
        )


if __name__ == "__main__":
    main()
