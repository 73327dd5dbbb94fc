"""After the escalation: what follow_ticket makes of the ticket as it is now, the SLA
timers' plan, and the state codec the plugin stores between events."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.escalation.follow import (
    AT_RISK,
    BREACH,
    follow_ticket,
    resolution_of,
    timer_plan,
)
from connector.escalation.sla import sla_from_dict, sla_to_dict, start_sla
from connector.escalation.ticket import TicketSnapshot
from tests.escalation.shipped import CALENDARS, SHIPPED

MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def ticket(status: str = "open", **fields) -> TicketSnapshot:
    return TicketSnapshot(id=7, status=status, updated_at=MONDAY_10_NY, fields=fields)


def t3_state():
    return start_sla(SHIPPED, "T3", MONDAY_10_NY, CALENDARS).state


def test_nothing_new_changes_nothing():
    state = t3_state()
    follow = follow_ticket(SHIPPED, state, ticket(), at=MONDAY_10_NY + timedelta(minutes=5), calendars=CALENDARS)
    assert not follow.changed and follow.sla == state


def test_a_public_reply_moves_the_next_update_and_writes_it_in_the_desks_zone():
    at = MONDAY_10_NY + timedelta(minutes=20)
    follow = follow_ticket(SHIPPED, t3_state(), ticket(), at=at, calendars=CALENDARS, public_reply=True)
    assert follow.sla.next_update_due_at == at + timedelta(hours=1)
    assert follow.field_writes == {"next_update_due_at": "2026-11-23T11:20:00-05:00"}
    assert follow.met == ()  # T3 has no public_reply target


def test_a_filled_field_meets_its_target_and_no_write_is_needed():
    at = MONDAY_10_NY + timedelta(minutes=12)
    follow = follow_ticket(SHIPPED, t3_state(), ticket(bridge_opened=True), at=at, calendars=CALENDARS)
    assert follow.met == ("bridge",) and follow.sla.target("bridge").met_at == at
    assert follow.field_writes == {}


def test_solving_resolves_once_clears_the_cadence_and_writes_rca_and_pir_dates():
    at = MONDAY_10_NY + timedelta(hours=1)
    follow = follow_ticket(SHIPPED, t3_state(), ticket("solved"), at=at, calendars=CALENDARS)
    assert follow.resolved and follow.sla.resolved_at == at
    assert [due.target for due in follow.started] == ["rca", "pir"]
    assert follow.field_writes == {"rca_due_at": "2026-12-01", "pir_due_at": "2026-12-01",
                                   "next_update_due_at": None}
    again = follow_ticket(SHIPPED, follow.sla, ticket("solved"), at=at + timedelta(days=2), calendars=CALENDARS)
    assert not again.resolved and again.started == () and again.field_writes == {}


def test_the_timer_plan_has_at_risk_and_breach_for_each_unmet_target():
    state = t3_state()
    assert timer_plan(state) == (
        ("bridge", AT_RISK, MONDAY_10_NY + timedelta(minutes=24), MONDAY_10_NY + timedelta(minutes=30)),
        ("bridge", BREACH, MONDAY_10_NY + timedelta(minutes=30), MONDAY_10_NY + timedelta(minutes=30)),
    )
    met = follow_ticket(SHIPPED, state, ticket(bridge_opened=True), at=MONDAY_10_NY, calendars=CALENDARS).sla
    assert timer_plan(met) == ()


def test_resolution_comes_from_the_tickets_tags():
    assert resolution_of(frozenset()) == "resolved"
    assert resolution_of(frozenset({"escalation_denied"})) == "denied"
    assert resolution_of(frozenset({"escalation_referred", "vip"})) == "referred"


@settings(derandomize=True, database=None, max_examples=40, deadline=None)
@given(tier=st.sampled_from(["T1", "T2", "T3", "T4"]), minutes=st.integers(0, 60 * 24 * 30),
       reply=st.booleans(), solved=st.booleans())
def test_the_stored_form_of_any_state_reads_back_unchanged(tier, minutes, reply, solved):
    at = MONDAY_10_NY + timedelta(minutes=minutes)
    state = start_sla(SHIPPED, tier, MONDAY_10_NY, CALENDARS).state
    state = follow_ticket(SHIPPED, state, ticket("solved" if solved else "open"), at=at, calendars=CALENDARS,
                          public_reply=reply).sla
    assert sla_from_dict(sla_to_dict(state)) == state
