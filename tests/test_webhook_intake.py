"""POST /webhooks/zendesk and /webhooks/jira: verify, store, answer — on both stores."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from connector.store.models import inbound_events, jobs
from tests.support.webhooks import (
    OLD_SECRET, encode, jira_headers, jira_issue_updated, status_changed, zendesk_headers,
)


def _count(runtime, table) -> int:
    with runtime.store.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def post_zendesk(client, payload, **header_options):
    body = encode(payload)
    headers = zendesk_headers(body, **header_options)
    return client.post("/webhooks/zendesk", data=body, headers=headers)


def test_signed_event_is_stored_with_one_job_and_answered_202(client, runtime):
    response = post_zendesk(client, status_changed(42))
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "accepted"
    assert _count(runtime, inbound_events) == 1
    with runtime.store.connect() as conn:
        job = conn.execute(select(jobs)).one()
    assert (job.lane, job.handler, job.state) == ("zendesk:ticket:42", "sink.ticket.status_changed", "pending")


def _refused(client, runtime, response, reason_fragment, caplog):
    assert response.status_code == 401
    assert response.get_json() == {"status": "unauthorized", "error": "signature verification failed"}
    assert _count(runtime, inbound_events) == 0
    assert any(reason_fragment in r.getMessage().lower() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_missing_signature_header_is_refused(client, runtime, caplog):
    body = encode(status_changed(42))
    headers = zendesk_headers(body)
    del headers["X-Zendesk-Webhook-Signature"]
    with caplog.at_level(logging.WARNING):
        response = client.post("/webhooks/zendesk", data=body, headers=headers)
    _refused(client, runtime, response, "signature", caplog)


def test_wrong_secret_is_refused(client, runtime, caplog):
    with caplog.at_level(logging.WARNING):
        response = post_zendesk(client, status_changed(42), secret="not-the-secret")
    _refused(client, runtime, response, "match", caplog)


def test_timestamp_older_than_five_minutes_is_refused(client, runtime, caplog):
    old = datetime.now(timezone.utc) - timedelta(minutes=5, seconds=30)
    with caplog.at_level(logging.WARNING):
        response = post_zendesk(client, status_changed(42), timestamp=old)
    _refused(client, runtime, response, "old", caplog)


def test_timestamp_more_than_five_minutes_ahead_is_refused(client, runtime, caplog):
    future = datetime.now(timezone.utc) + timedelta(minutes=5, seconds=30)
    with caplog.at_level(logging.WARNING):
        response = post_zendesk(client, status_changed(42), timestamp=future)
    _refused(client, runtime, response, "future", caplog)


def test_tampered_body_is_refused(client, runtime, caplog):
    body = encode(status_changed(42))
    headers = zendesk_headers(body)
    tampered = body.replace(b'"42"', b'"43"')
    with caplog.at_level(logging.WARNING):
        response = client.post("/webhooks/zendesk", data=tampered, headers=headers)
    _refused(client, runtime, response, "match", caplog)


def test_previous_secret_still_accepted_during_rotation(client, runtime):
    response = post_zendesk(client, status_changed(42), secret=OLD_SECRET)
    assert response.status_code == 202
    assert _count(runtime, inbound_events) == 1


def test_three_deliveries_of_one_event_make_one_job(client, runtime):
    payload = status_changed(42, event_id="01J9ZX-event-7")
    answers = [post_zendesk(client, payload).get_json()["status"] for _ in range(3)]
    assert answers == ["accepted", "duplicate", "duplicate"]
    assert _count(runtime, jobs) == 1


def test_body_over_256_kb_is_refused_413(client, runtime):
    payload = status_changed(42)
    payload["detail"]["description"] = "x" * (256 * 1024)
    assert post_zendesk(client, payload).status_code == 413
    assert _count(runtime, inbound_events) == 0


def test_wrong_content_type_is_refused_415(client, runtime):
    body = encode(status_changed(42))
    headers = zendesk_headers(body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 415


def test_signed_body_that_is_not_json_is_400(client, runtime):
    body = b"{not json"
    response = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body))
    assert response.status_code == 400
    assert response.get_json()["error"] == "body is not valid JSON"


def test_signed_json_array_is_400(client):
    body = b"[1, 2]"
    response = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body))
    assert response.status_code == 400


def test_signed_envelope_without_ticket_is_400_and_names_the_problem(client, runtime):
    payload = status_changed(42)
    payload["subject"] = "zen:ticket:not-a-number"
    payload["detail"]["id"] = "not-a-number"
    response = post_zendesk(client, payload)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert _count(runtime, inbound_events) == 0


def test_event_type_no_plugin_handles_is_200_and_not_stored(client, runtime, caplog):
    payload = status_changed(42)
    payload["type"] = "zen:event-type:ticket.priority_changed"
    with caplog.at_level(logging.INFO):
        response = post_zendesk(client, payload)
    assert response.status_code == 200
    assert response.get_json()["status"] == "unsupported"
    assert _count(runtime, inbound_events) == 0
    assert any("ticket.priority_changed" in r.getMessage() for r in caplog.records)


def test_event_type_a_plugin_ignores_is_200_silently(client, runtime):
    payload = status_changed(42)
    payload["type"] = "zen:event-type:ticket.tags_changed"
    payload["event"] = {"tags_added": ["vip"], "tags_removed": []}
    response = post_zendesk(client, payload)
    assert (response.status_code, response.get_json()["status"]) == (200, "ignored")
    assert _count(runtime, inbound_events) == 0


def test_card_number_in_payload_is_masked_in_the_store(client, runtime):
    payload = status_changed(42, comment="Customer card 4111 1111 1111 1111 was charged twice")
    assert post_zendesk(client, payload).status_code == 202
    with runtime.store.connect() as conn:
        stored = conn.execute(select(inbound_events.c.event)).scalar_one()
    assert "4111 1111 1111 1111" not in stored
    assert "1111" in stored  # last four stay visible


def test_jira_webhook_signed_is_accepted_and_deduplicated(client, runtime):
    body = encode(jira_issue_updated())
    headers = jira_headers(body, identifier="jira-delivery-1")
    assert client.post("/webhooks/jira", data=body, headers=headers).status_code == 202
    again = client.post("/webhooks/jira", data=body, headers=headers)
    assert again.get_json()["status"] == "duplicate"
    with runtime.store.connect() as conn:
        assert conn.execute(select(jobs.c.lane)).scalars().all() == ["jira:issue:PAY-12"]


def test_jira_webhook_with_wrong_signature_is_401(client, runtime):
    body = encode(jira_issue_updated())
    headers = jira_headers(body, secret="wrong")
    assert client.post("/webhooks/jira", data=body, headers=headers).status_code == 401
    assert _count(runtime, inbound_events) == 0


def test_jira_webhook_without_identifier_is_400(client):
    body = encode(jira_issue_updated())
    headers = jira_headers(body)
    del headers["X-Atlassian-Webhook-Identifier"]
    assert client.post("/webhooks/jira", data=body, headers=headers).status_code == 400


def test_outcomes_are_counted_in_metrics(client):
    post_zendesk(client, status_changed(42))
    post_zendesk(client, status_changed(42), secret="wrong")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'connector_webhooks_total{outcome="accepted",source="zendesk"} 1.0' in text
    assert 'connector_webhooks_total{outcome="unauthorized",source="zendesk"} 1.0' in text
    assert 'connector_jobs{state="pending"} 1.0' in text
