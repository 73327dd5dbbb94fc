"""The store's tables (SQLAlchemy Core). One schema for SQLite and PostgreSQL.

- ``inbound_events``: every accepted webhook, unique per (source, dedupe_key), payload
  kept with card numbers masked.
- ``jobs``: units of work. A job belongs to a *lane* (one ticket / one Jira issue); a
  lane's jobs run one at a time in id order.
- ``lanes``: one row per ordering key. Claiming a lane (a lease with an expiry) is what
  serialises a ticket's jobs across workers and hosts; ``next_run_at`` is when the lane's
  head job may run (NULL: nothing pending).
- ``effects``: idempotency keys of outbound writes, so a replayed job does not repeat them.
- ``audit_records`` + ``audit_head``: the append-only, hash-chained audit log.
- ``metric_counters``: cluster-wide counters for ``/metrics`` (web and workers flush here).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both back-ends (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


inbound_events = Table(
    "inbound_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(20), nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("subject_key", String(200), nullable=False),
    Column("ticket_id", BigInteger, nullable=True),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("event", Text, nullable=False),  # normalised InboundEvent as JSON, PANs masked
    UniqueConstraint("source", "dedupe_key", name="uq_inbound_events_source_dedupe"),
)
Index("ix_inbound_events_ticket", inbound_events.c.ticket_id)

jobs = Table(
    "jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("lane", String(200), nullable=False),
    Column("handler", String(100), nullable=False),
    Column("event_id", BigId, ForeignKey("inbound_events.id"), nullable=True),
    Column("dedupe_key", String(200), nullable=True, unique=True),
    Column("payload", Text, nullable=True),  # JSON for jobs that are not a webhook event
    Column("correlation_id", String(64), nullable=False),
    Column("state", String(10), nullable=False),  # pending | running | done | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("run_after", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("worker_id", String(100), nullable=True),
    Column("last_error", Text, nullable=True),
)
Index("ix_jobs_lane_state_id", jobs.c.lane, jobs.c.state, jobs.c.id)
Index("ix_jobs_state_created", jobs.c.state, jobs.c.created_at)

lanes = Table(
    "lanes",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("next_run_at", UTCDateTime, nullable=True),
    Column("leased_by", String(100), nullable=True),
    Column("leased_until", UTCDateTime, nullable=True),
)
Index("ix_lanes_next_run_at", lanes.c.next_run_at)

effects = Table(
    "effects",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("system", String(20), nullable=False),
    Column("action", String(100), nullable=False),
    Column("state", String(10), nullable=False),  # started | done
    Column("result", Text, nullable=True),
    Column("job_id", BigId, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(20), nullable=False),  # decision | write | intake | admin
    Column("action", String(100), nullable=False),
    Column("system", String(20), nullable=True),
    Column("ticket_id", BigInteger, nullable=True),
    Column("correlation_id", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Column("result", String(100), nullable=True),
    Column("detail", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_records_ticket", audit_records.c.ticket_id)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)


metric_counters = Table(
    "metric_counters",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("labels", String(300), primary_key=True),  # canonical JSON of the label set
    Column("value", BigInteger, nullable=False),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# -- escalation state (migration 0002) ----------------------------------------------------

escalations = Table(
    "escalations",
    metadata,
    Column("ticket_id", BigInteger, primary_key=True, autoincrement=False),
    Column("state", String(12), nullable=False),  # open | blocked | resolved
    Column("level", String(40), nullable=True),
    Column("tier", String(10), nullable=True),
    Column("rules", Text, nullable=True),  # JSON list: the rule names that decided the tier
    Column("subject", Text, nullable=True),  # card numbers masked
    Column("escalation_type", String(40), nullable=True),
    Column("amount", String(40), nullable=True),
    Column("currency", String(10), nullable=True),
    Column("requester_id", BigInteger, nullable=True),
    Column("organization_id", BigInteger, nullable=True),
    Column("account_ref", String(255), nullable=True),  # Zendesk side of salesforce.account_match
    Column("resolution", String(12), nullable=True),  # resolved | denied | referred
    Column("opened_at", UTCDateTime, nullable=True),  # first complete escalation
    Column("escalated_at", UTCDateTime, nullable=True),  # latest transition: clocks count from it
    Column("resolved_at", UTCDateTime, nullable=True),
    Column("sla", Text, nullable=True),  # JSON of connector.escalation.sla.SlaState
    Column("last_transition", String(255), nullable=True),  # idempotency key of the last transition decided
    Column("blocked_count", Integer, nullable=False, default=0),
    Column("salesforce_state", String(12), nullable=True),  # pending | mirrored | unmatched
    Column("salesforce_account_id", String(32), nullable=True),
    Column("salesforce_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_escalations_state_updated", escalations.c.state, escalations.c.updated_at)
Index("ix_escalations_organization", escalations.c.organization_id)
Index("ix_escalations_account_ref", escalations.c.account_ref)

escalation_events = Table(
    "escalation_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("key", String(255), nullable=False, unique=True),  # stable: the Salesforce external id
    Column("kind", String(40), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("summary", Text, nullable=False),  # one line for people, card numbers masked
    Column("detail", Text, nullable=True),  # JSON
    Column("created_at", UTCDateTime, nullable=False),
    Column("mirrored_at", UTCDateTime, nullable=True),  # when Salesforce last acknowledged it
)
Index("ix_escalation_events_ticket", escalation_events.c.ticket_id, escalation_events.c.id)

scheduled_jobs = Table(
    "scheduled_jobs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("lane", String(200), nullable=False),
    Column("handler", String(100), nullable=False),
    Column("payload", Text, nullable=True),
    Column("correlation_id", String(64), nullable=False),
    Column("fire_at", UTCDateTime, nullable=False),
    Column("state", String(10), nullable=False),  # pending | released | cancelled
    Column("created_at", UTCDateTime, nullable=False),
    Column("released_at", UTCDateTime, nullable=True),
    Column("job_id", BigId, nullable=True),
)
Index("ix_scheduled_jobs_state_fire_at", scheduled_jobs.c.state, scheduled_jobs.c.fire_at)

jira_links = Table(
    "jira_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("issue_key", String(40), nullable=False),
    Column("issue_id", String(40), nullable=True),
    Column("status", String(80), nullable=True),
    Column("resolution", String(80), nullable=True),
    Column("created_by_connector", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Jira's time of the last status/resolution change applied here: an older webhook is stale.
    Column("jira_changed_at", UTCDateTime, nullable=True),
    UniqueConstraint("ticket_id", "issue_key", name="uq_jira_links_ticket_issue"),
)
Index("ix_jira_links_issue_key", jira_links.c.issue_key)
