"""The one internal event type every inbound webhook is normalised into.

Zendesk sends two payload styles (event-subscribed envelopes with string IDs and
UPPERCASE enums; trigger bodies whose placeholders all render as lowercase strings)
and Jira sends its own. Plugins turn each into an :class:`InboundEvent` so that the
pipeline, the store and the domain code see one shape: integer IDs, lowercase enums,
aware UTC datetimes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class InboundEvent:
    source: str
    """The system that sent it: ``"zendesk"`` or ``"jira"``."""
    event_type: str
    """Normalised type, e.g. ``ticket.custom_status_changed``, ``ticket.trigger``,
    ``jira:issue_updated``. The plugin registry dispatches on ``(source, event_type)``."""
    dedupe_key: str
    """Stable across redeliveries: Zendesk event ``id`` (else the invocation id),
    Jira's ``X-Atlassian-Webhook-Identifier``."""
    subject_key: str
    """The ordering lane: events with the same subject run one at a time, in order
    received. ``zendesk:ticket:123``, ``jira:issue:PAY-12``."""
    occurred_at: datetime
    """When it happened in the sending system (aware, UTC): the SLA clock starts here."""
    ticket_id: int | None = None
    actor_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    """Normalised detail; its shape is documented per event type by the plugin."""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "event_type": self.event_type,
            "dedupe_key": self.dedupe_key,
            "subject_key": self.subject_key,
            "occurred_at": self.occurred_at.isoformat(),
            "ticket_id": self.ticket_id,
            "actor_id": self.actor_id,
            "data": self.data,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "InboundEvent":
        return cls(
            source=raw["source"],
            event_type=raw["event_type"],
            dedupe_key=raw["dedupe_key"],
            subject_key=raw["subject_key"],
            occurred_at=datetime.fromisoformat(raw["occurred_at"]),
            ticket_id=raw.get("ticket_id"),
            actor_id=raw.get("actor_id"),
            data=raw.get("data") or {},
        )


class MalformedEvent(ValueError):
    """The body parsed, but it is not an event we can understand (answered 400)."""
