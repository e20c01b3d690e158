"""statement vectors for the scope gate; a reason on each derived statement

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('statement_embeddings',
    sa.Column('statement_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=16), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['statement_id'], ['derived_statements.id'],
                            name=op.f('fk_statement_embeddings_statement_id_derived_statements'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('statement_id', 'field', name=op.f('pk_statement_embeddings'))
    )
    with op.batch_alter_table('derived_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('derived_statements', schema=None) as batch_op:
        batch_op.drop_column('reason')
    op.drop_table('statement_embeddings')
