"""Fact operations: add, edit, retract, restore, supersede, look up.

Each change is written together with one pending update job in the caller's transaction, so a
change and the work it calls for are stored (or not) together. Texts are checked here once for
every face (CLI, TUI, import): valid Unicode, no NUL byte, not empty, at most 2,000 characters,
a word in it, and not equal after normalize() to another active fact. Sources are checked alike
(at most 500 characters). Control characters are kept: faces show them escaped (printable.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.orm import Session

from amend.store.errors import DuplicateFact, InvalidFact, NotFound, StoreError
from amend.store.jobs import enqueue_update
from amend.store.schema import IS_ACTIVE, MAX_FACT_CHARS, Fact, FactRevision, Job, normalize, utcnow

MAX_SOURCE_CHARS: int = Fact.__table__.c.source.type.length  # the column's width (500)
MAX_ID = 2**63 - 1  # the largest id a database integer holds; any other number names no fact
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_chars(what: str, value: str) -> None:
    """InvalidFact for what no database can store: lone surrogates (a byte that was not UTF-8,
    kept by Python as a surrogate escape, or a JSON \\ud800 escape) and NUL bytes."""
    bad = None if value.isascii() else _SURROGATE.search(value)
    if bad:
        code = ord(bad.group())
        if 0xDC80 <= code <= 0xDCFF:
            raise InvalidFact(f"{what} is not valid UTF-8 (byte 0x{code - 0xDC00:02X})")
        raise InvalidFact(f"{what} contains a lone surrogate (\\u{code:04x}), which is not valid Unicode")
    if "\x00" in value:
        raise InvalidFact(f"{what} contains a NUL byte")


def check_text(text: str) -> str:
    """The text stripped of surrounding whitespace, or InvalidFact saying what is wrong with it."""
    return checked(text)[0]


def checked(text: str) -> tuple[str, str]:
    """(stripped text, normalized text), or InvalidFact saying what is wrong with it."""
    _check_chars("fact", text)
    text = text.strip()
    if not text:
        raise InvalidFact("empty fact")
    if len(text) > MAX_FACT_CHARS:
        raise InvalidFact(f"fact is {len(text)} characters long (at most {MAX_FACT_CHARS})")
    norm = normalize(text)
    if not norm or not any(c.isalnum() for c in norm):
        raise InvalidFact("fact has no words, only punctuation")
    return text, norm


def check_source(source: str | None) -> str | None:
    """The source stripped (None if blank), or InvalidFact saying what is wrong with it."""
    if source is None:
        return None
    _check_chars("source", source)
    source = source.strip()
    if len(source) > MAX_SOURCE_CHARS:
        raise InvalidFact(f"source is {len(source)} characters long (at most {MAX_SOURCE_CHARS})")
    return source or None


FACTS_LOCK = 0x66616374  # "fact": PostgreSQL advisory lock id serializing writers of facts


def lock_facts(session: Session) -> None:
    """Serialize writers of facts until the transaction ends, so duplicate checks hold.

    SQLite already does (write transactions begin IMMEDIATE); PostgreSQL takes an advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FACTS_LOCK})


def find_active(session: Session, normalized: str) -> Fact | None:
    """The active fact with this normalized text, if any."""
    return session.scalars(select(Fact).where(IS_ACTIVE, Fact.normalized == normalized)).first()


def _check_unique(session: Session, text: str, fact_id: int | None = None) -> str:
    norm = normalize(text)
    other = find_active(session, norm)
    if other is not None and other.id != fact_id:
        raise DuplicateFact(f"fact {other.id} already says this: {other.text!r}", other.id)
    return norm


def get_fact(session: Session, fact_id: int) -> Fact:
    fact = session.get(Fact, fact_id) if 1 <= fact_id <= MAX_ID else None
    if fact is None:
        raise NotFound(f"no fact with id {fact_id}")
    return fact


def add_fact(session: Session, text: str, source: str | None = None, keep_both: bool = False) -> tuple[Fact, Job]:
    """A new active fact and its update job. keep_both is passed on to the worker in the payload."""
    text, source = check_text(text), check_source(source)
    lock_facts(session)
    fact = Fact(text=text, normalized=_check_unique(session, text), source=source, status="active")
    session.add(fact)
    session.flush()
    payload: dict = {"fact_ids": [fact.id], "change": "add"}
    if keep_both:
        payload["keep_both"] = True
    return fact, enqueue_update(session, payload)


def edit_fact(session: Session, fact_id: int, text: str) -> tuple[Fact, Job]:
    """Give an active fact a new text; the old text is kept as a FactRevision.

    A retracted or superseded fact is refused: it teaches the expert nothing, so restore it first.
    """
    fact = get_fact(session, fact_id)
    text = check_text(text)
    if fact.status != "active":
        by = f" by fact {fact.superseded_by}" if fact.superseded_by else ""
        raise StoreError(f"fact {fact_id} is {fact.status}{by}; restore it first (amend facts restore {fact_id})")
    if text == fact.text:
        raise StoreError(f"fact {fact_id} already has this text")
    lock_facts(session)
    norm = _check_unique(session, text, fact_id)
    session.add(FactRevision(fact_id=fact.id, text=fact.text))
    fact.text, fact.normalized, fact.updated = text, norm, utcnow()
    session.flush()
    return fact, enqueue_update(session, {"fact_ids": [fact.id], "change": "edit"})


def retract_fact(session: Session, fact_id: int, reason: str | None = None) -> tuple[Fact, Job]:
    """Stop holding an active fact true (it stays in the store, with the reason)."""
    fact = get_fact(session, fact_id)
    if fact.status != "active":
        raise StoreError(f"fact {fact_id} is {fact.status}, not active")
    fact.status, fact.status_reason, fact.updated = "retracted", reason, utcnow()
    session.flush()
    return fact, enqueue_update(session, {"fact_ids": [fact.id], "change": "retract"})


def restore_fact(session: Session, fact_id: int) -> tuple[Fact, Job]:
    """Make a retracted or superseded fact active again (unless an active fact says the same)."""
    fact = get_fact(session, fact_id)
    if fact.status == "active":
        raise StoreError(f"fact {fact_id} is already active")
    lock_facts(session)
    fact.normalized = _check_unique(session, fact.text, fact_id)
    fact.status, fact.superseded_by, fact.status_reason, fact.updated = "active", None, None, utcnow()
    session.flush()
    return fact, enqueue_update(session, {"fact_ids": [fact.id], "change": "restore"})


def supersede_fact(session: Session, old_id: int, new_id: int, reason: str | None, enqueue: bool = False) -> Job | None:
    """Mark fact old_id as replaced by new_id (restore_fact undoes it).

    Usually part of adding new_id, whose job covers the change; enqueue=True writes a job of its
    own (change "supersede", fact_ids [old_id, new_id]) and returns it.
    """
    if old_id == new_id:
        raise StoreError(f"fact {old_id} cannot supersede itself")
    old, _new = get_fact(session, old_id), get_fact(session, new_id)
    if old.status != "active":
        raise StoreError(f"fact {old_id} is {old.status}, not active")
    old.status, old.superseded_by, old.status_reason, old.updated = "superseded", new_id, reason, utcnow()
    session.flush()
    if enqueue:
        return enqueue_update(session, {"fact_ids": [old_id, new_id], "change": "supersede"})
    return None


def _filtered(session: Session, query: Select, include_all: bool, search: str | None) -> Select:
    """query with the active filter and a case-insensitive (Unicode) substring search applied.

    SQLite compares with Python's str.casefold (the amend_casefold function every connection
    gets, see db.py): its own LIKE folds ASCII only. PostgreSQL's ILIKE folds by the database's
    locale; the normalized column (lower-cased by Python) covers a C locale too.
    """
    if not include_all:
        query = query.where(IS_ACTIVE)
    if not search:
        return query
    if session.get_bind().dialect.name == "sqlite":
        return query.where(func.instr(func.amend_casefold(Fact.text), search.casefold()) > 0)

    def like(s: str) -> str:
        return "%" + s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    return query.where(or_(Fact.text.ilike(like(search), escape="\\"),
                           Fact.normalized.like(like(" ".join(search.lower().split())), escape="\\")))


def list_facts(session: Session, include_all: bool = False, search: str | None = None) -> list[Fact]:
    """Active facts (all of them with include_all), oldest first; search is a case-insensitive substring."""
    return list(session.scalars(_filtered(session, select(Fact).order_by(Fact.id), include_all, search)))


def iter_facts(session: Session, include_all: bool = False, search: str | None = None,
               limit: int | None = None, offset: int = 0) -> Iterator:
    """list_facts as a stream of plain rows (id, text, source, status, ... as attributes), read
    from the database as they are used: the first arrives at once however many there are."""
    query = _filtered(session, select(*Fact.__table__.columns).order_by(Fact.id), include_all, search)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return iter(session.execute(query.execution_options(yield_per=500)))


def active_facts(session: Session) -> list[Fact]:
    return list_facts(session)
