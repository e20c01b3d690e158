"""One consistency graph over trusted facts and the statements derived from them, and its verdicts.

`settle(facts, statements)` turns the user's facts (fixed true) and derived statements (from
one fact, or from every active fact in the store) into a `consistency.Graph`, solves it, and
gives every statement a truth value, whether training uses it (`accepted`) and the reason.

Nodes meet by what they say (`parse.claim`: content words and negation): statements that make
the same claim, from one fact or from several, are one node, so nothing is trained both ways; a
statement that makes a fact's claim *is* that fact's node (fixed true); two claims that differ
only by a negation are joined by a hard contradiction edge. The edges from the facts carry the
scores (`scoring`):

- "conditioned" (default): a statement's p_true was scored given its parent facts ("given
  these facts, is this true?"; for a contradiction "can both be true?"). An implication or
  correlative is a soft edge parents -> statement that holds with p_true; a contradiction is a
  soft edge fact -x- statement that holds with 1 - p_true. Free nodes lean false (prior
  `UNSUPPORTED`): a statement is true when its support outweighs what speaks against it.
- "prior" (DCT in the update setting, amend before this graph): p_true is the model's own belief
  in the statement alone, each node's prior; the edges from trusted facts are hard, so facts fix
  implications true and contradictions false whatever the scores say.

accepted: an implication or correlative that is true; a contradiction that is false because of
its own (real) contradiction edge, trained as a negative example.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from amend.training.dct.consistency import Graph, most_probable
from amend.training.dct.parse import claim

FACT_REASON = "the fact itself: its question form"  # the row that carries a fact's question form
ABOUT_REASON = "the fact itself: a question that names its subject"  # its second, where the first is reversed
KNOWN = "; combined with what the model knows: "  # a composition's reason ends with this and the known fact
UNSUPPORTED = 0.499  # prior of a free node under "conditioned": without support it is false
SCORINGS = ("conditioned", "prior")
# "prior" edges from facts: all but hard (a price of about 14 nats), so that two facts whose
# statements clash still give an assignment (the priors then decide) instead of no answer
HARD = 1 - 1e-6


def with_known(reason: str, known: str | None) -> str:
    """A reason with the known fact a composed statement used (stored.py keeps it through settles)."""
    return reason + (KNOWN + known if known else "")


@dataclass(frozen=True)
class Derived:
    """One derived statement as the graph sees it."""

    id: Hashable  # the caller's key (a store row id, a list index)
    text: str
    kind: str  # implication | correlative | contradiction
    p_true: float  # see the module docstring: given the parents ("conditioned") or alone ("prior")
    parents: tuple[Hashable, ...]  # ids of the trusted facts it was derived from
    scoring: str | None = None  # how p_true was scored, "conditioned" or "prior" (None: settle's `scoring`)


@dataclass(frozen=True)
class Verdict:
    truth: bool  # in the most probable consistent assignment
    accepted: bool  # used for training
    reason: str  # why, in words


def settle(facts: Mapping[Hashable, str], statements: Sequence[Derived], scoring: str = "conditioned",
           name: Callable[[Hashable], str] | None = None) -> dict[Hashable, Verdict]:
    """Verdicts for `statements` (by id) given the trusted `facts` ({id: text}, all fixed true).

    Each statement's edges follow how it was scored (`Derived.scoring`, else `scoring`). A
    statement with a parent outside `facts` is left out. `name` writes a fact's id for reasons
    (default "fact #<id>").
    """
    if scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    name = name or (lambda fid: f"fact #{fid}")
    fact_node = {fid: ("fact", fid) for fid in facts}
    by_claim: dict[tuple, Hashable] = {}
    for fid, text in facts.items():
        by_claim.setdefault(claim(text), fact_node[fid])
    graph = Graph(fixed={n: True for n in fact_node.values()})
    node_of: dict[Hashable, Hashable] = {}
    priors: dict[Hashable, list[float]] = {}
    support: dict[Hashable, list[tuple[float | None, Derived]]] = {}  # node -> edges that make it true
    against: dict[Hashable, list[tuple[float | None, Derived]]] = {}  # node -> edges that make it false
    kept = [s for s in statements if s.parents and all(p in facts for p in s.parents)]
    for s in kept:
        key = claim(s.text)
        node = by_claim.setdefault(key, ("claim", key))
        node_of[s.id] = node
        conditioned = (s.scoring or scoring) == "conditioned"
        if node not in graph.fixed:
            priors.setdefault(node, []).append(UNSUPPORTED if conditioned else s.p_true)
        parents = [fact_node[p] for p in s.parents]
        if s.kind == "contradiction":
            p = 1.0 - s.p_true if conditioned else HARD
            graph.contradicts.append((parents[0], node, p))
            against.setdefault(node, []).append((p, s))
        else:
            p = s.p_true if conditioned else HARD
            graph.implies.append((parents[0] if len(parents) == 1 else frozenset(parents), node, p))
            support.setdefault(node, []).append((p, s))
    graph.p = {n: sum(v) / len(v) for n, v in priors.items()}
    # claims that differ only by a negation contradict each other (hard)
    nodes = list(graph.fixed) + list(graph.p)
    claims = {n: (n[1] if n[0] == "claim" else claim(facts[n[1]])) for n in nodes}
    index = {claims[n]: n for n in nodes}
    negations = []
    for n in nodes:
        stems, negated = claims[n]
        other = index.get((stems, not negated))
        if other is not None and negated and not (n in graph.fixed and other in graph.fixed):
            negations.append((n, other))  # (two trusted facts that deny each other: supersession's job)
    graph.contradicts += negations
    truth = most_probable(graph).truth
    denied = {b for a, b in negations if truth[a]} | {a for a, b in negations if truth[b]}
    context = _Context(truth, support, against, denied, name)
    return {s.id: _verdict(s, node_of[s.id], context, (s.scoring or scoring) == "conditioned") for s in kept}


@dataclass
class _Context:
    truth: dict
    support: dict
    against: dict
    denied: set  # nodes whose negation is true
    name: Callable[[Hashable], str]


def _verdict(s: Derived, node, c: _Context, conditioned: bool) -> Verdict:
    is_true, name = c.truth[node], c.name
    own = f"p {s.p_true:.2f}" if conditioned else f"p {s.p_true:.2f} alone: kept by its kind"
    parents = " and ".join(name(p) for p in s.parents)
    if node[0] == "fact":
        if s.kind == "contradiction":
            return Verdict(True, False, f"makes the claim of {name(node[1])}, which is trusted: not a negative")
        return Verdict(True, True, f"restates {name(node[1])}")
    rivals = [d for _, d in c.against.get(node, []) if d is not s]
    backers = [d for _, d in c.support.get(node, []) if d is not s]
    if s.kind == "contradiction":
        if is_true:
            why = ", ".join(f"{name(b.parents[0])} ({b.p_true:.2f})" for b in backers) or "another claim"
            return Verdict(True, False, f"implied by {why}, which outweighs the contradiction ({own})")
        if conditioned and s.p_true >= 0.5:
            return Verdict(False, False, f"not a contradiction of {parents}: both can be true ({own})")
        return Verdict(False, True, f"contradicts {parents} ({own}): a negative example")
    if is_true:
        extra = f"; also from {len(backers)} other derivation(s)" if backers else ""
        return Verdict(True, True, f"follows from {parents} ({own}){extra}")
    if node in c.denied:
        return Verdict(False, False, f"its negation is held ({own})")
    if rivals:
        why = ", ".join(name(r.parents[0]) + (f" ({1 - r.p_true:.2f} that both cannot hold)"
                                               if (r.scoring or "conditioned") == "conditioned" else "")
                        for r in rivals)
        return Verdict(False, False, f"contradicted by {why}, stronger than its support ({own})")
    return Verdict(False, False, f"does not follow from {parents} ({own})")
