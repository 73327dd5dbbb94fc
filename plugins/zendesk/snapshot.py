"""A Zendesk ticket, as the API returns it, turned into the escalation domain's
:class:`~connector.escalation.ticket.TicketSnapshot`: pure functions, no I/O.

Kept apart from :mod:`plugins.zendesk.client` so that the web process, which builds a
snapshot for the Zendesk app's save check (``POST /api/requirements``), does not import
Zenpy and requests (about 8 MB per gunicorn worker; docs/performance.md).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from connector.escalation.ticket import TicketSnapshot

__all__ = ["build_snapshot", "parse_time"]


def parse_time(value: str | datetime) -> datetime:
    """A Zendesk timestamp (``2026-11-23T17:00:00Z``) as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return moment.astimezone(timezone.utc)


def _field_id(ref: Any) -> int:
    return int(getattr(ref, "id", ref))


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def build_snapshot(raw_ticket: Mapping[str, Any], fields: Mapping[str, Any], *,
                   titles_by_id: Mapping[int, str] | None = None,
                   organization: Mapping[str, Any] | None = None) -> TicketSnapshot:
    """A :class:`TicketSnapshot` from a ticket as the API returns it (no I/O).

    ``fields`` maps logical names to ``FieldRef`` (or bare ids), as the manifest's
    ``zendesk.fields``. Every mapped name is in ``snapshot.fields`` (``None`` when the
    ticket has no value for it); ``titles_by_id`` (field id → title) fills
    ``field_titles``. ``organization`` must be the ticket's organization."""
    values: dict[int, Any] = {}
    for item in raw_ticket.get("custom_fields") or raw_ticket.get("fields") or []:
        if isinstance(item, Mapping) and item.get("id") is not None:
            values[int(item["id"])] = item.get("value")
    titles_by_id = titles_by_id or {}
    logical: dict[str, Any] = {}
    titles: dict[str, str] = {}
    for name, ref in fields.items():
        field_id = _field_id(ref)
        logical[name] = values.get(field_id)
        if titles_by_id.get(field_id):
            titles[name] = titles_by_id[field_id]
    organization_id = _int_or_none(raw_ticket.get("organization_id"))
    organization_tags: frozenset[str] = frozenset()
    if organization is not None:
        if organization_id is None or int(organization["id"]) != organization_id:
            raise ValueError(f"organization {organization.get('id')} is not ticket "
                             f"{raw_ticket.get('id')}'s organization ({organization_id})")
        organization_tags = frozenset(str(t) for t in organization.get("tags") or ())
    created = raw_ticket.get("created_at")
    return TicketSnapshot(
        id=int(raw_ticket["id"]),
        status=str(raw_ticket["status"]).lower(),
        updated_at=parse_time(raw_ticket["updated_at"]),
        custom_status_id=_int_or_none(raw_ticket.get("custom_status_id")),
        subject=raw_ticket.get("subject"),
        tags=frozenset(str(t) for t in raw_ticket.get("tags") or ()),
        fields=logical,
        field_titles=titles,
        requester_id=_int_or_none(raw_ticket.get("requester_id")),
        organization_id=organization_id,
        organization_tags=organization_tags,
        created_at=parse_time(created) if created else None,
    )
