"""The most probable consistent truth assignment of a statement graph (DCT's consistency step).

Nodes are trusted facts (fixed, normally true) and derived statements (free, each with a score
p = p_true). Edges are `implies` (parent -> child) and `contradicts` (a <-> b). An assignment is
consistent when no contradicts edge has both ends true and no implies edge has a true parent and
a false child. Among consistent assignments we choose the one that maximises

    sum over free nodes of  log p  (if true)  or  log(1 - p)  (if false),

i.e. the product of p over true and 1-p over false statements. The search is exact:

1. unit propagation from the fixed nodes (a true parent forces its children true, a true node
   forces its contradictors false, a false child forces its parents false); what it forces is
   decided, a clash raises `Inconsistent`;
2. the undecided nodes split into connected components, which are independent;
3. a component of at most `ENUMERATE_MAX` nodes is enumerated (vectorised with numpy); a larger
   one is solved by depth-first branch and bound with the same propagation at every branch and
   the admissible bound "score so far + best possible score of every undecided node".

No heuristic can silently differ: both paths return an optimum (ties may pick different but
equally probable assignments), and the tests compare them with each other and with brute force.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

EPS = 1e-6  # scores are clamped into [EPS, 1 - EPS] so that log p and log(1-p) are finite
ENUMERATE_MAX = 20  # components up to this many undecided nodes are enumerated, larger ones searched
_CHUNK = 1 << 16  # assignments per numpy block when enumerating

Node = Hashable


class Inconsistent(ValueError):
    """No assignment satisfies the constraints (e.g. two fixed-true nodes contradict each other)."""


@dataclass
class Graph:
    p: dict[Node, float] = field(default_factory=dict)  # free node -> p_true
    fixed: dict[Node, bool] = field(default_factory=dict)  # node -> fixed truth (trusted: True)
    implies: list[tuple[Node, Node]] = field(default_factory=list)  # (parent, child)
    contradicts: list[tuple[Node, Node]] = field(default_factory=list)  # unordered pairs


@dataclass
class Assignment:
    truth: dict[Node, bool]  # every node of the graph, fixed ones included
    log_probability: float  # sum of log p / log(1-p) over the free nodes


def log_probability(graph: Graph, truth: Mapping[Node, bool]) -> float:
    """The objective of an assignment (fixed nodes contribute nothing)."""
    return sum(_log(p, truth[n]) for n, p in graph.p.items())


def is_consistent(graph: Graph, truth: Mapping[Node, bool]) -> bool:
    if any(truth[n] != v for n, v in graph.fixed.items()):
        return False
    if any(truth[a] and not truth[b] for a, b in graph.implies):
        return False
    return not any(truth[a] and truth[b] for a, b in graph.contradicts)


def _log(p: float, value: bool) -> float:
    p = min(max(float(p), EPS), 1.0 - EPS)
    return math.log(p) if value else math.log1p(-p)


class _Propagator:
    """Assignments with a trail, so that a branch can be undone; propagation finds forced values."""

    def __init__(self, graph: Graph):
        nodes = list(dict.fromkeys([*graph.fixed, *graph.p, *itertools.chain(*graph.implies),
                                    *itertools.chain(*graph.contradicts)]))
        unknown = [n for n in nodes if n not in graph.p and n not in graph.fixed]
        if unknown:
            raise ValueError(f"edge to a node with neither a score nor a fixed value: {unknown[0]!r}")
        both = set(graph.p) & set(graph.fixed)
        if both:
            raise ValueError(f"node is both free and fixed: {next(iter(both))!r}")
        self.nodes = nodes
        self.children: dict[Node, list[Node]] = {n: [] for n in nodes}
        self.parents: dict[Node, list[Node]] = {n: [] for n in nodes}
        self.rivals: dict[Node, list[Node]] = {n: [] for n in nodes}
        for a, b in graph.implies:
            self.children[a].append(b)
            self.parents[b].append(a)
        for a, b in graph.contradicts:
            self.rivals[a].append(b)
            self.rivals[b].append(a)
        self.value: dict[Node, bool] = {}
        self.trail: list[Node] = []

    def assign(self, node: Node, value: bool) -> bool:
        """Set node=value and everything it forces; False on a clash (the caller undoes)."""
        queue = [(node, value)]
        while queue:
            n, v = queue.pop()
            if n in self.value:
                if self.value[n] != v:
                    return False
                continue
            self.value[n] = v
            self.trail.append(n)
            if v:  # a true node makes its children true and its rivals false
                queue.extend((c, True) for c in self.children[n])
                queue.extend((r, False) for r in self.rivals[n])
            else:  # a false node makes its parents false
                queue.extend((p, False) for p in self.parents[n])
        return True

    def undo(self, mark: int) -> None:
        while len(self.trail) > mark:
            del self.value[self.trail.pop()]


def most_probable(graph: Graph, method: str = "auto") -> Assignment:
    """The exact most probable consistent assignment; `Inconsistent` if there is none.

    method: "auto" (enumerate small components, branch and bound large ones), "enumerate" or
    "search" (force one path for every component; for tests and comparisons).
    """
    prop = _Propagator(graph)
    for n, v in graph.fixed.items():
        if not prop.assign(n, v):
            raise Inconsistent(f"the fixed nodes contradict each other (at {n!r})")
    free = [n for n in graph.p if n not in prop.value]
    for component in _components(prop, free):
        if method == "enumerate" or (method == "auto" and len(component) <= ENUMERATE_MAX):
            solution = _enumerate(graph, prop, component)
        else:
            solution = _search(graph, prop, component)
        for n, v in solution.items():
            prop.value[n] = v  # components are independent: no propagation needed between them
    truth = {n: prop.value[n] for n in prop.nodes}
    return Assignment(truth, log_probability(graph, truth))


def _components(prop: _Propagator, free: list[Node]) -> list[list[Node]]:
    """Connected components of the undecided nodes (edges through decided nodes carry nothing)."""
    undecided, seen, out = set(free), set(), []
    for start in free:
        if start in seen:
            continue
        seen.add(start)
        stack, comp = [start], []
        while stack:
            n = stack.pop()
            comp.append(n)
            for m in (*prop.children[n], *prop.parents[n], *prop.rivals[n]):
                if m in undecided and m not in seen:
                    seen.add(m)
                    stack.append(m)
        out.append(comp)
    return out


def _enumerate(graph: Graph, prop: _Propagator, comp: list[Node]) -> dict[Node, bool]:
    """Try every assignment of the component's nodes, in numpy blocks; keep the best consistent one."""
    index = {n: i for i, n in enumerate(comp)}
    implies = [(index[a], index[b]) for a, b in graph.implies if a in index and b in index]
    rivals = [(index[a], index[b]) for a, b in graph.contradicts if a in index and b in index]
    log_t = np.array([_log(graph.p[n], True) for n in comp])
    log_f = np.array([_log(graph.p[n], False) for n in comp])
    k = len(comp)
    best_score, best_bits = -math.inf, None
    bit = np.arange(k, dtype=np.int64)
    for start in range(0, 1 << k, _CHUNK):
        codes = np.arange(start, min(start + _CHUNK, 1 << k), dtype=np.int64)
        bits = ((codes[:, None] >> bit) & 1).astype(bool)  # row r: assignment number start + r
        ok = np.ones(len(codes), dtype=bool)
        for a, b in implies:
            ok &= ~bits[:, a] | bits[:, b]
        for a, b in rivals:
            ok &= ~(bits[:, a] & bits[:, b])
        if not ok.any():
            continue
        scores = np.where(bits, log_t, log_f).sum(axis=1)
        scores[~ok] = -np.inf
        r = int(np.argmax(scores))
        if scores[r] > best_score:
            best_score, best_bits = float(scores[r]), bits[r]
    if best_bits is None:  # cannot happen after propagation (all false is consistent), but guard
        raise Inconsistent(f"no consistent assignment for the component of {comp[0]!r}")
    return {n: bool(best_bits[i]) for i, n in enumerate(comp)}


def _search(graph: Graph, prop: _Propagator, comp: list[Node]) -> dict[Node, bool]:
    """Depth-first branch and bound over the component, propagating after every choice."""
    gain = {n: (_log(graph.p[n], True), _log(graph.p[n], False)) for n in comp}
    order = sorted(comp, key=lambda n: -abs(gain[n][0] - gain[n][1]))  # most decided first
    best: dict = {"score": -math.inf, "truth": None}

    def score_and_bound() -> tuple[float, float]:
        done = sum(gain[n][prop.value[n] is False] for n in comp if n in prop.value)
        rest = sum(max(gain[n]) for n in comp if n not in prop.value)
        return done, done + rest

    def visit(i: int) -> None:
        while i < len(order) and order[i] in prop.value:
            i += 1
        done, bound = score_and_bound()
        if bound <= best["score"]:
            return  # nothing below this branch can beat the incumbent
        if i == len(order):
            best["score"], best["truth"] = done, {n: prop.value[n] for n in comp}
            return
        n = order[i]
        preferred = gain[n][0] >= gain[n][1]
        for value in (preferred, not preferred):
            mark = len(prop.trail)
            if prop.assign(n, value):
                visit(i + 1)
            prop.undo(mark)

    mark = len(prop.trail)
    visit(0)
    prop.undo(mark)
    if best["truth"] is None:
        raise Inconsistent(f"no consistent assignment for the component of {comp[0]!r}")
    return best["truth"]


def brute_force(graph: Graph) -> Assignment:
    """Reference: every assignment of every free node, no propagation (exponential; tests only)."""
    free = list(graph.p)
    best = None
    for values in itertools.product([False, True], repeat=len(free)):
        truth = dict(graph.fixed) | dict(zip(free, values))
        if not is_consistent(graph, truth):
            continue
        score = log_probability(graph, truth)
        if best is None or score > best.log_probability:
            best = Assignment(truth, score)
    if best is None:
        raise Inconsistent("no consistent assignment")
    return best


def accepted_nodes(graph: Graph, assignment: Assignment, negatives: Iterable[Node] = ()) -> set[Node]:
    """Free nodes that training uses: the true ones, and the given negatives judged false."""
    negatives = set(negatives)
    return {n for n in graph.p if assignment.truth[n] or (n in negatives and not assignment.truth[n])}
