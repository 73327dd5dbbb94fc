"""Product bugs over real HTTP: the Zendesk and Jira simulators, the real `jira` client,
the connector's intake and worker, on SQLite and PostgreSQL."""
from __future__ import annotations

import json


from connector.store.models import jira_links
from plugins.jira.bugs import global_id, issue_fields, marker_label
from tests.support.desk import COMPLETE_FINANCIAL, SHIPPED_MANIFEST, Desk

PAN = "4111 1111 1111 1111"


def escalated(desk: Desk, **extra) -> int:
    ticket_id = desk.new_ticket(**{**COMPLETE_FINANCIAL, **extra})
    desk.escalate(ticket_id)
    desk.settle()
    return ticket_id


def filed_issue(desk: Desk) -> tuple[int, str]:
    """An escalated ticket whose ticked product bug filed one Jira issue: (ticket, key)."""
    ticket_id = escalated(desk)
    desk.edit(ticket_id, product_bug=True)
    desk.settle()
    [key] = list(desk.jira.issues)
    return ticket_id, key


def links(desk: Desk) -> list[tuple]:
    with desk.runtime.store.connect() as conn:
        return [tuple(r) for r in conn.execute(jira_links.select().with_only_columns(
            jira_links.c.ticket_id, jira_links.c.issue_key, jira_links.c.status)).all()]


def post_jira(desk: Desk, body: dict, identifier: str) -> int:
    from tests.support.webhooks import jira_headers

    raw = json.dumps(body).encode()
    return desk.http.post("/webhooks/jira", data=raw, headers=jira_headers(raw, identifier=identifier)).status_code


def die_before_recording_the_issue(desk: Desk, monkeypatch) -> list[str]:
    """Deliver the pending events and work once, the worker dying right after Jira created
    the issue and before the effect was recorded; returns the effect keys it died on."""
    desk.deliver()
    effects = desk.worker.effects
    real_done = effects._done
    crashed: list[str] = []

    def die_once(key, result):
        if not crashed and key.startswith("jira:issue-for-ticket:"):
            crashed.append(key)
            raise ConnectionError("worker died before recording the new issue")
        return real_done(key, result)

    monkeypatch.setattr(effects, "_done", die_once)
    desk.work()
    monkeypatch.setattr(effects, "_done", real_done)
    return crashed


def test_ticking_product_bug_creates_one_issue_linked_both_ways(desk):
    ticket_id = escalated(desk, issue_summary=f"Card {PAN} was charged twice in batch 0042")
    desk.edit(ticket_id, product_bug=True)
    desk.settle()
    [key] = list(desk.jira.issues)
    fields = desk.jira.issue_json(key)["fields"]
    assert fields["summary"] == "[T3] Duplicate payment to vendor"
    assert (fields["issuetype"]["name"], fields["priority"]["name"]) == ("Bug", "High")
    assert marker_label(ticket_id) in fields["labels"] and "zendesk-escalation" in fields["labels"]
    assert "4111" not in json.dumps(desk.jira.requests("POST", r"/rest/api/2/issue")[0].json)  # masked
    [link] = desk.jira.remote_links(key)
    assert link["object"]["url"].endswith(f"/agent/tickets/{ticket_id}")
    assert link["globalId"] == global_id(desk.sim.url, ticket_id)
    assert desk.value(ticket_id, "jira_issue_key") == key
    assert desk.value(ticket_id, "jira_status") == "To Do"
    assert desk.notes(ticket_id)[-1].startswith(f"Created Jira issue {key} (To Do)")
    assert links(desk) == [(ticket_id, key, "To Do")]
    assert [e.kind for e in desk.escalations.events(ticket_id)][-1] == "jira_linked"


def test_a_crash_after_creating_the_issue_finds_it_instead_of_creating_another(desk, monkeypatch):
    ticket_id = escalated(desk)
    desk.edit(ticket_id, product_bug=True)
    assert die_before_recording_the_issue(desk, monkeypatch)
    assert len(desk.jira.issues) == 1
    desk.clock.advance(600)
    desk.settle()
    assert len(desk.jira.issues) == 1  # recovered by its marker label, not created twice
    assert desk.value(ticket_id, "jira_issue_key") == next(iter(desk.jira.issues))


def test_a_typed_key_is_checked_and_an_unknown_one_gets_a_note(desk):
    first, key = filed_issue(desk)
    second = escalated(desk)
    desk.edit(second, jira_issue_key=key.lower())
    desk.settle()
    assert len(desk.jira.issues) == 1
    assert {row[0] for row in links(desk)} == {first, second}
    third = escalated(desk)
    desk.edit(third, jira_issue_key="PAY-999")
    desk.settle()
    assert desk.notes(third)[-1].startswith("Jira issue PAY-999 was not found")
    assert desk.value(third, "jira_status") is None


def test_a_status_change_tells_every_linked_ticket_once(desk):
    first, key = filed_issue(desk)
    second = escalated(desk)
    desk.edit(second, jira_issue_key=key)
    desk.settle()
    changelog = desk.jira.move_issue(key, "Done", resolution="Fixed")
    body = desk.jira.issue_updated_payload(key, changelog)
    assert post_jira(desk, body, "wh-1") == 202
    desk.settle()
    assert post_jira(desk, body, "wh-1") == 200  # Jira's retry of the same delivery
    desk.settle()
    for ticket_id in (first, second):
        assert desk.value(ticket_id, "jira_status") == "Done"
        told = [n for n in desk.notes(ticket_id) if n.startswith(f"Jira issue {key} moved to Done, resolution Fixed.")]
        assert len(told) == 1
        assert "jira_resolved" in desk.ticket(ticket_id)["tags"]
    assert {row[2] for row in links(desk)} == {"Done"}


def test_a_late_webhook_older_than_the_last_applied_change_is_ignored(desk):
    ticket_id = escalated(desk)
    desk.edit(ticket_id, product_bug=True)
    desk.settle()
    [key] = list(desk.jira.issues)
    started = desk.jira.issue_updated_payload(key, desk.jira.move_issue(key, "In Progress"))
    done = desk.jira.issue_updated_payload(key, desk.jira.move_issue(key, "Done", resolution="Fixed"))
    started["timestamp"] = done["timestamp"] - 60_000  # Jira sent it first; it arrives last
    assert post_jira(desk, done, "wh-done") == 202
    desk.settle()
    assert post_jira(desk, started, "wh-started") == 202
    desk.settle()
    assert desk.value(ticket_id, "jira_status") == "Done"
    assert links(desk) == [(ticket_id, key, "Done")]
    assert not [n for n in desk.notes(ticket_id) if "moved to In Progress" in n]
    assert "jira_resolved" in desk.ticket(ticket_id)["tags"]
    reopened = desk.jira.issue_updated_payload(key, desk.jira.move_issue(key, "In Progress"))
    reopened["timestamp"] = done["timestamp"] + 60_000
    assert post_jira(desk, reopened, "wh-reopened") == 202
    desk.settle()
    assert desk.value(ticket_id, "jira_status") == "In Progress"
    assert "jira_resolved" not in desk.ticket(ticket_id)["tags"]
    assert desk.notes(ticket_id)[-1].startswith(f"Jira issue {key} moved to In Progress.")


def test_solving_a_linked_ticket_shows_it_resolved_on_the_issue_once(desk):
    ticket_id = escalated(desk)
    desk.edit(ticket_id, product_bug=True)
    desk.settle()
    [key] = list(desk.jira.issues)
    [link] = desk.jira.remote_links(key)
    assert link["object"]["status"]["resolved"] is False
    desk.edit(ticket_id, status="solved")
    desk.settle()
    [link] = desk.jira.remote_links(key)
    assert link["object"]["status"]["resolved"] is True
    posts = len(desk.jira.requests("POST", rf"/rest/api/2/issue/{key}/remotelink"))
    desk.edit(ticket_id, comment="Following up on the RCA", public=False)  # another change while solved
    desk.settle()
    assert len(desk.jira.requests("POST", rf"/rest/api/2/issue/{key}/remotelink")) == posts
    desk.edit(ticket_id, status="open")
    desk.settle()
    [link] = desk.jira.remote_links(key)
    assert link["object"]["status"]["resolved"] is False


def test_issue_fields_mask_and_carry_the_escalation():
    from connector.manifest import load_manifest

    config = load_manifest(SHIPPED_MANIFEST).jira
    fields = issue_fields(config, {"ticket_id": 7, "tier": "T4", "subject": f"card {PAN}", "issue_summary": "x",
                                   "level": "CIO", "customer": "C-1", "amount": "10", "currency": "usd",
                                   "ticket_url": "https://acme.zendesk.com/agent/tickets/7"})
    assert fields["priority"] == {"name": "Highest"} and "4111 1111" not in fields["summary"]
    assert "Amount: 10 USD" in fields["description"] and "Level: CIO   Tier: T4" in fields["description"]
    assert global_id("https://acme.zendesk.com", 7) == "zendesk:acme:ticket:7"
