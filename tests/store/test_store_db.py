"""Opening the store: migrations from scratch, SQLite settings, sessions, and fast start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from amend.store import open_store
from amend.store.db import HEAD, current_revision, make_engine
from amend.store.errors import StoreError
from amend.store.facts import add_fact, list_facts
from amend.store.migrate import alembic_config, head_revision, upgrade_to_head
from amend.store.schema import Base

TABLES = {"facts", "fact_revisions", "fact_embeddings", "derived_statements", "statement_parents", "jobs",
          "training_runs", "adapters", "chat_sessions", "chat_messages", "alembic_version"}


def test_head_constant_matches_migrations():
    assert head_revision() == HEAD


def test_migrations_build_an_empty_database(db_url, store_settings):
    engine = make_engine(db_url)
    assert current_revision(engine) is None
    store = open_store(store_settings)
    assert current_revision(store.engine) == HEAD
    assert TABLES <= set(inspect(store.engine).get_table_names())
    with store.session() as s:
        assert list_facts(s) == []
    store.dispose()
    engine.dispose()


def test_migrations_match_the_models(store):
    """Autogenerate finds nothing to change: the migrations create exactly the schema in schema.py."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(store):
    from alembic import command

    with store.engine.connect() as conn:
        with conn.begin():
            command.downgrade(alembic_config(conn), "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    upgrade_to_head(store.engine)
    assert current_revision(store.engine) == HEAD
    with store.session() as s:
        add_fact(s, "works after a round trip")


def test_sqlite_settings(home, settings):
    store = open_store(settings)
    assert store.url == f"sqlite:///{home / 'amend.db'}"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000


def test_home_folder_is_created(tmp_path, monkeypatch):
    from amend.config import load_settings

    monkeypatch.setenv("AMEND_HOME", str(tmp_path / "new" / "home"))
    store = open_store(load_settings())
    assert (tmp_path / "new" / "home" / "amend.db").exists()
    store.dispose()


def test_session_rolls_back_on_error(store):
    with pytest.raises(ZeroDivisionError):
        with store.session() as s:
            add_fact(s, "gone")
            1 / 0
    with store.session(write=False) as s:
        assert list_facts(s) == []


def test_foreign_keys_enforced(store):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with store.session() as s:
            s.execute(text("INSERT INTO fact_revisions (fact_id, text, created) VALUES (999, 'x', CURRENT_TIMESTAMP)"))


def test_bad_urls(monkeypatch, home):
    from amend.config import load_settings

    monkeypatch.setenv("AMEND_DATABASE_URL", "not a url")
    with pytest.raises(StoreError, match="cannot read"):
        open_store(load_settings())
    monkeypatch.setenv("AMEND_DATABASE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot open the database") as e:
        open_store(load_settings())
    assert "secret" not in str(e.value)


def test_store_never_imports_torch_and_reopening_skips_alembic(settings):
    open_store(settings).dispose()  # migrate once
    code = (
        "import sys, amend.store.facts, amend.store.jobs, amend.store.adapters, amend.store.derived, "
        "amend.store.related, amend.store.chat, amend.store.importer, amend.store.exporter, amend.commands.facts\n"
        "from amend.config import load_settings\nfrom amend.store import open_store\n"
        "open_store(load_settings())\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'alembic', 'textual') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


OPENER = """
from amend.config import load_settings
from amend.store import open_store
from amend.store.facts import list_facts
store = open_store(load_settings())
with store.session() as s:
    print(len(list_facts(s)))
"""


def test_two_processes_open_a_fresh_database(db_url):
    procs = [subprocess.Popen([sys.executable, "-c", OPENER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert [out.strip() for out, _ in results] == ["0", "0"]
    assert current_revision(make_engine(db_url)) == HEAD


def test_threads_share_one_store(store):
    """The TUI's worker thread and its UI thread use one Store at once."""
    import threading

    errors: list[Exception] = []

    def work(k: int) -> None:
        try:
            for i in range(25):
                with store.session() as s:
                    add_fact(s, f"thread {k} fact {i}")
                with store.session(write=False) as s:
                    list_facts(s)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.session(write=False) as s:
        assert len(list_facts(s)) == 75


SQLITE_HOLDER = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("DELETE FROM jobs WHERE id < 0")
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def held(db_url, monkeypatch):
    """A store with lock_timeout 0.3 s, and a function that makes another process hold its write lock."""
    from contextlib import contextmanager

    from amend.config import load_settings
    from amend.store.facts import FACTS_LOCK

    monkeypatch.setenv("AMEND_LOCK_TIMEOUT", "0.3")
    store = open_store(load_settings())

    @contextmanager
    def hold():
        if db_url.startswith("sqlite"):
            holder = subprocess.Popen([sys.executable, "-c", SQLITE_HOLDER, db_url.removeprefix("sqlite:///")],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert holder.stdout.readline() == "held\n"
            try:
                yield
            finally:
                holder.stdin.close()
                holder.wait()
        else:  # writers of facts queue on an advisory lock
            other = make_engine(db_url)
            with other.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": FACTS_LOCK})
                yield
            other.dispose()

    yield store, hold
    store.dispose()


def test_a_held_database_is_one_line_after_the_lock_timeout(held):
    import time

    from amend.store.errors import DatabaseBusy

    store, hold = held
    with store.session() as s:
        add_fact(s, "Before the lock")
    with hold():
        started = time.monotonic()
        with pytest.raises(DatabaseBusy, match="is busy: another process held it for over 0.3 s") as e:
            with store.session() as s:
                add_fact(s, "While it is held")
        assert e.value.exit_code == 75 and "\n" not in str(e.value)
        assert time.monotonic() - started < 20  # bounded (0.3 s, plus a loaded machine)
        with store.session(write=False) as s:  # readers never wait
            assert [f.text for f in list_facts(s)] == ["Before the lock"]
    with store.session() as s:
        add_fact(s, "After the lock")
        assert len(list_facts(s)) == 2


def test_a_file_that_is_not_a_database(monkeypatch, home):
    from amend.config import load_settings

    (home / "junk.db").write_text("not a database at all\n" * 100)
    monkeypatch.setenv("AMEND_DATABASE_URL", f"sqlite:///{home / 'junk.db'}")
    with pytest.raises(StoreError, match="cannot open the database .*junk.db: file is not a database"):
        open_store(load_settings())


def test_downgrade_from_short_answers_keeps_the_change_log_triggers(store):
    """0004's and 0005's downgrades recreate derived_statements on SQLite; 0003's triggers come
    back with it."""
    from alembic import command

    def statement_triggers() -> set[str]:
        with store.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                            "AND tbl_name = 'derived_statements'")
            else:
                rows = conn.exec_driver_sql("SELECT DISTINCT trigger_name FROM information_schema.triggers "
                                            "WHERE event_object_table = 'derived_statements'")
            return {r[0] for r in rows}

    before = statement_triggers()
    assert before
    with store.engine.connect() as conn:
        with conn.begin():
            command.downgrade(alembic_config(conn), "0003")
    columns = {c["name"] for c in inspect(store.engine).get_columns("derived_statements")}
    assert not {"answer", "source_fact_id"} & columns
    assert statement_triggers() == before
    upgrade_to_head(store.engine)
    assert current_revision(store.engine) == HEAD
