"""Escalations end to end: the Zendesk simulator sends real-shaped event webhooks to the
connector's intake, the worker decides and writes back over real HTTP, on SQLite and
PostgreSQL. See tests/support/desk.py for the set-up."""
from __future__ import annotations

import re
from datetime import timedelta


from tests.support.desk import COMPLETE_FINANCIAL, Desk


def ticket_puts(desk: Desk, ticket_id: int):
    return [r for r in desk.sim.requests("PUT", rf"/api/v2/tickets/{ticket_id}(\.json)?")]


def ticket_gets(desk: Desk, ticket_id: int):
    return [r for r in desk.sim.requests("GET", rf"/api/v2/tickets/{ticket_id}(\.json)?")]


def test_complete_financial_escalation_gets_t3_due_times_note_and_tags(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id, "L2")
    escalated_at = desk.clock.now
    desk.settle()

    assert desk.value(ticket_id, "tier") == "T3"
    assert desk.value(ticket_id, "escalation_level") == "L2"
    # bridge: 30 minutes round the clock, shown in the desk's zone (New York, EST)
    assert desk.value(ticket_id, "bridge_due_at") == "2026-11-23T10:30:00-05:00"
    assert desk.value(ticket_id, "next_update_due_at") == "2026-11-23T11:00:00-05:00"  # hourly for T3
    assert desk.value(ticket_id, "first_response_due_at") is None  # a T1 target: cleared, not left stale
    tags = desk.ticket(ticket_id)["tags"]
    assert "tier_t3" in tags and "escalation_blocked" not in tags

    [note] = desk.notes(ticket_id)
    assert note.startswith("Escalated to L2 — tier T3 (Compliance or financial exposure)")
    assert "Duplicate payment confirmed" in note and "Large financial exposure" in note
    assert "Mon 23 Nov 10:30 EST" in note
    assert "Open the bridge and notify the executive sponsor" in note  # the tier's checklist

    record = desk.record(ticket_id)
    assert (record.state, record.level, record.tier) == ("open", "L2", "T3")
    assert record.escalated_at == escalated_at
    assert record.account_ref == "001ACME"  # the organization's external_id: salesforce.account_match
    timers = desk.worker.scheduler.pending(prefix=f"sla:zendesk:{ticket_id}:")
    assert [(t.payload["target"], t.payload["kind"], t.fire_at - escalated_at) for t in timers] == [
        ("bridge", "at_risk", timedelta(minutes=24)), ("bridge", "breach", timedelta(minutes=30))]
    assert [e.kind for e in desk.escalations.events(ticket_id)] == ["opened"]


def test_incomplete_escalation_is_reverted_with_a_note_naming_each_field(desk):
    values = {k: v for k, v in COMPLETE_FINANCIAL.items() if k not in ("amount", "transaction_ids")}
    values["currency"] = None
    ticket_id = desk.new_ticket(**values)
    before = desk.ticket(ticket_id)["custom_status_id"]
    desk.escalate(ticket_id, "L2")
    desk.settle()

    ticket = desk.ticket(ticket_id)
    assert ticket["custom_status_id"] == before  # put back
    assert "escalation_blocked" in ticket["tags"]
    assert desk.value(ticket_id, "tier") is None
    [note] = desk.notes(ticket_id)
    assert note.startswith("Escalation L2 blocked — 3 fields need attention")
    for title in ("Amount", "Currency", "Transaction ids"):
        assert re.search(rf"^- {title}: ", note, re.M), (title, note)
    assert desk.record(ticket_id).state == "blocked"

    # the agent completes the record and tries again: escalated, tag removed
    desk.edit(ticket_id, amount="25000", currency="usd", transaction_ids="TXN-884211")
    desk.escalate(ticket_id, "L2")
    desk.settle()
    ticket = desk.ticket(ticket_id)
    assert "escalation_blocked" not in ticket["tags"] and "tier_t3" in ticket["tags"]
    assert ticket["custom_status_id"] == desk.level("L2")
    notes = desk.notes(ticket_id)
    assert len(notes) == 2, notes
    assert [e.kind for e in desk.escalations.events(ticket_id)] == ["blocked", "opened"]


def test_urgent_without_a_reason_is_turned_back(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL, urgent=True)
    desk.escalate(ticket_id)
    desk.settle()
    [note] = desk.notes(ticket_id)
    assert note.startswith("Escalation L2 blocked — 1 field needs attention")
    assert "- Urgency reason: " in note
    assert desk.value(ticket_id, "tier") is None


def test_l2_to_cio_rechecks_and_retiers(desk):
    general = {**COMPLETE_FINANCIAL, "escalation_type": "general", "signal": None, "amount": None,
               "currency": None, "transaction_ids": None, "transaction_status": None}
    ticket_id = desk.new_ticket(**general)
    desk.escalate(ticket_id, "L2")
    desk.settle()
    assert desk.value(ticket_id, "tier") == "T1"

    desk.clock.advance(3600)
    desk.edit(ticket_id, status="CIO", signal="unusual_login")
    desk.settle()
    assert desk.value(ticket_id, "tier") == "T4"
    assert desk.value(ticket_id, "escalation_level") == "CIO"
    notes = desk.notes(ticket_id)
    assert len(notes) == 2
    assert notes[1].startswith("Escalated to CIO (from L2) — tier T4")
    assert "Tier was T1." in notes[1]
    assert desk.value(ticket_id, "incident_commander_due_at") == "2026-11-23T11:15:00-05:00"
    assert desk.value(ticket_id, "resolve_due_at") is None
    assert [e.kind for e in desk.escalations.events(ticket_id)] == ["opened", "level_changed", "tier_changed"]


def test_public_reply_moves_the_cadence_and_meets_first_response(desk):
    general = {**COMPLETE_FINANCIAL, "escalation_type": "general", "signal": None}
    ticket_id = desk.new_ticket(**general)
    desk.escalate(ticket_id)
    desk.settle()
    assert desk.value(ticket_id, "next_update_due_at") == "2026-11-25T10:00:00-05:00"  # T1: every 48h

    desk.clock.advance(2 * 3600)
    desk.edit(ticket_id, comment="We are on it and will update you by tomorrow.", public=True)
    desk.settle()
    assert desk.value(ticket_id, "next_update_due_at") == "2026-11-25T12:00:00-05:00"
    first = desk.record(ticket_id).sla.target("first_response")
    assert first.met_at == desk.clock.now
    # the first-response timers are gone, the resolve ones stay
    kinds = {(t.payload["target"], t.payload["kind"]) for t in
             desk.worker.scheduler.pending(prefix=f"sla:zendesk:{ticket_id}:")}
    assert kinds == {("resolve", "at_risk"), ("resolve", "breach")}
    assert len(desk.notes(ticket_id)) == 1  # the cadence moved without another note


def test_solving_starts_rca_and_pir_and_writes_their_due_dates(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()
    desk.edit(ticket_id, bridge_opened=True)
    desk.settle()
    assert desk.record(ticket_id).sla.target("bridge").is_met

    desk.clock.advance(3600)
    desk.edit(ticket_id, status="solved")
    desk.settle()
    # solved Monday 11:00 New York; 5 business days after Monday, skipping Thanksgiving
    # (Thursday 26 November): Tue, Wed, Fri, Mon, Tue → the close of Tuesday 1 December
    assert desk.value(ticket_id, "rca_due_at") == "2026-12-01"
    assert desk.value(ticket_id, "pir_due_at") == "2026-12-01"
    assert desk.value(ticket_id, "next_update_due_at") is None
    record = desk.record(ticket_id)
    assert (record.state, record.resolution) == ("resolved", "resolved")
    assert desk.notes(ticket_id)[-1].startswith("Escalation resolved — follow-up due:")
    kinds = [e.kind for e in desk.escalations.events(ticket_id)]
    assert kinds == ["opened", "sla_met", "resolved", "rca_due", "pir_due"]


def test_breach_fires_once_after_a_restart(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()

    desk.start()  # the connector restarts: a new process on the same store
    desk.clock.advance(31 * 60)  # the bridge (30 m) was never opened
    desk.settle()
    tags = desk.ticket(ticket_id)["tags"]
    assert "sla_at_risk" in tags and "sla_breached" in tags
    notes = desk.notes(ticket_id)
    assert [n.split(" — ")[0] for n in notes[1:]] == ["SLA at risk", "SLA breached"]
    assert "Bridge" in notes[2]

    desk.start()
    desk.clock.advance(3600)
    desk.settle()
    assert len(desk.notes(ticket_id)) == 3  # fired once, not again after another restart
    kinds = [e.kind for e in desk.escalations.events(ticket_id)]
    assert kinds.count("sla_breached") == 1


def test_a_met_target_cancels_its_timers(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()
    desk.clock.advance(10 * 60)
    desk.edit(ticket_id, bridge_opened=True)
    desk.settle()
    desk.clock.advance(30 * 60)
    desk.settle()
    assert "sla_breached" not in desk.ticket(ticket_id)["tags"]
    assert len(desk.notes(ticket_id)) == 1


def test_own_writes_echo_back_and_are_ignored(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.deliver()
    desk.work()
    echoes = desk.sim.take_emitted()
    assert echoes and all(e["detail"]["actor_id"] == str(desk.sim.api_user_id) for e in echoes)
    desk.sim.clear_journal()
    desk.deliver(echoes)
    desk.work()
    assert desk.sim.requests("PUT") == [] and desk.sim.requests("GET", r"/api/v2/tickets/.*") == []
    decisions = [r for r in desk.runtime.audit.export(ticket_id=ticket_id) if r["action"] == "zendesk.event.ignored"]
    assert decisions and all("own Zendesk user" in r["reason"] for r in decisions)


def test_one_read_and_one_write_per_transition(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.sim.clear_journal()
    desk.escalate(ticket_id)
    desk.deliver()
    desk.work()
    assert len(ticket_gets(desk, ticket_id)) == 1
    assert len(ticket_puts(desk, ticket_id)) == 1
    # the rule look-ups: one search count (repeat contact) and one comments page (legal threat)
    assert len(desk.sim.requests("GET", r"/api/v2/search/count(\.json)?")) == 1
    assert len(desk.sim.requests("GET", rf"/api/v2/tickets/{ticket_id}/comments(\.json)?")) == 1
    body = ticket_puts(desk, ticket_id)[0].json["ticket"]
    assert body["safe_update"] is True and body["updated_stamp"]


def test_a_concurrent_agent_edit_is_reread_and_survives(desk, monkeypatch):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.deliver()
    client = desk.runtime.services.get("zendesk")
    if client is None:
        from plugins.zendesk.service import zendesk_client
        client = zendesk_client(desk.runtime.services)
    original = client.get_ticket
    edited = []

    def get_then_agent_edits(tid):
        raw = original(tid)
        if not edited:  # between our read and our write, an agent saves the ticket
            edited.append(desk.edit(ticket_id, evidence="Screenshots in the shared drive"))
        return raw

    monkeypatch.setattr(client, "get_ticket", get_then_agent_edits)
    desk.work()
    statuses = [r.status for r in ticket_puts(desk, ticket_id)]
    assert statuses == [409, 200]
    assert desk.value(ticket_id, "evidence") == "Screenshots in the shared drive"  # their edit survived
    assert desk.value(ticket_id, "tier") == "T3"
    assert len(desk.notes(ticket_id)) == 1
    actions = [r["action"] for r in desk.runtime.audit.export(ticket_id=ticket_id)]
    assert "zendesk.escalation.conflict" in actions


def test_a_redelivered_event_changes_nothing(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    envelopes = desk.sim.take_emitted()
    desk.deliver(envelopes)
    desk.work()
    assert set(desk.deliver(envelopes)) == {200}  # duplicates: acknowledged, not stored again
    desk.work()
    assert len(ticket_puts(desk, ticket_id)) == 1
    assert len(desk.notes(ticket_id)) == 1
