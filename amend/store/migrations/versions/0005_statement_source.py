"""the fact whose derivation made each derived statement (its source, one of its parents)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:10:00

A statement derived from fact A with its related fact B has both as parents; only A's
derivation made it. Before this column the pipeline could not tell, so deriving B deleted A's
joint statements and a fact that was only someone's related parent counted as derived.
Statements stored before it keep a NULL source (the old rules apply to them).

The upgrade is a plain ADD COLUMN (nullable) and an index, which keeps 0003's triggers on SQLite;
the downgrade's batch drop recreates the table there, so it puts them back (as 0004 does).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
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
    op.add_column('derived_statements', sa.Column('source_fact_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_derived_statements_source_fact_id'), 'derived_statements', ['source_fact_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_derived_statements_source_fact_id'), table_name='derived_statements')
    with op.batch_alter_table('derived_statements', schema=None) as batch_op:
        batch_op.drop_column('source_fact_id')
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)
