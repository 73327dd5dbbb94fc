"""Every request shape the Salesforce plugin sends, checked with ``responses`` (no
network), and how each failure maps onto the pipeline's retry taxonomy."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, unquote

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.http import TransientHTTPError
from connector.pipeline.retry import PermanentError, RetryLater
from connector.store.escalations import EscalationRecord, TimelineEvent
from plugins.salesforce.client import SalesforceAuth, SalesforceClient
from plugins.salesforce.doctor import metadata_problems
from plugins.salesforce.mapping import (
    JiraLink, composite_request, compute_rollups, escalation_fields, event_fields, rollup_fields,
)
from plugins.salesforce.mirror import SalesforceService
from tests.plugins.salesforce.support import PAN, T0, ZENDESK_URL, bridge_sla, shipped_mapping

INSTANCE = "https://acme.my.salesforce.com"
BASE = f"{INSTANCE}/services/data/v59.0"
ACCOUNT_ID = "001000000000001AAA"


@pytest.fixture(scope="module")
def key_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def client(**auth) -> SalesforceClient:
    return SalesforceClient(SalesforceAuth(**(auth or {"instance_url": INSTANCE, "access_token": "00Dtoken"})),
                            mapping=shipped_mapping())


def record(**changes) -> EscalationRecord:
    values = dict(ticket_id=42, state="open", level="L2", tier="T3", subject=f"Card {PAN} charged twice",
                  escalation_type="financial", amount="25000.00", currency="usd", organization_id=7,
                  account_ref=ACCOUNT_ID, opened_at=T0, escalated_at=T0, sla=bridge_sla())
    values.update(changes)
    return EscalationRecord(**values)


def event(key="zendesk:42:opened", kind="opened", summary="Escalated to L2 — tier T3", **detail) -> TimelineEvent:
    return TimelineEvent(id=1, ticket_id=42, key=key, kind=kind, occurred_at=T0, summary=summary, detail=detail)


def mirror_body(rec=None, events=None, jira=()):
    mapping = shipped_mapping()
    rec = rec or record()
    fields = escalation_fields(mapping, rec, account_id=ACCOUNT_ID, ticket_url=f"{ZENDESK_URL}/agent/tickets/42",
                               jira=jira, now=T0 + timedelta(minutes=5))
    rows = [event_fields(mapping, e, 42) for e in (events if events is not None else [event()])]
    return composite_request(mapping, 42, fields, rows, ACCOUNT_ID,
                             rollup_fields(compute_rollups([rec], mapping.tier_order, T0)))


COMPOSITE_OK = {"compositeResponse": [
    {"body": {"id": "a01000000000001AAA", "success": True, "errors": [], "created": True},
     "httpHeaders": {}, "httpStatusCode": 201, "referenceId": "escalation"},
    {"body": [{"id": "a02000000000001AAA", "success": True, "errors": [], "created": True}],
     "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "events0"},
    {"body": None, "httpHeaders": {}, "httpStatusCode": 204, "referenceId": "account"}]}


@responses.activate
def test_one_composite_upserts_escalation_and_rows_by_external_id_and_sets_rollups():
    responses.post(f"{BASE}/composite", json=COMPOSITE_OK)
    body = mirror_body(jira=[JiraLink("PAY-7", "In Progress")])
    client().composite(body)

    [call] = responses.calls
    assert call.request.method == "POST" and call.request.url == f"{BASE}/composite"
    assert call.request.headers["Authorization"] == "Bearer 00Dtoken"
    sent = json.loads(call.request.body)
    assert sent["allOrNone"] is True
    escalation, rows, account = sent["compositeRequest"]
    assert (escalation["method"], escalation["url"]) == (
        "PATCH", "/services/data/v59.0/sobjects/Escalation__c/Zendesk_Escalation_Key__c/zendesk-42")
    fields = escalation["body"]
    assert "Zendesk_Escalation_Key__c" not in fields  # the external ID goes in the URL only
    assert fields["Account__c"] == ACCOUNT_ID
    assert (fields["Tier__c"], fields["Level__c"], fields["Status__c"]) == ("T3", "L2", "open")
    assert fields["Ticket_Number__c"] == 42 and fields["Ticket_URL__c"] == f"{ZENDESK_URL}/agent/tickets/42"
    assert (fields["Amount__c"], fields["Currency__c"]) == (25000.0, "USD")
    assert (fields["Jira_Issue_Key__c"], fields["Jira_Status__c"]) == ("PAY-7", "In Progress")
    assert fields["Bridge_Due__c"] == "2026-11-23T15:30:00.000Z" and fields["Bridge_Outcome__c"] == "on_track"
    assert fields["Rca_Due__c"] is None and fields["Rca_Outcome__c"] is None  # targets of other tiers: cleared
    assert fields["Resolution__c"] is None
    assert (rows["method"], rows["url"]) == (
        "PATCH", "/services/data/v59.0/composite/sobjects/Escalation_Event__c/Event_Key__c")
    assert rows["body"]["allOrNone"] is True
    [row] = rows["body"]["records"]
    assert row["attributes"] == {"type": "Escalation_Event__c"}
    assert row["Event_Key__c"] == "zendesk:42:opened"
    assert row["Escalation__r"] == {"Zendesk_Escalation_Key__c": "zendesk-42"}
    assert (row["Kind__c"], row["Occurred_At__c"]) == ("opened", "2026-11-23T15:00:00.000Z")
    assert (account["method"], account["url"]) == ("PATCH", f"/services/data/v59.0/sobjects/Account/{ACCOUNT_ID}")
    assert account["body"] == {"Open_Escalations__c": 1, "Escalations_Last_90_Days__c": 1,
                               "Highest_Open_Tier__c": "T3", "Last_Escalation_Date__c": "2026-11-23"}


def test_card_numbers_never_reach_a_request_body():
    body = json.dumps(mirror_body(
        rec=record(subject=f"Refund for 4111-1111-1111-1111 / {PAN}"),
        events=[event(summary=f"Customer pasted {PAN}", note=f"card 4111111111111111 exp 12/27")]))
    assert "4111111111111111" not in body.replace(" ", "").replace("-", "")
    assert "**** **** **** 1111" in body and "****-****-****-1111" in body


def test_resolution_and_breach_are_mapped():
    breached = record(state="resolved", resolution="denied", resolved_at=T0 + timedelta(hours=2))
    fields = escalation_fields(shipped_mapping(), breached, account_id=ACCOUNT_ID, ticket_url="u",
                               now=T0 + timedelta(hours=2))
    assert (fields["Status__c"], fields["Resolution__c"]) == ("resolved", "denied")
    assert fields["Resolved_At__c"] == "2026-11-23T17:00:00.000Z"
    assert fields["Bridge_Outcome__c"] == "breached" and fields["SLA_Outcome__c"] == "breached"
    met = record(sla=bridge_sla(met_at=T0 + timedelta(minutes=10)))
    fields = escalation_fields(shipped_mapping(), met, account_id=ACCOUNT_ID, ticket_url="u", now=T0 + timedelta(hours=3))
    assert fields["Bridge_Outcome__c"] == "met" and fields["SLA_Outcome__c"] == "met"


def test_rollups_count_open_recent_and_highest_open_tier():
    mapping = shipped_mapping()
    records = [record(ticket_id=1, tier="T2"), record(ticket_id=2, tier="T4", state="resolved"),
               record(ticket_id=3, tier="T3"), record(ticket_id=4, state="blocked", tier=None),
               record(ticket_id=5, tier="T1", state="resolved", opened_at=T0 - timedelta(days=120),
                      escalated_at=T0 - timedelta(days=120))]
    rollups = compute_rollups(records, mapping.tier_order, T0 + timedelta(days=1))
    assert (rollups.open, rollups.last_90_days, rollups.highest_open_tier, rollups.last_escalation_date) == (
        2, 3, "T3", "2026-11-23")


@responses.activate
def test_account_lookup_is_one_soql_query_then_cached():
    responses.get(f"{BASE}/query/", json={"totalSize": 1, "done": True, "records": [{"Id": ACCOUNT_ID}]})
    mapping = shipped_mapping()
    service = SalesforceService(client(), mapping, ZENDESK_URL)
    assert service.find_account(ACCOUNT_ID) == (ACCOUNT_ID, None)
    assert service.find_account(ACCOUNT_ID) == (ACCOUNT_ID, None)
    [call] = responses.calls
    assert parse_qs(call.request.url.split("?", 1)[1])["q"] == [
        f"SELECT Id FROM Account WHERE Id = '{ACCOUNT_ID}' LIMIT 2"]
    assert service.find_account("ACME-1")[0] is None  # not an Id: no call at all
    assert len(responses.calls) == 1


@responses.activate
def test_describe_shape_and_metadata_problems_name_the_manifest_key():
    fields = [{"name": n, "type": t, "externalId": n == "Zendesk_Escalation_Key__c", "unique": False,
               "referenceTo": ["Account"] if t == "reference" else [], "updateable": True}
              for n, t in [("Zendesk_Escalation_Key__c", "string"), ("Account__c", "reference"),
                           ("Tier__c", "double")]]
    responses.get(f"{BASE}/sobjects/Escalation__c/describe", json={"name": "Escalation__c", "fields": fields})
    responses.get(f"{BASE}/sobjects/Escalation_Event__c/describe", status=404,
                  json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    responses.get(f"{BASE}/sobjects/Account/describe", json={"name": "Account", "fields": [
        {"name": "Id", "type": "id"}]})
    problems = metadata_problems(client(), shipped_mapping())
    assert [c.request.method for c in responses.calls] == ["GET"] * 3
    assert ("Salesforce has no object Escalation_Event__c (manifest key: salesforce.event_object); deploy "
            "manifest/salesforce (sf project deploy start --source-dir force-app) or fix the API name") in problems
    assert any(p.startswith("Escalation__c.Tier__c is a double field") and "salesforce.fields.tier" in p
               for p in problems)
    assert any(p.startswith("Escalation__c.Zendesk_Escalation_Key__c must be an External ID marked Unique")
               and "salesforce.external_id_field" in p for p in problems)
    assert any(p.startswith("Escalation__c.Level__c does not exist (manifest key: salesforce.fields.level)")
               for p in problems)
    assert any(p.startswith("Account.Open_Escalations__c does not exist") for p in problems)


# -- failures ---------------------------------------------------------------------------

@responses.activate
def test_request_limit_exceeded_is_retry_later():
    responses.post(f"{BASE}/composite", status=403,
                   json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    with pytest.raises(RetryLater) as caught:
        client().composite(mirror_body())
    assert caught.value.retry_after == 900


@responses.activate
def test_server_errors_and_timeouts_are_transient():
    responses.post(f"{BASE}/composite", status=503, json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}])
    with pytest.raises(TransientHTTPError, match="503"):
        client().composite(mirror_body())
    responses.replace(responses.POST, f"{BASE}/composite", body=requests.Timeout("read timed out"))
    with pytest.raises(TransientHTTPError, match="Timeout"):
        client().composite(mirror_body())


@responses.activate
def test_a_field_refused_inside_the_composite_names_field_and_manifest_key():
    responses.post(f"{BASE}/composite", json={"compositeResponse": [
        {"body": [{"errorCode": "INVALID_FIELD", "message": "No such column 'Tier__c' on sobject of type Escalation__c",
                   "fields": ["Tier__c"]}], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "escalation"},
        {"body": [{"errorCode": "PROCESSING_HALTED", "message": "halted"}], "httpHeaders": {},
         "httpStatusCode": 400, "referenceId": "events0"},
        {"body": [{"errorCode": "PROCESSING_HALTED", "message": "halted"}], "httpHeaders": {},
         "httpStatusCode": 400, "referenceId": "account"}]})
    with pytest.raises(PermanentError) as caught:
        client().composite(mirror_body())
    message = str(caught.value)
    assert "field Tier__c (manifest key: salesforce.fields.tier)" in message and "INVALID_FIELD" in message


@responses.activate
def test_a_refused_timeline_row_names_the_fixed_field():
    responses.post(f"{BASE}/composite", json={"compositeResponse": [
        COMPOSITE_OK["compositeResponse"][0],
        {"body": [{"success": False, "errors": [{"statusCode": "STRING_TOO_LONG", "message": "Kind: too large",
                                                  "fields": ["Kind__c"]}]}],
         "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "events0"},
        COMPOSITE_OK["compositeResponse"][2]]})
    with pytest.raises(PermanentError, match=r"field Kind__c \(manifest key: none \(a fixed API name"):
        client().composite(mirror_body())


@responses.activate
def test_a_bare_access_token_that_expired_is_permanent():
    responses.post(f"{BASE}/composite", status=401,
                   json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    with pytest.raises(PermanentError, match="SALESFORCE_ACCESS_TOKEN"):
        client().composite(mirror_body())
    assert len(responses.calls) == 1


@responses.activate
def test_jwt_bearer_logs_in_and_logs_in_again_once_when_the_session_expires(key_pair):
    private, public = key_pair
    tokens = iter(["00Dfirst", "00Dsecond"])
    responses.add_callback(responses.POST, "https://login.salesforce.com/services/oauth2/token",
                           callback=lambda request: (200, {}, json.dumps(
                               {"access_token": next(tokens), "instance_url": INSTANCE, "token_type": "Bearer"})))
    responses.post(f"{BASE}/composite", status=401,
                   json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    responses.post(f"{BASE}/composite", json=COMPOSITE_OK)
    sf = client(username="connector@acme.example", consumer_key="3MVG9-key", private_key=private)
    sf.composite(mirror_body())

    login, first, second_login, retried = responses.calls
    form = {k: v[0] for k, v in parse_qs(login.request.body).items()}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], public, algorithms=["RS256"], audience="https://login.salesforce.com")
    assert (claims["iss"], claims["sub"]) == ("3MVG9-key", "connector@acme.example")
    assert claims["exp"] > 0
    assert first.request.headers["Authorization"] == "Bearer 00Dfirst"
    assert second_login.request.url.endswith("/services/oauth2/token")
    assert retried.request.headers["Authorization"] == "Bearer 00Dsecond"
    assert sf.authentications == 2


@responses.activate
def test_jwt_refused_login_is_permanent_and_keeps_secrets_out(key_pair):
    private, _ = key_pair
    responses.post("https://login.salesforce.com/services/oauth2/token", status=400,
                   json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"})
    with pytest.raises(PermanentError) as caught:
        client(username="connector@acme.example", consumer_key="3MVG9-key", private_key=private).composite(
            mirror_body())
    assert "invalid_grant" in str(caught.value) and "PRIVATE KEY" not in str(caught.value)
    assert "SALESFORCE_CONSUMER_KEY" in str(caught.value)


def test_external_id_values_are_url_quoted():
    body = mirror_body()
    assert unquote(body["compositeRequest"][0]["url"]).endswith("/zendesk-42")
