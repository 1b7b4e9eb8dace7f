"""The transformer of a :class:`~aievo.mesa.nn.config.TransformerConfig`: parameters, tokens, forward pass.

Parameters are a plain pytree of arrays::

    {"embed": (E, F)?, "readout": (out, E)?,
     "layers": [{"attn": {"Wq", "Wk", "Wv", "P", "lam"?}, "ln1"?, "mlp"?, "ln2"?}, ...]}

(with ``config.tied`` the list holds one layer, applied ``n_layers`` times),
so the weights of the numpy reference (:func:`aievo.mesa.gd_weights`,
:func:`aievo.mesa.linear_tf_init`) drop in unchanged (:func:`params_from_lsa`).
:func:`init_params` draws them with numpy (float64, reproducible without JAX);
the forward pass runs in the dtype of the arrays it is given (float32 by
default; float64 inside ``jax.enable_x64(True)``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .._checks import as_rng
from ._deps import require_jax
from .config import TransformerConfig

require_jax()  # a MissingExtraError naming the extra, before the imports below fail
import jax
import jax.numpy as jnp

from .layers import attention, layer_norm, mlp, sinusoidal_encoding

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
]

_TRUNC_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def _draw(g: np.random.Generator, config: TransformerConfig, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    if config.init == "normal":
        return g.normal(0.0, config.init_scale, size=shape)
    std = math.sqrt(config.init_scale / fan_in) / _TRUNC_STD
    out = g.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while np.any(bad):  # rejection sampling of the truncated normal
        out[bad] = g.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return std * out


def init_params(config: TransformerConfig, rng: Any = 0) -> dict:
    """Random parameters (numpy float64) for ``config``.

    Parameters
    ----------
    config : TransformerConfig
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)

    Returns
    -------
    dict
        The parameter pytree (see the module docstring).
    """
    if not isinstance(config, TransformerConfig):
        raise bad_argument(InvalidParameterError, "config", config, "a TransformerConfig")
    g = as_rng(rng)
    E, F, k = config.width, config.token_width, config.key_size
    params: dict[str, Any] = {}
    if config.input_proj:
        params["embed"] = _draw(g, config, (E, F), F)
    layers = []
    n = config.n_param_layers
    for kind, H in zip(config.attention[:n], config.heads_per_layer[:n]):
        attn = {
            "Wq": _draw(g, config, (H, k, E), E),
            "Wk": _draw(g, config, (H, k, E), E),
            "Wv": _draw(g, config, (H, k, E), E),
            "P": _draw(g, config, (H, E, k), H * k),
        }
        if kind == "mesa":
            attn["lam"] = np.full(H, config.lam_init)
        layer: dict[str, Any] = {"attn": attn}
        if config.layer_norm:
            layer["ln1"] = {"scale": np.ones(E), "offset": np.zeros(E)}
        if config.mlp_hidden:
            m = config.mlp_hidden
            layer["mlp"] = {"W1": _draw(g, config, (m, E), E), "b1": np.zeros(m),
                            "W2": _draw(g, config, (E, m), m), "b2": np.zeros(E)}
            if config.layer_norm:
                layer["ln2"] = {"scale": np.ones(E), "offset": np.zeros(E)}
        layers.append(layer)
    params["layers"] = layers
    if config.output_proj:
        params["readout"] = _draw(g, config, (config.output_dim, E), E)
    return params


def params_from_lsa(layers: Sequence[Any]) -> dict:
    """Parameters of an attention-only model from numpy reference weights.

    Parameters
    ----------
    layers : sequence
        Per layer an :class:`aievo.mesa.LSAWeights`, a 4-tuple ``(Wq, Wk, Wv, P)``
        or a dict with those keys (and ``lam`` for mesa heads), as made by
        :func:`aievo.mesa.gd_weights`, :func:`aievo.mesa.gd_sequence_weights`
        or :func:`aievo.mesa.linear_tf_init`; 2-d arrays are one head.

    Returns
    -------
    dict
        ``{"layers": [{"attn": {...}}, ...]}`` (float64 numpy arrays).
    """
    out = []
    for i, layer in enumerate(layers):
        if isinstance(layer, dict):
            parts = {key: layer[key] for key in ("Wq", "Wk", "Wv", "P", "lam") if key in layer}
        elif isinstance(layer, (tuple, list)) and len(layer) == 4:
            parts = dict(zip(("Wq", "Wk", "Wv", "P"), layer))
        else:
            raise bad_argument(InvalidParameterError, f"layers[{i}]", layer, "LSAWeights, a 4-tuple or a dict")
        attn = {}
        for key, a in parts.items():
            a = np.asarray(a, dtype=np.float64)
            attn[key] = a[None] if (key != "lam" and a.ndim == 2) else a
        out.append({"attn": attn})
    return {"layers": out}


def _check_params(params: Any, config: TransformerConfig) -> None:
    if not isinstance(params, dict) or "layers" not in params:
        raise bad_argument(InvalidParameterError, "params", type(params).__name__, "a dict with key 'layers'")
    if len(params["layers"]) != config.n_param_layers:
        raise bad_argument(ShapeError, "len(params['layers'])", len(params["layers"]),
                           f"{config.n_param_layers} (config.attention, tied={config.tied})")
    for name, flag in (("embed", config.input_proj), ("readout", config.output_proj)):
        if (name in params) != flag:
            raise bad_argument(InvalidParameterError, f"params[{name!r}]",
                               "present" if name in params else "absent", f"{'present' if flag else 'absent'} "
                               f"for this config")
    for i, (layer, kind) in enumerate(zip(params["layers"], config.attention)):
        W = layer["attn"]["Wq"]
        if np.shape(W)[-1] != config.width:
            raise bad_argument(ShapeError, f"params['layers'][{i}]['attn']['Wq'].shape", np.shape(W),
                               f"(H, k, {config.width})")
        if (kind == "mesa") != ("lam" in layer["attn"]):
            raise bad_argument(InvalidParameterError, f"params['layers'][{i}]['attn']",
                               sorted(layer["attn"]), f"'lam' exactly for mesa layers (layer {i} is {kind!r})")


def tokens(config: TransformerConfig, inputs: Any) -> jax.Array:
    """Input tokens for a batch of task inputs.

    ``lds_constructed`` builds ``(0, s_t, s_t, s_{t-1})`` from states ``(B, T, D)``;
    ``lds_raw``, ``regression`` and ``interleaved`` take the inputs as they are
    (for regression, the ``(B, N + 1, d + 1)`` tokens of
    :class:`~aievo.mesa.nn.config.RegressionTask`; for interleaved, the
    ``(B, 2 N, d + 1)`` tokens of :class:`~aievo.mesa.nn.config.InterleavedRegressionTask`).
    """
    x = jnp.asarray(inputs)
    if x.ndim != 3:
        raise bad_argument(ShapeError, "inputs.shape", x.shape, "(B, T, width)")
    want = config.token_width if config.token_format in ("regression", "interleaved") else config.data_dim
    if x.shape[-1] != want:
        raise bad_argument(ShapeError, "inputs.shape", x.shape,
                           f"(B, T, {want}) for token_format={config.token_format!r}, data_dim={config.data_dim}")
    if config.token_format == "lds_constructed":
        prev = jnp.concatenate([jnp.zeros_like(x[:, :1]), x[:, :-1]], axis=1)
        return jnp.concatenate([jnp.zeros_like(x), x, x, prev], axis=-1)
    return x


def attention_mask(config: TransformerConfig, T: int) -> np.ndarray:
    """``mask[j, i]``: may token ``j`` read token ``i``. Causal (diagonal included) or context-only."""
    if config.causal:
        return np.tri(T, dtype=bool)
    m = np.zeros((T, T), dtype=bool)
    m[:, : T - 1] = True  # keys and values from the N context tokens, not the query
    return m


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
    _check_params(params, config)
    x = tokens(config, inputs)
    dtype = x.dtype
    T = x.shape[1]
    h = jnp.einsum("ef,btf->bte", params["embed"], x) if "embed" in params else x
    pe = jnp.asarray(sinusoidal_encoding(T, config.width), dtype=dtype) if config.pos_encoding != "none" else None
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

    LDS formats predict at every position (``P = T``); regression at the query
    only (``P = 1``, ``out = 1``); interleaved at every x-token (even
    positions, ``P = T / 2``, ``out = 1``), from the label slot (entry 0).
    """
    if config.token_format == "interleaved":
        xs = h[:, 0::2, :]
        if "readout" in params:
            return jnp.einsum("oe,bte->bto", params["readout"], xs)
        return xs[..., :1]
    if config.token_format == "regression":
        last = h[:, -1:, :]
        if "readout" in params:
            return jnp.einsum("oe,bte->bto", params["readout"], last)
        return -last[..., -1:]
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
