"""The Jira client's request shapes and error mapping, with ``responses``: no call on
construction, one POST to create (``prefetch=False``), the Cloud search endpoint, the
remote link body, and every failure turned into the pipeline's taxonomy."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connector.config import JiraSettings
from connector.http import TransientHTTPError
from connector.pipeline.retry import PermanentError, RetryLater
from plugins.jira.client import JiraClient

BASE = "https://acme.atlassian.net"
SETTINGS = JiraSettings(url=BASE, email="bot@acme.test", api_token="jira-token-secret", webhook_secrets=())
BUG = {"project": {"key": "PAY"}, "issuetype": {"name": "Bug"}, "summary": "[T3] Duplicate payment"}
ISSUE = {"id": "10042", "key": "PAY-12", "fields": {"status": {"name": "In Progress"}, "resolution": None}}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(rsps):
    c = JiraClient(SETTINGS)
    yield c
    c.close()


def test_construction_sends_nothing(rsps, client):
    assert len(rsps.calls) == 0  # no serverInfo, no myself


def test_reading_an_issue_asks_only_for_status_and_resolution(rsps, client):
    rsps.get(f"{BASE}/rest/api/2/issue/PAY-12", json=ISSUE)
    assert client.issue("PAY-12") == {"key": "PAY-12", "id": "10042", "status": "In Progress", "resolution": None}
    [call] = rsps.calls
    assert responses.matchers.query_param_matcher({"fields": "status,resolution"})(call.request)[0]
    assert call.request.headers["Authorization"].startswith("Basic ")


def test_an_unknown_issue_is_none(rsps, client):
    rsps.get(f"{BASE}/rest/api/2/issue/PAY-404", status=404,
             json={"errorMessages": ["Issue does not exist or you do not have permission to see it."]})
    assert client.issue("PAY-404") is None


def test_creating_posts_once_and_does_not_read_the_issue_back(rsps, client):
    rsps.post(f"{BASE}/rest/api/2/issue", status=201,
              json={"id": "10043", "key": "PAY-13", "self": f"{BASE}/rest/api/2/issue/10043"})
    fields = {"project": {"key": "PAY"}, "issuetype": {"name": "Bug"}, "summary": "[T3] Duplicate payment",
              "labels": ["zendesk-ticket-7"]}
    assert client.create_issue(fields) == {"key": "PAY-13", "id": "10043"}
    [call] = rsps.calls
    assert call.request.method == "POST"
    assert json.loads(call.request.body) == {"fields": fields}


def test_finding_by_label_uses_the_cloud_search_endpoint(rsps, client):
    rsps.get(f"{BASE}/rest/api/2/search/jql", json={"issues": [ISSUE], "isLast": True})
    assert client.find_by_label("zendesk-ticket-7")["key"] == "PAY-12"
    [call] = rsps.calls
    query = parse_qs(urlsplit(call.request.url).query)
    assert query["jql"] == ['labels = "zendesk-ticket-7" ORDER BY created ASC']
    assert query["maxResults"] == ["1"] and ",".join(query["fields"]) == "status,resolution"


def test_finding_by_label_with_no_match_is_none(rsps, client):
    rsps.get(f"{BASE}/rest/api/2/search/jql", json={"issues": [], "isLast": True})
    assert client.find_by_label("zendesk-ticket-8") is None


def test_the_remote_link_carries_a_stable_global_id_and_the_ticket_state(rsps, client):
    rsps.post(f"{BASE}/rest/api/2/issue/PAY-12/remotelink", status=200, json={"id": 1, "self": "x"})
    client.put_remote_link("PAY-12", global_id="zendesk:acme:ticket:7", url="https://acme.zendesk.com/agent/tickets/7",
                           title="Zendesk ticket #7", resolved=True)
    [call] = rsps.calls
    assert json.loads(call.request.body) == {
        "globalId": "zendesk:acme:ticket:7", "application": {"type": "com.zendesk", "name": "Zendesk"},
        "object": {"url": "https://acme.zendesk.com/agent/tickets/7", "title": "Zendesk ticket #7",
                   "status": {"resolved": True}}}


def test_429_becomes_retry_later_after_retry_after(rsps, client):
    rsps.get(f"{BASE}/rest/api/2/issue/PAY-12", status=429, headers={"Retry-After": "7"}, json={})
    with pytest.raises(RetryLater) as caught:
        client.issue("PAY-12")
    assert caught.value.retry_after == 7
    assert len(rsps.calls) == 1  # the client library does not retry on its own


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(rsps, client, status):
    rsps.post(f"{BASE}/rest/api/2/issue", status=status, body="upstream trouble")
    with pytest.raises(TransientHTTPError):
        client.create_issue(BUG)
    assert len(rsps.calls) == 1


def test_a_connection_failure_is_transient(rsps, client):
    rsps.get(f"{BASE}/rest/api/2/issue/PAY-12", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientHTTPError):
        client.issue("PAY-12")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_permanent_and_say_what_to_fix(rsps, client, status):
    rsps.get(f"{BASE}/rest/api/2/issue/PAY-12", status=status, json={"errorMessages": ["nope"]})
    with pytest.raises(PermanentError) as caught:
        client.issue("PAY-12")
    assert "JIRA_API_TOKEN" in str(caught.value)
    assert SETTINGS.api_token not in str(caught.value)


def test_a_refused_field_is_permanent_and_names_it(rsps, client):
    rsps.post(f"{BASE}/rest/api/2/issue", status=400,
              json={"errorMessages": [], "errors": {"priority": "Priority name 'Urgent' is not valid"}})
    with pytest.raises(PermanentError) as caught:
        client.create_issue({**BUG, "priority": {"name": "Urgent"}})
    assert str(caught.value) == ("jira answered 400 to creating an issue: priority: Priority name 'Urgent' is not "
                                 "valid (manifest: jira.priority_by_tier)")


def test_an_unconfigured_client_refuses_to_start():
    with pytest.raises(PermanentError, match="JIRA_URL"):
        JiraClient(JiraSettings(url=None, email=None, api_token=None, webhook_secrets=()))
