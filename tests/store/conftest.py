"""Store fixtures: every `store` test runs on SQLite, and on PostgreSQL when AMEND_TEST_POSTGRES_URL is set.

On PostgreSQL each test gets a schema of its own (search_path set in the URL), dropped after.
`AMEND_DATABASE_URL` is set for the test, so the CLI and subprocesses use the same database.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("AMEND_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=[
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="AMEND_TEST_POSTGRES_URL is not set (see .ci/postgres.sh)"),
])]


@pytest.fixture(params=BACKENDS)
def db_url(request, home, monkeypatch):
    """A database URL for an empty database on each backend (also set as AMEND_DATABASE_URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'amend.db'}"
        monkeypatch.setenv("AMEND_DATABASE_URL", url)
        yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    monkeypatch.setenv("AMEND_DATABASE_URL", url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def store_settings(db_url):
    from amend.config import load_settings

    return load_settings()


@pytest.fixture
def store(store_settings):
    from amend.store import open_store

    s = open_store(store_settings)
    yield s
    s.dispose()
