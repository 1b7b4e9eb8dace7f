"""Every bad input a clear AievoError: the red team's reproducers, one test each.

Each of these failed before: a crash, a hang, a silently truncated value, a
ComplexWarning, or an exception that was not an AievoError.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import warnings

import networkx as nx
import numpy as np
import pytest

import aievo as ae
import aievo._validate as V
from aievo.errors import (
    AievoError,
    InvalidFitnessError,
    InvalidKernelError,
    InvalidParameterError,
    InvalidTreeError,
    NumericalRangeError,
    ScenarioError,
)


@pytest.fixture(autouse=True)
def _complex_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", getattr(np, "exceptions", np).ComplexWarning)  # numpy < 1.25: np.ComplexWarning
        yield


# ---------------------------------------------------------------------- crashes
def test_parent_out_of_range_is_refused_not_a_segfault():
    with pytest.raises(InvalidTreeError, match="parent"):
        ae.simulate(ae.DesignGraph([1.0, 2.0], [[0.5, 0.5], [0, 1]], parent=[5, 7]), 3)


def test_parent_contradicting_T_is_refused():
    # T: 0 -> 1, 0 -> 2, 1 -> 2; parent says 2 is designed by 1 only, but 0 designs it too
    T = [[0.0, 0.5, 0.5], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]]
    with pytest.raises(InvalidTreeError, match=r"parent\[2\]=1 contradicts T\[0, 2\]"):
        ae.DesignGraph([1.0, 2.0, 3.0], T, parent=[-1, 0, 1])
    with pytest.raises(InvalidTreeError, match=r"parent\[1\]=-1 contradicts T\[0, 1\]"):
        ae.DesignGraph([1.0, 2.0], [[0.5, 0.5], [0, 1]], parent=[1, -1])
    g = ae.DesignGraph([1.0, 2.0, 3.0], [[0.0, 0.5, 0.5], [0, 1, 0], [0, 0, 1]], parent=[-1, 0, 0])
    np.testing.assert_allclose(ae.simulate(g, 2).shares, [0.0, 0.4, 0.6])  # (0.5*2, 0.5*3) normalised


def test_lazy_rule_overflowing_max_children_is_an_error_not_heap_corruption():
    code = textwrap.dedent(
        """
        import numba, aievo as ae, aievo.lazy as lz

        @numba.njit
        def rule(state, depth, params, cs, cf, cp, cb):
            for j in range(200000):
                cs[j, 0] = 1.0
                cf[j] = 1.0
                cp[j] = 1.0 / 200000
                cb[j] = 1.0
            return 200000

        try:
            lz.simulate_lazy(lz.LazyTree(rule, [1.0], 1.0, f_max=2.0, max_children=1), 3)
        except ae.errors.InvalidKernelError as exc:
            print("refused:", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused:" in out.stdout and "max_children=1" in out.stdout


def test_lazy_rule_with_the_wrong_signature():
    import numba

    @numba.njit
    def rule(state, depth):
        return 0

    tree = ae.LazyTree(rule, [1.0], 1.0, f_max=2.0, max_children=1)
    with pytest.raises(InvalidParameterError, match="rule"):
        ae.simulate_lazy(tree, 2)


# ---------------------------------------------------------------------- sizes: no hang, no overflow
@pytest.mark.parametrize(
    "call",
    [
        lambda: ae.kary_tree(3, 10**8, lambda pf, j, d: pf),
        lambda: ae.binary_pm_tree(10**12),
        lambda: ae.random_tree(10**9),
        lambda: ae.lattice(10**12, 1.0, 0.1),
        lambda: ae.unfold(ae.type_graph([1.0], [[1.0]]), 10**9),
        lambda: ae.simulate(ae.chain([1.0, 2.0]), 10**15),
    ],
    ids=["kary_1e8", "binary_1e12", "random_1e9", "lattice_1e12", "unfold_1e9", "generations_1e15"],
)
def test_absurd_sizes_fail_at_once(call):
    start = time.perf_counter()
    with pytest.raises(InvalidParameterError):
        call()
    assert time.perf_counter() - start < 2.0


def test_one_memory_rule_for_api_and_toml_naming_aievo_lazy(monkeypatch):
    monkeypatch.setattr(V, "available_memory", lambda: 10**8 * V.BYTES_PER_TREE_PROGRAM)  # 1e8 programs
    with pytest.raises(InvalidParameterError, match=r"134217727 programs.*aievo\.lazy"):
        ae.binary_pm_tree(26)
    with pytest.raises(ScenarioError, match=r"graph\.depth.*134217727 programs.*aievo\.lazy"):
        ae.load_scenario({"scenario": {"generations": 1}, "graph": {"kind": "binary_pm_tree", "depth": 26}})
    with pytest.raises(ScenarioError, match=r"graph\.depth.*aievo\.lazy"):
        ae.load_scenario({"scenario": {"generations": 1},
                          "graph": {"kind": "kary_tree", "k": 3, "depth": 100_000_000,
                                    "fitness": {"rule": "constant", "value": 1.0}}})
    monkeypatch.setattr(V, "available_memory", lambda: 4096 * V.BYTES_PER_TREE_PROGRAM)  # 4096 programs
    assert ae.binary_pm_tree(10).n == 2047
    with pytest.raises(InvalidParameterError, match="fits in memory"):
        ae.binary_pm_tree(12)


def test_kary_size_matches_the_closed_form():
    for k in (1, 2, 3, 7):
        for depth in range(6):
            assert V.kary_size(k, depth) == sum(k**i for i in range(depth + 1))
    assert V.kary_size(3, 10**8) is None


# ---------------------------------------------------------------------- no silent truncation
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda g: ae.DesignGraph.from_matrix([1.0, 2.0], [[0.5, 0.5], [0, 1]], root=1.5), "root=1.5"),
        (lambda g: ae.DesignGraph.from_matrix([1.0, 2.0], [[0.5, 0.5], [0, 1]], root=None), "root=None"),
        (lambda g: ae.simulate(g, 5, record_shares=[1.5]), "record_shares"),
        (lambda g: ae.simulate(g, 5, record_shares=5), "record_shares=5"),
        (lambda g: ae.simulate(g, 5, sets={"s": [1.7]}), "sets"),
        (lambda g: ae.simulate(g, 5, initial=True), "initial=True"),
        (lambda g: ae.simulate(g, 5, initial=1.0), "initial=1.0"),
        (lambda g: ae.with_locking(g, "0.5"), "eta='0.5'"),
        (lambda g: ae.with_locking(g, True), "eta=True"),
        (lambda g: ae.with_preservation(g, 0.5 + 0j), "eta="),
        (lambda g: ae.simulate(g, 5, population=10, rng=-1), "rng=-1"),
        (lambda g: ae.simulate(g, 5, population=True), "population=True"),
        (lambda g: ae.unfold(ae.type_graph([1.0, 2.0], [[0.5, 0.5], [0, 1]]), 3, root=99), "root=99"),
        (lambda g: ae.with_locking("x", 0.5), "g="),
        (lambda g: ae.chain(["a", "b"]), "fitness"),
        (lambda g: ae.random_tree(5, rng=1.5), "rng=1.5"),
        (lambda g: ae.lattice(3, [1.0, 2.0, 3.0], 0.1, start=1.0), "start=1.0"),
    ],
)
def test_values_are_never_truncated(call, name):
    g = ae.chain([1.0, 2.0, 3.0])
    with pytest.raises(AievoError) as info:
        call(g)
    assert name in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ae.DesignGraph.from_matrix([1.0, 2.0 + 1j], [[0.5, 0.5], [0, 1]]),
        lambda: ae.DesignGraph.from_matrix([1.0, 2.0], np.array([[0.5, 0.5], [0, 1]], dtype=complex)),
        lambda: ae.DesignGraph.tree([-1, 0], [1.0, 2.0], [0.0, 1.0 + 0j]),
        lambda: ae.simulate(ae.chain([1.0, 2.0]), 3, initial=np.array([1.0, 0.0], dtype=complex)),
        lambda: ae.simulate(ae.chain([1.0, 2.0]), 3, traits={"t": [1j, 0.0]}),
        lambda: ae.human_judged_fitness([1.0 + 0j], [0.0]),
        lambda: ae.mesa.ridge_predict(np.ones((1, 3, 2)) + 0j, np.ones((1, 3)), np.ones((1, 2)), 0.1),
        lambda: ae.mesa.gd_steps(np.ones((1, 3, 2)), np.ones((1, 3)) * 1j, np.ones((1, 2)), 0.1),
        lambda: ae.mesa.mesa_layer(np.ones((1, 3, 2)), np.ones((1, 3, 2)), np.ones((1, 3, 2)) + 0j, 0.1),
    ],
)
def test_complex_input_is_refused_without_a_complex_warning(call):
    with pytest.raises(AievoError):
        call()


def test_networkx_edge_probability_that_is_not_a_number():
    G = nx.DiGraph()
    G.add_node("a", fitness=1.0)
    G.add_node("b", fitness=2.0)
    G.add_edge("a", "b", p="abc")
    G.add_edge("b", "b", p=1.0)
    with pytest.raises(InvalidKernelError, match="edge attribute 'p'"):
        ae.DesignGraph.from_networkx(G)
    G.add_edge("a", "b", p=1.0)
    with pytest.raises(InvalidParameterError, match="root"):
        ae.DesignGraph.from_networkx(G, root=["unhashable"])


def test_fitness_rule_returning_complex_values():
    with pytest.raises(InvalidFitnessError, match="fitness_rule"):
        ae.kary_tree(2, 2, lambda pf, j, d: pf + 1j)


# ---------------------------------------------------------------------- mesa scale
@pytest.mark.parametrize("scale", [1.0, 1e200])
def test_mesa_results_are_finite_or_a_numerical_range_error(scale):
    rng = np.random.default_rng(0)
    X, y, xq, yq, w = ae.mesa.sample_regression_tasks(rng, 2, 3, 6)
    S = rng.normal(size=(2, 6, 3))
    E = ae.mesa.concat_tokens(X, y, xq)
    calls = [
        lambda: ae.mesa.ridge_predict(X * scale, y * scale, xq * scale, 0.1),
        lambda: ae.mesa.gd_steps(X * scale, y * scale, xq * scale, 0.1, 3),
        lambda: ae.mesa.lsa_forward(E * scale, [ae.mesa.gd_weights(3, 6, 0.1)], n_context=6),
        lambda: ae.mesa.lsq_sequence_predict(S * scale, 1e-3),
        lambda: ae.mesa.mesa_layer(S * scale, S * scale, S * scale, 0.1),
        lambda: ae.mesa.ols_minnorm(X * scale, y * scale, xq * scale),
    ]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning escapes either
            try:
                out = call()
            except NumericalRangeError as exc:
                assert scale > 1 and "rescale" in str(exc)
                continue
        assert np.all(np.isfinite(out))
    if scale == 1.0:  # an independent oracle at ordinary scale: ridge in closed form
        A = X[0].T @ X[0] + 0.1 * np.eye(3)
        expect = xq[0] @ np.linalg.solve(A, X[0].T @ y[0])
        assert abs(ae.mesa.ridge_predict(X, y, xq, 0.1)[0] - expect) < 1e-10


def test_mesa_sizes_and_steps_are_bounded():
    with pytest.raises(InvalidParameterError, match="memory"):
        ae.mesa.sample_regression_tasks(0, 10**9, 10**3, 10**3)
    with pytest.raises(InvalidParameterError, match="steps"):
        ae.mesa.chebyshev_inverse(np.eye(2), 10**49, 0.5, 2.0)
    with pytest.raises(InvalidParameterError, match="method"):
        ae.mesa.approx_ridge_sequence_predict(np.ones((1, 3, 2)), method=np.zeros((0, 3)))


def test_other_modules_hostile_inputs_found_by_the_fuzzer():
    """Reproducers the fuzzer found in lineage, Price and lazy trees, each an AievoError now."""
    g = ae.chain([1.0, 2.0, 0.5])
    with pytest.raises(ae.AievoError, match="rtol"):
        ae.lineage_exponents(g, rtol=None)
    with pytest.raises(ae.AievoError, match="shares"):
        ae.price_decomposition(g, [0.2, 0.3, 0.5j])
    with pytest.raises(ae.AievoError, match="times"):
        ae.clade_abundance(g, [[1], [1, 2]])
    with pytest.raises(ae.AievoError, match="times"):
        ae.clade_abundance(g, 2**31)  # would run for minutes: refused with a pointer to the exponents
    with pytest.raises(ae.AievoError, match="fitness_levels"):
        ae.simulate_lazy(ae.lazy_binary_pm_tree(), 3, fitness_levels=[[1], [1, 2]])
    tr = ae.simulate_lazy(ae.lazy_binary_pm_tree(), 3, threshold=1e-320, fitness_levels=[1.5])
    assert tr.mean_fitness.shape == (4,)


def test_regression_and_training_reproducers():
    """The red team's regress and train_lsa inputs: an immediate error, never a hang, a wrong record or NaN."""
    import aievo.mesa as m
    from aievo.cli import main

    start = time.perf_counter()
    assert main(["regress", "--seeds", "1180591620717411303424", "--regressors", "average"]) == 2
    assert time.perf_counter() - start < 10
    with pytest.raises(ae.AievoError, match="seq_len"):  # 64 training rows: a longer context cannot be fitted
        m.regression_benchmark("original2", ["average"], seeds=range(2), seq_len=1000000, protocol="consistent")
    try:
        import jax  # noqa: F401
    except ImportError:  # training needs the jax extra, and says so
        jax = None
    if jax is None:
        with pytest.raises(ae.MissingExtraError, match=r"aievo\[jax\]"):
            m.train_lsa(lr=1e300, steps=3, eval_tasks=100, batch=16)
    else:
        with pytest.raises(ae.NumericalRangeError, match="lr=1e"):
            m.train_lsa(lr=1e300, steps=3, eval_tasks=100, batch=16)
