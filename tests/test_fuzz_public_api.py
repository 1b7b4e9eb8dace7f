"""The red team's fuzzer: hostile arguments to every public function give a result or an AievoError.

For each public function a small valid call is written down; Hypothesis then
replaces one argument with a hostile value (wrong types, NaN/inf, complex,
huge integers, negatives, booleans, strings, empty arrays, wrong shapes, and
mutations of the valid value: scaled to 1e200, one entry NaN, complex, one
element short, transposed) and checks that only an :class:`~aievo.AievoError`
or a valid result comes out: no other exception, no ``ComplexWarning``, no hang
(each call is limited by an alarm).

The default ``ci`` profile tries a few examples per function (the whole file
runs in well under 30 s); ``HYPOTHESIS_PROFILE=deep`` searches much longer.
With ``AIEVO_FUZZ_RECORD=<file>`` the outcomes are appended to ``<file>`` (one
JSON line per call: function, argument, ``held`` or the exception) instead of
failing, so a run can be counted and compared across versions.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import tempfile
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aievo as ae
import aievo.lazy as lz
import aievo.mesa as m
from aievo.errors import AievoError
from aievo.io import load_result, save_result
from aievo.rerun import first_difference, rerun
from aievo.sweep import SweepResult, sweep

RECORD = os.environ.get("AIEVO_FUZZ_RECORD")
#: seconds one call may take before it counts as a hang
CALL_LIMIT = 20


class Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise Hang(f"call took more than {CALL_LIMIT} s")


# ---------------------------------------------------------------------- valid calls
def _tasks():
    X, y, xq, yq, w = m.sample_regression_tasks(np.random.default_rng(0), 2, 3, 4)
    return X, y, xq, yq


def _graph():
    return ae.chain([1.0, 2.0, 1.5])


def _tg():
    return ae.type_graph([1.0, 2.0], [[0.5, 0.5], [0.0, 1.0]])


def _seq(B=2, T=5, D=2):
    return np.random.default_rng(1).normal(size=(B, T, D))


def _sweep_fn(a, rng):
    return {"y": np.array([float(a)])}


def _scenario():
    return {"scenario": {"generations": 5}, "graph": {"kind": "chain", "fitness": [1.0, 2.0]},
            "locking": {"eta": 0.5}, "output": {"record_shares": [1]}}


_TMP = tempfile.TemporaryDirectory(prefix="aievo-fuzz-")
_COUNT = itertools.count()


def _fresh(name: str) -> str:
    """A new path in this module's temporary directory."""
    return os.path.join(_TMP.name, f"{next(_COUNT)}-{name}")


def _saved() -> str:
    path = _fresh("t.npz")
    ae.simulate(ae.chain([1.0, 2.0]), 2).save(path)
    return path


def _spd():
    return np.eye(3) * 2.0 + 0.1


def _lsa_layers():
    return [m.gd_weights(2, 3, 0.1)]


# name -> (function, factory of keyword arguments)
TARGETS: dict[str, tuple[Callable[..., Any], Callable[[], dict[str, Any]]]] = {
    # graphs and generators
    "DesignGraph": (ae.DesignGraph, lambda: dict(fitness=[1.0, 2.0], T=[[0.5, 0.5], [0.0, 1.0]], root=0,
                                                 labels=None, attrs=None, parent=[-1, 0])),
    "DesignGraph.from_matrix": (ae.DesignGraph.from_matrix, lambda: dict(
        fitness=[1.0, 2.0], T=[[0.5, 0.5], [0.0, 1.0]], root=0, labels=["a", "b"], attrs={"x": [1, 2]})),
    "DesignGraph.tree": (ae.DesignGraph.tree, lambda: dict(parent=[-1, 0, 0], fitness=[1.0, 2.0, 0.5],
                                                           prob=[0.0, 0.3, 0.7], self_prob=None)),
    "chain": (ae.chain, lambda: dict(fitness=[1.0, 2.0, 3.0])),
    "kary_tree": (ae.kary_tree, lambda: dict(k=2, depth=2, fitness_rule=lambda pf, j, d: pf + j,
                                             root_fitness=1.0, prob=[0.5, 0.5])),
    "binary_pm_tree": (ae.binary_pm_tree, lambda: dict(depth=3, root_fitness=1.0)),
    "random_tree": (ae.random_tree, lambda: dict(n=5, rng=1, fitness=None, self_prob=0.1)),
    "lattice": (ae.lattice, lambda: dict(n=4, fitness=[1.0, 2.0, 3.0, 4.0], mutation_rate=0.1, start=1)),
    "type_graph": (ae.type_graph, lambda: dict(fitness=[1.0, 2.0], T=[[0.5, 0.5], [0.0, 1.0]], root=0,
                                               labels=None)),
    "unfold": (ae.unfold, lambda: dict(g=_tg(), depth=3, root=0, max_nodes=1000)),
    "with_locking": (ae.with_locking, lambda: dict(g=_graph(), eta=0.5)),
    "with_preservation": (ae.with_preservation, lambda: dict(g=_graph(), eta=0.5)),
    "simulate": (ae.simulate, lambda: dict(g=_graph(), generations=5, initial=None, record_shares=[1, 2],
                                           traits={"f": [1.0, 2.0, 3.0]}, sets={"s": [0, 1]},
                                           method="auto")),
    "simulate(population)": (ae.simulate, lambda: dict(g=_graph(), generations=5, population=10, rng=3)),
    "deception_grid": (ae.deception_grid, lambda: dict(C=2, D=2, eta=0.5)),
    "human_judged_fitness": (ae.human_judged_fitness, lambda: dict(c=[0.0, 1.0], d=[1.0, 0.0])),
    "objective_fitness": (ae.objective_fitness, lambda: dict(c=[0.0, 1.0])),
    "linear_utility": (ae.linear_utility, lambda: dict(c=[0.0, 1.0], d=[1.0, 0.0], kappa=0.5)),
    "lazy_binary_pm_tree": (ae.lazy_binary_pm_tree, lambda: dict(root_fitness=1.0)),
    "load_scenario": (ae.load_scenario, lambda: dict(source=_scenario())),
    "LazyTree": (ae.LazyTree, lambda: dict(rule=lz.binary_pm_rule(), root_state=[1.0], root_fitness=1.0,
                                           f_max=2.0, max_children=2, params=None, name="pm")),
    # files
    "sweep": (sweep, lambda: dict(fn=_sweep_fn, grid={"a": [1, 2]}, out=_fresh("s"), executor=0, rng=1,
                                  progress=False)),
    "SweepResult.open": (SweepResult.open, lambda: dict(out=_fresh("none"))),
    "save_result": (save_result, lambda: dict(path=_fresh("r.npz"), arrays={"a": np.arange(3)}, meta={"v": 1})),
    "load_result": (load_result, lambda: dict(path=_saved(), kind="aievo.Trajectory")),
    "Trajectory.load": (ae.Trajectory.load, lambda: dict(path=_saved())),
    "Trajectory.save": (lambda path: ae.simulate(ae.chain([1.0, 2.0]), 2).save(path), lambda: dict(path=_fresh("x"))),
    # mesa: tasks
    "sample_regression_tasks": (m.sample_regression_tasks, lambda: dict(rng=0, B=2, d=3, N=4, x_halfwidth=0.5,
                                                                        w_scale=1.0, noise=0.1, n_distract=1)),
    "sample_sine_tasks": (m.sample_sine_tasks, lambda: dict(rng=0, B=2, N=4, amp_range=(0.1, 0.5))),
    "haar_orthogonal": (m.haar_orthogonal, lambda: dict(rng=0, B=2, D=3)),
    "sample_lds": (m.sample_lds, lambda: dict(rng=0, B=2, D=3, T=4, noise=0.01, kind="orthogonal")),
    "observe": (m.observe, lambda: dict(S=_seq(), obs_dim=2, rng=0, obs_noise=0.1)),
    "concat_tokens": (m.concat_tokens, lambda: dict(zip(("X", "y", "xq"), _tasks()[:3]))),
    "construct_full_tokens": (m.construct_full_tokens, lambda: dict(S=_seq())),
    "construct_lag_tokens": (m.construct_lag_tokens, lambda: dict(O=_seq(), k=2)),
    "icl_sequences": (m.icl_sequences, lambda: dict(rng=0, B=2, D=2, n_pairs=3, noise=0.1)),
    # mesa: attention
    "gd_weights": (m.gd_weights, lambda: dict(d=2, N=3, eta=0.1)),
    "gdpp_weights": (m.gdpp_weights, lambda: dict(d=2, N=3, eta=0.1, gamma=0.01)),
    "gd_sequence_weights": (m.gd_sequence_weights, lambda: dict(D=2, eta=0.1)),
    "lsa_layer": (m.lsa_layer, lambda: dict(E=_seq(2, 4, 3), weights=m.gd_weights(2, 3, 0.1), n_context=3)),
    "lsa_forward": (m.lsa_forward, lambda: dict(E=_seq(2, 4, 3), layers=_lsa_layers(), n_context=3)),
    "regression_readout": (m.regression_readout, lambda: dict(E=_seq(2, 4, 3))),
    # mesa: baselines
    "gd_steps": (m.gd_steps, lambda: dict(**dict(zip(("X", "y", "xq"), _tasks()[:3])), eta=0.1, K=2)),
    "gdpp_predict": (m.gdpp_predict, lambda: dict(**dict(zip(("X", "y", "xq"), _tasks()[:3])), etas=0.1,
                                                  gammas=0.01, K=2)),
    "ridge_predict": (m.ridge_predict, lambda: dict(**dict(zip(("X", "y", "xq"), _tasks()[:3])), lam=0.1)),
    "ols_minnorm": (m.ols_minnorm, lambda: dict(zip(("X", "y", "xq"), _tasks()[:3]))),
    "knn_predict": (m.knn_predict, lambda: dict(**dict(zip(("X", "y", "xq"), _tasks()[:3])), k=2)),
    "regression_loss": (m.regression_loss, lambda: dict(yhat=np.ones(3), yq=np.zeros(3))),
    "scan_eta": (m.scan_eta, lambda: dict(zip(("X", "y", "xq", "yq"), _tasks()), grid=np.array([0.1, 0.2]))),
    "gd_sequence_predict": (m.gd_sequence_predict, lambda: dict(S=_seq(), eta=0.1)),
    "lsq_sequence_predict": (m.lsq_sequence_predict, lambda: dict(inputs=_seq(), lam=0.01, chunk=2)),
    "sequence_loss": (m.sequence_loss, lambda: dict(preds=_seq(), targets=_seq())),
    "scan_eta_sequence": (m.scan_eta_sequence, lambda: dict(inputs=_seq(), targets=_seq(),
                                                            grid=np.array([0.1, 0.2]))),
    # mesa: mesa layer
    "mesa_layer": (m.mesa_layer, lambda: dict(K=_seq(), V=_seq(), Q=_seq(), lam=0.1, forget=1.0)),
    "mesa_layer_naive": (m.mesa_layer_naive, lambda: dict(K=_seq(), V=_seq(), Q=_seq(), lam=0.1)),
    # mesa: compressed
    "block_diag_means": (m.block_diag_means, lambda: dict(M=np.ones((4, 4)), D=2)),
    "block_scalar_fraction": (m.block_scalar_fraction, lambda: dict(M=np.ones((4, 4)), D=2)),
    "neumann_inverse": (m.neumann_inverse, lambda: dict(A=_spd(), steps=3, c=0.2)),
    "newton_schulz_inverse": (m.newton_schulz_inverse, lambda: dict(A=_spd(), steps=3)),
    "momentum_inverse": (m.momentum_inverse, lambda: dict(A=_spd(), alphas=[0.2, 0.2], betas=[0.0, 0.1])),
    "richardson_inverse": (m.richardson_inverse, lambda: dict(A=_spd(), omegas=[0.2, 0.3])),
    "chebyshev_inverse": (m.chebyshev_inverse, lambda: dict(A=_spd(), steps=3, lo=1.0, hi=3.0)),
    "prop1_params": (m.prop1_params, lambda: dict(eta=0.1)),
    "revalg_one_layer": (m.revalg_one_layer, lambda: dict(S=_seq(), params=m.prop1_params(0.1))),
    "approx_ridge_sequence_predict": (m.approx_ridge_sequence_predict, lambda: dict(S=_seq(), lam=0.01,
                                                                                    method="neumann", steps=3)),
    # mesa: probes
    "linear_probe": (m.linear_probe, lambda: dict(acts=np.random.default_rng(2).normal(size=(20, 3)),
                                                  target=np.random.default_rng(3).normal(size=(20, 2)))),
    "probe_targets": (m.probe_targets, lambda: dict(inputs=_seq(), targets=_seq(), lam=0.01)),
    "sensitivity": (m.sensitivity, lambda: dict(f=lambda E: E * 2.0, E=_seq(), t=2)),
    "token_binding_probe": (m.token_binding_probe, lambda: dict(acts=_seq(8, 5, 3), S=_seq(8, 5, 2), t=3,
                                                                k_max=2)),
    # mesa: faithfulness
    "lsa_proxies": (m.lsa_proxies, lambda: dict(u=np.ones(3), M=np.eye(3), ranks=(1, 2))),
}

#: functions fuzzed by a second test (kept apart so their counts can be reported separately)
OTHERS: dict[str, tuple[Callable[..., Any], Callable[[], dict[str, Any]]]] = {
    "lineage_exponents": (ae.lineage_exponents, lambda: dict(g=_graph(), rtol=1e-10)),
    "clade_abundance": (ae.clade_abundance, lambda: dict(g=_graph(), times=[1, 2])),
    "price_decomposition": (ae.price_decomposition, lambda: dict(g=_graph(), shares=[0.2, 0.3, 0.5])),
    "rerun": (rerun, lambda: dict(path="no-such-result.npz")),
    "first_difference": (first_difference, lambda: dict(saved={"a": np.arange(3.0)}, regenerated={"a": np.arange(3.0)})),
    "simulate_lazy": (ae.simulate_lazy, lambda: dict(tree=ae.lazy_binary_pm_tree(), generations=3,
                                                     threshold=1e-6, fitness_levels=[1.5])),
}


# ---------------------------------------------------------------------- hostile values
_SCALARS = [
    None, True, False, 0, -1, 1, 3, 1.5, -0.5, 0.0, 2**31, 2**63, 2**64 + 1, 10**30, -(10**30), 10**400,
    math.nan, math.inf, -math.inf, 1e308, 1e200, -1e200, 1e-320, 5e-324, 1 + 2j, 0j, "x", "0.5", "", b"x",
    np.int64(2), np.float32(0.5), np.bool_(True), np.nan, np.complex128(1j), object(), (), [], [[]], {},
    {"a": 1}, [None], [1, "a"], [[1], [1, 2]], np.array([]), np.zeros((0, 3)), np.zeros((2, 0, 3)),
    np.array([np.nan]), np.array([1 + 1j]), np.array(["a"]), np.ones((2, 2, 2, 2)), lambda *a, **k: 1,
    slice(None), Ellipsis,
]


def _mutations(v: Any) -> list[Any]:
    """Hostile variants of a valid argument."""
    try:
        a = np.asarray(v)
    except Exception:  # noqa: BLE001 - not array-like: no mutations
        return []
    if a.dtype.kind not in "iufb" or a.size == 0:
        return []
    a = a.astype(np.float64)
    out = [a * 1e200, a * 1e-300, -a, a + 0j, a.astype(bool), a.astype(str), a.tolist(), a * np.nan]
    if a.ndim:
        b = a.copy()
        b.flat[0] = np.nan
        c = a.copy()
        c.flat[-1] = np.inf
        out += [b, c, a[..., :-1], a[:-1], a.T, a[None], a.ravel(), np.round(a * 1e6) + 0.5]
    return out


def _check(fn: Callable[..., Any], kwargs: dict[str, Any], name: str, arg: str, value: Any,
           where: dict[str, Any] | None = None) -> None:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CALL_LIMIT)
    outcome = "held"
    cwd = os.getcwd()
    os.chdir(_TMP.name)  # relative hostile paths ("x", "0.5") land in the temporary directory
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", getattr(np, "exceptions", np).ComplexWarning)  # numpy < 1.25: np.ComplexWarning
            fn(**kwargs)
    except AievoError:
        pass
    except BaseException as exc:  # noqa: BLE001 - the finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
    if RECORD:
        with open(RECORD, "a", encoding="utf-8") as fh:
            row = {"fn": name, "arg": arg, "value": repr(value)[:120], "outcome": outcome, **(where or {})}
            fh.write(json.dumps(row) + "\n")
        return
    assert outcome == "held", f"{name}({arg}={value!r:.120}) raised {outcome}"


def _fuzz(table: dict, name: str, data: st.DataObject) -> None:
    kwargs = table[name][1]()
    arg = data.draw(st.sampled_from(sorted(kwargs)), label="argument")
    vi = data.draw(st.integers(0, len(_SCALARS) + len(_mutations(kwargs[arg])) - 1), label="value index")
    where = {"vi": vi}
    if name == "load_scenario":  # the hostile value goes into the scenario data instead
        source = _scenario()
        where["table"] = data.draw(st.sampled_from(sorted(source)), label="table")
        where["key"] = data.draw(st.sampled_from(sorted(source[where["table"]]) + ["extra"]), label="key")
    replay(table, name, arg, where)


def replay(table: dict, name: str, arg: str, where: dict[str, Any]) -> None:
    """Make and check one call: ``where`` holds the value index (and, for scenarios, table and key)."""
    fn, factory = table[name]
    kwargs = factory()
    value = (_SCALARS + _mutations(kwargs[arg]))[where["vi"]]
    kwargs[arg] = value
    if name == "load_scenario":
        source = _scenario()
        source[where["table"]][where["key"]] = value
        kwargs = {"source": source}
    _check(fn, kwargs, name, arg, value, where)


_CI = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci"
# the default run: a handful of examples per function keeps the whole file fast
_SETTINGS = settings(
    suppress_health_check=list(HealthCheck), deadline=None, **({"max_examples": 10} if _CI else {})
)


@pytest.mark.parametrize("name", sorted(TARGETS))
@_SETTINGS
@given(data=st.data())
def test_hostile_arguments_give_a_result_or_an_aievo_error(name, data):
    _fuzz(TARGETS, name, data)


@pytest.mark.parametrize("name", sorted(OTHERS))
@_SETTINGS
@given(data=st.data())
def test_hostile_arguments_other_modules(name, data):
    _fuzz(OTHERS, name, data)
