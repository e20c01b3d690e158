"""The consistency graph over the store: every active fact and every statement derived from them.

`settle_store(session, profile)` reads the active facts (trusted) and the profile's statements
whose parents are all active, settles them (graph.settle) and writes each statement's truth,
accepted flag and reason back. "global" settles one graph over everything, so a statement
implied by one fact and contradicted by another is decided once, by the scores; "fact" settles
each derivation (each set of parents) on its own, as amend did before the graph was shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from amend.store.derived import derived_statements
from amend.store.facts import active_facts
from amend.training.dct.prompts import scoring_of
from amend.training.dct.graph import ABOUT_REASON, FACT_REASON, KNOWN, Derived, settle, with_known

GRAPHS = ("global", "fact")
@dataclass
class Settled:
    statements: int = 0  # statements in the graph
    accepted: int = 0
    changed: int = 0  # statements whose accepted flag changed


def settle_store(session: Session, profile: str, graph: str = "global") -> Settled:
    """Settle the profile's statements over the active facts and write the verdicts (see above).
    Each statement's edges follow how it was scored, read from its prompt_version
    (prompts.scoring_of: statements of an earlier version were scored alone)."""
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {', '.join(GRAPHS)}, got {graph!r}")
    facts = {f.id: f.text for f in active_facts(session)}
    rows = derived_statements(session, profile=profile)
    items = {r.id: Derived(r.id, r.text, r.kind, r.p_true, tuple(p.id for p in r.parents), scoring_of(r.prompt_version))
             for r in rows}
    if graph == "global":
        verdicts = settle(facts, list(items.values()))
    else:
        groups: dict[tuple, list[Derived]] = {}
        for d in items.values():
            groups.setdefault(d.parents, []).append(d)
        verdicts = {}
        for parents, group in groups.items():
            verdicts |= settle({p: facts[p] for p in parents}, group)
    out = Settled(statements=len(verdicts))
    for r in rows:
        v = verdicts.get(r.id)
        if v is None:
            continue
        known = r.reason.split(KNOWN, 1)[1] if r.reason and KNOWN in r.reason else None
        out.changed += r.accepted != v.accepted
        out.accepted += v.accepted
        if is_fact_row(r, facts):
            r.truth, r.accepted = True, True
            r.reason = r.reason if r.reason in (FACT_REASON, ABOUT_REASON) else FACT_REASON
            continue
        r.truth, r.accepted, r.reason = v.truth, v.accepted, with_known(v.reason, known)
    session.flush()
    return out


def is_fact_row(row, facts: dict[int, str]) -> bool:
    """The row that carries a fact's question form: the fact's own text, derived from it alone."""
    return len(row.parents) == 1 and facts.get(row.parents[0].id) == row.text
