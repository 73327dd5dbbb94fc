"""Turn a Zendesk webhook body into an :class:`~connector.events.InboundEvent`.

Zendesk sends two styles to ``POST /webhooks/zendesk``; :func:`normalise_zendesk` tells
them apart by shape and gives both the same outside: integer IDs, lowercase enums,
``None`` for empty strings, an aware UTC ``occurred_at``, and
``subject_key = "zendesk:ticket:<id>"``.

**Event-subscribed envelopes** (``{"type": "zen:event-type:ticket.…", "id", "time",
"subject": "zen:ticket:<id>", "detail": {…}, "event": {…}}``; IDs are strings, enums
UPPERCASE):

- ``event_type``: ``type`` without ``zen:event-type:`` (``ticket.custom_status_changed``)
- ``dedupe_key``: the envelope ``id``, else the ``X-Zendesk-Webhook-Invocation-Id`` header
- ``occurred_at``: ``time``; ``ticket_id``: from ``subject`` and/or ``detail.id`` (they
  must agree); ``actor_id``: ``detail.actor_id``
- ``data["ticket"]``: ``detail`` with every ``*_id`` key, ``id`` and ``custom_status``
  as ints, ``status`` / ``priority`` / ``type`` lowercased, ``tags`` a list
- ``data["change"]``, by event type:

  - ``status_changed``, ``priority_changed``, ``type_changed``:
    ``{"previous": "open", "current": "solved"}``
  - ``custom_status_changed`` and the other ID changes (``agent_assignment_changed``,
    ``group_assignment_changed``, ``organization_changed``, ``requester_changed``,
    ``submitter_changed``, ``brand_changed``, ``form_changed``,
    ``problem_link_changed``): ``{"previous": 7000, "current": 7001}``, ints
  - ``custom_field_changed``: ``{"custom_field": {"id": int, "title", "type"},
    "previous": value, "current": value}``, values unwrapped from ``{"value": …}``; a
    checkbox's values are booleans
  - ``comment_added``: ``{"comment": {"id", "body", "public", "author_id",
    "author_is_staff"}}``
  - ``tags_changed``: ``{"added": [...], "removed": [...]}``
  - ``merged``: ``{"target_ticket_id": int}``
  - anything else (``created``, ``soft_deleted``…): the ``event`` object without
    ``meta``

Envelopes about something other than a ticket (``zen:user:…``) normalise to
``subject_key = "zendesk:<kind>:<id>"``, no ticket id and empty ``data``: the registry
ignores their types, and a 400 would only make Zendesk retry them.

**Trigger webhooks** — a JSON object with ``ticket_id``, whatever else the trigger's
body template renders. Every placeholder renders as a string, empty when the ticket has
no value. The keys this module reads (all optional but ``ticket_id``), with the
placeholder a template would use:

- ``ticket_id`` — ``{{ticket.id}}`` → ``ticket_id``, ``data.ticket.id``
- ``updated_at`` — ``{{ticket.updated_at_with_timestamp}}`` → ``occurred_at``
- ``status`` — ``{{ticket.status}}``; ``priority`` — ``{{ticket.priority}}``
- ``custom_status_id`` — the ticket's custom status id → ``data.ticket.custom_status``
- ``requester_id``, ``organization_id``, ``assignee_id`` — ``{{ticket.requester.id}}``,
  ``{{ticket.organization.id}}``, ``{{ticket.assignee.id}}``
- ``current_user_id`` — ``{{current_user.id}}`` → ``actor_id``
- ``tags`` — ``{{ticket.tags}}`` (space-separated) → a list
- ``event`` — a fixed word naming the trigger (``escalation``) → ``data.change.event``
- ``custom_fields`` — ``{"360001": "{{ticket.ticket_field_360001}}", …}`` →
  ``data.ticket.custom_fields = [{"id": 360001, "value": "…"}]``

A trigger body normalises to:

- ``event_type``: ``ticket.trigger``
- ``dedupe_key``: the ``X-Zendesk-Webhook-Invocation-Id`` header (required: a trigger
  body has no id of its own)
- ``occurred_at``: ``updated_at`` if present and an ISO 8601 time with an offset, else
  the ``X-Zendesk-Webhook-Signature-Timestamp`` header. (``*_with_timestamp``
  placeholders render to the minute, e.g. ``2026-11-23T14:05Z``.)
- ``data``: ``{"ticket": {"id", "status", "custom_status", "priority", "requester_id",
  "organization_id", "assignee_id", "updated_at", "tags", "custom_fields"}, "change":
  {"event"}}`` — key names match an envelope's ``detail`` so a handler reads either style
  the same way. Other keys in the body are ignored.

Card numbers in ``data`` (a card number pasted into a comment) are masked by
:class:`~connector.events.InboundEvent` itself; IDs are ints by then, so no ID is mistaken
for a card number.

Headers are looked up case-insensitively in any mapping.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from connector.events import (
    InboundEvent, MalformedEvent, header_text, iso_instant, optional_object, shown, stripped_text,
)
from connector.signing import parse_iso8601

SOURCE = "zendesk"
EVENT_TYPE_PREFIX = "zen:event-type:"
TRIGGER_EVENT_TYPE = "ticket.trigger"
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"

_SUBJECT = re.compile(r"^zen:([a-z_]+):(.+)$")
_INTEGER = re.compile(r"^-?[0-9]+$")
_ENUM_KEYS = frozenset({"status", "priority", "type"})
_ID_KEYS = frozenset({"id", "custom_status"})


def normalise_zendesk(payload: dict[str, Any], headers: Mapping[str, str]) -> InboundEvent:
    """Normalise either style of Zendesk webhook body; raise
    :class:`~connector.events.MalformedEvent` saying what is wrong when it cannot."""
    if not isinstance(payload, Mapping):
        raise MalformedEvent(f"the body must be a JSON object, not {type(payload).__name__}")
    kind = payload.get("type")
    if isinstance(kind, str) and kind.startswith(EVENT_TYPE_PREFIX):
        return _from_envelope(payload, headers)
    if "ticket_id" in payload:
        return _from_trigger(payload, headers)
    if "type" in payload:
        raise MalformedEvent(
            f"type {shown(kind)} is not a Zendesk event type (expected zen:event-type:…), "
            "and there is no ticket_id for a trigger body"
        )
    raise MalformedEvent(
        "neither an event webhook (no 'type') nor a trigger webhook (no 'ticket_id')"
    )


# --- event-subscribed envelopes ---------------------------------------------------------

def _from_envelope(payload: Mapping[str, Any], headers: Mapping[str, str]) -> InboundEvent:
    event_type = payload["type"][len(EVENT_TYPE_PREFIX):]
    if not event_type:
        raise MalformedEvent("type is 'zen:event-type:' with no event name after it")
    dedupe_key = stripped_text(payload.get("id")) or header_text(headers, INVOCATION_HEADER)
    if not dedupe_key:
        raise MalformedEvent(f"the event has no id and there is no {INVOCATION_HEADER} header")
    occurred_at = iso_instant(payload.get("time"), "time")
    detail = optional_object(payload.get("detail"), "detail")
    event = optional_object(payload.get("event"), "event")
    subject_kind, subject_id = _subject(payload.get("subject"))

    if not event_type.startswith("ticket."):
        if subject_kind is None:
            raise MalformedEvent(f"a {event_type} event needs a subject like zen:user:<id>")
        return InboundEvent(
            source=SOURCE,
            event_type=event_type,
            dedupe_key=dedupe_key,
            subject_key=f"zendesk:{subject_kind}:{subject_id}",
            occurred_at=occurred_at,
        )

    if subject_kind not in (None, "ticket"):
        raise MalformedEvent(f"a {event_type} event has subject zen:{subject_kind}:…, not zen:ticket:<id>")
    from_subject = _ticket_id(subject_id, "subject") if subject_id is not None else None
    from_detail = _ticket_id(detail["id"], "detail.id") if detail.get("id") not in (None, "") else None
    if from_subject is None and from_detail is None:
        raise MalformedEvent(f"a {event_type} event names no ticket (no subject zen:ticket:<id>, no detail.id)")
    if from_subject is not None and from_detail is not None and from_subject != from_detail:
        raise MalformedEvent(f"subject names ticket {from_subject} but detail.id is {from_detail}")
    ticket_id = from_subject if from_subject is not None else from_detail

    ticket = _ticket_detail(detail)
    ticket["id"] = ticket_id
    change = _CHANGES.get(event_type, _other_change)(event)
    return _ticket_event(event_type, dedupe_key, occurred_at, ticket, change, actor_id=ticket.get("actor_id"))


def _ticket_event(event_type: str, dedupe_key: str, occurred_at: datetime, ticket: dict[str, Any],
                  change: dict[str, Any], actor_id: int | None) -> InboundEvent:
    """The event about ``ticket["id"]``, in its ticket's lane, strings masked (either style)."""
    ticket_id = ticket["id"]
    return InboundEvent(
        source=SOURCE,
        event_type=event_type,
        dedupe_key=dedupe_key,
        subject_key=f"zendesk:ticket:{ticket_id}",
        occurred_at=occurred_at,
        ticket_id=ticket_id,
        actor_id=actor_id,
        data={"ticket": ticket, "change": change},
    )


def _ticket_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    ticket: dict[str, Any] = {}
    for key, value in detail.items():
        where = f"detail.{key}"
        if key in _ID_KEYS or key.endswith("_id") and key != "external_id":
            ticket[key] = _int_id(value, where)
        elif key in _ENUM_KEYS:
            ticket[key] = _enum(value, where)
        elif key == "tags":
            ticket[key] = _tags(value, where)
        elif key == "via" and isinstance(value, Mapping):
            ticket[key] = {k: _enum(v, f"{where}.{k}") if k == "channel" else _blank_to_none(v)
                           for k, v in value.items()}
        else:
            ticket[key] = _blank_to_none(value)
    return ticket


def _enum_change(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "previous": _enum(event.get("previous"), "event.previous"),
        "current": _enum(event.get("current"), "event.current"),
    }


def _id_change(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "previous": _int_id(event.get("previous"), "event.previous"),
        "current": _int_id(event.get("current"), "event.current"),
    }


def _custom_field_change(event: Mapping[str, Any]) -> dict[str, Any]:
    field = optional_object(event.get("custom_field"), "event.custom_field")
    field_id = _int_id(field.get("id"), "event.custom_field.id")
    if field_id is None:
        raise MalformedEvent("a custom_field_changed event has no event.custom_field.id")
    field_type = _enum(field.get("type", field.get("field_type")), "event.custom_field.type")
    return {
        "custom_field": {"id": field_id, "title": _blank_to_none(field.get("title")), "type": field_type},
        "previous": _field_value(event.get("previous"), field_type, "event.previous"),
        "current": _field_value(event.get("current"), field_type, "event.current"),
    }


def _field_value(raw: Any, field_type: str | None, where: str) -> Any:
    # Documented as {"value": …}; a bare value is accepted too.
    value = raw.get("value") if isinstance(raw, Mapping) else raw
    value = _blank_to_none(value)
    if field_type == "checkbox" and value is not None:
        return _boolean(value, f"{where}.value")
    return value


def _comment_change(event: Mapping[str, Any]) -> dict[str, Any]:
    comment = optional_object(event.get("comment"), "event.comment")
    author = comment.get("author")
    author = author if isinstance(author, Mapping) else {}
    author_id = comment.get("author_id", author.get("id"))
    public = comment.get("is_public", comment.get("public"))
    staff = author.get("is_staff")
    return {
        "comment": {
            "id": _int_id(comment.get("id"), "event.comment.id"),
            "body": _blank_to_none(comment.get("body")),
            "public": None if public is None else _boolean(public, "event.comment.is_public"),
            "author_id": _int_id(author_id, "event.comment.author.id"),
            "author_is_staff": None if staff is None else _boolean(staff, "event.comment.author.is_staff"),
        }
    }


def _tags_change(event: Mapping[str, Any]) -> dict[str, Any]:
    # Sent as tags_added / tags_removed; {"tags": {"added", "removed"}} is accepted too.
    nested = event.get("tags") if isinstance(event.get("tags"), Mapping) else {}
    return {
        "added": _tags(event.get("tags_added", nested.get("added")), "event.tags_added"),
        "removed": _tags(event.get("tags_removed", nested.get("removed")), "event.tags_removed"),
    }


def _merged_change(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"target_ticket_id": _int_id(event.get("target_ticket_id"), "event.target_ticket_id")}


def _other_change(event: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _blank_to_none(value) for key, value in event.items() if key != "meta"}


_CHANGES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "ticket.status_changed": _enum_change,
    "ticket.priority_changed": _enum_change,
    "ticket.type_changed": _enum_change,
    "ticket.custom_status_changed": _id_change,
    "ticket.agent_assignment_changed": _id_change,
    "ticket.group_assignment_changed": _id_change,
    "ticket.organization_changed": _id_change,
    "ticket.requester_changed": _id_change,
    "ticket.submitter_changed": _id_change,
    "ticket.brand_changed": _id_change,
    "ticket.form_changed": _id_change,
    "ticket.problem_link_changed": _id_change,
    "ticket.custom_field_changed": _custom_field_change,
    "ticket.comment_added": _comment_change,
    "ticket.tags_changed": _tags_change,
    "ticket.merged": _merged_change,
}


# --- trigger bodies -------------------------------------------------------------------

_TRIGGER_IDS = ("requester_id", "organization_id", "assignee_id")
_TRIGGER_ENUMS = ("status", "priority")


def _from_trigger(payload: Mapping[str, Any], headers: Mapping[str, str]) -> InboundEvent:
    ticket_id = _ticket_id(payload.get("ticket_id"), "ticket_id")
    dedupe_key = header_text(headers, INVOCATION_HEADER)
    if not dedupe_key:
        raise MalformedEvent(f"a trigger webhook needs the {INVOCATION_HEADER} header (its de-duplication key)")
    updated_at = _blank_to_none(payload.get("updated_at"))
    occurred_at = _trigger_time(updated_at, header_text(headers, TIMESTAMP_HEADER))

    ticket: dict[str, Any] = {"id": ticket_id}
    for key in _TRIGGER_ENUMS:
        ticket[key] = _enum(payload.get(key), key)
    ticket["custom_status"] = _int_id(payload.get("custom_status_id"), "custom_status_id")
    for key in _TRIGGER_IDS:
        ticket[key] = _int_id(payload.get(key), key)
    ticket["updated_at"] = updated_at
    ticket["tags"] = _tags(payload.get("tags"), "tags")
    ticket["custom_fields"] = _trigger_custom_fields(payload.get("custom_fields"))

    event_name = payload.get("event")
    change = {"event": _enum(event_name, "event")}
    actor_id = _int_id(payload.get("current_user_id"), "current_user_id")
    return _ticket_event(TRIGGER_EVENT_TYPE, dedupe_key, occurred_at, ticket, change, actor_id=actor_id)


def _trigger_time(updated_at: Any, header: str | None) -> datetime:
    if isinstance(updated_at, str):
        try:
            return parse_iso8601(updated_at)
        except ValueError:
            pass
    if header:
        try:
            return parse_iso8601(header)
        except ValueError:
            pass
    raise MalformedEvent(
        f"a trigger webhook needs updated_at or the {TIMESTAMP_HEADER} header as an ISO 8601 "
        "time with a UTC offset"
    )


def _trigger_custom_fields(raw: Any) -> list[dict[str, Any]]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(item, Mapping) for item in raw):
        pairs = [(item.get("id"), item.get("value")) for item in raw]
    else:
        raise MalformedEvent("custom_fields must be an object of field id → value (or a list of {id, value})")
    fields = []
    for key, value in pairs:
        field_id = _int_id(key, f"custom_fields key {shown(key)}")
        if field_id is None:
            raise MalformedEvent("custom_fields has an empty field id")
        fields.append({"id": field_id, "value": _blank_to_none(value)})
    return fields


# --- small parsers ----------------------------------------------------------------------

def _subject(raw: Any) -> tuple[str | None, str | None]:
    if raw is None or raw == "":
        return None, None
    match = _SUBJECT.match(raw) if isinstance(raw, str) else None
    if not match:
        raise MalformedEvent(f"subject {shown(raw)} is not of the form zen:<kind>:<id>")
    return match.group(1), match.group(2)


def _ticket_id(raw: Any, where: str) -> int:
    try:
        value = _int_id(raw, where)
    except MalformedEvent:
        value = None
    if value is None or value <= 0:
        raise MalformedEvent(f"{where} {shown(raw)} is not a ticket ID (a positive integer){_placeholder_hint(raw)}")
    return value


def _int_id(raw: Any, where: str) -> int | None:
    """An ID that Zendesk may send as a string or a number; empty means none."""
    if raw is None or isinstance(raw, bool):
        if raw is None:
            return None
        raise MalformedEvent(f"{where} is {raw!r}, not an integer ID")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None
        if _INTEGER.match(text):
            return int(text)
    raise MalformedEvent(f"{where} {shown(raw)} is not an integer ID{_placeholder_hint(raw)}")


def _enum(raw: Any, where: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise MalformedEvent(f"{where} {shown(raw)} is not a string")
    text = raw.strip()
    return text.lower() or None


def _tags(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list) and all(isinstance(tag, str) for tag in raw):
        return [tag for tag in raw if tag]
    raise MalformedEvent(f"{where} must be a list of tags or a space-separated string")


def _boolean(raw: Any, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("false", "0", "no"):
        return False
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    raise MalformedEvent(f"{where} {shown(raw)} is not a boolean")


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _placeholder_hint(raw: Any) -> str:
    if isinstance(raw, str) and "{{" in raw:
        return " — the trigger sent an unrendered placeholder; check its body template"
    return ""


__all__ = ["normalise_zendesk", "TRIGGER_EVENT_TYPE", "INVOCATION_HEADER", "TIMESTAMP_HEADER"]
