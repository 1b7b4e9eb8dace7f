"""Configurations as data: the transformer, its optimiser and the tasks it is trained on.

Everything here is a frozen dataclass that validates itself on construction
and round-trips through JSON (:meth:`to_json` / :meth:`from_json`). Nothing in
this module imports JAX, so configurations can be built, checked, stored and
compared without the ``jax`` extra.

The official defaults of von Oswald et al. (2023a, 2023b) are collected in
:func:`official_setup`; :func:`aievo.mesa.train_transformer` uses them when no
optimiser is given.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...errors import InvalidParameterError, ShapeError, bad_argument
from .._checks import check_float, check_int

__all__ = [
    "ATTENTION_KINDS",
    "TOKEN_FORMATS",
    "POS_ENCODINGS",
    "INIT_KINDS",
    "TransformerConfig",
    "OptimConfig",
    "LDSTask",
    "RegressionTask",
    "InterleavedRegressionTask",
    "FewShotTask",
    "SineRegressionTask",
    "task_from_dict",
    "OfficialSetup",
    "official_setup",
    "OFFICIAL_SETUPS",
]

#: Attention kinds a layer may have.
ATTENTION_KINDS = ("linear", "softmax", "mesa")
#: Token formats: how a task's inputs become tokens and how predictions are read out.
TOKEN_FORMATS = ("regression", "lds_constructed", "lds_raw", "interleaved", "regression_separate")
#: Positional encodings: none, added to the embedded tokens, added to the keys' and queries' inputs only,
#: or concatenated to the embedded tokens as ``pos_dim`` extra columns.
POS_ENCODINGS = ("none", "input", "kq", "concat")
#: Weight initialisations: Gaussian with std ``init_scale``, or Haiku's variance scaling with scale ``init_scale``.
INIT_KINDS = ("normal", "variance_scaling")


def _choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise bad_argument(InvalidParameterError, name, value, f"one of {options}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise bad_argument(InvalidParameterError, name, value, "True or False")
    return bool(value)


def _opt_float(value: Any, name: str, **kw: Any) -> float | None:
    return None if value is None else check_float(value, name, **kw)


class _JSONConfig:
    """JSON round trip for the frozen dataclasses of this module."""

    _tuple_fields: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON types (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        if not isinstance(data, dict):
            raise bad_argument(InvalidParameterError, "data", data, f"a dict of {cls.__name__} fields")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            raise bad_argument(InvalidParameterError, f"{cls.__name__} field", unknown[0], f"one of {sorted(names)}")
        kw = {k: tuple(v) if k in cls._tuple_fields and isinstance(v, list) else v for k, v in data.items()}
        return cls(**kw)

    def to_json(self) -> str:
        """A JSON string that :meth:`from_json` turns back into an equal object."""
        return json.dumps({"type": type(self).__name__, **self.to_dict()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Any:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        kind = data.pop("type", cls.__name__)
        if kind != cls.__name__:
            raise bad_argument(InvalidParameterError, "type", kind, f"{cls.__name__!r}")
        return cls.from_dict(data)


@dataclass(frozen=True)
class TransformerConfig(_JSONConfig):
    """A causal (or context-masked) transformer for in-context learning, as data.

    Every layer is a residual block ``h <- clip(h + attention(LN(h)))``,
    followed, with an MLP, by ``h <- clip(h + MLP(LN(h)))``; ``LN`` is the
    identity unless ``layer_norm`` and ``clip`` the identity unless
    ``act_clip``. Weights act on column vectors as in the numpy reference
    (:func:`aievo.mesa.lsa_layer`): a head has ``Wq, Wk, Wv`` of shape
    ``(key_size, embed)`` and ``P`` of shape ``(embed, key_size)``, no biases.

    Parameters
    ----------
    attention : tuple of str
        One attention kind per layer: ``"linear"`` (no normalisation:
        ``sum_{t'} v_{t'} k_{t'}^T q_t``), ``"softmax"`` (scaled dot product) or
        ``"mesa"`` (``q_t`` replaced by ``(sum_{t'<=t} k k^T + I/lam)^{-1} q_t``,
        ``lam`` learned per head; causal token formats only). Its length is the depth.
    heads : int or tuple of int
        Heads per layer (an int: the same in every layer).
    key_size : int
        Key, query and value size of every head.
    token_format : str
        ``"lds_constructed"``: LDS states ``s_t`` become ``(0, s_t, s_t, s_{t-1})``
        (width ``4 D``), causal attention (diagonal included), the prediction of
        ``s_{t+1}`` is the first ``D`` entries of the last layer (von Oswald et
        al. 2023b). ``"lds_raw"``: the tokens are the observations ``s_t``
        themselves (width ``D``), causal attention. ``"regression"``: tokens
        ``(x_i, y_i)`` and a query ``(x_q, 0)`` (width ``d + 1``); keys and
        values come from the ``N`` context tokens only; the prediction is minus
        the query's last entry (von Oswald et al. 2023a). ``"interleaved"``:
        tokens ``(0, x_1), (y_1, 0), (0, x_2), ...`` (width ``d + 1``,
        :func:`aievo.mesa.interleave_tokens`), causal attention, the prediction
        of ``y_i`` is read at the x-token of pair ``i`` from its first entry
        (the label slot) or by ``output_proj`` (Akyürek et al. 2022).
        ``"regression_separate"``: the regression task with ``x`` and ``y`` in
        separate tokens, ``(x_1, 0), (0, y_1), (x_2, 0), ..., (x_N, 0), (0, y_N),
        (x_q, 0)`` (``2 N + 1`` tokens of width ``d + 1``, built from the
        ``(B, N + 1, d + 1)`` inputs of ``"regression"``); keys and values come
        from the ``2 N`` context tokens, the prediction is minus the query's
        label slot (the "classic" tokens of von Oswald et al. 2023a).
    data_dim : int
        ``D`` (LDS state dimension) or ``d`` (regression input dimension).
    embed_dim : int or None
        Width of the residual stream; ``None`` is the token width. Another
        width needs ``input_proj``.
    input_proj : bool
        Embed tokens by a learned matrix ``(embed_dim, token width)``.
    output_proj : bool
        Read predictions out by a learned matrix ``(output dim, embed_dim)``
        instead of from fixed slots (needed when ``embed_dim`` is not the token
        width).
    mlp_hidden : int
        Hidden width of a GELU MLP after every attention (0: no MLP).
    input_mlp : int
        Hidden width of a residual GELU MLP (with biases) on the embedded
        tokens before the first layer, ``h <- h + MLP(h)`` (0: none; von Oswald
        et al. 2023a use one, hidden width ``4 * embed_dim``, for sine regression).
    layer_norm : bool
        Pre-LayerNorm (learned scale and offset) before attention and MLP.
    pos_encoding : str
        ``"none"``, ``"input"`` (sinusoidal encodings added to the embedded
        tokens), ``"kq"`` (added to the input of the key and query maps of
        every layer only; values and the residual stream do not see them) or
        ``"concat"`` (``pos_dim`` sinusoidal columns appended to the embedded
        tokens: the stream is ``pos_dim`` wider, fixed-slot readouts ignore them).
    pos_dim : int
        Columns of ``"concat"`` encodings (must be positive exactly with ``"concat"``).
    act_clip : float or None
        Clip every block's output to ``[-act_clip, act_clip]`` (official 2023b: 1.5).
    init : str
        ``"normal"``: every weight matrix ``N(0, init_scale^2)`` (official 2023b,
        ``init_scale = 2e-4``). ``"variance_scaling"``: truncated normal with
        std ``sqrt(init_scale / fan_in)`` (Haiku's ``VarianceScaling``; official
        2023a uses ``init_scale = 0.002 / n_layers``).
    init_scale : float
        See ``init``.
    lam_init : float
        Initial ``lam`` of mesa heads (official: 1.0; ridge penalty ``1/lam``).
    tied : bool
        Weight tying across depth (the "recurrent" transformer of von Oswald et
        al. 2023a): one set of layer parameters, ``params["layers"]`` of length
        1, applied ``n_layers`` times. Needs the same attention kind and head
        count in every layer.
    """

    attention: tuple[str, ...] = ("linear", "linear")
    heads: int | tuple[int, ...] = 4
    key_size: int = 20
    token_format: str = "lds_constructed"
    data_dim: int = 10
    embed_dim: int | None = None
    input_proj: bool = False
    output_proj: bool = False
    mlp_hidden: int = 0
    layer_norm: bool = False
    pos_encoding: str = "none"
    pos_dim: int = 0
    input_mlp: int = 0
    act_clip: float | None = 1.5
    init: str = "normal"
    init_scale: float = 2e-4
    lam_init: float = 1.0
    tied: bool = False

    _tuple_fields: ClassVar[tuple[str, ...]] = ("attention", "heads")

    def __post_init__(self) -> None:
        att = self.attention
        if isinstance(att, str) or not isinstance(att, (tuple, list)) or not att:
            raise bad_argument(InvalidParameterError, "attention", att,
                               f"a non-empty tuple of attention kinds from {ATTENTION_KINDS}")
        att = tuple(_choice(a, f"attention[{i}]", ATTENTION_KINDS) for i, a in enumerate(att))
        object.__setattr__(self, "attention", att)
        heads = self.heads
        if isinstance(heads, (tuple, list)):
            if len(heads) != len(att):
                raise bad_argument(InvalidParameterError, "heads", heads, f"an int or {len(att)} ints (one per layer)")
            heads = tuple(check_int(h, f"heads[{i}]") for i, h in enumerate(heads))
        else:
            heads = check_int(heads, "heads")
        object.__setattr__(self, "heads", heads)
        check_int(self.key_size, "key_size")
        _choice(self.token_format, "token_format", TOKEN_FORMATS)
        check_int(self.data_dim, "data_dim")
        if self.embed_dim is not None:
            check_int(self.embed_dim, "embed_dim")
        _bool(self.input_proj, "input_proj")
        _bool(self.output_proj, "output_proj")
        check_int(self.mlp_hidden, "mlp_hidden", minimum=0)
        _bool(self.layer_norm, "layer_norm")
        _choice(self.pos_encoding, "pos_encoding", POS_ENCODINGS)
        check_int(self.pos_dim, "pos_dim", minimum=0)
        if (self.pos_dim > 0) != (self.pos_encoding == "concat"):
            raise bad_argument(InvalidParameterError, "pos_dim", self.pos_dim,
                               f"a positive int exactly when pos_encoding='concat' (it is {self.pos_encoding!r})")
        check_int(self.input_mlp, "input_mlp", minimum=0)
        _opt_float(self.act_clip, "act_clip", positive=True)
        _choice(self.init, "init", INIT_KINDS)
        check_float(self.init_scale, "init_scale", positive=True)
        check_float(self.lam_init, "lam_init", positive=True)
        if _bool(self.tied, "tied") and (len(set(att)) > 1 or len(set(self.heads_per_layer)) > 1):
            raise bad_argument(InvalidParameterError, "tied", self.tied,
                               f"False when layers differ (attention={att}, heads={heads})")
        if self.embed_dim is not None and self.embed_dim != self.token_width and not self.input_proj:
            raise bad_argument(InvalidParameterError, "input_proj", self.input_proj,
                               f"True when embed_dim={self.embed_dim} differs from the token width {self.token_width}")
        if self.width < self.output_dim and not self.output_proj:
            raise bad_argument(InvalidParameterError, "output_proj", self.output_proj,
                               f"True when the stream width {self.width} is below the output dim {self.output_dim}")
        if "mesa" in att and not self.causal:
            raise bad_argument(InvalidParameterError, "attention", att,
                               f"no 'mesa' layer with token_format={self.token_format!r} (mesa layers are causal)")

    # ------------------------------------------------------------------ derived
    @property
    def n_layers(self) -> int:
        """Number of layers."""
        return len(self.attention)

    @property
    def n_param_layers(self) -> int:
        """Number of distinct parameter sets in ``params["layers"]``: 1 if ``tied``, else ``n_layers``."""
        return 1 if self.tied else self.n_layers

    @property
    def heads_per_layer(self) -> tuple[int, ...]:
        """Heads of every layer."""
        h = self.heads
        return h if isinstance(h, tuple) else (h,) * self.n_layers

    @property
    def token_width(self) -> int:
        """Width of an input token."""
        D = self.data_dim
        return {"regression": D + 1, "interleaved": D + 1, "lds_constructed": 4 * D, "lds_raw": D,
                "regression_separate": D + 1}[self.token_format]

    @property
    def embedded_width(self) -> int:
        """Width of the embedded tokens (``embed_dim`` or the token width), before ``"concat"`` encodings."""
        return self.token_width if self.embed_dim is None else self.embed_dim

    @property
    def width(self) -> int:
        """Width of the residual stream: :attr:`embedded_width` plus ``pos_dim``."""
        return self.embedded_width + self.pos_dim

    @property
    def output_dim(self) -> int:
        """Entries predicted per position: ``D`` for LDS formats, 1 for regression formats."""
        return 1 if self.token_format in ("regression", "interleaved", "regression_separate") else self.data_dim

    @property
    def causal(self) -> bool:
        """Whether attention is causal (LDS and interleaved formats) rather than context-masked (regression formats)."""
        return self.token_format not in ("regression", "regression_separate")


@dataclass(frozen=True)
class OptimConfig(_JSONConfig):
    """AdamW with gradient clipping and a warm-up + cosine learning-rate schedule.

    The schedule rises linearly from ``init_lr`` to ``lr`` over
    ``warmup_steps`` and then follows a cosine to ``end_lr`` at step
    ``decay_steps`` (counted from step 0, warm-up included; optax's
    ``warmup_cosine_decay_schedule``), staying at ``end_lr`` afterwards. With
    ``decay_steps=None`` the rate stays at ``lr`` after the warm-up.

    Parameters
    ----------
    lr : float
        Peak learning rate.
    warmup_steps : int
        Linear warm-up steps (0: none).
    decay_steps : int or None
        End of the cosine decay (``None``: constant after warm-up).
    init_lr, end_lr : float
        Rate at step 0 of the warm-up and at the end of the decay.
    weight_decay : float
        Decoupled (AdamW) weight decay, applied to every parameter.
    b1, b2, eps : float
        Adam moments and denominator constant.
    clip : float or None
        Gradient clipping threshold (``None``: none).
    clip_kind : str
        ``"elementwise"`` (``optax.clip``: every entry to ``[-clip, clip]``,
        official 2023b) or ``"global_norm"`` (official 2023a).
    """

    lr: float = 3e-4
    warmup_steps: int = 1000
    decay_steps: int | None = 20000
    init_lr: float = 0.0
    end_lr: float = 1e-5
    weight_decay: float = 0.05
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    clip: float | None = 1.0
    clip_kind: str = "elementwise"

    def __post_init__(self) -> None:
        check_float(self.lr, "lr", positive=True)
        check_int(self.warmup_steps, "warmup_steps", minimum=0)
        if self.decay_steps is not None:
            check_int(self.decay_steps, "decay_steps", minimum=max(self.warmup_steps, 1))
        check_float(self.init_lr, "init_lr", nonnegative=True)
        check_float(self.end_lr, "end_lr", nonnegative=True)
        check_float(self.weight_decay, "weight_decay", nonnegative=True)
        check_float(self.b1, "b1", low=0.0, high=1.0 - 1e-12)
        check_float(self.b2, "b2", low=0.0, high=1.0 - 1e-12)
        check_float(self.eps, "eps", positive=True)
        _opt_float(self.clip, "clip", positive=True)
        _choice(self.clip_kind, "clip_kind", ("elementwise", "global_norm"))

    def lr_at(self, step: int) -> float:
        """The learning rate at ``step`` (plain Python; equals the optax schedule)."""
        step = check_int(step, "step", minimum=0)
        if step < self.warmup_steps:
            return self.init_lr + (self.lr - self.init_lr) * step / self.warmup_steps
        if self.decay_steps is None:
            return self.lr
        span = max(self.decay_steps - self.warmup_steps, 1)
        frac = min(step - self.warmup_steps, span) / span
        return self.end_lr + (self.lr - self.end_lr) * 0.5 * (1.0 + float(np.cos(np.pi * frac)))


@dataclass(frozen=True)
class LDSTask(_JSONConfig):
    """Next-state prediction on noisy linear dynamical systems (von Oswald et al. 2023b).

    A batch is ``(inputs, targets)`` from :func:`aievo.mesa.sample_lds`:
    states ``s_1..s_T`` and ``s_2..s_{T+1}``, each ``(B, T, D)``. Official:
    ``D = 10``, ``T = 50``, ``noise = 0.01``, Haar-orthogonal dynamics.

    With ``obs_dim`` set the sequences are partially observed (the official
    partially observed generator): the model sees ``o_t = C s_t + obs_noise * xi_t``
    with one ``C`` per sequence, entries ``0.5 * N(0, 1)``, shape ``(obs_dim, D)``,
    and ``xi_t ~ N(0, I)`` drawn once per time step, so that ``targets[:, t]`` is
    the same observation as ``inputs[:, t + 1]`` (:func:`aievo.mesa.observe` on
    the whole trajectory ``s_1..s_{T+1}``). Inputs and targets are then
    ``(B, T, obs_dim)``. The official setting is ``D = 15``, ``obs_dim = 5``,
    ``obs_noise = 0.01``.

    Parameters
    ----------
    D : int
        State dimension.
    T : int
        Sequence length.
    noise : float
        Process-noise standard deviation.
    kind : str
        Dynamics, one of :data:`aievo.mesa.LDS_KINDS`.
    obs_dim : int or None
        Observation dimension (``None``: the states themselves are observed).
    obs_noise : float
        Observation-noise standard deviation (needs ``obs_dim``).
    min_eig, max_eig : float
        Eigenvalue range of ``kind="contracting"`` (official 0.3 and 0.9; one
        eigenvalue equals ``max_eig``, so the spectral radius is ``max_eig``).
    """

    D: int = 10
    T: int = 50
    noise: float = 0.01
    kind: str = "orthogonal"
    obs_dim: int | None = None
    obs_noise: float = 0.0
    min_eig: float = 0.3
    max_eig: float = 0.9

    def __post_init__(self) -> None:
        from ..tasks import LDS_KINDS

        check_int(self.D, "D")
        check_int(self.T, "T")
        check_float(self.noise, "noise", nonnegative=True)
        _choice(self.kind, "kind", LDS_KINDS)
        if self.obs_dim is not None:
            check_int(self.obs_dim, "obs_dim")
        if check_float(self.obs_noise, "obs_noise", nonnegative=True) > 0 and self.obs_dim is None:
            raise bad_argument(InvalidParameterError, "obs_noise", self.obs_noise,
                               "0 when obs_dim is None (observation noise needs partial observations)")
        check_float(self.min_eig, "min_eig", nonnegative=True)
        if check_float(self.max_eig, "max_eig") < self.min_eig:
            raise bad_argument(InvalidParameterError, "max_eig", self.max_eig, f"a number >= min_eig={self.min_eig}")

    @property
    def data_dim(self) -> int:
        """Dimension of what the model sees: ``obs_dim`` if set, else ``D``."""
        return self.D if self.obs_dim is None else self.obs_dim

    def sample_states(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Hidden states ``s_1..s_{T+1}`` as ``(batch, T + 1, D)`` and the dynamics ``(batch, D, D)`` (float64)."""
        from ..tasks import sample_lds

        inputs, targets, W = sample_lds(rng, batch, D=self.D, T=self.T, noise=self.noise, kind=self.kind,
                                        min_eig=self.min_eig, max_eig=self.max_eig)
        return np.concatenate([inputs, targets[:, -1:]], axis=1), W

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs, targets)``, both ``(batch, T, data_dim)`` float64."""
        from ..tasks import observe

        S, _ = self.sample_states(rng, batch)
        if self.obs_dim is not None:
            S, _ = observe(S, self.obs_dim, rng=rng, obs_noise=self.obs_noise)
        return S[:, :-1].copy(), S[:, 1:].copy()


@dataclass(frozen=True)
class RegressionTask(_JSONConfig):
    """In-context linear regression (von Oswald et al. 2023a).

    A batch is ``(tokens, targets)``: tokens ``(x_i, y_i)`` and a final query
    ``(x_q, 0)`` of shape ``(B, N + 1, d + 1)`` (:func:`aievo.mesa.concat_tokens`)
    and the query labels as ``(B, 1, 1)``. Official: ``d = N = 10``,
    ``x ~ U(-0.5, 0.5)``, ``w ~ N(0, I)``, no noise.
    """

    d: int = 10
    N: int = 10
    x_halfwidth: float = 0.5
    w_scale: float = 1.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.d, "d")
        check_int(self.N, "N")
        check_float(self.x_halfwidth, "x_halfwidth", positive=True)
        check_float(self.w_scale, "w_scale", nonnegative=True)
        check_float(self.noise, "noise", nonnegative=True)

    @property
    def data_dim(self) -> int:
        """Input dimension ``d``."""
        return self.d

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, targets)`` of shapes ``(batch, N + 1, d + 1)`` and ``(batch, 1, 1)``."""
        from ..tasks import concat_tokens, sample_regression_tasks

        X, y, xq, yq, _ = sample_regression_tasks(rng, batch, self.d, self.N, x_halfwidth=self.x_halfwidth,
                                                  w_scale=self.w_scale, noise=self.noise)
        return concat_tokens(X, y, xq), yq[:, None, None]


@dataclass(frozen=True)
class InterleavedRegressionTask(_JSONConfig):
    """In-context linear regression with interleaved x- and y-tokens (Akyürek et al. 2022).

    Every task draws ``w ~ N(0, w_scale^2 I_d)``, inputs ``x_i ~ N(0, I_d)`` and
    labels ``y_i = w . x_i + eps_i``, ``eps_i ~ N(0, noise^2)``, ``i = 1..N``.
    A batch is ``(tokens, targets)``: the tokens of
    :func:`aievo.mesa.interleave_tokens`, shape ``(B, 2 N, d + 1)``, and every
    label ``y_i`` as ``(B, N, 1)``; the model predicts each ``y_i`` from the
    ``i - 1`` earlier pairs and ``x_i``. Default ``d = 8`` as in the paper's main experiments.
    """

    d: int = 8
    N: int = 16
    noise: float = 0.0
    w_scale: float = 1.0

    def __post_init__(self) -> None:
        check_int(self.d, "d")
        check_int(self.N, "N")
        check_float(self.noise, "noise", nonnegative=True)
        check_float(self.w_scale, "w_scale", nonnegative=True)

    @property
    def data_dim(self) -> int:
        """Input dimension ``d``."""
        return self.d

    def sample_raw(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, y, w)`` of shapes ``(batch, N, d)``, ``(batch, N)``, ``(batch, d)`` (float64)."""
        check_int(batch, "batch")
        w = rng.standard_normal((batch, self.d)) * self.w_scale
        X = rng.standard_normal((batch, self.N, self.d))
        y = np.einsum("bnd,bd->bn", X, w)
        if self.noise > 0:
            y = y + self.noise * rng.standard_normal((batch, self.N))
        return X, y, w

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, targets)`` of shapes ``(batch, 2 N, d + 1)`` and ``(batch, N, 1)``."""
        from ..tasks import interleave_tokens

        X, y, _ = self.sample_raw(rng, batch)
        return interleave_tokens(X, y), y[:, :, None]


@dataclass(frozen=True)
class SineRegressionTask(_JSONConfig):
    """In-context regression of sine waves (the non-linear task of von Oswald et al. 2023a).

    Every task draws an amplitude ``a ~ U(amp_low, amp_high)``, a phase
    ``phi ~ U(0, phase_high)`` and inputs ``x ~ U(-x_halfwidth, x_halfwidth)``;
    labels are ``y = a sin(x + phi)``, without noise. A batch is ``(tokens,
    targets)`` in the layout of :class:`RegressionTask` with ``d = 1``: tokens
    ``(x_i, y_i)`` and a query ``(x_q, 0)``, shape ``(B, N + 1, 2)``, and the
    query labels ``(B, 1, 1)``. Paper: ``N = 10``, ``a ~ U(0.1, 0.5)``,
    ``phi ~ U(0, pi)``, ``x ~ U(-5, 5)``. (The official sampler draws ``a``
    and ``phi`` from the same random key, so there they are one uniform number
    rescaled twice; here they are independent, as the paper describes them.)
    """

    N: int = 10
    amp_low: float = 0.1
    amp_high: float = 0.5
    phase_high: float = float(np.pi)
    x_halfwidth: float = 5.0

    def __post_init__(self) -> None:
        check_int(self.N, "N")
        check_float(self.amp_low, "amp_low", nonnegative=True)
        check_float(self.amp_high, "amp_high", low=self.amp_low)
        check_float(self.phase_high, "phase_high", nonnegative=True)
        check_float(self.x_halfwidth, "x_halfwidth", positive=True)

    @property
    def data_dim(self) -> int:
        """Input dimension: 1."""
        return 1

    def sample_raw(self, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        """One batch of tasks as arrays (float64).

        Returns
        -------
        dict
            ``x`` and ``y`` ``(batch, N)`` (context), ``xq`` and ``yq`` ``(batch,)``
            (query), ``amp`` and ``phase`` ``(batch,)``.
        """
        check_int(batch, "batch")
        amp = rng.uniform(self.amp_low, self.amp_high, size=batch)
        phase = rng.uniform(0.0, self.phase_high, size=batch)
        x = rng.uniform(-self.x_halfwidth, self.x_halfwidth, size=(batch, self.N + 1))
        y = amp[:, None] * np.sin(x + phase[:, None])
        return dict(x=x[:, :-1], y=y[:, :-1], xq=x[:, -1], yq=y[:, -1], amp=amp, phase=phase)

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, targets)`` of shapes ``(batch, N + 1, 2)`` and ``(batch, 1, 1)``."""
        from ..tasks import concat_tokens

        r = self.sample_raw(rng, batch)
        return concat_tokens(r["x"][..., None], r["y"], r["xq"][:, None]), r["yq"][:, None, None]


_TASKS: dict[str, type[LDSTask] | type[RegressionTask] | type[InterleavedRegressionTask] | type[SineRegressionTask]] = {
    "LDSTask": LDSTask, "RegressionTask": RegressionTask, "InterleavedRegressionTask": InterleavedRegressionTask,
    "SineRegressionTask": SineRegressionTask,
}


def task_from_dict(data: dict[str, Any]) -> LDSTask | RegressionTask | InterleavedRegressionTask | SineRegressionTask:
    """Rebuild a task from ``{"type": name, **fields}``."""
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in _TASKS:
        raise bad_argument(InvalidParameterError, "task type", kind, f"one of {sorted(_TASKS)}")
    return _TASKS[kind].from_dict(data)


@dataclass(frozen=True)
class OfficialSetup:
    """The official model, optimiser, task, batch size and step count of one experiment."""

    model: TransformerConfig
    optim: OptimConfig
    task: LDSTask | RegressionTask | InterleavedRegressionTask
    batch_size: int
    steps: int
    note: str = field(default="", compare=False)


def _official_setups() -> dict[str, OfficialSetup]:
    return {
        "vonoswald2023b_lds": OfficialSetup(
            TransformerConfig(),
            OptimConfig(),
            LDSTask(),
            256,
            2500,
            "2-layer, 4-head linear TF on constructed LDS tokens (run_sandbox: 25 epochs x 100 steps)",
        ),
        "vonoswald2023a_regression": OfficialSetup(
            TransformerConfig(attention=("linear",), heads=1, key_size=11, token_format="regression",
                              data_dim=10, act_clip=None, init="variance_scaling", init_scale=0.002),
            OptimConfig(lr=1e-3, warmup_steps=0, decay_steps=None, weight_decay=0.0, b1=0.9, b2=0.98,
                        clip=0.001, clip_kind="global_norm"),
            RegressionTask(),
            2048,
            50000,
            "1-layer LSA on tokens (x_i, y_i) (constructed_token_setup: 50000 steps, batch 2048)",
        ),
    }


#: The official setups by name (see :func:`official_setup`).
OFFICIAL_SETUPS: dict[str, OfficialSetup] = _official_setups()


def official_setup(name: str, **model_changes: Any) -> OfficialSetup:
    """The official configuration of an experiment, optionally with model fields changed.

    Parameters
    ----------
    name : str
        ``"vonoswald2023b_lds"``: 2 layers x 4 linear heads, key size 20,
        constructed tokens, ``N(0, 2e-4^2)`` init, activation clip 1.5; AdamW
        (weight decay 0.05), element-wise clip 1, warm-up 0 -> 3e-4 over 1000
        steps then cosine to 1e-5 at step 20000; batch 256; 2500 steps.
        ``"vonoswald2023a_regression"``: one linear head, key size 11, tokens
        ``(x, y)``, variance-scaling init ``0.002 / n_layers``, no activation
        clip; AdamW lr 1e-3, ``b2 = 0.98``, no weight decay, global-norm clip
        0.001, constant rate; batch 2048; 50000 steps.
    **model_changes
        Fields of :class:`TransformerConfig` to replace (e.g. ``attention``).
        For the 2023a setup, changing ``attention`` rescales the
        variance-scaling init to ``0.002 / n_layers`` as the official code does.

    Returns
    -------
    OfficialSetup
    """
    if name not in OFFICIAL_SETUPS:
        raise bad_argument(InvalidParameterError, "name", name, f"one of {sorted(OFFICIAL_SETUPS)}")
    setup = OFFICIAL_SETUPS[name]
    if not model_changes:
        return setup
    model = dataclasses.replace(setup.model, **model_changes)
    if name == "vonoswald2023a_regression" and "init_scale" not in model_changes:
        model = dataclasses.replace(model, init_scale=0.002 / model.n_layers)
    return dataclasses.replace(setup, model=model)


@dataclass(frozen=True)
class FewShotTask(_JSONConfig):
    """Few-shot regression ``f(x) = W x`` fed as raw tokens to a model pretrained on LDS states (2023b Fig 8).

    Every task (``len(n_examples)`` of them, one after the other in the same
    sequence) draws a Haar-orthogonal ``W`` (``D x D``); its ``n`` examples are
    ``x ~ U(-x_halfwidth, x_halfwidth)^D`` and ``f(x) = W x + noise * eps``.
    The sequence is ``[prefix, x_1, f(x_1), (EOS,) x_2, f(x_2), (EOS,) ...]``
    (:func:`aievo.mesa.nn.reference.fewshot_tokens`): ``n_prefix`` learned
    prefix tokens, then the examples as raw tokens, each followed by a learned
    end-of-sequence token when ``eos``. A model on ``token_format="lds_raw"``
    predicts the next token everywhere; it is scored at the x-tokens
    (:attr:`query_positions`), where the next token is ``f(x_i)``. The learned
    vectors (the *prompt*) are a dict ``{"eos": (D,), "prefix": (n_prefix, D)}``
    holding the keys this task needs (:meth:`check_prompt`). Official:
    ``D = 10``, ``x ~ U(-1, 1)``, ``noise = 0.01``.

    Parameters
    ----------
    D : int
        Token (and ``x``) dimension.
    n_examples : tuple of int
        Examples of each task, in order (two entries: a task switch).
    x_halfwidth : float
        Half-width of the uniform inputs.
    noise : float
        Label noise standard deviation.
    eos : bool
        Follow every example by the learned EOS token.
    n_prefix : int
        Learned prefix tokens before the first example.
    """

    D: int = 10
    n_examples: tuple[int, ...] = (10,)
    x_halfwidth: float = 1.0
    noise: float = 0.01
    eos: bool = False
    n_prefix: int = 0

    _tuple_fields: ClassVar[tuple[str, ...]] = ("n_examples",)

    def __post_init__(self) -> None:
        check_int(self.D, "D")
        n = self.n_examples
        if isinstance(n, (int, np.integer)) or not isinstance(n, (tuple, list)) or not n:
            raise bad_argument(InvalidParameterError, "n_examples", n, "a non-empty tuple of ints (examples per task)")
        object.__setattr__(self, "n_examples", tuple(check_int(k, f"n_examples[{i}]") for i, k in enumerate(n)))
        check_float(self.x_halfwidth, "x_halfwidth", positive=True)
        check_float(self.noise, "noise", nonnegative=True)
        _bool(self.eos, "eos")
        check_int(self.n_prefix, "n_prefix", minimum=0)

    @property
    def data_dim(self) -> int:
        """Token dimension ``D``."""
        return self.D

    @property
    def n_total(self) -> int:
        """Examples over all tasks."""
        return sum(self.n_examples)

    @property
    def stride(self) -> int:
        """Tokens per example: 3 with EOS, else 2."""
        return 3 if self.eos else 2

    @property
    def seq_len(self) -> int:
        """Tokens in a sequence: ``n_prefix + stride * n_total``."""
        return self.n_prefix + self.stride * self.n_total

    @property
    def query_positions(self) -> np.ndarray:
        """Positions of the x-tokens (where ``f(x_i)`` is predicted), shape ``(n_total,)``."""
        return self.n_prefix + self.stride * np.arange(self.n_total)

    @property
    def task_starts(self) -> np.ndarray:
        """Index of the first example of every task, shape ``(len(n_examples),)``."""
        return np.concatenate([[0], np.cumsum(self.n_examples)[:-1]]).astype(np.int64)

    @property
    def prompt_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the learned vectors the task needs: ``eos`` ``(D,)``, ``prefix`` ``(n_prefix, D)``."""
        out: dict[str, tuple[int, ...]] = {}
        if self.eos:
            out["eos"] = (self.D,)
        if self.n_prefix:
            out["prefix"] = (self.n_prefix, self.D)
        return out

    def check_prompt(self, prompt: Any) -> None:
        """Raise unless ``prompt`` is a dict with exactly the keys and shapes of :attr:`prompt_shapes`."""
        want = self.prompt_shapes
        if not isinstance(prompt, dict) or sorted(prompt) != sorted(want):
            got = sorted(prompt) if isinstance(prompt, dict) else type(prompt).__name__
            raise bad_argument(InvalidParameterError, "prompt", got,
                               f"a dict with keys {sorted(want)} (eos={self.eos}, n_prefix={self.n_prefix})")
        for key, shape in want.items():
            if tuple(np.shape(prompt[key])) != shape:
                raise bad_argument(ShapeError, f"prompt[{key!r}].shape", tuple(np.shape(prompt[key])), f"{shape}")

    def init_prompt(self, rng: Any = 0) -> dict[str, np.ndarray]:
        """Initial prompt vectors ``N(0, I)`` (as the official code), float64; ``eos`` drawn first."""
        from .._checks import as_rng

        g = as_rng(rng)
        return {key: g.standard_normal(shape) for key, shape in self.prompt_shapes.items()}

    def sample_raw(self, rng: Any, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)``, both ``(batch, n_total, D)`` float64: inputs and labels of every task in order."""
        from .._checks import as_rng
        from ..tasks import haar_orthogonal

        batch = check_int(batch, "batch")
        g = as_rng(rng)
        X = g.uniform(-self.x_halfwidth, self.x_halfwidth, size=(batch, self.n_total, self.D))
        Y = np.empty_like(X)
        for start, n in zip(self.task_starts, self.n_examples):
            W = haar_orthogonal(g, batch, self.D)
            Y[:, start:start + n] = np.einsum("bij,bnj->bni", W, X[:, start:start + n])
        if self.noise > 0:
            Y = Y + self.noise * g.standard_normal(Y.shape)
        return X, Y
