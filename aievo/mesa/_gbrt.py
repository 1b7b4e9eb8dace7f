"""Gradient-boosted regression trees in numpy (scikit-learn's ``GradientBoostingRegressor()``).

The definitions follow scikit-learn's defaults and its floating-point steps, so that its
predictions are reproduced without depending on it (the optim_hunter blog's published average
is not: its build broke some split ties otherwise; see ``docs/regression.md``):

* **Inputs** are cast to float32 for fitting and prediction (scikit-learn's trees work on
  float32 features); labels, residuals and leaf values stay float64.
* **Boosting** with squared error: the initial prediction is the training mean; stage ``m`` fits a
  regression tree to the residuals ``y - F_{m-1}(x)`` and adds ``learning_rate`` times its leaf
  value (the mean residual of the leaf; squared error needs no line search).
* **Trees** (CART, depth-first): a node becomes a leaf at depth ``max_depth``, with fewer than
  ``min_samples_split`` (or ``2 * min_samples_leaf``) rows, or when its residual variance,
  ``sum(r^2)/n - (sum(r)/n)^2``, is at most the float64 machine epsilon.  Otherwise every
  feature is searched for its best threshold: rows sorted by the feature, a cut between
  positions ``i - 1`` and ``i`` allowed when ``x_(i) > x_(i-1) + 1e-7`` and both sides keep
  ``min_samples_leaf`` rows, scored by Friedman's proxy
  ``(n_R S_L - n_L S_R)^2 / (n_L n_R)`` (``S`` the residual sums), the largest proxy winning.
  The threshold is the midpoint ``x_(i-1)/2 + x_(i)/2`` (or ``x_(i-1)`` if rounding puts the
  midpoint on ``x_(i)``), and rows with ``x <= threshold`` go left.
* **Ties** between equally good cuts: within a feature the first (lowest) cut wins; between
  features, the first feature visited wins.  By default (``feature_order="sklearn"``) the
  features are visited in scikit-learn's random order: stage ``m`` draws
  ``RandomState(random_state).randint(2**31 - 1)`` as the seed of the tree's ``rand_r``
  (xorshift32) generator, and every node runs scikit-learn's Fisher-Yates draw over the features
  not yet known to be constant.  ``feature_order="natural"`` visits 0, 1, ... instead.
* **Rounding**: in small nodes different features often give the *same* partition, so their
  scores differ only in the last bits, and the winner depends on how the sums were rounded.
  :func:`fit_tree` therefore repeats scikit-learn's floating-point work step by step: rows are
  summed in the order the splitter holds them (sorted by the last feature examined, then
  partitioned by swapping rows above the threshold to the back), left sums are accumulated
  cut by cut, and ties in the float32 sort keys are ordered by scikit-learn's 3-way introsort.
  The result agrees with scikit-learn 1.4-1.8 (Linux x86-64) prediction by prediction on the
  optim_hunter benchmark; other builds round differently and can break some ties otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameterError, bad_argument
from .regressors import _Fitted, check_xy

__all__ = [
    "RegressionTree",
    "best_split",
    "fit_tree",
    "GradientBoosting",
    "FEATURE_THRESHOLD",
]

#: two sorted feature values closer than this are not separated by a cut (scikit-learn's rule)
FEATURE_THRESHOLD = 1e-7
_EPS = float(np.finfo(np.float64).eps)
_RAND_R_MAX = 2147483647  # 0x7FFFFFFF


@dataclass
class RegressionTree:
    """A fitted binary regression tree, stored as flat arrays (node 0 is the root).

    Attributes
    ----------
    feature : ndarray of int, shape (nodes,)
        Split feature of each internal node, -1 at leaves.
    threshold : ndarray of float64
        Rows with ``x[feature] <= threshold`` go to ``left``.
    left, right : ndarray of int
        Children (-1 at leaves).
    value : ndarray of float64
        Mean residual of the training rows in each node.
    n_samples : ndarray of int
        Training rows in each node.
    """

    feature: list = field(default_factory=list)
    threshold: list = field(default_factory=list)
    left: list = field(default_factory=list)
    right: list = field(default_factory=list)
    value: list = field(default_factory=list)
    n_samples: list = field(default_factory=list)

    def _add(self, value: float, n: int) -> int:
        self.feature.append(-1)
        self.threshold.append(np.nan)
        self.left.append(-1)
        self.right.append(-1)
        self.value.append(value)
        self.n_samples.append(n)
        return len(self.value) - 1

    def _freeze(self) -> "RegressionTree":
        self.feature = np.asarray(self.feature, dtype=np.intp)
        self.threshold = np.asarray(self.threshold, dtype=np.float64)
        self.left = np.asarray(self.left, dtype=np.intp)
        self.right = np.asarray(self.right, dtype=np.intp)
        self.value = np.asarray(self.value, dtype=np.float64)
        self.n_samples = np.asarray(self.n_samples, dtype=np.intp)
        return self

    @property
    def n_leaves(self) -> int:
        """Number of leaves."""
        return int(np.sum(np.asarray(self.left) < 0))

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Index of the leaf each row of ``X`` (float32 values compared in float64) falls in."""
        Xd = np.asarray(X, dtype=np.float32).astype(np.float64)
        node = np.zeros(Xd.shape[0], dtype=np.intp)
        while True:
            internal = self.left[node] >= 0
            if not internal.any():
                return node
            nd = node[internal]
            rows = np.nonzero(internal)[0]
            go_left = Xd[rows, self.feature[nd]] <= self.threshold[nd]
            node[rows] = np.where(go_left, self.left[nd], self.right[nd])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Leaf value of each row of ``X``."""
        return self.value[self.apply(X)]


def best_split(
    Xf: np.ndarray, r: np.ndarray, min_samples_leaf: int = 1, feature_order=None
) -> tuple[int, float, float] | None:
    """Best cut of one node by Friedman's MSE proxy.

    Parameters
    ----------
    Xf : ndarray, shape (k, p)
        The node's rows (float32 values; compared in float64).
    r : ndarray, shape (k,)
        The node's residuals.
    min_samples_leaf : int
        Minimum rows on each side.
    feature_order : sequence of int, optional
        Order in which features are visited (ties go to the first); default ``0..p-1``.

    Returns
    -------
    (feature, threshold, proxy) or None
        ``None`` when no feature admits a cut.
    """
    k, p = Xf.shape
    if k < 2:
        return None
    xs = Xf.astype(np.float64)
    order = np.argsort(xs, axis=0, kind="stable")
    xv = np.take_along_axis(xs, order, axis=0)
    rv = r[order]
    left_sum = np.cumsum(rv, axis=0)[:-1]  # S_L for a cut before position i = 1..k-1
    total = float(np.sum(r))
    nl = np.arange(1, k, dtype=np.float64)[:, None]
    nr = k - nl
    diff = nr * left_sum - nl * (total - left_sum)
    proxy = diff * diff / (nl * nr)
    valid = (xv[1:] > xv[:-1] + FEATURE_THRESHOLD) & (nl >= min_samples_leaf) & (nr >= min_samples_leaf)
    proxy = np.where(valid, proxy, -np.inf)
    feats = range(p) if feature_order is None else feature_order
    best = None
    for j in feats:
        i = int(np.argmax(proxy[:, j]))
        if proxy[i, j] == -np.inf:
            continue
        if best is None or proxy[i, j] > best[2]:
            lo, hi = xv[i, j], xv[i + 1, j]
            thr = lo / 2.0 + hi / 2.0
            if thr == hi or not np.isfinite(thr):
                thr = lo
            best = (int(j), float(thr), float(proxy[i, j]))
    return best


class _RandR:
    """scikit-learn's ``our_rand_r`` (a 32-bit xorshift) and ``rand_int``."""

    def __init__(self, seed: int) -> None:
        self.state = int(seed) & 0xFFFFFFFF
        if self.state == 0:
            self.state = 1  # DEFAULT_SEED

    def rand_int(self, low: int, high: int) -> int:
        s = self.state
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.state = s
        return low + (s % (_RAND_R_MAX + 1)) % (high - low)


def _seq_sum(a: np.ndarray) -> float:
    """Left-to-right float64 sum (the order a C loop adds in)."""
    return float(np.cumsum(a)[-1]) if a.size else 0.0


def _introsort_order(values: np.ndarray) -> np.ndarray:
    """Permutation that scikit-learn's 3-way introsort applies to ``values`` (ties included)."""
    v = [float(x) for x in values]
    idx = list(range(len(v)))

    def swap(i, j):
        v[i], v[j] = v[j], v[i]
        idx[i], idx[j] = idx[j], idx[i]

    def insertion(lo, n):
        for i in range(1, n):
            tmp, ti = v[lo + i], idx[lo + i]
            j = i
            while j > 0 and tmp < v[lo + j - 1]:
                v[lo + j], idx[lo + j] = v[lo + j - 1], idx[lo + j - 1]
                j -= 1
            v[lo + j], idx[lo + j] = tmp, ti

    def median3(lo, n):
        a, b, c = v[lo], v[lo + n // 2], v[lo + n - 1]
        if a < b:
            return b if b < c else (c if a < c else a)
        return a if a < c else (c if b < c else b)

    def heapsort(lo, n):
        def sift(start, end):
            root = start
            while True:
                child = root * 2 + 1
                m = root
                if child < end and v[lo + m] < v[lo + child]:
                    m = child
                if child + 1 < end and v[lo + m] < v[lo + child + 1]:
                    m = child + 1
                if m == root:
                    return
                swap(lo + root, lo + m)
                root = m

        start = (n - 2) // 2
        while True:
            sift(start, n)
            if start == 0:
                break
            start -= 1
        end = n - 1
        while end > 0:
            swap(lo, lo + end)
            sift(0, end)
            end -= 1

    def sort3(lo, n, maxd):
        while n > 15:
            if maxd <= 0:
                heapsort(lo, n)
                return
            maxd -= 1
            pivot = median3(lo, n)
            i = l = 0
            r = n
            while i < r:
                if v[lo + i] < pivot:
                    swap(lo + i, lo + l)
                    i += 1
                    l += 1
                elif v[lo + i] > pivot:
                    r -= 1
                    swap(lo + i, lo + r)
                else:
                    i += 1
            sort3(lo, l, maxd)
            lo += r
            n -= r
        insertion(lo, n)

    n = len(v)
    if n:
        sort3(0, n, 2 * int(np.log2(n)))
    return np.asarray(idx, dtype=np.intp)


def _sort_order(x: np.ndarray) -> np.ndarray:
    """Order in which scikit-learn's splitter leaves rows sorted by the float32 values ``x``."""
    o = np.argsort(x, kind="stable")
    xs = x[o]
    if not np.any(xs[1:] == xs[:-1]):
        return o  # distinct keys: every sort agrees
    return _introsort_order(x)


def _left_sums(rv: np.ndarray, cuts: np.ndarray, k: int, total: float) -> np.ndarray:
    """``S_L`` at each candidate cut, updated as scikit-learn's criterion does (forward, or from the right)."""
    cs = np.cumsum(rv)
    prev = np.concatenate(([0], cuts[:-1]))
    if np.all(cuts - prev <= k - cuts):  # every update walks forward from the previous cut
        return cs[cuts - 1]
    out = np.empty(cuts.size)
    s, pos = 0.0, 0
    for j, c in enumerate(cuts):
        if c - pos <= k - c:
            for i in range(pos, c):
                s += rv[i]
        else:
            s = total
            for i in range(k - 1, c - 1, -1):
                s -= rv[i]
        out[j] = s
        pos = c
    return out


def fit_tree(
    X: np.ndarray,
    r: np.ndarray,
    max_depth: int = 3,
    min_samples_split: int = 2,
    min_samples_leaf: int = 1,
    rand_seed: int | None = None,
) -> RegressionTree:
    """Fit a CART regression tree to residuals ``r`` (see the module docstring for the rules).

    The floating-point work follows scikit-learn's splitter step by step (the order rows are
    summed in, the incremental left sums, the partition after each split), so that exact ties
    between cuts are resolved as there.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Inputs (cast to float32).
    r : ndarray, shape (n,)
        Targets (float64).
    max_depth, min_samples_split, min_samples_leaf : int
        Stopping rules, as in scikit-learn.
    rand_seed : int, optional
        Seed of scikit-learn's ``rand_r`` feature-order generator; ``None`` visits features
        in their natural order.

    Returns
    -------
    RegressionTree
    """
    Xf = np.asarray(X, dtype=np.float32)
    Xd = Xf.astype(np.float64)
    ra = np.asarray(r, dtype=np.float64)
    n, p = Xf.shape
    tree = RegressionTree()
    rng = None if rand_seed is None else _RandR(rand_seed)
    features = list(range(p))
    const_feats = list(range(p))
    samples = np.arange(n)
    root = tree._add(0.0, n)
    # (start, end, depth, node id, impurity or None for the root, known constant features);
    # the right child is pushed first so the left one is built next, as in scikit-learn
    stack = [(0, n, 0, root, None, 0)]
    while stack:
        start, end, depth, node, impurity, n_const = stack.pop()
        k = end - start
        rr = ra[samples[start:end]]
        total = _seq_sum(rr)
        sq_total = _seq_sum(rr * rr)
        tree.value[node] = total / k
        if impurity is None:
            impurity = sq_total / k - (total / k) ** 2
        if depth >= max_depth or k < min_samples_split or k < 2 * min_samples_leaf or impurity <= _EPS:
            continue
        if rng is not None:
            order, n_const = _sklearn_feature_order(features, const_feats, Xd[samples[start:end]], rng, n_const)
        else:
            order = list(range(p))
        best = None  # (proxy, feature, pos, threshold)
        for f in order:
            seg = samples[start:end]
            srt = _sort_order(Xf[seg, f])
            samples[start:end] = seg[srt]
            xv = Xd[samples[start:end], f]
            if xv[-1] <= xv[0] + FEATURE_THRESHOLD:
                continue
            cuts = np.nonzero(xv[1:] > xv[:-1] + FEATURE_THRESHOLD)[0] + 1
            cuts = cuts[(cuts >= min_samples_leaf) & (k - cuts >= min_samples_leaf)]
            if cuts.size == 0:
                continue
            sl = _left_sums(ra[samples[start:end]], cuts, k, total)
            nl = cuts.astype(np.float64)
            nr = k - nl
            diff = nr * sl - nl * (total - sl)
            proxy = diff * diff / (nl * nr)
            j = int(np.argmax(proxy))
            if best is None or proxy[j] > best[0]:
                c = int(cuts[j])
                thr = xv[c - 1] / 2.0 + xv[c] / 2.0
                if thr == xv[c] or not np.isfinite(thr):
                    thr = xv[c - 1]
                best = (float(proxy[j]), f, c, float(thr))
        if best is None:
            continue
        _, f, c, thr = best
        # scikit-learn's final partition: swap rows with x > threshold to the back
        seg = samples[start:end].tolist()
        left = (Xd[samples[start:end], f] <= thr).tolist()
        lo, hi = 0, k
        while lo < hi:
            if left[lo]:
                lo += 1
            else:
                hi -= 1
                seg[lo], seg[hi] = seg[hi], seg[lo]
                left[lo], left[hi] = left[hi], left[lo]
        samples[start:end] = seg
        pos = start + c
        rl = ra[samples[start:pos]]
        # children impurities from the criterion state after reset() + update(pos)
        if c <= k - c:
            s_left = _seq_sum(rl)
        else:
            s_left = total
            for i in range(end - 1, pos - 1, -1):
                s_left -= ra[samples[i]]
        sq_left = _seq_sum(rl * rl)
        imp_l = sq_left / c - (s_left / c) ** 2
        imp_r = (sq_total - sq_left) / (k - c) - ((total - s_left) / (k - c)) ** 2
        tree.feature[node], tree.threshold[node] = f, thr
        lid = tree._add(0.0, c)
        rid = tree._add(0.0, k - c)
        tree.left[node], tree.right[node] = lid, rid
        stack.append((pos, end, depth + 1, rid, imp_r, n_const))
        stack.append((start, pos, depth + 1, lid, imp_l, n_const))
    return tree._freeze()


def _sklearn_feature_order(features: list, const_feats: list, sub: np.ndarray, rng: _RandR, n_known: int):
    """Replay scikit-learn's BestSplitter feature draws for one node.

    ``features`` and ``const_feats`` are the splitter's feature and constant-feature arrays,
    updated in place across the nodes of one tree as in scikit-learn (the ``n_known``
    constants inherited from the parent kept at the front).  Returns the visiting order of the
    non-constant features and the number of constant features handed to the children.
    """
    p = len(features)
    n_drawn = n_found = n_visited = 0
    n_total = n_known
    f_i = p
    visited = []
    while f_i > n_total and (n_visited < p or n_visited <= n_found + n_drawn):
        n_visited += 1
        f_j = rng.rand_int(n_drawn, f_i - n_found)
        if f_j < n_known:
            features[n_drawn], features[f_j] = features[f_j], features[n_drawn]
            n_drawn += 1
            continue
        f_j += n_found
        col = sub[:, features[f_j]].astype(np.float64)
        if col.max() <= col.min() + FEATURE_THRESHOLD:
            features[f_j], features[n_total] = features[n_total], features[f_j]
            n_found += 1
            n_total += 1
            continue
        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]
        visited.append(features[f_i])
    features[:n_known] = const_feats[:n_known]
    const_feats[n_known:n_known + n_found] = features[n_known:n_known + n_found]
    return visited, n_total


@dataclass
class GradientBoosting(_Fitted):
    """Gradient boosting with squared error and regression trees (scikit-learn's defaults).

    Parameters
    ----------
    n_estimators : int
        Number of boosting stages (100).
    learning_rate : float
        Shrinkage of every stage (0.1).
    max_depth, min_samples_split, min_samples_leaf : int
        Tree stopping rules (3, 2, 1).
    random_state : int
        Seed of the tie-breaking feature order (only used with ``feature_order="sklearn"``).
    feature_order : {"sklearn", "natural"}
        How ties between features are broken (see the module docstring): scikit-learn's random
        feature order (default), or features visited 0, 1, ... .
    """

    n_estimators: int = 100
    learning_rate: float = 0.1
    max_depth: int = 3
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    random_state: int = 0
    feature_order: str = "sklearn"

    def _check(self) -> None:
        for name, lo in (("n_estimators", 1), ("max_depth", 1), ("min_samples_split", 2), ("min_samples_leaf", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise bad_argument(InvalidParameterError, name, v, f"an integer >= {lo}")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or not (0 < float(lr) < np.inf):
            raise bad_argument(InvalidParameterError, "learning_rate", lr, "a finite number > 0")
        if self.feature_order not in ("natural", "sklearn"):
            raise bad_argument(InvalidParameterError, "feature_order", self.feature_order, '"natural" or "sklearn"')

    def fit(self, X, y) -> "GradientBoosting":
        """Fit ``n_estimators`` trees to successive residuals; returns ``self``."""
        self._check()
        Xa, ya = check_xy(X, y)
        Xf = Xa.astype(np.float32)
        self.init_ = float(np.mean(ya))
        raw = np.full(ya.shape[0], self.init_)
        lr = float(self.learning_rate)
        seeds = None
        if self.feature_order == "sklearn":
            rs = np.random.RandomState(int(self.random_state))
            seeds = [int(rs.randint(np.iinfo(np.int32).max)) for _ in range(int(self.n_estimators))]
        self.estimators_: list[RegressionTree] = []
        for m in range(int(self.n_estimators)):
            tree = fit_tree(
                Xf, ya - raw, int(self.max_depth), int(self.min_samples_split), int(self.min_samples_leaf),
                None if seeds is None else seeds[m],
            )
            raw = raw + lr * tree.predict(Xf)
            self.estimators_.append(tree)
        self._n_features = Xa.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Initial mean plus ``learning_rate`` times each stage's leaf value, stage by stage."""
        Xa = self._check_predict(X).astype(np.float32)
        out = np.full(Xa.shape[0], self.init_)
        lr = float(self.learning_rate)
        for tree in self.estimators_:
            out += lr * tree.predict(Xa)
        return out
