"""vector indexes: a change log written by triggers on facts and derived statements

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 18:00:00

Every insert, update and delete of a fact or a derived statement appends (kind, id) to
vector_changes, by trigger, so indexes of their vectors (amend/store/vectors.py) learn of every
change whichever code made it (ORM, the importer's Core executemany, another process). The log is
plain SQL: it needs no extension on the connection that writes facts.

On PostgreSQL the triggers first take the facts advisory lock (amend.store.facts.FACTS_LOCK, in a
BEFORE statement trigger, before any row lock, so the lock order is always the same): writers
of facts and statements are serialized until they commit, so seq values commit in order and a
reader that has seen seq N has seen every change before it. SQLite serializes writers anyway.

Note for later migrations: a batch_alter_table on `facts` or `derived_statements` on SQLite
recreates the table and drops its triggers; create them again (sqlite_triggers below).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

FACTS_LOCK = 0x66616374  # amend.store.facts.FACTS_LOCK, written out: a migration stays as it was
TABLES = {"facts": ("fact", "text, status"), "derived_statements": ("statement", "text, question, accepted, truth")}


def sqlite_triggers(table: str) -> list[str]:
    kind, columns = TABLES[table]
    log = f"INSERT INTO vector_changes (kind, item_id, token) VALUES ('{kind}', %s.id, random());"
    return [
        f"CREATE TRIGGER {table}_vector_insert AFTER INSERT ON {table} BEGIN {log % 'NEW'} END",
        f"CREATE TRIGGER {table}_vector_update AFTER UPDATE OF {columns} ON {table} BEGIN {log % 'NEW'} END",
        f"CREATE TRIGGER {table}_vector_delete AFTER DELETE ON {table} BEGIN {log % 'OLD'} END",
    ]


PG_FUNCTIONS = [
    f"""CREATE FUNCTION amend_vector_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock({FACTS_LOCK});
  RETURN NULL;
END $$""",
    """CREATE FUNCTION amend_vector_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO vector_changes (kind, item_id, token)
      SELECT TG_ARGV[0], id, floor(random() * 1e15)::bigint FROM old_rows ORDER BY id;
  ELSE
    INSERT INTO vector_changes (kind, item_id, token)
      SELECT TG_ARGV[0], id, floor(random() * 1e15)::bigint FROM new_rows ORDER BY id;
  END IF;
  RETURN NULL;
END $$""",
]


def pg_triggers(table: str) -> list[str]:
    # statement-level with transition tables: an import of 100,000 facts logs them in one INSERT
    kind, _ = TABLES[table]
    return [
        f"CREATE TRIGGER {table}_vector_lock BEFORE INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION amend_vector_lock()",
        f"CREATE TRIGGER {table}_vector_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION amend_vector_log('{kind}')",
        f"CREATE TRIGGER {table}_vector_update AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION amend_vector_log('{kind}')",
        f"CREATE TRIGGER {table}_vector_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION amend_vector_log('{kind}')",
    ]


def upgrade() -> None:
    op.create_table('vector_changes',
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_vector_changes'))
    )
    op.create_table('vector_indexes',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('collection', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('dims', sa.Integer(), nullable=False),
    sa.Column('backend', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_vector_indexes'))
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    statements = PG_FUNCTIONS if postgres else []
    for table in TABLES:
        statements += pg_triggers(table) if postgres else sqlite_triggers(table)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    for table in TABLES:
        for suffix in ("lock", "insert", "update", "delete") if postgres else ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_vector_{suffix}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS amend_vector_log()")
        op.execute("DROP FUNCTION IF EXISTS amend_vector_lock()")
    # the index tables the store made at run time (amend/store/vectors.py)
    for (name,) in bind.execute(sa.text("SELECT name FROM vector_indexes")).all():
        op.execute(f'DROP TABLE IF EXISTS "{name}"')
    op.drop_table('vector_indexes')
    op.drop_table('vector_changes')
