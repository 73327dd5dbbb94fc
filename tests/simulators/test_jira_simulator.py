"""The Jira simulator, driven over real HTTP by the ``jira`` client.

``add_remote_link`` asks for application links first; Cloud (and the simulator) answer
403 and the client turns that into ``warnings.warn(..., Warning)``. That warning is the
documented, unavoidable behaviour of jira 3.10 on Cloud, so this module ignores exactly
it (pytest runs with warnings as errors).
"""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests
from jira import JIRA
from jira.exceptions import JIRAError

from plugins.jira.simulator import JiraSimulator, parse_jql

pytestmark = pytest.mark.filterwarnings("ignore:Unable to gather applicationlinks:Warning")


@pytest.fixture(scope="module")
def server():
    with JiraSimulator() as sim:
        yield sim


@pytest.fixture
def sim(server):
    server.reset()
    return server


@pytest.fixture
def jira(sim):
    client = JIRA(server=sim.url, basic_auth=(sim.email, sim.api_token), get_server_info=False, max_retries=0)
    client.deploymentType = "Cloud"
    yield client
    client.close()


def new_bug(jira, summary="Duplicate ACH debit", **fields):
    return jira.create_issue(fields={"project": {"key": "PAY"}, "issuetype": {"name": "Bug"},
                                     "summary": summary, **fields}, prefetch=False)


def raw(sim, method, path, **kwargs):
    return requests.request(method, sim.url + path, auth=(sim.email, sim.api_token), timeout=10, **kwargs)


# issues -------------------------------------------------------------------------------------------

def test_create_issue_answers_201_with_sequential_keys_in_one_request(sim, jira):
    first = new_bug(jira, labels=["zendesk-escalation"], priority={"name": "High"},
                    description="Customer charged twice")
    second = new_bug(jira)
    assert (first.key, second.key) == ("PAY-1", "PAY-2")
    assert [e.method + " " + e.path for e in sim.journal] == ["POST /rest/api/2/issue"] * 2
    response = raw(sim, "POST", "/rest/api/2/issue", json={"fields": {
        "project": {"key": "PAY"}, "issuetype": {"id": "10001"}, "summary": "Task"}})
    assert response.status_code == 201
    assert set(response.json()) == {"id", "key", "self"} and response.json()["key"] == "PAY-3"
    assert response.json()["self"] == f"{sim.url}/rest/api/2/issue/{response.json()['id']}"


def test_issue_shows_status_category_priority_labels_and_resolution(sim, jira):
    key = new_bug(jira, labels=["zendesk-escalation", "zd-1001"], priority={"name": "Highest"}).key
    issue = jira.issue(key)
    assert issue.fields.summary == "Duplicate ACH debit"
    assert (issue.fields.status.name, issue.fields.status.statusCategory.key) == ("To Do", "new")
    assert issue.fields.priority.name == "Highest"
    assert issue.fields.labels == ["zendesk-escalation", "zd-1001"]
    assert issue.fields.resolution is None
    assert jira.issue(issue.id).key == key
    only = raw(sim, "GET", f"/rest/api/2/issue/{key}", params={"fields": "status,labels"}).json()
    assert set(only["fields"]) == {"status", "labels"}


def test_create_errors_name_the_offending_fields(sim, jira):
    with pytest.raises(JIRAError) as project:
        jira.create_issue(fields={"project": {"key": "NOPE"}, "issuetype": {"name": "Bug"}, "summary": "x"},
                          prefetch=False)
    assert project.value.status_code == 400
    body = raw(sim, "POST", "/rest/api/2/issue", json={"fields": {
        "project": {"key": "PAY"}, "issuetype": {"name": "Incident"}, "summary": "",
        "labels": ["two words"], "description": {"type": "doc", "version": 1, "content": []},
        "customfield_99999": "x"}}).json()
    assert body["errorMessages"] == []
    assert set(body["errors"]) == {"issuetype", "summary", "labels", "description", "customfield_99999"}
    unknown = raw(sim, "POST", "/rest/api/2/issue", json={"fields": {
        "project": {"key": "NOPE"}, "issuetype": {"name": "Bug"}, "summary": "x"}}).json()
    assert unknown == {"errorMessages": [], "errors": {"project": "valid project is required"}}


def test_unknown_issue_is_404(sim, jira):
    with pytest.raises(JIRAError) as caught:
        jira.issue("PAY-404")
    assert caught.value.status_code == 404
    assert "Issue does not exist" in raw(sim, "GET", "/rest/api/2/issue/PAY-404").json()["errorMessages"][0]


def test_custom_fields_can_be_declared_and_set(sim, jira):
    field_id = sim.add_custom_field("Zendesk ticket")
    key = new_bug(jira, **{field_id: "1001"}).key
    assert getattr(jira.issue(key).fields, field_id) == "1001"


# search ------------------------------------------------------------------------------------------

def test_search_issues_on_cloud_uses_search_jql_and_finds_a_marker_label(sim, jira):
    wanted = new_bug(jira, labels=["zendesk-escalation", "zd-1001"]).key
    new_bug(jira, labels=["zendesk-escalation", "zd-2002"])
    found = jira.search_issues('project = PAY AND labels = "zd-1001"')
    assert [i.key for i in found] == [wanted]
    assert found[0].fields.status.name == "To Do"
    paths = [e.path for e in sim.requests("GET")]
    assert paths == ["/rest/api/2/field", "/rest/api/2/search/jql"]


def test_client_that_does_not_know_it_is_cloud_hits_the_removed_search(sim):
    client = JIRA(server=sim.url, basic_auth=(sim.email, sim.api_token), get_server_info=False, max_retries=0)
    try:
        with pytest.raises(JIRAError) as caught:
            client.search_issues("project = PAY")
        assert caught.value.status_code == 410
        assert client.enhanced_search_issues("project = PAY") is None, "@cloud_api returns None silently"
    finally:
        client.close()


def test_get_server_info_teaches_the_client_it_is_cloud(sim):
    client = JIRA(server=sim.url, basic_auth=(sim.email, sim.api_token), max_retries=0)
    try:
        assert client.deploymentType == "Cloud"
        assert list(client.search_issues("project = PAY")) == []
    finally:
        client.close()
    assert sim.requests("GET", r"/rest/api/2/search/jql")


def test_search_jql_without_fields_returns_only_ids_and_pages_with_tokens(sim, jira):
    keys = [new_bug(jira, labels=["batch"]).key for _ in range(3)]
    first = raw(sim, "GET", "/rest/api/2/search/jql",
                params={"jql": "labels = batch ORDER BY key ASC", "maxResults": 2}).json()
    assert first["isLast"] is False and [set(i) for i in first["issues"]] == [{"id"}, {"id"}]
    second = raw(sim, "GET", "/rest/api/2/search/jql", params={
        "jql": "labels = batch ORDER BY key ASC", "maxResults": 2, "nextPageToken": first["nextPageToken"],
        "fields": "summary"}).json()
    assert second["isLast"] is True and "nextPageToken" not in second
    assert [i["key"] for i in second["issues"]] == [keys[2]]
    assert set(second["issues"][0]["fields"]) == {"summary"}
    posted = raw(sim, "POST", "/rest/api/2/search/jql", json={"jql": "labels = batch", "fields": ["key"]})
    assert len(posted.json()["issues"]) == 3


def test_search_understands_status_text_and_resolution_clauses(sim, jira):
    done = new_bug(jira, summary="Reconciliation gap in ACH file").key
    new_bug(jira, summary="Login slow")
    sim.move_issue(done, "Done")

    def keys(jql):
        return [i["key"] for i in raw(sim, "GET", "/rest/api/2/search/jql",
                                      params={"jql": jql, "fields": "key"}).json()["issues"]]

    assert keys('status = "Done"') == [done]
    assert keys("statusCategory = Done AND resolution = Fixed") == [done]
    assert keys('text ~ "reconciliation"') == [done]
    assert keys("resolution IS EMPTY") == ["PAY-2"]
    assert keys("key in (PAY-1, PAY-2) ORDER BY key ASC") == ["PAY-1", "PAY-2"]
    assert keys("labels != anything") == [], "like Jira, != never matches issues without labels"


def test_search_refuses_what_it_cannot_answer(sim):
    for jql, message in (("", "Unbounded"), ("ORDER BY created", "Unbounded"),
                         ("labels = a OR labels = b", "OR"), ("colour = red", "does not exist"),
                         ("labels ~ x", "not supported")):
        response = raw(sim, "GET", "/rest/api/2/search/jql", params={"jql": jql})
        assert response.status_code == 400, jql
        assert message in response.json()["errorMessages"][0], jql


def test_old_search_endpoint_is_gone(sim):
    assert raw(sim, "GET", "/rest/api/2/search", params={"jql": "project = PAY"}).status_code == 410
    assert raw(sim, "POST", "/rest/api/2/search", json={"jql": "project = PAY"}).status_code == 410


def test_jql_parser_builds_order():
    predicates, order = parse_jql("project = PAY and labels in ('a', \"b c\") order by updated desc")
    assert len(predicates) == 2 and order == ("updated", True)


# remote links --------------------------------------------------------------------------------------

def test_remote_link_with_the_same_global_id_is_updated_not_duplicated(sim, jira):
    key = new_bug(jira).key
    first = jira.add_remote_link(key, {"url": "https://sim.zendesk.com/agent/tickets/1001", "title": "Ticket 1001",
                                       "summary": "Charged twice", "status": {"resolved": False}},
                                 globalId="zendesk-ticket-1001")
    again = jira.add_remote_link(key, {"url": "https://sim.zendesk.com/agent/tickets/1001",
                                       "title": "Ticket 1001 (solved)"}, globalId="zendesk-ticket-1001")
    other = jira.add_remote_link(key, {"url": "https://sim.zendesk.com/agent/tickets/1002", "title": "Ticket 1002"},
                                 globalId="zendesk-ticket-1002")
    assert first.id == again.id != other.id
    statuses = [e.status for e in sim.requests("POST", r"/rest/api/2/issue/.*/remotelink")]
    assert statuses == [201, 200, 201]
    assert [e.status for e in sim.requests("GET", r"/rest/applinks/.*")] == [403, 403, 403]
    links = {link.globalId: link for link in jira.remote_links(key)}
    assert len(links) == 2
    updated = links["zendesk-ticket-1001"].raw["object"]
    assert updated["title"] == "Ticket 1001 (solved)"
    assert "summary" not in updated and "status" not in updated, "fields left out are gone"
    one = raw(sim, "GET", f"/rest/api/2/issue/{key}/remotelink", params={"globalId": "zendesk-ticket-1002"})
    assert one.json()["object"]["title"] == "Ticket 1002"


def test_remote_link_needs_url_and_title(sim, jira):
    key = new_bug(jira).key
    response = raw(sim, "POST", f"/rest/api/2/issue/{key}/remotelink", json={"object": {"url": "https://x"}})
    assert response.status_code == 400 and response.json()["errors"] == {"title": "'title' is required."}
    assert raw(sim, "POST", "/rest/api/2/issue/PAY-404/remotelink",
               json={"object": {"url": "https://x", "title": "t"}}).status_code == 404


def test_remote_link_can_be_deleted_by_global_id(sim, jira):
    key = new_bug(jira).key
    raw(sim, "POST", f"/rest/api/2/issue/{key}/remotelink",
        json={"globalId": "g1", "object": {"url": "https://x", "title": "t"}})
    assert raw(sim, "DELETE", f"/rest/api/2/issue/{key}/remotelink", params={"globalId": "g1"}).status_code == 204
    assert sim.remote_links(key) == []


# metadata -------------------------------------------------------------------------------------------

def test_project_issue_types_priorities_myself_and_server_info(sim, jira):
    project = jira.project("PAY")
    assert project.key == "PAY" and {t.name for t in project.issueTypes} >= {"Bug", "Task"}
    assert {t.name for t in jira.issue_types_for_project(project.id)} >= {"Bug"}
    assert [p.name for p in jira.priorities()] == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert jira.myself()["emailAddress"] == sim.email
    assert jira.server_info()["deploymentType"] == "Cloud"
    statuses = raw(sim, "GET", "/rest/api/2/project/PAY/statuses").json()
    assert {s["name"] for s in statuses[0]["statuses"]} == {"To Do", "In Progress", "Done"}
    with pytest.raises(JIRAError) as missing:
        jira.project("NOPE")
    assert missing.value.status_code == 404
    assert raw(sim, "GET", "/rest/applinks/latest/listApplicationlinks").status_code == 403


def test_basic_auth_is_required(sim):
    assert requests.get(sim.url + "/rest/api/2/myself", timeout=5).status_code == 401
    assert requests.get(sim.url + "/rest/api/2/serverInfo", timeout=5).status_code == 200
    client = JIRA(server=sim.url, basic_auth=(sim.email, "wrong"), get_server_info=False, max_retries=0)
    try:
        with pytest.raises(JIRAError) as caught:
            client.myself()
    finally:
        client.close()
    assert caught.value.status_code == 401


def test_injected_429_reaches_the_client_with_retry_after(sim, jira):
    sim.fail_next("POST", r"/rest/api/2/issue", 429, headers={"Retry-After": "7"},
                  body={"errorMessages": ["Rate limit exceeded."], "errors": {}})
    with pytest.raises(JIRAError) as caught:
        new_bug(jira)
    assert caught.value.status_code == 429 and caught.value.response.headers["Retry-After"] == "7"
    assert new_bug(jira).key == "PAY-1"


# workflow and webhooks ----------------------------------------------------------------------------------

def test_moving_to_done_sets_resolution_and_fires_a_signed_webhook(sim, jira, receiver):
    key = new_bug(jira).key
    response = sim.move_and_notify(key, "Done", receiver.url, "jira-secret", identifier="wh-1")
    assert response.status_code == 202
    issue = jira.issue(key)
    assert (issue.fields.status.name, issue.fields.status.statusCategory.key) == ("Done", "done")
    assert issue.fields.resolution.name == "Fixed" and issue.fields.resolutiondate
    [got] = receiver.received
    expected = "sha256=" + hmac.new(b"jira-secret", got["body"], hashlib.sha256).hexdigest()
    assert got["headers"]["X-Hub-Signature"] == expected
    assert got["headers"]["X-Atlassian-Webhook-Identifier"] == "wh-1"
    body = json.loads(got["body"])
    assert body["webhookEvent"] == "jira:issue_updated"
    assert body["issue"]["key"] == key
    assert body["issue"]["fields"]["status"]["statusCategory"]["key"] == "done"
    status_change = next(i for i in body["changelog"]["items"] if i["field"] == "status")
    assert (status_change["fromString"], status_change["toString"]) == ("To Do", "Done")
    sim.move_issue(key, "In Progress")
    assert jira.issue(key).fields.resolution is None


def test_a_redelivery_keeps_its_identifier(sim, jira, receiver):
    key = new_bug(jira).key
    payload = sim.issue_updated_payload(key, sim.move_issue(key, "In Progress"))
    sim.fire_webhook(receiver.url, payload, "s", identifier="same")
    sim.fire_webhook(receiver.url, payload, "s", identifier="same", retry=1)
    assert [r["headers"]["X-Atlassian-Webhook-Identifier"] for r in receiver.received] == ["same", "same"]
    assert receiver.received[0]["body"] == receiver.received[1]["body"]
    assert receiver.received[1]["headers"]["X-Atlassian-Webhook-Retry"] == "1"
