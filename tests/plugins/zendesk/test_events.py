"""Zendesk webhook bodies, both styles, normalised into InboundEvents.

Each fixture under tests/fixtures/zendesk/ is named after the event it holds; the last
tests fail when a fixture is added without saying which event it holds."""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers

from connector.events import InboundEvent, MalformedEvent
from plugins.zendesk.events import normalise_zendesk

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zendesk"

HEADERS = {
    "x-zendesk-webhook-id": "01HWEBHOOK",
    "x-zendesk-webhook-invocation-id": "8350205596523",
    "x-zendesk-webhook-signature": "ignored-here",
    "x-zendesk-webhook-signature-timestamp": "2026-11-23T14:05:41Z",
    "x-zendesk-account-id": "10000001",
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fire(name: str, headers=HEADERS) -> InboundEvent:
    return normalise_zendesk(fixture(name), headers)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


EXPECTED_TICKET = {
    "actor_id": 21938461522,
    "assignee_id": 21938461522,
    "brand_id": 360000112233,
    "created_at": "2026-11-23T13:12:09Z",
    "custom_status": 7001,
    "description": "Our payment run for 23 Nov did not start. Batch ref 2026-11-23-0042.",
    "external_id": None,
    "form_id": 360000445566,
    "group_id": 360000778899,
    "id": 4821,
    "is_public": True,
    "organization_id": 360009988776,
    "priority": "high",
    "requester_id": 21938400017,
    "status": "open",
    "subject": "Payment run not started",
    "submitter_id": 21938400017,
    "tags": ["payments", "ach"],
    "type": "incident",
    "updated_at": "2026-11-23T14:05:37Z",
    "via": {"channel": "web_service"},
}


# --- event-subscribed envelopes -------------------------------------------------------

def test_custom_status_changed_becomes_an_event_with_int_custom_status_ids():
    event = fire("ticket_custom_status_changed")
    assert event == InboundEvent(
        source="zendesk",
        event_type="ticket.custom_status_changed",
        dedupe_key="5a4e8f8e-2f4c-4f7c-9a51-0c3f1d7b9e21",
        subject_key="zendesk:ticket:4821",
        occurred_at=utc(2026, 11, 23, 14, 5, 37, 512094),
        ticket_id=4821,
        actor_id=21938461522,
        data={"ticket": EXPECTED_TICKET, "change": {"previous": 7000, "current": 7001}},
    )


def test_status_changed_lowercases_the_statuses():
    event = fire("ticket_status_changed")
    assert event.event_type == "ticket.status_changed"
    assert event.dedupe_key == "0d6b3f0e-8a0b-47a8-b1de-1f6b2a0c4e55"
    assert event.occurred_at == utc(2026, 11, 23, 14, 5, 37, 498311)
    assert event.data == {"ticket": EXPECTED_TICKET, "change": {"previous": "new", "current": "open"}}


def test_public_comment_added_carries_the_comment_with_its_card_number_masked():
    event = fire("ticket_comment_added_public")
    assert event.event_type == "ticket.comment_added"
    assert event.actor_id == 21938400017
    assert event.data["change"] == {
        "comment": {
            "id": 30064117810589,
            "body": "We were charged twice. The card used was **** **** **** 1111, order 5523817 on "
                    "2026-11-22. If this is not fixed today our lawyer will be in touch.",
            "public": True,
            "author_id": 21938400017,
            "author_is_staff": False,
        }
    }
    assert event.data["ticket"]["via"] == {"channel": "email"}
    assert "4111 1111 1111 1111" not in json.dumps(event.to_json())


def test_custom_field_changed_gives_the_field_id_as_int_and_checkbox_values_as_booleans():
    event = fire("ticket_custom_field_changed")
    assert event.event_type == "ticket.custom_field_changed"
    assert event.data["change"] == {
        "custom_field": {"id": 360019, "title": "Bridge opened", "type": "checkbox"},
        "previous": False,
        "current": True,
    }
    assert event.data["ticket"]["priority"] == "urgent"


@pytest.mark.parametrize("sent, expected", [("true", True), ("false", False), ("1", True), ("0", False)])
def test_checkbox_values_sent_as_strings_become_booleans(sent, expected):
    payload = fixture("ticket_custom_field_changed")
    payload["event"]["current"] = {"value": sent}
    assert normalise_zendesk(payload, HEADERS).data["change"]["current"] is expected


def test_custom_field_values_of_other_types_are_kept_and_empty_is_none():
    payload = fixture("ticket_custom_field_changed")
    payload["event"]["custom_field"] = {"id": "360007", "title": "Amount", "type": "DECIMAL"}
    payload["event"]["previous"] = {"value": ""}
    payload["event"]["current"] = {"value": "12500.00"}
    change = normalise_zendesk(payload, HEADERS).data["change"]
    assert change == {
        "custom_field": {"id": 360007, "title": "Amount", "type": "decimal"},
        "previous": None,
        "current": "12500.00",
    }


def test_tags_changed_lists_added_and_removed_tags():
    event = fire("ticket_tags_changed")
    assert event.event_type == "ticket.tags_changed"
    assert event.data["change"] == {"added": ["security_incident"], "removed": ["escalation_blocked"]}


def test_tags_changed_also_reads_the_nested_form():
    payload = fixture("ticket_tags_changed")
    payload["event"] = {"tags": {"added": ["vip"], "removed": []}}
    assert normalise_zendesk(payload, HEADERS).data["change"] == {"added": ["vip"], "removed": []}


def test_ticket_created_has_empty_ids_as_none_and_no_change():
    event = fire("ticket_created")
    assert event.event_type == "ticket.created"
    assert event.occurred_at == utc(2026, 11, 23, 13, 12, 9, 115402)
    ticket = event.data["ticket"]
    assert ticket["assignee_id"] is None
    assert ticket["group_id"] is None
    assert ticket["type"] is None
    assert ticket["status"] == "new"
    assert ticket["priority"] == "normal"
    assert ticket["tags"] == []
    assert event.data["change"] == {}


def test_ticket_merged_names_the_target_ticket():
    event = fire("ticket_merged")
    assert event.event_type == "ticket.merged"
    assert event.ticket_id == 4823
    assert event.subject_key == "zendesk:ticket:4823"
    assert event.data["change"] == {"target_ticket_id": 4821}
    assert event.data["ticket"]["status"] == "closed"


def test_a_user_event_is_normalised_only_far_enough_to_be_ignored():
    event = fire("user_active_changed")
    assert event.event_type == "user.active_changed"
    assert event.subject_key == "zendesk:user:21938400017"
    assert event.ticket_id is None
    assert event.data == {}


def test_other_ticket_event_types_keep_their_event_without_meta():
    payload = fixture("ticket_status_changed")
    payload["type"] = "zen:event-type:ticket.subject_changed"
    payload["event"] = {"meta": {"sequence": {"id": "x"}}, "current": "New subject", "previous": ""}
    event = normalise_zendesk(payload, HEADERS)
    assert event.event_type == "ticket.subject_changed"
    assert event.data["change"] == {"current": "New subject", "previous": None}


@pytest.mark.parametrize("event_type", ["ticket.agent_assignment_changed", "ticket.group_assignment_changed"])
def test_id_changes_give_ints(event_type):
    payload = fixture("ticket_status_changed")
    payload["type"] = f"zen:event-type:{event_type}"
    payload["event"] = {"current": "21938461522", "previous": ""}
    assert normalise_zendesk(payload, HEADERS).data["change"] == {"previous": None, "current": 21938461522}


def test_dedupe_key_falls_back_to_the_invocation_id_header():
    payload = fixture("ticket_status_changed")
    del payload["id"]
    assert normalise_zendesk(payload, HEADERS).dedupe_key == "8350205596523"


def test_ticket_id_comes_from_detail_when_there_is_no_subject():
    payload = fixture("ticket_status_changed")
    del payload["subject"]
    event = normalise_zendesk(payload, HEADERS)
    assert event.ticket_id == 4821
    assert event.subject_key == "zendesk:ticket:4821"


def test_the_stored_form_round_trips():
    event = fire("ticket_custom_status_changed")
    assert InboundEvent.from_json(json.loads(json.dumps(event.to_json()))) == event


def test_normalising_does_not_modify_the_payload():
    payload = fixture("ticket_comment_added_public")
    before = copy.deepcopy(payload)
    normalise_zendesk(payload, HEADERS)
    assert payload == before


# --- trigger bodies -------------------------------------------------------------------

def test_trigger_body_becomes_a_ticket_trigger_event():
    event = fire("trigger_escalation")
    assert event == InboundEvent(
        source="zendesk",
        event_type="ticket.trigger",
        dedupe_key="8350205596523",
        subject_key="zendesk:ticket:4821",
        occurred_at=utc(2026, 11, 23, 14, 5),
        ticket_id=4821,
        actor_id=21938461522,
        data={
            "ticket": {
                "id": 4821,
                "status": "open",
                "priority": "high",
                "custom_status": 7001,
                "requester_id": 21938400017,
                "organization_id": 360009988776,
                "assignee_id": 21938461522,
                "updated_at": "2026-11-23T14:05Z",
                "tags": ["payments", "ach"],
                "custom_fields": [
                    {"id": 360001, "value": "financial"},
                    {"id": 360007, "value": "12500.00"},
                    {"id": 360008, "value": "usd"},
                    {"id": 360009, "value": "TX-88213401, TX-88213402"},
                    {"id": 360015, "value": None},
                    {"id": 360019, "value": None},
                ],
            },
            "change": {"event": "escalation"},
        },
    )


def test_a_minimal_trigger_body_needs_only_the_ticket_id():
    event = normalise_zendesk({"ticket_id": "77"}, HEADERS)
    assert event.ticket_id == 77
    assert event.actor_id is None
    assert event.data["ticket"]["status"] is None
    assert event.data["ticket"]["custom_fields"] == []
    assert event.data["change"] == {"event": None}


def test_trigger_without_updated_at_uses_the_signature_timestamp():
    event = normalise_zendesk({"ticket_id": "77", "updated_at": ""}, HEADERS)
    assert event.occurred_at == utc(2026, 11, 23, 14, 5, 41)


def test_trigger_with_an_unreadable_updated_at_uses_the_signature_timestamp():
    event = normalise_zendesk({"ticket_id": "77", "updated_at": "November 23, 2026"}, HEADERS)
    assert event.occurred_at == utc(2026, 11, 23, 14, 5, 41)


def test_trigger_enums_are_lowercased_and_placeholders_may_be_upper_case():
    event = normalise_zendesk({"ticket_id": "77", "status": "Open", "priority": "URGENT"}, HEADERS)
    assert (event.data["ticket"]["status"], event.data["ticket"]["priority"]) == ("open", "urgent")


def test_trigger_custom_fields_may_be_a_list_of_id_value_pairs():
    body = {"ticket_id": "77", "custom_fields": [{"id": "360001", "value": "general"}]}
    assert normalise_zendesk(body, HEADERS).data["ticket"]["custom_fields"] == [{"id": 360001, "value": "general"}]


def test_trigger_card_numbers_in_field_values_are_masked():
    body = {"ticket_id": "77", "custom_fields": {"360003": "card 5555-5555-5555-4444 charged twice"}}
    fields = normalise_zendesk(body, HEADERS).data["ticket"]["custom_fields"]
    assert fields == [{"id": 360003, "value": "card ****-****-****-4444 charged twice"}]


# --- both styles agree ----------------------------------------------------------------

def test_both_styles_of_the_same_transition_agree_on_ticket_subject_and_lowercase_enums():
    envelope = fire("ticket_custom_status_changed")
    trigger = fire("trigger_escalation")
    assert envelope.ticket_id == trigger.ticket_id == 4821
    assert envelope.subject_key == trigger.subject_key == "zendesk:ticket:4821"
    assert envelope.actor_id == trigger.actor_id == 21938461522
    for key in ("status", "priority", "custom_status", "requester_id", "organization_id", "assignee_id"):
        assert envelope.data["ticket"][key] == trigger.data["ticket"][key], key
    assert envelope.data["ticket"]["status"] == "open"
    assert envelope.data["ticket"]["custom_status"] == envelope.data["change"]["current"] == 7001


# --- headers --------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"X-Zendesk-Webhook-Invocation-Id": "inv-9"},
    {"X-ZENDESK-WEBHOOK-INVOCATION-ID": "inv-9"},
    Headers([("x-zendesk-webhook-invocation-id", "inv-9")]),
])
def test_header_lookup_is_case_insensitive(headers):
    assert normalise_zendesk({"ticket_id": "77", "updated_at": "2026-11-23T14:05Z"}, headers).dedupe_key == "inv-9"


# --- malformed ------------------------------------------------------------------------

def envelope(**changes):
    payload = fixture("ticket_status_changed")
    for key, value in changes.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


@pytest.mark.parametrize("payload, headers, message", [
    ({"hello": "world"}, HEADERS, "neither an event webhook"),
    ({"type": "ticket"}, HEADERS, "type 'ticket' is not a Zendesk event type"),
    (envelope(type="zen:event-type:"), HEADERS, "no event name"),
    (envelope(id=None), {}, "no id and there is no X-Zendesk-Webhook-Invocation-Id header"),
    (envelope(time=None), HEADERS, "the event has no time"),
    (envelope(time="yesterday"), HEADERS, "time 'yesterday' is not an ISO 8601 time"),
    (envelope(subject="ticket 4821"), HEADERS, "subject 'ticket 4821' is not of the form zen:<kind>:<id>"),
    (envelope(subject="zen:ticket:abc"), HEADERS, "subject 'abc' is not a ticket ID"),
    (envelope(subject="zen:ticket:4822"), HEADERS, "subject names ticket 4822 but detail.id is 4821"),
    (envelope(subject="zen:user:5"), HEADERS, "has subject zen:user:…, not zen:ticket:<id>"),
    (envelope(subject=None, detail={"status": "OPEN"}), HEADERS, "names no ticket"),
    (envelope(detail=["not", "an", "object"]), HEADERS, "detail must be a JSON object"),
    (envelope(event="OPEN"), HEADERS, "event must be a JSON object"),
    ({"ticket_id": "abc"}, HEADERS, "ticket_id 'abc' is not a ticket ID"),
    ({"ticket_id": "{{ticket.id}}"}, HEADERS, "unrendered placeholder"),
    ({"ticket_id": "12.5"}, HEADERS, "is not a ticket ID"),
    ({"ticket_id": "0"}, HEADERS, "is not a ticket ID"),
    ({"ticket_id": True}, HEADERS, "ticket_id True is not a ticket ID"),
    ({"ticket_id": ""}, HEADERS, "is not a ticket ID"),
    ({"ticket_id": "77"}, {"x-zendesk-webhook-signature-timestamp": "2026-11-23T14:05:41Z"},
     "a trigger webhook needs the X-Zendesk-Webhook-Invocation-Id header"),
    ({"ticket_id": "77"}, {"x-zendesk-webhook-invocation-id": "i"}, "needs updated_at or the X-Zendesk-Webhook-Signature-Timestamp"),
    ({"ticket_id": "77", "requester_id": "bob"}, HEADERS, "requester_id 'bob' is not an integer ID"),
    ({"ticket_id": "77", "custom_fields": "360001=x"}, HEADERS, "custom_fields must be an object"),
    ({"ticket_id": "77", "custom_fields": {"amount": "5"}}, HEADERS, "custom_fields key 'amount'"),
    ({"ticket_id": "77", "tags": 5}, HEADERS, "tags must be a list of tags"),
])
def test_bodies_we_cannot_understand_are_malformed_with_a_precise_message(payload, headers, message):
    with pytest.raises(MalformedEvent, match=_escaped(message)):
        normalise_zendesk(payload, headers)


def test_a_non_integer_id_in_detail_is_malformed():
    payload = fixture("ticket_status_changed")
    payload["detail"]["assignee_id"] = "agent-7"
    with pytest.raises(MalformedEvent, match="detail.assignee_id 'agent-7' is not an integer ID"):
        normalise_zendesk(payload, HEADERS)


def test_a_custom_field_change_without_a_field_id_is_malformed():
    payload = fixture("ticket_custom_field_changed")
    payload["event"]["custom_field"] = {"title": "Bridge opened", "type": "checkbox"}
    with pytest.raises(MalformedEvent, match="no event.custom_field.id"):
        normalise_zendesk(payload, HEADERS)


def test_an_unreadable_checkbox_value_is_malformed():
    payload = fixture("ticket_custom_field_changed")
    payload["event"]["current"] = {"value": "maybe"}
    with pytest.raises(MalformedEvent, match="event.current.value 'maybe' is not a boolean"):
        normalise_zendesk(payload, HEADERS)


def test_a_body_that_is_not_an_object_is_malformed():
    with pytest.raises(MalformedEvent, match="must be a JSON object, not list"):
        normalise_zendesk([1, 2], HEADERS)  # type: ignore[arg-type]


def _escaped(message: str) -> str:
    return re.escape(message)


EVENT_TYPE_OF_FIXTURE = {
    "ticket_custom_status_changed": "ticket.custom_status_changed",
    "ticket_status_changed": "ticket.status_changed",
    "ticket_comment_added_public": "ticket.comment_added",
    "ticket_custom_field_changed": "ticket.custom_field_changed",
    "ticket_tags_changed": "ticket.tags_changed",
    "ticket_created": "ticket.created",
    "ticket_merged": "ticket.merged",
    "trigger_escalation": "ticket.trigger",
    "user_active_changed": "user.active_changed",
}


def test_every_fixture_on_disk_is_listed_here():
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(EVENT_TYPE_OF_FIXTURE)


@pytest.mark.parametrize("name, event_type", sorted(EVENT_TYPE_OF_FIXTURE.items()))
def test_every_fixture_normalises_to_the_event_its_name_promises(name, event_type):
    event = fire(name)
    assert event.source == "zendesk"
    assert event.event_type == event_type
    assert event.occurred_at.tzinfo == timezone.utc
