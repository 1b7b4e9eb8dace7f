"""von Oswald et al. (2023b), Fig 2A: a softmax first layer binds each token to its predecessor.

A transformer whose first layer is softmax attention (positional encodings on keys and queries
only) and whose second layer is linear attention is trained on raw LDS observations ``s_t``
(the tokens are the states themselves, embedded by a learned projection). A linear probe then
decodes ``s_{t-k}`` from the residual stream at position ``t``: before the first layer only the
current state is there (lag 0); after it, the previous state ``s_{t-1}`` is linearly decodable too,
i.e. the layer has copied it into token ``t``, building the pair ``(s_{t-1}, s_t)`` that the linear
layer's gradient step needs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .._checks import as_rng, check_array, check_float, check_int, finite_result
from ..nn.config import LDSTask, OptimConfig, TransformerConfig
from ..nn.shipped import recipe
from ..probes import linear_probe

if TYPE_CHECKING:  # pragma: no cover
    from ..nn.result import TrainedTransformer

__all__ = [
    "TokenBindingResult",
    "token_binding",
    "binding_config",
    "binding_optim",
    "binding_r2",
    "linear_config",
    "linear_optim",
    "BINDING_MODEL",
    "LINEAR_MODELS",
    "BINDING_SETUP",
    "LINEAR_SETUP",
    "train_binding_model",
    "train_linear_model",
    "raw_config",
    "SOFTMAX_MODELS",
    "SOFTMAX_SETUP",
    "FIG7_TASKS",
    "FIG7_ARCHS",
    "FIG7_MODELS",
    "FIG7_SETUP",
    "FIG7_MLP",
    "FIG7_KEY",
    "fig7_config",
    "train_fig7_model",
    "feature_lsq_predict",
    "delay_embed",
    "nonlinear_features",
    "train_raw_model",
    "LINEARISED_MODEL",
    "DISTILL_SETUP",
    "distill_linear_layers",
    "raw_forward",
    "softmax_first_layer",
    "prop2_predict",
    "tune_prop2",
    "raw_predict",
    "swap_layers",
    "lsq_expected_loss",
    "gd_expected_loss",
    "softmax_kernel_predict",
]


@dataclass(frozen=True)
class TokenBindingResult:
    """Held-out R^2 of linear probes for ``s_{t-k}`` at position ``t``, before and after layer 1.

    Attributes
    ----------
    positions : tuple of int
        Positions ``t`` probed (0-based).
    lags : tuple of int
        Lags ``k``.
    r2_input : ndarray, shape (len(positions), len(lags))
        Probes on the embedded tokens (before any attention).
    r2_layer1 : ndarray, shape (len(positions), len(lags))
        Probes on the output of the softmax layer.
    loss : float
        The trained model's held-out loss (mean over positions).
    config : dict
    """

    positions: tuple[int, ...]
    lags: tuple[int, ...]
    r2_input: np.ndarray
    r2_layer1: np.ndarray
    loss: float
    config: dict


def token_binding(
    *,
    task: LDSTask | None = None,
    steps: int = 2000,
    batch_size: int = 128,
    heads: int = 4,
    key_size: int = 20,
    embed_dim: int = 40,
    positions: Sequence[int] = (5, 15, 25),
    lags: Sequence[int] = (0, 1, 2),
    n_probe: int = 2000,
    optim: OptimConfig | None = None,
    init_scale: float = 0.1,
    rng: Any = 0,
    progress: bool | None = False,
) -> TokenBindingResult:
    """Train a softmax + linear transformer on raw LDS states and probe layer 1 for past states.

    Parameters
    ----------
    task : LDSTask, optional
        Default ``LDSTask(D=10, T=30)`` (the official task, shorter sequences).
    steps, batch_size : int
        Training length.
    heads, key_size, embed_dim : int
        Both layers; tokens are embedded to ``embed_dim`` and read out by a projection.
    positions, lags : sequence of int
        Probe ``s_{t-k}`` at position ``t`` for every pair (``t - k >= 0``).
    n_probe : int
        Sequences for the probes: half to fit, half to score.
    optim : OptimConfig, optional
        Default: AdamW lr 3e-3 (ten times the official 2023b rate, for a short run), 100
        warm-up steps, cosine to 1e-5 at ``steps``, weight decay 0.05, element-wise clip 1.
    init_scale : float
        Std of the Gaussian initial weights (much larger than the official 2e-4: from a tiny
        init the copy circuit, a product of four small matrices, does not start within a short
        run; with 0.02 and lr 1e-3, 1500 steps left the loss at 1.62, near the zero predictor).
    rng : int or numpy.random.Generator
    progress : bool or None

    Returns
    -------
    TokenBindingResult
    """
    from ..nn.train import evaluate, train_transformer

    task = LDSTask(T=30) if task is None else task
    if not isinstance(task, LDSTask):
        raise bad_argument(InvalidParameterError, "task", task, "an LDSTask")
    positions = tuple(check_int(t, "positions[i]", 0, task.T - 1) for t in positions)
    lags = tuple(check_int(k, "lags[i]", 0, task.T - 1) for k in lags)
    steps = check_int(steps, "steps")
    n_probe = check_int(n_probe, "n_probe", minimum=4)
    if optim is None:
        optim = binding_optim(steps)
    cfg = binding_config(task, heads=heads, key_size=key_size, embed_dim=embed_dim, init_scale=init_scale)
    g = as_rng(rng)
    s_train, s_probe, s_eval = (int(s) for s in g.integers(0, 2**31 - 1, size=3))
    model = train_transformer(cfg, task, steps, batch_size, s_train, optim=optim, progress=progress)
    inputs, _ = task.sample(np.random.default_rng(s_probe), n_probe)
    acts = model.activations(inputs)
    r2 = np.stack([binding_r2(acts[layer], inputs, positions, lags) for layer in (0, 1)])
    loss = float(np.mean(evaluate(model, task, 1000, s_eval)))
    return TokenBindingResult(positions, lags, r2[0], r2[1], loss,
                              dict(model=cfg.to_dict(), optim=optim.to_dict(), steps=steps, batch_size=batch_size,
                                   n_probe=n_probe, rng=rng if isinstance(rng, int) else None))


def binding_config(task: LDSTask, *, heads: int = 4, key_size: int = 20, embed_dim: int = 40,
                   init_scale: float = 0.1) -> TransformerConfig:
    """The softmax + linear model of Fig 2A on raw LDS states (see :func:`token_binding`)."""
    return TransformerConfig(attention=("softmax", "linear"), heads=heads, key_size=key_size, token_format="lds_raw",
                             data_dim=task.D, embed_dim=embed_dim, input_proj=True, output_proj=True,
                             pos_encoding="kq", act_clip=None, init_scale=init_scale)


def binding_optim(steps: int) -> OptimConfig:
    """AdamW lr 3e-3, 100 warm-up steps, cosine to 1e-5 at ``steps`` (the default of :func:`token_binding`)."""
    steps = check_int(steps, "steps")
    return OptimConfig(lr=3e-3, warmup_steps=min(100, steps - 1), decay_steps=steps, end_lr=1e-5)


def binding_r2(acts: np.ndarray, inputs: np.ndarray, positions: Sequence[int], lags: Sequence[int]) -> np.ndarray:
    """Held-out R^2 of linear probes for ``s_{t-k}`` from ``acts[:, t]``: first half of the sequences fits, second scores.

    Parameters
    ----------
    acts : ndarray, shape (B, T, E)
        One layer's residual stream.
    inputs : ndarray, shape (B, T, D)
        The states ``s_t`` the model read.
    positions, lags : sequence of int
        Probe every ``(t, k)`` with ``t - k >= 0``.

    Returns
    -------
    ndarray, shape (len(positions), len(lags))
        NaN where ``t - k < 0``.
    """
    A = np.asarray(acts, dtype=np.float64)
    S = np.asarray(inputs, dtype=np.float64)
    if A.ndim != 3 or S.ndim != 3 or A.shape[:2] != S.shape[:2]:
        raise bad_argument(ShapeError, "acts.shape", A.shape, f"(B, T, E) with (B, T) = {S.shape[:2]}")
    half = A.shape[0] // 2
    out = np.full((len(positions), len(lags)), np.nan)
    for i, t in enumerate(positions):
        for j, k in enumerate(lags):
            if t - k < 0:
                continue
            target = S[:, t - k]
            out[i, j] = linear_probe(A[:half, t], target[:half], metric="r2", test=(A[half:, t], target[half:]))
    return out


# --------------------------------------------------------------------------- shipped checkpoints
#: Shipped checkpoint of the Fig 2A / 3A model (softmax + linear on raw states).
BINDING_MODEL = "vonoswald2023b_binding"
#: Shipped checkpoints of the linear transformers of Fig 4, by depth.
LINEAR_MODELS = {L: f"vonoswald2023b_linear{L}" for L in (1, 2, 3, 4)}

#: Task, training length and seed of the shipped models.
BINDING_SETUP: dict[str, Any] = dict(task=LDSTask(D=10, T=30), steps=2000, batch_size=128, seed=0)
LINEAR_SETUP: dict[str, Any] = dict(task=LDSTask(D=5, T=30), steps=2000, batch_size=128, seed=0)


def linear_config(depth: int, D: int) -> TransformerConfig:
    """A ``depth``-layer, 4-head linear transformer (key size 20) on constructed tokens ``(0, s_t, s_t, s_{t-1})``.

    As the official 2023b model (no MLP, LayerNorm or bias; activation clip 1.5) except for the
    initial weight scale, ``N(0, 0.02^2)`` instead of ``N(0, 0.0002^2)``, so that 2000 steps suffice.
    """
    depth = check_int(depth, "depth")
    return TransformerConfig(attention=("linear",) * depth, heads=4, key_size=20, token_format="lds_constructed",
                             data_dim=D, act_clip=1.5, init_scale=0.02)


def linear_optim(steps: int) -> OptimConfig:
    """AdamW lr 3e-3 (ten times the official peak, for a short run), 200 warm-up steps, cosine to 1e-5 at ``steps``."""
    steps = check_int(steps, "steps")
    return OptimConfig(lr=3e-3, warmup_steps=min(200, steps - 1), decay_steps=steps, end_lr=1e-5)


def train_binding_model() -> Any:
    """Train the shipped Fig 2A / 3A model (:data:`BINDING_SETUP`); returns a ``TrainedTransformer``."""
    from ..nn.train import train_transformer

    su = BINDING_SETUP
    return train_transformer(binding_config(su["task"]), su["task"], su["steps"], su["batch_size"], su["seed"],
                             optim=binding_optim(su["steps"]))


def train_linear_model(depth: int) -> Any:
    """Train the shipped ``depth``-layer linear transformer of Fig 4 (:data:`LINEAR_SETUP`)."""
    from ..nn.train import train_transformer

    su = LINEAR_SETUP
    return train_transformer(linear_config(depth, su["task"].D), su["task"], su["steps"], su["batch_size"],
                             su["seed"], optim=linear_optim(su["steps"]))


def raw_config(kinds: Sequence[str], D: int) -> TransformerConfig:
    """A transformer on raw LDS states with one layer per entry of ``kinds``, otherwise as :func:`binding_config`.

    4 heads of key size 20, width 40, learned embedding and readout, positional encodings on keys
    and queries, no MLP, LayerNorm or activation clip, initial weights ``N(0, 0.1^2)``; mesa
    layers start from ``lam = 1``.
    """
    return TransformerConfig(attention=tuple(kinds), heads=4, key_size=20, token_format="lds_raw",
                             data_dim=D, embed_dim=40, input_proj=True, output_proj=True, pos_encoding="kq",
                             act_clip=None, init_scale=0.1)


#: Shipped checkpoints of the multi-layer softmax transformers of Fig 6, by depth.
SOFTMAX_MODELS = {L: f"vonoswald2023b_softmax{L}" for L in (3, 6)}
#: Task, training length and seed of the Fig 6 models (the Fig 4 task).
SOFTMAX_SETUP: dict[str, Any] = dict(task=LDSTask(D=5, T=30), steps=2000, batch_size=128, seed=0)


def train_raw_model(kinds: Sequence[str]) -> Any:
    """Train a shipped model on raw states of Fig 6 (:func:`raw_config`, :data:`SOFTMAX_SETUP`, :func:`binding_optim`)."""
    from ..nn.train import train_transformer

    su = SOFTMAX_SETUP
    return train_transformer(raw_config(kinds, su["task"].D), su["task"], su["steps"], su["batch_size"],
                             su["seed"], optim=binding_optim(su["steps"]))


# --------------------------------------------------------------------------- Fig 7
#: The three task families of Fig 7, as in the official comparison: fully observed linear dynamics
#: (the Fig 4 task), partially observed linear dynamics (5 noisy observations of a 10-dimensional
#: state, ``C = 0.5 N(0, 1)`` per sequence) and fully observed nonlinear dynamics.
FIG7_TASKS: dict[str, LDSTask] = {
    "full": LDSTask(D=5, T=30),
    "partial": LDSTask(D=10, T=30, obs_dim=5, obs_noise=0.01),
    "nonlinear": LDSTask(D=5, T=30, kind="nonlinear"),
}
#: Architectures of Fig 7 by layer kinds: the hybrid (a softmax layer to bind tokens, then a mesa layer)
#: and a deeper softmax-only transformer.
FIG7_ARCHS: dict[str, tuple[str, ...]] = {"hybrid": ("softmax", "mesa"), "softmax4": ("softmax",) * 4}
#: Shipped checkpoints of Fig 7, by (family, architecture).
FIG7_MODELS: dict[tuple[str, str], str] = {(f, a): f"vonoswald2023b_fig7_{f}_{a}" for f in FIG7_TASKS for a in FIG7_ARCHS}
#: Training of the Fig 7 models: steps, batch, seed (:func:`binding_optim` schedule).
FIG7_SETUP: dict[str, Any] = dict(steps=1500, batch_size=128, seed=0)
#: Hidden width of the MLP after every attention layer in the nonlinear family (none elsewhere).
FIG7_MLP = {"full": 0, "partial": 0, "nonlinear": 32}
#: Key size by family: 12 where the hidden state (10-dimensional) is larger than 8 (with key size 8 the
#: partially observed hybrid stayed at a mean loss of 1.07, with 12 it reached 0.73).
FIG7_KEY = {"full": 8, "partial": 12, "nonlinear": 8}


def fig7_config(family: str, arch: str) -> TransformerConfig:
    """The model ``arch`` of Fig 7 for task family ``family`` (see :data:`FIG7_TASKS`, :data:`FIG7_ARCHS`).

    4 heads of key size :data:`FIG7_KEY` (8, or 12 for the partially observed family), width 40,
    learned embedding and readout, positional encodings on keys
    and queries, no LayerNorm or activation clip, initial weights ``N(0, 0.1^2)``, mesa layers
    from ``lam = 1``; a GELU MLP of :data:`FIG7_MLP` hidden units after every attention layer in
    the nonlinear family (the official nonlinear models have MLPs too).
    """
    if family not in FIG7_TASKS:
        raise bad_argument(InvalidParameterError, "family", family, f"one of {sorted(FIG7_TASKS)}")
    if arch not in FIG7_ARCHS:
        raise bad_argument(InvalidParameterError, "arch", arch, f"one of {sorted(FIG7_ARCHS)}")
    return TransformerConfig(attention=FIG7_ARCHS[arch], heads=4, key_size=FIG7_KEY[family], token_format="lds_raw",
                             data_dim=FIG7_TASKS[family].data_dim, embed_dim=40, input_proj=True, output_proj=True,
                             pos_encoding="kq", act_clip=None, init_scale=0.1, mlp_hidden=FIG7_MLP[family])


def train_fig7_model(family: str, arch: str) -> Any:
    """Train the shipped Fig 7 model ``arch`` on task family ``family`` (:data:`FIG7_SETUP`)."""
    from ..nn.train import train_transformer

    su = FIG7_SETUP
    return train_transformer(fig7_config(family, arch), FIG7_TASKS[family], su["steps"], su["batch_size"],
                             su["seed"], optim=binding_optim(su["steps"]))


def feature_lsq_predict(features: np.ndarray, values: np.ndarray, lam: Any = 1e-3) -> np.ndarray:
    """Ridge least squares of the next value on features, refitted at every position on every pair seen so far.

    At position ``t`` fit ``W_t = argmin sum_{1<=i<=t} |v_i - W f_{i-1}|^2 + lam |W|^2`` on the
    pairs ``(f_{i-1}, v_i)`` available by then and predict ``v_{t+1}`` as ``W_t f_t``; position
    0 predicts 0. With ``features = values = s`` this is
    :func:`aievo.mesa.baselines.lsq_sequence_predict` with ``inclusive=True``. Fig 7 uses it
    with the observations themselves, with delay embeddings of partial observations
    (:func:`delay_embed`) and with the nonlinear task's true features.

    Parameters
    ----------
    features : ndarray, shape (B, T, F)
        ``f_t``, computable from what is seen up to position ``t``.
    values : ndarray, shape (B, T, D)
        ``v_t``, the observation at ``t``.
    lam : float or sequence of float
        Ridge penalty (each ``> 0``). A sequence gives one prediction per penalty, sharing the
        sums over pairs.

    Returns
    -------
    ndarray, shape (B, T, D), or (len(lam), B, T, D) for a sequence of penalties
    """
    Fm = check_array(features, "features", 3, shape_text="an array of shape (B, T, F)")
    V = check_array(values, "values", 3, shape_text="an array of shape (B, T, D)")
    if V.shape[:2] != Fm.shape[:2]:
        raise bad_argument(ShapeError, "values.shape", V.shape, f"(B, T, D) with (B, T) = {Fm.shape[:2]}")
    lams = [check_float(v, "lam", positive=True) for v in np.atleast_1d(np.asarray(lam, dtype=object))]
    K = np.zeros_like(Fm)
    K[:, 1:] = Fm[:, :-1]
    H = np.cumsum(np.einsum("bti,btj->btij", K, K), axis=1)
    G = np.cumsum(np.einsum("bti,btj->btij", V, K), axis=1)
    eye = np.eye(Fm.shape[2])
    out = np.stack([np.einsum("btij,btj->bti", G, np.linalg.solve(H + v * eye, Fm[..., None])[..., 0])
                    for v in lams])
    return out if np.ndim(lam) else out[0]


def delay_embed(O: np.ndarray, lags: int) -> np.ndarray:
    """``(o_t, o_{t-1}, ..., o_{t-lags+1})`` at every position (zeros before the start), shape ``(B, T, lags * D)``."""
    O = check_array(O, "O", 3, shape_text="an array of shape (B, T, D)")
    lags = check_int(lags, "lags")
    B, T, D = O.shape
    out = np.zeros((B, T, lags * D))
    for k in range(lags):
        out[:, k:, k * D:(k + 1) * D] = O[:, :T - k]
    return out


def nonlinear_features(S: np.ndarray) -> np.ndarray:
    """The features ``f(s) / |f(s)|`` through which ``kind="nonlinear"`` dynamics act: ``s_{t+1} = W f(s_t) / |f(s_t)| + noise``.

    ``f`` is the fixed random GELU network of :func:`aievo.mesa.sample_lds` (its defaults
    ``hidden=40``, ``mlp_seed=0``), so least squares on these features is the best linear
    learner that knows the nonlinearity (the official "smart" baseline).

    Parameters
    ----------
    S : ndarray, shape (B, T, D)

    Returns
    -------
    ndarray, shape (B, T, D)
    """
    from ..tasks import _gelu, _nonlinear_mlp

    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    A, Bm = _nonlinear_mlp(S.shape[2], 40, 0)
    f = _gelu(S @ A) @ Bm
    return f / (np.linalg.norm(f, axis=-1, keepdims=True) + 1e-16)


#: Shipped set of linear-attention substitutes for the layers of the 3-layer softmax model (Fig 5A).
LINEARISED_MODEL = "vonoswald2023b_softmax3_linearised"
#: Distillation of :func:`distill_linear_layers`: fixed sequences, Adam steps, batch, learning rate, seed.
DISTILL_SETUP: dict[str, Any] = dict(sequences=1024, steps=600, batch_size=64, lr=3e-3, q_scale=0.01, seed=1)


def distill_linear_layers(teacher: Any, *, sequences: int = 1024, steps: int = 600, batch_size: int = 64,
                          lr: float = 3e-3, q_scale: float = 0.01, seed: int = 0) -> Any:
    """Fit one linear-attention layer to mimic each softmax layer of ``teacher`` (Fig 5A).

    For every layer ``l`` the teacher's residual stream before (``h_{l-1}``) and after (``h_l``)
    it is recorded on ``sequences`` fixed LDS sequences; a linear attention layer with the same
    heads and key size, fed the same inputs (positional encodings on keys and queries as the
    teacher), is trained with Adam on the squared error of its update against
    ``h_l - h_{l-1}`` (each layer on its own, on the teacher's inputs). The substitutes start
    from the teacher's own weights of that layer with the queries scaled by ``q_scale`` (the
    unnormalised scores of linear attention summed over up to ``T`` keys are far larger than
    softmax weights: from the teacher's weights unscaled the distillation error of every layer
    stayed above the variance of its update after 300 steps).

    Parameters
    ----------
    teacher : TrainedTransformer
        Softmax (or linear) layers on ``token_format="lds_raw"``, no LayerNorm or MLP.
    sequences, steps, batch_size : int
    lr : float
        Constant Adam learning rate.
    q_scale : float
        Factor on the teacher's query weights at the start.
    seed : int

    Returns
    -------
    TrainedTransformer
        A model whose every layer is linear: layer ``l`` is the substitute of the teacher's
        layer ``l`` (embedding and readout copied). ``history["distill_loss"]`` holds the final
        distillation error of each layer (mean squared error per entry of the update) and
        ``history["update_var"]`` the variance of the teacher's update, for scale.
    """
    import dataclasses

    from ..nn._deps import require_jax
    from ..nn.layers import attention, sinusoidal_encoding
    from ..nn.model import attention_mask
    from ..nn.result import TrainedTransformer

    jax, optax = require_jax()
    jnp = jax.numpy
    cfg = teacher.config
    if cfg.token_format != "lds_raw" or cfg.layer_norm or cfg.mlp_hidden or cfg.pos_encoding == "input":
        raise bad_argument(InvalidParameterError, "teacher.config", cfg.attention,
                           "layers on token_format='lds_raw' without LayerNorm, MLP or input encodings")
    sequences = check_int(sequences, "sequences")
    steps = check_int(steps, "steps")
    batch_size = check_int(batch_size, "batch_size", maximum=sequences)
    lr = check_float(lr, "lr", positive=True)
    q_scale = check_float(q_scale, "q_scale")
    g = np.random.default_rng(seed)
    x, _ = teacher.task.sample(g, sequences)
    acts = [a.astype(np.float32) for a in teacher.activations(x)]
    T = x.shape[1]
    mask = jnp.asarray(attention_mask(cfg, T))
    kq = jnp.asarray(sinusoidal_encoding(T, cfg.width), dtype=jnp.float32) if cfg.pos_encoding == "kq" else None
    opt = optax.adam(lr)

    def loss(p: dict, h: Any, target: Any) -> Any:
        return jnp.mean((attention(p, "linear", h, mask, kq) - target) ** 2)

    @jax.jit
    def step(p: dict, state: Any, h: Any, target: Any) -> tuple[dict, Any, Any]:
        val, grad = jax.value_and_grad(loss)(p, h, target)
        upd, state = opt.update(grad, state, p)
        return optax.apply_updates(p, upd), state, val

    layers, final, var = [], [], []
    for lay in range(cfg.n_layers):
        h, target = acts[lay], acts[lay + 1] - acts[lay]
        p = {k: jnp.asarray(v, jnp.float32) for k, v in teacher.params["layers"][lay]["attn"].items() if k != "lam"}
        p["Wq"] = p["Wq"] * q_scale
        state = opt.init(p)
        for _ in range(steps):
            idx = g.choice(sequences, batch_size, replace=False)
            p, state, _ = step(p, state, h[idx], target[idx])
        final.append(float(loss(p, h, target)))
        var.append(float(np.var(target)))
        layers.append({"attn": {k: np.asarray(v) for k, v in p.items()}})
    params = dict(teacher.params, layers=layers)
    config = dataclasses.replace(cfg, attention=("linear",) * cfg.n_layers)
    return TrainedTransformer(config, params, dict(distill_loss=np.array(final), update_var=np.array(var)),
                              teacher.task, None, dict(sequences=sequences, steps=steps, batch_size=batch_size,
                                                       lr=lr, q_scale=q_scale, seed=seed, teacher=dict(teacher.meta)))


def train_linearised_model() -> Any:
    """The shipped substitutes (:data:`LINEARISED_MODEL`) for the shipped 3-layer softmax model (:data:`DISTILL_SETUP`)."""
    from ..nn.shipped import shipped_model

    return distill_linear_layers(shipped_model(SOFTMAX_MODELS[3]), **DISTILL_SETUP)


recipe(BINDING_MODEL)(train_binding_model)
recipe(LINEARISED_MODEL)(train_linearised_model)
for _depth, _name in LINEAR_MODELS.items():
    recipe(_name)(functools.partial(train_linear_model, _depth))
for _depth, _name in SOFTMAX_MODELS.items():
    recipe(_name)(functools.partial(train_raw_model, ("softmax",) * _depth))
for (_family, _arch), _name in FIG7_MODELS.items():
    recipe(_name)(functools.partial(train_fig7_model, _family, _arch))


@finite_result
def raw_forward(params: dict, config: Any, inputs: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Attention weights and residual stream of a transformer, in numpy.

    The float64 reference forward (:func:`aievo.mesa.nn.reference.run`) with its attention weights.

    Parameters
    ----------
    params : dict
        Parameter pytree of :class:`aievo.mesa.nn.TrainedTransformer`.
    config : TransformerConfig
    inputs : ndarray, shape (B, T, D)
        Task inputs (raw LDS states for ``token_format="lds_raw"``).

    Returns
    -------
    weights : list of ndarray, each (B, H, T, T)
        Per layer, ``weights[b, h, t, t']``: attention of query ``t`` on key ``t'`` (zero where
        the mask forbids; for a linear layer the unnormalised scores ``q_t . k_t'``, for a mesa
        layer the same with the preconditioned queries).
    acts : list of ndarray, each (B, T, E)
        Residual stream before the first layer and after every layer.
    """
    from ..nn.reference import run

    inputs = check_array(inputs, "inputs", 3, shape_text="an array of shape (B, T, D)")
    trace = run(params, config, inputs, attention=True)
    return trace.attention, trace.residual


@finite_result
def softmax_first_layer(params: dict, config: Any, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attention weights and residual stream of a model's first (softmax) layer, in numpy.

    The first layer of the float64 reference forward (:func:`aievo.mesa.nn.reference.run`).

    Parameters
    ----------
    params : dict
        Parameter pytree of :class:`aievo.mesa.nn.TrainedTransformer`.
    config : TransformerConfig
        Its first layer must be a softmax layer.
    inputs : ndarray, shape (B, T, D)
        Task inputs (raw LDS states for ``token_format="lds_raw"``).

    Returns
    -------
    weights : ndarray, shape (B, H, T, T)
        ``weights[b, h, t, t']``: attention of query ``t`` on key ``t'`` (zero where the mask forbids).
    h0, h1 : ndarray, shape (B, T, E)
        Residual stream before and after the layer.
    """
    if config.attention[0] != "softmax":
        raise bad_argument(InvalidParameterError, "config", config.attention, "a first layer of kind 'softmax'")
    w, acts = raw_forward(params, config, inputs)
    return w[0], acts[0], acts[1]


def _prop2_features(S: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    """``sum_{t'<=t} s_{t'} (k_{t'}^T q_t)`` after the preconditioning steps (the prediction for ``eta = 1``)."""
    Q = S.copy()
    K = np.zeros_like(S)
    K[:, 1:] = S[:, :-1]
    for g in gammas:
        # H_t x = sum_{t'<=t} k_{t'} (k_{t'}^T x), for every token's own H_t
        HQ = np.tril(Q @ K.swapaxes(1, 2)) @ K
        HK = np.tril(K @ K.swapaxes(1, 2)) @ K
        Q, K = Q - g * HQ, K - g * HK
    return np.tril(Q @ K.swapaxes(1, 2)) @ S


@finite_result
def prop2_predict(S: np.ndarray, gammas: Any, eta: float) -> np.ndarray:
    """The multi-layer optimizer of Proposition 2: causal preconditioning steps, then one GD step.

    On constructed tokens every token ``t`` carries a query copy ``q_t = s_t`` and a key
    ``k_t = s_{t-1}`` (``s_0 = 0``); the values ``s_t`` stay fixed. Each of the ``K - 1``
    preconditioning layers updates every token with its own causal sum of the current keys,
    ``H_t = sum_{t'<=t} k_{t'} k_{t'}^T``::

        q_t <- (I - gamma H_t) q_t,    k_t <- (I - gamma H_t) k_t,

    (GD++ of von Oswald et al. 2023a made causal), and the last layer takes one GD step from
    ``W = 0``: ``shat_{t+1} = eta sum_{t'<=t} s_{t'} (k_{t'}^T q_t)``. With no ``gammas`` this is
    Proposition 1 (:func:`aievo.mesa.baselines.gd_sequence_predict`).

    Parameters
    ----------
    S : ndarray, shape (B, T, D)
        States ``s_1..s_T``.
    gammas : sequence of float
        Step sizes of the ``K - 1`` preconditioning layers (may be empty).
    eta : float
        GD step of the last layer.

    Returns
    -------
    ndarray, shape (B, T, D)
        Predictions of the targets ``s_2..s_{T+1}``.
    """
    from .._checks import check_float

    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    g = np.asarray(gammas, dtype=np.float64).reshape(-1) if np.size(gammas) else np.zeros(0)
    if not np.all(np.isfinite(g)):
        raise bad_argument(InvalidParameterError, "gammas", gammas, "finite step sizes")
    return check_float(eta, "eta") * _prop2_features(S, g)


def tune_prop2(S: np.ndarray, targets: np.ndarray, K: int, start: Any = ()) -> tuple[np.ndarray, float]:
    """Step sizes of :func:`prop2_predict` with ``K`` layers that minimise the loss on ``(S, targets)``.

    For given ``gammas`` the prediction is linear in ``eta``, whose best value is closed form; the
    ``K - 1`` ``gammas`` are found by Nelder--Mead from ``start`` (padded with 0.01).

    Returns
    -------
    gammas : ndarray, shape (K - 1,)
    eta : float
    """
    from scipy.optimize import minimize

    from .._checks import check_int

    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    Y = check_array(targets, "targets", 3, shape_text="an array of shape (B, T, D)")
    if Y.shape != S.shape:
        raise bad_argument(ShapeError, "targets.shape", Y.shape, f"{S.shape} like S")
    K = check_int(K, "K")

    def best(g: np.ndarray) -> tuple[float, float]:
        F = _prop2_features(S, g)
        ff = float(np.sum(F * F))
        eta = float(np.sum(F * Y)) / ff if ff > 0 else 0.0
        return eta, float(np.sum((Y - eta * F) ** 2))

    if K == 1:
        return np.zeros(0), best(np.zeros(0))[0]
    x0 = np.r_[np.asarray(start, dtype=np.float64).reshape(-1)[: K - 1],
               np.full(max(0, K - 1 - np.size(start)), 0.01)]

    def loss(g: np.ndarray) -> float:
        if not np.all(np.abs(g) < 1.0):  # steps this large diverge on these sequences
            return np.inf
        with np.errstate(over="ignore", invalid="ignore"):
            val = best(g)[1]
        return val if np.isfinite(val) else np.inf

    res = minimize(loss, x0, method="Nelder-Mead", options=dict(xatol=1e-6, fatol=1e-9, maxiter=200 * K))
    return np.asarray(res.x, dtype=np.float64), best(res.x)[0]


def raw_predict(model: "TrainedTransformer", inputs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Next-state predictions ``(B, T, D)`` of a model on raw states (:func:`raw_forward`), and its residual stream."""
    _, acts = raw_forward(model.params, model.config, inputs)
    h = acts[-1]
    pred = h @ np.asarray(model.params["readout"], np.float64).T if "readout" in model.params else h[..., :model.config.data_dim]
    return pred, acts


def swap_layers(model: "TrainedTransformer", substitutes: "TrainedTransformer", layers: Any) -> "TrainedTransformer":
    """``model`` with its layers ``layers`` (0-based) taken from ``substitutes`` (same width, any attention kind)."""

    idx = sorted({int(i) for i in layers})
    if not all(0 <= i < model.config.n_layers for i in idx) or substitutes.config.n_layers != model.config.n_layers:
        raise bad_argument(InvalidParameterError, "layers", layers,
                           f"indices in [0, {model.config.n_layers}) of models of equal depth")
    att = list(model.config.attention)
    new = list(model.params["layers"])
    for i in idx:
        att[i] = substitutes.config.attention[i]
        new[i] = substitutes.params["layers"][i]
    return dataclasses.replace(model, config=dataclasses.replace(model.config, attention=tuple(att)),
                               params=dict(model.params, layers=new))


def lsq_expected_loss(d: int, N: int, noise: float) -> float:
    """Expected squared error of least squares on ``N`` Gaussian points in ``d`` dimensions (closed form).

    Task: ``x ~ N(0, I_d)``, ``y = w^T x / sqrt(d) + noise * eps``; the ordinary least-squares fit
    on ``N > d + 1`` points predicts a fresh query with error
    ``E (yhat - y)^2 = noise^2 (1 + d / (N - d - 1))`` (the mean of an inverse Wishart matrix).
    """
    from .._checks import check_float, check_int

    d = check_int(d, "d")
    N = check_int(N, "N", minimum=d + 2)
    noise = check_float(noise, "noise", nonnegative=True)
    return noise**2 * (1.0 + d / (N - d - 1))


def gd_expected_loss(d: int, N: int, noise: float) -> tuple[float, float]:
    """Best step and expected squared error of one GD step from ``w = 0`` (linear attention), closed form.

    Same task as :func:`lsq_expected_loss`; ``yhat = (eta / N) sum_i y_i x_i^T x_q``. With
    ``S = X^T X / N`` Wishart, ``E S^2 = (1 + (d + 1) / N) I``, so the error is
    ``1 - 2 eta + eta^2 (1 + (d + 1) / N) + eta^2 noise^2 d / N + noise^2``, smallest at
    ``eta = 1 / (1 + (d + 1 + noise^2 d) / N)``.

    Returns
    -------
    eta, loss : float
    """
    from .._checks import check_float, check_int

    d = check_int(d, "d")
    N = check_int(N, "N")
    noise = check_float(noise, "noise", nonnegative=True)
    a = 1.0 + (d + 1 + noise**2 * d) / N
    eta = 1.0 / a
    return eta, 1.0 - 2 * eta + a * eta**2 + noise**2


def softmax_kernel_predict(X: np.ndarray, y: np.ndarray, xq: np.ndarray, beta: float) -> np.ndarray:
    """Softmax kernel regression (one softmax attention head): ``yhat = sum_i softmax_i(beta x_q . x_i / sqrt(d)) y_i``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    beta : float
        Inverse temperature.

    Returns
    -------
    ndarray, shape (B,)
    """
    from .._checks import check_float

    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    y = check_array(y, "y", 2, shape_text="an array of shape (B, N)")
    xq = check_array(xq, "xq", 2, shape_text="an array of shape (B, d)")
    if y.shape != X.shape[:2] or xq.shape != (X.shape[0], X.shape[2]):
        raise bad_argument(ShapeError, "y.shape, xq.shape", (y.shape, xq.shape), f"{X.shape[:2]} and "
                           f"{(X.shape[0], X.shape[2])}")
    beta = check_float(beta, "beta")
    logits = beta * np.einsum("bnd,bd->bn", X, xq) / math.sqrt(X.shape[2])
    logits -= logits.max(axis=1, keepdims=True)
    w = np.exp(logits)
    return np.sum(w * y, axis=1) / np.sum(w, axis=1)
