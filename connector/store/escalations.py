"""Escalation state kept between events: one row per escalated ticket, its timeline.

The Zendesk plugin writes here after each decision; the Salesforce plugin mirrors it
to the Account, the Jira plugin reads the tier and level for a bug, the admin page and
the Zendesk app's sidebar read it. :class:`Escalations` is the only code that touches
the ``escalations`` and ``escalation_events`` tables, and the one place that reads a
ticket's Jira links (``jira_links``, written by the Jira plugin) for everyone else.

**The timeline** is append-only: one row per thing a CSM would want to see (``opened``,
``level_changed``, ``tier_changed``, ``blocked``, ``sla_at_risk``, ``sla_breached``,
``jira_linked``, ``jira_status_changed``, ``resolved``, ``rca_due``, ``pir_due``…). Each
row's ``key`` is stable (derived from what happened, not when it was processed), so
recording the same happening twice is a no-op and the key doubles as the external ID of
the row in Salesforce. Summaries are masked for card numbers before they are stored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection

from connector.escalation.sla import SlaState, sla_from_dict, sla_to_dict
from connector.masking import mask_pans, mask_pans_deep
from connector.store import Store
from connector.store.models import escalation_events, escalations, jira_links, utcnow

OPEN, BLOCKED, RESOLVED = "open", "blocked", "resolved"


@dataclass(frozen=True)
class JiraLink:
    """A Jira issue linked to an escalated ticket."""

    issue_key: str
    status: str | None = None
    resolution: str | None = None

STATES = (OPEN, BLOCKED, RESOLVED)

TIMELINE_KINDS = (
    "opened", "level_changed", "tier_changed", "rechecked", "blocked", "sla_met", "sla_at_risk", "sla_breached",
    "jira_linked", "jira_status_changed", "resolved", "reopened", "rca_due", "pir_due",
)
"""What a timeline row can say. ``<target>_due`` kinds other than rca/pir are written as
``target_due`` with the target in ``detail``."""


@dataclass(frozen=True)
class EscalationRecord:
    ticket_id: int
    state: str
    """``open`` (escalated, not solved), ``blocked`` (only incomplete attempts so far) or
    ``resolved``."""
    level: str | None = None
    tier: str | None = None
    rules: tuple[str, ...] = ()
    subject: str | None = None
    escalation_type: str | None = None
    amount: str | None = None
    currency: str | None = None
    requester_id: int | None = None
    organization_id: int | None = None
    account_ref: str | None = None
    """The Zendesk side of ``salesforce.account_match`` (e.g. the organization's
    ``external_id``), resolved when the escalation was decided; None when unknown."""
    resolution: str | None = None
    """``resolved``, ``denied`` or ``referred`` once solved (tags ``escalation_denied`` /
    ``escalation_referred`` on the ticket say which; otherwise resolved)."""
    opened_at: datetime | None = None
    escalated_at: datetime | None = None
    resolved_at: datetime | None = None
    sla: SlaState | None = None
    last_transition: str | None = None
    blocked_count: int = 0
    salesforce_state: str | None = None
    salesforce_account_id: str | None = None
    salesforce_error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def evolve(self, **changes: Any) -> "EscalationRecord":
        return replace(self, **changes)


@dataclass(frozen=True)
class TimelineEvent:
    id: int
    ticket_id: int
    key: str
    kind: str
    occurred_at: datetime
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    mirrored_at: datetime | None = None


class Escalations:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.clock = clock

    # -- the escalation row ----------------------------------------------------------

    def get(self, ticket_id: int, *, conn: Connection | None = None) -> EscalationRecord | None:
        query = select(escalations).where(escalations.c.ticket_id == int(ticket_id))
        if conn is not None:
            row = conn.execute(query).mappings().first()
        else:
            with self.store.connect() as own:
                row = own.execute(query).mappings().first()
        return _record(row) if row is not None else None

    def save(self, record: EscalationRecord, *, conn: Connection | None = None) -> EscalationRecord:
        """Insert or replace the row for ``record.ticket_id``; returns it as stored."""
        if record.state not in STATES:
            raise ValueError(f"escalation state {record.state!r} is not one of {STATES}")
        now = self.clock()
        record = replace(record, created_at=record.created_at or now, updated_at=now,
                         subject=mask_pans(record.subject) if record.subject else record.subject)
        values = _row(record)
        if conn is not None:
            self.store.upsert(conn, escalations, values, ["ticket_id"],
                              {k: v for k, v in values.items() if k not in ("ticket_id", "created_at")})
        else:
            with self.store.begin() as own:
                self.store.upsert(own, escalations, values, ["ticket_id"],
                                  {k: v for k, v in values.items() if k not in ("ticket_id", "created_at")})
        return record

    def set_salesforce(self, ticket_id: int, state: str, *, account_id: str | None = None,
                       error: str | None = None) -> None:
        """Record how mirroring to Salesforce went (``mirrored``, ``unmatched``, ``pending``)."""
        with self.store.begin() as conn:
            conn.execute(update(escalations).where(escalations.c.ticket_id == int(ticket_id)).values(
                salesforce_state=state, salesforce_account_id=account_id,
                salesforce_error=mask_pans(error) if error else None))

    def set_customer(self, ticket_id: int, *, organization_id: int | None, account_ref: str | None) -> None:
        """Set the ticket's organization and customer reference (``salesforce.account_match``)
        and nothing else: a worker's newer decisions on the same row are kept."""
        with self.store.begin() as conn:
            conn.execute(update(escalations).where(escalations.c.ticket_id == int(ticket_id)).values(
                organization_id=organization_id, account_ref=account_ref, updated_at=self.clock()))

    def jira_links(self, ticket_id: int) -> list["JiraLink"]:
        """The Jira issues linked to the ticket, oldest link first, with their status and
        resolution as last heard from Jira (the Jira plugin keeps ``jira_links``)."""
        query = (select(jira_links.c.issue_key, jira_links.c.status, jira_links.c.resolution)
                 .where(jira_links.c.ticket_id == int(ticket_id)).order_by(jira_links.c.id))
        with self.store.connect() as conn:
            return [JiraLink(row.issue_key, row.status, row.resolution) for row in conn.execute(query)]

    def list(self, *, states: Sequence[str] | None = None, since: datetime | None = None,
             organization_id: int | None = None, account_ref: str | None = None,
             salesforce_state: str | None = None, limit: int | None = None, after_ticket_id: int | None = None,
             newest_first: bool = False) -> list[EscalationRecord]:
        conditions = []
        if states:
            conditions.append(escalations.c.state.in_(list(states)))
        if since is not None:
            conditions.append(escalations.c.updated_at >= since)
        if organization_id is not None:
            conditions.append(escalations.c.organization_id == organization_id)
        if account_ref is not None:
            conditions.append(escalations.c.account_ref == account_ref)
        if salesforce_state is not None:
            conditions.append(escalations.c.salesforce_state == salesforce_state)
        if after_ticket_id is not None:
            conditions.append(escalations.c.ticket_id > after_ticket_id)
        query = select(escalations)
        if conditions:
            query = query.where(and_(*conditions))
        if newest_first:
            query = query.order_by(escalations.c.updated_at.desc(), escalations.c.ticket_id.desc())
        else:
            query = query.order_by(escalations.c.ticket_id)
        if limit is not None:
            query = query.limit(limit)
        with self.store.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def count(self, *, states: Sequence[str] | None = None, since: datetime | None = None) -> int:
        query = select(func.count()).select_from(escalations)
        if states:
            query = query.where(escalations.c.state.in_(list(states)))
        if since is not None:
            query = query.where(escalations.c.updated_at >= since)
        with self.store.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    # -- the timeline ----------------------------------------------------------------

    def add_event(self, ticket_id: int, key: str, kind: str, occurred_at: datetime, summary: str,
                  detail: dict[str, Any] | None = None, *, conn: Connection | None = None) -> bool:
        """Append a timeline row; False (and nothing written) when ``key`` is already there."""
        if kind not in TIMELINE_KINDS and kind != "target_due":
            raise ValueError(f"timeline kind {kind!r} is not one of {TIMELINE_KINDS + ('target_due',)}")
        values = {
            "ticket_id": int(ticket_id), "key": key, "kind": kind, "occurred_at": occurred_at,
            "summary": mask_pans(summary),
            "detail": json.dumps(mask_pans_deep(detail or {}), sort_keys=True, default=str),
            "created_at": self.clock(),
        }
        if conn is not None:
            return self.store.insert_ignoring_conflict(conn, escalation_events, values, ["key"]) is not None
        with self.store.begin() as own:
            return self.store.insert_ignoring_conflict(own, escalation_events, values, ["key"]) is not None

    def events(self, ticket_id: int, *, unmirrored_only: bool = False) -> list[TimelineEvent]:
        query = select(escalation_events).where(escalation_events.c.ticket_id == int(ticket_id))
        if unmirrored_only:
            query = query.where(escalation_events.c.mirrored_at.is_(None))
        with self.store.connect() as conn:
            return [_event(row) for row in conn.execute(query.order_by(escalation_events.c.id)).mappings()]

    def mark_mirrored(self, event_ids: Iterable[int], at: datetime | None = None) -> None:
        ids = [int(i) for i in event_ids]
        if not ids:
            return
        with self.store.begin() as conn:
            conn.execute(update(escalation_events).where(escalation_events.c.id.in_(ids))
                         .values(mirrored_at=at or self.clock()))


def record_to_json(record: EscalationRecord) -> dict[str, Any]:
    """A JSON-ready form of ``record`` (for job payloads and effect results)."""
    data = _row(record)
    data["rules"] = list(record.rules)
    data["sla"] = sla_to_dict(record.sla) if record.sla is not None else None
    for key in ("opened_at", "escalated_at", "resolved_at", "created_at", "updated_at"):
        data[key] = data[key].isoformat() if data[key] is not None else None
    return data


def record_from_json(data: dict[str, Any]) -> EscalationRecord:
    row = dict(data)
    row["rules"] = json.dumps(row.get("rules") or [])
    row["sla"] = json.dumps(row["sla"]) if row.get("sla") else None
    for key in ("opened_at", "escalated_at", "resolved_at", "created_at", "updated_at"):
        row[key] = datetime.fromisoformat(row[key]) if row.get(key) else None
    return _record(row)


def _row(record: EscalationRecord) -> dict[str, Any]:
    return {
        "ticket_id": record.ticket_id, "state": record.state, "level": record.level, "tier": record.tier,
        "rules": json.dumps(list(record.rules)), "subject": record.subject,
        "escalation_type": record.escalation_type, "amount": record.amount, "currency": record.currency,
        "requester_id": record.requester_id, "organization_id": record.organization_id,
        "account_ref": record.account_ref, "resolution": record.resolution,
        "opened_at": record.opened_at, "escalated_at": record.escalated_at, "resolved_at": record.resolved_at,
        "sla": json.dumps(sla_to_dict(record.sla)) if record.sla is not None else None,
        "last_transition": record.last_transition, "blocked_count": record.blocked_count,
        "salesforce_state": record.salesforce_state, "salesforce_account_id": record.salesforce_account_id,
        "salesforce_error": record.salesforce_error,
        "created_at": record.created_at, "updated_at": record.updated_at,
    }


def _record(row: Any) -> EscalationRecord:
    return EscalationRecord(
        ticket_id=int(row["ticket_id"]), state=row["state"], level=row["level"], tier=row["tier"],
        rules=tuple(json.loads(row["rules"])) if row["rules"] else (), subject=row["subject"],
        escalation_type=row["escalation_type"], amount=row["amount"], currency=row["currency"],
        requester_id=row["requester_id"], organization_id=row["organization_id"],
        account_ref=row["account_ref"], resolution=row["resolution"],
        opened_at=row["opened_at"], escalated_at=row["escalated_at"], resolved_at=row["resolved_at"],
        sla=sla_from_dict(json.loads(row["sla"])) if row["sla"] else None,
        last_transition=row["last_transition"], blocked_count=int(row["blocked_count"] or 0),
        salesforce_state=row["salesforce_state"], salesforce_account_id=row["salesforce_account_id"],
        salesforce_error=row["salesforce_error"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


def _event(row: Any) -> TimelineEvent:
    return TimelineEvent(
        id=int(row["id"]), ticket_id=int(row["ticket_id"]), key=row["key"], kind=row["kind"],
        occurred_at=row["occurred_at"], summary=row["summary"],
        detail=json.loads(row["detail"]) if row["detail"] else {}, mirrored_at=row["mirrored_at"],
    )
