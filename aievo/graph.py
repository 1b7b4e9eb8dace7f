"""Design graphs: programs, their fitness and the design kernel.

A :class:`DesignGraph` holds, for ``n`` programs,

* ``fitness`` ``f(v) >= 0``: offspring per generation (compute allocated per unit);
* the design kernel ``T`` (CSR, ``n x n``): ``T[v, w]`` is the probability that
  an offspring of ``v`` is program ``w``; every row sums to one;
* optional node labels, a ``root`` (the default starting program) and per-node
  attribute arrays ``attrs`` (depth, type, traits, ``locked`` flags, ...).

Everything is validated on construction and stored read-only. Bad input raises an
:class:`~aievo.errors.AievoError` subclass naming the argument, the value and
what was expected; nothing is clipped or renormalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from ._validate import check_int, real_array
from .errors import (
    InvalidFitnessError,
    InvalidKernelError,
    InvalidParameterError,
    InvalidTreeError,
    ShapeError,
    bad_argument,
)

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = ["DesignGraph", "ROW_SUM_TOL", "index_dtype"]

#: Absolute tolerance on the row sums of the design kernel.
ROW_SUM_TOL = 1e-9


def index_dtype(n: int) -> np.dtype:
    """The dtype of a tree's node indices (parent, depths): ``int32`` below ``2**31 - 1`` programs, else ``int64``.

    Every explicit tree aievo builds fits in ``int32`` (:data:`aievo._validate.MAX_INDEX_PROGRAMS`),
    so its indices take 4 bytes per program; a larger parent array given to
    :meth:`DesignGraph.tree` keeps 8-byte indices.
    """
    return np.dtype(np.int32) if n <= 2**31 - 2 else np.dtype(np.int64)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _check_fitness(fitness: Any, name: str = "fitness") -> np.ndarray:
    f = real_array(fitness, name, finite=False, cls=InvalidFitnessError, what="a 1-D array of real numbers")
    if f.ndim != 1:
        raise ShapeError(f"{name} has shape {f.shape}: expected a 1-D array")
    if f.size == 0:
        raise ShapeError(f"{name} is empty: expected at least one program")
    return _check_fitness_values(f, name)


def _check_fitness_values(f: np.ndarray, name: str = "fitness") -> np.ndarray:
    """``f`` (a non-empty 1-D float64 array) itself, once every entry is finite and >= 0."""
    bad = ~np.isfinite(f) | (f < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidFitnessError(
            f"{name}[{i}]={f[i].item()!r} is invalid: expected a finite number >= 0 "
            f"({int(bad.sum())} invalid entr{'y' if bad.sum() == 1 else 'ies'})"
        )
    return f


def _check_kernel(T: sp.csr_array, name: str = "T") -> None:
    data = T.data
    bad = ~np.isfinite(data) | (data < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(T.indptr, k, side="right") - 1)
        raise InvalidKernelError(
            f"{name}[{row}, {int(T.indices[k])}]={data[k].item()!r} is invalid: "
            "expected a finite probability >= 0"
        )
    rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
    _check_row_sums(np.bincount(rows, weights=data, minlength=T.shape[0]), name)


def _check_labels(labels: Any, n: int) -> list[Any] | None:
    """``labels`` as a list of ``n`` node labels (``None`` stays ``None``)."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise bad_argument(InvalidParameterError, "labels", labels, f"a sequence of {n} labels")
    out = list(labels)
    if len(out) != n:
        raise ShapeError(f"labels has length {len(out)}: expected {n}")
    return out


def _check_attrs(attrs: Any, n: int, checked: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Read-only per-node attribute arrays (``checked`` ones, already validated, are kept as they are)."""
    if attrs is not None and not isinstance(attrs, Mapping):
        raise bad_argument(InvalidParameterError, "attrs", attrs, "a mapping of name -> per-node array")
    out: dict[str, np.ndarray] = dict(checked or {})
    for key, value in (attrs or {}).items():
        try:
            arr = np.array(value)
        except (TypeError, ValueError) as exc:
            raise bad_argument(ShapeError, f"attrs[{key!r}]", value, f"an array of length {n} ({exc})") from None
        if arr.shape[:1] != (n,):
            raise ShapeError(f"attrs[{key!r}] has shape {arr.shape}: expected first dimension {n}")
        out[key] = _readonly(arr)
    return out


def _check_row_sums(sums: np.ndarray, name: str = "T") -> None:
    """Every row of a kernel must sum to 1 within :data:`ROW_SUM_TOL`."""
    err = np.abs(sums - 1.0)
    worst = int(np.argmax(err))
    if err[worst] > ROW_SUM_TOL:
        n_bad = int((err > ROW_SUM_TOL).sum())
        raise InvalidKernelError(
            f"{name} row {worst} sums to {sums[worst].item()!r}: expected every row to sum to 1 "
            f"within {ROW_SUM_TOL:g} ({n_bad} row{'s' if n_bad > 1 else ''} off; worst shown)"
        )


class DesignGraph:
    """Programs, their fitness and the design kernel.

    Build one with :meth:`tree`, :meth:`from_matrix` or :meth:`from_networkx`,
    or with a generator of :mod:`aievo.trees`.

    Attributes
    ----------
    fitness : ndarray, shape (n,)
        Fitness of each program (read-only).
    T : scipy.sparse.csr_array, shape (n, n)
        Design kernel; rows sum to one (read-only arrays). A tree keeps only
        its parent array and the probabilities on its edges and self-loops
        (the engine's tree kernels need nothing else); its CSR kernel is built
        on first access and then shared by the graphs derived from it.
    n : int
        Number of programs.
    root : int
        The default starting program of :func:`aievo.simulate`.
    labels : list or None
        Node labels (``None`` means the labels are ``0 .. n-1``).
    attrs : dict of str to ndarray
        Per-node attributes (read-only arrays of length ``n``).
    parent : ndarray or None
        For trees, the designer of each program (``-1`` for the root), in
        :func:`index_dtype` (``int32`` for every tree below ``2**31 - 1`` programs).
    """

    __slots__ = ("_fitness", "_kernel", "_root", "_labels", "_attrs", "_parent", "_prob", "_diag", "_cache")

    def __init__(
        self,
        fitness: Any,
        T: Any,
        *,
        root: int = 0,
        labels: Sequence[Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
        parent: Any = None,
    ) -> None:
        f = _check_fitness(fitness)
        n = f.size
        if sp.issparse(T):
            if T.dtype.kind not in "iuf":
                raise bad_argument(
                    InvalidKernelError, "T", f"sparse matrix of dtype {T.dtype}", "a matrix of real probabilities"
                )
            M = sp.csr_array(T, dtype=np.float64, copy=True)
        else:
            dense = real_array(
                T, "T", finite=False, cls=InvalidKernelError, what="a square matrix of real probabilities"
            )
            if dense.ndim != 2:
                raise ShapeError(f"T has shape {dense.shape}: expected a square 2-D matrix")
            M = sp.csr_array(dense)
        if M.shape != (n, n):
            raise ShapeError(f"T has shape {M.shape}: expected ({n}, {n}) to match len(fitness)={n}")
        M.sum_duplicates()
        M.sort_indices()
        _check_kernel(M)
        M.eliminate_zeros()
        M.indptr = _readonly(M.indptr.astype(np.int64, copy=False))
        M.indices = _readonly(M.indices.astype(np.int64, copy=False))
        M.data = _readonly(M.data)
        root_i = check_int(root, "root", 0, n - 1)
        labels = _check_labels(labels, n)
        self._fitness = _readonly(f)
        self._kernel: list[sp.csr_array | None] = [M]
        self._root = root_i
        self._labels = labels
        self._attrs = _check_attrs(attrs, n)
        self._cache: dict[str | tuple[str, int], Any] = {}
        self._parent = self._prob = self._diag = None
        if parent is not None:
            from ._tree_kernels import tree_parts

            par, depth = _check_parent(parent)
            if par.size != n:
                raise ShapeError(f"parent has length {par.size}: expected {n} to match len(fitness)")
            _check_parent_matches_kernel(par, M, root_i)
            prob, diag = tree_parts(M.indptr, M.indices, M.data, n)
            self._parent, self._prob, self._diag = par, _readonly(prob), _readonly(diag)
            self._cache["depth"] = _readonly(depth)

    # ------------------------------------------------------------------ properties
    @property
    def fitness(self) -> np.ndarray:
        """Fitness of each program, shape ``(n,)``, read-only."""
        return self._fitness

    @property
    def T(self) -> sp.csr_array:
        """The design kernel as a CSR array (rows sum to one; read-only ``int64`` / ``float64`` arrays).

        A tree built by :meth:`tree` or a generator of :mod:`aievo.trees` builds
        it here on first access (about 20 bytes per program).
        """
        T = self._kernel[0]
        if T is None:
            from ._tree_kernels import tree_csr

            indptr, indices, data = tree_csr(*self._tree_arrays())
            n = self.n
            T = sp.csr_array((_readonly(data), _readonly(indices), _readonly(indptr)), shape=(n, n), copy=False)
            self._kernel[0] = T
        return T

    @property
    def nnz(self) -> int:
        """Number of non-zero entries of the design kernel (designs ``v -> w`` and self-loops)."""
        T = self._kernel[0]
        if T is not None:
            return int(T.nnz)
        from ._tree_kernels import tree_nnz

        return tree_nnz(*self._tree_arrays())

    def _tree_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(parent, prob, diag)`` of a tree (a graph without a stored CSR kernel is one)."""
        if self._parent is None or self._prob is None or self._diag is None:
            raise InvalidParameterError("this DesignGraph is not a tree: it has no parent array")
        return self._parent, self._prob, self._diag

    @property
    def n(self) -> int:
        """Number of programs."""
        return int(self._fitness.size)

    @property
    def root(self) -> int:
        """The default starting program."""
        return self._root

    @property
    def labels(self) -> list[Any] | None:
        """Node labels, or ``None`` for ``0 .. n-1``."""
        return None if self._labels is None else list(self._labels)

    @property
    def attrs(self) -> dict[str, np.ndarray]:
        """Per-node attribute arrays (a new dict of the read-only arrays)."""
        return dict(self._attrs)

    @property
    def parent(self) -> np.ndarray | None:
        """For trees, ``parent[i]`` is the designer of ``i`` (``-1`` for the root); else ``None``."""
        return self._parent

    @property
    def is_tree(self) -> bool:
        """Whether the graph was built as a rooted tree (self-loops allowed)."""
        return self._parent is not None

    def depths(self) -> np.ndarray:
        """For trees, the depth of every program (the root has depth 0), in :func:`index_dtype`."""
        if self._parent is None:
            raise InvalidParameterError("depths() needs a tree: this DesignGraph has no parent array")
        if "depth" not in self._cache:
            self._cache["depth"] = _readonly(tree_depths(self._parent))
        return self._cache["depth"]

    @property
    def F_star(self) -> float:
        """Maximum fitness over the programs reachable from the root."""
        return float(self._fitness[self.reachable()].max())

    def label(self, i: int) -> Any:
        """The label of node ``i``."""
        return i if self._labels is None else self._labels[i]

    def __len__(self) -> int:
        return self.n

    def summary(self) -> dict[str, Any]:
        """Size and shape of the graph as JSON data (recorded in the parameters of results made from it)."""
        return {"n": self.n, "edges": self.nnz, "root": self._root, "is_tree": self.is_tree}

    #: graphs with at most this many programs print as code that rebuilds them
    REPR_REBUILD_MAX_N = 12

    def __repr__(self) -> str:
        """Code that rebuilds a small graph (the counterexamples Hypothesis shrinks to); else short.

        A graph of at most :attr:`REPR_REBUILD_MAX_N` programs is shown as an ``aievo.DesignGraph``
        call (floats in their shortest round-trip form) that rebuilds an equal graph, labels and
        attrs included when they are plain numbers, booleans or strings (``eval(repr(g))`` with
        ``DesignGraph`` in scope); other labels or attrs are named in a comment after it. Larger
        graphs, and ``str()`` of any graph, give the one-line summary.
        """
        if self.n <= self.REPR_REBUILD_MAX_N:
            fitness = ", ".join(repr(float(v)) for v in self._fitness)
            dense = self.T.toarray()
            rows = ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in dense)
            code = f"DesignGraph([{fitness}], [{rows}], root={self._root}"
            if self._parent is not None:
                code += f", parent={[int(p) for p in self._parent]}"
            omitted = []
            if self._labels is not None:
                if all(_literal(v) for v in self._labels):
                    code += f", labels={list(self._labels)!r}"
                else:
                    omitted.append("labels")
            shown = {k: v.tolist() for k, v in self._attrs.items() if _literal_array(v)}
            if shown:
                code += f", attrs={shown!r}"
            omitted += [f"attrs[{k!r}]" for k in self._attrs if k not in shown]
            return code + ")" + (f"  # not shown: {', '.join(omitted)}" if omitted else "")
        return str(self)

    def __str__(self) -> str:
        kind = "tree" if self.is_tree else "graph"
        return (
            f"DesignGraph({kind}, n={self.n}, edges={self.nnz}, root={self._root}, "
            f"fitness in [{self._fitness.min():.4g}, {self._fitness.max():.4g}]"
            + (f", attrs={sorted(self._attrs)}" if self._attrs else "")
            + ")"
        )

    # ------------------------------------------------------------------ derived
    def mean_matrix(self) -> sp.csr_array:
        """The mean matrix ``M = diag(f) T`` (abundances evolve as ``n_{t+1} = n_t M``)."""
        return sp.csr_array(sp.diags_array(self._fitness) @ self.T)

    def reachable(self, source: int | None = None) -> np.ndarray:
        """Boolean mask of the programs reachable from ``source`` (default: the root)."""
        key = ("reach", self._root if source is None else int(source))
        if key not in self._cache:
            if self._parent is not None and key[1] == self._root:  # every program of a tree descends from its root
                mask = np.ones(self.n, dtype=bool)
            else:
                from scipy.sparse.csgraph import breadth_first_order

                order = breadth_first_order(self.T, key[1], directed=True, return_predecessors=False)
                mask = np.zeros(self.n, dtype=bool)
                mask[order] = True
            self._cache[key] = _readonly(mask)
        return self._cache[key]

    def with_fitness(self, fitness: Any) -> "DesignGraph":
        """The same graph with another fitness vector (for example human-judged vs objective)."""
        f = _check_fitness(fitness)
        if f.size != self.n:
            raise ShapeError(f"fitness has length {f.size}: expected {self.n} to match the graph")
        return self._sibling(_readonly(f), self._attrs)

    def with_attrs(self, **attrs: Any) -> "DesignGraph":
        """The same graph with per-node attributes added or replaced."""
        return self._sibling(self._fitness, _check_attrs(attrs, self.n, self._attrs))

    def _sibling(self, fitness: np.ndarray, attrs: dict[str, np.ndarray]) -> "DesignGraph":
        """This graph's (validated, read-only) kernel, parent array and depths with checked fitness and attrs.

        The two graphs share one kernel: built once, whichever of them asks first.
        """
        g = DesignGraph._trusted(fitness, self._kernel, self._root, self._labels, attrs, self._parent,
                                 self._prob, self._diag)
        if "depth" in self._cache:
            g._cache["depth"] = self._cache["depth"]
        return g

    @classmethod
    def _trusted(
        cls, fitness: np.ndarray, kernel: list[sp.csr_array | None], root: int, labels: list[Any] | None,
        attrs: dict[str, np.ndarray], parent: np.ndarray | None, prob: np.ndarray | None = None,
        diag: np.ndarray | None = None,
    ) -> "DesignGraph":
        """A graph from parts that are already validated and read-only (no check, no copy).

        ``kernel`` is a one-element list holding the CSR kernel, or ``None`` for
        a tree whose kernel is built from ``parent``, ``prob`` and ``diag`` on
        first access (the list is shared, so siblings build it once).
        """
        g = cls.__new__(cls)
        g._fitness, g._kernel, g._root, g._labels, g._attrs = fitness, kernel, root, labels, attrs
        g._parent, g._prob, g._diag = parent, prob, diag
        g._cache = {}
        return g

    def _tree_gather(self, fs: np.ndarray, tree_min: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """What the engine's tree kernels gather, from the tree's own arrays (no CSR kernel needed).

        Returns ``(parent, c, d, self_loop, fast_ok)``: ``parent`` with the root
        as its own parent, ``c[w] = fs[parent[w]] T(parent[w], w)``,
        ``d[v] = fs[v] T(v, v)``, where the kernel has a self-loop, and whether
        every non-zero product is at least ``tree_min``.
        """
        from ._tree_kernels import tree_gather

        return tree_gather(*self._tree_arrays(), np.ascontiguousarray(fs, dtype=np.float64), tree_min)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_matrix(
        cls,
        fitness: Any,
        T: Any,
        *,
        root: int = 0,
        labels: Sequence[Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> "DesignGraph":
        """A design graph from a fitness vector and a dense or sparse kernel.

        Parameters
        ----------
        fitness : array_like, shape (n,)
            Non-negative finite fitness of each program.
        T : array_like or scipy.sparse matrix, shape (n, n)
            Design probabilities; each row must sum to 1 within ``1e-9``.
        root : int
            Default starting program.
        labels : sequence, optional
            Node labels.
        attrs : mapping, optional
            Per-node attribute arrays.

        Examples
        --------
        >>> import aievo as ae
        >>> g = ae.DesignGraph.from_matrix([1.0, 2.0], [[0.5, 0.5], [0.0, 1.0]])
        >>> g.n, g.T.nnz
        (2, 3)
        """
        return cls(fitness, T, root=root, labels=labels, attrs=attrs)

    @classmethod
    def tree(
        cls,
        parent: Any,
        fitness: Any,
        prob: Any = None,
        *,
        self_prob: Any = None,
        labels: Sequence[Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
    ) -> "DesignGraph":
        """A rooted design tree from a parent array.

        Parameters
        ----------
        parent : array_like of int, shape (n,)
            ``parent[i]`` is the designer of ``i``; exactly one entry is ``-1`` (the root).
        fitness : array_like, shape (n,)
            Non-negative fitness of each program.
        prob : array_like, shape (n,), optional
            ``prob[i] = T(parent[i], i)``; the root's entry is ignored. By default a
            program's children share its offspring equally.
        self_prob : array_like, shape (n,), optional
            Probability that a program designs an exact copy of itself (a self-loop,
            as in eta-preservation). Default 0.

        Notes
        -----
        A leaf of a finite tree has nowhere to send its offspring, so it
        reproduces itself: ``T(leaf, leaf) = 1``. For every other program the
        children's probabilities plus ``self_prob`` must sum to 1.

        Examples
        --------
        >>> import aievo as ae
        >>> g = ae.DesignGraph.tree([-1, 0, 0], [1.0, 2.0, 0.5], [0.0, 0.3, 0.7])
        >>> g.T.toarray()
        array([[0. , 0.3, 0.7],
               [0. , 1. , 0. ],
               [0. , 0. , 1. ]])
        """
        par, depth = _check_parent(parent)
        n = par.size
        f = _check_fitness(fitness)
        if f.size != n:
            raise ShapeError(f"fitness has length {f.size}: expected {n} to match len(parent)")
        child = np.flatnonzero(par >= 0)
        n_children = np.bincount(par[child], minlength=n)
        if prob is None:
            p = np.zeros(n)
            sp_ = np.zeros(n) if self_prob is None else _probs(self_prob, n, "self_prob")
            p[child] = (1.0 - sp_[par[child]]) / n_children[par[child]]
        else:
            p = _probs(prob, n, "prob")
            sp_ = np.zeros(n) if self_prob is None else _probs(self_prob, n, "self_prob")
        leaf = n_children == 0
        bad_leaf = leaf & (sp_ != 1.0) & (sp_ != 0.0)
        if bad_leaf.any():
            i = int(np.flatnonzero(bad_leaf)[0])
            raise bad_argument(
                InvalidKernelError, f"self_prob[{i}]", float(sp_[i]),
                "0 or 1 for a leaf (a leaf always reproduces itself)",
            )
        labels = _check_labels(labels, n)
        # leaves reproduce themselves; without other self-loops that is the empty-diag rule
        diag = np.where(leaf, 1.0, sp_) if sp_[~leaf].any() else np.empty(0)
        p[par < 0] = 0.0  # the root's entry is ignored
        return cls._from_tree(par, depth, _readonly(f), p, diag, labels, _check_attrs(attrs, n))

    @classmethod
    def _from_tree(
        cls, par: np.ndarray, depth: np.ndarray, fitness: np.ndarray, prob: np.ndarray, diag: np.ndarray,
        labels: list[Any] | None, attrs: dict[str, np.ndarray], *, rows_checked: bool = False,
        root: int | None = None,
    ) -> "DesignGraph":
        """A tree from a validated read-only parent array and its depths, read-only fitness and attrs.

        ``par`` and ``depth`` are in :func:`index_dtype`; ``prob`` (``T(parent[w], w)``,
        0 at the root) and ``diag`` (``T(v, v)``, or empty when only the leaves
        reproduce themselves, see :mod:`aievo._tree_kernels`) must be probabilities; the rows
        they make are checked to sum to 1 here unless ``rows_checked`` (a generator
        that checked them already, in closed form); ``root`` may be given when the
        caller knows it. The graph keeps these arrays as they are (read-only, no
        copy); its CSR kernel is built from them on first access, so the two agree
        by construction.
        """
        if not rows_checked:
            from ._tree_kernels import tree_row_sums_check

            worst, total, n_bad = tree_row_sums_check(par, prob, diag, ROW_SUM_TOL)
            if n_bad:
                raise InvalidKernelError(
                    f"T row {worst} sums to {float(total)!r}: expected every row to sum to 1 "
                    f"within {ROW_SUM_TOL:g} ({n_bad} row{'s' if n_bad > 1 else ''} off; worst shown)"
                )
        if root is None:
            root = int(np.argmin(par))  # the only -1
        g = cls._trusted(fitness, [None], root, labels, attrs, par, _readonly(prob), _readonly(diag))
        g._cache["depth"] = _readonly(depth)  # computed by the validation already
        return g

    @classmethod
    def from_networkx(
        cls, G: "nx.DiGraph", fitness: str = "fitness", prob: str = "p", *, root: Any = None
    ) -> "DesignGraph":
        """A design graph from a networkx ``DiGraph``.

        Parameters
        ----------
        G : networkx.DiGraph
            Nodes carry fitness in attribute ``fitness``; edges ``v -> w`` carry
            ``T(v, w)`` in attribute ``prob``. Self-loops are allowed.
        fitness, prob : str
            Attribute names.
        root : node, optional
            The starting program; by default the unique node with no incoming
            edges other than a self-loop, else the first node.

        Notes
        -----
        Node order (and so indices) follows ``G.nodes``; labels are the nodes.
        A node with no outgoing edge has no design policy and is refused.
        Other numeric node attributes are kept in ``attrs``.
        """
        import networkx as nx

        if not isinstance(G, nx.DiGraph):
            raise bad_argument(InvalidParameterError, "G", type(G).__name__, "a networkx.DiGraph")
        nodes = list(G.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        f = []
        for v in nodes:
            if fitness not in G.nodes[v]:
                raise InvalidFitnessError(
                    f"node {v!r} has no attribute {fitness!r}: expected every node to carry fitness"
                )
            f.append(G.nodes[v][fitness])
        rows, cols, vals = [], [], []
        for v, w, data in G.edges(data=True):
            if prob not in data:
                raise InvalidKernelError(f"edge ({v!r}, {w!r}) has no attribute {prob!r}: expected T(v, w)")
            rows.append(index[v])
            cols.append(index[w])
            vals.append(data[prob])
        n = len(nodes)
        p_vals = real_array(vals, f"edge attribute {prob!r}", finite=False, cls=InvalidKernelError,
                            what="real probabilities T(v, w) on every edge")
        T = sp.csr_array((p_vals.reshape(-1), (rows, cols)), shape=(n, n))
        if root is None:
            indeg = np.zeros(n, dtype=np.int64)
            for v, w in G.edges():
                if v != w:
                    indeg[index[w]] += 1
            sources = np.flatnonzero(indeg == 0)
            root_i = int(sources[0]) if sources.size == 1 else 0
        else:
            try:
                known = root in index
            except TypeError:  # unhashable
                known = False
            if not known:
                raise bad_argument(InvalidParameterError, "root", root, "a node of G")
            root_i = index[root]
        attrs: dict[str, np.ndarray] = {}
        keys = set().union(*(G.nodes[v].keys() for v in nodes)) - {fitness} if nodes else set()
        for key in sorted(keys, key=str):
            values = [G.nodes[v].get(key) for v in nodes]
            if all(isinstance(x, (int, float, bool, np.number, np.bool_)) for x in values):
                attrs[str(key)] = np.asarray(values)
        return cls(f, T, root=root_i, labels=nodes, attrs=attrs)

    def to_networkx(self) -> "nx.DiGraph":
        """This graph as a networkx ``DiGraph`` (node attribute ``fitness``, edge attribute ``p``).

        Node attributes in ``attrs`` (scalars per node) are copied too, so
        ``DesignGraph.from_networkx(g.to_networkx())`` round-trips.
        """
        import networkx as nx

        G = nx.DiGraph()
        labels = [self.label(i) for i in range(self.n)]
        scalar_attrs = {k: v for k, v in self._attrs.items() if v.ndim == 1}
        for i, lab in enumerate(labels):
            data = {k: v[i].item() for k, v in scalar_attrs.items()}
            G.add_node(lab, fitness=float(self._fitness[i]), **data)
        T = self.T
        for v in range(self.n):
            for k in range(T.indptr[v], T.indptr[v + 1]):
                G.add_edge(labels[v], labels[int(T.indices[k])], p=float(T.data[k]))
        G.graph["root"] = labels[self._root]
        return G


def _literal(value: Any) -> bool:
    """Whether ``repr(value)`` evaluates back to an equal value (plain numbers, booleans, strings)."""
    if isinstance(value, float):
        return bool(np.isfinite(value))
    return type(value) in (bool, int, str) or value is None


def _literal_array(a: np.ndarray) -> bool:
    """Whether ``np.array(eval(repr(a.tolist())))`` gives back the values of ``a`` (integers as ``int64``)."""
    if a.dtype == np.float64:
        return bool(np.all(np.isfinite(a)))
    return a.dtype in (np.dtype(bool), np.dtype(np.int32), np.dtype(np.int64)) or a.dtype.kind == "U"


def _probs(values: Any, n: int, name: str) -> np.ndarray:
    p = real_array(values, name, finite=False, cls=InvalidKernelError, what="an array of probabilities")
    if p.shape != (n,):
        raise ShapeError(f"{name} has shape {p.shape}: expected ({n},)")
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidKernelError(f"{name}[{i}]={p[i].item()!r} is invalid: expected a probability in [0, 1]")
    return p


def _check_parent_matches_kernel(par: np.ndarray, T: sp.csr_array, root: int) -> None:
    """Every design ``v -> w`` (``w != v``) of ``T`` must come from ``w``'s designer ``parent[w]``.

    The tree kernels gather each program's mass from its designer only, so a
    parent array that contradicts ``T`` would give wrong dynamics (or, with
    indices out of range, read outside the arrays).
    """
    rows = np.repeat(np.arange(T.shape[0], dtype=np.int64), np.diff(T.indptr))
    cols = np.asarray(T.indices, dtype=np.int64)
    off = rows != cols
    bad = off & (par[cols] != rows)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        v, w = int(rows[k]), int(cols[k])
        raise InvalidTreeError(
            f"parent[{w}]={int(par[w])} contradicts T[{v}, {w}]={float(T.data[k])!r}: expected the only "
            f"program designing {w} (other than itself) to be its parent"
        )
    if par[root] != -1:
        raise InvalidTreeError(f"parent[{root}]={int(par[root])}: expected -1 at the root (root={root})")


def _check_parent(parent: Any) -> tuple[np.ndarray, np.ndarray]:
    """The validated read-only parent array and the depth of every node, both in :func:`index_dtype`."""
    if isinstance(parent, (str, bytes)) or parent is None:
        raise bad_argument(InvalidTreeError, "parent", parent, "a 1-D array of integer indices")
    try:
        raw = np.asarray(parent)
    except (TypeError, ValueError, OverflowError):
        raise bad_argument(InvalidTreeError, "parent", parent, "a 1-D array of integer indices") from None
    if raw.ndim != 1 or raw.size == 0:
        raise ShapeError(f"parent has shape {raw.shape}: expected a non-empty 1-D array")
    if raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw)) and np.all(
        np.abs(raw) < 2**53
    ):
        raw = raw.astype(np.int64)
    if raw.dtype.kind not in "iu" or (raw.dtype == np.uint64 and raw.max() > np.iinfo(np.int64).max):
        raise bad_argument(InvalidTreeError, "parent", parent, "integer indices")
    wide = raw if raw.dtype == np.int64 else raw.astype(np.int64)
    n = wide.size
    roots = np.flatnonzero(wide == -1)
    if roots.size != 1:
        raise InvalidTreeError(
            f"parent has {roots.size} roots (entries equal to -1) at {roots[:10].tolist()}: expected exactly one"
        )
    if wide.min() < -1 or wide.max() >= n:
        i = int(np.flatnonzero((wide < -1) | (wide >= n))[0])
        raise InvalidTreeError(f"parent[{i}]={int(wide[i])} is out of range: expected -1 or an index in [0, {n})")
    par = _readonly(wide.astype(index_dtype(n)))  # always a copy: the graph owns its parent array
    selfp = np.flatnonzero(par == np.arange(n, dtype=par.dtype))
    if selfp.size:
        raise InvalidTreeError(f"parent[{int(selfp[0])}]={int(selfp[0])}: a program cannot be its own designer")
    depth = tree_depths(par)
    if (depth < 0).any():
        i = int(np.flatnonzero(depth < 0)[0])
        raise InvalidTreeError(
            f"parent has a cycle through node {i}: expected every program to descend from the root"
        )
    return par, depth


def tree_depths(parent: np.ndarray) -> np.ndarray:
    """Depth of every node of a parent array in :func:`index_dtype` (``-1`` for nodes on or below a cycle)."""
    from ._tree_kernels import tree_depths_kernel

    return tree_depths_kernel(_readonly_index(parent))


def _readonly_index(a: Any) -> np.ndarray:
    """A read-only contiguous view (or copy) of ``a`` in :func:`index_dtype`.

    The tree kernels always receive read-only arrays of one index dtype, so
    numba compiles one specialisation of each (a writable and a read-only
    array, or an ``int32`` and an ``int64`` one, are two types).
    """
    a = np.asarray(a)
    out = np.ascontiguousarray(a, dtype=index_dtype(a.size))
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out
