"""Friedman #2 data, the blog protocol against the published averages, metrics and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aievo.errors import InvalidParameterError, ShapeError
from aievo.figures import regression as FR
from aievo.mesa import regression as RG


# --------------------------------------------------------------------------- data
def test_make_friedman2_doctest_values():
    # scikit-learn's doctest: make_friedman2(random_state=42) -> y[:3] = [1229.425, 27.053, 65.652]
    X, y = RG.make_friedman2(random_state=42)
    assert X.shape == (100, 4)
    np.testing.assert_array_equal(np.round(y[:3], 3), [1229.425, 27.053, 65.652])


def test_make_friedman2_formula_and_ranges():
    X, y = RG.make_friedman2(n_samples=500, noise=0.0, random_state=3)
    u = np.random.RandomState(3).uniform(size=(500, 4))  # what the generator draws, in this order
    np.testing.assert_allclose(X[:, 0], 100 * u[:, 0])
    np.testing.assert_allclose(X[:, 1], 40 * np.pi + 520 * np.pi * u[:, 1])
    np.testing.assert_allclose(X[:, 2], u[:, 2])
    np.testing.assert_allclose(X[:, 3], 1 + 10 * u[:, 3])
    expected = [math.hypot(a, b * c - 1 / (b * d)) for a, b, c, d in X]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    _, y_noisy = RG.make_friedman2(n_samples=500, noise=2.0, random_state=3)
    g = np.random.RandomState(3)
    g.uniform(size=(500, 4))
    np.testing.assert_allclose(y_noisy - y, 2.0 * g.standard_normal(500), atol=1e-9)


def test_get_dataset_friedman_2_published_rows():
    Xtr, ytr, Xte, yte = RG.get_dataset_friedman_2(1)
    assert Xtr.shape == (50, 4) and ytr.shape == (50,) and Xte.shape == (1, 4) and yte.shape == (1,)
    np.testing.assert_array_equal(Xte[0], [66.34, 1141.28, 0.11, 10.49])
    assert yte[0] == 146.80
    np.testing.assert_array_equal(Xtr[0], [39.68, 1005.89, 0.42, 7.85])
    assert ytr[0] == 423.53


def test_get_dataset_friedman_2_split_is_a_permutation():
    X, y = RG.make_friedman2(51, 0.0, 7)
    perm = np.random.RandomState(7).permutation(51)
    Xtr, ytr, Xte, yte = RG.get_dataset_friedman_2(7)
    np.testing.assert_array_equal(Xte[0], np.round(X[perm[0]], 2))
    np.testing.assert_array_equal(ytr, np.round(y[perm[1:]], 2))


def test_get_original2_formula_and_sequential_split():
    Xtr, ytr, Xte, yte = RG.get_original2(5)
    assert Xtr.shape == (64, 4) and Xte.shape == (32, 4)
    u = np.random.RandomState(5).uniform(size=(96, 4))
    x = np.column_stack([3 * u[:, 0], 4 * np.pi + 52 * np.pi * u[:, 1], 2 * u[:, 2], 1 + 10 * u[:, 3]])
    y = [(a**4 + (b * c - 2 / (math.sqrt(b) * math.sqrt(d))) ** 2) ** 0.75 for a, b, c, d in x]
    np.testing.assert_allclose(np.vstack([Xtr, Xte]), x, rtol=1e-15)
    np.testing.assert_allclose(np.concatenate([ytr, yte]), y, rtol=1e-12)
    Xr, yr, _, _ = RG.get_original2(5, max_train=10, max_test=3, round=True, round_value=1)
    np.testing.assert_array_equal(Xr, np.round(x[:10], 1))


def test_slice_dataset_and_prompt():
    Xtr = np.array([[1.23456, 2.0], [3.0, 4.5]])
    ytr = np.array([10.0, 20.12345])
    Xte = np.array([[5.0, 6.0], [7.0, 8.0]])
    a, b, c, d = RG.slice_dataset(Xtr, ytr, Xte, np.array([1.0, 2.0]), 1)
    assert a.shape == (1, 2) and b.shape == (1,) and c.shape == (1, 2) and d.shape == (1,)
    text = RG.prepare_prompt(Xtr, ytr, Xte)
    expected = (
        'The task is to provide your best estimate for "Output". Please provide that and only that, '
        "without any additional text.\n\n\n\n\n"
        "Feature 0: 1.235\nFeature 1: 2.0\nOutput: 10.0\n\n"
        "Feature 0: 3.0\nFeature 1: 4.5\nOutput: 20.123\n\n"
        "Feature 0: 5.0\nFeature 1: 6.0\nOutput: "
    )
    assert text == expected


def test_data_argument_errors():
    with pytest.raises(InvalidParameterError, match="random_state="):
        RG.make_friedman2(10, 0.0, -1)
    with pytest.raises(InvalidParameterError, match="noise="):
        RG.make_friedman2(10, -1.0, 0)
    with pytest.raises(InvalidParameterError, match="max_train="):
        RG.get_original2(1, max_train=0)
    with pytest.raises(ShapeError):
        RG.slice_dataset(np.zeros((3, 2)), np.zeros(2), np.zeros((1, 2)), np.zeros(1), 2)


def test_get_original2_labels_are_the_published_scalar_arithmetic():
    """Bit for bit what the blog computed: one row at a time in numpy scalars (C pow), not SIMD."""
    for seed in (0, 17, 99):
        Xtr, ytr, Xte, yte = RG.get_original2(seed)
        rows = np.vstack([Xtr, Xte])
        expected = [(r[0] ** 4 + (r[1] * r[2] - 2 / (np.sqrt(r[1]) * np.sqrt(r[3]))) ** 2) ** 0.75 for r in rows]
        np.testing.assert_array_equal(np.concatenate([ytr, yte]), expected)


# --------------------------------------------------------------------------- published values
FAST_DETERMINISTIC = [m for m in RG.DETERMINISTIC if m != "bayesian_regression"]


def _mean_mse(names, seeds=range(100)):
    return RG.regression_benchmark("original2", list(names), seeds=seeds, protocol="blog", progress=False).mean_mse


@pytest.mark.parametrize("name", FAST_DETERMINISTIC)
def test_blog_protocol_deterministic_rows_to_the_cent(name):
    """The blog's 100-seed averages of the rows that do not depend on rounding, to the cent
    (bayesian_regression, about 1 s a seed, is in the slow test below)."""
    pytest.importorskip("sklearn")
    assert round(_mean_mse([name])[name], 2) == RG.PUBLISHED_BLOG_MSE[name]


@pytest.mark.slow
def test_blog_protocol_bayesian_regression_to_the_cent():
    pytest.importorskip("sklearn")
    assert round(_mean_mse(["bayesian_regression"])["bayesian_regression"], 2) == 27759.76


#: the blog's estimators for the rows whose 100-seed mean depends on the machine (class path, arguments)
_MLP = {"activation": "relu", "solver": "lbfgs"}
BLOG_ESTIMATORS = {
    "mlp_uat_1": [("neural_network.MLPRegressor", dict(hidden_layer_sizes=(10,), **_MLP))],
    "mlp_uat_2": [("neural_network.MLPRegressor", dict(hidden_layer_sizes=(100,), **_MLP))],
    "mlp_uat_3": [("neural_network.MLPRegressor", dict(hidden_layer_sizes=(1000,), **_MLP))],
    "mlp_deep1": [("neural_network.MLPRegressor", dict(hidden_layer_sizes=(10, 10), **_MLP))],
    "mlp_deep2": [("neural_network.MLPRegressor", dict(hidden_layer_sizes=(10, 20, 10), **_MLP))],
    "mlp_deep3": [("neural_network.MLPRegressor", dict(hidden_layer_sizes=(10, 20, 30, 20, 10), **_MLP))],
    "random_forest": [("ensemble.RandomForestRegressor", {"max_depth": 3})],
    "bagging": [("ensemble.BaggingRegressor", {})],
    "gradient_boosting": [("ensemble.GradientBoostingRegressor", {})],
    "adaboost": [("ensemble.AdaBoostRegressor", {"n_estimators": 100})],
    "bayesian_regression": [("preprocessing.PolynomialFeatures", {"degree": 10, "include_bias": False}),
                            ("preprocessing.StandardScaler", {}), ("linear_model.BayesianRidge", {})],
}


def _blog_estimator(name, seed):
    import importlib

    from sklearn.pipeline import make_pipeline

    steps = []
    for path, kw in BLOG_ESTIMATORS[name]:
        mod, cls = path.rsplit(".", 1)
        cls = getattr(importlib.import_module("sklearn." + mod), cls)
        steps.append(cls(**kw, **({"random_state": seed} if "random_state" in cls().get_params() else {})))
    return steps[0] if len(steps) == 1 else make_pipeline(*steps)


@pytest.mark.parametrize("name", list(BLOG_ESTIMATORS))
def test_blog_protocol_rows_are_scikit_learn_on_the_blogs_inputs(name):
    """Per seed (one or two seeds), the benchmark's MSE is that of the blog's estimator built here from
    scikit-learn and called on the blog's DataFrame layout (column-major) on this machine: the
    oracle for the rows whose 100-seed mean is machine-dependent."""
    pytest.importorskip("sklearn")
    import warnings

    seeds = [0] if name in ("mlp_uat_3", "mlp_deep3", "adaboost", "random_forest") else [0, 1]  # the slowest
    res = RG.regression_benchmark("original2", [name], seeds=seeds, protocol="blog", progress=False)
    for i, seed in enumerate(seeds):
        Xtr, ytr, Xte, yte = RG.get_original2(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = _blog_estimator(name, seed).fit(np.asfortranarray(Xtr), ytr).predict(np.asfortranarray(Xte))
        assert res.table("mse")[name][i] == np.mean((pred - yte) ** 2)


#: how far outside the measured cross-environment range a new machine may land (relative):
#: tree ensembles move by ~1-2 % between environments (ties between equally good splits broken by
#: rounding); the lbfgs MLPs are chaotic in rounding and a few seeds carry most of each mean, so an
#: unmeasured BLAS kernel can move a mean by a large factor -- for them the check is only that the
#: mean is of the measured order (a factor 10 either way)
FLOAT_TOLERANCE = {m: (10.0 if m.startswith("mlp_") else 0.02) for m in RG.FLOAT_SENSITIVE}


@pytest.mark.slow
def test_blog_protocol_float_sensitive_rows_within_measured_range():
    pytest.importorskip("sklearn")
    summary = RG.reproducibility_summary()
    got = _mean_mse(RG.FLOAT_SENSITIVE)
    for m, v in got.items():
        lo, hi = summary["methods"][m]["min_mean"], summary["methods"][m]["max_mean"]
        tol = FLOAT_TOLERANCE[m]
        if tol >= 1:
            assert lo / tol <= v <= hi * tol, (m, v, lo, hi)
        else:
            assert lo * (1 - tol) <= v <= hi * (1 + tol), (m, v, lo, hi)


def _is_blog_pinned_environment() -> bool:
    import os

    try:
        import scipy
        import sklearn
    except ImportError:
        return False
    return (np.__version__, scipy.__version__, sklearn.__version__) == ("1.26.4", "1.14.1", "1.6.0") and \
        os.environ.get("OPENBLAS_CORETYPE", "").lower() == "haswell"


@pytest.mark.slow
@pytest.mark.skipif(not _is_blog_pinned_environment(),
                    reason="needs the blog's pinned numpy 1.26.4, scipy 1.14.1, scikit-learn 1.6.0 and "
                           "OPENBLAS_CORETYPE=Haswell (benchmarks/regression_reproducibility.py builds it)")
def test_blog_pinned_environment_reproduces_the_published_table():
    """In the blog's own versions with AVX2 (Haswell) BLAS kernels every published average is
    reproduced to the cent except mlp_uat_3's (see docs/regression.md)."""
    got = _mean_mse(RG.BLOG_REGRESSORS)
    off = {m for m, v in got.items() if round(v, 2) != RG.PUBLISHED_BLOG_MSE[m]}
    assert off == {"mlp_uat_3"}


def test_reproducibility_summary_brackets_the_published_tree_rows():
    """The study's recorded ranges: every deterministic row the same in every run (per seed to a
    relative 1e-9: BLAS and LAPACK builds differ in the last bits) and equal to the published value;
    the tree ensembles' published values inside their measured range."""
    summary = RG.reproducibility_summary()
    assert len(summary["runs"]) >= 2 and summary["n_seeds"] == 100
    for m in RG.DETERMINISTIC:
        row = summary["methods"][m]
        assert row["max_rel_seed_diff"] < 1e-9
        assert round(row["min_mean"], 2) == round(row["max_mean"], 2) == RG.PUBLISHED_BLOG_MSE[m]
    for m in ("gradient_boosting", "adaboost", "bagging", "random_forest"):
        row = summary["methods"][m]
        assert row["min_mean"] - 0.005 <= RG.PUBLISHED_BLOG_MSE[m] <= row["max_mean"] + 0.005


# --------------------------------------------------------------------------- protocols and metrics
def test_metrics_against_formulas():
    yt = np.array([1.0, 2.0, 4.0])
    yp = np.array([2.0, 2.0, 1.0])
    m = RG.regression_metrics(yt, yp)
    assert m["mse"] == pytest.approx(10 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(10 / 3))
    assert m["mae"] == pytest.approx(4 / 3)
    assert m["bias"] == pytest.approx(-2 / 3)
    assert m["max_error"] == 3.0
    assert m["r2"] == pytest.approx(1 - 10 / (14 / 3))
    assert math.isnan(RG.regression_metrics([1.0], [2.0])["r2"])


def test_consistent_protocol_scores_first_rows_and_first_test_row():
    pytest.importorskip("sklearn")
    res = RG.regression_benchmark("original2", ["ridge", "last"], seeds=[3, 8], seq_len=10,
                                  protocol="consistent", progress=False)
    for s_idx, seed in enumerate([3, 8]):
        Xtr, ytr, Xte, yte = RG.get_original2(seed)
        X, y = Xtr[:10], ytr[:10]
        A = np.hstack([np.ones((10, 1)), X])
        beta = np.linalg.solve(A.T @ A + np.diag([0, 1, 1, 1, 1.0]), A.T @ y)
        pred = beta[0] + Xte[0] @ beta[1:]
        assert res.table("mse")["ridge"][s_idx] == pytest.approx((pred - yte[0]) ** 2, rel=1e-9)
        assert res.table("mse")["last"][s_idx] == pytest.approx((y[-1] - yte[0]) ** 2)
        assert res.table("max_error")["last"][s_idx] == pytest.approx(abs(y[-1] - yte[0]))
    assert res.predictions.shape == (2, 2, 1)


def test_blog_protocol_per_seed_table_and_outputs(tmp_path):
    from aievo.io import load_result

    res = RG.regression_benchmark("original2", ["average", lambda X, y, Q: np.full(len(Q), np.median(y))],
                                  seeds=range(4), progress=False)
    assert res.methods == ["average", "<lambda>"]
    for s in range(4):
        Xtr, ytr, Xte, yte = RG.get_original2(s)
        err = ytr.mean() - yte
        assert res.table("mse")["average"][s] == pytest.approx(np.mean(err**2))
        assert res.table("bias")["average"][s] == pytest.approx(np.mean(err))
        assert res.table("r2")["average"][s] == pytest.approx(1 - np.sum(err**2) / np.sum((yte - yte.mean()) ** 2))
    md = res.to_markdown()
    row = [c.strip() for c in md.split("| average |")[1].split("\n")[0].split("|")]
    assert row[0] == f"{np.mean(res.table('mse')['average']):.2f}"
    assert row[-2] == "1697294.74"  # the published 100-seed average, shown alongside
    arrays, meta = load_result(res.save(tmp_path / "bench"))
    np.testing.assert_array_equal(arrays["metrics"], res.metrics)
    assert meta["methods"] == res.methods and meta["protocol"] == "blog"


def test_friedman2_dataset_and_benchmark_errors():
    pytest.importorskip("sklearn")
    res = RG.regression_benchmark("friedman2", ["ridge"], seeds=[1], progress=False)
    Xtr, ytr, Xte, yte = RG.get_dataset_friedman_2(1)
    A = np.hstack([np.ones((50, 1)), Xtr])
    beta = np.linalg.solve(A.T @ A + np.diag([0, 1, 1, 1, 1.0]), A.T @ ytr)
    assert res.mean_mse["ridge"] == pytest.approx((beta[0] + Xte[0] @ beta[1:] - yte[0]) ** 2, rel=1e-8)
    with pytest.raises(InvalidParameterError, match="dataset="):
        RG.regression_benchmark("iris")
    with pytest.raises(InvalidParameterError, match="protocol="):
        RG.regression_benchmark(protocol="fair")
    with pytest.raises(InvalidParameterError, match="regressors="):
        RG.regression_benchmark(regressors=["nope"])
    with pytest.raises(InvalidParameterError, match="regressors="):
        RG.regression_benchmark(regressors=["ridge", "ridge"])


def test_cli_regress(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from aievo.cli import main

    md = tmp_path / "t.md"
    code = main(["regress", "--seeds", "100", "--regressors", "ridge,knn", "--markdown", str(md),
                 "--output", str(tmp_path / "r"), "--figure", str(tmp_path / "f.png")])
    assert code == 0
    out = capsys.readouterr().out
    assert "| ridge | 392099.76 |" in out and "| knn | 1219016.98 |" in out
    assert md.read_text() in out
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "r.npz").exists()
    assert main(["regress", "--seeds", "3", "--protocol", "consistent", "--regressors", "average"]) == 0


def test_cli_regress_figure_is_written_atomically(tmp_path, monkeypatch):
    """A figure write that fails half-way leaves the previous PNG whole (exit status 2, one line)."""
    from matplotlib.figure import Figure

    from aievo.cli import main

    png = tmp_path / "f.png"
    assert main(["regress", "--seeds", "2", "--regressors", "average", "--figure", str(png)]) == 0
    good = png.read_bytes()

    def broken_savefig(self, fh, **kwargs):
        fh.write(b"\x89PNG half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    assert main(["regress", "--seeds", "2", "--regressors", "average", "--figure", str(png)]) == 2
    assert png.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # no temporary file left behind


def test_compare_published_table():
    pytest.importorskip("sklearn")
    res = RG.regression_benchmark("original2", ["ridge", "knn", "random"], seeds=range(100), progress=False)
    text = RG.compare_published(res)
    assert "| ridge | 392099.76 | 392099.76 | +0.00 |" in text
    assert "| knn | 1219016.98 | 1219016.98 | +0.00 |" in text
    assert "| random | 3299958.61 | 3299958.61 | +0.00 |" in text
    with pytest.raises(InvalidParameterError, match="result="):
        RG.compare_published(RG.regression_benchmark("original2", ["ridge"], seeds=range(3), progress=False))


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(st.lists(st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)), min_size=1, max_size=40))
def test_metric_invariants(pairs):
    yt, yp = (np.array(v) for v in zip(*pairs))
    m = RG.regression_metrics(yt, yp)
    assert m["rmse"] == pytest.approx(math.sqrt(m["mse"]))
    assert abs(m["bias"]) <= m["mae"] * (1 + 1e-12) + 1e-12
    assert m["mae"] <= m["rmse"] * (1 + 1e-12) + 1e-12
    assert m["rmse"] <= m["max_error"] * (1 + 1e-12) + 1e-12


def test_regress_figure_draws_published_beside_measured_range():
    pytest.importorskip("sklearn")
    fig = FR.regress_figure(quick=True)
    ax = fig.axes[0]
    lines = {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}
    names = sorted(RG.BLOG_REGRESSORS, key=RG.PUBLISHED_BLOG_MSE.get)
    np.testing.assert_array_equal(lines["published"].get_xdata(), [RG.PUBLISHED_BLOG_MSE[m] for m in names])
    summary = RG.reproducibility_summary()
    for m in names:
        lo, hi = lines[f"range-{m}"].get_xdata()
        assert (lo, hi) == (summary["methods"][m]["min_mean"], summary["methods"][m]["max_mean"])
    assert [t.get_text() for t in ax.get_yticklabels()] == names


# --------------------------------------------------------------------------- the recorded panel (b)
def _panel_b_means(fig) -> dict[str, float]:
    bx = fig.axes[2]
    (means,) = [ln for ln in bx.get_lines() if ln.get_marker() == "D"]
    names = [t.get_text() for t in bx.get_yticklabels()]
    return dict(zip(names, means.get_xdata()))


def test_regress_figure_draws_the_recorded_consistent_protocol_result():
    rec = RG.figure_result()
    assert rec.dataset == "original2" and rec.protocol == "consistent" and rec.seq_len == 25
    assert rec.methods == list(RG.FIGURE_METHODS)
    np.testing.assert_array_equal(rec.seeds, np.arange(100))
    assert rec.metrics.shape == (len(RG.FIGURE_METHODS), 100, len(RG.METRICS))
    # the plotted seed means are the recorded ones
    drawn = _panel_b_means(FR.regress_figure())
    assert set(drawn) == set(RG.FIGURE_METHODS)
    for m, v in drawn.items():
        assert v == pytest.approx(rec.mean_mse[m], rel=1e-12)
    # independent check of the record: deterministic rows recomputed now on 10 seeds, to rounding
    pytest.importorskip("sklearn")
    # (closed-form fits: only BLAS summation order can differ, far below 1e-9 relative)
    cheap = ["ridge", "knn", "average", "random", "icl_gd_1step", "icl_ridge"]
    now = RG.regression_benchmark("original2", cheap, seeds=range(10), protocol="consistent", progress=False)
    for i, m in enumerate(cheap):
        np.testing.assert_allclose(now.metrics[i, :, 0], rec.metrics[rec.methods.index(m), :10, 0], rtol=1e-9)


@pytest.mark.slow
def test_recomputing_the_regress_figure_result_reproduces_the_record():
    pytest.importorskip("sklearn")
    rec = RG.figure_result()
    new = RG.figure_result(recompute=True)
    assert new.methods == rec.methods
    for i, m in enumerate(rec.methods):
        if m == "icl_lsa":
            # the LSA is trained by 3000 Adam steps in float64: BLAS rounding differences between
            # machines move its weights slightly, never its 100-seed mean MSE by more than 0.1 %
            assert new.mean_mse[m] == pytest.approx(rec.mean_mse[m], rel=1e-3)
        else:
            # closed-form or iterative-to-convergence fits on identical data (bayesian_regression is a
            # DETERMINISTIC row of the reproducibility study): per-seed MSEs to 1e-6 relative
            np.testing.assert_allclose(new.metrics[i, :, 0], rec.metrics[i, :, 0], rtol=1e-6, err_msg=m)
