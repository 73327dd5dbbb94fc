"""One escalation transition, decided: blocked with a note, or escalated with its tier,
due times, field writes, tags and note. All on the shipped manifest."""
from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from connector.escalation.decide import (
    BLOCKED_TAG,
    Blocked,
    Escalated,
    decide_transition,
    note_marker,
    tier_tag,
)
from connector.escalation.requirements import Missing
from connector.escalation.sla import (
    apply_public_reply,
    apply_status,
    due_field_writes,
)
from connector.escalation.ticket import RuleFacts, TicketSnapshot
from tests.escalation.shipped import CALENDARS, SHIPPED, TITLES

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
L2, CIO, CEO = (level.custom_status_id for level in SHIPPED.zendesk.levels)
OPEN_STATUS = 42  # the custom status the ticket had before the escalation
KEY = "zendesk:4711:escalation:01HXYZ"
PAN = "4111111111111111"

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=NY)

GENERAL = {
    "customer_id": "CUST-1042",
    "issue_summary": "Payment run did not start",
    "timeline": "Scheduled 09:00, nothing by 09:30",
    "actions_taken": "Restarted the bank connector",
    "escalation_reason": "Payroll is due today",
    "escalation_type": "general",
}
FINANCIAL = {
    **GENERAL,
    "escalation_type": "financial",
    "amount": "2,480.00",
    "currency": "usd",
    "transaction_ids": "TX-2026-0001,\nTX-2026-0002",
    "transaction_status": "failed",
    "signal": "duplicate_payment",
}


def ticket(fields: dict, status_id: int = L2, tags=()) -> TicketSnapshot:
    return TicketSnapshot(id=4711, status="open", updated_at=MONDAY_10, custom_status_id=status_id,
                          fields=fields, field_titles=TITLES, tags=frozenset(tags))


def decide(fields: dict, *, status_id: int = L2, previous: int | None = OPEN_STATUS, current_level=None,
           facts: RuleFacts = RuleFacts(), manifest=SHIPPED, tags=(), at: datetime = MONDAY_10):
    return decide_transition(
        manifest, ticket(fields, status_id, tags),
        previous_custom_status_id=previous, escalated_at=at, facts=facts, calendars=CALENDARS,
        current_level=current_level, idempotency_key=KEY,
    )


# -- complete escalations --------------------------------------------------------------

def test_complete_financial_escalation_gets_t3_and_its_due_times():
    result = decide(FINANCIAL)
    assert isinstance(result, Escalated)
    assert result.level.name == "L2"
    assert result.tier.tier == "T3"
    assert result.tier.winning_rules == ("Duplicate payment confirmed",)
    (bridge,) = result.due_times
    assert (bridge.target, bridge.due_at, bridge.at_risk_at) == (
        "bridge", datetime(2026, 11, 23, 15, 30, tzinfo=UTC), datetime(2026, 11, 23, 15, 24, tzinfo=UTC))
    assert result.next_update_due_at == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    assert result.field_writes == {
        "tier": "T3",
        "escalation_level": "L2",
        "bridge_due_at": "2026-11-23T10:30:00-05:00",
        "next_update_due_at": "2026-11-23T11:00:00-05:00",
        # due fields of targets this tier does not start now are cleared
        "first_response_due_at": None,
        "resolve_due_at": None,
        "ack_due_at": None,
        "triage_due_at": None,
        "incident_commander_due_at": None,
        "rca_due_at": None,
        "pir_due_at": None,
    }
    assert result.tags_add == {"tier_t3"}
    assert result.tags_remove == {"tier_t1", "tier_t2", "tier_t4", BLOCKED_TAG}


def test_the_escalated_note_says_tier_why_when_and_what_to_do():
    result = decide({**FINANCIAL, "amount": "12,500.00"}, facts=RuleFacts(requester_ticket_counts={7: 3}))
    assert result.note == "\n".join([
        "Escalated to L2 — tier T3 (Compliance or financial exposure)",
        "Rules: Duplicate payment confirmed; Large financial exposure",
        "Also matched: Repeat contact (three tickets in a week) → T2",
        "",
        "Due (escalated Mon 23 Nov 10:00 EST):",
        "- Bridge due: Mon 23 Nov 10:30 EST (30m, round the clock)",
        "- Next customer update: Mon 23 Nov 11:00 EST (every 1h; each public reply moves it)",
        "- RCA: due 5 business days after the ticket is solved (business calendar)",
        "- PIR: due 5 business days after the ticket is solved (business calendar)",
        "",
        "Checklist:",
        "- Open the bridge and notify the executive sponsor",
        "- Loop in Engineering, Finance and Legal/Compliance",
        "- Name one customer-facing owner; assign investigator, communicator, scribe",
        "- External updates go out as a reviewed summary only",
        "",
        f"[escalation-connector:{KEY}]",
    ])


def test_a_general_escalation_without_signals_gets_the_default_tier_on_business_hours():
    result = decide(GENERAL)
    assert result.tier.tier == "T1"
    assert result.field_writes["first_response_due_at"] == "2026-11-23T14:00:00-05:00"
    assert result.field_writes["resolve_due_at"] == "2026-11-25"  # a date field: close of Wednesday
    assert result.field_writes["next_update_due_at"] == "2026-11-25T10:00:00-05:00"
    lines = result.note.splitlines()
    assert lines[0] == "Escalated to L2 — tier T1 (Standard support)"
    assert lines[1] == "No rule matched, so the default tier T1 applies"
    assert "- First response: Mon 23 Nov 14:00 EST (4h of opening hours, business calendar)" in lines
    assert "- Resolve: Wed 25 Nov 17:00 EST (2 business days, business calendar)" in lines


def test_the_note_names_the_rule_that_decided():
    facts = RuleFacts(latest_requester_comment="We have instructed our lawyer")
    result = decide(GENERAL, facts=facts)
    assert result.tier.tier == "T3"
    assert result.note.splitlines()[1] == "Rule: Legal threat in the customer's words"


def test_a_security_tag_outranks_a_financial_signal():
    result = decide(FINANCIAL, tags={"security_incident", "tier_t3"})
    assert result.tier.tier == "T4"
    assert result.tags_add == {"tier_t4"}
    assert "tier_t3" in result.tags_remove
    assert result.note.splitlines()[1:3] == ["Rule: Security or PCI-DSS incident tagged",
                                             "Also matched: Duplicate payment confirmed → T3"]
    assert "- Designate the incident commander" in result.note


def test_a_bridge_already_opened_is_met_at_escalation():
    result = decide({**FINANCIAL, "bridge_opened": True})
    assert result.sla.target("bridge").met_at == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert "- Bridge due: Mon 23 Nov 10:30 EST (30m, round the clock) — already met: Bridge opened is filled in" \
        in result.note.splitlines()


def test_only_the_manifests_tier_tags_are_removed():
    result = decide(FINANCIAL, tags={"tier_gold", "tier_t1"})
    assert "tier_gold" not in result.tags_remove
    assert "tier_t1" in result.tags_remove


def test_a_changed_tier_is_mentioned():
    assert "Tier was T1." in decide({**FINANCIAL, "tier": "T1"}).note.splitlines()
    assert "Tier was" not in decide({**FINANCIAL, "tier": "T3"}).note


# -- incomplete escalations ------------------------------------------------------------

def test_incomplete_financial_escalation_is_reverted_with_a_note_naming_each_field():
    fields = {**FINANCIAL, "amount": "abc", "currency": "XYZ", "transaction_ids": "TX-2026-0001\ntx#1",
              "timeline": ""}
    result = decide(fields)
    assert isinstance(result, Blocked)
    assert result.revert_to == OPEN_STATUS
    assert result.tag == BLOCKED_TAG
    assert [item.field for item in result.missing] == ["timeline", "amount", "currency", "transaction_ids"]
    assert result.note == "\n".join([
        "Escalation L2 blocked — 4 fields need attention",
        "The status was put back. Fix these, then escalate again:",
        "- Timeline: is empty",
        '- Amount: "abc" is not an amount — write digits, e.g. 1250.00',
        '- Currency: "XYZ" is not one of CAD, EUR, GBP, USD, USDT',
        '- Transaction IDs: "tx#1" does not look like a transaction ID',
        "",
        f"[escalation-connector:{KEY}]",
    ])


def test_one_missing_field_reads_in_the_singular():
    result = decide({**GENERAL, "customer_id": None})
    assert result.note.splitlines()[:3] == [
        "Escalation L2 blocked — 1 field needs attention",
        "The status was put back. Fix this, then escalate again:",
        "- Customer ID: is empty",
    ]


def test_urgent_escalation_without_a_reason_is_blocked():
    result = decide({**FINANCIAL, "urgent": True})
    assert result.missing == (Missing("urgency_reason", "Urgency reason", "is empty (needed because Urgent is ticked)"),)
    assert "- Urgency reason: is empty (needed because Urgent is ticked)" in result.note.splitlines()


def test_flag_mode_keeps_the_status():
    flagging = dataclasses.replace(SHIPPED, zendesk=dataclasses.replace(SHIPPED.zendesk, on_incomplete="flag"))
    result = decide({**GENERAL, "customer_id": None}, manifest=flagging)
    assert result.revert_to is None
    assert result.note.splitlines()[1] == ("The status stays, but the ticket is tagged escalation_blocked until "
                                           "this is fixed:")


def test_without_a_previous_status_nothing_is_put_back():
    result = decide({**GENERAL, "customer_id": None}, previous=None)
    assert result.revert_to is None
    assert result.note.splitlines()[1] == "Fix this, then escalate again:"


def test_the_escalation_type_itself_can_block():
    result = decide({**GENERAL, "escalation_type": None})
    assert [str(item) for item in result.missing] == ["Escalation type: is empty"]


# -- level changes ---------------------------------------------------------------------

def test_l2_to_cio_is_escalated_again_with_the_new_level():
    result = decide(FINANCIAL, status_id=CIO, previous=L2, current_level="L2")
    assert isinstance(result, Escalated)
    assert result.level.name == "CIO"
    assert result.field_writes["escalation_level"] == "CIO"
    assert result.note.splitlines()[0] == "Escalated to CIO (from L2) — tier T3 (Compliance or financial exposure)"


def test_l2_to_cio_rechecks_the_requirements_and_reverts_to_l2():
    fields = {**FINANCIAL, "transaction_ids": ""}
    result = decide(fields, status_id=CIO, previous=L2, current_level="L2")
    assert isinstance(result, Blocked)
    assert result.level.name == "CIO"
    assert result.revert_to == L2
    assert result.note.splitlines()[0] == "Escalation CIO blocked — 1 field needs attention"


def test_l2_to_cio_decides_the_tier_again_from_the_current_ticket():
    later = datetime(2026, 11, 24, 9, 0, tzinfo=NY)
    result = decide({**GENERAL, "signal": "unusual_login"}, status_id=CIO, previous=L2, current_level="L2", at=later)
    assert result.tier.tier == "T4"
    assert result.due_times[0].due_at == datetime(2026, 11, 24, 14, 15, tzinfo=UTC)  # clocks restart now


@pytest.mark.parametrize("status_id, current, heading", [
    (L2, "L2", "Escalation re-checked at L2"),
    (L2, "CIO", "Escalation moved down to L2 (from CIO)"),
    (CEO, "L2", "Escalated to CEO (from L2)"),
    (CIO, "L1", "Escalated to CIO (from L1)"),
])
def test_same_and_lower_levels_are_rechecked_too(status_id, current, heading):
    result = decide(GENERAL, status_id=status_id, current_level=current)
    assert result.note.startswith(heading + " — tier T1")
    blocked = decide({**GENERAL, "timeline": None}, status_id=status_id, current_level=current)
    assert isinstance(blocked, Blocked)


def test_a_ticket_outside_the_escalation_statuses_is_refused():
    with pytest.raises(ValueError, match="not an escalation level"):
        decide(GENERAL, status_id=OPEN_STATUS)


# -- after the escalation --------------------------------------------------------------

def test_a_public_reply_moves_the_customer_update_cadence():
    result = decide(FINANCIAL)
    change = apply_public_reply(SHIPPED, result.sla, datetime(2026, 11, 23, 10, 40, tzinfo=NY))
    assert change.next_update_due_at == datetime(2026, 11, 23, 16, 40, tzinfo=UTC)
    assert due_field_writes(SHIPPED, CALENDARS, (), change.next_update_due_at) == {
        "next_update_due_at": "2026-11-23T11:40:00-05:00"}


def test_solving_a_t3_escalation_starts_the_root_cause_report_clock():
    result = decide(FINANCIAL)
    change = apply_status(SHIPPED, result.sla, "solved", datetime(2026, 11, 25, 15, 0, tzinfo=NY), CALENDARS)
    assert due_field_writes(SHIPPED, CALENDARS, change.started) == {
        "rca_due_at": "2026-12-03", "pir_due_at": "2026-12-03"}


# -- the note's marker and card numbers ------------------------------------------------

def test_the_marker_is_the_last_line_of_every_note():
    for result in (decide(GENERAL), decide({**GENERAL, "timeline": None})):
        assert result.note.splitlines()[-1] == note_marker(KEY) == f"[escalation-connector:{KEY}]"


@pytest.mark.parametrize("key", ["", "a]b", "line\nbreak"])
def test_a_key_that_would_break_the_marker_is_refused(key):
    with pytest.raises(ValueError):
        note_marker(key)


def test_the_marker_keeps_digits_that_look_like_a_card_number():
    result = decide_transition(SHIPPED, ticket(GENERAL), previous_custom_status_id=OPEN_STATUS,
                               escalated_at=MONDAY_10, facts=RuleFacts(), calendars=CALENDARS, current_level=None,
                               idempotency_key=f"ticket:{PAN}")
    assert result.note.endswith(f"[escalation-connector:ticket:{PAN}]")


@pytest.mark.parametrize("fields", [
    {**FINANCIAL, "currency": PAN},
    {**FINANCIAL, "currency": "4111 1111 1111 1111"},
    {**FINANCIAL, "amount": f"card {PAN} charged twice"},
    {**FINANCIAL, "transaction_ids": "TX-2026-0001\n4111 1111 1111 1111"},
    {**FINANCIAL, "signal": f"pan {PAN}", "timeline": None},
], ids=["currency", "currency-spaced", "amount", "transaction-ids", "signal"])
def test_a_card_number_in_a_field_never_appears_in_a_note(fields):
    result = decide(fields)
    assert isinstance(result, Blocked)
    digits = re.sub(r"\D", "", result.note.rsplit("\n", 1)[0])
    assert PAN[:12] not in digits
    assert "****" in result.note  # quoted, but masked


def test_a_card_number_in_free_text_stays_out_of_the_escalated_note():
    result = decide({**FINANCIAL, "issue_summary": f"Customer pasted {PAN}", "urgent": True,
                     "urgency_reason": f"card {PAN} compromised"})
    assert isinstance(result, Escalated)
    assert PAN[:12] not in re.sub(r"\D", "", result.note)


def test_tier_tags_are_lowercase_keys():
    assert tier_tag("T3") == "tier_t3"
