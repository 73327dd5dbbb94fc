"""The mirror on both stores (SQLite and PostgreSQL) against the simulator over real
HTTP with the real simple-salesforce client: one call per change, replays free, unmatched
kept and resynced, backfill, rate limits, expired sessions, refused fields."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.audit import AuditLog
from connector.cli import main
from connector.pipeline.effects import Effects
from connector.pipeline.retry import PermanentError, RetryLater
from connector.store.escalations import Escalations
from plugins.salesforce.doctor import unmatched_escalations
from plugins.salesforce.mirror import Mirror
from tests.plugins.salesforce.support import (
    PAN, SHIPPED_MANIFEST, T0, new_org, service_for, save_escalation, shipped_mapping,
)


@pytest.fixture
def org():
    with new_org() as sim:
        yield sim


@pytest.fixture
def parts(store):
    audit = AuditLog(store)
    return store, Escalations(store, lambda: T0), Effects(store, audit), audit


def mirror_for(org, parts, mapping=None, **auth):
    store, _, effects, audit = parts
    return Mirror(service_for(org, mapping or shipped_mapping(), **auth), store, effects, audit,
                  lambda: T0 + timedelta(minutes=5))


def composite_calls(org):
    return org.requests("POST", r"/services/data/v59\.0/composite")


def test_each_change_is_one_call_and_a_replay_is_none(org, parts):
    _, escalations, _, audit = parts
    account = org.insert("Account", Name="Acme")
    save_escalation(escalations, 42, account, subject=f"Charged twice on {PAN}")
    escalations.add_event(42, "zendesk:42:opened", "opened", T0, "Escalated to L2 — tier T3", {"tier": "T3"})
    mirror = mirror_for(org, parts)

    result = mirror.mirror(42)
    assert (result.state, result.calls, result.events) == ("mirrored", 1, 1)
    assert len(org.requests("GET", r".*/query/?")) == 1  # the Account lookup, then cached
    [escalation] = org.records("Escalation__c")
    assert (escalation["Account__c"], escalation["Tier__c"], escalation["Status__c"]) == (account, "T3", "open")
    assert PAN not in str(escalation) and "**** **** **** 1111" in escalation["Subject__c"]
    assert [e["Event_Key__c"] for e in org.records("Escalation_Event__c")] == ["zendesk:42:opened"]
    assert org.record("Account", account)["Open_Escalations__c"] == 1
    assert escalations.get(42).salesforce_state == "mirrored"
    assert escalations.events(42, unmirrored_only=True) == []

    assert mirror.mirror(42).calls == 0  # replay: the effect is done, no call
    assert len(composite_calls(org)) == 1

    escalations.save(escalations.get(42).evolve(level="CIO"))
    escalations.add_event(42, "zendesk:42:level:CIO", "level_changed", T0 + timedelta(minutes=3), "L2 → CIO")
    assert mirror.mirror(42).calls == 1
    [only] = org.records("Escalation__c")
    assert only["Level__c"] == "CIO"
    assert len(org.records("Escalation_Event__c")) == 2
    last = composite_calls(org)[-1].json["compositeRequest"][1]["body"]["records"]
    assert [r["Event_Key__c"] for r in last] == ["zendesk:42:level:CIO"]  # only the new row is sent
    assert len(org.requests("GET", r".*/query/?")) == 1
    writes = [r for r in audit.export(ticket_id=42) if r["kind"] == "write"]
    assert [w["result"] for w in writes] == ["written", "written"]


def test_no_account_match_is_kept_audited_listed_and_resynced(org, parts, database_url, monkeypatch, tmp_path):
    store, escalations, _, audit = parts
    save_escalation(escalations, 7, "001000000000099AAA")
    escalations.add_event(7, "zendesk:7:opened", "opened", T0, "Escalated to L2")
    result = mirror_for(org, parts).mirror(7)
    assert result.state == "unmatched" and "no Account has Id = '001000000000099AAA'" in result.reason
    assert org.records("Escalation__c") == [] and composite_calls(org) == []
    assert escalations.get(7).salesforce_state == "unmatched"
    assert [e.key for e in escalations.events(7, unmirrored_only=True)] == ["zendesk:7:opened"]  # nothing dropped
    [line] = unmatched_escalations(store)
    assert line.startswith("ticket 7: not mirrored to Salesforce — no Account has Id = '001000000000099AAA'")
    assert "salesforce.unmatched" in [r["action"] for r in list(audit.export(ticket_id=7))]

    # the mapping is fixed (the customer's Account now exists under that ref) → resync mirrors it
    account = org.insert("Account", Name="Acme")
    escalations.save(escalations.get(7).evolve(account_ref=account))
    env = {"DATABASE_URL": database_url, "CONNECTOR_MANIFEST": str(SHIPPED_MANIFEST),
           "SALESFORCE_INSTANCE_URL": org.url, "SALESFORCE_ACCESS_TOKEN": org.access_token}
    for name in ("ZENDESK_URL", "ZENDESK_SUBDOMAIN", "ZENDESK_OAUTH_TOKEN", "ZENDESK_EMAIL", "ZENDESK_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    outcome = CliRunner().invoke(main, ["salesforce", "resync"], catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    # without Zendesk credentials the stored reference is used, and the command says so
    assert "the customer references of 1 unmatched escalation(s) are not read again" in outcome.stderr
    assert "1 mirrored, 0 unmatched, 0 failed; 1 Salesforce call(s)" in outcome.output
    assert escalations.get(7).salesforce_state == "mirrored"
    assert [e["Event_Key__c"] for e in org.records("Escalation_Event__c")] == ["zendesk:7:opened"]
    assert unmatched_escalations(store) == []

    # backfill rebuilds every row (mirrored ones too), once; a second run sends nothing
    outcome = CliRunner().invoke(main, ["salesforce", "backfill", "--since", "2026-01-01"], catch_exceptions=False)
    assert outcome.exit_code == 0 and "1 mirrored, 0 unmatched, 0 failed; 1 Salesforce call(s)" in outcome.output
    assert composite_calls(org)[-1].json["compositeRequest"][1]["body"]["records"][0]["Event_Key__c"] == \
        "zendesk:7:opened"
    outcome = CliRunner().invoke(main, ["salesforce", "backfill"], catch_exceptions=False)
    assert "0 Salesforce call(s)" in outcome.output
    assert len(org.records("Escalation__c")) == 1 and len(org.records("Escalation_Event__c")) == 1
    # a date after the escalation's last change leaves it out
    outcome = CliRunner().invoke(main, ["salesforce", "backfill", "--since", "2099-01-01"], catch_exceptions=False)
    assert outcome.exit_code == 0 and "0 mirrored, 0 unmatched, 0 failed; 0 Salesforce call(s)" in outcome.output

    # records lost in Salesforce (a sandbox refresh): a plain backfill sends nothing, --force
    # sends the whole history once more, and a second forced run upserts the same records
    assert org.delete_all("Escalation_Event__c") == 1 and org.delete_all("Escalation__c") == 1
    assert "0 Salesforce call(s)" in CliRunner().invoke(main, ["salesforce", "backfill"]).output
    for _ in range(2):
        outcome = CliRunner().invoke(main, ["salesforce", "backfill", "--force"], catch_exceptions=False)
        assert outcome.exit_code == 0 and "1 mirrored, 0 unmatched, 0 failed; 1 Salesforce call(s)" in outcome.output
        assert len(org.records("Escalation__c")) == 1
        assert [e["Event_Key__c"] for e in org.records("Escalation_Event__c")] == ["zendesk:7:opened"]
    forced = [r for r in audit.export(ticket_id=7) if r["kind"] == "write" and "--force" in (r["reason"] or "")]
    assert len(forced) == 2 and all(r["result"] == "written" for r in forced)


def test_request_limit_retries_later_then_goes_through(org, parts):
    _, escalations, effects, _ = parts
    account = org.insert("Account", Name="Acme")
    save_escalation(escalations, 9, account)
    mirror = mirror_for(org, parts)
    mirror.service.find_account(account)
    org.fail_with_request_limit(method="POST", path=r".*/composite")
    with pytest.raises(RetryLater):
        mirror.mirror(9)
    assert org.records("Escalation__c") == [] and escalations.get(9).salesforce_state is None
    assert mirror.mirror(9).state == "mirrored"
    assert len(org.records("Escalation__c")) == 1


def test_expired_session_logs_in_again_with_jwt_and_retries(org, parts):
    _, escalations, _, _ = parts
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    org.allow_jwt("3MVG9-key", public, "connector@acme.example")
    account = org.insert("Account", Name="Acme")
    save_escalation(escalations, 11, account)
    mirror = mirror_for(org, parts, username="connector@acme.example", consumer_key="3MVG9-key",
                        private_key=private, login_url=org.url)
    assert mirror.mirror(11).state == "mirrored"
    org.expire_session()
    escalations.save(escalations.get(11).evolve(level="CEO"))
    assert mirror.mirror(11).state == "mirrored"
    assert org.records("Escalation__c")[0]["Level__c"] == "CEO"
    assert org.tokens_issued == 2 and len(org.requests("POST", r"/services/oauth2/token")) == 2


def test_a_field_the_org_lacks_dead_letters_naming_field_and_manifest_key(parts):
    _, escalations, _, _ = parts
    from plugins.salesforce.simulator import SalesforceSimulator
    from tests.plugins.salesforce.support import org_schema

    schema = org_schema()
    del schema["Escalation__c"]["fields"]["Tier__c"]
    with SalesforceSimulator(schema) as sim:
        account = sim.insert("Account", Name="Acme")
        save_escalation(escalations, 12, account)
        with pytest.raises(PermanentError) as caught:
            mirror_for(sim, parts).mirror(12)
    assert "field Tier__c (manifest key: salesforce.fields.tier)" in str(caught.value)
    assert escalations.get(12).salesforce_state is None


def test_rollups_count_every_escalation_of_the_account_whichever_organization(org, parts):
    """Two Zendesk organizations matched to one Account (the same external_id), and one
    escalation of another customer in the first organization's old reference: the
    Account's roll-ups count exactly the escalations mirrored to it."""
    _, escalations, _, _ = parts
    account = org.insert("Account", Name="Acme")
    other = org.insert("Account", Name="Globex")
    save_escalation(escalations, 30, account, organization_id=7, tier="T2")
    save_escalation(escalations, 31, account, organization_id=8, tier="T4")
    save_escalation(escalations, 32, other, organization_id=7, tier="T3")
    mirror = mirror_for(org, parts)
    for ticket_id in (30, 31, 32):
        assert mirror.mirror(ticket_id).state == "mirrored"
    acme, globex = org.record("Account", account), org.record("Account", other)
    assert (acme["Open_Escalations__c"], acme["Highest_Open_Tier__c"]) == (2, "T4")
    assert (globex["Open_Escalations__c"], globex["Highest_Open_Tier__c"]) == (1, "T3")


def test_rollups_follow_every_escalation_of_the_customer(org, parts):
    _, escalations, _, _ = parts
    account = org.insert("Account", Name="Acme")
    save_escalation(escalations, 20, account, tier="T2")
    save_escalation(escalations, 21, account, tier="T4")
    mirror = mirror_for(org, parts)
    mirror.mirror(20)
    mirror.mirror(21)
    rolled = org.record("Account", account)
    assert (rolled["Open_Escalations__c"], rolled["Highest_Open_Tier__c"]) == (2, "T4")
    escalations.save(escalations.get(21).evolve(state="resolved", resolution="referred",
                                                resolved_at=T0 + timedelta(minutes=4)))
    mirror.mirror(21)
    rolled = org.record("Account", account)
    assert (rolled["Open_Escalations__c"], rolled["Escalations_Last_90_Days__c"], rolled["Highest_Open_Tier__c"],
            rolled["Last_Escalation_Date__c"]) == (1, 2, "T2", "2026-11-23")
    resolved = [r for r in org.records("Escalation__c") if r["Ticket_Number__c"] == 21][0]
    assert (resolved["Status__c"], resolved["Resolution__c"]) == ("resolved", "referred")
