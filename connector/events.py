"""The one internal event type every inbound webhook is normalised into.

Zendesk sends two payload styles (event-subscribed envelopes with string IDs and
UPPERCASE enums; trigger bodies whose placeholders all render as lowercase strings)
and Jira sends its own. Plugins turn each into an :class:`InboundEvent` so that the
pipeline, the store and the domain code see one shape: integer IDs, lowercase enums,
aware UTC datetimes.

The helpers at the end are what both normalisers need to read a payload: a value shown
in an error, an optional nested object, a header's text, a time as ISO 8601 or epoch
milliseconds. Each raises :class:`MalformedEvent` naming where the bad value was, so the
400 says precisely what to fix.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from connector.masking import mask_pans_deep
from connector.signing import get_header, parse_iso8601


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
    """Normalised detail; its shape is documented per event type by the plugin. Every
    string in it (dict keys too) has its card numbers masked when the event is made, so
    no InboundEvent ever holds one (:func:`~connector.masking.mask_pans_deep`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", mask_pans_deep(self.data))

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


# --- reading a payload (used by the plugins' normalisers) -------------------------------

_DIGITS = re.compile(r"^[0-9]+$")


def shown(raw: Any) -> str:
    """``repr(raw)`` for an error message, cut to 60 characters."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "…"


def optional_object(raw: Any, where: str) -> Mapping[str, Any]:
    """``raw`` if it is a JSON object, ``{}`` if it is absent (``None``); anything else is
    malformed."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"{where} must be a JSON object, not {type(raw).__name__}")
    return raw


def stripped_text(raw: Any) -> str | None:
    """``raw`` without surrounding white space if it is a non-blank string, else ``None``."""
    if isinstance(raw, str) and raw.strip():
        return raw.strip()
    return None


def header_text(headers: Mapping[str, str], name: str) -> str | None:
    """The header ``name`` (any case), stripped; ``None`` when absent or blank."""
    return stripped_text(get_header(headers, name))


def iso_instant(raw: Any, where: str) -> datetime:
    """An ISO 8601 time with a UTC offset, as an aware UTC datetime; required."""
    if raw is None or raw == "":
        raise MalformedEvent(f"the event has no {where}")
    try:
        return parse_iso8601(raw)
    except ValueError:
        raise MalformedEvent(f"{where} {shown(raw)} is not an ISO 8601 time with a UTC offset") from None


def epoch_ms_instant(raw: Any, where: str) -> datetime:
    """Epoch milliseconds (a number, or a string of digits) as an aware UTC datetime."""
    if isinstance(raw, str) and _DIGITS.match(raw.strip()):
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise MalformedEvent(f"{where} {shown(raw)} is not a time in epoch milliseconds")
    try:
        return datetime.fromtimestamp(raw / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent(f"{where} {shown(raw)} is out of range for epoch milliseconds") from None
