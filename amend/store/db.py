"""Opening the store: the engine, sessions, and migrations brought to head on open.

SQLite (the default, `$AMEND_HOME/amend.db`) runs in WAL mode with foreign keys on and a busy
timeout, so the TUI and several CLI processes can share the file. Write sessions on SQLite begin
with `BEGIN IMMEDIATE`: a transaction that reads and then writes takes the write lock up front,
so two writers wait for each other (busy timeout) instead of one failing on a stale snapshot.
PostgreSQL is used when `AMEND_DATABASE_URL=postgresql+psycopg://...`.

A writer waits at most `lock_timeout` seconds (a setting) for another one: SQLite's busy
timeout retries for that long, PostgreSQL's lock_timeout bounds waits on locks. Then, and for
any other operational failure of the database (disk full, read-only file, lost connection),
the session raises one StoreError line instead of a driver traceback: DatabaseBusy for a lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, OperationalError
from sqlalchemy.orm import Session

from amend.store.errors import DatabaseBusy, StoreError
from amend.store.sqlite_driver import VEC_LOADED, dbapi_module, load_sqlite_vec

HEAD = "0005"  # the newest migration in amend/store/migrations/versions (a test checks this)
LOCK_TIMEOUT_S = 60.0  # default of how long a writer waits for another one (settings.lock_timeout)


@dataclass
class Store:
    """An open database: `engine`, `url`, and `session()` for a unit of work."""

    engine: Engine
    url: str
    lock_timeout: float = LOCK_TIMEOUT_S  # seconds a writer waits for another (for messages)

    def __post_init__(self) -> None:
        self._reader = self.engine.execution_options(sqlite_begin="DEFERRED")  # same pool

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A Session that commits when the block ends and rolls back if it raises.

        write=False begins a deferred transaction on SQLite (readers never wait for writers).
        """
        bind = self.engine if write else self._reader
        with Session(bind, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except DatabaseError as e:
                session.rollback()
                if not isinstance(e, OperationalError) and type(e) is not DatabaseError:
                    raise  # IntegrityError and the like: a bug, not the database's state
                raise database_error(self.url, e, self.lock_timeout) from None
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.dispose()


def database_error(url: str, e: DBAPIError, lock_timeout: float) -> StoreError:
    """One line for a database failure: DatabaseBusy when another process held a lock too long."""
    where = safe_url(url)
    if _is_locked(e):
        return DatabaseBusy(f"the database {where} is busy: another process held it for over {lock_timeout:g} s "
                            "(a training run or an import?); try again when it is done")
    reason = " ".join(str(e.orig).split()) or type(e.orig).__name__
    return StoreError(f"the database {where} failed: {reason}")


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


def make_engine(url: str, lock_timeout: float = LOCK_TIMEOUT_S) -> Engine:
    """An engine for `url`; SQLite gets its pragmas, amend_casefold() and BEGIN IMMEDIATE on every
    connection; both backends wait at most lock_timeout seconds for a lock."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database_url: cannot read {url!r} (expected e.g. sqlite:///path or postgresql+psycopg://...)") from None
    timeout_ms = max(1, round(lock_timeout * 1000))
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True)
        if parsed.get_backend_name() == "postgresql":
            @event.listens_for(engine, "connect")
            def _on_pg_connect(dbapi_conn, _record) -> None:
                with dbapi_conn.cursor() as cur:  # bounds waits on advisory and row locks alike
                    cur.execute(f"SET lock_timeout = {timeout_ms}")
                dbapi_conn.commit()
        return engine

    if parsed.database and parsed.database != ":memory:":
        try:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the folder of the database {parsed.database}: {e.strerror}") from None
    # sqlean.py's sqlite3 where installed: it can load sqlite-vec (see amend/store/sqlite_driver.py)
    engine = create_engine(parsed, module=dbapi_module(), connect_args={"timeout": lock_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below emit BEGIN itself
        record.info[VEC_LOADED] = load_sqlite_vec(dbapi_conn)  # the vector index (amend/store/vectors.py)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={timeout_ms}")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; commits need no fsync each
        cur.close()
        # SQLite's LIKE and lower() fold ASCII only: searches compare Python's casefold instead
        dbapi_conn.create_function("amend_casefold", 1, _casefold, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}")

    return engine


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database).

    A read: on SQLite it begins DEFERRED, so opening the store never waits for another writer.
    """
    with engine.execution_options(sqlite_begin="DEFERRED").connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError:
            return None
        except Exception as e:  # PostgreSQL: undefined table (ProgrammingError)
            if "alembic_version" in str(e):
                return None
            raise


def _is_locked(e: BaseException) -> bool:
    """SQLite's "database is locked" or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    if not isinstance(e, OperationalError):
        return False
    return "database is locked" in str(e.orig) or getattr(e.orig, "sqlstate", None) == "55P03"


def _revision_once_unlocked(engine: Engine, lock_timeout: float) -> str | None:
    """current_revision, retried while locked for at most lock_timeout seconds in all.

    SQLite answers "database is locked" at once, without waiting out the busy timeout, in a few
    cases (another process switching a fresh file to WAL, or recovering its WAL index); when it
    did wait, the time is used up and there is no second try.
    """
    started = time.monotonic()
    try:
        return current_revision(engine)
    except OperationalError as e:
        if not _is_locked(e):
            raise
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential  # rarely needed

    left = max(0.0, lock_timeout - (time.monotonic() - started))
    for attempt in Retrying(retry=retry_if_exception(_is_locked), stop=stop_after_delay(left),
                            wait=wait_exponential(0.05, max=1), reraise=True):
        with attempt:
            return current_revision(engine)
    return None  # not reached: Retrying returns or raises


def open_store(settings, upgrade: bool = True) -> Store:
    """Open the database named by `settings.db_url`, bringing its schema to the newest revision.

    The check is one query when the database is already at head; Alembic is imported only when
    there is something to migrate.
    """
    url = settings.db_url
    lock_timeout = float(getattr(settings, "lock_timeout", LOCK_TIMEOUT_S))
    engine = make_engine(url, lock_timeout)
    try:
        at = _revision_once_unlocked(engine, lock_timeout)
        if upgrade and at != HEAD:
            from amend.store.migrate import upgrade_to_head

            upgrade_to_head(engine)
    except DBAPIError as e:  # locked, unreachable, not a database at all, ...
        engine.dispose()
        if _is_locked(e):
            raise database_error(url, e, lock_timeout) from None
        raise StoreError(f"cannot open the database {safe_url(url)}: {' '.join(str(e.orig).split())}") from None
    return Store(engine=engine, url=url, lock_timeout=lock_timeout)


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
