"""The Salesforce simulator, driven over real HTTP by simple-salesforce."""
from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (SalesforceExpiredSession, SalesforceMalformedRequest,
                                          SalesforceMoreThanOneRecord, SalesforceRefusedRequest,
                                          SalesforceResourceNotFound)

from plugins.salesforce.simulator import SalesforceSimulator, parse_soql, to_18
from plugins.salesforce.transport import session_for_instance_url, simple_salesforce_base

SCHEMA = {
    "Account": {"fields": {}},
    "Escalation__c": {"fields": {
        "Zendesk_Escalation_Key__c": {"type": "string", "externalId": True, "unique": True},
        "Account__c": {"type": "reference", "referenceTo": "Account"},
        "Tier__c": {"type": "picklist", "values": ["T1", "T2", "T3", "T4"]},
        "Level__c": "string",
        "Status__c": "string",
        "Amount__c": "currency",
        "Opened_At__c": "datetime",
    }},
    "Escalation_Event__c": {"fields": {
        "Escalation__c": {"type": "reference", "referenceTo": "Escalation__c"},
        "What__c": "string",
    }},
}
KEY = "Zendesk_Escalation_Key__c"


@pytest.fixture(scope="module")
def server():
    with SalesforceSimulator(SCHEMA) as sim:
        yield sim


@pytest.fixture
def sim(server):
    server.reset()
    return server


def client(sim, version="59.0", token=None):
    return Salesforce(instance_url=sim.url, session_id=token or sim.access_token,
                      session=session_for_instance_url(sim.url), version=version)


@pytest.fixture
def sf(sim):
    connection = client(sim)
    yield connection
    connection.session.close()


# transport -------------------------------------------------------------------------------------

def test_simple_salesforce_forces_https_and_the_transport_undoes_it_for_loopback(sim, sf):
    assert sf.base_url.startswith("https://127.0.0.1:")
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000
    [entry] = sim.journal
    assert entry.path == "/services/data/v59.0/limits/"


def test_transport_leaves_https_and_other_hosts_alone_and_refuses_remote_plain_http():
    plain = session_for_instance_url("https://acme.my.salesforce.com")
    assert plain.adapters.keys() == requests.Session().adapters.keys()
    with pytest.raises(ValueError, match="non-loopback"):
        session_for_instance_url("http://acme.example.com:8080")
    assert len(session_for_instance_url("http://acme.example.com:8080", allow_insecure_http=True).adapters) == 3
    session = session_for_instance_url("http://127.0.0.1:8802")
    assert type(session.get_adapter("https://127.0.0.1:8802/services/data/")).__name__ == "RebaseAdapter"
    assert type(session.get_adapter("https://127.0.0.1:88021/")).__name__ == "HTTPAdapter"
    assert type(session.get_adapter("https://login.salesforce.com/")).__name__ == "HTTPAdapter"
    assert simple_salesforce_base("http://localhost") == "https://localhost/"
    assert simple_salesforce_base("http://127.0.0.1:443") == "https://127.0.0.1/"


# upserts ---------------------------------------------------------------------------------------

def test_upsert_creates_then_updates(sim, sf):
    account = sim.insert("Account", Name="Acme Pay")
    created = sf.Escalation__c.upsert(f"{KEY}/zd-101-L2", {"Tier__c": "T3", "Account__c": account},
                                      raw_response=True)
    assert created.status_code == 201
    assert created.json()["created"] is True and created.json()["success"] is True
    assert created.headers["Location"].endswith(created.json()["id"])
    updated = sf.Escalation__c.upsert(f"{KEY}/zd-101-L2", {"Status__c": "Open"}, raw_response=True)
    assert updated.status_code == 200, "API 46.0+ answers an update with 200 and a body"
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    [record] = sim.records("Escalation__c")
    assert (record["Tier__c"], record["Status__c"], record["Account__c"]) == ("T3", "Open", account)


def test_upsert_update_answers_204_before_api_46(sim):
    old = client(sim, version="45.0")
    try:
        assert old.Escalation__c.upsert(f"{KEY}/zd-7", {"Tier__c": "T1"}) == 201
        assert old.Escalation__c.upsert(f"{KEY}/zd-7", {"Tier__c": "T2"}) == 204
    finally:
        old.session.close()


def test_external_id_values_match_case_insensitively(sim, sf):
    sf.Escalation__c.upsert(f"{KEY}/ZD-9", {"Tier__c": "T1"})
    assert sf.Escalation__c.upsert(f"{KEY}/zd-9", {"Tier__c": "T2"}) == 200
    assert len(sim.records("Escalation__c")) == 1


def test_upsert_refuses_the_external_id_in_the_body_and_unknown_fields(sim, sf):
    with pytest.raises(SalesforceMalformedRequest) as in_body:
        sf.Escalation__c.upsert(f"{KEY}/zd-1", {KEY: "zd-1", "Tier__c": "T1"})
    assert in_body.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Teir__c": "T1"})
    assert unknown.value.content == [{"message": "No such column 'Teir__c' on sobject of type Escalation__c",
                                      "errorCode": "INVALID_FIELD", "fields": ["Teir__c"]}]
    with pytest.raises(SalesforceMalformedRequest) as picklist:
        sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Tier__c": "T9"})
    assert picklist.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Escalation__c.upsert(f"{KEY}/zd-1", {"CreatedDate": "2026-01-01T00:00:00Z"})
    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Escalation__c.upsert("Level__c/L2", {"Tier__c": "T1"})
    assert sim.records("Escalation__c") == []


def test_upsert_with_several_matches_answers_300(sim, sf):
    first = sim.insert("Escalation__c", **{KEY: "dup"})
    second = sim.insert("Escalation__c", **{KEY: "dup"})
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Escalation__c.upsert(f"{KEY}/dup", {"Tier__c": "T1"})
    assert caught.value.status == 300
    assert caught.value.content == [f"/services/data/v59.0/sobjects/Escalation__c/{first}",
                                    f"/services/data/v59.0/sobjects/Escalation__c/{second}"]


def test_reference_fields_check_the_target_and_accept_an_external_id(sim, sf):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Account__c": "001000000000000AAA"})
    assert caught.value.content[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    escalation = sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Tier__c": "T1"}, raw_response=True).json()["id"]
    event = sf.Escalation_Event__c.create({"Escalation__r": {KEY: "zd-1"}, "What__c": "escalated"})
    assert sf.Escalation_Event__c.get(event["id"])["Escalation__c"] == escalation
    with pytest.raises(SalesforceMalformedRequest, match="Foreign key external ID"):
        sf.Escalation_Event__c.create({"Escalation__r": {KEY: "zd-404"}})


def test_records_read_back_by_id_and_by_external_id(sim, sf):
    record_id = sf.Escalation__c.upsert(f"{KEY}/zd-5", {"Amount__c": 125.5,
                                                         "Opened_At__c": "2026-11-23T14:00:00Z"},
                                        raw_response=True).json()["id"]
    by_id = sf.Escalation__c.get(record_id)
    assert (by_id["Amount__c"], by_id["Opened_At__c"]) == (125.5, "2026-11-23T14:00:00.000+0000")
    assert sf.Escalation__c.get_by_custom_id(KEY, "zd-5")["Id"] == record_id
    assert sf.Escalation__c.get(record_id[:15])["Id"] == record_id
    with pytest.raises(SalesforceResourceNotFound):
        sf.Escalation__c.get("a00000000000404AAA")
    assert record_id == to_18(record_id[:15])


# collections and composite -----------------------------------------------------------------------

def records(*items):
    return [{"attributes": {"type": "Escalation__c"}, **item} for item in items]


def test_collections_upsert_reports_each_record(sim, sf):
    sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Tier__c": "T1"})
    result = sf.restful(f"composite/sobjects/Escalation__c/{KEY}", method="PATCH", json={
        "allOrNone": False, "records": records({KEY: "zd-1", "Tier__c": "T2"}, {KEY: "zd-2", "Tier__c": "T3"},
                                                {KEY: "zd-3", "Tier__c": "T9"})})
    assert [(r["success"], r.get("created")) for r in result] == [(True, False), (True, True), (False, None)]
    assert result[2]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert {r["Zendesk_Escalation_Key__c"]: r["Tier__c"] for r in sim.records("Escalation__c")} == \
        {"zd-1": "T2", "zd-2": "T3"}


def test_collections_upsert_all_or_none_rolls_back(sim, sf):
    result = sf.restful(f"composite/sobjects/Escalation__c/{KEY}", method="PATCH", json={
        "allOrNone": True, "records": records({KEY: "zd-1", "Tier__c": "T1"}, {KEY: "zd-2", "Nope__c": 1})})
    assert [r["success"] for r in result] == [False, False]
    assert result[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert result[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert sim.records("Escalation__c") == []


def test_composite_runs_subrequests_with_references(sim, sf):
    base = "/services/data/v59.0"
    result = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "PATCH", "url": f"{base}/sobjects/Escalation__c/{KEY}/zd-1", "referenceId": "esc",
         "body": {"Tier__c": "T3"}},
        {"method": "POST", "url": f"{base}/sobjects/Escalation_Event__c", "referenceId": "event",
         "body": {"Escalation__c": "@{esc.id}", "What__c": "escalated to L2"}},
        {"method": "GET", "url": f"{base}/query?q=SELECT+Id,Tier__c+FROM+Escalation__c", "referenceId": "read"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [201, 201, 200]
    assert [r["referenceId"] for r in result] == ["esc", "event", "read"]
    assert result[0]["body"]["created"] is True and "Location" in result[0]["httpHeaders"]
    assert result[2]["body"]["records"][0]["Tier__c"] == "T3"
    [event] = sim.records("Escalation_Event__c")
    assert event["Escalation__c"] == result[0]["body"]["id"]
    assert len(sim.journal) == 1, "a composite call is one API call"


def test_composite_all_or_none_rolls_back_and_halts_the_rest(sim, sf):
    base = "/services/data/v59.0"
    result = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "PATCH", "url": f"{base}/sobjects/Escalation__c/{KEY}/zd-1", "referenceId": "ok",
         "body": {"Tier__c": "T3"}},
        {"method": "PATCH", "url": f"{base}/sobjects/Escalation__c/{KEY}/zd-2", "referenceId": "bad",
         "body": {"Tier__c": "T9"}},
        {"method": "GET", "url": f"{base}/sobjects/Escalation__c/{KEY}/zd-1", "referenceId": "after"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [400, 400, 400]
    assert [r["body"][0]["errorCode"] for r in result] == \
        ["PROCESSING_HALTED", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "PROCESSING_HALTED"]
    assert sim.records("Escalation__c") == []


def test_composite_without_all_or_none_keeps_going_but_not_past_a_broken_reference(sim, sf):
    base = "/services/data/v59.0"
    result = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "PATCH", "url": f"{base}/sobjects/Escalation__c/{KEY}/zd-2", "referenceId": "bad",
         "body": {"Tier__c": "T9"}},
        {"method": "POST", "url": f"{base}/sobjects/Escalation_Event__c", "referenceId": "child",
         "body": {"Escalation__c": "@{bad.id}"}},
        {"method": "PATCH", "url": f"{base}/sobjects/Escalation__c/{KEY}/zd-3", "referenceId": "ok",
         "body": {"Tier__c": "T1"}},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [400, 400, 201]
    assert result[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert [r["Zendesk_Escalation_Key__c"] for r in sim.records("Escalation__c")] == ["zd-3"]


# queries, describe, limits ---------------------------------------------------------------------------

def test_query_filters_with_equality_and_in(sim, sf):
    for key, tier, status in (("zd-1", "T1", "Open"), ("zd-2", "T3", "Open"), ("zd-3", "T3", "Closed")):
        sf.Escalation__c.upsert(f"{KEY}/{key}", {"Tier__c": tier, "Status__c": status})
    found = sf.query(f"SELECT Id, {KEY} FROM Escalation__c WHERE Tier__c = 'T3' AND Status__c = 'Open'")
    assert found["totalSize"] == 1 and found["done"] is True
    assert found["records"][0][KEY] == "zd-2"
    assert list(found["records"][0]) == ["attributes", "Id", KEY]
    listed = sf.query(f"SELECT {KEY} FROM Escalation__c WHERE {KEY} IN ('zd-1', 'zd-3') ORDER BY {KEY} DESC")
    assert [r[KEY] for r in listed["records"]] == ["zd-3", "zd-1"]
    assert sf.query("SELECT COUNT() FROM Escalation__c WHERE Status__c != 'Open'")["totalSize"] == 1


def test_bad_queries_answer_salesforce_errors(sim, sf):
    with pytest.raises(SalesforceMalformedRequest) as column:
        sf.query("SELECT Teir__c FROM Escalation__c")
    assert column.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as sobject:
        sf.query("SELECT Id FROM Escalation__x")
    assert sobject.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FROM Escalation__c WHERE Tier__c = 'T1' OR Tier__c = 'T2'")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_soql_parser_reads_quoted_values():
    parsed = parse_soql(r"select Id from Account where Name = 'O\'Brien' and Active__c = true limit 5")
    assert parsed["where"] == [("Name", "=", "O'Brien"), ("Active__c", "=", True)]
    assert parsed["limit"] == 5


def test_describe_shows_external_id_and_unique_flags(sim, sf):
    described = {f["name"]: f for f in sf.Escalation__c.describe()["fields"]}
    assert described[KEY]["externalId"] is True and described[KEY]["unique"] is True
    assert described["Account__c"]["referenceTo"] == ["Account"]
    assert described["Account__c"]["relationshipName"] == "Account__r"
    assert [p["value"] for p in described["Tier__c"]["picklistValues"]] == ["T1", "T2", "T3", "T4"]
    assert {"Id", "Name", "CreatedDate"} <= described.keys()
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.describe()
    for path in ("/services/data/v99.0/sobjects", "/services/apexrest/anything"):
        response = requests.get(sim.url + path, headers={"Authorization": f"Bearer {sim.access_token}"}, timeout=5)
        assert (response.status_code, response.json()[0]["errorCode"]) == (404, "NOT_FOUND"), path
    assert {o["name"] for o in sf.describe()["sobjects"]} == set(SCHEMA)


def test_api_usage_is_reported_on_every_response(sim, sf):
    sf.limits()
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 2 and sf.api_usage["api-usage"].total == 15000


# auth and limits -------------------------------------------------------------------------------------

def test_bad_token_answers_401_invalid_session_id(sim):
    stale = client(sim, token="00Dexpired")
    try:
        with pytest.raises(SalesforceExpiredSession) as caught:
            stale.query("SELECT Id FROM Account")
    finally:
        stale.session.close()
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expired_session_stays_refused_until_reauthorised(sim, sf):
    sim.expire_session()
    with pytest.raises(SalesforceExpiredSession):
        sf.limits()
    sim.authorize()
    assert sf.limits()["DailyApiRequests"]["Max"] == 15000


def test_request_limit_exceeded_can_be_injected_then_clears(sim, sf):
    sim.fail_with_request_limit(times=1)
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Tier__c": "T1"})
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.Escalation__c.upsert(f"{KEY}/zd-1", {"Tier__c": "T1"}) == 201


def test_spent_daily_allocation_refuses_every_call(sim, sf):
    sim.exhaust_request_limit()
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    response = requests.get(sim.url + "/services/data/v59.0/limits",
                            headers={"Authorization": f"Bearer {sim.access_token}"}, timeout=5)
    assert response.headers["Sforce-Limit-Info"] == "api-usage=15000/15000"


def test_jwt_bearer_grant_issues_a_working_token_and_refuses_bad_assertions():
    import time as _time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with SalesforceSimulator(SCHEMA) as org:
        org.allow_jwt("3MVG9-key", public, "connector@acme.example")

        def grant(**claims):
            body = {"iss": "3MVG9-key", "sub": "connector@acme.example", "aud": "https://login.salesforce.com",
                    "exp": int(_time.time()) + 60, **claims}
            return requests.post(f"{org.url}/services/oauth2/token", data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode(body, private, algorithm="RS256")}, timeout=5)

        answer = grant()
        assert answer.status_code == 200 and answer.json()["instance_url"] == org.url
        sf = Salesforce(instance_url=org.url, session_id=answer.json()["access_token"],
                        session=session_for_instance_url(org.url))
        assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
        assert grant(sub="someone@else.example").json()["error"] == "invalid_grant"
        assert grant(exp=int(_time.time()) - 10).json() == {"error": "invalid_grant",
                                                            "error_description": "expired authorization code"}
        assert grant(iss="unknown").json()["error"] == "invalid_client_id"
        assert org.tokens_issued == 1
