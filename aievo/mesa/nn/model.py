"""The transformer of a :class:`~aievo.mesa.nn.config.TransformerConfig`: parameters, tokens, forward pass.

Parameters are a plain pytree of arrays (:mod:`aievo.mesa.nn.params`)::

    {"embed": (E0, F)?, "input_mlp": {"W1", "b1", "W2", "b2"}?, "readout": (out, E)?,
     "layers": [{"attn": {"Wq", "Wk", "Wv", "P", "lam"?}, "ln1"?, "mlp"?, "ln2"?}, ...]}

(with ``config.tied`` the list holds one layer, applied ``n_layers`` times),
so the weights of the numpy reference (:func:`aievo.mesa.gd_weights`,
:func:`aievo.mesa.linear_tf_init`) drop in unchanged (:func:`params_from_lsa`).
:func:`init_params` draws them with numpy (float64, reproducible without JAX);
the forward pass runs in the dtype of the arrays it is given (float32 by
default; float64 inside ``jax.enable_x64(True)``). The same forward pass in
float64 numpy, without JAX, is :mod:`aievo.mesa.nn.reference`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ...errors import InvalidParameterError, bad_argument
from ._deps import require_jax
from .config import TransformerConfig

require_jax()  # a MissingExtraError naming the extra, before the imports below fail
import jax
import jax.numpy as jnp

from .layers import attention, layer_norm, mlp, sinusoidal_encoding
from .params import check_params, init_params, params_from_lsa
from .reference import attention_mask, check_input_shape

__all__ = [
    "init_params",
    "params_from_lsa",
    "tokens",
    "forward",
    "predict",
    "loss_fn",
    "per_position_loss",
    "activations",
    "attention_mask",
    "readout",
    "compiled",
    "fewshot_tokens",
    "fewshot_predict",
    "fewshot_loss",
]


def tokens(config: TransformerConfig, inputs: Any) -> jax.Array:
    """Input tokens for a batch of task inputs.

    ``lds_constructed`` builds ``(0, s_t, s_t, s_{t-1})`` from states ``(B, T, D)``;
    ``lds_raw``, ``regression`` and ``interleaved`` take the inputs as they are
    (for regression, the ``(B, N + 1, d + 1)`` tokens of
    :class:`~aievo.mesa.nn.config.RegressionTask`; for interleaved, the
    ``(B, 2 N, d + 1)`` tokens of :class:`~aievo.mesa.nn.config.InterleavedRegressionTask`).
    ``regression_separate`` splits the ``(B, N + 1, d + 1)`` regression tokens into
    ``(x_1, 0), (0, y_1), ..., (x_q, 0)`` (:func:`aievo.mesa.nn.reference.separate_tokens`).
    """
    x = jnp.asarray(inputs)
    check_input_shape(config, x.shape)
    if config.token_format == "lds_constructed":
        prev = jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
        return jnp.concatenate([jnp.zeros_like(x), x, x, prev], axis=-1)
    if config.token_format == "regression_separate":
        B, n, F = x.shape
        ctx = x[:, :-1]
        xs = ctx.at[..., -1].set(0.0)
        ys = jnp.zeros_like(ctx).at[..., -1].set(ctx[..., -1])
        return jnp.concatenate([jnp.stack([xs, ys], axis=2).reshape(B, 2 * (n - 1), F), x[:, -1:]], axis=1)
    return x


def forward(params: dict, config: TransformerConfig, inputs: Any, *, return_all: bool = False) -> Any:
    """Residual-stream activations of the model.

    Parameters
    ----------
    params : dict
        Parameter pytree (numpy or JAX arrays).
    config : TransformerConfig
    inputs : array
        Task inputs (see :func:`tokens`).
    return_all : bool, default False
        Return ``[embedded tokens, after layer 1, ..., after layer L]``
        instead of the last activations only.

    Returns
    -------
    jax.Array of shape (B, T, E), or a list of them
    """
    check_params(params, config)
    x = tokens(config, inputs)
    dtype = x.dtype
    T = x.shape[1]
    h = jnp.einsum("ef,btf->bte", params["embed"], x) if "embed" in params else x
    if "input_mlp" in params:
        h = h + mlp(params["input_mlp"], h)
    if config.pos_encoding == "concat":
        cols = jnp.asarray(sinusoidal_encoding(T, config.pos_dim), dtype=dtype)
        h = jnp.concatenate([h, jnp.broadcast_to(cols, h.shape[:2] + (config.pos_dim,))], axis=-1)
    pe = (jnp.asarray(sinusoidal_encoding(T, config.width), dtype=dtype)
          if config.pos_encoding in ("input", "kq") else None)
    if config.pos_encoding == "input" and pe is not None:
        h = h + pe
    kq = pe if config.pos_encoding == "kq" else None
    mask = jnp.asarray(attention_mask(config, T))
    clip = config.act_clip
    acts = [h]
    layers = params["layers"] * config.n_layers if config.tied else params["layers"]
    for layer, kind in zip(layers, config.attention):
        z = layer_norm(layer["ln1"], h) if "ln1" in layer else h
        h = h + attention(layer["attn"], kind, z, mask, kq)
        if clip is not None:
            h = jnp.clip(h, -clip, clip)
        if "mlp" in layer:
            z = layer_norm(layer["ln2"], h) if "ln2" in layer else h
            h = h + mlp(layer["mlp"], z)
            if clip is not None:
                h = jnp.clip(h, -clip, clip)
        acts.append(h)
    return acts if return_all else h


def readout(params: dict, config: TransformerConfig, h: jax.Array) -> jax.Array:
    """Predictions ``(B, P, out)`` from the last activations ``h``.

    LDS formats predict at every position (``P = T``); regression formats at
    the query only (``P = 1``, ``out = 1``, minus its label slot); interleaved
    at every x-token (even positions, ``P = T / 2``, ``out = 1``), from the
    label slot (entry 0). Fixed slots never read ``"concat"`` positional columns.
    """
    if config.token_format == "interleaved":
        xs = h[:, 0::2, :]
        if "readout" in params:
            return jnp.einsum("oe,bte->bto", params["readout"], xs)
        return xs[..., :1]
    if config.token_format in ("regression", "regression_separate"):
        last = h[:, -1:, :]
        if "readout" in params:
            return jnp.einsum("oe,bte->bto", params["readout"], last)
        return -last[..., config.embedded_width - 1: config.embedded_width]
    if "readout" in params:
        return jnp.einsum("oe,bte->bto", params["readout"], h)
    return h[..., : config.output_dim]


def predict(params: dict, config: TransformerConfig, inputs: Any) -> jax.Array:
    """Predictions ``(B, P, out)``: next states for LDS formats, ``yhat`` for regression formats (see :func:`readout`)."""
    return readout(params, config, forward(params, config, inputs))


def per_position_loss(params: dict, config: TransformerConfig, inputs: Any, targets: Any) -> jax.Array:
    """``sum_{batch, dim} (pred - target)^2 / (2B)`` per position, shape ``(P,)``."""
    res = predict(params, config, inputs) - targets
    return jnp.sum(res * res, axis=(0, 2)) / (2 * res.shape[0])


def loss_fn(params: dict, config: TransformerConfig, inputs: Any, targets: Any) -> jax.Array:
    """Training loss ``sum (pred - target)^2 / (2 B P)``: the mean of :func:`per_position_loss`."""
    return jnp.mean(per_position_loss(params, config, inputs, targets))


def activations(params: dict, config: TransformerConfig, inputs: Any) -> list:
    """``[embedded tokens, after layer 1, ..., after layer L]``: :func:`forward` with ``return_all=True``."""
    return forward(params, config, inputs, return_all=True)


_FUNCTIONS: dict[str, Callable[..., Any]] = {"predict": predict, "per_position_loss": per_position_loss, "loss_fn": loss_fn,
              "activations": activations}


@functools.lru_cache(maxsize=64)
def compiled(config: TransformerConfig, name: str) -> Any:
    """A jitted ``predict``, ``per_position_loss``, ``loss_fn`` or ``activations`` for one config (cached per config).

    The returned function takes ``(params, inputs)`` or ``(params, inputs, targets)``.
    """
    if name not in _FUNCTIONS:
        raise bad_argument(InvalidParameterError, "name", name, f"one of {sorted(_FUNCTIONS)}")
    fn = _FUNCTIONS[name]
    return jax.jit(lambda params, *args: fn(params, config, *args))


# --------------------------------------------------------------------------- few-shot sequences (2023b Fig 8)
def fewshot_tokens(task: Any, X: Any, Y: Any, prompt: dict | None = None) -> jax.Array:
    """:func:`aievo.mesa.nn.reference.fewshot_tokens` in JAX, differentiable in the prompt vectors."""
    from .reference import check_fewshot_inputs

    prompt = {} if prompt is None else prompt
    check_fewshot_inputs(None, task, X, Y, prompt)
    X, Y = jnp.asarray(X), jnp.asarray(Y)
    B, N, D = X.shape
    parts = [X, Y] + ([jnp.broadcast_to(jnp.asarray(prompt["eos"], X.dtype), (B, N, D))] if task.eos else [])
    body = jnp.stack(parts, axis=2).reshape(B, N * task.stride, D)
    if task.n_prefix:
        pre = jnp.broadcast_to(jnp.asarray(prompt["prefix"], X.dtype), (B, task.n_prefix, D))
        body = jnp.concatenate([pre, body], axis=1)
    return body


def fewshot_predict(params: dict, config: TransformerConfig, task: Any, X: Any, Y: Any,
                    prompt: dict | None = None) -> jax.Array:
    """Predictions of ``f(x_i)`` at every x-token, ``(B, n_total, D)`` (the next-token prediction there)."""
    from .reference import check_fewshot_inputs

    prompt = {} if prompt is None else prompt
    check_fewshot_inputs(config, task, X, Y, prompt)
    return predict(params, config, fewshot_tokens(task, X, Y, prompt))[:, task.query_positions]


def fewshot_loss(params: dict, config: TransformerConfig, task: Any, X: Any, Y: Any,
                 prompt: dict | None = None) -> jax.Array:
    """Loss per example ``sum_{batch, dim} (pred - f(x_i))^2 / (2B)``, shape ``(n_total,)``; its mean is the tuning loss."""
    res = fewshot_predict(params, config, task, X, Y, prompt) - jnp.asarray(Y)
    return jnp.sum(res * res, axis=(0, 2)) / (2 * res.shape[0])
