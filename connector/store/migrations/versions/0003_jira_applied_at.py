"""Jira links remember the time of the last Jira change applied, so a late or repeated
webhook older than it is ignored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jira_links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jira_changed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jira_links', schema=None) as batch_op:
        batch_op.drop_column('jira_changed_at')
