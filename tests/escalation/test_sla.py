"""SLA due times, at-risk instants, the update cadence and the clocks after escalation.

Expected instants are worked out by hand in the comments (America/New_York is UTC-5 in
late November; the shipped business calendar is Mon–Fri 09:00–17:00 with US-NY holidays,
so Thursday 2026-11-26, Thanksgiving, is closed).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.escalation.sla import (
    CalendarSet,
    DueTime,
    SlaState,
    TargetState,
    apply_field_set,
    apply_public_reply,
    apply_status,
    build_calendar,
    due_field_writes,
    filled_fields,
    format_for_field,
    next_update_due,
    plan_targets,
    start_resolved_targets,
    start_sla,
)
from connector.escalation.ticket import TicketSnapshot
from connector.manifest import parse_manifest
from tests.escalation.shipped import CALENDARS, SHIPPED

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
FAST = settings(derandomize=True, database=None, max_examples=60, deadline=None)

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=NY)  # 15:00Z


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def by_name(due_times) -> dict[str, DueTime]:
    return {due.target: due for due in due_times}


# Targets as in the product contract's example: triage and rca without met_when, and
# only some due fields mapped.
SMALL = parse_manifest({
    "version": 1,
    "zendesk": {
        "fields": {"bridge_opened": {"id": 1, "format": "checkbox"}, "ack_due_at": 2,
                   "rca_due_at": {"id": 3, "format": "date"}},
        "levels": [{"name": "L2", "custom_status_id": 7001}],
    },
    "calendars": {"sydney": {"timezone": "Australia/Sydney", "hours": {"mon-fri": ["09:00-17:00"]}}},
    "tiers": {
        "T2": {"name": "Business impact", "update_every": "24h", "targets": {
            "ack": {"within": "1h", "calendar": "24x7", "met_when": "public_reply"},
            "triage": {"within": "4h", "calendar": "24x7"},
            "pending": {"within": "2h", "calendar": "24x7", "met_when": {"status": "pending"}},
        }},
        "T3": {"name": "Exposure", "update_every": "1h", "targets": {
            "bridge": {"within": "30m", "calendar": "24x7", "met_when": {"field_set": "bridge_opened"}},
            "rca": {"within": "5d", "calendar": "sydney", "from": "resolved"},
        }},
    },
    "default_tier": "T2",
})


# -- calendars -------------------------------------------------------------------------

def test_calendar_set_builds_each_calendar_once_with_its_holidays():
    calendars = CalendarSet.from_manifest(SHIPPED)
    business = calendars.get("business")
    assert calendars["business"] is business
    assert business.zone == NY
    assert not business.is_business_day(date(2026, 11, 26))  # Thanksgiving
    assert business.is_business_day(date(2026, 11, 27))
    assert not business.is_business_day(date(2026, 11, 28))  # Saturday
    assert calendars.names == ("business", "24x7")


def test_24x7_is_always_open_and_shown_in_the_desks_zone():
    always = CALENDARS.get("24x7")
    assert always.is_always_open
    assert CALENDARS.display_timezone == "America/New_York"
    assert always.local(utc(2026, 11, 23, 15, 30)).isoformat() == "2026-11-23T10:30:00-05:00"


def test_24x7_zone_can_be_chosen_and_defaults_to_utc_without_calendars():
    assert CalendarSet.from_manifest(SHIPPED, display_timezone="Europe/London").always_open.timezone == "Europe/London"
    assert CalendarSet({}).always_open.timezone == "UTC"
    assert CalendarSet.from_manifest(SMALL).display_timezone == "Australia/Sydney"


def test_an_unknown_calendar_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="known: business, 24x7"):
        CALENDARS.get("weekend")


def test_holidays_without_a_country_are_the_added_dates():
    spec = parse_manifest({
        "version": 1,
        "zendesk": {"fields": {"x": 1}, "levels": [{"name": "L2", "custom_status_id": 7001}]},
        "calendars": {"ops": {"timezone": "Europe/Berlin", "hours": {"mon-sun": ["08:00-20:00"]},
                              "holidays": {"add": ["2026-12-24"]}}},
        "tiers": {"T1": {"name": "Std", "targets": {}, "update_every": "1h"}},
        "default_tier": "T1",
    }).calendars["ops"]
    calendar = build_calendar(spec)
    assert not calendar.is_business_day(date(2026, 12, 24))
    assert calendar.is_business_day(date(2026, 12, 25))  # no country: Christmas is a working day here
    assert calendar.open_intervals(date(2026, 12, 27))[0][0] == utc(2026, 12, 27, 7, 0)


# -- due times at escalation -----------------------------------------------------------

def test_t3_bridge_is_due_thirty_real_minutes_after_escalation():
    (bridge,) = plan_targets(SHIPPED, "T3", MONDAY_10, CALENDARS)
    assert bridge == DueTime(
        target="bridge",
        due_at=utc(2026, 11, 23, 15, 30),       # 10:30 local
        calendar_name="24x7",
        field="bridge_due_at",
        at_risk_at=utc(2026, 11, 23, 15, 24),   # 24 of 30 minutes
        started_at=utc(2026, 11, 23, 15, 0),
        start_from="escalated",
    )


def test_t1_targets_count_business_hours_and_business_days():
    due = by_name(plan_targets(SHIPPED, "T1", MONDAY_10, CALENDARS))
    # first_response 4h from Monday 10:00 → Monday 14:00 local; at risk after 3h12m → 13:12.
    assert due["first_response"].due_at == utc(2026, 11, 23, 19, 0)
    assert due["first_response"].at_risk_at == utc(2026, 11, 23, 18, 12)
    # resolve 2d: day 0 is Monday, so the close of Wednesday 25 Nov, 17:00 local. Open time
    # Mon 7h + Tue 8h + Wed 8h = 23h; 80 % = 18h24m → Mon 7h, Tue 8h, then Wed 09:00 + 3h24m.
    assert due["resolve"].due_at == utc(2026, 11, 25, 22, 0)
    assert due["resolve"].at_risk_at == utc(2026, 11, 25, 17, 24)
    assert due["resolve"].field == "resolve_due_at"


def test_t2_and_t4_targets_run_round_the_clock():
    due = by_name(plan_targets(SHIPPED, "T2", MONDAY_10, CALENDARS))
    assert (due["ack"].due_at, due["triage"].due_at) == (utc(2026, 11, 23, 16, 0), utc(2026, 11, 23, 19, 0))
    (commander,) = plan_targets(SHIPPED, "T4", MONDAY_10, CALENDARS)
    assert (commander.target, commander.due_at, commander.at_risk_at) == (
        "incident_commander", utc(2026, 11, 23, 15, 15), utc(2026, 11, 23, 15, 12))


def test_friday_afternoon_business_targets_continue_on_monday_and_skip_to_tuesday_close():
    friday = ny(2026, 11, 27, 16, 30)  # the day after Thanksgiving is a business day in NY
    due = by_name(plan_targets(SHIPPED, "T1", friday, CALENDARS))
    assert due["first_response"].due_at == ny(2026, 11, 30, 12, 30)  # 30m Friday + 3h30m Monday
    assert due["resolve"].due_at == ny(2026, 12, 1, 17, 0)            # Tuesday at close


def test_a_weekend_escalation_counts_from_monday():
    saturday = ny(2026, 11, 28, 11, 0)
    due = by_name(plan_targets(SHIPPED, "T1", saturday, CALENDARS))
    assert due["first_response"].due_at == ny(2026, 11, 30, 13, 0)
    assert due["first_response"].at_risk_at == ny(2026, 11, 30, 12, 12)
    assert due["resolve"].due_at == ny(2026, 12, 2, 17, 0)            # Wednesday at close


def test_resolution_targets_are_not_planned_at_escalation():
    assert [due.target for due in plan_targets(SHIPPED, "T4", MONDAY_10, CALENDARS)] == ["incident_commander"]
    assert [due.target for due in plan_targets(SHIPPED, "T4", MONDAY_10, CALENDARS, start_from="resolved")] == [
        "rca", "pir"]
    with pytest.raises(ValueError, match="start_from"):
        plan_targets(SHIPPED, "T4", MONDAY_10, CALENDARS, start_from="reopened")


def test_root_cause_report_is_due_five_business_days_after_resolution_skipping_thanksgiving():
    solved = ny(2026, 11, 25, 15, 0)  # Wednesday
    rca, pir = start_resolved_targets(SHIPPED, "T3", solved, CALENDARS)
    # Day 0 Wed 25; Thu 26 is Thanksgiving; days 1–5: Fri 27, Mon 30, Tue 1, Wed 2, Thu 3 Dec.
    assert rca.due_at == ny(2026, 12, 3, 17, 0)
    assert (rca.field, rca.start_from, rca.started_at) == ("rca_due_at", "resolved", utc(2026, 11, 25, 20, 0))
    # Open time: Wed 2h + 5 × 8h = 42h; 80 % = 33h36m → Wed 2h, Fri 8h, Mon 8h, Tue 8h, Wed 2 Dec 09:00 + 7h36m.
    assert rca.at_risk_at == ny(2026, 12, 2, 16, 36)
    assert pir.due_at == rca.due_at


def test_an_unmapped_due_field_is_none():
    ack, triage, pending = plan_targets(SMALL, "T2", MONDAY_10, CalendarSet.from_manifest(SMALL))
    assert (ack.field, triage.field, pending.field) == ("ack_due_at", None, None)


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        plan_targets(SHIPPED, "T3", datetime(2026, 11, 23, 10), CALENDARS)
    with pytest.raises(ValueError, match="no time zone"):
        next_update_due(SHIPPED, "T3", datetime(2026, 11, 23, 10))


@FAST
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    tier=st.sampled_from(["T1", "T2", "T3", "T4"]),
    start_from=st.sampled_from(["escalated", "resolved"]),
)
def test_at_risk_is_four_fifths_of_the_open_time_on_the_targets_calendar(start, tier, start_from):
    for due in plan_targets(SHIPPED, tier, start, CALENDARS, start_from=start_from):
        calendar = CALENDARS.get(due.calendar_name)
        open_time = calendar.diff(start, due.due_at)
        assert start <= due.at_risk_at <= due.due_at
        assert abs(calendar.diff(start, due.at_risk_at) - open_time * 4 / 5) <= timedelta(microseconds=1)
        target = SHIPPED.tier(tier).target(due.target)
        if not target.within.is_days:
            assert open_time == timedelta(seconds=target.within.seconds)


# -- the update cadence ----------------------------------------------------------------

def test_next_update_is_escalation_time_plus_update_every():
    assert next_update_due(SHIPPED, "T3", MONDAY_10) == utc(2026, 11, 23, 16, 0)
    assert next_update_due(SHIPPED, "T2", MONDAY_10) == utc(2026, 11, 24, 15, 0)


def test_update_every_is_real_elapsed_time_across_a_dst_change():
    # 48h from Saturday 31 Oct 12:00 EDT: the clocks go back on 1 Nov, so 11:00 EST on Monday.
    due = next_update_due(SHIPPED, "T1", ny(2026, 10, 31, 12, 0))
    assert due == utc(2026, 11, 2, 16, 0)
    assert due.astimezone(NY) == ny(2026, 11, 2, 11, 0)


def test_update_every_runs_through_nights_and_weekends():
    friday_evening = ny(2026, 11, 27, 18, 0)
    assert next_update_due(SHIPPED, "T2", friday_evening) == ny(2026, 11, 28, 18, 0)


# -- what goes into Zendesk fields -----------------------------------------------------

def test_text_fields_get_iso_8601_with_the_calendars_offset():
    business = CALENDARS.get("business")
    assert format_for_field(utc(2026, 11, 23, 22, 0), business, "text") == "2026-11-23T17:00:00-05:00"
    assert format_for_field(utc(2026, 7, 1, 21, 0), business, "text") == "2026-07-01T17:00:00-04:00"
    assert format_for_field(utc(2026, 11, 23, 22, 0, 0, 999_999), business, "text") == "2026-11-23T17:00:00-05:00"


def test_date_fields_get_the_local_date():
    business = CALENDARS.get("business")
    # 03:00Z on the 24th is still the evening of the 23rd in New York.
    assert format_for_field(utc(2026, 11, 24, 3, 0), business, "date") == "2026-11-23"
    sydney = CalendarSet.from_manifest(SMALL).get("sydney")
    assert format_for_field(utc(2026, 11, 23, 14, 0), sydney, "date") == "2026-11-24"


def test_due_field_writes_cover_mapped_fields_only():
    due_times = plan_targets(SHIPPED, "T1", MONDAY_10, CALENDARS)
    assert due_field_writes(SHIPPED, CALENDARS, due_times, next_update_due(SHIPPED, "T1", MONDAY_10)) == {
        "first_response_due_at": "2026-11-23T14:00:00-05:00",
        "resolve_due_at": "2026-11-25",
        "next_update_due_at": "2026-11-25T10:00:00-05:00",
    }
    small_calendars = CalendarSet.from_manifest(SMALL)
    small_due = plan_targets(SMALL, "T2", MONDAY_10, small_calendars)
    assert due_field_writes(SMALL, small_calendars, small_due, MONDAY_10) == {
        "ack_due_at": "2026-11-24T03:00:00+11:00",  # shown in the desk's zone, Sydney
    }


# -- after the escalation --------------------------------------------------------------

def t1_state() -> SlaState:
    return start_sla(SHIPPED, "T1", MONDAY_10, CALENDARS).state


def test_start_sla_opens_the_escalation_clocks():
    change = start_sla(SHIPPED, "T1", MONDAY_10, CALENDARS)
    assert [due.target for due in change.started] == ["first_response", "resolve"]
    assert change.met == ()
    assert change.state.escalated_at == utc(2026, 11, 23, 15, 0)
    assert change.state.next_update_due_at == utc(2026, 11, 25, 15, 0)
    assert change.state.target("resolve") == TargetState(
        "resolve", utc(2026, 11, 25, 22, 0), utc(2026, 11, 25, 17, 24), None, "escalated", utc(2026, 11, 23, 15, 0))


def test_a_public_reply_meets_first_response_and_moves_the_cadence():
    change = apply_public_reply(SHIPPED, t1_state(), ny(2026, 11, 23, 11, 20))
    assert change.met == ("first_response",)
    assert change.state.target("first_response").met_at == utc(2026, 11, 23, 16, 20)
    assert change.state.target("resolve").met_at is None
    assert change.next_update_due_at == ny(2026, 11, 25, 11, 20)   # reply + 48h

    again = apply_public_reply(SHIPPED, change.state, ny(2026, 11, 24, 9, 0))
    assert again.met == ()
    assert again.state.target("first_response").met_at == utc(2026, 11, 23, 16, 20)  # the first reply counts
    assert again.next_update_due_at == ny(2026, 11, 26, 9, 0)


def test_a_reply_from_before_the_escalation_neither_meets_nor_pulls_the_cadence_back():
    change = apply_public_reply(SHIPPED, t1_state(), ny(2026, 11, 23, 9, 0))
    assert change.met == ()
    assert change.next_update_due_at == ny(2026, 11, 25, 10, 0)


@FAST
@given(st.lists(st.integers(min_value=-3600, max_value=7 * 86400), max_size=8))
def test_the_next_update_follows_the_latest_reply_and_never_goes_back(offsets):
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    seen = [state.next_update_due_at]
    for offset in offsets:
        state = apply_public_reply(SHIPPED, state, MONDAY_10 + timedelta(seconds=offset)).state
        seen.append(state.next_update_due_at)
    assert seen == sorted(seen)
    latest = max([0, *offsets])
    assert state.next_update_due_at == MONDAY_10 + timedelta(seconds=latest) + timedelta(hours=1)


def test_solving_meets_status_targets_and_ends_the_cadence():
    state = apply_public_reply(SHIPPED, t1_state(), ny(2026, 11, 23, 11, 0)).state
    change = apply_status(SHIPPED, state, "solved", ny(2026, 11, 24, 16, 0), CALENDARS)
    assert change.met == ("resolve",)
    assert change.started == ()
    assert change.state.resolved_at == utc(2026, 11, 24, 21, 0)
    assert change.next_update_due_at is None
    assert change.state.target("resolve").outcome(ny(2026, 12, 1)) == "met"


def test_other_statuses_meet_only_their_own_targets():
    manifest_calendars = CalendarSet.from_manifest(SMALL)
    state = start_sla(SMALL, "T2", MONDAY_10, manifest_calendars).state
    change = apply_status(SMALL, state, "Pending", ny(2026, 11, 23, 10, 30), manifest_calendars)
    assert change.met == ("pending",)
    assert change.state.resolved_at is None
    assert change.next_update_due_at is not None
    assert apply_status(SMALL, change.state, "open", ny(2026, 11, 23, 11), manifest_calendars).met == ()


def test_closed_counts_as_solved():
    change = apply_status(SHIPPED, t1_state(), "closed", ny(2026, 11, 24, 16, 0), CALENDARS)
    assert change.met == ("resolve",)
    assert change.state.resolved_at is not None


def test_a_target_without_met_when_is_met_at_resolution():
    calendars = CalendarSet.from_manifest(SMALL)
    state = start_sla(SMALL, "T2", MONDAY_10, calendars).state
    change = apply_status(SMALL, state, "solved", ny(2026, 11, 23, 18, 0), calendars)
    assert change.met == ("triage",)
    triage = change.state.target("triage")
    assert triage.met_at == ny(2026, 11, 23, 18, 0)
    assert triage.outcome(ny(2026, 11, 30)) == "met_late"  # due 14:00, resolved 18:00


def test_solving_starts_the_root_cause_and_review_clocks():
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    change = apply_status(SHIPPED, state, "solved", ny(2026, 11, 25, 15, 0), CALENDARS)
    assert [due.target for due in change.started] == ["rca", "pir"]
    assert change.started[0].due_at == ny(2026, 12, 3, 17, 0)
    assert [target.name for target in change.state.targets] == ["bridge", "rca", "pir"]
    assert change.state.target("rca").met_at is None
    assert due_field_writes(SHIPPED, CALENDARS, change.started) == {"rca_due_at": "2026-12-03", "pir_due_at": "2026-12-03"}

    delivered = apply_field_set(SHIPPED, change.state, "rca_delivered", ny(2026, 12, 1, 10, 0))
    assert delivered.met == ("rca",)
    assert delivered.state.target("pir").met_at is None


def test_resolution_happens_once():
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    solved = apply_status(SHIPPED, state, "solved", ny(2026, 11, 25, 15, 0), CALENDARS).state
    again = apply_status(SHIPPED, apply_status(SHIPPED, solved, "open", ny(2026, 11, 30, 9, 0), CALENDARS).state,
                         "solved", ny(2026, 12, 7, 9, 0), CALENDARS)
    assert again.started == ()
    assert again.state.resolved_at == solved.resolved_at
    assert again.state.target("rca").due_at == ny(2026, 12, 3, 17, 0)


def test_a_resolution_target_whose_field_is_already_filled_is_met_at_once():
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    change = apply_status(SHIPPED, state, "solved", ny(2026, 11, 25, 15, 0), CALENDARS, filled={"pir_held"})
    assert change.met == ("pir",)
    assert change.state.target("pir").met_at == utc(2026, 11, 25, 20, 0)


def test_a_resolution_target_without_met_when_stays_open():
    calendars = CalendarSet.from_manifest(SMALL)
    state = start_sla(SMALL, "T3", MONDAY_10, calendars).state
    change = apply_status(SMALL, state, "solved", ny(2026, 11, 23, 12, 0), calendars)
    assert change.met == ()
    assert [due.target for due in change.started] == ["rca"]
    assert change.state.target("rca").met_at is None
    assert change.state.target("rca").outcome(ny(2027, 1, 1)) == "breached"


def test_setting_the_bridge_field_meets_the_bridge_target():
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    assert apply_field_set(SHIPPED, state, "rca_delivered", ny(2026, 11, 23, 10, 5)).met == ()
    change = apply_field_set(SHIPPED, state, "bridge_opened", ny(2026, 11, 23, 10, 20))
    assert change.met == ("bridge",)
    assert change.state.target("bridge").outcome(ny(2026, 11, 23, 11)) == "met"
    assert apply_field_set(SHIPPED, change.state, "bridge_opened", ny(2026, 11, 23, 10, 40)).met == ()


def test_a_field_filled_before_the_clock_started_meets_the_target_when_it_starts():
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    change = apply_field_set(SHIPPED, state, "bridge_opened", ny(2026, 11, 23, 9, 0))
    assert change.state.target("bridge").met_at == utc(2026, 11, 23, 15, 0)
    started = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS, filled={"bridge_opened"})
    assert started.met == ("bridge",)


def test_filled_fields_are_those_with_a_value():
    snapshot = TicketSnapshot(id=1, status="open", updated_at=MONDAY_10, fields={
        "bridge_opened": True, "pir_held": False, "incident_commander": " ", "rca_delivered": None, "amount": "5"})
    assert filled_fields(snapshot) == frozenset({"bridge_opened", "amount"})


@pytest.mark.parametrize("now, outcome", [
    (ny(2026, 11, 23, 10, 10), "on_track"),
    (ny(2026, 11, 23, 10, 24), "at_risk"),
    (ny(2026, 11, 23, 10, 30), "breached"),
])
def test_an_open_targets_outcome_depends_on_the_time(now, outcome):
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    assert state.target("bridge").outcome(now) == outcome


def test_a_state_survives_a_manifest_without_its_tier():
    state = start_sla(SHIPPED, "T3", MONDAY_10, CALENDARS).state
    change = apply_public_reply(SMALL, SlaState("T9", state.escalated_at, state.targets, None), MONDAY_10)
    assert change.met == ()

