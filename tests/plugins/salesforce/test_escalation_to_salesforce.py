"""An escalation end to end into Salesforce: the Zendesk simulator's webhooks reach the
connector, the Zendesk plugin decides and publishes ``escalation.changed``, the
``salesforce.mirror`` job mirrors through simple-salesforce over real HTTP into the
Salesforce simulator (set up from the shipped SFDX metadata). On SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest

from connector.registry import Registry
from plugins.salesforce import plugin as salesforce_plugin
from plugins.salesforce.client import SalesforceAuth, SalesforceClient
from plugins.salesforce.mapping import SalesforceMapping
from plugins.salesforce.mirror import SalesforceService
from plugins.zendesk import plugin as zendesk_plugin
from plugins.zendesk.simulator import ZendeskSimulator
from tests.plugins.salesforce.support import manifest_matching_on, new_org
from tests.support.desk import COMPLETE_FINANCIAL, Desk


class SalesforceDesk(Desk):
    """The desk with the Salesforce plugin registered and every delivered envelope kept."""

    def __init__(self, sim, database_url, org, **kwargs):
        self.org_sim = org
        self.delivered: list[dict] = []
        super().__init__(sim, database_url, **kwargs)

    def start(self) -> None:
        super().start()
        self.runtime.registry = Registry([zendesk_plugin.build(None, self.manifest),
                                          salesforce_plugin.build(None, self.manifest)])
        mapping = SalesforceMapping.from_manifest(self.manifest)
        client = SalesforceClient(SalesforceAuth(instance_url=self.org_sim.url,
                                                 access_token=self.org_sim.access_token), mapping=mapping)
        self.runtime.services["salesforce"] = SalesforceService(client, mapping, self.sim.url)
        self.worker = self.runtime.worker(poll_interval=0)
        self.worker.timer_interval = 0

    def deliver(self, envelopes=None):
        envelopes = self.sim.take_emitted() if envelopes is None else envelopes
        self.delivered += envelopes
        return super().deliver(envelopes)


@pytest.fixture(scope="module")
def zendesk():
    with ZendeskSimulator() as sim:
        yield sim


@pytest.fixture
def desk(zendesk, database_url, tmp_path):
    zendesk.reset()
    with new_org() as org:
        desk = SalesforceDesk(zendesk, database_url, org, manifest=manifest_matching_on(tmp_path, "AccountNumber"))
        try:
            yield desk
        finally:
            desk.close()


def test_escalation_level_change_breach_and_resolution_make_one_record_and_its_timeline(desk):
    org = desk.org_sim
    account = org.insert("Account", Name="Acme Payments", AccountNumber="001ACME")  # the org's external_id
    ticket_id = desk.new_ticket(**{**COMPLETE_FINANCIAL,
                                   "issue_summary": "Card 4111 1111 1111 1111 was debited twice."},
                                subject="Duplicate charge on 4111111111111111")
    desk.escalate(ticket_id, "L2")
    desk.settle()
    [record] = org.records("Escalation__c")
    assert (record["Account__c"], record["Tier__c"], record["Level__c"], record["Status__c"]) == (
        account, "T3", "L2", "open")
    assert record["Ticket_URL__c"] == f"{desk.sim.url}/agent/tickets/{ticket_id}"
    assert record["Bridge_Due__c"] == "2026-11-23T15:30:00.000+0000"
    assert org.record("Account", account)["Open_Escalations__c"] == 1

    desk.clock.advance(5 * 60)
    desk.escalate(ticket_id, "CIO")
    desk.settle()
    desk.clock.advance(31 * 60)  # the bridge was never opened: at risk, then breached
    desk.settle()
    desk.clock.advance(30 * 60)
    desk.edit(ticket_id, status="solved")
    desk.settle()

    [record] = org.records("Escalation__c")
    assert (record["Level__c"], record["Status__c"], record["Resolution__c"]) == ("CIO", "resolved", "resolved")
    assert record["Bridge_Outcome__c"] == "breached" and record["SLA_Outcome__c"] == "breached"
    assert record["Rca_Due__c"] is not None and record["Resolved_At__c"] is not None
    stored = desk.escalations.events(ticket_id)
    rows = org.records("Escalation_Event__c")
    assert sorted(r["Event_Key__c"] for r in rows) == sorted(e.key for e in stored)
    assert {r["Escalation__c"] for r in rows} == {record["Id"]}
    kinds = [e.kind for e in stored]
    for kind in ("opened", "level_changed", "sla_at_risk", "sla_breached", "resolved", "rca_due", "pir_due"):
        assert kind in kinds, kinds
    assert desk.escalations.events(ticket_id, unmirrored_only=True) == []
    rolled = org.record("Account", account)
    assert (rolled["Open_Escalations__c"], rolled["Escalations_Last_90_Days__c"]) == (0, 1)

    # every request body that reached Salesforce: no card number
    bodies = json.dumps([e.json for e in org.requests() if e.json is not None])
    assert "4111111111111111" not in bodies and "4111 1111 1111 1111" not in bodies
    assert "************1111" in bodies  # the subject, masked

    # each change was one composite call; the lookup happened once
    composites = org.requests("POST", r".*/composite")
    assert len(org.requests("GET", r".*/query/?")) == 1
    assert all(len(c.json["compositeRequest"]) <= 3 for c in composites)

    # the same webhooks delivered again: nothing changes in Salesforce, no call is made
    before = (org.records("Escalation__c"), org.records("Escalation_Event__c"), org.record("Account", account))
    calls = len(org.requests())
    desk.deliver(list(desk.delivered))
    desk.settle()
    assert (org.records("Escalation__c"), org.records("Escalation_Event__c"),
            org.record("Account", account)) == before
    assert len(org.requests()) == calls


def test_a_customer_without_an_account_is_kept_unmatched_until_resync(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id, "L2")
    desk.settle()
    record = desk.record(ticket_id)
    assert record.salesforce_state == "unmatched"
    assert "no Account has AccountNumber = '001ACME'" in record.salesforce_error
    assert desk.org_sim.records("Escalation__c") == []
    assert [e.kind for e in desk.escalations.events(ticket_id, unmirrored_only=True)] == ["opened"]


def test_a_fix_made_in_zendesk_is_picked_up_by_resync(desk, tmp_path, monkeypatch):
    """The organization's external_id was wrong; an admin corrects it in Zendesk (nothing
    happens on the ticket). `connector salesforce resync` reads the customer reference
    again from Zendesk and mirrors the escalation to the right Account."""
    from click.testing import CliRunner

    from connector.cli import main

    account = desk.org_sim.insert("Account", Name="Acme Payments", AccountNumber="ACME-7")
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id, "L2")
    desk.settle()
    assert desk.record(ticket_id).salesforce_state == "unmatched"

    with desk.sim.lock:
        desk.sim.organizations[desk.org["id"]]["external_id"] = "ACME-7"
    for name, value in {"DATABASE_URL": desk.database_url, "CONNECTOR_MANIFEST": str(tmp_path / "connector.yaml"),
                        "ZENDESK_URL": desk.sim.url, "ZENDESK_OAUTH_TOKEN": desk.sim.oauth_token,
                        "SALESFORCE_INSTANCE_URL": desk.org_sim.url,
                        "SALESFORCE_ACCESS_TOKEN": desk.org_sim.access_token}.items():
        monkeypatch.setenv(name, value)
    outcome = CliRunner().invoke(main, ["salesforce", "resync"], catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    assert "1 unmatched escalation(s): customer reference read again from Zendesk, 1 changed" in outcome.output
    assert "1 mirrored, 0 unmatched, 0 failed; 1 Salesforce call(s)" in outcome.output
    record = desk.record(ticket_id)
    assert (record.account_ref, record.salesforce_state, record.salesforce_account_id) == ("ACME-7", "mirrored", account)
    [escalation] = desk.org_sim.records("Escalation__c")
    assert escalation["Account__c"] == account
    assert [e["Kind__c"] for e in desk.org_sim.records("Escalation_Event__c")] == ["opened"]


def test_a_blocked_first_attempt_is_mirrored_to_the_customers_account(desk):
    """An escalation whose first attempt is turned back still belongs to its customer: it
    is mirrored to the Account (state blocked), not kept as unmatched."""
    account = desk.org_sim.insert("Account", Name="Acme Payments", AccountNumber="001ACME")
    ticket_id = desk.new_ticket(**{**COMPLETE_FINANCIAL, "amount": None})
    desk.escalate(ticket_id, "L2")
    desk.settle()
    record = desk.record(ticket_id)
    assert record.state == "blocked" and record.account_ref == "001ACME"
    assert (record.salesforce_state, record.salesforce_account_id) == ("mirrored", account)
    [escalation] = desk.org_sim.records("Escalation__c")
    assert escalation["Account__c"] == account
    assert [e["Kind__c"] for e in desk.org_sim.records("Escalation_Event__c")] == ["blocked"]
