"""`amend db`: the database's schema version and migrations."""

from __future__ import annotations

import click

from .common import settings


@click.group()
def db() -> None:
    """The database (SQLite in $AMEND_HOME, or AMEND_DATABASE_URL)."""


@db.command()
def upgrade() -> None:
    """Bring the database schema to the newest version (also done whenever it is opened)."""
    from amend.store.db import safe_url, current_revision, open_store
    from amend.store.migrate import upgrade_to_head

    store = open_store(settings(), upgrade=False)
    before = current_revision(store.engine)
    upgrade_to_head(store.engine)
    after = current_revision(store.engine)
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    click.echo(f"{safe_url(store.url)}: {state} revision {after}")
