"""What the active expert was taught, as the scope gate and the context read it.

The scope gate (amend.assistant.scope) compares a question with everything the active adapter
was trained on: the active facts it covers and the accepted statements derived from them (their
texts and their question forms). This module gathers those rows with cached sentence vectors,
so an answer only embeds its question:

- fact vectors come from embeddings.fact_vectors (table fact_embeddings);
- statement vectors are cached here in statement_embeddings, one row per statement and field
  ("text", "question"), re-embedded when the text changes (text_hash) or the model does.

A fact counts as taught when the active adapter lists it and it has not changed since the
adapter was made; a retracted or edited fact leaves the scope at once, before any retraining.
numpy only: `embed` is handed in, as in related.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from amend.store.adapters import active_adapter
from amend.store.derived import accepted_statements
from amend.store.embeddings import Embed, fact_vectors, model_name, text_hash
from amend.store.schema import IS_ACTIVE, DerivedStatement, Fact, StatementEmbedding

FIELDS = ("text", "question")


def statement_vectors(session: Session, statements: Sequence[DerivedStatement], field_name: str, embed: Embed,
                      model: str | None = None) -> np.ndarray:
    """An (n, d) float32 matrix of unit vectors of each statement's `field_name` ("text" or
    "question"; a statement without a question uses its text), embedding only missing or stale ones."""
    if field_name not in FIELDS:
        raise ValueError(f"field must be one of {FIELDS}, got {field_name!r}")
    model = model or model_name(embed)
    if not statements:
        return np.zeros((0, 0), dtype=np.float32)
    texts = {s.id: (getattr(s, field_name) or s.text) for s in statements}
    cached = {e.statement_id: e for e in session.scalars(
        select(StatementEmbedding).where(StatementEmbedding.field == field_name,
                                         StatementEmbedding.statement_id.in_(list(texts))))}
    stale = [i for i, t in texts.items()
             if (e := cached.get(i)) is None or e.model != model or e.text_hash != text_hash(t)]
    if stale:
        fresh = np.asarray(embed([texts[i] for i in stale]), dtype=np.float32)
        for sid, vector in zip(stale, fresh):
            row = cached.get(sid)
            if row is None:
                row = cached[sid] = StatementEmbedding(statement_id=sid, field=field_name)
                session.add(row)
            row.model, row.vector, row.text_hash = model, vector.tobytes(), text_hash(texts[sid])
        session.flush()
    return np.stack([np.frombuffer(cached[s.id].vector, dtype=np.float32) for s in statements])


@dataclass
class Taught:
    """The active facts (all of them, for the context) and what the active adapter was taught."""

    state: tuple  # changes whenever any of the below may have changed (see knowledge_state)
    fact_ids: list[int] = field(default_factory=list)  # every active fact, by id
    fact_texts: list[str] = field(default_factory=list)
    fact_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    taught_facts: set[int] = field(default_factory=set)  # active facts the active adapter covers
    statements: list[str] = field(default_factory=list)  # accepted statements of taught facts
    questions: list[str] = field(default_factory=list)  # their question forms ("" if none)
    statement_parents: list[list[int]] = field(default_factory=list)  # fact ids of each statement
    statement_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    question_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    adapter_version: int | None = None


def knowledge_state(session: Session, profile: str) -> tuple:
    """A cheap fingerprint of the facts, the derived statements and the active adapter: two
    equal fingerprints mean `load_taught` would return the same thing."""
    facts = session.execute(select(func.count(Fact.id), func.max(Fact.updated)).where(IS_ACTIVE)).one()
    statements = session.execute(select(func.count(DerivedStatement.id), func.max(DerivedStatement.id))
                                 .where(DerivedStatement.profile == profile)).one()
    adapter = active_adapter(session, profile)
    return (tuple(facts), tuple(statements), adapter.id if adapter else None)


def load_taught(session: Session, profile: str, embed: Embed) -> Taught:
    """Everything the scope gate and the context need, with vectors (cached ones reused)."""
    state = knowledge_state(session, profile)
    facts = list(session.scalars(select(Fact).where(IS_ACTIVE).order_by(Fact.id)))
    adapter = active_adapter(session, profile)
    covered = set(adapter.facts or []) if adapter else set()
    taught = {f.id for f in facts if f.id in covered and f.updated <= adapter.created}
    out = Taught(state, [f.id for f in facts], [f.text for f in facts],
                 fact_vectors(session, facts, embed) if facts else np.zeros((0, 0), np.float32),
                 taught, adapter_version=adapter.version if adapter else None)
    statements = [s for s in accepted_statements(session, fact_ids=sorted(taught), profile=profile)
                  if {p.id for p in s.parents} <= taught] if taught else []
    if statements:
        out.statements = [s.text for s in statements]
        out.questions = [s.question or "" for s in statements]
        out.statement_parents = [[p.id for p in s.parents] for s in statements]
        out.statement_vectors = statement_vectors(session, statements, "text", embed)
        out.question_vectors = statement_vectors(session, statements, "question", embed)
    return out
