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
from .tasks import interleave_tokens as interleave_tokens
from .tasks import observe as observe
from .tasks import sample_lds as sample_lds
from .tasks import sample_regression_tasks as sample_regression_tasks
from .tasks import sample_sine_tasks as sample_sine_tasks

__all__ = [
    # tasks
    "LDS_KINDS",
    "concat_tokens",
    "interleave_tokens",
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

# training, probes, compressed algorithms, regression benchmark, faithfulness
from .compressed import CompressedLayer as CompressedLayer
from .compressed import approx_ridge_sequence_predict as approx_ridge_sequence_predict
from .compressed import block_diag_means as block_diag_means
from .compressed import block_scalar_fraction as block_scalar_fraction
from .compressed import chebyshev_inverse as chebyshev_inverse
from .compressed import compressed_layers as compressed_layers
from .compressed import extract_compressed as extract_compressed
from .compressed import momentum_inverse as momentum_inverse
from .compressed import neumann_inverse as neumann_inverse
from .compressed import newton_schulz_inverse as newton_schulz_inverse
from .compressed import prop1_params as prop1_params
from .compressed import revalg_one_layer as revalg_one_layer
from .compressed import revalg_params_from_blocks as revalg_params_from_blocks
from .compressed import richardson_inverse as richardson_inverse
from .faithfulness import FaithfulnessResult as FaithfulnessResult
from .faithfulness import load_faithfulness as load_faithfulness
from .faithfulness import lsa_faithfulness as lsa_faithfulness
from .faithfulness import lsa_proxies as lsa_proxies
from .faithfulness import tf_faithfulness as tf_faithfulness
from .faithfulness import tf_proxies as tf_proxies
from .probes import METRICS as METRICS
from .probes import linear_probe as linear_probe
from .probes import probe_over_time as probe_over_time
from .probes import probe_targets as probe_targets
from .probes import sensitivity as sensitivity
from .probes import token_binding_probe as token_binding_probe
from .regression import BLOG_REGRESSORS as BLOG_REGRESSORS
from .regression import DETERMINISTIC as DETERMINISTIC
from .regression import FLOAT_SENSITIVE as FLOAT_SENSITIVE
from .regression import PUBLISHED_BLOG_MSE as PUBLISHED_BLOG_MSE
from .regression import REFERENCE_ONLY as REFERENCE_ONLY
from .regression import RegressionBenchmark as RegressionBenchmark
from .regression import compare_published as compare_published
from .regression import get_dataset_friedman_2 as get_dataset_friedman_2
from .regression import get_original2 as get_original2
from .regression import make_friedman2 as make_friedman2
from .regression import prepare_prompt as prepare_prompt
from .regression import regression_benchmark as regression_benchmark
from .regression import regression_metrics as regression_metrics
from .regression import reproducibility_summary as reproducibility_summary
from .regression import slice_dataset as slice_dataset
from .regressors import REGRESSORS as REGRESSORS
from .regressors import InContextRegressor as InContextRegressor
from .regressors import SklearnRegressor as SklearnRegressor
from .regressors import get_icl_regressor as get_icl_regressor
from .regressors import get_regressor as get_regressor
from .regressors import icl_regressor_names as icl_regressor_names
from .regressors import lsa_regressor as lsa_regressor
from .train import Alignment as Alignment
from .train import GDReference as GDReference
from .train import LinearTFResult as LinearTFResult
from .train import LSAResult as LSAResult
from .train import alignment as alignment
from .train import linear_tf_forward as linear_tf_forward
from .train import linear_tf_init as linear_tf_init
from .train import lsa_init as lsa_init
from .train import lsa_predict as lsa_predict
from .train import lsa_tokens as lsa_tokens
from .train import train_linear_tf as train_linear_tf
from .train import train_lsa as train_lsa

__all__ += [
    # compressed
    "CompressedLayer",
    "approx_ridge_sequence_predict",
    "block_diag_means",
    "block_scalar_fraction",
    "chebyshev_inverse",
    "compressed_layers",
    "extract_compressed",
    "momentum_inverse",
    "neumann_inverse",
    "newton_schulz_inverse",
    "prop1_params",
    "revalg_one_layer",
    "revalg_params_from_blocks",
    "richardson_inverse",
    # faithfulness
    "FaithfulnessResult",
    "load_faithfulness",
    "lsa_faithfulness",
    "lsa_proxies",
    "tf_faithfulness",
    "tf_proxies",
    # probes
    "METRICS",
    "linear_probe",
    "probe_over_time",
    "probe_targets",
    "sensitivity",
    "token_binding_probe",
    # regression
    "BLOG_REGRESSORS",
    "DETERMINISTIC",
    "FLOAT_SENSITIVE",
    "PUBLISHED_BLOG_MSE",
    "REFERENCE_ONLY",
    "RegressionBenchmark",
    "compare_published",
    "get_dataset_friedman_2",
    "get_original2",
    "make_friedman2",
    "prepare_prompt",
    "regression_benchmark",
    "regression_metrics",
    "reproducibility_summary",
    "slice_dataset",
    # regressors
    "REGRESSORS",
    "InContextRegressor",
    "SklearnRegressor",
    "get_icl_regressor",
    "get_regressor",
    "icl_regressor_names",
    "lsa_regressor",
    # train
    "Alignment",
    "GDReference",
    "LSAResult",
    "LinearTFResult",
    "alignment",
    "linear_tf_forward",
    "linear_tf_init",
    "lsa_init",
    "lsa_predict",
    "lsa_tokens",
    "train_linear_tf",
    "train_lsa",
]

# JAX transformers (optional ``jax`` extra): resolved on first use, so that
# ``import aievo.mesa`` never imports JAX.
_NN_NAMES = (
    "InterleavedRegressionTask",
    "LDSTask",
    "OptimConfig",
    "RegressionTask",
    "TrainedTransformer",
    "TransformerConfig",
    "evaluate",
    "load_transformer",
    "official_setup",
    "train_transformer",
)
__all__ += list(_NN_NAMES)


def __getattr__(name: str):
    if name in _NN_NAMES:
        from . import nn

        return getattr(nn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
