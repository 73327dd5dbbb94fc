"""Escalations are looked up by their customer reference (the Zendesk side of
salesforce.account_match): the Account roll-ups count every escalation of one Account.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:30:00
"""
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_escalations_account_ref', 'escalations', ['account_ref'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_escalations_account_ref', table_name='escalations')
