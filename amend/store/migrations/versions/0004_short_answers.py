"""a short answer on each derived statement (the words of it that answer its question form)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:00:00

The upgrade is a plain ADD COLUMN (nullable), which keeps 0003's triggers on SQLite. The
downgrade's batch drop recreates the table there, so it puts those triggers back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# 0003's SQLite triggers on derived_statements, written out: a migration stays as it was
LOG = "INSERT INTO vector_changes (kind, item_id, token) VALUES ('statement', {}.id, random());"
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS derived_statements_vector_insert AFTER INSERT ON derived_statements BEGIN {LOG.format('NEW')} END",
    "CREATE TRIGGER IF NOT EXISTS derived_statements_vector_update AFTER UPDATE OF text, question, accepted, truth "
    f"ON derived_statements BEGIN {LOG.format('NEW')} END",
    f"CREATE TRIGGER IF NOT EXISTS derived_statements_vector_delete AFTER DELETE ON derived_statements BEGIN {LOG.format('OLD')} END",
]


def upgrade() -> None:
    op.add_column('derived_statements', sa.Column('answer', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('derived_statements', schema=None) as batch_op:
        batch_op.drop_column('answer')
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
