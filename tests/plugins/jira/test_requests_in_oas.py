"""Every request the Jira plugin sends, checked against Jira's OpenAPI document: the
operation exists, its query parameters are declared, and the bodies carry every field the
schema requires. The requests are the ones the real ``jira`` client sent to the simulator
while a scenario ran every path of the plugin (create, recover by label, typed key,
unknown key, status webhook, solve and reopen)."""
from __future__ import annotations

import pytest

from tests.support.desk import COMPLETE_FINANCIAL
from tests.support.oas import JIRA, OpenApi, reference
from tests.plugins.jira.test_bugs import die_before_recording_the_issue, post_jira


@pytest.fixture
def jira_oas() -> OpenApi:
    return reference(JIRA)


def run_every_path(desk) -> None:
    first = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(first)
    desk.settle()
    desk.edit(first, product_bug=True)
    desk.settle()
    [key] = list(desk.jira.issues)
    second = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(second)
    desk.settle()
    desk.edit(second, jira_issue_key=key)
    third = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(third)
    desk.settle()
    desk.edit(third, jira_issue_key="PAY-404")
    desk.settle()
    body = desk.jira.issue_updated_payload(key, desk.jira.move_issue(key, "Done", resolution="Fixed"))
    assert post_jira(desk, body, "oas-1") == 202
    desk.edit(first, status="solved")
    desk.settle()
    desk.edit(first, status="open")
    desk.settle()


def crash_after_creating_an_issue(desk, monkeypatch) -> None:
    """A worker dies between creating an issue and recording it: the retry searches by label."""
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()
    desk.edit(ticket_id, product_bug=True)
    assert die_before_recording_the_issue(desk, monkeypatch)
    desk.clock.advance(600)
    desk.settle()


def test_every_request_of_the_jira_plugin_is_an_operation_of_the_jira_api(desk, jira_oas, monkeypatch):
    run_every_path(desk)
    crash_after_creating_an_issue(desk, monkeypatch)
    sent = desk.jira.requests()
    kinds = {(e.method, e.path.rsplit("/", 1)[-1] if "remotelink" in e.path else e.path.split("/")[4]) for e in sent}
    assert {("POST", "issue"), ("GET", "issue"), ("GET", "search"), ("POST", "remotelink")} <= kinds, kinds
    problems = [problem for entry in sent
                for problem in jira_oas.problems(entry.method, entry.path, entry.query, entry.json)]
    assert problems == []


def test_the_check_finds_an_invented_operation_a_stray_parameter_and_a_missing_field(jira_oas):
    assert jira_oas.problems("GET", "/rest/api/2/issue/PAY-1/escalate") == [
        "GET /rest/api/2/issue/PAY-1/escalate: no such operation in the document"]
    assert jira_oas.problems("GET", "/rest/api/2/issue/PAY-1", {"prefetch": ["1"]}) == [
        "GET /rest/api/2/issue/PAY-1: query parameter 'prefetch' is not declared by /rest/api/3/issue/{issueIdOrKey}"]
    assert jira_oas.problems("POST", "/rest/api/2/issue/PAY-1/remotelink", {}, {"object": {"url": "https://x"}}) == [
        "POST /rest/api/2/issue/PAY-1/remotelink: body.object.title is required"]
    assert jira_oas.problems("POST", "/rest/api/2/issue", {}, None) == [
        "POST /rest/api/2/issue: the operation requires a body"]
