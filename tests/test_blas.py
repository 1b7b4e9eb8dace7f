"""single_threaded_blas really changes, then restores, the BLAS thread count (read by threadpoolctl)."""

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from aievo._blas import single_threaded_blas, with_single_threaded_blas


def _blas_threads():
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_thread_count_is_one_inside_and_restored_after():
    assert _blas_threads(), "numpy's BLAS was not found by threadpoolctl"
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        with single_threaded_blas():
            inside = _blas_threads()
            A = np.random.default_rng(0).normal(size=(50, 50))
            prod = A @ A.T
        assert inside == [1] * len(inside)
        assert _blas_threads() == before
    np.testing.assert_allclose(prod, A @ A.T, rtol=1e-12)


def test_decorator_form():
    @with_single_threaded_blas
    def threads():
        return _blas_threads()

    assert set(threads()) == {1}
