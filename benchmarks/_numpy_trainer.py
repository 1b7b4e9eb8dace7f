"""The retired numpy trainer: hand-written backward passes and Adam, kept as a benchmark baseline.

Until the JAX layer (:mod:`aievo.mesa.nn`) existed, ``aievo.mesa.train`` trained
its linear-attention models with the gradients written out here by hand (float64)
and this Adam. The package now trains through
:func:`aievo.mesa.nn.train_transformer` (optax, automatic differentiation); the
numpy trainer stays outside the package as

* the baseline of the training-step comparison in ``bench_mesa.py`` (one
  optimiser step of the official 2-layer, 4-head linear transformer), and
* the recipe of the frozen one-layer LSA that the recorded regression benchmark
  uses (``aievo/mesa/checkpoints/regression/icl_lsa``, written by :func:`write_icl_lsa`).

:func:`self_check` compares both hand-written gradients with central finite
differences; ``bench_mesa.py`` runs it before timing.

Run ``python benchmarks/_numpy_trainer.py`` from a source checkout to check the
gradients and rewrite the frozen LSA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aievo.mesa.train import LSAResult, linear_tf_init, lsa_init, lsa_predict, lsa_tokens

__all__ = ["Adam", "lsa_loss_and_grad", "linear_tf_loss_and_grad", "train_lsa_numpy", "self_check",
           "write_icl_lsa", "ICL_LSA_ARGS"]

ROOT = Path(__file__).resolve().parents[1]
#: Arguments of the frozen LSA of the regression benchmark (``icl_lsa``).
ICL_LSA_ARGS = dict(d=10, N=10, steps=3000, batch=512, rng=0, eval_tasks=2000)


class Adam:
    """Adam on a dict of float64 arrays (updated in place), with optional global-norm clipping."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8, clip_norm: float | None = None) -> None:
        self.lr, self.b1, self.b2, self.eps, self.clip_norm = lr, b1, b2, eps, clip_norm
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
            m, v = self.m[k], self.v[k]
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            params[k] -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


# --------------------------------------------------------------------------- one LSA layer on regression
def lsa_loss_and_grad(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, xq: np.ndarray,
                      yq: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Loss ``sum_b (yhat_b - yq_b)^2 / (2B)`` of one LSA layer and its gradient (``Wq, Wk, Wv, P``)."""
    E, eq = lsa_tokens(X, y, xq)
    B = E.shape[0]
    Wq, Wk, Wv, P = (params[k] for k in ("Wq", "Wk", "Wv", "P"))
    r = P[-1]
    a = Wv.T @ r  # yhat = -a^T C W_K^T W_Q e_q
    z = eq @ Wq.T
    kz = z @ Wk
    Ckz = np.einsum("bni,bnj,bj->bi", E, E, kz)
    Ca = np.einsum("bni,bnj,j->bi", E, E, a)
    res = -Ckz @ a - yq
    loss = float(res @ res / (2 * B))
    g = res / B
    grads = {
        "Wq": -np.einsum("b,bi,bj->ij", g, Ca @ Wk.T, eq),
        "Wk": -np.einsum("b,bi,bj->ij", g, z, Ca),
        "Wv": -np.outer(r, g @ Ckz),
        "P": np.zeros_like(P),
    }
    grads["P"][-1] = -(g @ Ckz) @ Wv.T
    return loss, grads


def train_lsa_numpy(*, d: int = 10, N: int = 10, steps: int = 5000, batch: int = 512, lr: float = 1e-3,
                    init_std: float = 0.002, eval_every: int = 100, eval_tasks: int = 10000,
                    rng: Any = 0) -> LSAResult:
    """Train one LSA layer with the hand-written gradient and Adam, as ``aievo.mesa.train_lsa`` did in aievo 0.1.

    Draws, in order from one generator: the initial weights, the evaluation set, then one
    batch per step (``x ~ U(-0.5, 0.5)``, ``w ~ N(0, I)``).
    """
    from aievo.mesa.tasks import sample_regression_tasks

    g = np.random.default_rng(rng)
    params = lsa_init(d, g, init_std)
    Xe, ye, xqe, yqe, _ = sample_regression_tasks(g, eval_tasks, d=d, N=N)
    opt = Adam(params, lr=lr)
    train_loss = np.empty(steps)
    eval_steps, eval_loss = [], []

    def score() -> float:
        res = lsa_predict(params, Xe, ye, xqe) - yqe
        return float(res @ res / (2 * res.size))

    for step in range(steps):
        if step % eval_every == 0:
            eval_steps.append(step)
            eval_loss.append(score())
        X, y, xq, yq, _ = sample_regression_tasks(g, batch, d=d, N=N)
        train_loss[step], grads = lsa_loss_and_grad(params, X, y, xq, yq)
        opt.step(params, grads)
    eval_steps.append(steps)
    eval_loss.append(score())
    config = dict(d=d, N=N, steps=steps, batch=batch, lr=lr, b1=0.9, b2=0.999, clip_norm=None,
                  init_std=init_std, x_halfwidth=0.5, w_scale=1.0, eval_every=eval_every,
                  eval_tasks=eval_tasks, rng=rng, trainer="numpy (benchmarks/_numpy_trainer.py)")
    return LSAResult(params, train_loss, np.asarray(eval_steps), np.asarray(eval_loss), config)


# --------------------------------------------------------------------------- causal linear transformer
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


def _layer_backward(p: dict[str, np.ndarray], cache: dict, dout: np.ndarray,
                    mask: np.ndarray) -> tuple[np.ndarray, dict]:
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


def linear_tf_loss_and_grad(layers: list[dict[str, np.ndarray]], tokens: np.ndarray, targets: np.ndarray, *,
                            act_clip: float | None = None) -> tuple[float, list[dict[str, np.ndarray]]]:
    """Loss ``sum (pred - target)^2 / (2 B T)`` of a causal linear transformer and its gradient per layer."""
    B, T, _ = tokens.shape
    D = targets.shape[-1]
    mask = np.tril(np.ones((T, T)))
    h = tokens
    caches = []
    for p in layers:
        h, c = _layer_forward(p, h, mask)
        if act_clip is not None:
            c["inside"] = np.abs(h) < act_clip
            h = np.clip(h, -act_clip, act_clip)
        caches.append(c)
    res = h[..., :D] - targets
    loss = float(np.sum(res * res) / (2 * B * T))
    dh = np.zeros_like(h)
    dh[..., :D] = res / (B * T)
    grads: list[dict[str, np.ndarray]] = [{}] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        if act_clip is not None:
            dh = dh * caches[i]["inside"]
        dh, grads[i] = _layer_backward(layers[i], caches[i], dh, mask)
    return loss, grads


# --------------------------------------------------------------------------- checks and the frozen LSA
def _fd_error(loss_fn: Any, pairs: list[tuple[np.ndarray, np.ndarray]], h: float = 1e-6) -> float:
    """Max relative error between central differences of ``loss_fn()`` and the analytic gradients."""
    worst = 0.0
    for arr, grad in pairs:
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            a = loss_fn()
            arr[idx] = old - h
            b = loss_fn()
            arr[idx] = old
            num[idx] = (a - b) / (2 * h)
        worst = max(worst, float(np.abs(num - grad).max() / max(np.abs(num).max(), 1e-12)))
    return worst


def self_check(seed: int = 0) -> float:
    """Largest relative error of the hand-written gradients against central differences (float64).

    Checks one LSA layer (d = 2, N = 3) and a 2-layer transformer with a linear and a
    mesa layer and an activation clip (D = 2, T = 4); a correct backward pass gives
    about 1e-9 (the finite-difference truncation and rounding error).
    """
    from aievo.mesa.tasks import construct_full_tokens, sample_lds, sample_regression_tasks

    g = np.random.default_rng(seed)
    X, y, xq, yq, _ = sample_regression_tasks(g, 3, d=2, N=3)
    params = lsa_init(2, g, init_std=0.7)
    _, grads = lsa_loss_and_grad(params, X, y, xq, yq)
    err = _fd_error(lambda: lsa_loss_and_grad(params, X, y, xq, yq)[0], [(params[k], grads[k]) for k in params])
    inputs, targets, _ = sample_lds(g, 2, D=2, T=4)
    tokens = construct_full_tokens(inputs)
    layers = linear_tf_init(2, 2, 2, 3, mesa=[False, True], init_std=0.6, lam_init=0.8, rng=g)
    _, tgrads = linear_tf_loss_and_grad(layers, tokens, targets, act_clip=1.0)
    pairs = [(p[k], gr[k]) for p, gr in zip(layers, tgrads) for k in p]
    return max(err, _fd_error(lambda: linear_tf_loss_and_grad(layers, tokens, targets, act_clip=1.0)[0], pairs))


def write_icl_lsa(directory: str | Path | None = None) -> Path:
    """Train the frozen LSA of the regression benchmark's ``icl_lsa`` row and write it (arrays + JSON)."""
    from aievo.mesa._trained_files import save_trained

    folder = Path(directory) if directory is not None else ROOT / "aievo" / "mesa" / "checkpoints" / "regression"
    args = ", ".join(f"{k}={v}" for k, v in ICL_LSA_ARGS.items())
    return save_trained(train_lsa_numpy(**ICL_LSA_ARGS), folder / "icl_lsa",
                        f"benchmarks/_numpy_trainer.py: train_lsa_numpy({args})")


if __name__ == "__main__":
    print(f"hand-written gradients vs central differences: max relative error {self_check():.1e}")
    print(write_icl_lsa())
