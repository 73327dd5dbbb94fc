"""Jira admin-webhook bodies normalised into InboundEvents, one fixture per event."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from connector.events import InboundEvent, MalformedEvent
from plugins.jira.events import normalise_jira

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jira"
HEADERS = {"X-Atlassian-Webhook-Identifier": "4b1e6a35-98a4-4f2b-9f6b-7d0c5e3a1f22", "X-Hub-Signature": "x"}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fire(name: str, headers=HEADERS) -> InboundEvent:
    return normalise_jira(fixture(name), headers)


def test_issue_moved_to_done_becomes_an_event_with_status_resolution_and_changes():
    event = fire("issue_updated_status_done")
    assert event == InboundEvent(
        source="jira",
        event_type="jira:issue_updated",
        dedupe_key="4b1e6a35-98a4-4f2b-9f6b-7d0c5e3a1f22",
        subject_key="jira:issue:PAY-12",
        occurred_at=datetime(2026, 11, 24, 15, 4, 56, 123000, tzinfo=timezone.utc),
        ticket_id=None,
        actor_id=None,
        data={
            "issue": {"id": 10012, "key": "PAY-12", "status": "Done", "status_category": "done",
                      "resolution": "Fixed"},
            "changes": [
                {"field": "resolution", "from": None, "to": "Fixed"},
                {"field": "status", "from": "In Progress", "to": "Done"},
            ],
            "actor": {"account_id": "5b10a2844c20165700ede21g", "display_name": "Eng Lead"},
        },
    )


def test_reopened_issue_has_no_resolution_and_card_numbers_in_changes_are_masked():
    event = fire("issue_updated_reopened")
    assert event.data["issue"] == {"id": 10012, "key": "PAY-12", "status": "To Do", "status_category": "new",
                                   "resolution": None}
    assert event.data["changes"] == [
        {"field": "resolution", "from": "Fixed", "to": None},
        {"field": "status", "from": "Done", "to": "To Do"},
        {"field": "description", "from": "Customer card **** **** **** 4444 charged twice.",
         "to": "Customer card charged twice; see ZD 4821."},
    ]


def test_issue_created_has_no_changes():
    event = fire("issue_created")
    assert event.event_type == "jira:issue_created"
    assert event.subject_key == "jira:issue:PAY-12"
    assert event.occurred_at == datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
    assert event.data["changes"] == []
    assert event.data["actor"] == {"account_id": "712020:2f1c7e0a-connector", "display_name": "Escalation Connector"}


def test_a_change_without_display_strings_falls_back_to_the_raw_values():
    payload = fixture("issue_updated_status_done")
    payload["changelog"]["items"] = [{"field": "priority", "from": "3", "to": "2"}]
    assert normalise_jira(payload, HEADERS).data["changes"] == [{"field": "priority", "from": "3", "to": "2"}]


def test_a_webhook_without_an_issue_gets_its_own_lane():
    body = {"timestamp": 1795510800000, "webhookEvent": "project_created", "project": {"key": "NEW"}}
    event = normalise_jira(body, HEADERS)
    assert event.event_type == "project_created"
    assert event.subject_key == "jira:webhook:project_created"
    assert event.data == {"issue": None, "changes": [], "actor": None}


def test_the_stored_form_round_trips():
    event = fire("issue_updated_status_done")
    assert InboundEvent.from_json(json.loads(json.dumps(event.to_json()))) == event


@pytest.mark.parametrize("headers", [
    {"x-atlassian-webhook-identifier": "id-1"},
    {"X-ATLASSIAN-WEBHOOK-IDENTIFIER": "id-1"},
    Headers([("X-Atlassian-Webhook-Identifier", "id-1")]),
])
def test_the_identifier_header_is_found_whatever_its_case(headers):
    assert fire("issue_created", headers).dedupe_key == "id-1"


def test_the_timestamp_may_arrive_as_a_string_of_digits():
    payload = fixture("issue_created")
    payload["timestamp"] = "1795510800000"
    assert normalise_jira(payload, HEADERS).occurred_at == datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


def edited(name: str, path: tuple, value) -> dict:
    payload = fixture(name)
    target = payload
    for key in path[:-1]:
        target = target[key]
    if value is None:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize("payload, headers, message", [
    (fixture("issue_created"), {}, "the X-Atlassian-Webhook-Identifier header is missing"),
    (fixture("issue_created"), {"X-Atlassian-Webhook-Identifier": " "}, "header is missing"),
    (edited("issue_created", ("webhookEvent",), None), HEADERS, "webhookEvent is missing"),
    (edited("issue_created", ("timestamp",), None), HEADERS, "timestamp None is not a time in epoch milliseconds"),
    (edited("issue_created", ("timestamp",), "yesterday"), HEADERS, "timestamp 'yesterday' is not a time"),
    (edited("issue_created", ("timestamp",), 10**30), HEADERS, "out of range"),
    (edited("issue_created", ("issue",), "PAY-12"), HEADERS, "issue must be a JSON object"),
    (edited("issue_created", ("issue", "key"), None), HEADERS, "issue.key None is not a Jira issue key"),
    (edited("issue_created", ("issue", "key"), "x" * 100), HEADERS,
     "issue.key '" + "x" * 56 + "… is not a Jira issue key"),
    (edited("issue_created", ("issue", "key"), "pay-12"), HEADERS, "issue.key 'pay-12' is not a Jira issue key"),
    (edited("issue_created", ("issue", "key"), "PAY12"), HEADERS, "is not a Jira issue key like PAY-12"),
    (edited("issue_created", ("issue", "id"), "ten"), HEADERS, "issue.id 'ten' is not an integer id"),
    (edited("issue_created", ("issue", "fields"), []), HEADERS, "issue.fields must be a JSON object"),
    (edited("issue_updated_status_done", ("changelog", "items"), {"field": "status"}), HEADERS,
     "changelog.items must be a list"),
    (edited("issue_updated_status_done", ("changelog", "items"), ["status"]), HEADERS,
     "changelog.items[0] must be a JSON object"),
])
def test_bodies_we_cannot_understand_are_malformed_with_a_precise_message(payload, headers, message):
    with pytest.raises(MalformedEvent, match=re.escape(message)):
        normalise_jira(payload, headers)


EVENT_TYPE_OF_FIXTURE = {
    "issue_updated_status_done": "jira:issue_updated",
    "issue_updated_reopened": "jira:issue_updated",
    "issue_created": "jira:issue_created",
}


def test_every_fixture_on_disk_is_listed_here():
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(EVENT_TYPE_OF_FIXTURE)


@pytest.mark.parametrize("name, event_type", sorted(EVENT_TYPE_OF_FIXTURE.items()))
def test_every_fixture_normalises_to_the_event_its_name_promises(name, event_type):
    event = fire(name)
    assert event.source == "jira"
    assert event.event_type == event_type
    assert event.subject_key == "jira:issue:PAY-12"
