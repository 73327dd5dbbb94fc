"""Escalations end to end, the parts the flow and edge tests leave out: what SLA timers
leave in the audit log, an upward level change turned back, and whose public comments
move the customer-update cadence. Same desk as test_escalation_flow.py: real webhooks
from the Zendesk simulator, the worker writing back over HTTP, SQLite and PostgreSQL."""
from __future__ import annotations

import re

from tests.plugins.zendesk.test_escalation_flow import ticket_puts
from tests.support.desk import COMPLETE_FINANCIAL, Desk

SLA_ACTIONS = ("sla.at_risk", "sla.breach", "sla.at_risk.skipped", "sla.breach.skipped")
GENERAL = {**COMPLETE_FINANCIAL, "escalation_type": "general", "signal": None}
"""A complete general escalation: no rule matches, default tier T1 (first response
within 4 business hours, met by a public reply; an update every 48 hours)."""


def sla_records(desk: Desk) -> list[dict]:
    """Every audit record an SLA timer left, whichever ticket it names."""
    return [r for r in desk.runtime.audit.export() if r["action"] in SLA_ACTIONS]


def timer_kinds(desk: Desk, ticket_id: int) -> set[tuple[str, str]]:
    return {(t.payload["target"], t.payload["kind"])
            for t in desk.worker.scheduler.pending(prefix=f"sla:zendesk:{ticket_id}:")}


# -- 1. SLA timers leave audit records ------------------------------------------------------

def test_at_risk_and_breach_timers_each_leave_one_decision_naming_ticket_and_target(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)  # T3: bridge within 30 minutes
    other_id = desk.new_ticket(**GENERAL)  # escalated too, its timers far off: must not be named
    desk.escalate(ticket_id)
    desk.escalate(other_id)
    desk.settle()
    [escalated] = [r for r in desk.runtime.audit.export(ticket_id=ticket_id)
                   if r["action"] == "escalation.escalated"]
    due_iso = desk.record(ticket_id).sla.target("bridge").due_at.isoformat()

    desk.clock.advance(25 * 60)  # past the at-risk moment (80 %: 24 minutes), before the due time
    desk.settle()
    records = sla_records(desk)
    assert [(r["kind"], r["action"], r["result"]) for r in records] == [
        ("write", "sla.at_risk", "written"), ("decision", "sla.at_risk", "fired")]

    desk.clock.advance(6 * 60)  # past the due time: 31 minutes, the bridge never opened
    desk.settle()
    records = sla_records(desk)
    assert [(r["kind"], r["action"], r["result"]) for r in records] == [
        ("write", "sla.at_risk", "written"), ("decision", "sla.at_risk", "fired"),
        ("write", "sla.breach", "written"), ("decision", "sla.breach", "fired")]
    assert all(r["ticket_id"] == ticket_id for r in records)
    # the timers carry the escalation's correlation id: the trail links back to the webhook
    assert all(r["correlation_id"] == escalated["correlation_id"] for r in records)

    at_risk, breach = (r for r in records if r["kind"] == "decision")
    assert at_risk["detail"] == {"target": "bridge"}
    assert at_risk["reason"] == "SLA at risk: Bridge due Mon 23 Nov 10:30 EST"
    assert breach["detail"] == {"target": "bridge"}
    assert breach["reason"] == "SLA breached: Bridge was due Mon 23 Nov 10:30 EST"
    writes = [r for r in records if r["kind"] == "write"]
    assert [w["detail"]["key"] for w in writes] == [
        f"zendesk:ticket:{ticket_id}:sla:bridge:at_risk:{due_iso}",
        f"zendesk:ticket:{ticket_id}:sla:bridge:breach:{due_iso}"]
    assert [w["detail"]["tags_add"] for w in writes] == [["sla_at_risk"], ["sla_breached"]]
    assert [e.kind for e in desk.escalations.events(ticket_id)] == ["opened", "sla_at_risk", "sla_breached"]

    desk.clock.advance(3600)  # nothing more to fire for this ticket
    desk.settle()
    assert len(sla_records(desk)) == 4
    assert desk.runtime.audit.verify().ok


def test_a_target_met_before_its_timers_are_due_leaves_no_sla_record(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()
    assert timer_kinds(desk, ticket_id) == {("bridge", "at_risk"), ("bridge", "breach")}
    desk.clock.advance(10 * 60)
    desk.edit(ticket_id, bridge_opened=True)
    desk.settle()
    assert timer_kinds(desk, ticket_id) == set()  # cancelled, not left to fire

    desk.clock.advance(40 * 60)
    desk.settle()
    assert sla_records(desk) == []
    assert [r["action"] for r in desk.runtime.audit.export(ticket_id=ticket_id)].count("sla.met") == 1
    assert not {"sla_at_risk", "sla_breached"} & set(desk.ticket(ticket_id)["tags"])


def test_timers_released_after_the_target_was_met_are_skipped_with_a_reason(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()
    desk.clock.advance(20 * 60)
    desk.edit(ticket_id, bridge_opened=True)  # at 10:20, before the at-risk moment
    desk.deliver()  # the event is queued, but the worker gets to it late …
    desk.clock.advance(15 * 60)  # … at 10:35: both bridge timers fall due behind it in the lane
    desk.settle()

    bridge = desk.record(ticket_id).sla.target("bridge")
    assert bridge.is_met and bridge.met_at < bridge.due_at
    records = sla_records(desk)
    assert [(r["kind"], r["action"], r["result"]) for r in records] == [
        ("decision", "sla.at_risk.skipped", "skipped"), ("decision", "sla.breach.skipped", "skipped")]
    for record in records:
        assert record["ticket_id"] == ticket_id
        assert record["detail"] == {"target": "bridge"}
        assert record["reason"] == f"target bridge was met at {bridge.met_at.isoformat()}"
    assert not {"sla_at_risk", "sla_breached"} & set(desk.ticket(ticket_id)["tags"])
    assert len(desk.notes(ticket_id)) == 1
    assert [e.kind for e in desk.escalations.events(ticket_id)] == ["opened", "sla_met"]


# -- 2. an upward level change turned back ---------------------------------------------------

def test_a_cio_move_with_a_required_field_cleared_goes_back_to_l2_and_stays_escalated(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    pre_escalation = desk.ticket(ticket_id)["custom_status_id"]
    desk.escalate(ticket_id, "L2")
    desk.settle()
    at_l2 = desk.record(ticket_id)
    assert (at_l2.state, at_l2.level, at_l2.tier) == ("open", "L2", "T3")
    timers = [(t.key, t.fire_at) for t in desk.worker.scheduler.pending(prefix=f"sla:zendesk:{ticket_id}:")]
    assert timers

    desk.clock.advance(5 * 60)
    desk.edit(ticket_id, status="CIO", amount=None)  # one save: moved up, the amount cleared
    desk.settle()

    ticket = desk.ticket(ticket_id)
    assert ticket["custom_status_id"] == desk.level("L2")  # back to the level it left …
    assert ticket["custom_status_id"] != pre_escalation  # … not to where it was before L2
    assert "escalation_blocked" in ticket["tags"]
    assert "tier_t3" in ticket["tags"]
    assert desk.value(ticket_id, "escalation_level") == "L2"
    assert desk.value(ticket_id, "tier") == "T3"
    notes = desk.notes(ticket_id)
    assert len(notes) == 2, notes
    assert notes[1].startswith("Escalation CIO blocked — 1 field needs attention")
    assert "The status was put back." in notes[1]
    assert re.search(r"^- Amount: is empty \(needed for financial escalations\)$", notes[1], re.M), notes[1]

    record = desk.record(ticket_id)
    assert (record.state, record.level, record.tier) == ("open", "L2", "T3")
    assert record.escalated_at == at_l2.escalated_at
    assert record.sla == at_l2.sla  # the L2 clocks keep running: nothing restarted
    assert record.blocked_count == at_l2.blocked_count + 1
    assert [(t.key, t.fire_at) for t in
            desk.worker.scheduler.pending(prefix=f"sla:zendesk:{ticket_id}:")] == timers
    events = desk.escalations.events(ticket_id)
    assert [e.kind for e in events] == ["opened", "blocked"]
    assert events[1].detail["level"] == "CIO"
    [blocked] = [r for r in desk.runtime.audit.export(ticket_id=ticket_id) if r["action"] == "escalation.blocked"]
    assert blocked["detail"] == {"level": "CIO", "revert_to": desk.level("L2")}

    # fixed and moved up again: escalated to CIO, the blocked tag gone
    desk.clock.advance(5 * 60)
    desk.edit(ticket_id, amount="25000.00")
    desk.settle()
    assert len(desk.notes(ticket_id)) == 2  # filling the field in is not a transition
    desk.escalate(ticket_id, "CIO")
    desk.settle()
    ticket = desk.ticket(ticket_id)
    assert ticket["custom_status_id"] == desk.level("CIO")
    assert "escalation_blocked" not in ticket["tags"]
    assert desk.notes(ticket_id)[2].startswith("Escalated to CIO (from L2) — tier T3")
    record = desk.record(ticket_id)
    assert (record.state, record.level, record.tier) == ("open", "CIO", "T3")


def test_a_cio_move_with_an_invalid_value_is_turned_back_naming_the_field(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id, "L2")
    desk.settle()
    desk.clock.advance(60)
    desk.edit(ticket_id, status="CIO", transaction_ids="TXN-884211, #42")
    desk.settle()

    ticket = desk.ticket(ticket_id)
    assert ticket["custom_status_id"] == desk.level("L2")
    assert "escalation_blocked" in ticket["tags"]
    note = desk.notes(ticket_id)[-1]
    assert note.startswith("Escalation CIO blocked — 1 field needs attention")
    assert re.search(r'^- Transaction ids: "#42" does not look like a transaction id$', note, re.M | re.I), note
    record = desk.record(ticket_id)
    assert (record.state, record.level, record.tier) == ("open", "L2", "T3")


# -- 3. only agents' public replies move the cadence -----------------------------------------

def test_public_comments_by_end_users_neither_move_the_cadence_nor_meet_first_response(desk):
    ticket_id = desk.new_ticket(**GENERAL)
    desk.escalate(ticket_id)
    desk.settle()
    assert desk.value(ticket_id, "tier") == "T1"
    due_before = desk.value(ticket_id, "next_update_due_at")
    assert due_before == "2026-11-25T10:00:00-05:00"
    sla_before = desk.record(ticket_id).sla
    colleague = desk.sim.add_user("Sam Colleague", "sam@acme.example", organization_id=desk.org["id"])["id"]
    desk.sim.clear_journal()

    desk.clock.advance(2 * 3600)
    desk.customer_replies(ticket_id, "Any news? Our vendor keeps calling us.")  # the requester, by email
    desk.sim.add_comment(ticket_id, "Adding myself: I run payables here.", author_id=colleague)
    desk.edit(ticket_id, comment="Checked the ledger, both debits are there.", public=False)  # agent, internal
    desk.settle()

    assert desk.value(ticket_id, "next_update_due_at") == due_before
    record = desk.record(ticket_id)
    assert record.sla.target("first_response").met_at is None
    assert record.sla == sla_before
    assert ticket_puts(desk, ticket_id) == []  # nothing written back
    assert timer_kinds(desk, ticket_id) == {("first_response", "at_risk"), ("first_response", "breach"),
                                            ("resolve", "at_risk"), ("resolve", "breach")}
    assert "sla.met" not in [r["action"] for r in desk.runtime.audit.export(ticket_id=ticket_id)]

    # the agent's public reply, an hour later, does both
    desk.clock.advance(3600)
    desk.edit(ticket_id, comment="We found both debits and are reversing one today.", public=True)
    desk.settle()
    assert desk.value(ticket_id, "next_update_due_at") == "2026-11-25T13:00:00-05:00"
    assert desk.record(ticket_id).sla.target("first_response").met_at == desk.clock.now
    assert timer_kinds(desk, ticket_id) == {("resolve", "at_risk"), ("resolve", "breach")}
