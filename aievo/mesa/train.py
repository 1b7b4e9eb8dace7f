"""Linear self-attention models as numpy weights, trained through the JAX layer.

Two models, each with an exact float64 numpy forward pass and a trainer:

* :func:`train_lsa` -- one linear self-attention (LSA) layer on in-context
  linear regression (von Oswald et al. 2023a, docs/explanation/mesa-facts.md).
  Tokens are ``e_i = (x_i, y_i)`` for the ``N`` context points and
  ``e_q = (x_q, 0)`` for the query; keys and values come from the context
  tokens only; the prediction is minus the query's y-slot after the layer::

      yhat = -[P W_V sum_i e_i e_i^T W_K^T W_Q e_q]_y

* :func:`train_linear_tf` -- a causal, multi-layer, multi-head linear
  transformer on constructed tokens ``(0, s_t, s_t, s_{t-1})`` of a linear
  dynamical system (von Oswald et al. 2023b, section 2). Each layer adds
  ``sum_h P_h sum_{t' <= t} v_{t'} k_{t'}^T q_t`` to every token; the
  prediction of ``s_{t+1}`` is the first ``D`` entries of the last layer's
  output. Heads can be *mesa heads*, which replace ``q_t`` by
  ``(sum_{t'<=t} k_{t'} k_{t'}^T + I / lambda)^{-1} q_t`` with a learned
  ``lambda`` per head.

Both trainers are thin wrappers of :func:`aievo.mesa.nn.train_transformer`
(automatic differentiation and optax; the ``jax`` extra) with the official
optimiser of each paper by default (:func:`aievo.mesa.nn.official_setup`), and
return the trained weights as numpy arrays (:class:`LSAResult`,
:class:`LinearTFResult`), whose forward passes (:func:`lsa_predict`,
:func:`linear_tf_forward`) need no JAX. Loss conventions follow the official
code: ``sum (yhat - y)^2 / (2B)`` for regression and
``sum (pred - target)^2 / (2 B T)`` for sequences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidParameterError, NumericalRangeError, ShapeError, bad_argument
from ._checks import as_rng, check_array, check_float, check_int, spawn

if TYPE_CHECKING:  # pragma: no cover
    from .nn.config import TransformerConfig
    from .nn.result import TrainedTransformer

__all__ = [
    "LSAResult",
    "LinearTFResult",
    "lsa_tokens",
    "lsa_init",
    "lsa_predict",
    "train_lsa",
    "linear_tf_init",
    "linear_tf_forward",
    "train_linear_tf",
    "alignment",
    "Alignment",
    "GDReference",
]

#: ``config["trainer"]`` of results made by :func:`train_lsa` and :func:`train_linear_tf`.
TRAINER = "aievo.mesa.nn.train_transformer"


def _opt_positive(value: Any, name: str) -> float | None:
    return None if value is None else check_float(value, name, positive=True)


def _check_trained(model: TrainedTransformer, lr: float) -> None:
    """A run that diverged (a non-finite loss or weight) stops with an error naming the step size."""
    import jax

    losses = np.concatenate([model.history["train_loss"], model.history["eval_loss"]])
    finite_weights = all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(model.params))
    if np.all(np.isfinite(losses)) and finite_weights:
        return
    tl = model.history["train_loss"]
    bad = np.flatnonzero(~np.isfinite(tl))
    step = int(bad[0]) if bad.size else tl.size
    loss = tl[step] if bad.size else "not finite"
    raise NumericalRangeError(
        f"lr={lr!r} is invalid: training diverged (the loss was {loss} at step {step}); "
        "expected a smaller learning rate"
    )


# --------------------------------------------------------------------------- LSA on regression
_LSA_KEYS = ("Wq", "Wk", "Wv", "P")


def lsa_tokens(X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Context tokens ``E[B, N, d+1] = (x_i, y_i)`` and query tokens ``eq[B, d+1] = (x_q, 0)``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
        Context inputs.
    y : ndarray, shape (B, N)
        Context labels.
    xq : ndarray, shape (B, d)
        Query inputs.

    Returns
    -------
    E : ndarray, shape (B, N, d+1)
    eq : ndarray, shape (B, d+1)
    """
    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    y = check_array(y, "y", 2, shape_text="an array of shape (B, N)")
    xq = check_array(xq, "xq", 2, shape_text="an array of shape (B, d)")
    B, N, d = X.shape
    if y.shape != (B, N):
        raise bad_argument(ShapeError, "y.shape", y.shape, f"({B}, {N}) to match X.shape={X.shape}")
    if xq.shape != (B, d):
        raise bad_argument(ShapeError, "xq.shape", xq.shape, f"({B}, {d}) to match X.shape={X.shape}")
    E = np.concatenate([X, y[..., None]], axis=-1)
    eq = np.concatenate([xq, np.zeros((B, 1))], axis=-1)
    return E, eq


def _check_lsa_params(params: dict[str, np.ndarray], dim: int | None = None) -> int:
    if not isinstance(params, dict) or any(k not in params for k in _LSA_KEYS):
        raise bad_argument(InvalidParameterError, "params", params, "a dict with keys Wq, Wk, Wv, P")
    n = np.asarray(params["Wq"]).shape[0]
    for k in _LSA_KEYS:
        if np.asarray(params[k]).shape != (n, n):
            raise bad_argument(ShapeError, f"params[{k!r}].shape", np.asarray(params[k]).shape, f"({n}, {n})")
    if dim is not None and n != dim:
        raise bad_argument(ShapeError, "params['Wq'].shape", (n, n), f"({dim}, {dim}) for tokens of width {dim}")
    return n


def lsa_init(d: int, rng: Any = 0, init_std: float = 0.002) -> dict[str, np.ndarray]:
    """Random LSA weights ``Wq, Wk, Wv, P`` of shape ``(d+1, d+1)``, entries ``N(0, init_std^2)``."""
    d = check_int(d, "d")
    init_std = check_float(init_std, "init_std", positive=True)
    g = as_rng(rng)
    return {k: g.normal(0.0, init_std, size=(d + 1, d + 1)) for k in _LSA_KEYS}


def lsa_predict(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Prediction ``yhat[B]`` of one LSA layer: minus the query's y-slot after the update.

    Parameters
    ----------
    params : dict
        ``Wq, Wk, Wv, P``, each ``(d+1, d+1)`` (column-vector convention).
    X, y, xq : ndarray
        Tasks as from :func:`aievo.mesa.tasks.sample_regression_tasks`.

    Returns
    -------
    ndarray, shape (B,)
    """
    E, eq = lsa_tokens(X, y, xq)
    _check_lsa_params(params, E.shape[-1])
    Wq, Wk, Wv, P = (params[k] for k in _LSA_KEYS)
    z = eq @ Wq.T  # W_Q e_q
    kz = z @ Wk  # W_K^T W_Q e_q
    c = np.einsum("bni,bnj,bj->bi", E, E, kz)  # C kz, C = sum_i e_i e_i^T
    r = P[-1]  # row d of P
    return -(c @ Wv.T) @ r


@dataclass
class LSAResult:
    """A trained one-layer LSA on in-context regression.

    Attributes
    ----------
    params : dict of str to ndarray
        ``Wq, Wk, Wv, P``, each ``(d+1, d+1)``.
    train_loss : ndarray, shape (steps,)
        Loss of the training batch at every step (before the step's update).
    eval_steps : ndarray
        Steps at which the fixed evaluation set was scored (0 = initial weights).
    eval_loss : ndarray
        Loss on the evaluation set at ``eval_steps``.
    config : dict
        The arguments of :func:`train_lsa`.
    """

    params: dict[str, np.ndarray]
    train_loss: np.ndarray
    eval_steps: np.ndarray
    eval_loss: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def u(self) -> np.ndarray:
        """Last row of ``P W_V``: how values are written into the query's y-slot."""
        return (self.params["P"] @ self.params["Wv"])[-1]

    @property
    def M(self) -> np.ndarray:
        """``W_K^T W_Q``: the bilinear form between keys and queries."""
        return self.params["Wk"].T @ self.params["Wq"]

    def effective_step(self) -> float:
        """``-u_y * mean(diag(M_xx))``: the learned step, comparable to ``eta / N`` of 1-step GD."""
        d = self.params["Wq"].shape[0] - 1
        return float(-self.u[-1] * np.mean(np.diag(self.M)[:d]))

    def predict(self, X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
        """Predictions ``yhat[B]`` for tasks ``(X, y, xq)``."""
        return lsa_predict(self.params, X, y, xq)

    def loss(self, X: np.ndarray, y: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> float:
        """``sum (yhat - yq)^2 / (2B)``."""
        res = self.predict(X, y, xq) - np.asarray(yq, dtype=np.float64)
        return float(res @ res / (2 * res.shape[0]))

    def grad_xq(self, X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
        """``d yhat / d x_q`` per task, shape ``(B, d)`` (exact: ``yhat`` is linear in ``x_q``)."""
        E, _ = lsa_tokens(X, y, xq)
        d = E.shape[-1] - 1
        Cu = np.einsum("bni,bnj,j->bi", E, E, self.u)
        return -(Cu @ self.M)[:, :d]

    def as_transformer(self) -> TrainedTransformer:
        """The layer as a :class:`aievo.mesa.nn.TrainedTransformer` (one linear head, ``token_format="regression"``).

        Its numpy forward (``predict(..., backend="numpy")``) equals :meth:`predict`; its
        JAX forward is the model :func:`train_lsa` trained.
        """
        from .nn.result import TrainedTransformer

        d = _check_lsa_params(self.params) - 1
        params = {"layers": [{"attn": {k: np.asarray(self.params[k], dtype=np.float64)[None] for k in _LSA_KEYS}}]}
        return TrainedTransformer(_lsa_model(d, None), params)

    def evaluation_tasks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The fixed evaluation set ``(X, y, xq, yq, w)`` that :func:`train_lsa` scored ``eval_loss`` on.

        Drawn again from the run's seed (the second of the three streams
        :func:`aievo.mesa.nn.train_transformer` spawns); needs a result of
        :func:`train_lsa` called with an integer ``rng``.
        """
        from .tasks import sample_regression_tasks

        cfg = self.config
        if cfg.get("trainer") != TRAINER or not isinstance(cfg.get("rng"), int):
            raise bad_argument(InvalidParameterError, "config", {k: cfg.get(k) for k in ("trainer", "rng")},
                               f"a result of train_lsa (trainer {TRAINER!r}) run with an integer rng")
        g_eval = spawn(as_rng(cfg["rng"]), 3)[1]
        return sample_regression_tasks(g_eval, cfg["eval_tasks"], cfg["d"], cfg["N"],
                                       x_halfwidth=cfg["x_halfwidth"], w_scale=cfg["w_scale"])


def _lsa_model(d: int, init_std: float | None) -> TransformerConfig:
    """One linear head on regression tokens with ``key_size = d + 1`` (the shapes of :func:`lsa_init`)."""
    from .nn.config import official_setup

    model = official_setup("vonoswald2023a_regression").model
    changes: dict[str, Any] = dict(data_dim=d, key_size=d + 1)
    if init_std is not None:
        changes.update(init="normal", init_scale=init_std)
    return dataclasses.replace(model, **changes)


def train_lsa(
    *,
    d: int = 10,
    N: int = 10,
    steps: int = 5000,
    batch: int = 512,
    lr: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.98,
    clip_norm: float | None = 1e-3,
    init_std: float | None = None,
    x_halfwidth: float = 0.5,
    w_scale: float = 1.0,
    eval_every: int = 100,
    eval_tasks: int = 10000,
    rng: Any = 0,
    progress: bool | None = False,
) -> LSAResult:
    """Train one LSA layer on in-context linear regression (JAX, optax; the ``jax`` extra).

    A wrapper of :func:`aievo.mesa.nn.train_transformer` (float32) on
    :class:`aievo.mesa.nn.RegressionTask` with the official optimiser of von
    Oswald et al. (2023a; :func:`aievo.mesa.nn.official_setup`
    ``"vonoswald2023a_regression"``): Adam at a constant rate, ``b2 = 0.98``,
    global-norm gradient clip 0.001, no weight decay, variance-scaling initial
    weights. The official run is 50 000 steps at batch 2048; the defaults here
    are smaller.

    Parameters
    ----------
    d, N : int
        Input dimension and number of context points (official: 10, 10).
    steps, batch : int
        Optimiser steps and tasks per step (a fresh batch every step).
    lr, b1, b2 : float
        Adam hyper-parameters (official: 1e-3, 0.9, 0.98; ``b2`` was 0.999 in aievo 0.1).
    clip_norm : float or None
        Global gradient-norm clip (official: 0.001, the default; ``None``, no clipping, was the default in aievo 0.1).
    init_std : float or None
        ``None`` (the default): the official initialisation, a truncated normal
        with std ``sqrt(0.002 / (d + 1))``. A float: Gaussian initial weights with this
        standard deviation (0.002 was the default in aievo 0.1).
    x_halfwidth, w_scale : float
        Task distribution: ``x ~ U(-h, h)``, ``w ~ N(0, w_scale^2 I)``.
    eval_every, eval_tasks : int
        A fixed evaluation set (:meth:`LSAResult.evaluation_tasks`) is scored every
        ``eval_every`` steps and at the end.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
        Seed or generator for initial weights, evaluation set and batches.
    progress : bool or None
        Show a progress bar.

    Returns
    -------
    LSAResult
        Float64 copies of the trained (float32) weights; ``eval_loss`` is scored in float32.

    Raises
    ------
    MissingExtraError
        Without the ``jax`` extra.
    NumericalRangeError
        If training diverged (a non-finite loss or weight).
    """
    d = check_int(d, "d")
    N = check_int(N, "N")
    steps = check_int(steps, "steps", minimum=0)
    batch = check_int(batch, "batch")
    eval_every = check_int(eval_every, "eval_every")
    eval_tasks = check_int(eval_tasks, "eval_tasks")
    lr = check_float(lr, "lr", positive=True)
    clip_norm = _opt_positive(clip_norm, "clip_norm")
    init_std = _opt_positive(init_std, "init_std")
    from .nn.config import OptimConfig, RegressionTask
    from .nn.train import train_transformer

    optim = OptimConfig(lr=lr, warmup_steps=0, decay_steps=None, weight_decay=0.0, b1=b1, b2=b2,
                        clip=clip_norm, clip_kind="global_norm")
    task = RegressionTask(d=d, N=N, x_halfwidth=x_halfwidth, w_scale=w_scale)
    model = train_transformer(_lsa_model(d, init_std), task, steps, batch, rng, optim=optim, eval_every=eval_every,
                              eval_sequences=eval_tasks, progress=progress)
    _check_trained(model, lr)
    attn = model.params["layers"][0]["attn"]
    params = {k: np.asarray(attn[k][0], dtype=np.float64) for k in _LSA_KEYS}
    config = dict(d=d, N=N, steps=steps, batch=batch, lr=lr, b1=b1, b2=b2, clip_norm=clip_norm,
                  init_std=init_std, x_halfwidth=x_halfwidth, w_scale=w_scale, eval_every=eval_every,
                  eval_tasks=eval_tasks, rng=model.meta["seed"], trainer=TRAINER)
    h = model.history
    return LSAResult(params, h["train_loss"], h["eval_step"], h["eval_loss"], config)



# --------------------------------------------------------------------------- linear TF on LDS tokens
_TF_KEYS = ("Wq", "Wk", "Wv", "P")


def linear_tf_init(
    D: int = 10,
    n_layers: int = 2,
    n_heads: int = 4,
    key_size: int = 20,
    *,
    mesa: bool | Sequence[bool] = False,
    lam_init: float = 1.0,
    init_std: float = 0.02,
    rng: Any = 0,
) -> list[dict[str, np.ndarray]]:
    """Random weights of a causal linear transformer on tokens of width ``4 D``.

    Parameters
    ----------
    D : int
        State dimension; tokens ``(0, s_t, s_t, s_{t-1})`` have width ``4 D``.
    n_layers, n_heads, key_size : int
        Depth, heads per layer and key (= value) size.
    mesa : bool or sequence of bool
        Whether the heads of a layer (all layers if a bool) are mesa heads.
    lam_init : float
        Initial ``lambda`` of mesa heads (official: 1.0; ridge penalty ``1/lambda``).
    init_std : float
        Standard deviation of the Gaussian initial weights.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)

    Returns
    -------
    list of dict
        Per layer: ``Wq, Wk`` of shape ``(H, key_size, 4D)``, ``Wv`` of shape
        ``(H, key_size, 4D)``, ``P`` of shape ``(H, 4D, key_size)`` and, for
        mesa layers, ``lam`` of shape ``(H,)``.
    """
    D = check_int(D, "D")
    n_layers = check_int(n_layers, "n_layers")
    n_heads = check_int(n_heads, "n_heads")
    key_size = check_int(key_size, "key_size")
    init_std = check_float(init_std, "init_std", positive=True)
    lam_init = check_float(lam_init, "lam_init", positive=True)
    flags = _mesa_flags(mesa, n_layers)
    g = as_rng(rng)
    E = 4 * D
    layers = []
    for is_mesa in flags:
        p = {
            "Wq": g.normal(0.0, init_std, (n_heads, key_size, E)),
            "Wk": g.normal(0.0, init_std, (n_heads, key_size, E)),
            "Wv": g.normal(0.0, init_std, (n_heads, key_size, E)),
            "P": g.normal(0.0, init_std, (n_heads, E, key_size)),
        }
        if is_mesa:
            p["lam"] = np.full(n_heads, lam_init)
        layers.append(p)
    return layers


def _mesa_flags(mesa: Any, n_layers: int) -> tuple[bool, ...]:
    if isinstance(mesa, (bool, np.bool_)):
        return (bool(mesa),) * n_layers
    try:
        flags = tuple(bool(m) for m in mesa)
    except TypeError:
        raise bad_argument(InvalidParameterError, "mesa", mesa, "a bool or one bool per layer") from None
    if len(flags) != n_layers:
        raise bad_argument(InvalidParameterError, "mesa", mesa, f"a bool or {n_layers} bools (one per layer)")
    return flags


def _check_layers(layers: Any, width: int) -> None:
    if not isinstance(layers, (list, tuple)) or not layers:
        raise bad_argument(InvalidParameterError, "layers", layers, "a non-empty list of per-layer weight dicts")
    for i, p in enumerate(layers):
        if not isinstance(p, dict) or any(k not in p for k in _TF_KEYS):
            raise bad_argument(InvalidParameterError, f"layers[{i}]", p, "a dict with keys Wq, Wk, Wv, P")
        H, ks, E = np.shape(p["Wq"])
        if E != width:
            raise bad_argument(ShapeError, f"layers[{i}]['Wq'].shape", np.shape(p["Wq"]), f"(H, k, {width})")
        for k, shape in (("Wk", (H, ks, E)), ("Wv", (H, ks, E)), ("P", (H, E, ks))):
            if np.shape(p[k]) != shape:
                raise bad_argument(ShapeError, f"layers[{i}][{k!r}].shape", np.shape(p[k]), str(shape))
        if "lam" in p:
            lam = np.asarray(p["lam"])
            if lam.shape != (H,) or not np.all(lam > 0):
                raise bad_argument(InvalidParameterError, f"layers[{i}]['lam']", p["lam"],
                                   f"{H} positive values (one per head)")


def _layer_forward(p: dict[str, np.ndarray], h: np.ndarray, mask: np.ndarray) -> np.ndarray:
    Q = np.tensordot(h, p["Wq"], axes=([2], [2])).transpose(0, 2, 1, 3)  # [B, H, T, k]
    K = np.tensordot(h, p["Wk"], axes=([2], [2])).transpose(0, 2, 1, 3)
    V = np.tensordot(h, p["Wv"], axes=([2], [2])).transpose(0, 2, 1, 3)
    if "lam" in p:  # mesa heads: q~_t = (sum_{t' <= t} k_t' k_t'^T + I / lam)^{-1} q_t
        ks = K.shape[-1]
        A = np.cumsum(K[..., :, None] * K[..., None, :], axis=2)
        A = A + (1.0 / p["lam"])[None, :, None, None, None] * np.eye(ks)
        Q = np.linalg.solve(A, Q[..., None])[..., 0]
    S = (Q @ K.swapaxes(-1, -2)) * mask  # S[t, t'] = q_t . k_t' for t' <= t
    return h + np.tensordot(S @ V, p["P"], axes=([1, 3], [0, 2]))


def _tokens(inputs: np.ndarray) -> np.ndarray:
    from .tasks import construct_full_tokens

    return construct_full_tokens(inputs)


def linear_tf_forward(
    layers: list[dict[str, np.ndarray]], tokens: np.ndarray, *, act_clip: float | None = None
) -> list[np.ndarray]:
    """Token activations of a causal linear transformer, layer by layer.

    Parameters
    ----------
    layers : list of dict
        Weights as from :func:`linear_tf_init`.
    tokens : ndarray, shape (B, T, E)
        Input tokens (for LDS tasks, ``construct_full_tokens(inputs)``).
    act_clip : float or None
        If given, every layer's output is clipped to ``[-act_clip, act_clip]``
        (the official models clip at 1.5).

    Returns
    -------
    list of ndarray
        ``L + 1`` arrays of shape ``(B, T, E)``: the input tokens, then the
        output of every layer. The prediction is ``acts[-1][..., :D]``.
    """
    tokens = check_array(tokens, "tokens", 3, shape_text="an array of shape (B, T, E)")
    _check_layers(layers, tokens.shape[-1])
    T = tokens.shape[1]
    mask = np.tril(np.ones((T, T)))
    clip = _check_clip(act_clip)
    acts = [tokens]
    for p in layers:
        h = _layer_forward(p, acts[-1], mask)
        acts.append(h if clip is None else np.clip(h, -clip, clip))
    return acts


def _check_clip(act_clip: Any) -> float | None:
    return None if act_clip is None else check_float(act_clip, "act_clip", positive=True)


@dataclass
class LinearTFResult:
    """A trained causal linear transformer on constructed LDS tokens.

    Attributes
    ----------
    layers : list of dict
        Weights per layer (see :func:`linear_tf_init`).
    train_loss : ndarray, shape (steps,)
        Training-batch loss at every step (before the update).
    eval_steps, eval_loss : ndarray
        Loss of the fixed evaluation batch at these steps.
    config : dict
        Arguments of :func:`train_linear_tf`.
    """

    layers: list[dict[str, np.ndarray]]
    train_loss: np.ndarray
    eval_steps: np.ndarray
    eval_loss: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def D(self) -> int:
        """State dimension."""
        return self.layers[0]["Wq"].shape[-1] // 4

    def activations(self, inputs: np.ndarray) -> list[np.ndarray]:
        """Token activations ``[tokens, layer 1, ..., layer L]`` for states ``inputs[B, T, D]``."""
        return linear_tf_forward(self.layers, _tokens(inputs), act_clip=self.config.get("act_clip"))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Predicted next states ``[B, T, D]`` (prediction at ``t`` is of ``s_{t+1}``)."""
        return self.activations(inputs)[-1][..., : self.D]

    def per_position_loss(self, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """``sum_{batch, dim} (pred - target)^2 / (2B)`` per position, shape ``(T,)``."""
        res = self.predict(inputs) - np.asarray(targets, dtype=np.float64)
        return np.sum(res * res, axis=(0, 2)) / (2 * res.shape[0])

    def loss(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """``sum (pred - target)^2 / (2 B T)``: the mean of :meth:`per_position_loss`."""
        return float(np.mean(self.per_position_loss(inputs, targets)))

    def as_transformer(self) -> TrainedTransformer:
        """The model as a :class:`aievo.mesa.nn.TrainedTransformer` (``token_format="lds_constructed"``).

        Its numpy forward (``predict(..., backend="numpy")``) equals :meth:`predict`.
        """
        from .nn.result import TrainedTransformer

        H, k, E = np.shape(self.layers[0]["Wq"])
        config = _tf_model(self.D, len(self.layers), H, k, ["lam" in p for p in self.layers],
                           self.config.get("act_clip"), 2e-4, 1.0)
        params = {"layers": [{"attn": {key: np.asarray(v, dtype=np.float64) for key, v in p.items()}}
                             for p in self.layers]}
        return TrainedTransformer(config, params)


def _tf_model(D: int, n_layers: int, n_heads: int, key_size: int, mesa: Sequence[bool], act_clip: float | None,
              init_std: float, lam_init: float) -> TransformerConfig:
    from .nn.config import TransformerConfig

    return TransformerConfig(attention=tuple("mesa" if m else "linear" for m in mesa), heads=n_heads,
                             key_size=key_size, token_format="lds_constructed", data_dim=D, act_clip=act_clip,
                             init="normal", init_scale=init_std, lam_init=lam_init)


def train_linear_tf(
    *,
    D: int = 10,
    T: int = 50,
    n_layers: int = 2,
    n_heads: int = 4,
    key_size: int = 20,
    mesa: bool | Sequence[bool] = False,
    steps: int = 1000,
    batch: int = 64,
    lr: float = 3e-4,
    b1: float = 0.9,
    b2: float = 0.999,
    clip_norm: float | None = None,
    schedule: str = "cosine",
    warmup: int = 1000,
    act_clip: float | None = 1.5,
    init_std: float = 2e-4,
    lam_init: float = 1.0,
    noise: float = 0.01,
    kind: str = "orthogonal",
    eval_every: int = 100,
    eval_batch: int = 256,
    rng: Any = 0,
    progress: bool | None = False,
    clip: float | None = 1.0,
    weight_decay: float = 0.05,
    decay_steps: int | None = 20000,
    end_lr: float = 1e-5,
) -> LinearTFResult:
    """Train a causal linear (or mesa) transformer to predict ``s_{t+1}`` on LDS sequences (the ``jax`` extra).

    A wrapper of :func:`aievo.mesa.nn.train_transformer` (float32) on
    :class:`aievo.mesa.nn.LDSTask` whose defaults are the official ones of von
    Oswald et al. (2023b; :func:`aievo.mesa.nn.official_setup`
    ``"vonoswald2023b_lds"``): initial weights ``N(0, (2e-4)^2)``, activation
    clip 1.5, AdamW (weight decay 0.05) with element-wise gradient clip 1, a
    linear warm-up from 0 to ``3e-4`` over 1000 steps then a cosine decay to
    ``1e-5`` at step 20000. (The official run is 2500 steps at batch 256.)

    Parameters
    ----------
    D, T : int
        State dimension and sequence length (official: 10, 50).
    n_layers, n_heads, key_size : int
        Architecture (official: 2 layers, 4 heads, key size 20).
    mesa : bool or sequence of bool
        Use mesa heads (in every layer, or per layer).
    steps, batch : int
        Optimiser steps and sequences per step (fresh data every step).
    lr, b1, b2 : float
        Peak learning rate (official 3e-4; 1e-3 in aievo 0.1) and Adam moments.
    clip_norm : float or None
        Global gradient-norm clip instead of the element-wise ``clip`` (default ``None``;
        1.0 in aievo 0.1). Give ``clip=None`` with it: the two do not combine.
    schedule : {"cosine", "constant"}
        ``"cosine"`` (the default): linear warm-up from 0 over ``warmup``
        steps, then a cosine decay to ``end_lr`` at step ``decay_steps`` (the official
        warm-up cosine; ``decay_steps=None``: at the last step). ``"constant"``: ``lr``
        throughout (the default in aievo 0.1).
    warmup : int
        Warm-up steps (official 1000).
    act_clip : float or None
        Clip every layer's output to ``[-act_clip, act_clip]`` (official and default: 1.5;
        ``None``, no clipping, was the default in aievo 0.1).
    init_std, lam_init : float
        Initial weight scale (official 2e-4; 0.02 in aievo 0.1) and initial ``lambda`` of mesa heads.
    noise, kind : float, str
        LDS noise and kind, passed to :func:`aievo.mesa.tasks.sample_lds`.
    eval_every, eval_batch : int
        A fixed evaluation batch is scored every ``eval_every`` steps and at the end.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    progress : bool or None
        Show a progress bar.
    clip : float or None
        Element-wise gradient clip (official: 1.0).
    weight_decay : float
        Decoupled (AdamW) weight decay (official: 0.05).
    decay_steps : int or None
        End of the cosine decay (official: 20000; ``schedule="cosine"`` only).
    end_lr : float
        Learning rate at the end of the cosine decay (official: 1e-5).

    Returns
    -------
    LinearTFResult
        Float64 copies of the trained (float32) weights; losses scored in float32.

    Raises
    ------
    MissingExtraError
        Without the ``jax`` extra.
    NumericalRangeError
        If training diverged (a non-finite loss or weight).
    """
    steps = check_int(steps, "steps", minimum=0)
    batch = check_int(batch, "batch")
    n_layers = check_int(n_layers, "n_layers")
    eval_every = check_int(eval_every, "eval_every")
    eval_batch = check_int(eval_batch, "eval_batch")
    lr = check_float(lr, "lr", positive=True)
    clip = _opt_positive(clip, "clip")
    clip_norm = _opt_positive(clip_norm, "clip_norm")
    if clip is not None and clip_norm is not None:
        raise bad_argument(InvalidParameterError, "clip_norm", clip_norm,
                           f"None when clip={clip!r} (one kind of clipping; pass clip=None for a global-norm clip)")
    if schedule not in ("constant", "cosine"):
        raise bad_argument(InvalidParameterError, "schedule", schedule, "'constant' or 'cosine'")
    warmup = check_int(warmup, "warmup", minimum=0)
    flags = _mesa_flags(mesa, n_layers)
    from .nn.config import LDSTask, OptimConfig
    from .nn.train import train_transformer

    if schedule == "constant":
        sched: dict[str, Any] = dict(warmup_steps=0, decay_steps=None)
    else:
        sched = dict(warmup_steps=warmup, decay_steps=max(steps, warmup, 1) if decay_steps is None else decay_steps,
                     init_lr=0.0, end_lr=end_lr)
    optim = OptimConfig(lr=lr, b1=b1, b2=b2, weight_decay=weight_decay, clip=clip if clip_norm is None else clip_norm,
                        clip_kind="elementwise" if clip_norm is None else "global_norm", **sched)
    model_cfg = _tf_model(check_int(D, "D"), n_layers, check_int(n_heads, "n_heads"),
                          check_int(key_size, "key_size"), flags, _check_clip(act_clip),
                          check_float(init_std, "init_std", positive=True),
                          check_float(lam_init, "lam_init", positive=True))
    task = LDSTask(D=D, T=check_int(T, "T"), noise=noise, kind=kind)
    model = train_transformer(model_cfg, task, steps, batch, rng, optim=optim, eval_every=eval_every,
                              eval_sequences=eval_batch, progress=progress)
    _check_trained(model, lr)
    layers = [{k: np.asarray(v, dtype=np.float64) for k, v in layer["attn"].items()}
              for layer in model.params["layers"]]
    for p in layers:  # a mesa head's lambda must stay positive
        if "lam" in p and np.any(p["lam"] <= 0):
            raise InvalidParameterError(
                f"lr={lr!r} is invalid: expected a step small enough that mesa lambdas stay positive "
                f"(a lambda reached {p['lam'].min():.3g})")
    config = dict(D=D, T=T, n_layers=n_layers, n_heads=n_heads, key_size=key_size, mesa=list(flags), steps=steps,
                  batch=batch, lr=lr, b1=b1, b2=b2, clip_norm=clip_norm, clip=clip, weight_decay=weight_decay,
                  schedule=schedule, warmup=warmup, decay_steps=decay_steps, end_lr=end_lr,
                  act_clip=_check_clip(act_clip), init_std=init_std, lam_init=lam_init, noise=noise, kind=kind,
                  eval_every=eval_every, eval_batch=eval_batch, rng=model.meta["seed"], trainer=TRAINER)
    h = model.history
    return LinearTFResult(layers, h["train_loss"], h["eval_step"], h["eval_loss"], config)



# --------------------------------------------------------------------------- alignment with GD
@dataclass(frozen=True)
class Alignment:
    """How closely two in-context regressors agree (von Oswald et al. 2023a, ``analyse``).

    Attributes
    ----------
    cos_sim : float
        Mean over tasks of the cosine similarity of ``d yhat / d x_q``.
    model_diff : float
        Mean over tasks of ``|| d yhat_model / d x_q - d yhat_ref / d x_q ||_2``.
    preds_diff : float
        Mean over tasks of ``|yhat_model - yhat_ref|``.
    """

    cos_sim: float
    model_diff: float
    preds_diff: float


class GDReference:
    """``K`` steps of gradient descent from ``W = 0`` as an in-context regressor.

    Step size ``eta / N`` (the official convention), through
    :func:`aievo.mesa.baselines.gd_steps`. ``d yhat / d x_q`` is the GD weight
    vector ``W_K``.

    Parameters
    ----------
    eta : float
        Learning rate in the official convention (``P = eta / N``).
    K : int
        Number of steps.
    """

    def __init__(self, eta: float, K: int = 1) -> None:
        self.eta = check_float(eta, "eta")
        self.K = check_int(K, "K")

    def weights(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """GD weights ``W_K[B, d]`` after ``K`` steps."""
        from .baselines import gd_steps

        X = check_array(X, "X", 3)
        return gd_steps(X, y, np.zeros((X.shape[0], X.shape[2])), self.eta, self.K, return_weights=True)[1]

    def predict(self, X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
        """GD predictions ``W_K x_q``."""
        return np.einsum("bd,bd->b", self.weights(X, y), check_array(xq, "xq", 2))

    def grad_xq(self, X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
        """``d yhat / d x_q = W_K``."""
        return self.weights(X, y)


def _predict_fn(model: Any, name: str) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    if hasattr(model, "predict"):
        return model.predict
    if callable(model):
        return model
    raise bad_argument(InvalidParameterError, name, model, "an object with predict(X, y, xq) or a callable")


def _grad_xq(model: Any, X: np.ndarray, y: np.ndarray, xq: np.ndarray, name: str, h: float) -> np.ndarray:
    if hasattr(model, "grad_xq"):
        return np.asarray(model.grad_xq(X, y, xq), dtype=np.float64)
    f = _predict_fn(model, name)
    d = xq.shape[1]
    out = np.empty_like(xq)
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        out[:, j] = (f(X, y, xq + e) - f(X, y, xq - e)) / (2 * h)
    return out


def alignment(model: Any, ref: Any, tasks: Sequence[np.ndarray], *, h: float = 1e-4) -> Alignment:
    """Compare two in-context regressors on the same tasks.

    Parameters
    ----------
    model, ref : object or callable
        Anything with ``predict(X, y, xq) -> yhat[B]`` (e.g. :class:`LSAResult`,
        :class:`GDReference`) or such a callable. If an object also has
        ``grad_xq(X, y, xq) -> [B, d]`` it is used; otherwise ``d yhat / d x_q``
        is taken by central differences with step ``h`` (exact up to rounding for
        predictors linear in ``x_q``).
    tasks : tuple
        ``(X, y, xq, ...)`` as from :func:`aievo.mesa.tasks.sample_regression_tasks`.
    h : float
        Finite-difference step.

    Returns
    -------
    Alignment
    """
    if not isinstance(tasks, (tuple, list)) or len(tasks) < 3:
        raise bad_argument(InvalidParameterError, "tasks", tasks, "a tuple (X, y, xq, ...)")
    h = check_float(h, "h", positive=True)
    E, _ = lsa_tokens(tasks[0], tasks[1], tasks[2])  # validates shapes
    X, y, xq = (np.asarray(a, dtype=np.float64) for a in tasks[:3])
    ga = _grad_xq(model, X, y, xq, "model", h)
    gb = _grad_xq(ref, X, y, xq, "ref", h)
    na = np.linalg.norm(ga, axis=1)
    nb = np.linalg.norm(gb, axis=1)
    denom = na * nb
    if np.any(denom == 0):
        raise bad_argument(InvalidParameterError, "model", model,
                           "regressors whose d yhat / d x_q is non-zero on every task")
    cos = np.sum(ga * gb, axis=1) / denom
    pa = np.asarray(_predict_fn(model, "model")(X, y, xq), dtype=np.float64)
    pb = np.asarray(_predict_fn(ref, "ref")(X, y, xq), dtype=np.float64)
    return Alignment(float(np.mean(cos)), float(np.mean(np.linalg.norm(ga - gb, axis=1))),
                     float(np.mean(np.abs(pa - pb))))
