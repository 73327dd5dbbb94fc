"""What the escalation engine knows of a ticket: a vendor-neutral snapshot.

The Zendesk plugin builds a :class:`TicketSnapshot` from the ticket it has just read
(current state, never an old payload), translating Zendesk field ids to the manifest's
logical names. Everything the pure decision functions need is here or in
:class:`RuleFacts`; they do no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True)
class TicketSnapshot:
    id: int
    status: str
    """Zendesk status category, lowercase: new, open, pending, hold, solved, closed."""
    updated_at: datetime
    """Aware UTC; also the ``updated_stamp`` for ``safe_update``."""
    custom_status_id: int | None = None
    subject: str | None = None
    tags: frozenset[str] = frozenset()
    fields: Mapping[str, Any] = field(default_factory=dict)
    """Logical field name -> value as Zendesk stores it: str (text, dropdown tag, date
    ``YYYY-MM-DD``), bool (checkbox), number, or None when empty."""
    field_titles: Mapping[str, str] = field(default_factory=dict)
    """Logical field name -> the field's title in Zendesk (what agents see), for notes."""
    requester_id: int | None = None
    organization_id: int | None = None
    organization_tags: frozenset[str] = frozenset()
    created_at: datetime | None = None

    def value(self, name: str) -> Any:
        """The field's value, with blank strings treated as empty (None)."""
        raw = self.fields.get(name)
        if isinstance(raw, str) and not raw.strip():
            return None
        return raw

    def title(self, name: str) -> str:
        return self.field_titles.get(name) or name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class RuleFacts:
    """Facts the rules read that are not on the ticket itself, fetched by the plugin
    before deciding (so the decision stays pure)."""
    latest_requester_comment: str | None = None
    """The requester's most recent public comment (masked), if any."""
    requester_ticket_counts: Mapping[int, int] = field(default_factory=dict)
    """Window in days -> tickets the requester created in the window ending at the
    escalation's time (one count per distinct window the rules use)."""
