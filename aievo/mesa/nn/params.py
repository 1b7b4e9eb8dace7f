"""Parameters of the transformer of a :class:`~aievo.mesa.nn.config.TransformerConfig`, in numpy.

Parameters are a plain pytree of arrays::

    {"embed": (E0, F)?, "input_mlp": {"W1", "b1", "W2", "b2"}?, "readout": (out, E)?,
     "layers": [{"attn": {"Wq", "Wk", "Wv", "P", "lam"?}, "ln1"?, "mlp"?, "ln2"?}, ...]}

(with ``config.tied`` the list holds one layer, applied ``n_layers`` times;
``E0`` is the embedded width and ``E`` the stream width, ``E0`` plus any
``"concat"`` positional columns).

:func:`init_params` draws them (float64, reproducible), :func:`params_from_lsa`
builds them from the weights of the numpy reference layers, and
:func:`check_params` checks a pytree against a config. Nothing here imports
JAX: the numpy forward (:mod:`aievo.mesa.nn.reference`) and the JAX model
(:mod:`aievo.mesa.nn.model`) share these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .._checks import as_rng
from .config import TransformerConfig

__all__ = ["init_params", "params_from_lsa", "check_params"]

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
        params["embed"] = _draw(g, config, (config.embedded_width, F), F)
    if config.input_mlp:
        E0, m = config.embedded_width, config.input_mlp
        params["input_mlp"] = {"W1": _draw(g, config, (m, E0), E0), "b1": np.zeros(m),
                               "W2": _draw(g, config, (E0, m), m), "b2": np.zeros(E0)}
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


def check_params(params: Any, config: TransformerConfig) -> None:
    """Raise unless ``params`` has the parts ``config`` needs (layers, projections, ``lam``, LayerNorms, MLPs)."""
    if not isinstance(params, dict) or "layers" not in params:
        raise bad_argument(InvalidParameterError, "params", type(params).__name__, "a dict with key 'layers'")
    if len(params["layers"]) != config.n_param_layers:
        raise bad_argument(ShapeError, "len(params['layers'])", len(params["layers"]),
                           f"{config.n_param_layers} (config.attention, tied={config.tied})")
    for name, flag in (("embed", config.input_proj), ("readout", config.output_proj),
                       ("input_mlp", config.input_mlp > 0)):
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
        want = {"attn", "mlp"} if config.mlp_hidden else {"attn"}
        if config.layer_norm:
            want |= {"ln1", "ln2"} if config.mlp_hidden else {"ln1"}
        if set(layer) != want:
            raise bad_argument(InvalidParameterError, f"params['layers'][{i}]", sorted(layer),
                               f"the keys {sorted(want)} for this config (layer_norm={config.layer_norm}, "
                               f"mlp_hidden={config.mlp_hidden})")
