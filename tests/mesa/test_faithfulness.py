"""Faithfulness study: proxies against closed forms (GD, SVD, exact constructions)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa import faithfulness as F


def _random_params(seed: int, d: int = 4, scale: float = 0.5):
    g = np.random.default_rng(seed)
    return {k: g.normal(0, scale, size=(d + 1, d + 1)) for k in ("Wq", "Wk", "Wv", "P")}


def _gd_params(d: int, eta_over_N: float):
    """Proposition-1 construction: W_Q = W_K = I_x (+) 0, W_V = [[0, 0], [0, -1]], P = diag(0, eta/N)."""
    Wq = np.zeros((d + 1, d + 1))
    Wq[:d, :d] = np.eye(d)
    Wv = np.zeros((d + 1, d + 1))
    Wv[d, d] = -1.0
    P = np.zeros((d + 1, d + 1))
    P[d, d] = eta_over_N
    return {"Wq": Wq, "Wk": Wq.copy(), "Wv": Wv, "P": P}


@given(st.integers(0, 2**31 - 1))
def test_effective_predict_matches_lsa_layer(seed):
    from aievo.mesa.train import lsa_predict

    p = _random_params(seed)
    g = np.random.default_rng(seed + 1)
    X, y, xq = g.normal(size=(6, 5, 4)), g.normal(size=(6, 5)), g.normal(size=(6, 4))
    u, M = F.lsa_effective(p)
    np.testing.assert_allclose(F.lsa_effective_predict(u, M, X, y, xq), lsa_predict(p, X, y, xq), rtol=1e-10,
                               atol=1e-12)


def test_lowrank_against_svd():
    g = np.random.default_rng(0)
    A = g.normal(size=(7, 5))
    for r in range(6):
        Ar = F.lowrank(A, r)
        assert np.linalg.matrix_rank(Ar, tol=1e-10) == r
        s, sr = np.linalg.svd(A, compute_uv=False), np.linalg.svd(Ar, compute_uv=False)
        np.testing.assert_allclose(sr[:r], s[:r], rtol=1e-10)
        # Eckart-Young: the error is the norm of the dropped singular values
        assert np.linalg.norm(A - Ar) == pytest.approx(math.sqrt(np.sum(s[r:] ** 2)), abs=1e-12)
    with pytest.raises(InvalidParameterError, match="rank="):
        F.lowrank(A, 6)


def test_compressed_proxy_is_one_gd_step():
    from aievo.mesa.baselines import gd_steps

    d, N = 4, 6
    p = _random_params(3, d)
    u, M = F.lsa_effective(p)
    uc, Mc = F.lsa_proxies(u, M, ranks=())["compressed"]
    step = -u[-1] * np.mean(np.diag(M)[:d])
    g = np.random.default_rng(4)
    X, y, xq = g.normal(size=(9, N, d)), g.normal(size=(9, N)), g.normal(size=(9, d))
    np.testing.assert_allclose(F.lsa_effective_predict(uc, Mc, X, y, xq), gd_steps(X, y, xq, eta=step * N, K=1),
                               rtol=1e-10)


def test_gd_construction_is_exactly_compressed_and_full_rank_is_exact():
    res = F.lsa_faithfulness(_gd_params(10, 0.6), ranks=(11,), splits=F.lsa_splits(quick=True), n_tasks=4000)
    np.testing.assert_allclose(res.get("rel_diff", "compressed"), 0.0, atol=1e-12)
    np.testing.assert_allclose(res.get("rel_diff", "rank-11"), 0.0, atol=1e-12)
    np.testing.assert_allclose(res.get("loss_gap", "compressed"), 0.0, atol=1e-12)
    assert set(res.faithful()["compressed"]) == {s.name for s in res.splits}
    # the loss of 1-step GD (eta/N = 0.6) in distribution is about 0.21 (docs/explanation/mesa-facts.md)
    j = [s.name for s in res.splits].index("input scale 1 (train)")
    assert res.get("loss_model", "compressed")[j] == pytest.approx(0.21, abs=0.03)


def test_low_rank_of_gd_construction_loses_a_known_share():
    """M = I_d (+) 0: rank r keeps r of d directions; for isotropic inputs rel_diff ~ sqrt(1 - r/d)."""
    d = 10
    res = F.lsa_faithfulness(_gd_params(d, 0.6), ranks=(5,), splits=[F.Split("n", "input law", 1, {"law": "normal"})],
                             n_tasks=20000, rng=2)
    # with M_r = projection onto r coordinates (SVD of I picks an arbitrary r-subspace; the
    # prediction error share is (d - r)/d for exchangeable inputs)
    assert res.get("rel_diff", "rank-5")[0] == pytest.approx(math.sqrt(0.5), abs=0.05)


def test_agreement_formulas():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.0, 2.0, 3.0, 5.0])
    t = np.array([0.0, 2.0, 3.0, 4.0])
    m = F.agreement(a, b, t)
    assert m["rel_diff"] == pytest.approx(math.sqrt(1 / 4) / math.sqrt(30 / 4))
    assert m["corr"] == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert m["loss_model"] == pytest.approx(1 / 8)
    assert m["loss_proxy"] == pytest.approx(2 / 8)
    assert m["loss_gap"] == pytest.approx(1 / 8)
    with pytest.raises(ShapeError):
        F.agreement(a, b[:3], t)


@pytest.mark.parametrize("law", F.LSA_LAWS)
def test_split_laws_have_matched_variance(law):
    g = np.random.default_rng(5)
    X, y, xq, yq = F.sample_lsa_split(g, 4000, 3, 5, law=law, input_scale=2.0, w_scale=1.0)
    assert X.shape == (4000, 5, 3) and yq.shape == (4000,)
    assert np.std(X) == pytest.approx(2.0 / math.sqrt(12), rel=0.03)
    with pytest.raises(InvalidParameterError, match="law="):
        F.sample_lsa_split(g, 2, law="cauchy")


def test_tf_compressed_exact_on_block_scalar_model_and_full_rank_exact():
    from aievo.mesa.compressed import compressed_layers

    D, H = 3, 2
    g = np.random.default_rng(6)
    layers = compressed_layers([(0.1 * g.normal(size=(H, 4, 4)), 0.1 * g.normal(size=(H, 4, 4)))
                                for _ in range(2)], D)

    class Model:
        pass

    m = Model()
    m.layers, m.config = layers, {"T": 8, "noise": 0.01}
    res = F.tf_faithfulness(m, ranks=(4 * D,), splits=F.tf_splits(quick=True), n_seqs=16)
    np.testing.assert_allclose(res.get("rel_diff", "compressed"), 0.0, atol=1e-10)
    np.testing.assert_allclose(res.get("rel_diff", f"rank-{4 * D}"), 0.0, atol=1e-10)
    # a rank-1 truncation of generic block-scalar weights changes the predictions
    res1 = F.tf_faithfulness(m, ranks=(1,), splits=F.tf_splits(quick=True)[:1], n_seqs=16)
    assert res1.get("rel_diff", "rank-1")[0] > 1e-3


def test_result_markdown_and_save(tmp_path):
    from aievo.io import load_result

    res = F.lsa_faithfulness(_gd_params(4, 0.5), ranks=(2,), splits=F.lsa_splits(quick=True)[:2], n_tasks=200)
    md = res.to_markdown()
    assert "| input scale 0.5 |" in md and "compressed" in md
    arrays, meta = load_result(res.save(tmp_path / "f"))
    np.testing.assert_array_equal(arrays["values"], res.values)
    assert meta["proxies"] == ["rank-2", "compressed"]
    back = F.load_faithfulness(tmp_path / "f")
    assert back.proxies == res.proxies and [s.name for s in back.splits] == [s.name for s in res.splits]
    assert back.faithful() == res.faithful()


def test_low_rank_proxy_heads_multiply_to_the_svd_truncation():
    """rank-r heads (key and value size r) reproduce lowrank() of W_Q^T W_K and P W_V."""
    g = np.random.default_rng(3)
    H, k, E = 2, 6, 8
    layers = [{"Wq": g.normal(size=(H, k, E)), "Wk": g.normal(size=(H, k, E)), "Wv": g.normal(size=(H, k, E)),
               "P": g.normal(size=(H, E, k))}]
    for r in (1, 3, 6):
        (prox,) = F.tf_proxies(layers, 2, ranks=(r,))[f"rank-{r}"]
        assert prox["Wq"].shape == (H, r, E) and prox["P"].shape == (H, E, r)
        p = layers[0]
        # tolerance: two SVD-based products of O(10)-sized entries agree to rounding
        np.testing.assert_allclose(prox["Wq"].transpose(0, 2, 1) @ prox["Wk"],
                                   F.lowrank(p["Wq"].transpose(0, 2, 1) @ p["Wk"], r), atol=1e-10)
        np.testing.assert_allclose(prox["P"] @ prox["Wv"], F.lowrank(p["P"] @ p["Wv"], r), atol=1e-10)


def test_shipped_faithfulness_models_load_and_round_trip(tmp_path):
    from aievo.mesa.train import LinearTFResult, LSAResult

    lsa, tf = F.faithfulness_models()
    assert isinstance(lsa, LSAResult) and isinstance(tf, LinearTFResult)
    assert lsa.config["steps"] == 5000 and tf.config["steps"] == 600 and len(tf.layers) == tf.config["n_layers"]
    # both learned: the evaluation loss of the shipped weights is well below that of the initial ones
    assert lsa.eval_loss[-1] < 0.6 * lsa.eval_loss[0] and tf.eval_loss[-1] < 0.4 * tf.eval_loss[0]
    # saving and loading gives the same arrays (the shipped files are written this way)
    from aievo.mesa._trained_files import save_trained

    for name, model in zip(F.CHECKPOINTS, (lsa, tf)):
        save_trained(model, tmp_path / F.CHECKPOINTS[name], "test", "faithfulness_model")
    lsa2, tf2 = F.faithfulness_models(directory=tmp_path)
    for key in lsa.params:
        np.testing.assert_array_equal(lsa2.params[key], lsa.params[key])
    for a, b in zip(tf.layers, tf2.layers):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.slow
def test_retraining_reproduces_the_shipped_faithfulness_models():
    """The recipe (default_models) rebuilds the shipped checkpoints.

    Tolerance: the training is seeded and runs in float64; BLAS thread counts can change
    summation order, which Adam amplifies a little over thousands of steps, so the final
    evaluation losses are compared to 1e-6 relative.
    """
    shipped = F.faithfulness_models()
    fresh = F.faithfulness_models(retrain=True)
    for a, b in zip(shipped, fresh):
        np.testing.assert_allclose(b.eval_loss[-1], a.eval_loss[-1], rtol=1e-6)
