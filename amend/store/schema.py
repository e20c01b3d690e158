"""The database schema: SQLAlchemy 2.0 typed models for facts, jobs, adapters and chats.

Every datetime is timezone-aware UTC (`UTCDateTime` stores naive UTC on SQLite, which keeps no
zone, and hands back aware values). Constraint names follow `metadata.naming_convention`, so
Alembic migrations can refer to them on every backend.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MAX_FACT_CHARS = 2000  # longer texts are refused (import and add alike)

FACT_STATUSES = ("active", "retracted", "superseded")
STATEMENT_KINDS = ("implication", "correlative", "contradiction")
JOB_STATUSES = ("pending", "running", "done", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """The form used for duplicate checks: lower case, whitespace collapsed, end punctuation off."""
    return _SPACE.sub(" ", text).strip().lower().rstrip(".!?;:, ").strip()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use amend.store.schema.utcnow()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Fact(Base):
    """A statement the user holds true (while active)."""

    __tablename__ = "facts"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    normalized: Mapped[str] = mapped_column(Text)  # see normalize(); unique among active facts
    source: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="active")  # no index: few distinct values
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("facts.id", ondelete="SET NULL"))
    status_reason: Mapped[str | None] = mapped_column(Text)  # why retracted or superseded
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    revisions: Mapped[list[FactRevision]] = relationship(
        back_populates="fact", order_by="FactRevision.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"Fact({self.id}, {self.text!r}, {self.status})"


class FactRevision(Base):
    """An earlier text of a fact, kept when the fact is edited."""

    __tablename__ = "fact_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    fact_id: Mapped[int] = mapped_column(ForeignKey("facts.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # when it was replaced

    fact: Mapped[Fact] = relationship(back_populates="revisions")


class FactEmbedding(Base):
    """A cached sentence vector of a fact (float32 bytes); text_hash marks it stale after an edit."""

    __tablename__ = "fact_embeddings"

    fact_id: Mapped[int] = mapped_column(ForeignKey("facts.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    text_hash: Mapped[str] = mapped_column(String(64))


statement_parents = Table(
    "statement_parents",
    Base.metadata,
    Column("statement_id", ForeignKey("derived_statements.id", ondelete="CASCADE"), primary_key=True),
    Column("fact_id", ForeignKey("facts.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class DerivedStatement(Base):
    """A statement the generator derived from one or more facts, with its truth score and verdict."""

    __tablename__ = "derived_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # implication | correlative | contradiction
    question: Mapped[str | None] = mapped_column(Text)  # its question form, for training
    answer: Mapped[str | None] = mapped_column(Text)  # the short answer to it: words of the text
    p_true: Mapped[float] = mapped_column(Float)  # the model's own p("true")
    truth: Mapped[bool] = mapped_column(Boolean)  # value in the consistent assignment
    accepted: Mapped[bool] = mapped_column(Boolean, index=True)  # used for training
    generator: Mapped[str] = mapped_column(String(200))  # model key that generated it
    prompt_version: Mapped[str] = mapped_column(String(50))
    profile: Mapped[str] = mapped_column(String(100), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected (or accepted), in words
    # the fact whose derivation made it (one of the parents; the others are its related facts);
    # NULL for statements stored before migration 0005
    source_fact_id: Mapped[int | None] = mapped_column(Integer, index=True)

    parents: Mapped[list[Fact]] = relationship(secondary=statement_parents, order_by="Fact.id")


class StatementEmbedding(Base):
    """A cached sentence vector of a derived statement's text or question form (the scope gate's
    items); text_hash marks it stale, the statement's deletion removes it."""

    __tablename__ = "statement_embeddings"

    statement_id: Mapped[int] = mapped_column(
        ForeignKey("derived_statements.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(String(16), primary_key=True)  # "text" or "question"
    model: Mapped[str] = mapped_column(String(200))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    text_hash: Mapped[str] = mapped_column(String(64))


class VectorChange(Base):
    """One change to an item that vector indexes hold (a fact or a derived statement), written by
    database triggers on every insert, update and delete (migration 0003): each index applies the
    changes after the seq it has seen (see amend/store/vectors.py)."""

    __tablename__ = "vector_changes"

    seq: Mapped[int] = mapped_column(primary_key=True)  # commit order (see the migration)
    kind: Mapped[str] = mapped_column(String(16))  # "fact" or "statement"
    item_id: Mapped[int] = mapped_column(Integer)  # the fact's or statement's id
    token: Mapped[int] = mapped_column(BigInteger)  # random: tells a rolled-back seq from its reuse


class VectorIndexState(Base):
    """A vector index kept in the database (a sqlite-vec or pgvector table named `name`): which
    collection and embedding model it holds and the last VectorChange.seq applied to it."""

    __tablename__ = "vector_indexes"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)  # the index table's name
    collection: Mapped[str] = mapped_column(String(32))  # "facts" (see vectors.COLLECTIONS)
    model: Mapped[str] = mapped_column(String(200))  # the embedding model's name
    dims: Mapped[int] = mapped_column(Integer)  # vector length
    backend: Mapped[str] = mapped_column(String(16))  # "sqlite-vec" or "pgvector"
    seq: Mapped[int] = mapped_column(BigInteger, default=0)  # changes up to here are in the index


class Job(Base):
    """Work for the worker: an update after a change to the facts."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="update")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0-1
    stage: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # {"fact_ids": [...], "change": ...}
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class TrainingRun(Base):
    """One LoRA training of the expert."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    profile: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="running")
    mode: Mapped[str] = mapped_column(String(16), default="incremental")  # incremental | unlearn | full
    steps: Mapped[int] = mapped_column(Integer, default=0)
    final_loss: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Adapter(Base):
    """A saved LoRA adapter version of a profile's expert; at most one active per profile."""

    __tablename__ = "adapters"
    __table_args__ = (UniqueConstraint("profile", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    profile: Mapped[str] = mapped_column(String(100), index=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    facts: Mapped[list] = mapped_column(JSON, default=list)  # ids of the facts it covers
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    training_run_id: Mapped[int | None] = mapped_column(ForeignKey("training_runs.id", ondelete="SET NULL"))


class ChatSession(Base):
    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    profile: Mapped[str] = mapped_column(String(100), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="session", order_by="ChatMessage.id", cascade="all, delete-orphan"
    )


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | system
    content: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    session: Mapped[ChatSession] = relationship(back_populates="messages")


# "status = 'active'" with the literal inlined, so SQLite can use the partial index below
# (a bound parameter in its place would not match the index's WHERE clause)
IS_ACTIVE = Fact.status == literal_column("'active'")

# no two active facts alike after normalize(): the duplicate check holds across processes too
Index(
    "uq_facts_normalized_active",
    Fact.normalized,
    unique=True,
    sqlite_where=text("status = 'active'"),
    postgresql_where=text("status = 'active'"),
)

# at most one active adapter per profile (a partial unique index; both backends support it)
Index(
    "uq_adapters_active_profile",
    Adapter.profile,
    unique=True,
    sqlite_where=text("active"),
    postgresql_where=text("active"),
)
