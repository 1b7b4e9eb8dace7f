"""Mesa-optimizers: in-context learners that run an optimizer in their forward pass.

Linear self-attention as gradient descent (von Oswald et al. 2023a), the mesa
layer and sequence solvers (von Oswald et al. 2023b), their tasks and
baselines. See ``docs/mesa.md`` for conventions and check values.

Importing this package is cheap: numba kernels load only when
:func:`mesa_layer` is first called.
"""

from __future__ import annotations

from .attention import LSAWeights as LSAWeights
from .attention import gd_sequence_weights as gd_sequence_weights
from .attention import gd_weights as gd_weights
from .attention import gdpp_weights as gdpp_weights
from .attention import lsa_forward as lsa_forward
from .attention import lsa_layer as lsa_layer
from .attention import regression_readout as regression_readout
from .baselines import DEFAULT_ETA_GRID as DEFAULT_ETA_GRID
from .baselines import gd_sequence_predict as gd_sequence_predict
from .baselines import gd_steps as gd_steps
from .baselines import gdpp_predict as gdpp_predict
from .baselines import knn_predict as knn_predict
from .baselines import lsq_sequence_predict as lsq_sequence_predict
from .baselines import ols_minnorm as ols_minnorm
from .baselines import regression_loss as regression_loss
from .baselines import ridge_predict as ridge_predict
from .baselines import scan_eta as scan_eta
from .baselines import scan_eta_sequence as scan_eta_sequence
from .baselines import sequence_loss as sequence_loss
from .mesa_layer import mesa_layer as mesa_layer
from .mesa_layer import mesa_layer_naive as mesa_layer_naive
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
    # attention
    "LSAWeights",
    "gd_sequence_weights",
    "gd_weights",
    "gdpp_weights",
    "lsa_forward",
    "lsa_layer",
    "regression_readout",
    # baselines
    "DEFAULT_ETA_GRID",
    "gd_sequence_predict",
    "gd_steps",
    "gdpp_predict",
    "knn_predict",
    "lsq_sequence_predict",
    "ols_minnorm",
    "regression_loss",
    "ridge_predict",
    "scan_eta",
    "scan_eta_sequence",
    "sequence_loss",
    # mesa layer
    "mesa_layer",
    "mesa_layer_naive",
]

# --- names from train.py, probes.py, compressed.py (other helper) go below this line ---
