"""The most probable consistent truth assignment of a statement graph (DCT's consistency step).

Nodes are trusted facts (fixed, normally true) and derived statements (free). A free node may
carry a prior p (the factor p if true, 1-p if false). Edges:

- `implies` (parent, child[, p]): a true parent makes the child true. The parent may be a
  frozenset of nodes (all of them true: a correlative follows from two facts together);
- `contradicts` (a, b[, p]): a and b are not both true.

An edge without p is hard. An edge with p holds with probability p: it may be broken, at the
price log(p / (1-p)) when p > 1/2 (an edge with p <= 1/2 says nothing and is dropped). The
chosen assignment maximises

    sum over free nodes of log p (true) or log(1-p) (false)  -  sum of the prices of broken edges

under the hard edges. This is the MAP of a model in which every soft edge is kept with
probability p (a kept edge must hold): keeping it is worth max(log p, log(1-p)) - log(1-p) over
breaking it. So a weakly scored implication can be rejected and a strongly scored one wins over a
rival that is only weakly contradicted. The search is exact:

1. unit propagation of the hard edges from the fixed nodes (what it forces is decided; a clash
   of fixed nodes raises `Inconsistent`), and soft edges from decided nodes become priors;
2. the undecided nodes split into connected components, which are independent;
3. a component of at most `ENUMERATE_MAX` nodes is enumerated (numpy), a larger one goes to
   OR-Tools' CP-SAT as a weighted MaxSAT (scores scaled to integers, `SCALE`; optimal up to
   that rounding). Ties go to the assignment with fewer true nodes in the enumeration.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

EPS = 1e-6  # probabilities are clamped into [EPS, 1 - EPS] so that every log is finite
ENUMERATE_MAX = 16  # components up to this many undecided nodes are enumerated, larger ones solved
SCALE = 10_000  # CP-SAT needs integer weights: log-scores are multiplied by this and rounded
_CHUNK = 1 << 15  # assignments per numpy block when enumerating

Node = Hashable
Literal = tuple[Node, bool]  # (node, value) is satisfied when the node has that value


class Inconsistent(ValueError):
    """No assignment satisfies the hard edges (e.g. two fixed-true nodes contradict each other)."""


@dataclass
class Graph:
    p: dict[Node, float] = field(default_factory=dict)  # free node -> prior P(true)
    fixed: dict[Node, bool] = field(default_factory=dict)  # node -> fixed truth (trusted: True)
    implies: list[tuple] = field(default_factory=list)  # (parent or frozenset of parents, child[, p])
    contradicts: list[tuple] = field(default_factory=list)  # (a, b[, p]), unordered


@dataclass
class Assignment:
    truth: dict[Node, bool]  # every node of the graph, fixed ones included
    log_probability: float  # the objective: priors of the free nodes minus broken-edge prices


@dataclass
class _Clause:
    literals: list[Literal]  # satisfied when any literal is
    weight: float | None  # None: hard; else the price of violating it


def _log(p: float, value: bool) -> float:
    p = min(max(float(p), EPS), 1.0 - EPS)
    return math.log(p) if value else math.log1p(-p)


def edge_price(p: float | None) -> float | None:
    """What breaking an edge costs: None (hard) for no p, else max(0, log(p / (1-p)))."""
    if p is None:
        return None
    return max(0.0, _log(p, True) - _log(p, False))


def _clauses(graph: Graph) -> list[_Clause]:
    out = []
    for edge in graph.implies:
        parents, child, p = (*edge, None)[:3]
        parents = sorted(parents, key=repr) if isinstance(parents, frozenset) else [parents]
        out.append(_Clause([(n, False) for n in parents] + [(child, True)], edge_price(p)))
    for edge in graph.contradicts:
        a, b, p = (*edge, None)[:3]
        out.append(_Clause([(a, False), (b, False)], edge_price(p)))
    return [c for c in out if c.weight is None or c.weight > 0]


def _satisfied(clause: _Clause, truth: Mapping[Node, bool]) -> bool:
    return any(truth[n] == v for n, v in clause.literals)


def log_probability(graph: Graph, truth: Mapping[Node, bool]) -> float:
    """The objective of an assignment (fixed nodes contribute nothing; hard edges are not checked)."""
    score = sum(_log(p, truth[n]) for n, p in graph.p.items())
    return score - sum(c.weight for c in _clauses(graph) if c.weight is not None and not _satisfied(c, truth))


def is_consistent(graph: Graph, truth: Mapping[Node, bool]) -> bool:
    """Fixed values kept and every hard edge satisfied."""
    if any(truth[n] != v for n, v in graph.fixed.items()):
        return False
    return all(_satisfied(c, truth) for c in _clauses(graph) if c.weight is None)


def _check_nodes(graph: Graph, clauses: list[_Clause]) -> list[Node]:
    nodes = list(dict.fromkeys([*graph.fixed, *graph.p, *(n for c in clauses for n, _ in c.literals)]))
    unknown = [n for n in nodes if n not in graph.p and n not in graph.fixed]
    if unknown:
        raise ValueError(f"edge to a node with neither a score nor a fixed value: {unknown[0]!r}")
    both = set(graph.p) & set(graph.fixed)
    if both:
        raise ValueError(f"node is both free and fixed: {next(iter(both))!r}")
    return nodes


def _propagate(graph: Graph, hard: list[_Clause]) -> dict[Node, bool]:
    """Fixed values and everything the hard clauses force from them (unit propagation)."""
    value: dict[Node, bool] = {}
    watch: dict[Node, list[_Clause]] = {}
    for c in hard:
        for n, _ in c.literals:
            watch.setdefault(n, []).append(c)
    queue = list(graph.fixed.items())
    while queue:
        n, v = queue.pop()
        if n in value:
            if value[n] != v:
                raise Inconsistent(f"the fixed nodes and hard edges clash at {n!r}")
            continue
        value[n] = v
        for c in watch.get(n, []):
            if any(value.get(m) == w for m, w in c.literals):
                continue  # satisfied
            open_ = [(m, w) for m, w in c.literals if m not in value]
            if not open_:
                raise Inconsistent(f"the fixed nodes and hard edges clash at {n!r}")
            if len(open_) == 1:
                queue.append(open_[0])
    return value


def most_probable(graph: Graph, method: str = "auto") -> Assignment:
    """The exact most probable consistent assignment; `Inconsistent` if there is none.

    method: "auto" (enumerate small components, CP-SAT for large ones), "enumerate" or "solver"
    (one path for every component; for tests and comparisons).
    """
    clauses = _clauses(graph)
    nodes = _check_nodes(graph, clauses)
    value = _propagate(graph, [c for c in clauses if c.weight is None])
    free = [n for n in graph.p if n not in value]
    # clauses over the undecided nodes only: decided literals either satisfy a clause or drop out
    unary: dict[Node, float] = {n: _log(graph.p[n], True) - _log(graph.p[n], False) for n in free}
    local: list[_Clause] = []
    for c in clauses:
        if any(value.get(n) == v for n, v in c.literals):
            continue
        open_ = [(n, v) for n, v in c.literals if n not in value]
        if not open_:
            if c.weight is None:
                raise Inconsistent(f"hard edge violated by the fixed nodes at {c.literals[0][0]!r}")
            continue  # a broken soft edge whatever the free nodes do: a constant
        if len(open_) == 1 and c.weight is not None:
            n, v = open_[0]  # a soft edge on one node: a prior (violated when n != v)
            unary[n] += c.weight if v else -c.weight
            continue
        local.append(_Clause(open_, c.weight))
    for component, comp_clauses in _components(free, local):
        if method == "enumerate" or (method == "auto" and len(component) <= ENUMERATE_MAX):
            solution = _enumerate(component, comp_clauses, unary)
        else:
            solution = _solve(component, comp_clauses, unary)
        value.update(solution)
    truth = {n: value[n] for n in nodes}
    return Assignment(truth, log_probability(graph, truth))


def _components(free: list[Node], clauses: list[_Clause]) -> list[tuple[list[Node], list[_Clause]]]:
    """Connected components of the undecided nodes with their clauses (union-find)."""
    parent = {n: n for n in free}

    def find(n: Node) -> Node:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for c in clauses:
        first = find(c.literals[0][0])
        for n, _ in c.literals[1:]:
            root = find(n)
            if root != first:
                parent[root] = first
    groups: dict[Node, list[Node]] = {}
    for n in free:
        groups.setdefault(find(n), []).append(n)
    by_root: dict[Node, list[_Clause]] = {}
    for c in clauses:
        by_root.setdefault(find(c.literals[0][0]), []).append(c)
    return [(comp, by_root.get(root, [])) for root, comp in groups.items()]


def _enumerate(comp: list[Node], clauses: list[_Clause], unary: dict[Node, float]) -> dict[Node, bool]:
    """Try every assignment of the component, in numpy blocks; keep the best consistent one.
    Assignment codes count up from all-false, and argmax takes the first best: ties go false."""
    index = {n: i for i, n in enumerate(comp)}
    gain = np.array([unary[n] for n in comp])  # score of true over false, per node
    k = len(comp)
    if not clauses:  # independent nodes: each takes its better value
        return {n: bool(gain[i] > 0) for i, n in enumerate(comp)}
    best_score, best_bits = -math.inf, None
    bit = np.arange(k, dtype=np.int64)
    for start in range(0, 1 << k, _CHUNK):
        codes = np.arange(start, min(start + _CHUNK, 1 << k), dtype=np.int64)
        bits = ((codes[:, None] >> bit) & 1).astype(bool)  # row r: assignment number start + r
        scores = bits.astype(float) @ gain
        for c in clauses:
            sat = np.zeros(len(codes), dtype=bool)
            for n, v in c.literals:
                sat |= bits[:, index[n]] == v
            if c.weight is None:
                scores[~sat] = -np.inf
            else:
                scores -= c.weight * ~sat
        r = int(np.argmax(scores))
        if scores[r] > best_score:
            best_score, best_bits = float(scores[r]), bits[r]
    if best_bits is None:
        raise Inconsistent(f"no consistent assignment for the component of {comp[0]!r}")
    return {n: bool(best_bits[i]) for i, n in enumerate(comp)}


def _solve(comp: list[Node], clauses: list[_Clause], unary: dict[Node, float]) -> dict[Node, bool]:
    """The component as a weighted MaxSAT for OR-Tools CP-SAT (integer weights, `SCALE`)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x = {n: model.new_bool_var(f"x{i}") for i, n in enumerate(comp)}
    objective = [round(SCALE * unary[n]) * x[n] for n in comp]
    for j, c in enumerate(clauses):
        lits = [x[n] if v else x[n].Not() for n, v in c.literals]
        if c.weight is None:
            model.add_bool_or(lits)
        else:
            broken = model.new_bool_var(f"b{j}")
            model.add_bool_or([*lits, broken])
            objective.append(-round(SCALE * c.weight) * broken)
    model.maximize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # deterministic, and the machine is shared
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        raise Inconsistent(f"no consistent assignment for the component of {comp[0]!r}")
    if status != cp_model.OPTIMAL:
        raise RuntimeError(f"CP-SAT did not prove an optimum ({solver.status_name(status)})")
    return {n: bool(solver.value(x[n])) for n in comp}


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

