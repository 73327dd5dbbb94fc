"""Business calendar: the contract's examples, its edge cases, and its laws as properties."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from connector.escalation.calendar import (
    BusinessCalendar,
    CountryHolidays,
    holiday_dates,
)
from connector.escalation.durations import Duration, parse_duration

from .calendar_support import (
    ALL_DAY,
    ALWAYS_OPEN,
    BUSINESS,
    BUSINESS_CALENDARS,
    CALENDARS,
    HAVANA_NIGHTS,
    NEW_YORK,
    NINE_TO_FIVE,
    PROFILE,
    SPLIT_SHIFT,
    US_NY_HOLIDAYS,
    UTC,
    day_durations,
    durations,
    instants,
    local_date,
    open_time,
    open_time_durations,
)

LONDON = SPLIT_SHIFT.zone
ONE_US = timedelta(microseconds=1)


def ny(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK, fold=fold)


def due(calendar: BusinessCalendar, start: datetime, text: str) -> datetime:
    return calendar.add(start, parse_duration(text))


# --- the contract's examples -------------------------------------------------------------


def test_eight_business_hours_from_monday_opening_is_monday_close():
    assert due(BUSINESS, ny(2026, 11, 23, 9), "8h") == ny(2026, 11, 23, 17)


def test_two_days_from_friday_afternoon_is_tuesday_close():
    assert due(BUSINESS, ny(2026, 11, 20, 16, 30), "2d") == ny(2026, 11, 24, 17)


def test_two_days_from_saturday_counts_from_monday_and_ends_wednesday_close():
    assert due(BUSINESS, ny(2026, 11, 21, 11), "2d") == ny(2026, 11, 25, 17)


def test_results_are_utc_and_shown_with_the_calendar_offset():
    result = due(BUSINESS, datetime(2026, 11, 23, 14, tzinfo=UTC), "4h")
    assert result.tzinfo is UTC
    assert result.isoformat() == "2026-11-23T18:00:00+00:00"
    assert BUSINESS.local(result).isoformat() == "2026-11-23T13:00:00-05:00"
    summer = due(BUSINESS, ny(2026, 7, 1, 9), "8h")
    assert BUSINESS.local(summer).isoformat() == "2026-07-01T17:00:00-04:00"


# --- where open time starts ------------------------------------------------------------


def test_start_before_opening_counts_from_the_opening():
    assert due(BUSINESS, ny(2026, 11, 23, 6, 12), "30m") == ny(2026, 11, 23, 9, 30)


def test_start_exactly_at_close_counts_from_next_business_day():
    friday_close = ny(2026, 11, 20, 17)
    assert not BUSINESS.is_open(friday_close)
    assert BUSINESS.next_open(friday_close) == ny(2026, 11, 23, 9)
    assert due(BUSINESS, friday_close, "1h") == ny(2026, 11, 23, 10)
    assert due(BUSINESS, friday_close, "2d") == ny(2026, 11, 25, 17)


def test_start_a_microsecond_before_close_counts_that_day_for_days():
    assert due(BUSINESS, ny(2026, 11, 20, 17) - ONE_US, "2d") == ny(2026, 11, 24, 17)


def test_start_before_opening_on_a_business_day_counts_that_day():
    assert due(BUSINESS, ny(2026, 11, 20, 7), "2d") == ny(2026, 11, 24, 17)


def test_zero_days_is_the_close_of_the_day_open_time_starts():
    # The manifest never says 0d, but the rule extends to it naturally.
    assert BUSINESS.add(ny(2026, 11, 23, 10), Duration(0, "d")) == ny(2026, 11, 23, 17)
    assert BUSINESS.add(ny(2026, 11, 23, 17), Duration(0, "d")) == ny(2026, 11, 24, 17)


def test_zero_open_time_is_the_start_itself_even_when_closed():
    saturday = ny(2026, 11, 21, 11)
    assert BUSINESS.add(saturday, timedelta(0)) == saturday


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def test_days_end_at_the_close_of_the_last_interval_of_the_day():
    assert SPLIT_SHIFT.add(london(2026, 11, 23, 9), Duration(1, "d")) == london(2026, 11, 24, 17, 30)
    # Thursday → Friday, whose only interval closes at 15:00.
    assert SPLIT_SHIFT.add(london(2026, 11, 26, 9), Duration(1, "d")) == london(2026, 11, 27, 15)


def test_start_in_a_midday_break_counts_that_day_and_resumes_after_the_break():
    lunch = london(2026, 11, 23, 12, 20)
    assert not SPLIT_SHIFT.is_open(lunch)
    assert SPLIT_SHIFT.add(lunch, Duration(1, "d")) == london(2026, 11, 24, 17, 30)
    assert SPLIT_SHIFT.add(lunch, Duration(90, "m")) == london(2026, 11, 23, 14, 30)


def test_hours_ending_exactly_at_a_break_end_at_the_break_not_after_it():
    assert SPLIT_SHIFT.add(london(2026, 11, 23, 8), Duration(4, "h")) == london(2026, 11, 23, 12)


def test_saturday_is_a_business_day_on_the_split_shift_calendar():
    friday_after_close = london(2026, 11, 27, 16)
    assert SPLIT_SHIFT.add(friday_after_close, Duration(1, "d")) == london(2026, 11, 30, 17, 30)
    assert SPLIT_SHIFT.add(friday_after_close, Duration(2, "h")) == london(2026, 11, 28, 12)


# --- holidays ------------------------------------------------------------------------------


def test_thanksgiving_is_skipped_by_hours_and_days():
    wednesday = ny(2026, 11, 25, 16)
    assert due(BUSINESS, wednesday, "2h") == ny(2026, 11, 27, 10)
    assert due(BUSINESS, wednesday, "2d") == ny(2026, 11, 30, 17)
    assert not BUSINESS.is_business_day(date(2026, 11, 26))
    assert BUSINESS.open_intervals(date(2026, 11, 26)) == []


def test_added_holiday_is_closed_and_removed_holiday_is_open():
    assert not BUSINESS.is_business_day(date(2026, 12, 24))
    without_thanksgiving = BusinessCalendar(
        "America/New_York", NINE_TO_FIVE, CountryHolidays("US", "NY", remove=[date(2026, 11, 26)])
    )
    assert without_thanksgiving.is_business_day(date(2026, 11, 26))
    assert without_thanksgiving.is_business_day(date(2026, 12, 24))


def test_hours_carry_over_the_year_boundary_and_new_years_day():
    # Thu 2026-12-31 16:00; Fri 2027-01-01 is New Year's Day; then the weekend.
    assert due(BUSINESS, ny(2026, 12, 31, 16), "2h") == ny(2027, 1, 4, 10)
    assert due(BUSINESS, ny(2026, 12, 31, 16), "1d") == ny(2027, 1, 4, 17)


def test_new_year_observed_in_the_previous_year_is_a_holiday():
    # 2022-01-01 is a Saturday; the US observes it on Friday 2021-12-31.
    assert date(2021, 12, 31) in US_NY_HOLIDAYS
    assert due(BUSINESS, ny(2021, 12, 30, 16), "2h") == ny(2022, 1, 3, 10)


def test_holiday_dates_files_each_date_under_its_own_year():
    assert date(2021, 12, 31) in holiday_dates("US", None, [2021])
    assert date(2021, 12, 31) not in holiday_dates("US", None, [2022])
    assert date(2022, 1, 1) in holiday_dates("US", None, [2022])


def test_holiday_dates_applies_additions_and_removals_within_the_years():
    dates = holiday_dates(
        "US", "NY", [2026], add=[date(2026, 12, 24), date(2027, 1, 2)], remove=[date(2026, 11, 26)]
    )
    assert date(2026, 12, 24) in dates
    assert date(2027, 1, 2) not in dates
    assert date(2026, 11, 26) not in dates
    assert date(2026, 12, 25) in dates
    assert {day.year for day in dates} == {2026}


def test_country_holidays_cover_any_year_without_a_fixed_range():
    assert date(1987, 12, 25) in US_NY_HOLIDAYS
    assert date(2099, 12, 25) in US_NY_HOLIDAYS
    assert date(2099, 12, 24) not in US_NY_HOLIDAYS
    # 2099-12-25 is a Friday: 8h from Thursday 16:00 run 1h Thursday and 7h Monday.
    assert due(BUSINESS, ny(2099, 12, 24, 16), "8h") == ny(2099, 12, 28, 16)


def test_years_the_holidays_package_does_not_cover_are_refused_not_holiday_free():
    # holidays.US(years=2150) is silently empty; a calendar must not quietly open on 25 Dec.
    with pytest.raises(ValueError, match="US holidays for 1777–2100 only, not 2150"):
        holiday_dates("US", "NY", [2150])
    with pytest.raises(ValueError, match="not 2150"):
        BUSINESS.add(ny(2150, 12, 24, 16), Duration(8, "h"))


@pytest.mark.parametrize(
    ("country", "subdivision", "message"),
    [("XX", None, '"XX" is not a country'), ("US", "ZZ", '"ZZ" is not a subdivision of US')],
)
def test_unknown_country_or_subdivision_is_rejected_with_a_hint(country, subdivision, message):
    with pytest.raises(ValueError, match=message):
        CountryHolidays(country, subdivision)
    with pytest.raises(ValueError, match=message):
        holiday_dates(country, subdivision, [2026])


# --- 24x7 and DST ----------------------------------------------------------------------


def test_24x7_three_hours_over_spring_forward_are_three_real_hours():
    start = ny(2026, 3, 8, 0, 30)
    result = due(ALWAYS_OPEN, start, "3h")
    assert result - start == timedelta(hours=3)
    assert ALWAYS_OPEN.local(result).isoformat() == "2026-03-08T04:30:00-04:00"  # wall: +4h


def test_24x7_three_hours_over_fall_back_are_three_real_hours():
    start = ny(2026, 11, 1, 0, 30)
    result = due(ALWAYS_OPEN, start, "3h")
    assert result - start == timedelta(hours=3)
    assert ALWAYS_OPEN.local(result).isoformat() == "2026-11-01T02:30:00-05:00"  # wall: +2h


def test_24x7_days_are_multiples_of_24_real_hours():
    assert due(ALWAYS_OPEN, ny(2026, 3, 7, 12), "1d") == ny(2026, 3, 8, 13)
    assert due(ALWAYS_OPEN, ny(2026, 10, 31, 12), "1d") == ny(2026, 11, 1, 11)


def test_all_day_calendar_days_end_at_local_midnight_unlike_24x7():
    assert due(ALL_DAY, ny(2026, 3, 7, 12), "1d") == ny(2026, 3, 9, 0)
    assert due(ALL_DAY, ny(2026, 3, 7, 12), "24h") == ny(2026, 3, 8, 13)


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 6, 7), 24)]
)
def test_a_local_day_lasts_as_many_real_hours_as_its_wall_clock_allows(day, hours):
    (start, end), = ALL_DAY.open_intervals(day)
    assert start == datetime.combine(day, time(0), tzinfo=NEW_YORK)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    assert ALL_DAY.diff(start, end) == timedelta(hours=hours)
    assert ALL_DAY.add(start, timedelta(hours=hours)) == end


def test_interval_through_the_repeated_hour_counts_both_occurrences():
    cal = BusinessCalendar("America/New_York", {6: [(time(0), time(2))]})
    (start, end), = cal.open_intervals(date(2026, 11, 1))
    assert cal.diff(start, end) == timedelta(hours=3)
    assert end == ny(2026, 11, 1, 2)


def test_a_repeated_wall_time_means_its_first_occurrence():
    cal = BusinessCalendar("America/New_York", {6: [(time(1, 30), time(3))]})
    (start, end), = cal.open_intervals(date(2026, 11, 1))
    # (Python never finds a repeated-hour time equal to one in another zone, so compare in UTC.)
    assert start == ny(2026, 11, 1, 1, 30, fold=0).astimezone(UTC)
    assert start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert cal.local(start).utcoffset() == timedelta(hours=-4)
    assert cal.diff(start, end) == timedelta(hours=2, minutes=30)


def test_wall_times_skipped_by_spring_forward_map_to_the_transition():
    cal = BusinessCalendar("America/New_York", {6: [(time(2, 15), time(4))]})
    (start, end), = cal.open_intervals(date(2026, 3, 8))
    assert start == ny(2026, 3, 8, 3)  # the first instant the clock reads 02:15 or later
    assert cal.diff(start, end) == timedelta(hours=1)


def test_an_interval_inside_the_spring_gap_has_no_open_time_that_day():
    cal = BusinessCalendar("America/New_York", {6: [(time(2), time(3))]})
    assert not cal.is_business_day(date(2026, 3, 8))
    assert cal.is_business_day(date(2026, 3, 15))
    assert cal.add(ny(2026, 3, 7, 12), Duration(1, "m")) == ny(2026, 3, 15, 2, 1)
    assert cal.add(ny(2026, 3, 7, 12), Duration(0, "d")) == ny(2026, 3, 15, 3)


def test_midnight_that_does_not_exist_opens_at_the_transition():
    havana = HAVANA_NIGHTS.zone
    # Havana springs forward at 00:00 on 2026-03-08: the day starts at 01:00 CDT.
    intervals = HAVANA_NIGHTS.open_intervals(date(2026, 3, 8))
    assert intervals[0][0] == datetime(2026, 3, 8, 1, tzinfo=havana)
    assert HAVANA_NIGHTS.diff(*intervals[0]) == timedelta(hours=1)
    # The previous day's 22:00–24:00 ends at that same transition instant.
    saturday = HAVANA_NIGHTS.open_intervals(date(2026, 3, 7))
    assert saturday[-1][1] == intervals[0][0]
    assert HAVANA_NIGHTS.diff(*saturday[-1]) == timedelta(hours=2)


def test_business_hours_on_dst_days_are_eight_real_hours():
    for day in (date(2026, 3, 9), date(2026, 11, 2)):
        (start, end), = BUSINESS.open_intervals(day)
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=8)


# --- inputs ------------------------------------------------------------------------------


def test_same_instant_in_any_zone_gives_the_same_due_time():
    start = ny(2026, 11, 20, 16, 30)
    for other in (start.astimezone(UTC), start.astimezone(LONDON)):
        assert due(BUSINESS, other, "2d") == due(BUSINESS, start, "2d")
        assert due(BUSINESS, other, "90m") == due(BUSINESS, start, "90m")


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        BUSINESS.add(datetime(2026, 11, 23, 9), Duration(1, "h"))
    with pytest.raises(ValueError, match="no time zone"):
        BUSINESS.diff(ny(2026, 11, 23, 9), datetime(2026, 11, 23, 10))


def test_negative_durations_are_refused():
    with pytest.raises(ValueError, match="negative"):
        BUSINESS.add(ny(2026, 11, 23, 9), timedelta(minutes=-1))
    with pytest.raises(ValueError, match="negative"):
        BUSINESS.add(ny(2026, 11, 23, 9), Duration(-1, "d"))


def test_diff_is_negative_when_end_precedes_start():
    assert BUSINESS.diff(ny(2026, 11, 24, 10), ny(2026, 11, 23, 16)) == -timedelta(hours=2)
    assert ALWAYS_OPEN.diff(ny(2026, 11, 24, 10), ny(2026, 11, 23, 16)) == -timedelta(hours=18)


def test_midnight_as_an_end_means_24_00():
    cal = BusinessCalendar("UTC", {0: [(time(18), time(0))]})
    (start, end), = cal.open_intervals(date(2026, 11, 23))
    assert (start.hour, end.date(), end.hour) == (18, date(2026, 11, 24), 0)


@pytest.mark.parametrize(
    ("timezone", "weekly", "message"),
    [
        ("Mars/Olympus", NINE_TO_FIVE, '"Mars/Olympus" is not a time zone'),
        ("UTC", {0: [(time(22), time(2))]}, "Monday: 22:00-02:00 closes before it opens.*midnight"),
        ("UTC", {2: [(time(9), time(13)), (time(12), time(17))]}, "Wednesday: 09:00-13:00 overlaps"),
        ("UTC", {7: [(time(9), time(17))]}, "weekday 7 is not 0"),
        ("UTC", {0: [(time(9),)]}, "not an \\(open, close\\) pair"),
        ("UTC", {0: [("09:00", "17:00")]}, "is not a naive datetime.time"),
        ("UTC", {}, "at least one opening interval"),
    ],
)
def test_invalid_calendars_are_refused_with_what_to_change(timezone, weekly, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(timezone, weekly)


def test_touching_intervals_merge_into_one():
    cal = BusinessCalendar("UTC", {0: [(time(13), time(17)), (time(9), time(13))]})
    assert len(cal.open_intervals(date(2026, 11, 23))) == 1


def test_a_calendar_closed_for_years_on_end_fails_loudly_instead_of_searching_forever():
    mondays = [date(2026, 1, 5) + timedelta(weeks=k) for k in range(52 * 6)]
    cal = BusinessCalendar("UTC", {0: [(time(9), time(17))]}, mondays)
    with pytest.raises(ValueError, match="no open time in 2026–2028"):
        cal.add(datetime(2026, 1, 1, tzinfo=UTC), Duration(1, "h"))
    with pytest.raises(ValueError, match="no open time"):
        cal.add(datetime(2026, 1, 1, tzinfo=UTC), Duration(1, "d"))


def test_holiday_datetimes_are_refused():
    with pytest.raises(ValueError, match="is not a date"):
        BusinessCalendar("UTC", NINE_TO_FIVE, [datetime(2026, 12, 25)])


# --- properties ----------------------------------------------------------------------------

# The calendar is drawn with the other inputs (rather than parametrized) so one budget of
# examples covers every calendar and the suite stays fast.
all_calendars = st.sampled_from(list(CALENDARS.values()))
business_calendars = st.sampled_from(list(BUSINESS_CALENDARS.values()))


@PROFILE
@given(calendar=all_calendars, start=instants, duration=durations)
def test_a_start_outside_hours_behaves_as_the_next_opening(calendar, start, duration):
    opening = calendar.next_open(start)
    assert opening >= start
    assert calendar.is_open(opening)
    assert calendar.diff(start, opening) == timedelta(0)
    assert calendar.add(start, duration) == calendar.add(opening, duration)


@PROFILE
@given(calendar=all_calendars, start=instants, first=open_time_durations, second=open_time_durations)
def test_adding_in_two_steps_equals_adding_the_sum(calendar, start, first, second):
    both = Duration(first.seconds // 60 + second.seconds // 60, "m")
    assert calendar.add(calendar.add(start, first), second) == calendar.add(start, both)


@PROFILE
@given(
    calendar=all_calendars,
    start=instants,
    later_by=st.timedeltas(timedelta(0), timedelta(days=20)),
    duration=durations,
)
def test_a_later_start_is_never_due_earlier(calendar, start, later_by, duration):
    later = (start.astimezone(UTC) + later_by).astimezone(start.tzinfo)  # real time, not wall
    assert calendar.add(start, duration) <= calendar.add(later, duration)


@PROFILE
@given(calendar=all_calendars, start=instants, pair=st.one_of(
    st.lists(open_time_durations, min_size=2, max_size=2),
    st.lists(day_durations, min_size=2, max_size=2),
))
def test_a_longer_target_is_due_later(calendar, start, pair):
    shorter, longer = sorted(pair, key=lambda d: d.seconds)
    assume(shorter.seconds < longer.seconds)
    assert calendar.add(start, shorter) < calendar.add(start, longer)


@PROFILE
@given(calendar=all_calendars, start=instants, duration=open_time_durations)
def test_open_time_from_start_to_due_is_the_duration_and_due_is_earliest(calendar, start, duration):
    result = calendar.add(start, duration)
    assert calendar.diff(start, result) == open_time(duration)
    # Earliest: a microsecond before, that much open time had not yet elapsed.
    assert calendar.diff(start, result - ONE_US) == open_time(duration) - ONE_US
    assert result.tzinfo is UTC


@PROFILE
@given(calendar=all_calendars, a=instants, b=instants, c=instants)
def test_open_time_adds_up_and_flips_sign(calendar, a, b, c):
    assert calendar.diff(a, b) + calendar.diff(b, c) == calendar.diff(a, c)
    assert calendar.diff(a, b) == -calendar.diff(b, a)


@PROFILE
@given(start=instants, duration=open_time_durations)
def test_all_day_calendar_and_24x7_agree_on_open_time(start, duration):
    assert ALL_DAY.add(start, duration) == ALWAYS_OPEN.add(start, duration)
    assert ALWAYS_OPEN.add(start, duration) == start.astimezone(UTC) + open_time(duration)


@PROFILE
@given(year=st.integers(2020, 2035), data=st.data())
def test_no_open_time_on_holidays(year, data):
    holiday = data.draw(st.sampled_from(sorted(US_NY_HOLIDAYS.for_year(year))))
    start = datetime.combine(holiday, time(0), tzinfo=NEW_YORK)
    end = datetime.combine(holiday + timedelta(days=1), time(0), tzinfo=NEW_YORK)
    assert BUSINESS.diff(start, end) == timedelta(0)
    assert not BUSINESS.is_business_day(holiday)
    moment = data.draw(st.datetimes(start.replace(tzinfo=None), end.replace(tzinfo=None) - ONE_US))
    assert not BUSINESS.is_open(moment.replace(tzinfo=NEW_YORK))


@PROFILE
@given(calendar=business_calendars, start=instants, duration=open_time_durations)
def test_open_time_never_ends_on_a_holiday_or_closed_day(calendar, start, duration):
    result = calendar.add(start, duration)
    last_open_moment = result - ONE_US
    assert calendar.is_open(last_open_moment)
    assert calendar.is_business_day(local_date(calendar, last_open_moment))


@PROFILE
@given(calendar=business_calendars, start=instants, days=st.integers(0, 30))
def test_days_end_at_the_close_of_the_nth_business_day_after_open_time_starts(calendar, start, days):
    result = calendar.add(start, Duration(days, "d"))
    day_zero = local_date(calendar, calendar.next_open(start))
    last_day = local_date(calendar, result - ONE_US)
    # The result is that day's close: the end of its last interval.
    assert result == calendar.open_intervals(last_day)[-1][1]
    business_days_after = 0
    day = day_zero
    while day < last_day:
        day += timedelta(days=1)
        business_days_after += calendar.is_business_day(day)
    assert business_days_after == days


@PROFILE
@given(
    day=st.dates(date(2025, 1, 1), date(2028, 12, 31)),
    minute=st.integers(0, 24 * 60 - 1),
    duration=durations,
)
def test_a_start_on_a_weekend_or_holiday_counts_from_the_next_business_morning(day, minute, duration):
    assume(not BUSINESS.is_business_day(day))
    start = datetime.combine(day, time(0), tzinfo=NEW_YORK) + timedelta(minutes=minute)
    morning = day + timedelta(days=1)
    while not BUSINESS.is_business_day(morning):
        morning += timedelta(days=1)
    opening = datetime.combine(morning, time(9), tzinfo=NEW_YORK)
    assert BUSINESS.next_open(start) == opening
    assert BUSINESS.add(start, duration) == BUSINESS.add(opening, duration)


@PROFILE
@given(
    calendar=st.sampled_from([BUSINESS, ALWAYS_OPEN, ALL_DAY]),
    transition=st.sampled_from([
        ny(2026, 3, 8, 3), ny(2026, 11, 1, 1, fold=1), ny(2027, 3, 14, 3), ny(2027, 11, 7, 1, fold=1)
    ]),
    offset=st.timedeltas(timedelta(hours=-60), timedelta(hours=60)),
    hours=st.integers(1, 72),
)
def test_hours_across_new_york_dst_changes_are_real_hours(calendar, transition, offset, hours):
    start = (transition.astimezone(UTC) + offset).astimezone(NEW_YORK)
    result = calendar.add(start, Duration(hours, "h"))
    assert calendar.diff(start, result) == timedelta(hours=hours)
    if calendar is not BUSINESS:
        assert result.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    else:
        # On the business calendar the wall-clock span of each open interval equals its
        # real length (09:00–17:00 never touches the 02:00 change): sum the intervals.
        total = timedelta(0)
        day = local_date(calendar, start)
        while day <= local_date(calendar, result):
            for a, b in calendar.open_intervals(day):
                lo, hi = max(a, start), min(b, result)
                if hi > lo:
                    wall_hi, wall_lo = calendar.local(hi), calendar.local(lo)
                    total += wall_hi.replace(tzinfo=None) - wall_lo.replace(tzinfo=None)
            day += timedelta(days=1)
        assert total == timedelta(hours=hours)
