"""The business calendar against implementations that share none of its code.

1. pandas ``CustomBusinessHour`` / ``CustomBusinessDay`` on thousands of random cases for
   whole-hour daytime schedules with US-NY holidays (pandas works on wall time, which is
   real time inside a daytime interval: New York changes its clocks at 02:00).
2. A brute-force oracle that marks every real minute open or closed from its local wall
   time (via pandas' vectorised time zone conversion) and counts, for random schedules in
   zones that change their clocks at 02:00 and at midnight, with starts around the changes.
"""
from __future__ import annotations

import functools
import random
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from pandas.tseries.offsets import CustomBusinessDay, CustomBusinessHour

from connector.escalation.calendar import BusinessCalendar, holiday_dates
from connector.escalation.durations import Duration

from .calendar_support import PROFILE, UTC

# --- pandas ------------------------------------------------------------------------------

HOLIDAYS_2025_2028 = sorted(holiday_dates("US", "NY", range(2025, 2029), add=[date(2026, 12, 24)]))

# (opening hours per day, open weekdays): whole hours, daytime, one or two intervals.
SCHEDULES = [
    ([(9, 17)], range(5)),
    ([(8, 12), (13, 18)], range(5)),
    ([(7, 11), (12, 15), (16, 20)], [0, 1, 2, 3, 5]),
    ([(10, 14)], [1, 3, 5, 6]),
    ([(6, 22)], range(7)),
]
WEEKDAY_CODES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@functools.cache
def _calendar(schedule: int) -> BusinessCalendar:
    hours, weekdays = SCHEDULES[schedule]
    intervals = [(time(a), time(b)) for a, b in hours]
    return BusinessCalendar("America/New_York", dict.fromkeys(weekdays, intervals), HOLIDAYS_2025_2028)


@functools.cache
def _pandas_offsets(schedule: int, n: int) -> tuple[CustomBusinessHour, CustomBusinessDay]:
    """pandas' offsets for ``n`` business hours and ``n`` business days (built once: slow)."""
    hours, weekdays = SCHEDULES[schedule]
    common = {
        "holidays": HOLIDAYS_2025_2028,
        "weekmask": " ".join(WEEKDAY_CODES[day] for day in weekdays),
    }
    business_hours = CustomBusinessHour(
        n, start=[f"{a:02d}:00" for a, _ in hours], end=[f"{b:02d}:00" for _, b in hours], **common
    )
    return business_hours, CustomBusinessDay(n, **common)


def _as_earliest_instant(result: pd.Timestamp, hours, business_day: CustomBusinessDay) -> pd.Timestamp:
    """Translate pandas' answer into ours.

    pandas never returns a close: when the hours run out exactly at a close it reports the
    next opening (Monday 09:00 + 8 business hours → Tuesday 09:00). Our ``add`` returns the
    earliest instant at which the open time has elapsed, which is that close, and it never
    returns an opening. So a pandas result on an opening maps back to the close just before
    it: the end of the previous interval that day, or the last close of the previous
    business day.
    """
    openings = [a for a, _ in hours]
    if result.minute or result.second or result.microsecond or result.hour not in openings:
        return result
    index = openings.index(result.hour)
    if index:
        return result.normalize() + pd.Timedelta(hours=hours[index - 1][1])
    previous_day = (result.normalize() - business_day).normalize()
    return previous_day + pd.Timedelta(hours=hours[-1][1])


def test_hours_agree_with_pandas_custom_business_hour_on_thousands_of_cases():
    rng = random.Random(20261122)
    checked = closes_translated = 0
    for case in range(2500):
        schedule = case % len(SCHEDULES)
        hours, weekdays = SCHEDULES[schedule]
        calendar = _calendar(schedule)
        day = date(2025, 6, 1) + timedelta(days=rng.randrange(0, 900))
        if rng.random() < 0.4:  # land exactly on an opening or a close
            clock = timedelta(hours=rng.choice([h for pair in hours for h in pair]))
        else:
            clock = timedelta(minutes=rng.randrange(0, 24 * 60), seconds=rng.choice([0, 0, 17]))
        start = datetime.combine(day, time(0)) + clock
        n = rng.choice([1, 2, 3, 4, 8, 13, 24, 40, 100, 250])
        business_hours, _ = _pandas_offsets(schedule, n)
        _, business_day = _pandas_offsets(schedule, 1)

        by_pandas = pd.Timestamp(start) + business_hours
        expected = _as_earliest_instant(by_pandas, hours, business_day)
        ours = calendar.local(calendar.add(start.replace(tzinfo=calendar.zone), Duration(n, "h")))

        assert ours.replace(tzinfo=None) == expected.to_pydatetime(), (start, n, hours, weekdays)
        checked += 1
        closes_translated += expected != by_pandas
    assert checked == 2500
    assert closes_translated > 100  # the close/opening difference was really exercised


def test_days_agree_with_pandas_custom_business_day_on_thousands_of_cases():
    """``Nd`` = close of the Nth business day after the day open time starts, per pandas.

    Day 0 is worked out here from pandas alone: the start's own date if it is a business day
    and the start is before that day's last close; otherwise the next business day.
    """
    rng = random.Random(4)
    for case in range(2000):
        schedule = case % len(SCHEDULES)
        hours, weekdays = SCHEDULES[schedule]
        calendar = _calendar(schedule)
        _, business_day = _pandas_offsets(schedule, 1)
        day = pd.Timestamp(date(2025, 6, 1) + timedelta(days=rng.randrange(0, 900)))
        clock = rng.choice([timedelta(hours=h) for pair in hours for h in pair] + [
            timedelta(minutes=rng.randrange(0, 24 * 60))
        ])
        start = day + clock
        last_close = pd.Timedelta(hours=hours[-1][1])
        if business_day.is_on_offset(day) and clock < last_close:
            day_zero = day
        else:
            day_zero = business_day.rollforward(day + pd.Timedelta(days=1))
        n = rng.randrange(0, 31)
        expected = (day_zero + _pandas_offsets(schedule, n)[1] if n else day_zero) + last_close

        begin = start.to_pydatetime().replace(tzinfo=calendar.zone)
        ours = calendar.local(calendar.add(begin, Duration(n, "d")))
        assert ours.replace(tzinfo=None) == expected.to_pydatetime(), (start, n, hours, weekdays)


# --- brute force, minute by minute ------------------------------------------------------

MINUTE = pd.Timedelta(minutes=1)

# Clock changes in 2026–2027 (UTC instant), per zone. New York changes at 02:00 local;
# Havana at midnight, so there 00:00 itself is skipped in spring and repeated in autumn.
SPRING, AUTUMN = "spring", "autumn"
TRANSITIONS = {
    "America/New_York": [
        ("2026-03-08 07:00", SPRING), ("2026-11-01 06:00", AUTUMN),
        ("2027-03-14 07:00", SPRING), ("2027-11-07 06:00", AUTUMN),
    ],
    "America/Havana": [
        ("2026-03-08 05:00", SPRING), ("2026-11-01 05:00", AUTUMN),
        ("2027-03-14 05:00", SPRING), ("2027-11-07 05:00", AUTUMN),
    ],
}
# Wall times (minutes of the day) in the skipped or repeated hour, drawn often.
CHANGE_HOUR = {"America/New_York": [120, 150, 180], "America/Havana": [0, 30, 60]}
# Half-hours strictly inside a repeated hour. An interval boundary there is ambiguous:
# ours means its first occurrence, whereas "every minute whose wall time is inside the
# interval" takes both, so around an autumn change the oracle's schedules avoid them
# (that case is tested by example in test_calendar.py).
REPEATED = {"America/New_York": {90}, "America/Havana": {30}}

_HALF_HOURS = list(range(0, 24 * 60 + 1, 30))
# Strategies built once (building them per example would dominate the run time).
_BOUNDARY_SETS = {
    (zone, kind): st.sets(
        st.one_of(st.sampled_from(CHANGE_HOUR[zone]), st.sampled_from(_HALF_HOURS)).filter(
            lambda m, skip=(REPEATED[zone] if kind == AUTUMN else set()): m not in skip
        ),
        max_size=4,
    )
    for zone in TRANSITIONS
    for kind in (SPRING, AUTUMN)
}
_TRANSITIONS = st.sampled_from(
    [
        (zone, pd.Timestamp(at, tz="UTC"), kind)
        for zone, changes in TRANSITIONS.items()
        for at, kind in changes
    ]
)
_NEAR_DAYS = st.sets(st.integers(-3, 3), max_size=2)


@st.composite
def oracle_cases(draw: st.DrawFn):
    zone, transition, kind = draw(_TRANSITIONS)
    weekly = {}
    for weekday in range(7):
        points = sorted(draw(_BOUNDARY_SETS[zone, kind]))
        pairs = list(zip(points[::2], points[1::2]))
        if pairs:
            weekly[weekday] = pairs
    if not weekly:
        weekly = {6: [(0, 180)]}  # Sunday night, through the clock change
    holidays = {(transition + pd.Timedelta(days=k)).date() for k in draw(_NEAR_DAYS)}
    step = draw(st.sampled_from([1, 30]))  # half-hour steps hit openings and closes exactly
    start = transition + draw(st.integers(-4 * 48, 2 * 48)) * step * MINUTE
    return zone, weekly, holidays, start


def _to_time(minutes: int) -> time:
    return time(0) if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


class MinuteOracle:
    """Every real minute from ``start`` on, open iff its local wall time is in an interval."""

    def __init__(
        self,
        zone: str,
        weekly: dict[int, list[tuple[int, int]]],
        holidays: set[date],
        start: pd.Timestamp,
    ) -> None:
        self.zone, self.weekly, self.holidays, self.start = zone, weekly, holidays, start
        self.table = np.zeros((7, 24 * 60), dtype=bool)
        for weekday, pairs in weekly.items():
            for a, b in pairs:
                self.table[weekday, a:b] = True
        self.holiday_days = np.array([(d - date(1970, 1, 1)).days for d in holidays], dtype=np.int64)
        self._grow(8 * 24 * 60)

    def _grow(self, minutes: int) -> None:
        grid = pd.date_range(self.start, periods=minutes, freq="min")
        wall = grid.tz_convert(self.zone).tz_localize(None).to_numpy().astype("datetime64[m]")
        wall_minutes = wall.astype(np.int64)  # local wall time, in minutes since 1970-01-01
        self.days = wall_minutes // (24 * 60)  # local date, in days since 1970-01-01 (a Thursday)
        weekday = (self.days + 3) % 7
        holiday = np.isin(self.days, self.holiday_days)
        self.open = self.table[weekday, wall_minutes % (24 * 60)] & ~holiday
        self.cumulative = np.cumsum(self.open)

    def add_minutes(self, n: int) -> pd.Timestamp:
        while self.cumulative[-1] < n:
            self._grow(len(self.open) * 2)
        index = int(np.searchsorted(self.cumulative, n))  # first minute completing n
        return self.start + (index + 1) * MINUTE

    def add_days(self, n: int) -> pd.Timestamp:
        while True:
            open_days = np.unique(self.days[self.open])  # local dates only ever increase here
            if len(open_days) > n + 1:  # the target day is followed by another, so complete
                break
            self._grow(len(self.open) * 2)
        target = open_days[n]  # open_days[0] is the day open time starts
        last_open_minute = np.flatnonzero(self.open & (self.days == target))[-1]
        return self.start + (int(last_open_minute) + 1) * MINUTE

    def open_minutes(self, end: pd.Timestamp) -> int:
        return int(self.open[: (end - self.start) // MINUTE].sum())


@PROFILE
@given(case=oracle_cases(), minutes=st.integers(1, 5000), days=st.integers(0, 12))
def test_add_and_diff_agree_with_minute_by_minute_counting_around_clock_changes(case, minutes, days):
    zone, weekly, holidays, start = case
    weekly_open = sum(b - a for pairs in weekly.values() for a, b in pairs)
    minutes = 1 + (minutes - 1) % (4 * weekly_open)  # at most about four weeks of open time
    calendar = BusinessCalendar(
        zone,
        {day: [(_to_time(a), _to_time(b)) for a, b in pairs] for day, pairs in weekly.items()},
        holidays,
    )
    oracle = MinuteOracle(zone, weekly, holidays, start)
    begin = start.to_pydatetime()

    due_minutes = calendar.add(begin, Duration(minutes, "m"))
    assert due_minutes == oracle.add_minutes(minutes).to_pydatetime()
    assert calendar.add(begin, Duration(days, "d")) == oracle.add_days(days).to_pydatetime()

    probe = start + (minutes // 3) * MINUTE
    assert calendar.diff(begin, probe.to_pydatetime()) == timedelta(minutes=oracle.open_minutes(probe))
    assert due_minutes.tzinfo is UTC
