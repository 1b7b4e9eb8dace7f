"""The finite-population counterpart of the dynamics (beyond the paper).

``K`` individuals; each generation draws ``K`` offspring, a parent with
probability proportional to ``x_t(v) f(v)`` and a design by ``T(v, .)``. The
offspring counts are therefore multinomial with the deterministic update of
the current shares as cell probabilities, which is how they are drawn here:
one compiled deterministic step, then one multinomial draw from the caller's
:class:`numpy.random.Generator`. The expectation of one generation is the
deterministic update; over many generations drift loses rare lineages.
"""

from __future__ import annotations

import numpy as np

__all__ = ["run_finite_population"]


def run_finite_population(indptr, indices, data, f, fexp, x0, generations, Z, snap_times, K, rng):
    """Run ``generations`` multinomial generations of ``K`` individuals.

    ``f`` is the fitness scaled by ``2**-fexp`` (as for
    :func:`aievo._kernels.run_deterministic`), so the draws do not depend on
    the scale of the fitness. The initial shares are used as given (they need
    not be multiples of 1/K). Returns ``(mean_f, log_n, zmeans, snaps, x,
    extinct_at)``; the recorded ``log_growth`` accumulates ``log F_t`` of the
    sampled shares (compensated sum).
    """
    import math

    from ._kernels import _neumaier, _outputs, log_scaled, step_shares

    n = f.size
    G = int(generations)
    k = Z.shape[0]
    mean_f, log_n, zmeans, snaps = _outputs(G, k, snap_times.size, n)
    x = x0.copy()
    extinct_at = -1
    acc = comp = 0.0
    for t in range(G + 1):
        F = float(x @ f)
        mean_f[t] = math.ldexp(F, fexp)
        zmeans[:, t] = Z @ x
        snaps[snap_times == t] = x
        if t == G:
            break
        if F == 0.0:
            extinct_at = t
            break
        acc, comp = _neumaier(acc, comp, log_scaled(F, fexp))
        log_n[t + 1] = acc + comp
        p, _ = step_shares(indptr, indices, data, f, x)
        support = np.flatnonzero(p)
        q = p[support]
        counts = rng.multinomial(K, q / q.sum())
        x = np.zeros(n)
        x[support] = counts / K
    return mean_f, log_n, zmeans, snaps, x, extinct_at
