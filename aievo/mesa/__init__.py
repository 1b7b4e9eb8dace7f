"""Mesa-optimizers: in-context learners that run an optimizer in their forward pass.

Linear self-attention as gradient descent (von Oswald et al. 2023a), the mesa
layer and sequence solvers (von Oswald et al. 2023b), their tasks and
baselines. See ``docs/mesa.md`` for conventions and check values.

Importing this package is cheap: numba kernels load only when
:func:`mesa_layer` is first called.
"""

from __future__ import annotations

from .tasks import LDS_KINDS as LDS_KINDS
from .tasks import concat_tokens as concat_tokens
from .tasks import construct_full_tokens as construct_full_tokens
from .tasks import construct_lag_tokens as construct_lag_tokens
from .tasks import haar_orthogonal as haar_orthogonal
from .tasks import icl_sequences as icl_sequences
from .tasks import observe as observe
from .tasks import sample_lds as sample_lds
from .tasks import sample_regression_tasks as sample_regression_tasks
from .tasks import sample_sine_tasks as sample_sine_tasks

__all__ = [
    # tasks
    "LDS_KINDS",
    "concat_tokens",
    "construct_full_tokens",
    "construct_lag_tokens",
    "haar_orthogonal",
    "icl_sequences",
    "observe",
    "sample_lds",
    "sample_regression_tasks",
    "sample_sine_tasks",
]

# --- names from train.py, probes.py, compressed.py (other helper) go below this line ---
