"""Turn a Jira admin-webhook body into an :class:`~connector.events.InboundEvent`.

Jira sends ``{"timestamp": <epoch ms>, "webhookEvent": "jira:issue_updated",
"issue_event_type_name", "user": {"accountId", "displayName"}, "issue": {"id", "key",
"fields": {"status": {"name", "statusCategory": {"key"}}, "resolution"}}, "changelog":
{"items": [{"field", "from", "fromString", "to", "toString"}]}}``. It becomes:

- ``source``: ``jira``; ``event_type``: ``webhookEvent`` as sent (``jira:issue_updated``)
- ``dedupe_key``: the ``X-Atlassian-Webhook-Identifier`` header, which stays the same
  across Jira's retries (required)
- ``occurred_at``: ``timestamp`` (epoch milliseconds), aware UTC
- ``subject_key``: ``jira:issue:<KEY>`` (``jira:issue:PAY-12``); ``ticket_id`` and
  ``actor_id`` are ``None`` (Jira users have string account ids: see ``data.actor``)
- ``data``::

    {"issue": {"id": 10012, "key": "PAY-12", "status": "Done",
               "status_category": "done", "resolution": "Fixed"},
     "changes": [{"field": "status", "from": "In Progress", "to": "Done"}],
     "actor": {"account_id": "5b10…", "display_name": "Eng Lead"}}

  ``status`` is the status *name* as Jira shows it (what the connector writes to
  Zendesk's ``jira_status``); ``status_category`` is the category key (``new``,
  ``indeterminate``, ``done``); ``resolution`` is the resolution name or ``None``.
  A change's ``from`` / ``to`` are the display strings (``fromString`` / ``toString``),
  falling back to the raw ``from`` / ``to`` when Jira sends no string.

A webhook about something other than an issue (no ``issue`` object) normalises to
``subject_key = "jira:webhook:<webhookEvent>"`` with ``data["issue"] = None``, so the
registry can ignore it with a 200 instead of a 400 that Jira would retry.

Card numbers in ``data`` (a description change can carry a pasted one) are masked by
:class:`~connector.events.InboundEvent` itself.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connector.events import (
    InboundEvent, MalformedEvent, epoch_ms_instant, header_text, optional_object, shown,
)

SOURCE = "jira"
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"

_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
_INTEGER = re.compile(r"^[0-9]+$")


def normalise_jira(payload: dict[str, Any], headers: Mapping[str, str]) -> InboundEvent:
    """Normalise a Jira webhook body; raise :class:`~connector.events.MalformedEvent`
    saying what is wrong when it cannot."""
    if not isinstance(payload, Mapping):
        raise MalformedEvent(f"the body must be a JSON object, not {type(payload).__name__}")
    dedupe_key = header_text(headers, IDENTIFIER_HEADER)
    if dedupe_key is None:
        raise MalformedEvent(f"the {IDENTIFIER_HEADER} header is missing (it is the de-duplication key)")
    event_type = payload.get("webhookEvent")
    if not isinstance(event_type, str) or not event_type.strip():
        raise MalformedEvent("webhookEvent is missing: this is not a Jira webhook body")
    event_type = event_type.strip()
    occurred_at = epoch_ms_instant(payload.get("timestamp"), "timestamp")

    raw_issue = payload.get("issue")
    if raw_issue is None:
        issue = None
        subject_key = f"jira:webhook:{event_type}"
    else:
        issue = _issue(raw_issue)
        subject_key = f"jira:issue:{issue['key']}"
    data = {"issue": issue, "changes": _changes(payload.get("changelog")), "actor": _actor(payload.get("user"))}
    return InboundEvent(
        source=SOURCE,
        event_type=event_type,
        dedupe_key=dedupe_key,
        subject_key=subject_key,
        occurred_at=occurred_at,
        data=data,
    )


def _issue(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedEvent(f"issue must be a JSON object, not {type(raw).__name__}")
    key = raw.get("key")
    if not isinstance(key, str) or not _ISSUE_KEY.match(key.strip()):
        raise MalformedEvent(f"issue.key {shown(key)} is not a Jira issue key like PAY-12")
    issue_id = raw.get("id")
    if isinstance(issue_id, str) and _INTEGER.match(issue_id.strip()):
        issue_id = int(issue_id.strip())
    elif issue_id is not None and (isinstance(issue_id, bool) or not isinstance(issue_id, int)):
        raise MalformedEvent(f"issue.id {shown(issue_id)} is not an integer id")
    fields = optional_object(raw.get("fields"), "issue.fields")
    status = optional_object(fields.get("status"), "issue.fields.status")
    category = optional_object(status.get("statusCategory"), "issue.fields.status.statusCategory")
    resolution = fields.get("resolution")
    resolution_name = resolution.get("name") if isinstance(resolution, Mapping) else resolution
    category_key = _text(category.get("key"))
    return {
        "id": issue_id,
        "key": key.strip(),
        "status": _text(status.get("name")),
        "status_category": category_key.lower() if category_key else None,
        "resolution": _text(resolution_name),
    }


def _changes(raw: Any) -> list[dict[str, Any]]:
    changelog = optional_object(raw, "changelog")
    items = changelog.get("items") or []
    if not isinstance(items, list):
        raise MalformedEvent("changelog.items must be a list")
    changes = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise MalformedEvent(f"changelog.items[{index}] must be a JSON object")
        changes.append({
            "field": _text(item.get("field")),
            "from": _text(item.get("fromString")) if item.get("fromString") is not None else _text(item.get("from")),
            "to": _text(item.get("toString")) if item.get("toString") is not None else _text(item.get("to")),
        })
    return changes


def _actor(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        return None
    return {"account_id": _text(raw.get("accountId")), "display_name": _text(raw.get("displayName"))}


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    text = str(raw) if not isinstance(raw, str) else raw
    return text if text.strip() else None


__all__ = ["normalise_jira", "IDENTIFIER_HEADER"]
