"""``/api``: the Zendesk app's JSON API, with Flask's test client on both stores.

Who may call it (bearer ``CONNECTOR_APP_TOKEN`` or the admin token; 401 otherwise; 404
when neither is configured), the escalation the sidebar shows, and the requirements check
the save hook asks — the webhook path's own check, with precise 400s for bad input.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connector.config import ConfigError
from connector.escalation.decide import Blocked, decide_transition
from connector.escalation.sla import CalendarSet, SlaState, TargetState
from connector.escalation.ticket import RuleFacts
from connector.logs import redact_secrets
from connector.manifest import load_manifest
from connector.store.escalations import EscalationRecord, Escalations
from connector.store.models import jira_links
from plugins.zendesk.client import build_snapshot
from tests.support.clock import FakeClock

SHIPPED = Path(__file__).resolve().parents[2] / "manifest" / "connector.yaml"
MANIFEST = load_manifest(SHIPPED)
APP_TOKEN = "app-token-for-the-tests-0123456789"
ADMIN_TOKEN = "admin-token-for-the-tests-0123456789"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
JIRA = {"JIRA_URL": "https://acme.atlassian.net", "JIRA_EMAIL": "bot@acme.test", "JIRA_API_TOKEN": "jira-token"}
L2, CIO = 990101, 990102

COMPLETE_FINANCIAL = {
    "escalation_type": "financial", "customer_id": "C-1042", "issue_summary": "Payment batch 77 paid twice",
    "timeline": "Batch ran 09:00, duplicate noticed 09:40", "actions_taken": "Paused the batch",
    "escalation_reason": "Funds double-debited", "amount": "1250.00", "currency": "usd",
    "transaction_ids": "TX-778899, TX-778900", "transaction_status": "failed", "urgent": False,
}


@pytest.fixture
def http(make_app):
    """A test client of the app with both tokens, the shipped manifest and Jira, at NOW."""
    app = make_app(CONNECTOR_APP_TOKEN=APP_TOKEN, CONNECTOR_ADMIN_TOKEN=ADMIN_TOKEN, MANIFEST=MANIFEST, **JIRA)
    app.extensions["connector"].queue.clock = FakeClock(NOW)
    return app.test_client()


def bearer(token: str = APP_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check(http, body, **kwargs):
    return http.post("/api/requirements", json=body, headers=bearer(), **kwargs)


# -- who may call it --------------------------------------------------------------------------

ENDPOINTS = [("GET", "/api/tickets/1001/escalation"), ("GET", "/api/requirements"), ("POST", "/api/requirements")]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_without_a_token_every_endpoint_answers_401_in_json(http, method, path):
    response = http.open(path, method=method, json={})
    assert response.status_code == 401
    assert response.get_json() == {"error": "send the app token as Authorization: Bearer <CONNECTOR_APP_TOKEN>"}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="connector"'


@pytest.mark.parametrize("header", [bearer("wrong-token-wrong-token"), bearer(APP_TOKEN[:-1]),
                                    {"Authorization": APP_TOKEN}, {"Authorization": f"Basic {APP_TOKEN}"},
                                    {"Authorization": "Bearer "}])
def test_a_wrong_or_malformed_token_is_refused(http, header):
    response = http.get("/api/requirements", headers=header)
    assert response.status_code == 401
    assert "error" in response.get_json() and APP_TOKEN not in response.get_data(as_text=True)


@pytest.mark.parametrize("token", [APP_TOKEN, ADMIN_TOKEN])
def test_the_app_token_and_the_admin_token_are_accepted(http, token):
    response = http.get("/api/requirements", headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in response.headers  # called through Zendesk's proxy: no CORS


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_without_any_token_configured_the_api_does_not_exist(make_app, method, path):
    http = make_app(MANIFEST=MANIFEST).test_client()
    response = http.open(path, method=method, json={}, headers=bearer())
    assert response.status_code == 404
    assert "CONNECTOR_APP_TOKEN" in response.get_json()["error"]


def test_only_the_admin_token_configured_still_opens_the_api_to_it(make_app):
    http = make_app(CONNECTOR_ADMIN_TOKEN=ADMIN_TOKEN, MANIFEST=MANIFEST).test_client()
    assert http.get("/api/requirements", headers=bearer(ADMIN_TOKEN)).status_code == 200
    assert http.get("/api/requirements", headers=bearer(APP_TOKEN)).status_code == 401


def test_a_short_app_token_stops_start_up_and_the_token_is_kept_out_of_logs(make_app):
    with pytest.raises(ConfigError) as raised:
        make_app(CONNECTOR_APP_TOKEN="short", MANIFEST=MANIFEST)
    assert "CONNECTOR_APP_TOKEN is shorter than 16 characters; use a long random value" in raised.value.problems
    make_app(CONNECTOR_APP_TOKEN=APP_TOKEN, MANIFEST=MANIFEST)
    assert APP_TOKEN not in redact_secrets(f"calling with Bearer {APP_TOKEN}")


# -- the ticket's escalation ---------------------------------------------------------------------

def _store_escalation(app) -> Escalations:
    runtime = app.extensions["connector"]
    escalations = Escalations(runtime.store, FakeClock(NOW - timedelta(hours=3)))
    sla = SlaState(tier="T3", escalated_at=NOW - timedelta(hours=1), targets=(
        TargetState("bridge", NOW - timedelta(minutes=30), NOW - timedelta(minutes=36)),
        TargetState("rca", NOW + timedelta(days=5), NOW + timedelta(days=4), met_at=NOW - timedelta(minutes=5)),
        TargetState("pir", NOW + timedelta(minutes=10), NOW - timedelta(minutes=2)),
        TargetState("incident_commander", NOW + timedelta(hours=2), NOW + timedelta(hours=1)),
    ), next_update_due_at=NOW + timedelta(minutes=20))
    escalations.save(EscalationRecord(
        ticket_id=1001, state="open", level="L2", tier="T3", rules=("Duplicate payment confirmed",),
        sla=sla, subject="Batch paid twice", escalation_type="financial", organization_id=77,
        account_ref="ACME-1", escalated_at=NOW - timedelta(hours=1)))
    for offset, ticket_id in enumerate((901, 902, 903, 904, 905, 906)):
        escalations.clock = FakeClock(NOW - timedelta(days=10 - offset))
        escalations.save(EscalationRecord(ticket_id=ticket_id, state="resolved", level="L2", tier="T2",
                                          organization_id=77, resolution="resolved", subject=f"Older {ticket_id}",
                                          escalated_at=NOW - timedelta(days=10 - offset)))
    escalations.save(EscalationRecord(ticket_id=950, state="open", level="CIO", tier="T4", organization_id=78))
    with runtime.store.begin() as conn:
        conn.execute(jira_links.insert().values(ticket_id=1001, issue_key="PAY-17", status="In Progress",
                                                created_by_connector=1, created_at=NOW, updated_at=NOW))
    return escalations


def test_the_escalation_shows_tier_why_sla_states_jira_and_the_customers_recent_escalations(http):
    _store_escalation(http.application)
    response = http.get("/api/tickets/1001/escalation", headers=bearer())
    assert response.status_code == 200
    body = response.get_json()
    assert body["ticket_id"] == 1001 and body["state"] == "open" and body["level"] == "L2"
    assert body["tier"] == {"key": "T3", "name": "Compliance or financial exposure",
                            "rules": ["Duplicate payment confirmed"], "default": False}
    assert body["escalated_at"] == "2026-11-23T14:00:00Z" and body["now"] == "2026-11-23T15:00:00Z"
    assert body["sla"]["state"] == "breached"
    assert body["sla"]["next_update_due_at"] == "2026-11-23T15:20:00Z"
    assert [(t["name"], t["label"], t["due_at"], t["state"]) for t in body["sla"]["targets"]] == [
        ("bridge", "Bridge", "2026-11-23T14:30:00Z", "breached"),
        ("rca", "RCA", "2026-11-28T15:00:00Z", "met"),
        ("pir", "PIR", "2026-11-23T15:10:00Z", "at_risk"),
        ("incident_commander", "Incident commander", "2026-11-23T17:00:00Z", "on_track"),
    ]
    assert body["sla"]["targets"][1]["met_at"] == "2026-11-23T14:55:00Z"
    assert body["jira"] == [{"key": "PAY-17", "status": "In Progress", "resolution": None,
                             "url": "https://acme.atlassian.net/browse/PAY-17"}]
    assert body["customer"] == {"organization_id": 77, "account_ref": "ACME-1"}
    # same organization only, most recently active first, five of them, never the ticket itself
    assert [r["ticket_id"] for r in body["recent"]] == [906, 905, 904, 903, 902]
    assert body["recent"][0] == {"ticket_id": 906, "subject": "Older 906", "state": "resolved", "level": "L2",
                                 "tier": "T2", "resolution": "resolved", "escalated_at": "2026-11-18T15:00:00Z",
                                 "updated_at": "2026-11-18T15:00:00Z"}


def test_a_blocked_escalation_has_no_tier_and_no_clocks(http):
    Escalations(http.application.extensions["connector"].store).save(
        EscalationRecord(ticket_id=1002, state="blocked", blocked_count=2))
    body = http.get("/api/tickets/1002/escalation", headers=bearer()).get_json()
    assert body["state"] == "blocked" and body["tier"] is None and body["blocked_count"] == 2
    assert body["sla"] == {"state": None, "targets": [], "next_update_due_at": None}
    assert body["jira"] == [] and body["recent"] == []


def test_a_ticket_never_escalated_is_404_in_json(http):
    response = http.get("/api/tickets/4242/escalation", headers=bearer())
    assert response.status_code == 404
    assert response.get_json() == {"error": "ticket 4242 has no escalation", "ticket_id": 4242}


@pytest.mark.parametrize("ticket", ["abc", "0", "-3", "12.5"])
def test_a_ticket_id_that_is_not_a_number_is_400(http, ticket):
    response = http.get(f"/api/tickets/{ticket}/escalation", headers=bearer())
    assert response.status_code == 400
    assert response.get_json() == {"error": f"ticket id {ticket!r} is not a Zendesk ticket number"}


# -- the requirements -------------------------------------------------------------------------------

def test_the_configuration_names_the_levels_and_the_fields_to_read(http):
    body = http.get("/api/requirements", headers=bearer()).get_json()
    assert body["levels"] == [{"name": "L2", "custom_status_id": L2}, {"name": "CIO", "custom_status_id": CIO},
                              {"name": "CEO", "custom_status_id": 990103}]
    fields = MANIFEST.zendesk.fields
    read = ["customer_id", "issue_summary", "timeline", "actions_taken", "escalation_reason", "escalation_type",
            "amount", "currency", "transaction_ids", "transaction_status", "violation_type", "evidence",
            "risk_assessment", "urgent", "urgency_reason", "signal"]
    assert body["fields"] == {name: fields[name].id for name in read}


def test_a_complete_financial_escalation_may_go_ahead(http):
    response = check(http, {"custom_status_id": L2, "fields": COMPLETE_FINANCIAL})
    assert response.status_code == 200
    body = response.get_json()
    assert body["may_escalate"] is True and body["missing"] == []
    assert body["level"] == {"name": "L2", "custom_status_id": L2}


def test_an_incomplete_financial_escalation_names_each_field_by_its_title_and_why(http):
    fields = {**COMPLETE_FINANCIAL, "amount": "", "currency": "XYZ", "transaction_ids": "ab 4111111111111111!"}
    by_id = {str(MANIFEST.zendesk.fields[name].id): value for name, value in fields.items()}
    titles = {"990007": "Amount", "990008": "Currency", "990009": "Transaction IDs"}
    body = check(http, {"level": "cio", "fields": by_id, "titles": titles, "ticket_id": 55}).get_json()
    assert body["may_escalate"] is False and body["level"]["name"] == "CIO"
    assert body["missing"] == [
        {"field": "amount", "field_id": 990007, "title": "Amount", "reason": "is empty (needed for financial escalations)",
         "text": "Amount: is empty (needed for financial escalations)"},
        {"field": "currency", "field_id": 990008, "title": "Currency",
         "reason": '"XYZ" is not one of CAD, EUR, GBP, USD, USDT',
         "text": 'Currency: "XYZ" is not one of CAD, EUR, GBP, USD, USDT'},
        {"field": "transaction_ids", "field_id": 990009, "title": "Transaction IDs",
         "reason": '"ab" and "************1111!" do not look like transaction IDs',
         "text": 'Transaction IDs: "ab" and "************1111!" do not look like transaction IDs'},
    ]


def test_fields_by_logical_name_or_by_id_and_urgency_give_the_same_answer(http):
    urgent = {**COMPLETE_FINANCIAL, "urgent": True}
    by_name = check(http, {"fields": urgent}).get_json()
    by_id = check(http, {"fields": {str(MANIFEST.zendesk.fields[k].id): v for k, v in urgent.items()}}).get_json()
    assert by_name == by_id
    assert [m["text"] for m in by_name["missing"]] == ["Urgency reason: is empty (needed because Urgent is ticked)"]
    assert by_name["level"]["name"] == "L2"  # no level asked: the first one


def test_the_answer_is_the_webhook_paths_own_decision(http):
    """One source of truth: for the same ticket, the API names exactly what the webhook
    path's decision would put in its "blocked" note."""
    fields = {"escalation_type": "compliance", "customer_id": "C-9", "evidence": "https://files/x.png",
              "urgent": True, "currency": "usd", "amount": "12,50"}
    titles = {"990012": "Evidence", "990013": "Risk assessment", "990016": "Urgency reason"}
    answer = check(http, {"custom_status_id": CIO, "fields": fields, "titles": titles}).get_json()

    ref = MANIFEST.zendesk.fields
    raw = {"id": 7, "status": "open", "updated_at": "2026-11-23T15:00:00Z", "custom_status_id": CIO,
           "custom_fields": [{"id": ref[name].id, "value": value} for name, value in fields.items()]}
    snapshot = build_snapshot(raw, ref, titles_by_id={int(k): v for k, v in titles.items()})
    decision = decide_transition(MANIFEST, snapshot, previous_custom_status_id=None, escalated_at=NOW,
                                 facts=RuleFacts(), calendars=CalendarSet.from_manifest(MANIFEST),
                                 current_level=None, idempotency_key="k")
    assert isinstance(decision, Blocked)
    assert [m["text"] for m in answer["missing"]] == [str(m) for m in decision.missing]
    assert len(answer["missing"]) >= 6 and 'Amount: "12,50" is not an amount — write digits, e.g. 1250.00' in [
        m["text"] for m in answer["missing"]]


@pytest.mark.parametrize("body,message", [
    ([1, 2], "the body must be a JSON object, not a list"),
    ({"status": "open"}, "unknown key(s) 'status'; the body takes custom_status_id, level, fields, titles, "
                         "ticket_id (the escalation type and urgency are fields)"),
    ({"custom_status_id": 5}, "custom status 5 is not an escalation level; the levels are L2 (990101), CIO (990102), "
                              "CEO (990103) (leave custom_status_id out to check against the first level)"),
    ({"custom_status_id": "L2"}, "custom_status_id must be a Zendesk custom status id (a number), not 'L2'"),
    ({"custom_status_id": True}, "custom_status_id must be a Zendesk custom status id (a number), not True"),
    ({"level": "L3"}, "'L3' is not an escalation level; the levels are L2 (990101), CIO (990102), CEO (990103)"),
    ({"level": "CIO", "custom_status_id": L2}, "custom_status_id 990101 is level L2, not CIO; send one of them"),
    ({"fields": ["amount"]}, "fields must be a JSON object of field id or logical name -> value, not a list"),
    ({"fields": {"123": "x"}}, "fields: 123 is not the id of a field in the connector's manifest"),
    ({"fields": {"amout": "1"}}, "fields: 'amout' is neither a logical field name of the manifest nor a field id"),
    ({"fields": {"amount": "1", "990007": "2"}}, "fields: amount is given twice (as '990007' and 'amount')"),
    ({"fields": {"amount": {"value": 1}}}, "fields.amount: a field value is text, a number, true/false, null or a "
                                           "list of texts (a multi-select), not an object"),
    ({"titles": {"amount": ""}}, "titles.amount: a title is non-empty text, not ''"),
    ({"ticket_id": -4}, "ticket_id must be a positive whole number, not -4"),
])
def test_bad_input_is_400_with_a_precise_message(http, body, message):
    response = check(http, body)
    assert response.status_code == 400
    assert response.get_json() == {"error": message}


def test_a_body_that_is_not_json_is_400(http):
    response = http.post("/api/requirements", data="amount=1", headers=bearer(),
                         content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("send a JSON object (Content-Type: application/json)")


def test_a_card_number_typed_into_a_field_never_comes_back_or_reaches_the_logs(http, caplog):
    with caplog.at_level(logging.DEBUG):
        body = check(http, {"fields": {**COMPLETE_FINANCIAL, "amount": "4111 1111 1111 1111"}}).get_data(as_text=True)
    assert "4111 1111 1111 1111" not in body and "**** **** **** 1111" in body
    assert "4111 1111 1111 1111" not in caplog.text
