"""Friedman #2 data, the blog protocol against the published averages, metrics and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aievo.errors import InvalidParameterError, ShapeError
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


# --------------------------------------------------------------------------- published values
@pytest.mark.parametrize("name", ["ridge", "knn", "average", "lasso", "bayesian_regression"])
def test_blog_protocol_reproduces_published_average(name):
    """mesa-reference.md section 4.3: the blog's 100-seed averages, to the cent."""
    res = RG.regression_benchmark("original2", [name], seeds=range(100), protocol="blog", progress=False)
    assert round(res.mean_mse[name], 2) == RG.PUBLISHED_BLOG_MSE[name]


def test_blog_protocol_gradient_boosting_near_published():
    """gradient_boosting is not reproducible to the cent: ties between equally good splits (frequent
    in the small nodes of depth-3 trees) are broken by floating-point details that differ between
    machines and scikit-learn builds.  Measured 100-seed averages span 108694.14-110424.57 (this
    package and scikit-learn 1.2-1.9 on two x86-64 machines; docs/regression.md), i.e. 0.0 % to
    +1.6 % of the published 108693.34, so the tolerance is 2 %.  A wrong booster (no shrinkage,
    another depth or loss, features in natural order: 114652.49) falls outside it."""
    res = RG.regression_benchmark("original2", ["gradient_boosting"], seeds=range(100), protocol="blog",
                                  progress=False)
    got = res.mean_mse["gradient_boosting"]
    assert abs(got / RG.PUBLISHED_BLOG_MSE["gradient_boosting"] - 1) < 0.02


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


def test_compare_published_table():
    res = RG.regression_benchmark("original2", ["ridge", "knn", "random"], seeds=range(100), progress=False)
    text = RG.compare_published(res)
    assert "| ridge | 392099.76 | 392099.76 | +0.00 |" in text
    assert "| knn | 1219016.98 | 1219016.98 | +0.00 |" in text
    assert "random" not in text  # no published value
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
