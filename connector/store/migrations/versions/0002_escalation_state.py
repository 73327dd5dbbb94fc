"""Escalation state, the escalation timeline, scheduled jobs (SLA timers), Jira links.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:58:47.250278
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('escalation_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('mirrored_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_events')),
    sa.UniqueConstraint('key', name=op.f('uq_escalation_events_key'))
    )
    with op.batch_alter_table('escalation_events', schema=None) as batch_op:
        batch_op.create_index('ix_escalation_events_ticket', ['ticket_id', 'id'], unique=False)

    op.create_table('escalations',
    sa.Column('ticket_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=40), nullable=True),
    sa.Column('tier', sa.String(length=10), nullable=True),
    sa.Column('rules', sa.Text(), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('escalation_type', sa.String(length=40), nullable=True),
    sa.Column('amount', sa.String(length=40), nullable=True),
    sa.Column('currency', sa.String(length=10), nullable=True),
    sa.Column('requester_id', sa.BigInteger(), nullable=True),
    sa.Column('organization_id', sa.BigInteger(), nullable=True),
    sa.Column('account_ref', sa.String(length=255), nullable=True),
    sa.Column('resolution', sa.String(length=12), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sla', sa.Text(), nullable=True),
    sa.Column('last_transition', sa.String(length=255), nullable=True),
    sa.Column('blocked_count', sa.Integer(), nullable=False),
    sa.Column('salesforce_state', sa.String(length=12), nullable=True),
    sa.Column('salesforce_account_id', sa.String(length=32), nullable=True),
    sa.Column('salesforce_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_escalations'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index('ix_escalations_organization', ['organization_id'], unique=False)
        batch_op.create_index('ix_escalations_state_updated', ['state', 'updated_at'], unique=False)

    op.create_table('jira_links',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ticket_id', sa.BigInteger(), nullable=False),
    sa.Column('issue_key', sa.String(length=40), nullable=False),
    sa.Column('issue_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=80), nullable=True),
    sa.Column('resolution', sa.String(length=80), nullable=True),
    sa.Column('created_by_connector', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jira_links')),
    sa.UniqueConstraint('ticket_id', 'issue_key', name='uq_jira_links_ticket_issue')
    )
    with op.batch_alter_table('jira_links', schema=None) as batch_op:
        batch_op.create_index('ix_jira_links_issue_key', ['issue_key'], unique=False)

    op.create_table('scheduled_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('lane', sa.String(length=200), nullable=False),
    sa.Column('handler', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('correlation_id', sa.String(length=64), nullable=False),
    sa.Column('fire_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('job_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_jobs')),
    sa.UniqueConstraint('key', name=op.f('uq_scheduled_jobs_key'))
    )
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_jobs_state_fire_at', ['state', 'fire_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('scheduled_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_jobs_state_fire_at')

    op.drop_table('scheduled_jobs')
    with op.batch_alter_table('jira_links', schema=None) as batch_op:
        batch_op.drop_index('ix_jira_links_issue_key')

    op.drop_table('jira_links')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index('ix_escalations_state_updated')
        batch_op.drop_index('ix_escalations_organization')

    op.drop_table('escalations')
    with op.batch_alter_table('escalation_events', schema=None) as batch_op:
        batch_op.drop_index('ix_escalation_events_ticket')

    op.drop_table('escalation_events')
