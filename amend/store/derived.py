"""Statements derived from facts (deductive closure): saved per set of parent facts and profile.

Saving a derivation replaces the statements derived earlier from exactly the same parents by the
same fact's derivation (its source) for the same profile, so re-deriving after an edit leaves no
stale statements behind, and deriving B never replaces what A's derivation made with B.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, selectinload

from amend.store.errors import StoreError
from amend.store.facts import get_fact
from amend.store.schema import STATEMENT_KINDS, DerivedStatement, Fact, statement_parents


def save_derivation(session: Session, parents: list[Fact | int], statements: list[dict], profile: str,
                    generator: str, prompt_version: str, source: Fact | int | None = None) -> list[DerivedStatement]:
    """Store statements (dicts with text, kind, question, p_true, truth, accepted and optionally
    answer, reason and prompt_version, which overrides the call's) derived from parents.

    parents are Facts (from any session) or fact ids; `source` is the one whose derivation made
    them (the others are its related facts), the first parent if not given.
    """
    if not parents:
        raise StoreError("a derived statement needs at least one parent fact")
    parent_ids = {p if isinstance(p, int) else p.id for p in parents}
    first = parents[0] if source is None else source
    source_id = first if isinstance(first, int) else first.id
    if source_id not in parent_ids:
        raise StoreError(f"the source of a derived statement (fact {source_id}) must be one of its parents")
    parents = [get_fact(session, i) for i in sorted(parent_ids)]  # this session's instances
    earlier = session.scalars(
        select(DerivedStatement)
        .join(statement_parents, statement_parents.c.statement_id == DerivedStatement.id)
        .where(DerivedStatement.profile == profile, statement_parents.c.fact_id.in_(parent_ids))
        .options(selectinload(DerivedStatement.parents))
        .distinct()
    ).all()
    stale = [s.id for s in earlier if {p.id for p in s.parents} == parent_ids  # the same parents, the same source
             and s.source_fact_id in (source_id, None)]
    if stale:
        session.execute(delete(DerivedStatement).where(DerivedStatement.id.in_(stale)))
        for s in earlier:
            if s.id in stale:
                session.expunge(s)

    saved = []
    for st in statements:
        if st["kind"] not in STATEMENT_KINDS:
            raise StoreError(f"unknown statement kind {st['kind']!r} (expected one of {', '.join(STATEMENT_KINDS)})")
        saved.append(DerivedStatement(
            text=st["text"], kind=st["kind"], question=st.get("question"), answer=st.get("answer"), p_true=float(st["p_true"]),
            truth=bool(st["truth"]), accepted=bool(st["accepted"]), generator=generator,
            prompt_version=st.get("prompt_version") or prompt_version, profile=profile, parents=list(parents), reason=st.get("reason"),
            source_fact_id=source_id,
        ))
    session.add_all(saved)
    session.flush()
    return saved


def statements_for(session: Session, fact_id: int) -> list[DerivedStatement]:
    """Every statement derived with this fact among its parents, oldest first."""
    return list(session.scalars(
        select(DerivedStatement)
        .where(DerivedStatement.parents.any(Fact.id == fact_id))
        .order_by(DerivedStatement.id)
    ))


def accepted_statements(session: Session, fact_ids: Iterable[int] | None = None, profile: str | None = None,
                        active_only: bool = True) -> list[DerivedStatement]:
    """Accepted statements, optionally only those with a parent among fact_ids or of one profile.

    active_only leaves out statements any of whose parents is no longer active.
    """
    return derived_statements(session, fact_ids, profile, active_only, accepted_only=True)


def derived_statements(session: Session, fact_ids: Iterable[int] | None = None, profile: str | None = None,
                       active_only: bool = True, accepted_only: bool = False) -> list[DerivedStatement]:
    """Derived statements (accepted or not unless accepted_only), filtered as accepted_statements."""
    query = select(DerivedStatement).order_by(DerivedStatement.id)
    if accepted_only:
        query = query.where(DerivedStatement.accepted.is_(True))
    if fact_ids is not None:
        query = query.where(DerivedStatement.parents.any(Fact.id.in_(list(fact_ids))))
    if profile is not None:
        query = query.where(DerivedStatement.profile == profile)
    if active_only:
        inactive_parent = (
            select(statement_parents.c.fact_id)
            .join(Fact, Fact.id == statement_parents.c.fact_id)
            .where(statement_parents.c.statement_id == DerivedStatement.id, Fact.status != "active")
        )
        query = query.where(~exists(inactive_parent))
    return list(session.scalars(query.options(selectinload(DerivedStatement.parents))))
