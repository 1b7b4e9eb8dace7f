"""Linear probes and sensitivities of a sequence model's activations.

Following von Oswald et al. (2023b), docs/explanation/mesa-facts.md:

* :func:`linear_probe` fits a linear map without bias (least squares) from
  activations to a target and scores it by ``sum residual^2 / (2 n)`` or by
  ``R^2``;
* :func:`probe_targets` builds the targets at every position ``t``: the
  current state ``s_t``, the next state ``s_{t+1}`` and the preconditioned
  state ``(S_{<t}^T S_{<t} + lam I)^{-1} s_t`` (``S_{<t}`` has rows
  ``s_1..s_{t-1}``; this is ``(H_t + lam I)^{-1} s_t`` of Proposition 2 since
  ``s_0 = 0``);
* :func:`probe_over_time` probes every layer at every position;
* :func:`token_binding_probe` asks which past states (``s_{t-k}``) a token
  carries;
* :func:`sensitivity` measures how much an output token depends on each
  earlier input token (central finite differences).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import check_array, check_float, check_int, finite_result

__all__ = [
    "METRICS",
    "linear_probe",
    "probe_targets",
    "probe_over_time",
    "token_binding_probe",
    "sensitivity",
]

METRICS = ("mse", "r2")


def _score(pred: np.ndarray, target: np.ndarray, metric: str) -> float:
    res = pred - target
    sse = float(np.sum(res * res))
    if metric == "mse":
        return sse / (2 * target.shape[0])
    sst = float(np.sum((target - target.mean(axis=0)) ** 2))
    if sst == 0:
        raise bad_argument(InvalidParameterError, "target", "constant target", "a target that varies (for R^2)")
    return 1.0 - sse / sst


@finite_result
def linear_probe(
    acts: np.ndarray,
    target: np.ndarray,
    *,
    metric: str = "mse",
    test: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Fit ``target ~ acts @ W`` by least squares (no bias) and score it.

    Parameters
    ----------
    acts : ndarray, shape (n, F)
        Activations (one row per example).
    target : ndarray, shape (n, Dt) or (n,)
        What to decode.
    metric : {"mse", "r2"}
        ``"mse"``: ``sum residual^2 / (2 n)`` (the official convention);
        ``"r2"``: ``1 - SS_res / SS_tot`` over all target entries (targets centred
        per column for ``SS_tot``).
    test : (acts, target), optional
        Score on these held-out examples instead of the fitting set.

    Returns
    -------
    float
    """
    if metric not in METRICS:
        raise bad_argument(InvalidParameterError, "metric", metric, f"one of {', '.join(METRICS)}")
    acts = check_array(acts, "acts", 2, shape_text="an array of shape (n, F)")
    target = check_array(target, "target", (1, 2), shape_text="an array of shape (n, Dt) or (n,)")
    if target.shape[0] != acts.shape[0]:
        raise bad_argument(ShapeError, "target.shape", target.shape, f"{acts.shape[0]} rows like acts")
    t2 = target.reshape(target.shape[0], -1)
    W = np.linalg.lstsq(acts, t2, rcond=None)[0]
    if test is None:
        return _score(acts @ W, t2, metric)
    ta = check_array(test[0], "test[0]", 2)
    tt = check_array(test[1], "test[1]", (1, 2)).reshape(ta.shape[0], -1) if len(test) == 2 else None
    if tt is None or ta.shape[1] != acts.shape[1] or tt.shape[1] != t2.shape[1]:
        raise bad_argument(ShapeError, "test", test, f"(acts[m, {acts.shape[1]}], target[m, {t2.shape[1]}])")
    return _score(ta @ W, tt, metric)


@finite_result
def probe_targets(inputs: np.ndarray, targets: np.ndarray, lam: float = 1e-3) -> dict[str, np.ndarray]:
    """Probe targets at every position of LDS sequences.

    Parameters
    ----------
    inputs : ndarray, shape (B, T, D)
        States ``s_1..s_T``.
    targets : ndarray, shape (B, T, D)
        Next states ``s_2..s_{T+1}``.
    lam : float
        Ridge term of the preconditioned target.

    Returns
    -------
    dict
        ``"current"`` (``s_t``), ``"next"`` (``s_{t+1}``) and
        ``"preconditioned"`` (``(sum_{t' < t} s_{t'} s_{t'}^T + lam I)^{-1} s_t``),
        each of shape ``(B, T, D)``.
    """
    inputs = check_array(inputs, "inputs", 3, shape_text="an array of shape (B, T, D)")
    targets = check_array(targets, "targets", 3, shape_text="an array of shape (B, T, D)")
    if targets.shape != inputs.shape:
        raise bad_argument(ShapeError, "targets.shape", targets.shape, f"{inputs.shape} like inputs")
    lam = check_float(lam, "lam", positive=True)
    B, T, D = inputs.shape
    outer = inputs[..., :, None] * inputs[..., None, :]
    H = np.zeros((B, T, D, D))
    H[:, 1:] = np.cumsum(outer, axis=1)[:, :-1]  # sum over t' < t
    H += lam * np.eye(D)
    pre = np.linalg.solve(H, inputs[..., None])[..., 0]
    return {"current": inputs.copy(), "next": targets.copy(), "preconditioned": pre}


@finite_result
def probe_over_time(
    acts: Sequence[np.ndarray],
    targets: dict[str, np.ndarray],
    *,
    positions: Sequence[int] | None = None,
    metric: str = "mse",
    test_acts: Sequence[np.ndarray] | None = None,
    test_targets: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Probe every layer at every position for every target.

    Parameters
    ----------
    acts : sequence of ndarray, each (B, T, F)
        Activations per layer (e.g. ``LinearTFResult.activations(inputs)``).
    targets : dict of str to ndarray (B, T, Dt)
        Targets (e.g. :func:`probe_targets`).
    positions : sequence of int, optional
        Positions to probe (default all).
    metric : {"mse", "r2"}
    test_acts, test_targets : optional
        Held-out activations and targets (same structure) to score on.

    Returns
    -------
    dict of str to ndarray, shape (n_layers, n_positions)
        One probe (fitted across the batch) per layer, position and target.
    """
    if not isinstance(acts, (list, tuple)) or not acts:
        raise bad_argument(InvalidParameterError, "acts", acts, "a non-empty list of (B, T, F) arrays")
    acts = [check_array(a, f"acts[{i}]", 3) for i, a in enumerate(acts)]
    B, T = acts[0].shape[:2]
    for i, a in enumerate(acts):
        if a.shape[:2] != (B, T):
            raise bad_argument(ShapeError, f"acts[{i}].shape", a.shape, f"({B}, {T}, F)")
    if not isinstance(targets, dict) or not targets:
        raise bad_argument(InvalidParameterError, "targets", targets, "a non-empty dict of (B, T, Dt) arrays")
    for k, v in targets.items():
        if np.shape(v)[:2] != (B, T):
            raise bad_argument(ShapeError, f"targets[{k!r}].shape", np.shape(v), f"({B}, {T}, Dt)")
    pos = list(range(T)) if positions is None else [check_int(p, "positions", 0, T - 1) for p in positions]
    if (test_acts is None) != (test_targets is None):
        raise bad_argument(InvalidParameterError, "test_targets", test_targets, "given together with test_acts")
    out = {}
    for name, tgt in targets.items():
        res = np.empty((len(acts), len(pos)))
        for li, a in enumerate(acts):
            for pi, t in enumerate(pos):
                test = None
                if test_acts is not None and test_targets is not None:  # given together (checked above)
                    test = (np.asarray(test_acts[li])[:, t], np.asarray(test_targets[name])[:, t])
                res[li, pi] = linear_probe(a[:, t], np.asarray(tgt)[:, t], metric=metric, test=test)
        out[name] = res
    return out


def token_binding_probe(
    acts: np.ndarray,
    S: np.ndarray,
    t: int,
    *,
    k_max: int = 7,
    metric: str = "mse",
) -> np.ndarray:
    """Decode ``s_{t-k}`` (``k = 0..k_max``) from the token at position ``t``.

    Parameters
    ----------
    acts : ndarray, shape (B, T, F)
        Activations of one layer.
    S : ndarray, shape (B, T, D)
        States ``s_1..s_T`` (position ``t`` holds ``s_{t+1}`` in 1-based terms).
    t : int
        Position (0-based).
    k_max : int
    metric : {"mse", "r2"}

    Returns
    -------
    ndarray, shape (k_max + 1,)
        Probe score for each lag ``k``; NaN where ``t - k < 0``.
    """
    acts = check_array(acts, "acts", 3, shape_text="an array of shape (B, T, F)")
    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    if S.shape[:2] != acts.shape[:2]:
        raise bad_argument(ShapeError, "S.shape", S.shape, f"{acts.shape[:2]} + (D,) like acts")
    t = check_int(t, "t", 0, acts.shape[1] - 1)
    k_max = check_int(k_max, "k_max", 0, 10**6)
    out = np.full(k_max + 1, np.nan)
    for k in range(min(k_max, t) + 1):
        out[k] = linear_probe(acts[:, t], S[:, t - k], metric=metric)
    return out


def _f_out(value, B: int, T: int) -> np.ndarray:
    out = check_array(value, "f(E)", 3, shape_text=f"an array of shape ({B}, {T}, G)")
    if out.shape[:2] != (B, T):
        raise bad_argument(ShapeError, "f(E).shape", out.shape, f"({B}, {T}, G) like E")
    return out


@finite_result
def sensitivity(
    f: Callable[[np.ndarray], np.ndarray],
    E: np.ndarray,
    t: int,
    *,
    t_primes: Sequence[int] | None = None,
    h: float = 1e-5,
) -> np.ndarray:
    """Mean norm of the Jacobian of output token ``t`` with respect to input token ``t'``.

    ``out[j] = mean_b || d f(E)[b, t, :] / d E[b, t'_j, :] ||_F``, by central
    finite differences (exact up to rounding for maps that are at most quadratic
    in one token, e.g. a linear-attention layer). ``f`` must treat the batch
    rows independently.

    Parameters
    ----------
    f : callable
        Maps tokens ``(B, T, F)`` to outputs ``(B, T, G)``.
    E : ndarray, shape (B, T, F)
    t : int
        Output position.
    t_primes : sequence of int, optional
        Input positions (default ``0..t``).
    h : float
        Finite-difference step.

    Returns
    -------
    ndarray, shape (len(t_primes),)
    """
    if not callable(f):
        raise bad_argument(InvalidParameterError, "f", f, "a callable mapping (B, T, F) to (B, T, G)")
    E = check_array(E, "E", 3, shape_text="an array of shape (B, T, F)")
    B, T, F = E.shape
    if F == 0:
        raise bad_argument(ShapeError, "E.shape", E.shape, "(B, T, F) with F >= 1 features")
    t = check_int(t, "t", 0, T - 1)
    tps = list(range(t + 1)) if t_primes is None else [check_int(p, "t_primes", 0, T - 1) for p in t_primes]
    h = check_float(h, "h", positive=True)
    out = np.empty(len(tps))
    for j, tp in enumerate(tps):
        sq = None
        for i in range(F):
            Ep = E.copy()
            Em = E.copy()
            Ep[:, tp, i] += h
            Em[:, tp, i] -= h
            fp, fm = _f_out(f(Ep), B, T), _f_out(f(Em), B, T)
            col = (fp[:, t] - fm[:, t]) / (2 * h)  # [B, G]
            sq = col * col if sq is None else sq + col * col
        assert sq is not None  # F >= 1
        out[j] = float(np.mean(np.sqrt(np.sum(sq, axis=1))))
    return out
