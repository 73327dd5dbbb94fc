"""Product bugs over real HTTP, the gaps test_bugs.py leaves: the single write-back of the
link, the typed-key path's remote link and its idempotence, when a ticked box does (and
does not) create an issue, and the Jira key and status reaching the Salesforce mirror.
Same set-up as test_bugs.py (Zendesk and Jira simulators, the real clients, the
connector's intake and worker), on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from connector.registry import Registry
from plugins.jira import plugin as jira_plugin
from plugins.jira.bugs import global_id
from plugins.salesforce import plugin as salesforce_plugin
from plugins.zendesk import plugin as zendesk_plugin
from tests.plugins.jira.test_bugs import escalated, filed_issue, links, post_jira
from tests.plugins.salesforce.support import manifest_matching_on, new_org
from tests.plugins.salesforce.test_escalation_to_salesforce import SalesforceDesk
from tests.support.desk import COMPLETE_FINANCIAL, Desk


def ticket_puts(desk: Desk, ticket_id: int):
    return desk.sim.requests("PUT", rf"/api/v2/tickets/{ticket_id}(\.json)?")


def put_fields(desk: Desk, entry) -> dict:
    """The custom fields of a journaled ticket PUT, by logical name."""
    ids = {desk.field(name): name for name in desk.manifest.zendesk.fields}
    return {ids.get(int(f["id"]), f["id"]): f["value"] for f in entry.json["ticket"].get("custom_fields") or []}


def link_bug_jobs(desk: Desk, ticket_id: int) -> int:
    """How many jira.link_bug jobs the ticket's lane has had (run or not)."""
    from sqlalchemy import func, select

    from connector.store.models import jobs

    with desk.runtime.store.connect() as conn:
        return conn.execute(select(func.count()).select_from(jobs).where(
            (jobs.c.handler == "jira.link_bug") & (jobs.c.lane == f"zendesk:ticket:{ticket_id}"))).scalar_one()


def marker_in(desk: Desk, key: str, ticket_id: int) -> bool:
    return f"zendesk-ticket-{ticket_id}" in desk.jira.issue_json(key)["fields"]["labels"]


# -- 1. one write-back, and what the issue and the note say -----------------------------

def test_creating_the_issue_writes_key_status_and_note_in_one_put(desk):
    ticket_id = escalated(desk)
    desk.edit(ticket_id, product_bug=True)
    desk.sim.clear_journal()
    desk.jira.clear_journal()
    desk.deliver()
    desk.work()  # the escalation handler, then jira.link_bug: no echo delivered yet
    [key] = list(desk.jira.issues)
    assert len(desk.jira.requests("POST", r"/rest/api/2/issue")) == 1
    [put] = ticket_puts(desk, ticket_id)
    assert put.status == 200
    body = put.json["ticket"]
    assert put_fields(desk, put) == {"jira_issue_key": key, "jira_status": "To Do"}
    assert body["comment"]["public"] is False
    browse = f"{desk.jira.url}/browse/{key}"
    assert browse in body["comment"]["body"]
    assert body["safe_update"] is True and body["updated_stamp"]

    desk.settle()  # the echo of that write changes nothing more on the ticket
    assert len(ticket_puts(desk, ticket_id)) == 1
    assert len(desk.jira.issues) == 1
    assert desk.value(ticket_id, "jira_issue_key") == key and desk.value(ticket_id, "jira_status") == "To Do"
    linked = [n for n in desk.notes(ticket_id) if key in n]
    assert len(linked) == 1 and browse in linked[0]

    description = desk.jira.issue_json(key)["fields"]["description"]
    assert "Escalation type: financial" in description
    assert f"Customer: {COMPLETE_FINANCIAL['customer_id']} (Acme Payments)" in description
    assert f"Zendesk ticket: {desk.sim.url}/agent/tickets/{ticket_id}" in description


# -- 2. a typed key: remote link, write-back, and linking it twice ----------------------

def test_a_typed_key_gets_a_remote_link_and_the_ticket_its_key_status_and_note(desk):
    _, key = filed_issue(desk)
    desk.jira.move_issue(key, "In Progress")
    assert desk.jira.issue_json(key)["fields"]["status"]["name"] == "In Progress"

    ticket_id = escalated(desk)
    desk.jira.clear_journal()
    desk.edit(ticket_id, jira_issue_key=f"  {key.lower()} ")
    desk.settle()
    assert desk.jira.requests("POST", r"/rest/api/2/issue") == []  # nothing created
    posted = desk.jira.requests("POST", rf"/rest/api/2/issue/{key}/remotelink")
    assert len(posted) == 1
    mine = [link for link in desk.jira.remote_links(key) if link["globalId"] == global_id(desk.sim.url, ticket_id)]
    assert len(mine) == 1
    assert mine[0]["object"]["url"] == f"{desk.sim.url}/agent/tickets/{ticket_id}"
    assert mine[0]["object"]["title"] == f"Zendesk ticket #{ticket_id}"
    assert desk.value(ticket_id, "jira_issue_key") == key
    assert desk.value(ticket_id, "jira_status") == "In Progress"  # the issue's status now, not "To Do"
    [note] = [n for n in desk.notes(ticket_id) if key in n]
    assert note.startswith(f"Linked Jira issue {key} (In Progress): {desk.jira.url}/browse/{key}")
    assert sorted(r for r in links(desk) if r[0] == ticket_id) == [(ticket_id, key, "In Progress")]


def test_linking_the_same_ticket_and_key_twice_leaves_one_row_and_one_remote_link(desk):
    _, key = filed_issue(desk)
    ticket_id = escalated(desk)
    desk.edit(ticket_id, jira_issue_key=key)
    envelopes = desk.sim.take_emitted()
    desk.deliver(envelopes)
    desk.settle()
    puts = len(ticket_puts(desk, ticket_id))
    notes = len(desk.notes(ticket_id))

    # the same event delivered again under a new identifier
    desk.deliver([{**envelope, "id": f"{envelope['id']}-again"} for envelope in envelopes])
    desk.settle()
    # the key cleared and typed again
    desk.edit(ticket_id, jira_issue_key=None)
    desk.settle()
    desk.edit(ticket_id, jira_issue_key=key)
    desk.settle()
    # and the link job itself run once more for the same (ticket, key)
    desk.runtime.queue.enqueue(f"zendesk:ticket:{ticket_id}", "jira.link_bug", {
        "ticket_id": ticket_id, "requested_key": key, "subject": "Duplicate payment to vendor",
        "ticket_url": f"{desk.sim.url}/agent/tickets/{ticket_id}"}, "test-relink", dedupe_key="test-relink")
    desk.settle()

    assert link_bug_jobs(desk, ticket_id) >= 2  # the link job did run again
    assert [r for r in links(desk) if r[0] == ticket_id] == [(ticket_id, key, "To Do")]
    mine = [link for link in desk.jira.remote_links(key) if link["globalId"] == global_id(desk.sim.url, ticket_id)]
    assert len(mine) == 1
    assert len(desk.jira.remote_links(key)) == 2  # the first ticket's and this one's
    assert len(desk.jira.issues) == 1
    assert desk.value(ticket_id, "jira_issue_key") == key
    assert len([n for n in desk.notes(ticket_id) if n.startswith(f"Linked Jira issue {key}")]) == 1
    # nothing more was written to the ticket after the first link
    assert len(desk.notes(ticket_id)) == notes
    assert len(ticket_puts(desk, ticket_id)) == puts


# -- 3. when a ticked box creates an issue ----------------------------------------------

def test_a_box_ticked_before_the_first_escalation_creates_the_issue_at_that_escalation(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL, product_bug=True)
    desk.settle()
    assert desk.jira.issues == {}  # not escalated yet
    desk.escalate(ticket_id)
    desk.settle()
    [key] = list(desk.jira.issues)
    assert marker_in(desk, key, ticket_id)
    assert desk.value(ticket_id, "jira_issue_key") == key
    assert desk.value(ticket_id, "jira_status") == "To Do"
    assert links(desk) == [(ticket_id, key, "To Do")]
    assert [link["globalId"] for link in desk.jira.remote_links(key)] == [global_id(desk.sim.url, ticket_id)]
    assert len([n for n in desk.notes(ticket_id) if n.startswith(f"Created Jira issue {key} (To Do)")]) == 1


def test_ticking_the_box_on_a_ticket_never_escalated_creates_nothing(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.jira.clear_journal()
    desk.edit(ticket_id, product_bug=True)
    assert desk.sim.emitted  # the tick is an event the connector receives
    desk.settle()
    assert desk.jira.requests() == []
    assert desk.jira.issues == {}
    assert links(desk) == []
    assert link_bug_jobs(desk, ticket_id) == 0
    assert desk.value(ticket_id, "jira_issue_key") is None
    assert not [n for n in desk.notes(ticket_id) if "Jira" in n]


# -- 4. the Jira key and status in the Salesforce escalation record ---------------------

class JiraSalesforceDesk(SalesforceDesk):
    """The Salesforce test desk with the Jira plugin registered as well."""

    def start(self) -> None:
        super().start()
        self.runtime.registry = Registry([zendesk_plugin.build(None, self.manifest),
                                          jira_plugin.build(self.runtime.settings, self.manifest),
                                          salesforce_plugin.build(None, self.manifest)])
        self.worker = self.runtime.worker(poll_interval=0)
        self.worker.timer_interval = 0


@pytest.fixture
def sf_desk(desk_server, jira_server, database_url, tmp_path):
    desk_server.reset()
    jira_server.reset()
    with new_org() as org:
        d = JiraSalesforceDesk(desk_server, database_url, org, jira=jira_server,
                               manifest=manifest_matching_on(tmp_path, "AccountNumber"))
        try:
            yield d
        finally:
            d.close()


def test_the_salesforce_escalation_carries_the_jira_key_and_its_later_status(sf_desk):
    desk, org = sf_desk, sf_desk.org_sim
    org.insert("Account", Name="Acme Payments", AccountNumber="001ACME")
    ticket_id = escalated(desk)
    [record] = org.records("Escalation__c")
    assert (record["Jira_Issue_Key__c"], record["Jira_Status__c"]) == (None, None)

    desk.edit(ticket_id, product_bug=True)
    desk.settle()
    [key] = list(desk.jira.issues)
    [record] = org.records("Escalation__c")
    assert (record["Jira_Issue_Key__c"], record["Jira_Status__c"]) == (key, "To Do")

    changelog = desk.jira.move_issue(key, "Done", resolution="Fixed")
    assert post_jira(desk, desk.jira.issue_updated_payload(key, changelog), "wh-done") == 202
    desk.settle()
    assert desk.value(ticket_id, "jira_status") == "Done"
    [record] = org.records("Escalation__c")
    assert (record["Jira_Issue_Key__c"], record["Jira_Status__c"]) == (key, "Done")
