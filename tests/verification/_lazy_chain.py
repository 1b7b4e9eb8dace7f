"""A lazy tree that is a chain (program i designs i + 1), and its explicit graph, for the verification suite."""

import numba
import numpy as np

import aievo as ae
import aievo.lazy as lz


@numba.njit(cache=True)
def chain_rule(state, depth, params, child_state, child_fitness, child_prob, child_bound):
    i = int(state[0])
    if i + 1 >= params.shape[0]:
        return 0
    child_state[0, 0] = i + 1
    child_fitness[0] = params[i + 1]
    child_prob[0] = 1.0
    return 1


def lazy_chain(fitness):
    f = np.asarray(fitness, dtype=np.float64)
    return lz.LazyTree(chain_rule, [0.0], f[0], f_max=float(f.max()), max_children=1, params=f, name="chain")


def explicit_shares(fitness, generations, locking=None, preservation=None):
    """Shares at ``generations`` on the explicit graph, keyed by (program, locked)."""
    g = ae.chain(np.asarray(fitness, dtype=np.float64))
    if locking is not None:
        g = ae.with_locking(g, locking)
    if preservation is not None:
        g = ae.with_preservation(g, preservation)
    x = ae.simulate(g, generations, record_shares=[generations]).shares_at(generations)
    original = g.attrs.get("original", np.arange(g.n))
    locked = g.attrs.get("locked", np.zeros(g.n, bool)).astype(bool)
    out = {}
    for v in range(g.n):
        key = (int(original[v]), bool(locked[v]))
        out[key] = out.get(key, 0.0) + float(x[v])
    return out


def check_intervals(tr, truth, slack=1e-12):
    """Every retained program's certified interval holds its true share (``slack``: the engine's rounding)."""
    lo, hi = tr.share_interval()
    seen = set()
    for s, st, locked, a, b in zip(tr.shares, tr.states[:, 0], tr.locked, lo, hi):
        key = (int(st), bool(locked))
        assert key not in seen, f"program {key} reported twice"
        seen.add(key)
        t = truth.get(key, 0.0)
        assert a - slack <= t <= b + slack, (key, s, a, b, t)
    # and the programs not reported hold at most the bound in total
    missing = sum(v for k, v in truth.items() if k not in seen)
    assert missing <= tr.bound + slack
