"""Vectorised figure kernels equal the public functions they batch, bit for bit."""

from __future__ import annotations

import numpy as np

from aievo.figures.vonoswald2023b import _kernel_errors
from aievo.mesa.experiments.vonoswald2023b import softmax_kernel_predict


def test_kernel_errors_equal_softmax_kernel_predict_per_beta():
    g = np.random.default_rng(5)
    for d in (1, 3, 8):
        X = g.standard_normal((50, 17, d))
        y = g.standard_normal((50, 17))
        betas = np.geomspace(0.1, 100.0, 7)
        want = np.stack([(softmax_kernel_predict(X[:, :16], y[:, :16], X[:, 16], b) - y[:, 16]) ** 2 for b in betas])
        # the same operations in the same order: equal, not merely close
        np.testing.assert_array_equal(_kernel_errors(X, y, 16, betas), want)
