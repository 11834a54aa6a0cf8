"""topic match explanations and the rules each topic was last matched with

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('story_topics', schema=None) as batch_op:
        batch_op.add_column(sa.Column('matched_by', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('example', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('score', sa.Float(), nullable=True))
    op.create_table('topic_states',
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('rules_hash', sa.String(length=64), nullable=False),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('topic', name=op.f('pk_topic_states'))
    )


def downgrade() -> None:
    op.drop_table('topic_states')
    with op.batch_alter_table('story_topics', schema=None) as batch_op:
        batch_op.drop_column('score')
        batch_op.drop_column('example')
        batch_op.drop_column('matched_by')
