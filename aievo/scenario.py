"""Scenario files: describe a run in TOML, run it with ``aievo run FILE.toml``.

A scenario file is data, read with :mod:`tomllib` and never evaluated as code.
It names a graph generator and its parameters (or gives a type graph as a
fitness list and a matrix), optionally derives fitness from traits
(human-judged or objective), adds eta-locking or eta-preservation, chooses the
traits and node sets to record, and says where to write the trajectory and its
plot. Every key is checked: an unknown key (a typo), a missing key or a value of
the wrong type raises :class:`~aievo.errors.ScenarioError` naming the key (for
example ``graph.depth``) and what was expected.

The schema (every table but ``[scenario]`` and ``[graph]`` is optional)::

    [scenario]
    name = "locking on a chain"        # optional, default: the file's stem
    description = "..."                # optional
    generations = 200                  # required, integer >= 0
    initial = 0                        # optional: a program index or a list of shares
                                       # (over the final graph, locked copies included)
    population = 1000                  # optional: finite population K
    seed = 1                           # optional: seed of the finite-population draws

    [graph]
    kind = "chain"                     # chain | kary_tree | binary_pm_tree | random_tree
                                       # | lattice | type_graph | trait_grid
    ...                                # the kind's parameters, see GRAPH_KINDS

    [fitness]                          # fitness from traits (see FITNESS_MODES)
    mode = "human_judged"              # human_judged: base + slope (c + d);
    capability = "c"                   # objective: base + slope c
    deception = "d"
    base = 1.0
    slope = 1.0

    [traits]                           # name = list (one value per program or type)
    c = [0, 1, 2]                      #      | an attribute name ("depth", "fitness", ...)

    [locking]                          # or [preservation]; not both
    eta = 0.3

    [sets]                             # name = {rule = ..., ...}, see SET_RULES
    near_max = { rule = "near_max", eps = 0.05 }

    [payoff]                           # frequency dependence f_t = f + A x_t (aievo.state)
    matrix = [[-1.5, 2.0], [0.0, 1.0]] # m x m; m = number of programs unless grouped
    group_by = "original"              # optional: an integer node attribute, or
    # groups = [0, 1, ...]             #   an explicit group per program

    [evaluator]                        # an evaluator that learns to detect deception
    rate = 0.1                         # p_{t+1} = (1 - rate) p_t + rate (1 - exp(-sensitivity dbar_t))
    sensitivity = 0.5
    penalty = 0.0                      # f_t = f - (1 + penalty) p_t d
    p0 = 0.0
    deception = "d"                    # a [traits] name or a node attribute (default "d")

    [output]
    trajectory = "run.npz"             # default: <name>.npz ("" to skip)
    plot = "run.png"                   # default: <name>.png ("" to skip)
    plot_what = ["mean_fitness", "set:near_max"]
    record_shares = [0, 10]

Python API: :func:`load_scenario` validates a file or a dict and builds the
graph; :func:`run_scenario` runs it and optionally writes the outputs.
``aievo run FILE --set graph.depth=4`` (``load_scenario(..., overrides=)``,
:func:`apply_overrides`) changes keys without editing the file; :func:`headline`
sums a run up in a few numbers (one row of a sweep's summary table).
"""

from __future__ import annotations

import argparse
import builtins
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._validate import MAX_INDEX_PROGRAMS, check_tree_fits, kary_log2, kary_size
from .errors import AievoError, ScenarioError, bad_argument

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .dynamics import Trajectory
    from .graph import DesignGraph

__all__ = [
    "Scenario",
    "load_scenario",
    "run_scenario",
    "write_outputs",
    "summary",
    "headline",
    "apply_overrides",
    "parse_set",
    "GRAPH_KINDS",
    "FITNESS_RULES",
    "SET_RULES",
    "FITNESS_MODES",
    "MAX_TREE_PROGRAMS",
    "SCENARIO_KINDS",
    "configure",
    "run",
]

#: Hard cap on the programs of a tree a scenario may build; below it, the tree must also fit
#: in the memory available (the rule of :func:`aievo.kary_tree` and the other generators).
MAX_TREE_PROGRAMS = MAX_INDEX_PROGRAMS

#: Graph kinds and their keys (besides ``kind``); ``*`` marks a required key.
GRAPH_KINDS: dict[str, tuple[str, ...]] = {
    "chain": ("fitness*", "length"),
    "kary_tree": ("k*", "depth*", "fitness*", "root_fitness", "prob"),
    "binary_pm_tree": ("depth*", "root_fitness"),
    "random_tree": ("n*", "seed", "self_prob", "fitness"),
    "lattice": ("n*", "mutation_rate*", "fitness*", "start"),
    "type_graph": ("matrix*", "fitness", "root", "labels", "unfold"),
    "trait_grid": ("C*", "D*", "start"),
}

#: Named fitness rules, per graph kind: rule -> (keys, description).
FITNESS_RULES: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "chain": {
        "power": (("base*", "scale*", "ratio*"), "f_k = base + scale * ratio**k"),
        "linear": (("start*", "step*"), "f_k = start + step * k"),
        "alternating": (("values*", "block"), "cycle through values, each held for `block` programs"),
        "doubling_blocks": (("values*",), "cycle through values in blocks of length 1, 2, 4, ..."),
        "constant": (("value*",), "f_k = value"),
    },
    "kary_tree": {
        "offsets": (
            ("offsets*", "decay"),
            "child j at depth d: parent + offsets[j] * decay**(d - 1)",
        ),
        "factors": (("factors*",), "child j: parent * factors[j]"),
        "constant": (("value*",), "every child: value"),
    },
    "random_tree": {
        "uniform": (("low*", "high*"), "independent Uniform(low, high)"),
        "constant": (("value*",), "every program: value"),
    },
    "lattice": {
        "plateaus": (
            ("baseline*", "plateaus*"),
            "baseline everywhere, `height` on positions start .. start + width - 1 of each plateau",
        ),
        "constant": (("value*",), "every genotype: value"),
    },
}

#: Named node-set rules: rule -> (keys, description).
SET_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "near_max": (("eps*", "F_star"), "fitness >= F* - eps (F* = max reachable fitness unless given)"),
    "fitness_at_least": (("value*",), "fitness >= value"),
    "fitness_below": (("value*",), "fitness < value"),
    "trait_at_least": (("trait*", "value*"), "trait >= value (a [traits] name, 'fitness' or an attribute)"),
    "trait_equals": (("trait*", "value*"), "trait == value"),
    "locked": ((), "the locked copies (after [locking])"),
    "attr": (("name*",), "a boolean node attribute, e.g. 'plus' of binary_pm_tree"),
    "nodes": (("nodes*",), "explicit program indices"),
}

#: Fitness modes of the ``[fitness]`` table: mode -> description.
FITNESS_MODES: dict[str, str] = {
    "human_judged": "f = base + slope * (capability + deception)",
    "objective": "f = base + slope * capability",
}

#: Scenario kinds (``[scenario] kind = ...``) run by other packages: kind -> "module:loader".
#: The loader takes the TOML data and a default name and returns an object with ``run(out=None)``
#: and ``cli(args)``; a file without ``kind`` describes a graph run (this module).
SCENARIO_KINDS: dict[str, str] = {"evolving_mesa": "aievo.evolving.experiment:load_scenario_data"}

_SCENARIO_KEYS = ("name", "description", "generations*", "initial", "population", "seed")
_FITNESS_KEYS = ("mode*", "capability*", "deception", "base", "slope")
_ETA_KEYS = ("eta*",)
_OUTPUT_KEYS = ("trajectory", "plot", "plot_what", "record_shares")
_PAYOFF_KEYS = ("matrix*", "groups", "group_by")
_EVALUATOR_KEYS = ("rate*", "sensitivity*", "penalty", "p0", "deception")
_TOP = (
    "scenario", "graph", "fitness", "traits", "locking", "preservation", "sets", "output", "payoff", "evaluator",
)

_MISSING = object()


# ---------------------------------------------------------------------- validation
class _Table:
    """A TOML table being read: typed getters that name the key, and a check for unknown keys."""

    def __init__(self, data: Any, path: str, allowed: tuple[str, ...] | None) -> None:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{path}: expected a table, got {type(data).__name__} {_short(data)}")
        self.data = dict(data)
        self.path = path
        self.allowed = None if allowed is None else tuple(a.rstrip("*") for a in allowed)
        self.required = () if allowed is None else tuple(a[:-1] for a in allowed if a.endswith("*"))
        if self.allowed is not None:
            for key in self.data:
                if key not in self.allowed:
                    close = difflib.get_close_matches(str(key), self.allowed, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise ScenarioError(
                        f"{self.key(key)}: unknown key{hint}; expected one of {list(self.allowed)}"
                    )
            for key in self.required:
                if key not in self.data:
                    raise ScenarioError(f"{self.key(key)}: missing required key")

    def key(self, k: str) -> str:
        return f"{self.path}.{k}" if self.path else str(k)

    def has(self, k: str) -> bool:
        return k in self.data

    def raw(self, k: str, default: Any = _MISSING) -> Any:
        if k in self.data:
            return self.data[k]
        if default is _MISSING:
            raise ScenarioError(f"{self.key(k)}: missing required key")
        return default

    def int(self, k: str, default: Any = _MISSING, lo: int | None = None) -> Any:
        v = self.raw(k, default)
        if v is default and k not in self.data:
            return v
        if isinstance(v, bool) or not isinstance(v, int) or (lo is not None and v < lo):
            raise ScenarioError(
                f"{self.key(k)} = {_short(v)}: expected an integer" + (f" >= {lo}" if lo is not None else "")
            )
        return v

    def float(self, k: str, default: Any = _MISSING, check: tuple[Callable[[float], bool], str] | None = None) -> Any:
        v = self.raw(k, default)
        if v is default and k not in self.data:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ScenarioError(f"{self.key(k)} = {_short(v)}: expected a number")
        try:
            v = float(v)
        except OverflowError:
            raise ScenarioError(f"{self.key(k)} = {_short(v)}: expected a number within float range") from None
        if check is not None and not check[0](v):
            raise ScenarioError(f"{self.key(k)} = {_short(v)}: expected {check[1]}")
        return v

    def str(self, k: str, default: Any = _MISSING, choices: Any = None) -> Any:
        v = self.raw(k, default)
        if v is default and k not in self.data:
            return v
        if not isinstance(v, str):
            raise ScenarioError(f"{self.key(k)} = {_short(v)}: expected a string")
        if choices is not None and v not in choices:
            close = difflib.get_close_matches(v, list(choices), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(f"{self.key(k)} = {v!r}: unknown{hint}; expected one of {list(choices)}")
        return v

    def numbers(self, k: builtins.str, default: Any = _MISSING, length: builtins.int | None = None) -> Any:
        v = self.raw(k, default)
        if v is default and k not in self.data:
            return v
        return _numbers(v, self.key(k), length)

    def table(self, k: builtins.str, allowed: tuple[builtins.str, ...] | None) -> "_Table":
        return _Table(self.raw(k), self.key(k), allowed)


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numbers(v: Any, key: str, length: int | None = None) -> list[float]:
    if not isinstance(v, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v
    ):
        raise ScenarioError(f"{key} = {_short(v)}: expected a list of numbers")
    if length is not None and len(v) != length:
        raise ScenarioError(f"{key} has {len(v)} entries: expected {length}")
    if not v:
        raise ScenarioError(f"{key} is empty: expected a non-empty list of numbers")
    try:
        return [float(x) for x in v]
    except OverflowError:
        raise ScenarioError(f"{key} = {_short(v)}: expected numbers within float range") from None


def _rule_table(t: _Table, key: str, kind: str) -> tuple[str, _Table]:
    """Read ``t[key]`` as ``{rule = NAME, ...}`` with NAME one of FITNESS_RULES[kind]."""
    rules = FITNESS_RULES[kind]
    raw = t.raw(key)
    if not isinstance(raw, Mapping):
        raise ScenarioError(
            f"{t.key(key)} = {_short(raw)}: expected a list of numbers or a table "
            f"{{rule = ..., ...}} with rule one of {list(rules)}"
        )
    head = _Table(raw, t.key(key), None)
    name = head.str("rule", choices=rules)
    keys, _ = rules[name]
    return name, _Table(raw, t.key(key), ("rule*",) + keys)


# ---------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario, its graph built and ready to run.

    Attributes
    ----------
    name : str
        Name of the scenario (default: the file's stem).
    description : str
        Free text.
    graph : DesignGraph
        The design graph to simulate (fitness from traits and locking applied).
    generations : int
        Number of generations.
    initial : int, list of float or None
        Starting program or shares (``None``: the root).
    traits : dict of str to ndarray
        Trait vectors to record (one value per program of ``graph``).
    sets : dict of str to ndarray
        Boolean masks of the node sets to record.
    population, seed : int or None
        Finite population size and seed (``None``: deterministic dynamics).
    record_shares : list of int
        Times at which whole share vectors are kept.
    trajectory_path, plot_path : str or None
        Output file names (relative to the output directory), ``None`` to skip.
    plot_what : tuple of str
        Panels of the plot (``Trajectory.plot`` ``what=`` values).
    config : dict
        The scenario as run (plain TOML data, overrides applied).
    overrides : dict
        Dotted key -> value set on top of the file (``aievo run --set``, a
        sweep's grid), empty when the file ran as written.
    """

    name: str
    description: str
    graph: "DesignGraph"
    generations: int
    initial: Any = None
    traits: dict[str, "np.ndarray"] = field(default_factory=dict)
    sets: dict[str, "np.ndarray"] = field(default_factory=dict)
    population: int | None = None
    seed: int | None = None
    record_shares: list[int] = field(default_factory=list)
    trajectory_path: str | None = None
    plot_path: str | None = None
    plot_what: tuple[str, ...] = ("mean_fitness",)
    config: dict[str, Any] = field(default_factory=dict)
    payoff: Any = None
    evaluator: Any = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def run(self, rng: Any = None) -> "Trajectory":
        """Simulate the scenario (no files written); see :func:`run_scenario`.

        ``rng`` seeds a finite-population run whose file gives no
        ``scenario.seed`` (a sweep passes each cell's generator); the file's
        seed, when given, wins. The trajectory's ``params["recipe"]`` records the
        scenario as run (its :attr:`config`, overrides applied, and name), from
        which ``aievo rerun`` regenerates a saved run, and ``params["overrides"]``
        the overrides.
        """
        from dataclasses import replace

        from .dynamics import simulate

        try:
            tr = simulate(
                self.graph,
                self.generations,
                initial=self.initial,
                record_shares=self.record_shares or None,
                traits=self.traits or None,
                sets=self.sets or None,
                population=self.population,
                rng=self.seed if self.seed is not None or self.population is None else rng,
                payoff=self.payoff,
                evaluator=self.evaluator,
            )
        except ScenarioError:
            raise
        except AievoError as exc:
            raise ScenarioError(f"scenario: {exc}") from exc
        if not self.config:  # built in Python, not from scenario data: nothing to record
            return tr
        from .rerun import scenario_recipe

        return replace(tr, params={**tr.params, "recipe": scenario_recipe(self.name, self.config),
                                   "overrides": dict(self.overrides)})


# ---------------------------------------------------------------------- graph builders
def _wrap(key: str, fn: Callable[[], Any]) -> Any:
    """Run a builder, turning engine errors into ScenarioErrors that name the key."""
    try:
        return fn()
    except ScenarioError:
        raise
    except AievoError as exc:
        raise ScenarioError(f"{key}: {exc}") from exc


def _chain_fitness(t: _Table) -> "np.ndarray":
    import numpy as np

    raw = t.raw("fitness")
    if isinstance(raw, list):
        if t.has("length"):
            raise ScenarioError(f"{t.key('length')}: not allowed with an explicit fitness list")
        return np.array(t.numbers("fitness"))
    if not isinstance(raw, Mapping):
        raise ScenarioError(
            f"{t.key('fitness')} = {_short(raw)}: expected a list of numbers or a table "
            f"{{rule = ..., ...}} with rule one of {list(FITNESS_RULES['chain'])}"
        )
    n = t.int("length", lo=1) if t.has("length") else None
    if n is None:
        raise ScenarioError(f"{t.key('length')}: missing; expected the number of programs with a fitness rule")
    rule, r = _rule_table(t, "fitness", "chain")
    k = np.arange(n)
    if rule == "power":
        return r.float("base") + r.float("scale") * r.float("ratio") ** k
    if rule == "linear":
        return r.float("start") + r.float("step") * k
    if rule == "constant":
        return np.full(n, r.float("value"))
    values = np.array(r.numbers("values"))
    if rule == "alternating":
        block = r.int("block", 1, lo=1)
        return values[(k // block) % values.size]
    # doubling_blocks: block b has length 2**b
    block_index = np.floor(np.log2(k + 1)).astype(np.int64)
    return values[block_index % values.size]


def _kary_rule(t: _Table, k: int) -> Callable[..., Any]:
    import numpy as np

    rule, r = _rule_table(t, "fitness", "kary_tree")
    if rule == "offsets":
        offsets = np.array(r.numbers("offsets", length=k))
        decay = r.float("decay", 1.0)
        return lambda pf, j, d: pf + offsets[j] * decay ** (d - 1)
    if rule == "factors":
        factors = np.array(r.numbers("factors", length=k))
        return lambda pf, j, d: pf * factors[j]
    value = r.float("value")
    return lambda pf, j, d: np.full(pf.shape, value)


def _lattice_fitness(t: _Table, n: int) -> "np.ndarray":
    import numpy as np

    raw = t.raw("fitness")
    if isinstance(raw, list):
        return np.array(t.numbers("fitness", length=n))
    rule, r = _rule_table(t, "fitness", "lattice")
    if rule == "constant":
        return np.full(n, r.float("value"))
    f = np.full(n, r.float("baseline"))
    plateaus = r.raw("plateaus")
    if not isinstance(plateaus, list) or not plateaus:
        raise ScenarioError(f"{r.key('plateaus')}: expected a non-empty list of tables {{start, width, height}}")
    for i, p in enumerate(plateaus):
        pt = _Table(p, f"{r.key('plateaus')}[{i}]", ("start*", "width*", "height*"))
        s, w = pt.int("start", lo=0), pt.int("width", lo=1)
        if s + w > n:
            raise ScenarioError(
                f"{pt.key('start')} + width = {s + w}: expected a plateau inside the lattice of n = {n} genotypes"
            )
        f[s : s + w] = pt.float("height")
    return f


def _matrix(t: _Table, key: str) -> "np.ndarray":
    import numpy as np

    raw = t.raw(key)
    if not isinstance(raw, list) or not raw or not all(isinstance(row, list) for row in raw):
        raise ScenarioError(f"{t.key(key)} = {_short(raw)}: expected a square matrix (a list of rows of numbers)")
    rows = [_numbers(row, f"{t.key(key)}[{i}]", len(raw)) for i, row in enumerate(raw)]
    return np.array(rows)


def _trait_grid(t: _Table) -> "DesignGraph":
    """Traits on a grid c in 0..C, d in 0..D; each program designs c+1 or d+1 (clipped) w.p. 1/2."""
    import numpy as np

    from .trees import type_graph

    C, D = t.int("C", lo=0), t.int("D", lo=0)
    start = t.raw("start", [0, 0])
    if (
        not isinstance(start, list)
        or len(start) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in start)
        or not (0 <= start[0] <= C and 0 <= start[1] <= D)
    ):
        raise ScenarioError(f"{t.key('start')} = {_short(start)}: expected [c, d] with 0 <= c <= {C}, 0 <= d <= {D}")
    check_tree_fits((C + 1) * (D + 1), "graph.C", C, cls=ScenarioError, kind="trait_grid")
    import scipy.sparse as sp

    c = np.repeat(np.arange(C + 1), D + 1)
    d = np.tile(np.arange(D + 1), C + 1)
    n = c.size
    idx = np.arange(n)
    up_c = np.minimum(c + 1, C) * (D + 1) + d
    up_d = c * (D + 1) + np.minimum(d + 1, D)
    T = sp.csr_array(
        (np.full(2 * n, 0.5), (np.concatenate([idx, idx]), np.concatenate([up_c, up_d]))), shape=(n, n)
    )  # duplicates (at the clipped corner) are summed
    labels = [f"({ci},{di})" for ci, di in zip(c, d)]
    g = type_graph(np.ones(n), T, root=int(start[0] * (D + 1) + start[1]), labels=labels)
    return g.with_attrs(c=c.astype(np.float64), d=d.astype(np.float64))


def _build_graph(t: _Table, has_fitness_table: bool) -> "DesignGraph":
    import numpy as np

    from . import trees

    kind = t.str("kind")
    if kind == "chain":
        return _wrap("graph.fitness", lambda: trees.chain(_chain_fitness(t)))
    if kind == "kary_tree":
        k, depth = t.int("k", lo=1), t.int("depth", lo=0)
        check_tree_fits(kary_size(k, depth), "graph.depth", depth, cls=ScenarioError,
                        log2_n=kary_log2(k, depth))
        kary_rule = _kary_rule(t, k)
        prob = t.numbers("prob", None, length=k)
        root_f = t.float("root_fitness", 1.0)
        return _wrap(
            "graph", lambda: trees.kary_tree(k, depth, kary_rule, root_fitness=root_f, prob=prob)
        )
    if kind == "binary_pm_tree":
        depth = t.int("depth", lo=0)
        check_tree_fits(kary_size(2, depth), "graph.depth", depth, cls=ScenarioError, log2_n=kary_log2(2, depth))
        root_f = t.float("root_fitness", 1.0)
        return _wrap("graph", lambda: trees.binary_pm_tree(depth, root_fitness=root_f))
    if kind == "random_tree":
        n = t.int("n", lo=1)
        check_tree_fits(n, "graph.n", n, cls=ScenarioError)
        seed = t.int("seed", None, lo=0)
        self_prob = t.float("self_prob", 0.0, check=(lambda x: 0 <= x < 1, "a number in [0, 1)"))
        fit = None
        if t.has("fitness"):
            rule, r = _rule_table(t, "fitness", "random_tree")
            if rule == "uniform":
                lo, hi = r.float("low"), r.float("high")
                if not 0 <= lo <= hi:
                    raise ScenarioError(f"{r.key('high')} = {hi}: expected 0 <= low <= high (low = {lo})")
                fit = lambda gen, m: gen.uniform(lo, hi, m)  # noqa: E731
            else:
                v = r.float("value")
                fit = lambda gen, m: np.full(m, v)  # noqa: E731
        return _wrap("graph", lambda: trees.random_tree(n, seed, fitness=fit, self_prob=self_prob))
    if kind == "lattice":
        n = t.int("n", lo=1)
        check_tree_fits(n, "graph.n", n, cls=ScenarioError, kind="lattice")
        mu = t.float("mutation_rate", check=(lambda x: 0 <= x <= 1, "a probability in [0, 1]"))
        f = _lattice_fitness(t, n)
        start = t.int("start", None, lo=0)
        if start is not None and start >= n:
            raise ScenarioError(f"graph.start = {start}: expected a genotype index in [0, {n})")
        return _wrap("graph.fitness", lambda: trees.lattice(n, f, mu, start=start))
    if kind == "type_graph":
        T = _matrix(t, "matrix")
        n = T.shape[0]
        if t.has("fitness"):
            f = np.array(t.numbers("fitness", length=n))
        elif has_fitness_table:
            f = np.ones(n)  # replaced by the [fitness] table
        else:
            raise ScenarioError("graph.fitness: missing; expected a list of fitness values (or a [fitness] table)")
        root = t.int("root", 0, lo=0)
        if root >= n:
            raise ScenarioError(f"graph.root = {root}: expected a type index in [0, {n})")
        labels = t.raw("labels", None)
        if labels is not None and (not isinstance(labels, list) or len(labels) != n):
            raise ScenarioError(f"graph.labels = {_short(labels)}: expected a list of {n} labels")
        g = _wrap("graph.matrix", lambda: trees.type_graph(f, T, root=root, labels=labels))
        return g
    # trait_grid
    return _trait_grid(t)


def _traits(t: _Table, g: "DesignGraph") -> dict[str, "np.ndarray"]:
    """Trait vectors: lists (one value per program or type) or names of attributes / 'fitness'."""
    import numpy as np

    out: dict[str, np.ndarray] = {}
    attrs = g.attrs
    for name, value in t.data.items():
        key = t.key(name)
        if isinstance(value, str):
            if value == "fitness":
                out[name] = g.fitness.copy()
            elif value in attrs and attrs[value].ndim == 1:
                out[name] = attrs[value].astype(np.float64)
            else:
                raise ScenarioError(
                    f"{key} = {value!r}: expected a list of {g.n} numbers, 'fitness' or a node attribute "
                    f"of this graph {sorted(attrs)}"
                )
        else:
            out[name] = np.array(_numbers(value, key, g.n))
    return out


def _sets(t: _Table, g: "DesignGraph", traits: Mapping[str, "np.ndarray"]) -> dict[str, "np.ndarray"]:
    import numpy as np

    out: dict[str, np.ndarray] = {}
    attrs = g.attrs
    for name in t.data:
        head = _Table(t.raw(name), t.key(name), None)
        rule = head.str("rule", choices=SET_RULES)
        keys, _ = SET_RULES[rule]
        s = _Table(t.raw(name), t.key(name), ("rule*",) + keys)
        f = g.fitness
        if rule == "near_max":
            F = s.float("F_star", g.F_star)
            mask = f >= F - s.float("eps", check=(lambda x: x >= 0, "a number >= 0"))
        elif rule == "fitness_at_least":
            mask = f >= s.float("value")
        elif rule == "fitness_below":
            mask = f < s.float("value")
        elif rule in ("trait_at_least", "trait_equals"):
            tr = s.str("trait")
            if tr in traits:
                z = traits[tr]
            elif tr == "fitness":
                z = f
            elif tr in attrs and attrs[tr].ndim == 1:
                z = attrs[tr].astype(np.float64)
            else:
                raise ScenarioError(
                    f"{s.key('trait')} = {tr!r}: expected a trait of [traits] {sorted(traits)} "
                    f"or a node attribute {sorted(attrs)}"
                )
            v = s.float("value")
            mask = z >= v if rule == "trait_at_least" else z == v
        elif rule == "locked":
            if "locked" not in attrs:
                raise ScenarioError(f"{t.key(name)}: rule 'locked' needs a [locking] table")
            mask = attrs["locked"].astype(bool)
        elif rule == "attr":
            a = s.str("name")
            if a not in attrs or attrs[a].dtype != bool:
                bools = sorted(k for k, v in attrs.items() if v.dtype == bool)
                raise ScenarioError(f"{s.key('name')} = {a!r}: expected a boolean node attribute {bools}")
            mask = attrs[a]
        else:  # nodes
            raw = s.raw("nodes")
            if not isinstance(raw, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < g.n for i in raw
            ):
                raise ScenarioError(f"{s.key('nodes')} = {_short(raw)}: expected a list of program indices in [0, {g.n})")
            mask = np.zeros(g.n, dtype=bool)
            mask[raw] = True
        out[name] = np.asarray(mask, dtype=bool)
    return out


# ---------------------------------------------------------------------- loading
def parse_set(text: str) -> tuple[str, Any]:
    """Split one ``--set KEY=VALUE`` into a dotted key and a TOML value.

    ``VALUE`` is read as a TOML value (``0.1``, ``true``, ``"a b"``,
    ``[0.1, 0.2]``, ``{rule = "near_max", eps = 0.5}``); text that is not valid
    TOML is taken as a string, so ``--set fitness.mode=objective`` needs no quotes.

    Examples
    --------
    >>> parse_set("graph.depth=4"), parse_set("fitness.mode=objective"), parse_set("eta=[0.1,0.2]")
    (('graph.depth', 4), ('fitness.mode', 'objective'), ('eta', [0.1, 0.2]))
    """
    import tomllib

    key, sep, value = str(text).partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. --set graph.depth=4")
    _split_key(key, f"--set {text!r}")
    value = value.strip()
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def _split_key(key: str, where: str) -> list[str]:
    parts = key.split(".")
    if not all(p.strip() for p in parts):
        raise ScenarioError(f"{where}: expected a dotted key such as graph.depth, got {key!r}")
    return [p.strip() for p in parts]


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of scenario data with dotted keys set (``{"graph.depth": 4}``).

    Intermediate tables are created when missing; a key that descends into a
    value that is not a table is refused. The result is validated by
    :func:`load_scenario` like any file, which refuses unknown keys.

    Examples
    --------
    >>> apply_overrides({"graph": {"kind": "chain"}}, {"graph.length": 3, "locking.eta": 0.5})
    {'graph': {'kind': 'chain', 'length': 3}, 'locking': {'eta': 0.5}}
    """
    import copy

    out = copy.deepcopy(dict(data))
    for key, value in overrides.items():
        parts = _split_key(str(key), f"--set {key}")
        node: dict[str, Any] = out
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ScenarioError(
                    f"--set {key}: {where} = {_short(child)} is a value, not a table; expected a key such as "
                    f"{where}=VALUE"
                )
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return out


def _naming_overrides(exc: ScenarioError, overrides: Mapping[str, Any]) -> ScenarioError:
    """The error of a scenario with overrides, saying which ``--set`` it came from."""
    text = str(exc)
    for key, value in overrides.items():
        parts = str(key).split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        head = text.split(":", 1)[0].split(" ", 1)[0]
        if head in prefixes:
            return ScenarioError(f"--set {key}={_short(value)}: {text}")
    sets = ", ".join(f"{k}={_short(v)}" for k, v in overrides.items())
    return ScenarioError(f"{text} (with --set {sets})")


def _other_kind(data: Mapping[str, Any], default_name: str) -> Any:
    """The scenario of another kind (:data:`SCENARIO_KINDS`), or ``None`` for a graph run."""
    s = data.get("scenario")
    if not isinstance(s, Mapping) or "kind" not in s:
        return None
    kind = s["kind"]
    if not isinstance(kind, str) or kind not in SCENARIO_KINDS:
        raise ScenarioError(
            f"scenario.kind = {_short(kind)}: unknown scenario kind; expected one of {list(SCENARIO_KINDS)} "
            "(or no kind for a graph run)"
        )
    import importlib

    module, func = SCENARIO_KINDS[kind].split(":")
    return getattr(importlib.import_module(module), func)(data, default_name)


def load_scenario(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """Read, validate and build a scenario.

    Parameters
    ----------
    source : path or mapping
        A TOML file (read with :mod:`tomllib`, never evaluated) or the same
        data as a dict.
    name : str, optional
        Default name when ``[scenario] name`` is absent (default: the file's
        stem, or ``"scenario"`` for a dict).
    overrides : dict, optional
        Dotted key -> value set on top of the file before validation
        (``{"graph.depth": 4}``; what ``aievo run --set graph.depth=4`` does,
        see :func:`apply_overrides`). An error in an overridden key names the
        ``--set`` it came from.

    Returns
    -------
    Scenario
        Or, for a file with ``[scenario] kind`` (one of :data:`SCENARIO_KINDS`),
        the scenario object of that kind (``kind = "evolving_mesa"``:
        :class:`aievo.evolving.experiment.EvolvingMesaScenario`).

    Raises
    ------
    ScenarioError
        For an unreadable file, an unknown, missing or ill-typed key, or a graph
        the engine refuses; the message names the key (``graph.depth``) and
        what was expected.

    Examples
    --------
    >>> import aievo as ae
    >>> sc = ae.load_scenario({"scenario": {"generations": 5},
    ...                        "graph": {"kind": "chain", "fitness": [1.0, 2.0]}})
    >>> sc.graph.n, sc.generations
    (2, 5)
    """

    if isinstance(source, Mapping):
        data = dict(source)
        default_name = name or "scenario"
    else:
        import tomllib

        path = Path(source)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ScenarioError(f"scenario file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{path}: not a UTF-8 text file ({exc}): expected TOML") from None
        except OSError as exc:
            raise ScenarioError(f"scenario file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
        default_name = name or path.stem
    if not overrides:
        return _load_data(data, default_name, {})
    data = apply_overrides(data, overrides)
    try:
        return _load_data(data, default_name, dict(overrides))
    except ScenarioError as exc:
        raise _naming_overrides(exc, overrides) from None


def _load_data(data: dict[str, Any], default_name: str, overrides: dict[str, Any]) -> Scenario:
    """Validate scenario data and build its graph (:func:`load_scenario` after reading)."""
    import numpy as np

    other = _other_kind(data, default_name)
    if other is not None:
        return other
    top = _Table(data, "", tuple(k + "*" if k in ("scenario", "graph") else k for k in _TOP))

    s = top.table("scenario", _SCENARIO_KEYS)
    sc_name = s.str("name", default_name)
    description = s.str("description", "")
    generations = s.int("generations", lo=0)
    population = s.int("population", None, lo=1)
    seed = s.int("seed", None, lo=0)
    if seed is not None and population is None:
        raise ScenarioError("scenario.seed: only meaningful with scenario.population (a finite population)")

    graph_raw = top.raw("graph")
    head = _Table(graph_raw, "graph", None)
    kind = head.str("kind", choices=GRAPH_KINDS)
    gt = _Table(graph_raw, "graph", ("kind*",) + GRAPH_KINDS[kind])
    has_fitness = top.has("fitness")
    if kind == "trait_grid" and not has_fitness:
        raise ScenarioError(
            "fitness: missing; a trait_grid has no fitness of its own (every program would have fitness 1, "
            "neutral evolution): add a [fitness] table deriving it from the traits c and d"
        )
    g = _build_graph(gt, has_fitness)

    # traits are attached to the base graph so that locking copies them
    traits = _traits(top.table("traits", None), g) if top.has("traits") else {}

    if has_fitness:
        ft = top.table("fitness", _FITNESS_KEYS)
        mode = ft.str("mode", choices=FITNESS_MODES)
        attrs = g.attrs

        def trait(key: str) -> np.ndarray:
            tn = ft.str(key)
            if tn in traits:
                return traits[tn]
            if tn in attrs and attrs[tn].ndim == 1:
                return attrs[tn].astype(np.float64)
            raise ScenarioError(
                f"{ft.key(key)} = {tn!r}: expected a trait of [traits] {sorted(traits)} "
                f"or a node attribute {sorted(attrs)}"
            )

        from .traits import human_judged_fitness, objective_fitness

        c = trait("capability")
        base = ft.float("base", 1.0)
        slope = ft.float("slope", 1.0, check=(lambda x: x > 0, "a number > 0 (phi must be increasing)"))

        def phi(s: np.ndarray) -> np.ndarray:
            return base + slope * s

        if mode == "human_judged":
            if not ft.has("deception"):
                raise ScenarioError("fitness.deception: missing; human_judged fitness needs a deception trait")
            d = trait("deception")
            f_new = _wrap("fitness", lambda: human_judged_fitness(c, d, phi))
        else:
            f_new = _wrap("fitness", lambda: objective_fitness(c, phi))
        g = _wrap("fitness", lambda: g.with_fitness(f_new))
        if kind == "type_graph" and gt.has("fitness"):
            raise ScenarioError("graph.fitness: not allowed together with a [fitness] table (fitness comes from traits)")
    if traits:
        g = g.with_attrs(**{f"trait:{k}": v for k, v in traits.items()})

    if kind == "type_graph" and gt.has("unfold"):
        depth = gt.int("unfold", lo=0)
        g = _wrap("graph.unfold", lambda: __import__("aievo.trees", fromlist=["unfold"]).unfold(g, depth))

    if top.has("locking") and top.has("preservation"):
        raise ScenarioError("preservation: not allowed together with [locking]; choose one")
    from .locking import with_locking, with_preservation

    for table, fn in (("locking", with_locking), ("preservation", with_preservation)):
        if top.has(table):
            lt = top.table(table, _ETA_KEYS)
            eta = lt.float("eta", check=(lambda x: 0 < x <= 1, "a number in (0, 1]"))
            g = _wrap(table, partial(fn, g, eta))

    attrs = g.attrs
    traits = {k: attrs[f"trait:{k}"].astype(np.float64) for k in traits}
    sets = _sets(top.table("sets", None), g, traits) if top.has("sets") else {}

    initial: Any = None
    if s.has("initial"):
        raw = s.raw("initial")
        if isinstance(raw, int) and not isinstance(raw, bool):
            if not 0 <= raw < g.n:
                raise ScenarioError(f"scenario.initial = {raw}: expected a program index in [0, {g.n})")
            initial = raw
        else:
            initial = _numbers(raw, "scenario.initial", g.n)
            if abs(sum(initial) - 1.0) > 1e-9 or min(initial) < 0:
                raise ScenarioError("scenario.initial: expected non-negative shares summing to 1")

    payoff, evaluator = _state_laws(top, g, traits, population)

    o = top.table("output", _OUTPUT_KEYS) if top.has("output") else _Table({}, "output", _OUTPUT_KEYS)
    if "/" in sc_name or "\\" in sc_name or sc_name in ("", ".", "..") or "\x00" in sc_name:
        raise ScenarioError(
            f"scenario.name = {_short(sc_name)}: expected a name without '/' or '\\' (it names the output files)"
        )
    traj = _output_name(o, "trajectory", f"{sc_name}.npz")
    plot = _output_name(o, "plot", f"{sc_name}.png")
    default_what = ["mean_fitness"] + [f"set:{k}" for k in sets] + [f"trait:{k}" for k in traits]
    what = o.raw("plot_what", default_what)
    allowed_what = ["mean_fitness", "growth_rate"] + [f"trait:{k}" for k in traits] + [f"set:{k}" for k in sets]
    if evaluator is not None:
        allowed_what.append("trait:detection")
    if not isinstance(what, list) or not what or any(w not in allowed_what for w in what):
        raise ScenarioError(f"output.plot_what = {_short(what)}: expected a non-empty list drawn from {allowed_what}")
    rec = o.raw("record_shares", [])
    if not isinstance(rec, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= generations for x in rec
    ):
        raise ScenarioError(f"output.record_shares = {_short(rec)}: expected a list of times in [0, {generations}]")

    return Scenario(
        name=sc_name,
        description=description,
        graph=g,
        generations=generations,
        initial=initial,
        traits=traits,
        sets=sets,
        population=population,
        seed=seed,
        record_shares=list(rec),
        trajectory_path=traj,
        plot_path=plot,
        plot_what=tuple(what),
        config=data,
        payoff=payoff,
        evaluator=evaluator,
        overrides=overrides,
    )


def _output_name(o: _Table, key: str, default: str) -> str | None:
    """An output file name of a scenario: a relative path that stays inside the output directory."""
    value = o.str(key, default)
    if not value:
        return None
    _inside(value, o.key(key))
    if key == "plot" and Path(value).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ScenarioError(f"{o.key(key)} = {_short(value)}: expected a file name ending in .png, .pdf or .svg")
    return value


def _inside(name: str, key: str) -> Path:
    """Refuse an output name that is absolute or climbs out of the output directory."""
    p = Path(name)
    if "\x00" in name or p.is_absolute() or p.drive or ".." in p.parts or name.startswith("~"):
        raise ScenarioError(
            f"{key} = {_short(name)}: expected a relative path inside the output directory "
            "(no absolute paths, no '..'); choose the directory with --out"
        )
    return p


def _state_laws(
    top: _Table, g: "DesignGraph", traits: Mapping[str, "np.ndarray"], population: int | None
) -> tuple[Any, Any]:
    """The optional ``[payoff]`` and ``[evaluator]`` tables (state-dependent fitness, aievo.state)."""
    import numpy as np

    from .state import LearningEvaluator, Payoff

    payoff = evaluator = None
    for table in ("payoff", "evaluator"):
        if top.has(table) and population is not None:
            raise ScenarioError(f"{table}: not allowed with scenario.population (state-dependent fitness is deterministic)")
    if top.has("payoff"):
        pt = top.table("payoff", _PAYOFF_KEYS)
        A = _matrix(pt, "matrix")
        if pt.has("groups") and pt.has("group_by"):
            raise ScenarioError("payoff.group_by: not allowed together with payoff.groups; choose one")
        groups = None
        if pt.has("groups"):
            raw = pt.raw("groups")
            if not isinstance(raw, list) or len(raw) != g.n or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 <= i < A.shape[0] for i in raw
            ):
                raise ScenarioError(
                    f"payoff.groups = {_short(raw)}: expected a list of {g.n} group indices in [0, {A.shape[0]})"
                )
            groups = np.array(raw, dtype=np.int64)
        elif pt.has("group_by"):
            name = pt.str("group_by")
            attrs = g.attrs
            a = attrs.get(name)
            if a is None or a.ndim != 1 or a.dtype.kind not in "iub" or a.min() < 0 or a.max() >= A.shape[0]:
                ints = sorted(k for k, v in attrs.items() if v.ndim == 1 and v.dtype.kind in "iub")
                raise ScenarioError(
                    f"payoff.group_by = {name!r}: expected an integer node attribute with values in "
                    f"[0, {A.shape[0]}) (integer attributes: {ints})"
                )
            groups = a.astype(np.int64)
        elif A.shape[0] != g.n:
            raise ScenarioError(
                f"payoff.matrix is {A.shape[0]} x {A.shape[0]}: expected {g.n} x {g.n} (one row per program, "
                "locked copies included) or payoff.groups / payoff.group_by"
            )
        payoff = Payoff(A, groups)
    if top.has("evaluator"):
        et = top.table("evaluator", _EVALUATOR_KEYS)
        name = et.str("deception", "d")
        if name in traits and f"trait:{name}" in g.attrs:
            d = f"trait:{name}"  # the trait's node attribute (copied to locked copies)
        elif name in g.attrs and g.attrs[name].ndim == 1:
            d = name
        else:
            raise ScenarioError(
                f"evaluator.deception = {name!r}: expected a trait of [traits] {sorted(traits)} "
                f"or a node attribute {sorted(g.attrs)}"
            )
        evaluator = _wrap("evaluator", lambda: LearningEvaluator(
            rate=et.float("rate"), sensitivity=et.float("sensitivity"), penalty=et.float("penalty", 0.0),
            p0=et.float("p0", 0.0), deception=d,
        ))
        _wrap("evaluator.deception", lambda: evaluator.deception_vector(g))
    return payoff, evaluator


# ---------------------------------------------------------------------- running
def write_outputs(scenario: Scenario, trajectory: "Trajectory", out: str | os.PathLike = ".") -> list[Path]:
    """Write the trajectory (``.npz`` + JSON) and its plot (PNG) into directory ``out``.

    Output names are relative paths inside ``out`` (absolute names and ``..``
    are refused with :class:`~aievo.errors.ScenarioError`: a scenario file never
    writes outside the directory chosen by whoever runs it). Every file is
    written atomically. Returns the paths written.
    """
    out_dir = Path(out)
    written: list[Path] = []
    if scenario.trajectory_path:
        written.append(Path(trajectory.save(_target(out_dir, scenario.trajectory_path, "output.trajectory"))))
    if scenario.plot_path:
        written.append(_plot(scenario, trajectory, _target(out_dir, scenario.plot_path, "output.plot")))
    return written


def _target(out_dir: Path, name: str, key: str) -> Path:
    path = out_dir / _inside(name, key)
    try:
        inside = path.resolve().is_relative_to(out_dir.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:  # a symbolic link inside out pointing elsewhere
        raise ScenarioError(f"{key} = {_short(name)}: resolves outside the output directory {str(out_dir)!r}")
    return path


def _plot(scenario: Scenario, tr: "Trajectory", path: Path) -> Path:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo"):
        import matplotlib.pyplot as plt

        plt.switch_backend("Agg")
    import matplotlib.pyplot as plt

    k = len(scenario.plot_what)
    fig, axes = plt.subplots(k, 1, figsize=(6.5, 1.2 + 2.3 * k), sharex=True, layout="constrained", squeeze=False)
    for ax, what in zip(axes[:, 0], scenario.plot_what):
        tr.plot(ax, what=what, color="C0", lw=1.8)
        ax.grid(alpha=0.3)
        if what == "mean_fitness":
            F = scenario.graph.F_star
            ax.axhline(F, color="0.4", ls="--", lw=1, label=f"$F^*$ = {F:.4g}")
            ax.legend(loc="best", fontsize=9)
        if what.startswith("set:"):
            ax.set_ylim(-0.03, 1.03)
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    kind = scenario.config.get("graph", {}).get("kind", "?")
    mod = ""
    for table in ("locking", "preservation"):
        if table in scenario.config:
            mod = f", {table} eta = {scenario.config[table]['eta']}"
    pop = f", K = {scenario.population}" if scenario.population else ""
    fig.suptitle(f"{scenario.name}\n({kind}, {scenario.graph.n} programs{mod}{pop})", fontsize=11)
    from .io import atomic_savefig

    try:
        atomic_savefig(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return path


def run_scenario(
    scenario: Scenario | str | os.PathLike | Mapping[str, Any], *, out: str | os.PathLike | None = None
) -> "Trajectory":
    """Run a scenario; with ``out`` also write its trajectory and plot there.

    Parameters
    ----------
    scenario : Scenario, path or mapping
        A :class:`Scenario` or anything :func:`load_scenario` accepts.
    out : path, optional
        Output directory; nothing is written when omitted.

    Returns
    -------
    Trajectory
        (For a scenario of another kind, :data:`SCENARIO_KINDS`, that kind's result.)
    """
    other = not isinstance(scenario, Scenario) and hasattr(scenario, "cli")  # loaded from SCENARIO_KINDS
    sc: Any = scenario if isinstance(scenario, Scenario) or other else load_scenario(scenario)
    if not isinstance(sc, Scenario):  # another kind (SCENARIO_KINDS) runs and writes itself
        return sc.run(out=out)
    tr = sc.run()
    if out is not None:
        write_outputs(sc, tr, out)
    return tr


def headline(result: Any) -> dict[str, Any]:
    """The few numbers that sum up a scenario's run: one row of a sweep's summary table.

    Parameters
    ----------
    result : Trajectory or ExperimentResult
        What :func:`run_scenario` returned (a graph run, or a scenario of
        another kind, :data:`SCENARIO_KINDS`).

    Returns
    -------
    dict
        For a :class:`~aievo.Trajectory` of ``T`` generations: ``F_T`` (final
        mean fitness), ``growth`` (``log N_T / T``, when ``T > 0``),
        ``dominant`` (the program with the largest final share) and
        ``dominant_share``, then ``mean <trait>`` and ``share <set>`` at ``T``.
        For an ``evolving_mesa`` result, per evaluator (``human_judged``,
        ``objective``): final mean fitness, capability, deception and the
        dominant learner's name.

    Examples
    --------
    >>> import aievo as ae
    >>> tr = ae.run_scenario({"scenario": {"generations": 3},
    ...                       "graph": {"kind": "chain", "fitness": [1.0, 2.0]}})
    >>> h = headline(tr)  # F_0, F_1, F_2 = 1, 2, 2: growth = log(1 * 2 * 2) / 3
    >>> h["F_T"], round(h["growth"], 6), h["dominant"], h["dominant_share"]
    (2.0, 0.462098, 1, 1.0)
    """
    import numpy as np

    from .dynamics import Trajectory

    if isinstance(result, Trajectory):
        out: dict[str, Any] = {"F_T": float(result.mean_fitness[-1])}
        if result.generations > 0:
            out["growth"] = float(result.growth_rate[-1])
        dom = int(np.argmax(result.shares))
        out["dominant"] = dom
        out["dominant_share"] = float(result.shares[dom])
        out.update({f"mean {k}": float(v[-1]) for k, v in result.trait_means.items()})
        out.update({f"share {k}": float(v[-1]) for k, v in result.set_shares.items()})
        return out
    runs = getattr(result, "runs", None)
    space = getattr(result, "space", None)
    if isinstance(runs, Mapping) and space is not None:  # aievo.evolving ExperimentResult
        out = {}
        for name, r in runs.items():
            out[f"{name} F_T"] = float(r.trajectory.mean_fitness[-1])
            out[f"{name} capability"] = r.final("capability")
            out[f"{name} deception"] = r.final("deception")
            out[f"{name} dominant"] = space.learners[r.dominant].name
        return out
    raise bad_argument(
        ScenarioError, "result", result, "a Trajectory or an evolving_mesa ExperimentResult (what run_scenario returns)"
    )


def summary(scenario: Scenario, tr: "Trajectory") -> str:
    """A short text summary of a run: final mean fitness, growth rate, trait means, set shares."""
    G = tr.generations
    rows: list[tuple[str, str]] = [("generations", f"{G}" + (f" (finite population K = {scenario.population})" if scenario.population else ""))]
    rows.append(("F*", f"{scenario.graph.F_star:.6g}"))
    rows.append((f"F_0 -> F_{G}", f"{tr.mean_fitness[0]:.6g} -> {tr.mean_fitness[-1]:.6g}"))
    if G > 0:
        rows.append(("log N_t / t", f"{tr.growth_rate[-1]:.6g}"))
    for k, v in tr.trait_means.items():
        rows.append((f"mean {k}", f"{v[0]:.6g} -> {v[-1]:.6g}"))
    for k, v in tr.set_shares.items():
        rows.append((f"share {k}", f"{v[0]:.6g} -> {v[-1]:.6g}"))
    if tr.extinct_at is not None:
        rows.append(("extinct at", f"generation {tr.extinct_at}"))
    width = max(len(a) for a, _ in rows)
    lines = [f"scenario {scenario.name!r}: {scenario.graph}"]
    if scenario.description:
        lines.append(f"  {scenario.description.strip()}")
    if scenario.overrides:
        lines.append(f"  {_overrides_text(scenario.overrides)}")
    lines += [f"  {a:<{width}s}  {b}" for a, b in rows]
    return "\n".join(lines)


def _overrides_text(overrides: Mapping[str, Any]) -> str:
    import json

    return "overrides: " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in overrides.items())


# ---------------------------------------------------------------------- command line
def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aievo run``."""
    parser.epilog = (
        "A scenario file is TOML data with tables [scenario] (generations, ...), [graph] (kind and its "
        "parameters), optional [fitness], [traits], [locking] or [preservation], [sets] and [output]. "
        "Unknown keys are errors. Every key: docs/howto/scenario_files.md; examples: examples/scenarios/."
    )
    parser.add_argument("scenario", help="scenario file (TOML)")
    parser.add_argument("--out", default=".", help="output directory (default: the current directory)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a key of the file (repeatable): dotted for tables (--set graph.depth=4), the value "
        "read as TOML (numbers, true/false, [lists], \"strings\"; a bare word is a string)",
    )


def run(args: argparse.Namespace) -> int:
    """``aievo run SCENARIO.toml [--out DIR] [--set KEY=VALUE ...]``: run, save trajectory and plot, print a summary."""
    overrides = dict(parse_set(text) for text in getattr(args, "overrides", []))
    sc = load_scenario(args.scenario, overrides=overrides)
    if not isinstance(sc, Scenario):  # another kind (SCENARIO_KINDS)
        if overrides:
            print(f"scenario {sc.name!r} {_overrides_text(overrides)}")
        return sc.cli(args)
    if args.no_plot:
        from dataclasses import replace

        sc = replace(sc, plot_path=None)
    tr = sc.run()
    written = write_outputs(sc, tr, args.out)
    print(summary(sc, tr))
    for p in written:
        print(f"  wrote {p}")
    return 0
