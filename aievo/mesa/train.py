"""Training linear self-attention models with Adam and hand-written gradients.

Two models are trained here, both in plain numpy (float64) with backward passes
written out by hand (checked against central finite differences in the tests):

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
  ``lambda`` per head (solved afresh at every position, differentiated through
  the solve).

Both trainers draw a fresh batch every step and use Adam (``b1 = 0.9``,
``b2 = 0.999``, ``lr = 1e-3`` by default), optionally with global-norm gradient
clipping. Loss conventions follow the official code: ``sum (yhat - y)^2 / (2B)``
for regression and ``sum (pred - target)^2 / (2 B T)`` for sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._blas import with_single_threaded_blas
from ..errors import InvalidParameterError, NumericalRangeError, ShapeError, bad_argument
from ._checks import as_rng, check_array, check_float, check_int

__all__ = [
    "Adam",
    "LSAResult",
    "LinearTFResult",
    "lsa_tokens",
    "lsa_init",
    "lsa_predict",
    "lsa_loss_and_grad",
    "train_lsa",
    "linear_tf_init",
    "linear_tf_forward",
    "linear_tf_loss_and_grad",
    "train_linear_tf",
    "alignment",
    "Alignment",
    "GDReference",
]


# --------------------------------------------------------------------------- Adam
class Adam:
    """Adam on a dict of float64 arrays (updated in place).

    Parameters
    ----------
    params : dict of str to ndarray
        The parameters; their shapes fix the moment buffers.
    lr : float
        Step size (default ``1e-3``).
    b1, b2 : float
        Exponential decay rates of the first and second moments.
    eps : float
        Added to the root of the second moment.
    clip_norm : float or None
        If given, gradients are rescaled so their global L2 norm is at most
        ``clip_norm`` before the moments are updated.
    """

    def __init__(
        self,
        params: dict[str, np.ndarray],
        lr: float = 1e-3,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
        clip_norm: float | None = None,
    ) -> None:
        self.lr = check_float(lr, "lr", positive=True)
        self.b1 = check_float(b1, "b1", low=0.0, high=1.0 - 1e-12)
        self.b2 = check_float(b2, "b2", low=0.0, high=1.0 - 1e-12)
        self.eps = check_float(eps, "eps", positive=True)
        self.clip_norm = None if clip_norm is None else check_float(clip_norm, "clip_norm", positive=True)
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Apply one Adam update to ``params`` in place."""
        if self.clip_norm is not None:
            norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
            if norm > self.clip_norm:
                grads = {k: g * (self.clip_norm / norm) for k, g in grads.items()}
        self.t += 1
        c1 = 1.0 - self.b1**self.t
        c2 = 1.0 - self.b2**self.t
        for k, g in grads.items():
            m = self.m[k]
            v = self.v[k]
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            params[k] -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def _check_adam_args(lr: Any, b1: Any, b2: Any, clip_norm: Any) -> None:
    check_float(lr, "lr", positive=True)
    check_float(b1, "b1", low=0.0, high=1.0 - 1e-12)
    check_float(b2, "b2", low=0.0, high=1.0 - 1e-12)
    if clip_norm is not None:
        check_float(clip_norm, "clip_norm", positive=True)


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


def lsa_loss_and_grad(
    params: dict[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    xq: np.ndarray,
    yq: np.ndarray,
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss ``sum_b (yhat_b - yq_b)^2 / (2B)`` of one LSA layer and its gradient.

    Returns
    -------
    loss : float
    grads : dict of str to ndarray
        Gradients with respect to ``Wq, Wk, Wv, P``.
    """
    E, eq = lsa_tokens(X, y, xq)
    _check_lsa_params(params, E.shape[-1])
    yq = check_array(yq, "yq", 1)
    B = E.shape[0]
    if yq.shape != (B,):
        raise bad_argument(ShapeError, "yq.shape", yq.shape, f"({B},)")
    Wq, Wk, Wv, P = (params[k] for k in _LSA_KEYS)
    r = P[-1]
    a = Wv.T @ r  # yhat = -a^T C W_K^T W_Q e_q
    z = eq @ Wq.T
    kz = z @ Wk
    Ckz = np.einsum("bni,bnj,bj->bi", E, E, kz)
    Ca = np.einsum("bni,bnj,j->bi", E, E, a)
    yhat = -Ckz @ a
    res = yhat - yq
    loss = float(res @ res / (2 * B))
    g = res / B  # dL / dyhat
    grads = {
        "Wq": -np.einsum("b,bi,bj->ij", g, Ca @ Wk.T, eq),
        "Wk": -np.einsum("b,bi,bj->ij", g, z, Ca),
        "Wv": -np.outer(r, g @ Ckz),
        "P": np.zeros_like(P),
    }
    grads["P"][-1] = -(g @ Ckz) @ Wv.T
    return loss, grads


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


@with_single_threaded_blas
def _check_finite_loss(loss: float, step: int, lr: float) -> None:
    """Training that diverged (a NaN or infinite loss) stops with an error naming the step size."""
    if not np.isfinite(loss):
        raise NumericalRangeError(
            f"lr={lr!r} is invalid: training diverged (the loss was {loss} at step {step}); "
            "expected a smaller learning rate"
        )


def train_lsa(
    *,
    d: int = 10,
    N: int = 10,
    steps: int = 5000,
    batch: int = 512,
    lr: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    clip_norm: float | None = None,
    init_std: float = 0.002,
    x_halfwidth: float = 0.5,
    w_scale: float = 1.0,
    eval_every: int = 100,
    eval_tasks: int = 10000,
    rng: Any = 0,
    progress: bool | None = False,
) -> LSAResult:
    """Train one LSA layer on in-context linear regression with Adam.

    Parameters
    ----------
    d, N : int
        Input dimension and number of context points (official: 10, 10).
    steps, batch : int
        Adam steps and tasks per step (a fresh batch every step).
    lr, b1, b2 : float
        Adam hyper-parameters.
    clip_norm : float or None
        Global gradient-norm clip (``None``: no clipping).
    init_std : float
        Standard deviation of the Gaussian initial weights.
    x_halfwidth, w_scale : float
        Task distribution: ``x ~ U(-h, h)``, ``w ~ N(0, w_scale^2 I)``.
    eval_every, eval_tasks : int
        The fixed evaluation set (drawn first from ``rng``) is scored every
        ``eval_every`` steps and at the end.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
        Seed or generator for initial weights, evaluation set and batches.
    progress : bool or None
        Show a progress bar.

    Returns
    -------
    LSAResult
    """
    d = check_int(d, "d")
    N = check_int(N, "N")
    steps = check_int(steps, "steps", minimum=0)
    batch = check_int(batch, "batch")
    eval_every = check_int(eval_every, "eval_every")
    eval_tasks = check_int(eval_tasks, "eval_tasks")
    _check_adam_args(lr, b1, b2, clip_norm)
    from .._progress import progress as progress_bar
    from .tasks import sample_regression_tasks

    config = dict(d=d, N=N, steps=steps, batch=batch, lr=lr, b1=b1, b2=b2, clip_norm=clip_norm,
                  init_std=init_std, x_halfwidth=x_halfwidth, w_scale=w_scale, eval_every=eval_every,
                  eval_tasks=eval_tasks, rng=rng if isinstance(rng, int) else None)
    g = as_rng(rng)
    params = lsa_init(d, g, init_std)
    kw: dict[str, Any] = dict(d=d, N=N, x_halfwidth=x_halfwidth, w_scale=w_scale)
    Xe, ye, xqe, yqe, _ = sample_regression_tasks(g, eval_tasks, **kw)
    opt = Adam(params, lr=lr, b1=b1, b2=b2, clip_norm=clip_norm)
    train_loss = np.empty(steps)
    eval_steps: list[int] = []
    eval_loss: list[float] = []
    for step in progress_bar(range(steps), total=steps, desc="train_lsa", enabled=progress):
        if step % eval_every == 0:
            eval_steps.append(step)
            eval_loss.append(_lsa_loss(params, Xe, ye, xqe, yqe))
        X, y, xq, yq, _ = sample_regression_tasks(g, batch, **kw)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported just below
            train_loss[step], grads = lsa_loss_and_grad(params, X, y, xq, yq)
        _check_finite_loss(train_loss[step], step, lr)
        opt.step(params, grads)
    eval_steps.append(steps)
    eval_loss.append(_lsa_loss(params, Xe, ye, xqe, yqe))
    return LSAResult(params, train_loss, np.asarray(eval_steps), np.asarray(eval_loss), config)


def _lsa_loss(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> float:
    res = lsa_predict(params, X, y, xq) - yq
    return float(res @ res / (2 * res.shape[0]))


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


def _layer_forward(p: dict[str, np.ndarray], h: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    Q = np.tensordot(h, p["Wq"], axes=([2], [2])).transpose(0, 2, 1, 3)  # [B, H, T, k]
    K = np.tensordot(h, p["Wk"], axes=([2], [2])).transpose(0, 2, 1, 3)
    V = np.tensordot(h, p["Wv"], axes=([2], [2])).transpose(0, 2, 1, 3)
    cache: dict[str, Any] = {"h": h, "K": K, "V": V}
    if "lam" in p:
        ks = K.shape[-1]
        A = np.cumsum(K[..., :, None] * K[..., None, :], axis=2)
        A = A + (1.0 / p["lam"])[None, :, None, None, None] * np.eye(ks)
        Qt = np.linalg.solve(A, Q[..., None])[..., 0]
        cache["A"] = A
    else:
        Qt = Q
    S = (Qt @ K.swapaxes(-1, -2)) * mask  # S[t, t'] = q_t . k_t' for t' <= t
    O = S @ V
    cache.update(Qt=Qt, S=S, O=O)
    return h + np.tensordot(O, p["P"], axes=([1, 3], [0, 2])), cache


def _layer_backward(p: dict[str, np.ndarray], cache: dict, dout: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, dict]:
    h, K, V, Qt, S, O = (cache[k] for k in ("h", "K", "V", "Qt", "S", "O"))
    grads: dict[str, np.ndarray] = {}
    dO = dout[:, None] @ p["P"][None]
    grads["P"] = np.tensordot(dout, O, axes=([0, 1], [0, 2])).transpose(1, 0, 2)
    dS = (dO @ V.swapaxes(-1, -2)) * mask
    dV = S.swapaxes(-1, -2) @ dO
    dQt = dS @ K
    dK = dS.swapaxes(-1, -2) @ Qt
    if "lam" in p:
        A = cache["A"]
        U = np.linalg.solve(A, dQt[..., None])[..., 0]  # A is symmetric
        dQ = U
        dA = -U[..., :, None] * Qt[..., None, :]
        G = dA + dA.swapaxes(-1, -2)
        Grev = np.flip(np.cumsum(np.flip(G, axis=2), axis=2), axis=2)  # sum over t >= t'
        dK = dK + (Grev @ K[..., None])[..., 0]
        tr = np.einsum("bhtii->h", dA)
        grads["lam"] = -tr / p["lam"] ** 2
    else:
        dQ = dQt
    dh = dout.copy()
    for name, dX in (("Wq", dQ), ("Wk", dK), ("Wv", dV)):
        grads[name] = np.tensordot(dX, h, axes=([0, 2], [0, 1]))
        dh += np.tensordot(dX, p[name], axes=([1, 3], [0, 1]))
    return dh, grads


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
        h = _layer_forward(p, acts[-1], mask)[0]
        acts.append(h if clip is None else np.clip(h, -clip, clip))
    return acts


def _check_clip(act_clip: Any) -> float | None:
    return None if act_clip is None else check_float(act_clip, "act_clip", positive=True)


def linear_tf_loss_and_grad(
    layers: list[dict[str, np.ndarray]],
    tokens: np.ndarray,
    targets: np.ndarray,
    *,
    act_clip: float | None = None,
) -> tuple[float, list[dict[str, np.ndarray]]]:
    """Loss ``sum (pred - target)^2 / (2 B T)`` and its gradient for every layer's weights.

    ``pred`` is the first ``D = targets.shape[-1]`` entries of the last layer's output.
    ``act_clip`` as in :func:`linear_tf_forward` (clipped entries pass no gradient).

    Returns
    -------
    loss : float
    grads : list of dict
        Same structure as ``layers``.
    """
    tokens = check_array(tokens, "tokens", 3, shape_text="an array of shape (B, T, E)")
    targets = check_array(targets, "targets", 3, shape_text="an array of shape (B, T, D)")
    B, T, E = tokens.shape
    if targets.shape[:2] != (B, T) or targets.shape[2] > E:
        raise bad_argument(ShapeError, "targets.shape", targets.shape, f"({B}, {T}, D) with D <= {E}")
    _check_layers(layers, E)
    D = targets.shape[-1]
    clip = _check_clip(act_clip)
    mask = np.tril(np.ones((T, T)))
    h = tokens
    caches = []
    for p in layers:
        h, c = _layer_forward(p, h, mask)
        if clip is not None:
            c["inside"] = np.abs(h) < clip
            h = np.clip(h, -clip, clip)
        caches.append(c)
    res = h[..., :D] - targets
    loss = float(np.sum(res * res) / (2 * B * T))
    dh = np.zeros_like(h)
    dh[..., :D] = res / (B * T)
    grads: list[dict[str, np.ndarray]] = [{}] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        if clip is not None:
            dh = dh * caches[i]["inside"]
        dh, grads[i] = _layer_backward(layers[i], caches[i], dh, mask)
    return loss, grads


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


def _lr_at(step: int, steps: int, lr: float, schedule: str, warmup: int) -> float:
    if schedule == "constant":
        return lr
    if step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(steps - 1 - warmup, 1)
    return lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * frac)))


def _flatten(layers: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {f"{i}.{k}": v for i, p in enumerate(layers) for k, v in p.items()}


@with_single_threaded_blas
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
    lr: float = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    clip_norm: float | None = 1.0,
    schedule: str = "constant",
    warmup: int = 0,
    act_clip: float | None = None,
    init_std: float = 0.02,
    lam_init: float = 1.0,
    noise: float = 0.01,
    kind: str = "orthogonal",
    eval_every: int = 100,
    eval_batch: int = 256,
    rng: Any = 0,
    progress: bool | None = False,
) -> LinearTFResult:
    """Train a causal linear (or mesa) transformer to predict ``s_{t+1}`` on LDS sequences.

    Parameters
    ----------
    D, T : int
        State dimension and sequence length (official: 10, 50).
    n_layers, n_heads, key_size : int
        Architecture (official: 2 layers, 4 heads, key size 20).
    mesa : bool or sequence of bool
        Use mesa heads (in every layer, or per layer).
    steps, batch : int
        Adam steps and sequences per step (fresh data every step).
    lr, b1, b2, clip_norm : float
        Adam hyper-parameters and global gradient-norm clip (``None``: off).
    schedule : {"constant", "cosine"}
        Learning rate: constant ``lr``, or a linear warm-up over ``warmup`` steps
        to ``lr`` followed by a cosine decay to ``lr / 100`` at the last step
        (the official schedule is a warm-up cosine).
    warmup : int
        Warm-up steps (``schedule="cosine"`` only).
    act_clip : float or None
        Clip every layer's output to ``[-act_clip, act_clip]`` (official: 1.5;
        default ``None``: no clipping).
    init_std, lam_init : float
        Initial weight scale and initial ``lambda`` of mesa heads.
    noise, kind : float, str
        LDS noise and kind, passed to :func:`aievo.mesa.tasks.sample_lds`.
    eval_every, eval_batch : int
        A fixed evaluation batch (drawn first) is scored every ``eval_every`` steps.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    progress : bool or None
        Show a progress bar.

    Returns
    -------
    LinearTFResult
    """
    steps = check_int(steps, "steps", minimum=0)
    batch = check_int(batch, "batch")
    T = check_int(T, "T")
    eval_every = check_int(eval_every, "eval_every")
    eval_batch = check_int(eval_batch, "eval_batch")
    _check_adam_args(lr, b1, b2, clip_norm)
    if schedule not in ("constant", "cosine"):
        raise bad_argument(InvalidParameterError, "schedule", schedule, "'constant' or 'cosine'")
    warmup = check_int(warmup, "warmup", minimum=0)
    from .._progress import progress as progress_bar
    from .tasks import sample_lds

    config = dict(D=D, T=T, n_layers=n_layers, n_heads=n_heads, key_size=key_size,
                  mesa=list(_mesa_flags(mesa, check_int(n_layers, "n_layers"))), steps=steps, batch=batch,
                  lr=lr, b1=b1, b2=b2, clip_norm=clip_norm, schedule=schedule, warmup=warmup, act_clip=_check_clip(act_clip),
                  init_std=init_std,
                  lam_init=lam_init, noise=noise,
                  kind=kind, eval_every=eval_every, eval_batch=eval_batch,
                  rng=rng if isinstance(rng, int) else None)
    g = as_rng(rng)
    layers = linear_tf_init(D, n_layers, n_heads, key_size, mesa=mesa, lam_init=lam_init, init_std=init_std, rng=g)
    ev_in, ev_tg, _ = sample_lds(g, eval_batch, D=D, T=T, noise=noise, kind=kind)
    ev_tok = _tokens(ev_in)
    flat = _flatten(layers)
    opt = Adam(flat, lr=lr, b1=b1, b2=b2, clip_norm=clip_norm)
    train_loss = np.empty(steps)
    eval_steps: list[int] = []
    eval_loss: list[float] = []

    def evaluate() -> float:
        pred = linear_tf_forward(layers, ev_tok, act_clip=act_clip)[-1][..., :D]
        return float(np.sum((pred - ev_tg) ** 2) / (2 * eval_batch * T))

    for step in progress_bar(range(steps), total=steps, desc="train_linear_tf", enabled=progress):
        if step % eval_every == 0:
            eval_steps.append(step)
            eval_loss.append(evaluate())
        opt.lr = _lr_at(step, steps, lr, schedule, warmup)
        inputs, targets, _ = sample_lds(g, batch, D=D, T=T, noise=noise, kind=kind)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is reported just below
            train_loss[step], grads = linear_tf_loss_and_grad(layers, _tokens(inputs), targets, act_clip=act_clip)
        _check_finite_loss(train_loss[step], step, lr)
        opt.step(flat, _flatten(grads))
        for p in layers:  # a mesa head's lambda must stay positive
            if "lam" in p and np.any(p["lam"] <= 0):
                raise InvalidParameterError(
                    f"lr={lr!r} is invalid: expected a step small enough that mesa lambdas stay positive "
                    f"(a lambda reached {p['lam'].min():.3g} at step {step})")
    eval_steps.append(steps)
    eval_loss.append(evaluate())
    return LinearTFResult(layers, train_loss, np.asarray(eval_steps), np.asarray(eval_loss), config)


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
