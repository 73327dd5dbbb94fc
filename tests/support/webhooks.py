"""Signed webhook requests as Zendesk and Jira send them."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

SECRET = "zendesk-signing-secret-current"
OLD_SECRET = "zendesk-signing-secret-previous"
JIRA_SECRET = "jira-webhook-secret"


def status_changed(ticket_id: int, event_id: str | None = None, *, current="OPEN", previous="NEW",
                   time: datetime | None = None, comment: str | None = None) -> dict:
    when = (time or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    detail = {"id": str(ticket_id), "status": current, "priority": "HIGH", "actor_id": "9001",
              "requester_id": "501", "organization_id": "77", "subject": "Payment run not started",
              "created_at": "2026-11-20T14:00:00Z", "updated_at": when, "tags": ["payments"]}
    if comment:
        detail["description"] = comment
    return {
        "type": "zen:event-type:ticket.status_changed",
        "account_id": 10000001,
        "id": event_id or str(uuid.uuid4()),
        "time": when,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": detail,
        "event": {"current": current, "previous": previous},
    }


def zendesk_headers(body: bytes, *, secret: str = SECRET, timestamp: datetime | None = None,
                    invocation_id: str | None = None) -> dict[str, str]:
    from connector.signing import sign_zendesk

    stamp = (timestamp or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Id": "01HWEBHOOK",
        "X-Zendesk-Webhook-Invocation-Id": invocation_id or str(uuid.uuid4()),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Signature": sign_zendesk(body, secret, stamp),
        "X-Zendesk-Account-Id": "10000001",
    }


def encode(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def jira_issue_updated(key: str = "PAY-12", to_status: str = "Done") -> dict:
    return {
        "timestamp": int(datetime.now(timezone.utc).timestamp() * 1000),
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Eng Lead"},
        "issue": {"id": "10012", "key": key, "fields": {
            "status": {"name": to_status, "statusCategory": {"key": "done"}},
            "resolution": {"name": "Fixed"}}},
        "changelog": {"items": [{"field": "status", "fromString": "In Progress", "toString": to_status}]},
    }


def jira_headers(body: bytes, *, secret: str = JIRA_SECRET, identifier: str | None = None) -> dict[str, str]:
    from connector.signing import sign_hub

    return {
        "Content-Type": "application/json",
        "X-Hub-Signature": sign_hub(body, secret),
        "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
    }
