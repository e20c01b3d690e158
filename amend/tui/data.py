"""Store reads and writes for the UI, as plain rows (no ORM objects leave a session).

Reads are quick (SQLite in WAL mode: readers never wait for a writer) and run on the UI thread;
writes can wait for a busy training transaction, so the app runs them in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import aliased

from amend.store import chat as chats
from amend.store import facts as store_facts
from amend.store.adapters import active_adapter
from amend.store.db import Store
from amend.store.derived import statements_for
from amend.store.errors import StoreError
from amend.store.jobs import pending_jobs
from amend.store.schema import Fact, Job


@dataclass(frozen=True)
class FactRow:
    id: int
    text: str
    status: str  # active, retracted, superseded
    source: str | None
    superseded_by: int | None
    reason: str | None


@dataclass(frozen=True)
class StatementRow:
    id: int
    text: str
    kind: str
    p_true: float
    truth: bool
    accepted: bool
    parents: tuple[FactRow, ...]
    reason: str | None = None  # why it was accepted or rejected
    question: str | None = None  # its question form (what training asks)
    answer: str | None = None  # the short answer to it, words of the text


@dataclass(frozen=True)
class FactDetail:
    fact: FactRow
    history: tuple[str, ...]  # earlier texts, oldest first
    statements: tuple[StatementRow, ...]


@dataclass(frozen=True)
class JobRow:
    id: int
    status: str
    stage: str
    progress: float
    message: str


@dataclass(frozen=True)
class Overview:
    """What the status line and the training panel poll for."""

    adapter_version: int | None
    pending: int
    running: JobRow | None  # a job some worker (maybe another process) is running


def _row(f: Fact) -> FactRow:
    return FactRow(f.id, f.text, f.status, f.source, f.superseded_by, f.status_reason)


def facts(store: Store, include_all: bool = False, search: str | None = None) -> list[FactRow]:
    with store.session(write=False) as s:
        return [_row(f) for f in store_facts.list_facts(s, include_all=include_all, search=search or None)]


def fact(store: Store, fact_id: int) -> FactRow:
    with store.session(write=False) as s:
        return _row(store_facts.get_fact(s, fact_id))


def detail(store: Store, fact_id: int) -> FactDetail:
    with store.session(write=False) as s:
        f = store_facts.get_fact(s, fact_id)
        statements = tuple(
            StatementRow(st.id, st.text, st.kind, st.p_true, st.truth, st.accepted,
                         tuple(_row(p) for p in st.parents), st.reason, st.question, st.answer)
            for st in statements_for(s, fact_id)
        )
        return FactDetail(_row(f), tuple(r.text for r in f.revisions), statements)


def overview(store: Store, profile: str) -> Overview:
    with store.session(write=False) as s:
        adapter = active_adapter(s, profile)
        running = s.scalars(select(Job).where(Job.status == "running").order_by(Job.id)).first()
        return Overview(
            adapter.version if adapter else None,
            len(pending_jobs(s)),
            JobRow(running.id, running.status, running.stage, running.progress, running.message) if running else None,
        )


def superseded(store: Store) -> list[tuple[FactRow, FactRow]]:
    """(old, new) for every fact superseded by another (one query: the app polls this)."""
    new = aliased(Fact)
    with store.session(write=False) as s:
        pairs = s.execute(select(Fact, new).join(new, Fact.superseded_by == new.id)
                          .where(Fact.status == "superseded").order_by(Fact.id)).all()
        return [(_row(o), _row(n)) for o, n in pairs]


# --- writes (run these in worker threads) ---

def add_fact(store: Store, text: str, source: str | None = None) -> tuple[FactRow, int]:
    with store.session() as s:
        f, job = store_facts.add_fact(s, text, source=source)
        return _row(f), job.id


def edit_fact(store: Store, fact_id: int, text: str) -> tuple[FactRow, int]:
    with store.session() as s:
        f, job = store_facts.edit_fact(s, fact_id, text)
        return _row(f), job.id


def retract_fact(store: Store, fact_id: int, reason: str | None = None) -> tuple[FactRow, int]:
    with store.session() as s:
        f, job = store_facts.retract_fact(s, fact_id, reason)
        return _row(f), job.id


def restore_fact(store: Store, fact_id: int) -> tuple[FactRow, int]:
    with store.session() as s:
        f, job = store_facts.restore_fact(s, fact_id)
        return _row(f), job.id


# --- chat sessions ---

def new_chat(store: Store, title: str, profile: str) -> int:
    with store.session() as s:
        return chats.create_session(s, title=title[:200], profile=profile).id


def chat_messages(store: Store, session_id: int) -> list[dict[str, str]]:
    """The session's user and assistant messages as {"role", "content"} (NotFound if none such)."""
    with store.session(write=False) as s:
        return [{"role": m.role, "content": m.content} for m in chats.messages(s, session_id)
                if m.role in ("user", "assistant")]


def save_message(store: Store, session_id: int, role: str, content: str, meta: dict | None = None) -> None:
    with store.session() as s:
        chats.add_message(s, session_id, role, content, meta)


# --- import ---

@dataclass(frozen=True)
class ImportCheck:
    """The outcome of an import or its dry run."""

    ok: bool
    added: int = 0  # new facts (would be added, in a dry run)
    duplicates: int = 0
    skipped: int = 0  # blank lines and comments
    bad_lines: int = 0
    errors: tuple[str, ...] = ()  # FILE:LINE: reason
    message: str = ""  # the one-line summary of a failure
    job_id: int | None = None


def import_file(store: Store, path: str, dry_run: bool) -> ImportCheck:
    """Import (or check, with dry_run) a TXT, CSV or JSONL file: all or nothing."""
    from amend.store.importer import ImportFailed, import_facts

    try:
        with store.session() as s:
            r = import_facts(s, Path(path).expanduser(), dry_run=dry_run)
            return ImportCheck(True, r.added, r.duplicates, r.skipped, job_id=r.job.id if r.job else None)
    except ImportFailed as e:
        return ImportCheck(False, bad_lines=e.bad_lines, errors=tuple(e.errors), message=str(e))
    except StoreError as e:
        return ImportCheck(False, message=str(e))
