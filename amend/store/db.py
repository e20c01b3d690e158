"""Opening the store: the engine, sessions, and migrations brought to head on open.

SQLite (the default, `$AMEND_HOME/amend.db`) runs in WAL mode with foreign keys on and a busy
timeout, so the TUI and several CLI processes can share the file. Write sessions on SQLite begin
with `BEGIN IMMEDIATE`: a transaction that reads and then writes takes the write lock up front,
so two writers wait for each other (busy timeout) instead of one failing on a stale snapshot.
PostgreSQL is used when `AMEND_DATABASE_URL=postgresql+psycopg://...`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from amend.store.errors import StoreError
from amend.store.sqlite_driver import VEC_LOADED, dbapi_module, load_sqlite_vec

HEAD = "0003"  # the newest migration in amend/store/migrations/versions (a test checks this)
BUSY_TIMEOUT_MS = 60_000  # how long a writer waits for another one on SQLite


@dataclass
class Store:
    """An open database: `engine`, `url`, and `session()` for a unit of work."""

    engine: Engine
    url: str

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
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets its pragmas and BEGIN IMMEDIATE on every connection."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database_url: cannot read {url!r} (expected e.g. sqlite:///path or postgresql+psycopg://...)") from None
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # sqlean.py's sqlite3 where installed: it can load sqlite-vec (see amend/store/sqlite_driver.py)
    engine = create_engine(parsed, module=dbapi_module(), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below emit BEGIN itself
        record.info[VEC_LOADED] = load_sqlite_vec(dbapi_conn)  # the vector index (amend/store/vectors.py)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; commits need no fsync each
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}")

    return engine


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError:
            return None
        except Exception as e:  # PostgreSQL: undefined table (ProgrammingError)
            if "alembic_version" in str(e):
                return None
            raise


def _is_locked(e: BaseException) -> bool:
    return isinstance(e, OperationalError) and "database is locked" in str(e.orig)


# SQLite answers "database is locked" at once, without waiting out the busy timeout, in a few
# cases (another process switching a fresh file to WAL, or recovering its WAL index), so the
# first query on open is retried for a while.
@retry(retry=retry_if_exception(_is_locked), stop=stop_after_delay(30), wait=wait_exponential(0.05, max=1), reraise=True)
def _revision_once_unlocked(engine: Engine) -> str | None:
    return current_revision(engine)


def open_store(settings, upgrade: bool = True) -> Store:
    """Open the database named by `settings.db_url`, bringing its schema to the newest revision.

    The check is one query when the database is already at head; Alembic is imported only when
    there is something to migrate.
    """
    url = settings.db_url
    engine = make_engine(url)
    try:
        at = _revision_once_unlocked(engine)
    except OperationalError as e:
        engine.dispose()
        raise StoreError(f"cannot open the database {safe_url(url)}: {e.orig}") from None
    if upgrade and at != HEAD:
        from amend.store.migrate import upgrade_to_head

        upgrade_to_head(engine)
    return Store(engine=engine, url=url)


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
