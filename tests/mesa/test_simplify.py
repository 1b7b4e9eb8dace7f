"""Simplified proxies of softmax transformers (aievo.mesa.simplify) against independent references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aievo.errors import InvalidParameterError, ShapeError
from aievo.mesa import simplify as S
from aievo.mesa.nn.config import TransformerConfig
from aievo.mesa.nn.params import init_params

DYCK_LIKE = TransformerConfig(attention=("softmax", "softmax"), heads=2, key_size=4, token_format="lds_raw",
                              data_dim=6, embed_dim=8, input_proj=True, output_proj=True, mlp_hidden=12,
                              layer_norm=True, pos_encoding="input", act_clip=None, init="variance_scaling",
                              init_scale=2.0)
REGRESSION = TransformerConfig(attention=("softmax", "linear"), heads=1, key_size=3, token_format="regression",
                               data_dim=2, act_clip=2.0, init="variance_scaling", init_scale=2.0)


def _inputs(config, rng, B=5, T=7):
    g = np.random.default_rng(rng)
    if config.token_format == "regression":
        x = g.uniform(-1, 1, (B, T, config.data_dim + 1))
        x[:, -1, -1] = 0.0
        return x
    return np.eye(config.data_dim)[g.integers(0, config.data_dim, (B, T))]


@pytest.mark.parametrize("config", [DYCK_LIKE, REGRESSION], ids=["causal", "regression"])
def test_numpy_forward_equals_the_jax_forward(config):
    """Same weights, float64 in both: agreement to 1e-10 (a few hundred float ops per entry)."""
    jax = pytest.importorskip("jax")
    from aievo.mesa.nn.model import predict

    params = init_params(config, 3)
    x = _inputs(config, 4)
    with jax.enable_x64(True):
        ref = np.asarray(predict(params, config, x))
    np.testing.assert_allclose(S.predict(params, config, x), ref, atol=1e-10)
    # the data-free SVD proxy is a change of parameters the JAX model runs unchanged
    sp = S.svd_params(params, (0,), 2)
    with jax.enable_x64(True):
        ref = np.asarray(predict(sp, config, x))
    np.testing.assert_allclose(S.predict(params, config, x, S.Simplification("svd", (0,), rank=2)), ref, atol=1e-10)


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 5), st.integers(1, 7), st.integers(0, 2**31))
def test_lowrank_factors_give_the_truncated_svd(key_size, E, seed):
    g = np.random.default_rng(seed)
    Wq, Wk = g.standard_normal((2, key_size, E))
    M = Wq.T @ Wk
    U, s, Vt = np.linalg.svd(M)
    for r in range(1, key_size + 2):
        q, k = S.lowrank_factors(Wq, Wk, r)
        assert q.shape == Wq.shape and k.shape == Wk.shape
        rr = min(r, s.size)
        np.testing.assert_allclose(q.T @ k, (U[:, :rr] * s[:rr]) @ Vt[:rr], atol=1e-10)
        if r >= min(key_size, E):  # full rank: the bilinear form is unchanged
            np.testing.assert_allclose(q.T @ k, M, atol=1e-10)


def test_full_rank_svd_proxy_is_the_model():
    params = init_params(DYCK_LIKE, 0)
    x = _inputs(DYCK_LIKE, 1)
    full = S.Simplification("svd", (0, 1), rank=DYCK_LIKE.key_size)
    np.testing.assert_allclose(S.predict(params, DYCK_LIKE, x, full), S.predict(params, DYCK_LIKE, x), atol=1e-10)
    low = S.Simplification("svd", (0, 1), rank=1)
    assert np.abs(S.predict(params, DYCK_LIKE, x, low) - S.predict(params, DYCK_LIKE, x)).max() > 1e-3


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31))
def test_kmeans_with_as_many_clusters_as_distinct_points_is_the_identity(k, dim, seed):
    g = np.random.default_rng(seed)
    pts = g.standard_normal((k, dim)) * 10
    X = pts[np.concatenate([np.arange(k), g.integers(0, k, 30)])]
    C = S.kmeans(X, k, seed)
    # each centroid is the mean of copies of one point: equal up to summation rounding (rtol 1e-12)
    nearest = np.argmin(((C[:, None] - pts[None]) ** 2).sum(-1), axis=1)
    assert sorted(nearest) == list(range(k))
    np.testing.assert_allclose(C, pts[nearest], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S.quantize(X, C), X, rtol=1e-12, atol=1e-12)


def test_kmeans_agrees_with_scikit_learn_on_separated_blobs():
    sk = pytest.importorskip("sklearn.cluster")
    g = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]])
    X = (centers[:, None] + 0.5 * g.standard_normal((4, 50, 2))).reshape(-1, 2)
    ours = S.kmeans(X, 4, 1)
    theirs = sk.KMeans(4, n_init=5, random_state=0).fit(X).cluster_centers_
    order = lambda C: C[np.lexsort(C.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(ours), order(theirs), atol=1e-9)  # same partition, same means


def test_kmeans_proxy_with_every_distinct_query_and_key_is_the_model():
    """One-hot tokens without positions: few distinct queries and keys, so k = #distinct is exact."""
    cfg = TransformerConfig(attention=("softmax",), heads=1, key_size=3, token_format="lds_raw", data_dim=4,
                            act_clip=None, init="variance_scaling", init_scale=2.0)
    params = init_params(cfg, 2)
    x = _inputs(cfg, 3, B=20)
    pts = S.collect_qk(params, cfg, x, (0,))
    (Q, K), = pts.values()
    k = len(np.unique(np.round(Q, 12), axis=0))
    assert k == len(np.unique(np.round(K, 12), axis=0)) == 4
    proxy = S.fit_kmeans(pts, k, 0)
    np.testing.assert_allclose(S.predict(params, cfg, x, proxy), S.predict(params, cfg, x), atol=1e-10)
    coarse = S.fit_kmeans(pts, 2, 0)
    assert np.abs(S.predict(params, cfg, x, coarse) - S.predict(params, cfg, x)).max() > 1e-4


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**31))
def test_data_svd_basis_spans_the_top_eigenvectors_of_the_second_moment(dim, rank_extra, seed):
    g = np.random.default_rng(seed)
    X = g.standard_normal((40, dim)) * np.arange(1, dim + 1)  # distinct scales: a gap between eigenvalues
    rank = min(rank_extra, dim)
    B = S.top_singular_basis(X, rank)
    w, V = np.linalg.eigh(X.T @ X)  # independent: eigenvectors of the uncentred second moment
    top = V[:, ::-1][:, :rank]
    np.testing.assert_allclose(B @ B.T, np.eye(rank), atol=1e-10)
    np.testing.assert_allclose(B.T @ B, top @ top.T, atol=1e-8)  # the same projector
    if rank == dim:
        np.testing.assert_allclose(X @ B.T @ B, X, atol=1e-10)


def test_data_svd_proxy_at_full_rank_is_the_model():
    params = init_params(DYCK_LIKE, 0)
    x = _inputs(DYCK_LIKE, 1)
    pts = S.collect_qk(params, DYCK_LIKE, x, (0, 1))
    full = S.fit_svd_data(pts, DYCK_LIKE.key_size)
    assert full.layers == (0, 1) and full.label == f"svd_data r={DYCK_LIKE.key_size}"
    np.testing.assert_allclose(S.predict(params, DYCK_LIKE, x, full), S.predict(params, DYCK_LIKE, x), atol=1e-10)
    low = S.fit_svd_data(pts, 1)
    assert np.abs(S.predict(params, DYCK_LIKE, x, low) - S.predict(params, DYCK_LIKE, x)).max() > 1e-3


@settings(deadline=None, max_examples=30)
@given(st.integers(2, 8), st.integers(0, 2**31))
def test_onehot_is_softmax_at_zero_temperature(T, seed):
    g = np.random.default_rng(seed)
    scores = g.permuted(np.arange(T * T, dtype=float).reshape(T, T), axis=1)  # distinct scores, gaps >= 1
    mask = np.tri(T, dtype=bool)
    hard = S.attention_weights(scores, mask, "onehot")
    cold = S.attention_weights(scores / 1e-3, mask, "softmax")  # temperature 1e-3: exp(-1000) is 0 in float64
    np.testing.assert_array_equal(hard, cold)
    assert np.all(hard.sum(-1) == 1) and not np.any(hard[~mask])


def test_bad_simplifications_are_refused():
    with pytest.raises(InvalidParameterError, match="kind="):
        S.Simplification("pca", (0,))
    with pytest.raises(InvalidParameterError, match="fitted="):
        S.Simplification("svd_data", (0,))
    with pytest.raises(InvalidParameterError, match="rank="):
        S.Simplification("svd", (0,))
    with pytest.raises(InvalidParameterError, match="fitted="):
        S.Simplification("kmeans", (0,))
    with pytest.raises(InvalidParameterError, match="k="):
        S.kmeans(np.zeros((3, 2)), 4)
    with pytest.raises(InvalidParameterError, match="X="):
        S.kmeans(np.array([[0.0, np.nan]]), 1)
    with pytest.raises(InvalidParameterError, match="rank="):
        S.top_singular_basis(np.ones((5, 2)), 3)
    params = init_params(REGRESSION, 0)
    x = _inputs(REGRESSION, 0)
    with pytest.raises(ShapeError, match="inputs.shape="):
        S.predict(params, REGRESSION, x[..., :2])
    with pytest.raises(InvalidParameterError, match="simplification.layers="):
        S.predict(params, REGRESSION, x, S.Simplification("onehot", (2,)))
