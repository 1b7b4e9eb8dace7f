"""The forward pass of :mod:`aievo.mesa.nn.model` in float64 numpy: no JAX needed.

One function, :func:`run`, computes what :func:`aievo.mesa.nn.model.forward`
and :func:`aievo.mesa.nn.model.readout` compute, for every
:class:`~aievo.mesa.nn.config.TransformerConfig` (linear, softmax and mesa
attention; any heads and key size; input and output projections; GELU MLP
with the tanh approximation of :func:`jax.nn.gelu`; pre-LayerNorm;
positional encodings ``"none"``, ``"input"`` and ``"kq"``; activation
clipping; weight tying; every token format), in float64. It returns a :class:`Trace`: the
predictions, the residual stream after every layer and, on request, every
layer's attention weights. Tested against the JAX model in float64
(``tests/mesa/nn/test_reference.py``).

Mesa layers precondition the queries by solving
``(sum_{t'<=t} k_t' k_t'^T + I/lam) q~_t = q_t`` at every position
(:func:`mesa_queries`); the head's output ``sum_{t'<=t} v_t' (k_t'^T q~_t)``
is then the output of :func:`aievo.mesa.mesa_layer` (recursive least
squares), computed through explicit attention weights ``q~_t . k_t'`` so that
they can be returned and hooked like those of the other kinds.

Two optional hooks change the computation per layer (used by
:mod:`aievo.mesa.simplify`):

``qk_hook(layer, Q, K) -> (Q, K)``
    replaces the queries and keys ``(B, H, T, k)`` of a layer (before the mesa
    preconditioning);
``weights_hook(layer, scores, mask) -> weights or None``
    replaces the attention weights ``(B, H, T, T)`` computed from the scores
    (``q . k``, divided by ``sqrt(k)`` for softmax layers) and the mask; ``None``
    keeps the layer's own weights.

:class:`aievo.mesa.nn.TrainedTransformer` runs this forward pass when JAX is
not installed (its ``backend`` argument).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .config import TransformerConfig
from .params import check_params

__all__ = [
    "Trace",
    "QKHook",
    "WeightsHook",
    "tokens",
    "separate_tokens",
    "attention_mask",
    "sinusoidal_encoding",
    "gelu",
    "layer_norm",
    "mesa_queries",
    "attention_weights",
    "readout",
    "run",
    "predict",
    "activations",
    "fewshot_tokens",
    "fewshot_predict",
]

#: ``qk_hook(layer, Q, K) -> (Q, K)``: replaces a layer's queries and keys ``(B, H, T, k)``.
QKHook = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: ``weights_hook(layer, scores, mask) -> weights or None``: replaces a layer's attention weights.
WeightsHook = Callable[[int, np.ndarray, np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class Trace:
    """What :func:`run` computed.

    Attributes
    ----------
    predictions : ndarray, shape (B, P, out)
        As :func:`aievo.mesa.nn.model.predict`.
    residual : list of ndarray, each (B, T, E)
        ``[embedded tokens, after layer 1, ..., after layer L]`` (as
        :func:`aievo.mesa.nn.model.activations`).
    attention : list of ndarray, each (B, H, T, T)
        ``attention[l][b, h, t, t']``: the weight of token ``t'`` in the output
        of head ``h`` of layer ``l`` at token ``t`` (zero where the mask forbids);
        empty unless :func:`run` was asked for them.
    """

    predictions: np.ndarray
    residual: list[np.ndarray]
    attention: list[np.ndarray] = field(default_factory=list)


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def check_input_shape(config: TransformerConfig, shape: tuple[int, ...]) -> None:
    """Refuse task inputs whose shape is not ``(B, T, width)`` for ``config``'s token format (numpy and JAX alike)."""
    if len(shape) != 3:
        raise bad_argument(ShapeError, "inputs.shape", shape, "(B, T, width)")
    want = config.token_width if config.token_format in ("regression", "interleaved", "regression_separate") \
        else config.data_dim
    if shape[-1] != want:
        raise bad_argument(ShapeError, "inputs.shape", shape,
                           f"(B, T, {want}) for token_format={config.token_format!r}, data_dim={config.data_dim}")


def tokens(config: TransformerConfig, inputs: Any) -> np.ndarray:
    """Input tokens ``(B, T, token width)`` for task inputs, as :func:`aievo.mesa.nn.model.tokens` (float64)."""
    x = _f64(inputs)
    check_input_shape(config, x.shape)
    if config.token_format == "lds_constructed":
        prev = np.concatenate([np.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
        return np.concatenate([np.zeros_like(x), x, x, prev], axis=-1)
    if config.token_format == "regression_separate":
        return separate_tokens(x)
    return x


def separate_tokens(inputs: Any) -> np.ndarray:
    """Tokens ``(x_1, 0), (0, y_1), ..., (x_N, 0), (0, y_N), (x_q, y_q)`` from regression tokens ``(x_i, y_i)``.

    Parameters
    ----------
    inputs : array, shape (B, N + 1, d + 1)
        Context tokens ``(x_i, y_i)`` and the query last (as made by
        :func:`aievo.mesa.concat_tokens`; its label slot is kept as it is).

    Returns
    -------
    ndarray, shape (B, 2 N + 1, d + 1)
        The x-token of pair ``i`` at position ``2 i``, its y-token at ``2 i + 1``,
        the query last (float64).
    """
    x = _f64(inputs)
    if x.ndim != 3:
        raise bad_argument(ShapeError, "inputs.shape", x.shape, "(B, N + 1, d + 1)")
    B, n, F = x.shape
    ctx = x[:, :-1]
    xs = np.concatenate([ctx[..., :-1], np.zeros_like(ctx[..., -1:])], axis=-1)
    ys = np.concatenate([np.zeros_like(ctx[..., :-1]), ctx[..., -1:]], axis=-1)
    pairs = np.stack([xs, ys], axis=2).reshape(B, 2 * (n - 1), F)
    return np.concatenate([pairs, x[:, -1:]], axis=1)


def attention_mask(config: TransformerConfig, T: int) -> np.ndarray:
    """``mask[j, i]``: may token ``j`` read token ``i``. Causal (diagonal included) or context-only."""
    if config.causal:
        return np.tri(T, dtype=bool)
    m = np.zeros((T, T), dtype=bool)
    m[:, : T - 1] = True  # keys and values from the N context tokens, not the query
    return m


def sinusoidal_encoding(T: int, E: int) -> np.ndarray:
    """Sinusoidal positional encodings ``(T, E)``: ``sin`` on even, ``cos`` on odd columns."""
    pos = np.arange(T, dtype=np.float64)[:, None]
    i = np.arange(E)
    freq = 1.0 / 10000.0 ** ((i - i % 2) / E)
    ang = pos * freq[None, :]
    return np.where(i % 2 == 0, np.sin(ang), np.cos(ang))


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh approximation (the default of :func:`jax.nn.gelu`)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


def layer_norm(p: dict, h: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis with learned ``scale`` and ``offset``."""
    mu = h.mean(axis=-1, keepdims=True)
    var = ((h - mu) ** 2).mean(axis=-1, keepdims=True)
    return (h - mu) / np.sqrt(var + eps) * _f64(p["scale"]) + _f64(p["offset"])


def mesa_queries(K: np.ndarray, Q: np.ndarray, lam: Any) -> np.ndarray:
    """Causal ridge-preconditioned queries ``q~_t = (sum_{t'<=t} k_t' k_t'^T + I/lam)^{-1} q_t``.

    Parameters
    ----------
    K, Q : ndarray, shape (B, H, T, k)
    lam : array, shape (H,)
        Positive per-head ``lam`` (ridge penalty ``1/lam``).

    Returns
    -------
    ndarray, shape (B, H, T, k)
    """
    lam = _f64(lam)
    if lam.shape != (K.shape[1],) or not np.all(lam > 0):
        raise bad_argument(InvalidParameterError, "lam", lam, f"{K.shape[1]} positive numbers (one per head)")
    k = K.shape[-1]
    A = np.cumsum(K[..., :, None] * K[..., None, :], axis=2) + np.eye(k) / lam[:, None, None, None]
    return np.linalg.solve(A, Q[..., None])[..., 0]


def attention_weights(scores: np.ndarray, mask: np.ndarray, kind: str) -> np.ndarray:
    """Weights from scores ``(..., T, T)``: masked softmax (``"softmax"``) or the masked scores (``"linear"``, ``"mesa"``)."""
    if kind == "softmax":  # in place on one fresh array: the figures run this on millions of scores
        w = np.where(mask, scores, -np.inf)
        w -= w.max(axis=-1, keepdims=True)
        np.exp(w, out=w)
        w /= w.sum(axis=-1, keepdims=True)
        return w
    if kind in ("linear", "mesa"):
        return scores * mask
    raise bad_argument(InvalidParameterError, "kind", kind, "'linear', 'softmax' or 'mesa'")


def _attention(p: dict, kind: str, z: np.ndarray, mask: np.ndarray, kq: np.ndarray | None, layer: int,
               qk_hook: QKHook | None, weights_hook: WeightsHook | None) -> tuple[np.ndarray, np.ndarray]:
    """The update of one attention layer ``(B, T, E)`` and its weights ``(B, H, T, T)``."""
    Wq, Wk, Wv, P = (_f64(p[key]) for key in ("Wq", "Wk", "Wv", "P"))
    B, T, E = z.shape
    H, k, _ = Wq.shape

    def heads(x: np.ndarray, W: np.ndarray) -> np.ndarray:  # (B, T, E) @ (H, k, E) -> (B, H, T, k), by BLAS
        return np.swapaxes((x @ W.reshape(H * k, E).T).reshape(B, T, H, k), 1, 2)

    zk = z if kq is None else z + kq
    Q, K, V = heads(zk, Wq), heads(zk, Wk), heads(z, Wv)
    if qk_hook is not None:
        Q, K = qk_hook(layer, Q, K)
    if kind == "mesa":
        Q = mesa_queries(K, Q, p["lam"])
    scores = Q @ np.swapaxes(K, -1, -2)
    if kind == "softmax":
        scores = scores / math.sqrt(Wq.shape[1])
    w = None if weights_hook is None else weights_hook(layer, scores, mask)
    if w is None:
        w = attention_weights(scores, mask, kind)
    out = np.swapaxes(w @ V, 1, 2).reshape(B, T, H * k)
    return out @ np.swapaxes(P, 0, 1).reshape(E, H * k).T, w


def readout(params: dict, config: TransformerConfig, h: np.ndarray) -> np.ndarray:
    """Predictions ``(B, P, out)`` from the last activations, as :func:`aievo.mesa.nn.model.readout`."""
    if config.token_format == "interleaved":
        h = h[:, 0::2, :]
    elif config.token_format in ("regression", "regression_separate"):
        h = h[:, -1:, :]
    if "readout" in params:
        return h @ _f64(params["readout"]).T
    h = h[..., : config.embedded_width]  # fixed slots: not the "concat" positional columns
    if config.token_format == "interleaved":
        return h[..., :1]
    if config.token_format in ("regression", "regression_separate"):
        return -h[..., -1:]
    return h[..., : config.output_dim]


def run(params: dict, config: TransformerConfig, inputs: Any, *, attention: bool = False,
        qk_hook: QKHook | None = None, weights_hook: WeightsHook | None = None) -> Trace:
    """The model's forward pass in float64 numpy.

    Parameters
    ----------
    params : dict
        Parameter pytree (:mod:`aievo.mesa.nn.params`; numpy or JAX arrays).
    config : TransformerConfig
    inputs : array
        Task inputs, as for :func:`aievo.mesa.nn.model.tokens`.
    attention : bool, default False
        Keep every layer's attention weights in :attr:`Trace.attention`.
    qk_hook, weights_hook : callable, optional
        Per-layer replacements of the queries and keys or of the attention
        weights (see the module docstring).

    Returns
    -------
    Trace
    """
    if not isinstance(config, TransformerConfig):
        raise bad_argument(InvalidParameterError, "config", config, "a TransformerConfig")
    check_params(params, config)
    x = tokens(config, inputs)
    T = x.shape[1]
    h = x @ _f64(params["embed"]).T if "embed" in params else x
    if "input_mlp" in params:
        m = params["input_mlp"]
        h = h + (gelu(h @ _f64(m["W1"]).T + _f64(m["b1"])) @ _f64(m["W2"]).T + _f64(m["b2"]))
    if config.pos_encoding == "concat":
        h = np.concatenate([h, np.broadcast_to(sinusoidal_encoding(T, config.pos_dim), h.shape[:2] + (config.pos_dim,))],
                           axis=-1)
    pe = sinusoidal_encoding(T, config.width) if config.pos_encoding in ("input", "kq") else None
    if config.pos_encoding == "input" and pe is not None:
        h = h + pe
    kq = pe if config.pos_encoding == "kq" else None
    mask = attention_mask(config, T)
    clip = config.act_clip
    residual, weights = [h], []
    layers = params["layers"] * config.n_layers if config.tied else params["layers"]
    for i, (layer, kind) in enumerate(zip(layers, config.attention)):
        z = layer_norm(layer["ln1"], h) if "ln1" in layer else h
        update, w = _attention(layer["attn"], kind, z, mask, kq, i, qk_hook, weights_hook)
        h = h + update
        if clip is not None:
            h = np.clip(h, -clip, clip)
        if "mlp" in layer:
            m = layer["mlp"]
            z = layer_norm(layer["ln2"], h) if "ln2" in layer else h
            hidden = gelu(z @ _f64(m["W1"]).T + _f64(m["b1"]))
            h = h + (hidden @ _f64(m["W2"]).T + _f64(m["b2"]))
            if clip is not None:
                h = np.clip(h, -clip, clip)
        residual.append(h)
        if attention:
            weights.append(w)
    return Trace(readout(params, config, h), residual, weights)


def predict(params: dict, config: TransformerConfig, inputs: Any) -> np.ndarray:
    """Predictions ``(B, P, out)`` as :func:`aievo.mesa.nn.model.predict`, in float64 numpy."""
    return run(params, config, inputs).predictions


def activations(params: dict, config: TransformerConfig, inputs: Any) -> list[np.ndarray]:
    """``[embedded tokens, after layer 1, ..., after layer L]`` as :func:`aievo.mesa.nn.model.activations`."""
    return run(params, config, inputs).residual


# --------------------------------------------------------------------------- few-shot sequences (2023b Fig 8)
def check_fewshot_inputs(config: TransformerConfig | None, task: Any, X: Any, Y: Any, prompt: Any) -> None:
    """Refuse a few-shot task, inputs or prompt that do not fit together (numpy and JAX alike)."""
    from .config import FewShotTask

    if not isinstance(task, FewShotTask):
        raise bad_argument(InvalidParameterError, "task", task, "a FewShotTask")
    if config is not None and (config.token_format != "lds_raw" or config.data_dim != task.D):
        raise bad_argument(InvalidParameterError, "config", (config.token_format, config.data_dim),
                           f"token_format 'lds_raw' with data_dim {task.D} (the task's D)")
    want = (task.n_total, task.D)
    for name, a in (("X", X), ("Y", Y)):
        if len(np.shape(a)) != 3 or tuple(np.shape(a)[1:]) != want:
            raise bad_argument(ShapeError, f"{name}.shape", tuple(np.shape(a)), f"(B, {want[0]}, {want[1]})")
    if np.shape(X) != np.shape(Y):
        raise bad_argument(ShapeError, "Y.shape", tuple(np.shape(Y)), f"{tuple(np.shape(X))} like X")
    task.check_prompt(prompt)


def fewshot_tokens(task: Any, X: Any, Y: Any, prompt: dict | None = None) -> np.ndarray:
    """The sequence ``[prefix, x_1, f(x_1), (EOS,) x_2, ...]`` of a :class:`~aievo.mesa.nn.config.FewShotTask`.

    Parameters
    ----------
    task : FewShotTask
    X, Y : array, shape (B, n_total, D)
        Inputs and labels (:meth:`FewShotTask.sample_raw`).
    prompt : dict, optional
        ``{"eos": (D,), "prefix": (n_prefix, D)}``, the keys the task needs
        (``None``: a task with neither).

    Returns
    -------
    ndarray, shape (B, task.seq_len, D), float64
    """
    prompt = {} if prompt is None else prompt
    check_fewshot_inputs(None, task, X, Y, prompt)
    X, Y = _f64(X), _f64(Y)
    B, N, D = X.shape
    parts = [X, Y] + ([np.broadcast_to(_f64(prompt["eos"]), (B, N, D))] if task.eos else [])
    body = np.stack(parts, axis=2).reshape(B, N * task.stride, D)
    if task.n_prefix:
        body = np.concatenate([np.broadcast_to(_f64(prompt["prefix"]), (B, task.n_prefix, D)), body], axis=1)
    return body


def fewshot_predict(params: dict, config: TransformerConfig, task: Any, X: Any, Y: Any,
                    prompt: dict | None = None) -> np.ndarray:
    """Predictions of ``f(x_i)`` at every x-token, ``(B, n_total, D)``, in float64 numpy.

    As :func:`aievo.mesa.nn.model.fewshot_predict`: the model (``token_format="lds_raw"``) reads
    :func:`fewshot_tokens` and its next-token prediction at :attr:`FewShotTask.query_positions`
    is the prediction of the label.
    """
    prompt = {} if prompt is None else prompt
    check_fewshot_inputs(config, task, X, Y, prompt)
    return predict(params, config, fewshot_tokens(task, X, Y, prompt))[:, task.query_positions]
