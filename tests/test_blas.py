"""single_threaded_blas really changes, then restores, the BLAS thread count."""

import numpy as np

from aievo._blas import _openblas_handles, single_threaded_blas


def test_thread_count_is_one_inside_and_restored_after():
    handles = _openblas_handles()
    if not handles:  # not OpenBLAS: the context manager is a no-op, results unchanged
        with single_threaded_blas():
            assert np.allclose(np.eye(3) @ np.ones(3), 1)
        return
    get, set_ = handles[0]
    set_(2)
    with single_threaded_blas():
        inside = get()
        A = np.random.default_rng(0).normal(size=(50, 50))
        prod = A @ A.T
    assert inside == 1
    assert get() == 2
    np.testing.assert_allclose(prod, A @ A.T, rtol=1e-12)
