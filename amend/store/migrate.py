"""Running the Alembic migrations in amend/store/migrations from code (no alembic.ini needed).

Upgrades hold a lock for their whole transaction (BEGIN IMMEDIATE on SQLite, an advisory lock on
PostgreSQL), so two processes opening a fresh database at once migrate it once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x616D656E64  # "amend": the PostgreSQL advisory lock id for migrations


def alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the migrations folder, read by Alembic."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database at `engine` to the newest schema, in one transaction."""
    from alembic import command

    with engine.connect() as conn:
        with conn.begin():  # SQLite: BEGIN IMMEDIATE (see amend.store.db)
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            command.upgrade(alembic_config(conn), "head")
