"""Alembic environment: migrations run on a connection handed in by amend.store.migrate.

`alembic -c ... revision --autogenerate` also works, against the URL in AMEND_DATABASE_URL or the
default SQLite file. render_as_batch lets ALTER-style changes work on SQLite.
"""

from __future__ import annotations

from alembic import context

from amend.store.schema import Base
from amend.store.vectors import not_an_index_table

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=not_an_index_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic command line: open the configured database
    from amend.config import load_settings
    from amend.store.db import make_engine

    engine = make_engine(load_settings().db_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
