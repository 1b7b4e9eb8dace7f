"""Task generators for the mesa-optimization experiments.

In-context linear regression (von Oswald et al. 2023a), noisy linear dynamical
systems (von Oswald et al. 2023b) with orthogonal, contracting, fixed or
nonlinear dynamics, partial observations, sine regression, interleaved
few-shot sequences with an optional EOS token, and the token constructions the
papers feed to their transformers.

All samplers take ``rng`` (anything :func:`numpy.random.default_rng` accepts:
None, an int seed, a SeedSequence or a Generator) and return float64 arrays, batch first. Distributions follow the official
code (JAX there, so the random streams differ; the laws are the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidParameterError, ShapeError, bad_argument
from ._checks import as_rng, check_alloc, check_array, check_float, check_int, finite_result

__all__ = [
    "sample_regression_tasks",
    "concat_tokens",
    "interleave_tokens",
    "sample_sine_tasks",
    "haar_orthogonal",
    "sample_lds",
    "LDS_KINDS",
    "observe",
    "construct_full_tokens",
    "construct_lag_tokens",
    "icl_sequences",
]

#: The dynamics accepted by :func:`sample_lds`.
LDS_KINDS = ("orthogonal", "contracting", "fixed", "nonlinear")


def _distract(rng: np.random.Generator, y: np.ndarray, n_distract: int) -> None:
    """Replace ``n_distract`` context labels per task (chosen without replacement) by N(0, 1) draws, in place."""
    if n_distract == 0:
        return
    B, N = y.shape
    idx = np.argsort(rng.random((B, N)), axis=1)[:, :n_distract]
    y[np.arange(B)[:, None], idx] = rng.standard_normal((B, n_distract))


@finite_result
def sample_regression_tasks(
    rng: Any,
    B: int,
    d: int = 10,
    N: int = 10,
    *,
    x_halfwidth: float = 0.5,
    w_scale: float = 1.0,
    noise: float = 0.0,
    n_distract: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``B`` in-context linear-regression tasks.

    Each task draws ``w ~ N(0, w_scale^2 I_d)``, ``N`` context inputs and one
    query ``x ~ U(-x_halfwidth, x_halfwidth)^d`` and labels ``y = w^T x``
    (plus ``N(0, noise^2)`` if ``noise > 0``). The defaults are those of the
    official code of von Oswald et al. (2023a): ``d = N = 10``,
    ``x ~ U(-0.5, 0.5)`` (``input_range = 1``), ``w ~ N(0, I)``, noiseless.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
        Seed or generator.
    B : int
        Number of tasks.
    d : int, default 10
        Input dimension.
    N : int, default 10
        Number of context pairs.
    x_halfwidth : float, default 0.5
        Inputs are uniform on ``[-x_halfwidth, x_halfwidth]``.
    w_scale : float, default 1.0
        Standard deviation of each weight.
    noise : float, default 0.0
        Standard deviation of label noise (context and query labels).
    n_distract : int, default 0
        Number of context labels per task replaced by N(0, 1) "distractors"
        (positions drawn without replacement), as ``size_distract`` in the
        official code. The query label is never replaced.

    Returns
    -------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)
    yq : ndarray, shape (B,)
    w : ndarray, shape (B, d)
    """
    gen = as_rng(rng)
    B = check_int(B, "B")
    d = check_int(d, "d")
    N = check_int(N, "N")
    h = check_float(x_halfwidth, "x_halfwidth", positive=True)
    ws = check_float(w_scale, "w_scale", nonnegative=True)
    sigma = check_float(noise, "noise", nonnegative=True)
    n_distract = check_int(n_distract, "n_distract", minimum=0, maximum=N)
    check_alloc(3 * B * (N + 2) * (d + 1), "B", B, "task arrays")
    w = gen.standard_normal((B, d)) * ws
    X = gen.uniform(-h, h, size=(B, N, d))
    xq = gen.uniform(-h, h, size=(B, d))
    y = np.einsum("bnd,bd->bn", X, w)
    yq = np.einsum("bd,bd->b", xq, w)
    if sigma > 0:
        y = y + sigma * gen.standard_normal((B, N))
        yq = yq + sigma * gen.standard_normal(B)
    _distract(gen, y, n_distract)
    return X, y, xq, yq, w


@finite_result
def concat_tokens(X: np.ndarray, y: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Build the token matrix ``E`` with rows ``e_i = (x_i, y_i)`` and a query row ``(x_q, 0)``.

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, d)

    Returns
    -------
    E : ndarray, shape (B, N + 1, d + 1)
        Context tokens in rows ``0..N-1``; the last row is the query with its
        y-slot set to 0 (``= -W_0 x_q`` for ``W_0 = 0``).
    """
    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    B, N, d = X.shape
    y = check_array(y, "y", 2, shape_text="an array of shape (B, N)")
    xq = check_array(xq, "xq", 2, shape_text="an array of shape (B, d)")
    if y.shape != (B, N):
        raise bad_argument(ShapeError, "y.shape", y.shape, f"(B, N) = {(B, N)} to match X")
    if xq.shape != (B, d):
        raise bad_argument(ShapeError, "xq.shape", xq.shape, f"(B, d) = {(B, d)} to match X")
    E = np.zeros((B, N + 1, d + 1))
    E[:, :N, :d] = X
    E[:, :N, d] = y
    E[:, N, :d] = xq
    return E


@finite_result
def interleave_tokens(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Interleaved tokens ``[0, x_1], [y_1, 0], [0, x_2], [y_2, 0], ...`` (Akyürek et al. 2022).

    Parameters
    ----------
    X : ndarray, shape (B, N, d)
    y : ndarray, shape (B, N)

    Returns
    -------
    E : ndarray, shape (B, 2 N, d + 1)
        Row ``2 i`` is the x-token ``(0, x_{i+1})`` (label slot first, zero);
        row ``2 i + 1`` is the y-token ``(y_{i+1}, 0, ..., 0)``. A causal model
        reads its prediction of ``y_{i+1}`` at row ``2 i``, which has seen the
        ``i`` earlier pairs and ``x_{i+1}``.
    """
    X = check_array(X, "X", 3, shape_text="an array of shape (B, N, d)")
    B, N, d = X.shape
    y = check_array(y, "y", 2, shape_text="an array of shape (B, N)")
    if y.shape != (B, N):
        raise bad_argument(ShapeError, "y.shape", y.shape, f"(B, N) = {(B, N)} to match X")
    E = np.zeros((B, 2 * N, d + 1))
    E[:, 0::2, 1:] = X
    E[:, 1::2, 0] = y
    return E


@finite_result
def sample_sine_tasks(
    rng: Any,
    B: int,
    N: int = 10,
    *,
    x_halfwidth: float = 5.0,
    amp_range: tuple[float, float] = (0.1, 0.5),
    phase_range: tuple[float, float] = (0.0, np.pi),
    n_distract: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``B`` sine-regression tasks ``y = a sin(x + phi)``.

    Defaults follow the official non-linear notebook of von Oswald et al.
    (2023a): ``a ~ U(0.1, 0.5)``, ``phi ~ U(0, pi)``, ``x ~ U(-5, 5)``, ``N = 10``.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    B : int
        Number of tasks.
    N : int, default 10
        Context pairs per task.
    x_halfwidth : float, default 5.0
        Inputs are uniform on ``[-x_halfwidth, x_halfwidth]``.
    amp_range, phase_range : (float, float)
        Uniform ranges of amplitude and phase.
    n_distract : int, default 0
        Context labels replaced by N(0, 1) draws.

    Returns
    -------
    X : ndarray, shape (B, N, 1)
    y : ndarray, shape (B, N)
    xq : ndarray, shape (B, 1)
    yq : ndarray, shape (B,)
    params : ndarray, shape (B, 2)
        Columns ``(amplitude, phase)``.
    """
    gen = as_rng(rng)
    B = check_int(B, "B")
    N = check_int(N, "N")
    h = check_float(x_halfwidth, "x_halfwidth", positive=True)
    for name, pair in (("amp_range", amp_range), ("phase_range", phase_range)):
        try:
            lo_hi = [check_float(v, name) for v in pair] if len(pair) == 2 else None
        except TypeError:
            lo_hi = None
        if lo_hi is None or not lo_hi[0] <= lo_hi[1]:
            raise bad_argument(InvalidParameterError, name, pair, "a pair (low, high) of finite numbers with low <= high")
    n_distract = check_int(n_distract, "n_distract", minimum=0, maximum=N)
    check_alloc(4 * B * (N + 2), "B", B, "task arrays")
    amp = gen.uniform(amp_range[0], amp_range[1], size=B)
    phase = gen.uniform(phase_range[0], phase_range[1], size=B)
    X = gen.uniform(-h, h, size=(B, N, 1))
    xq = gen.uniform(-h, h, size=(B, 1))
    y = amp[:, None] * np.sin(X[:, :, 0] + phase[:, None])
    yq = amp * np.sin(xq[:, 0] + phase)
    _distract(gen, y, n_distract)
    return X, y, xq, yq, np.stack([amp, phase], axis=1)


@finite_result
def haar_orthogonal(rng: Any, B: int, D: int) -> np.ndarray:
    """Draw ``B`` Haar-distributed orthogonal ``D x D`` matrices.

    QR decomposition of a standard Gaussian matrix with the signs of ``R``'s
    diagonal moved into ``Q`` (Mezzadri 2007), which makes ``Q`` exactly Haar.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    B : int
        Number of matrices.
    D : int
        Dimension.

    Returns
    -------
    W : ndarray, shape (B, D, D)
    """
    gen = as_rng(rng)
    B = check_int(B, "B")
    D = check_int(D, "D")
    check_alloc(4 * B * D * D, "B", B, "matrices")
    Z = gen.standard_normal((B, D, D))
    Q, R = np.linalg.qr(Z)
    signs = np.sign(np.diagonal(R, axis1=1, axis2=2))
    signs[signs == 0] = 1.0
    return Q * signs[:, None, :]


def _gelu(x: np.ndarray) -> np.ndarray:
    # tanh approximation, the default of jax.nn.gelu
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def _nonlinear_mlp(D: int, hidden: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    A = g.standard_normal((D, hidden)) / np.sqrt(D)
    Bm = g.standard_normal((hidden, D)) / np.sqrt(hidden)
    return A, Bm


@finite_result
def sample_lds(
    rng: Any,
    B: int,
    D: int = 10,
    T: int = 50,
    noise: float = 0.01,
    kind: str = "orthogonal",
    *,
    s1_halfwidth: float = 1.0,
    clip: float = 10.0,
    min_eig: float = 0.3,
    max_eig: float = 0.9,
    fixed_seed: int = 42,
    hidden: int = 40,
    mlp_seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``B`` noisy linear (or nonlinear) dynamical-system sequences.

    ``s_1 ~ U(-s1_halfwidth, s1_halfwidth)^D`` and
    ``s_{t+1} = clip(W s_t + noise * eps_t, -clip, clip)``, ``eps_t ~ N(0, I)``,
    for ``T + 1`` states; ``inputs`` are ``s_1..s_T`` and ``targets`` are
    ``s_2..s_{T+1}`` (so ``targets[:, :-1] == inputs[:, 1:]``). Defaults are
    those of the official code of von Oswald et al. (2023b): ``D = 10``,
    ``T = 50``, ``noise = 0.01``, ``s_1 ~ U(-1, 1)``, clip at 10.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    B : int
        Number of sequences.
    D : int, default 10
        State dimension.
    T : int, default 50
        Sequence length (number of input tokens).
    noise : float, default 0.01
        Process-noise standard deviation.
    kind : {"orthogonal", "contracting", "fixed", "nonlinear"}
        ``"orthogonal"``: a fresh Haar-orthogonal ``W`` per sequence.
        ``"contracting"``: ``W = U diag(lam) U^{-1}`` with Gaussian ``U`` and
        eigenvalues ``lam`` drawn ``U(min_eig, max_eig)`` except one equal to
        ``max_eig``, in random order. ``"fixed"``: one orthogonal ``W`` shared
        by every sequence and every call (drawn from ``fixed_seed``), the
        control task. ``"nonlinear"``: ``s_{t+1} = W f(s_t)/||f(s_t)|| + noise*eps``
        with ``f(s) = gelu(s A) Bm`` for fixed random ``A`` (D x hidden) and
        ``Bm`` (hidden x D) drawn from ``mlp_seed``, and a fresh orthogonal
        ``W`` (the clip never binds since ``|W f/||f||| <= 1``).
    s1_halfwidth : float, default 1.0
        Initial states are uniform on ``[-s1_halfwidth, s1_halfwidth]``.
    clip : float, default 10.0
        States are clipped to ``[-clip, clip]`` after each step.
    min_eig, max_eig : float
        Eigenvalue range of the contracting kind.
    fixed_seed : int, default 42
        Seed of the shared matrix of the fixed kind. An int, not an ``rng``: it names
        one task, the same matrix on every call, while ``rng`` draws the sequences.
    hidden, mlp_seed : int
        Width and seed of the fixed MLP of the nonlinear kind (an int for the same reason).

    Returns
    -------
    inputs : ndarray, shape (B, T, D)
    targets : ndarray, shape (B, T, D)
    W : ndarray, shape (B, D, D)
        The transition matrix of each sequence.
    """
    gen = as_rng(rng)
    B = check_int(B, "B")
    D = check_int(D, "D")
    T = check_int(T, "T")
    check_alloc(4 * B * (T + 1) * D + 4 * B * D * D, "T", T, "sequences")
    sigma = check_float(noise, "noise", nonnegative=True)
    h = check_float(s1_halfwidth, "s1_halfwidth", nonnegative=True)
    clip = check_float(clip, "clip", positive=True)
    if not isinstance(kind, str) or kind not in LDS_KINDS:
        raise bad_argument(InvalidParameterError, "kind", kind, f"one of {LDS_KINDS}")
    if kind == "orthogonal" or kind == "nonlinear":
        W = haar_orthogonal(gen, B, D)
    elif kind == "fixed":
        W0 = haar_orthogonal(np.random.default_rng(check_int(fixed_seed, "fixed_seed", minimum=0)), 1, D)[0]
        W = np.broadcast_to(W0, (B, D, D)).copy()
    else:
        lo = check_float(min_eig, "min_eig")
        hi = check_float(max_eig, "max_eig")
        if not lo <= hi:
            raise bad_argument(InvalidParameterError, "min_eig", min_eig, f"a number <= max_eig={max_eig}")
        U = gen.standard_normal((B, D, D))
        eig = np.concatenate([gen.uniform(lo, hi, size=(B, D - 1)), np.full((B, 1), hi)], axis=1)
        eig = np.take_along_axis(eig, np.argsort(gen.random((B, D)), axis=1), axis=1)
        # W = U diag(eig) U^{-1}, i.e. solve W U = U diag(eig) for W via transposes.
        W = np.linalg.solve(np.swapaxes(U, 1, 2), np.swapaxes(U * eig[:, None, :], 1, 2))
        W = np.swapaxes(W, 1, 2)
    states = np.empty((B, T + 1, D))
    states[:, 0] = gen.uniform(-h, h, size=(B, D))
    eps = gen.standard_normal((B, T, D))
    if kind == "nonlinear":
        hidden = check_int(hidden, "hidden")
        check_alloc(4 * D * hidden, "hidden", hidden, "network weights")
        A, Bm = _nonlinear_mlp(D, hidden, check_int(mlp_seed, "mlp_seed", minimum=0))
    for t in range(T):
        s = states[:, t]
        if kind == "nonlinear":
            f = _gelu(s @ A) @ Bm
            s = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-16)
        states[:, t + 1] = np.clip(np.einsum("bij,bj->bi", W, s) + sigma * eps[:, t], -clip, clip)
    return states[:, :T].copy(), states[:, 1:].copy(), W


@finite_result
def observe(
    S: np.ndarray,
    obs_dim: int,
    *,
    rng: Any,
    obs_noise: float = 0.0,
    C: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Partial observations ``o_t = C s_t + obs_noise * xi_t`` of state sequences.

    As in the official partially observed generator, ``C`` is drawn per
    sequence with entries ``0.5 * N(0, 1)`` unless given. To observe the
    inputs and targets of :func:`sample_lds` consistently, observe the whole
    trajectory ``np.concatenate([inputs, targets[:, -1:]], axis=1)`` and split
    it (``O[:, :-1]``, ``O[:, 1:]``).

    Parameters
    ----------
    S : ndarray, shape (B, T, D)
        Hidden states.
    obs_dim : int
        Observation dimension.
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
        Used for ``C`` (if not given) and the observation noise.
    obs_noise : float, default 0.0
        Observation-noise standard deviation.
    C : ndarray, shape (B, obs_dim, D) or (obs_dim, D), optional
        Observation matrices.

    Returns
    -------
    O : ndarray, shape (B, T, obs_dim)
    C : ndarray, shape (B, obs_dim, D)
    """
    gen = as_rng(rng)
    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    B, T, D = S.shape
    obs_dim = check_int(obs_dim, "obs_dim")
    check_alloc(3 * B * (T + D) * obs_dim, "obs_dim", obs_dim, "observations")
    sig = check_float(obs_noise, "obs_noise", nonnegative=True)
    if C is None:
        C = 0.5 * gen.standard_normal((B, obs_dim, D))
    else:
        C = check_array(C, "C", (2, 3))
        if C.ndim == 2:
            C = np.broadcast_to(C, (B,) + C.shape).copy()
        if C.shape != (B, obs_dim, D):
            raise bad_argument(ShapeError, "C.shape", C.shape, f"(B, obs_dim, D) = {(B, obs_dim, D)} or (obs_dim, D)")
    O = np.einsum("bod,btd->bto", C, S)
    if sig > 0:
        O = O + sig * gen.standard_normal(O.shape)
    return O, C


@finite_result
def construct_full_tokens(S: np.ndarray) -> np.ndarray:
    """Constructed tokens ``e_t = (0_D, s_t, s_t, s_{t-1})`` with ``s_0 = 0``.

    The first ``D`` entries are the prediction slot (the model's output is read
    from there); the key / value / query constructions of von Oswald et al.
    (2023b) read ``s_{t-1}`` from the last slot and ``s_t`` from the middle ones.

    Parameters
    ----------
    S : ndarray, shape (B, T, D)
        Input states ``s_1..s_T``.

    Returns
    -------
    E : ndarray, shape (B, T, 4 D)
    """
    S = check_array(S, "S", 3, shape_text="an array of shape (B, T, D)")
    B, T, D = S.shape
    E = np.zeros((B, T, 4 * D))
    E[:, :, D : 2 * D] = S
    E[:, :, 2 * D : 3 * D] = S
    E[:, 1:, 3 * D :] = S[:, :-1]
    return E


@finite_result
def construct_lag_tokens(O: np.ndarray, k: int) -> np.ndarray:
    """Lag tokens ``[o_t, o_{t-1}, ..., o_{t-k+1}]`` with zeros before the first observation.

    Parameters
    ----------
    O : ndarray, shape (B, T, obs_dim)
        Observations.
    k : int
        Number of lags (the official code uses ``embed_dim // obs_dim``).

    Returns
    -------
    E : ndarray, shape (B, T, k * obs_dim)
        Block ``j`` (columns ``j*obs_dim : (j+1)*obs_dim``) holds ``o_{t-j}``.
    """
    O = check_array(O, "O", 3, shape_text="an array of shape (B, T, obs_dim)")
    B, T, m = O.shape
    k = check_int(k, "k")
    check_alloc(B * T * k * m, "k", k, "lag tokens")
    E = np.zeros((B, T, k * m))
    for j in range(min(k, T)):
        E[:, j:, j * m : (j + 1) * m] = O[:, : T - j]
    return E


@finite_result
def icl_sequences(
    rng: Any,
    B: int,
    D: int = 10,
    n_pairs: int = 10,
    *,
    noise: float = 0.0,
    x_halfwidth: float = 1.0,
    eos: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Interleaved few-shot regression sequences ``[x_1, f(x_1), (EOS,) x_2, f(x_2), ...]``.

    ``f(x) = W x + noise * xi`` with ``W`` Haar orthogonal per sequence and
    ``x ~ U(-x_halfwidth, x_halfwidth)^D`` (official few-shot setup of von
    Oswald et al. 2023b). As for the LDS data, ``inputs`` are the tokens and
    ``targets`` the next tokens; the loss is taken at the x positions, where
    the next token is ``f(x)``.

    Parameters
    ----------
    rng : None, int, SeedSequence or Generator (anything numpy.random.default_rng accepts)
    B : int
        Number of sequences.
    D : int, default 10
        Dimension of x and f(x).
    n_pairs : int, default 10
        Number of (x, f(x)) pairs.
    noise : float, default 0.0
        Label-noise standard deviation.
    x_halfwidth : float, default 1.0
    eos : ndarray, shape (D,), optional
        If given, this token follows every pair (``[x, f(x), EOS]`` blocks).

    Returns
    -------
    inputs : ndarray, shape (B, L, D)
        ``L = 2 n_pairs - 1`` without EOS, ``3 n_pairs - 1`` with.
    targets : ndarray, shape (B, L, D)
        ``targets[:, t] = full_sequence[:, t + 1]``.
    loss_mask : ndarray of bool, shape (L,)
        True at the x positions (``0::2``, or ``0::3`` with EOS).
    W : ndarray, shape (B, D, D)
    """
    gen = as_rng(rng)
    B = check_int(B, "B")
    D = check_int(D, "D")
    n = check_int(n_pairs, "n_pairs")
    check_alloc(8 * B * (3 * n + 1) * D + 4 * B * D * D, "n_pairs", n, "sequences")
    sig = check_float(noise, "noise", nonnegative=True)
    h = check_float(x_halfwidth, "x_halfwidth", positive=True)
    W = haar_orthogonal(gen, B, D)
    X = gen.uniform(-h, h, size=(B, n, D))
    F = np.einsum("bij,bnj->bni", W, X)
    if sig > 0:
        F = F + sig * gen.standard_normal(F.shape)
    if eos is None:
        period = 2
        seq = np.stack([X, F], axis=2).reshape(B, 2 * n, D)
    else:
        e = check_array(eos, "eos", 1)
        if e.shape != (D,):
            raise bad_argument(ShapeError, "eos.shape", e.shape, f"(D,) = {(D,)}")
        period = 3
        seq = np.stack([X, F, np.broadcast_to(e, X.shape)], axis=2).reshape(B, 3 * n, D)
    inputs, targets = seq[:, :-1].copy(), seq[:, 1:].copy()
    mask = np.zeros(inputs.shape[1], dtype=bool)
    mask[0::period] = True
    return inputs, targets, mask, W
