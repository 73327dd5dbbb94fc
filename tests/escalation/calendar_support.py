"""Calendars, Hypothesis settings and strategies shared by the calendar tests."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from connector.escalation.calendar import BusinessCalendar, CountryHolidays
from connector.escalation.durations import Duration

# One fixed profile, applied per test (not loaded globally, so other suites keep theirs):
# derandomized so CI sees the same examples on every run, no example database, and few
# enough examples that the calendar suite runs in seconds.
settings.register_profile(
    "escalation-calendar",
    derandomize=True,
    database=None,
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = settings.get_profile("escalation-calendar")

NEW_YORK = ZoneInfo("America/New_York")
UTC = timezone.utc

WEEKDAYS = range(5)
NINE_TO_FIVE = {day: [(time(9), time(17))] for day in WEEKDAYS}
US_NY_HOLIDAYS = CountryHolidays("US", "NY", add=[date(2026, 12, 24)])

BUSINESS = BusinessCalendar("America/New_York", NINE_TO_FIVE, US_NY_HOLIDAYS)
"""The shipped ``business`` calendar."""
ALWAYS_OPEN = BusinessCalendar.always_open("America/New_York")
"""``24x7``, reporting in New York time."""
ALL_DAY = BusinessCalendar("America/New_York", {day: [(time(0), time(0))] for day in range(7)})
"""Open 00:00–24:00 every day: the same open time as 24x7, but ``Nd`` ends at midnight."""
SPLIT_SHIFT = BusinessCalendar(
    "Europe/London",
    {
        **{day: [(time(8), time(12)), (time(13), time(17, 30))] for day in range(4)},
        4: [(time(8), time(15))],
        5: [(time(10), time(13))],
    },
    CountryHolidays("GB", "ENG"),
)
"""Several intervals a day, a short Friday, a Saturday morning, English holidays."""
HAVANA_NIGHTS = BusinessCalendar(
    "America/Havana", {day: [(time(0), time(2)), (time(22), time(0))] for day in range(7)}
)
"""Open around midnight in a zone whose DST changes at midnight (00:00 does not exist on
the spring-forward day; 00:00–00:59 happens twice at fall-back)."""

CALENDARS = {
    "business": BUSINESS,
    "24x7": ALWAYS_OPEN,
    "all-day": ALL_DAY,
    "split-shift": SPLIT_SHIFT,
    "havana-nights": HAVANA_NIGHTS,
}
BUSINESS_CALENDARS = {name: cal for name, cal in CALENDARS.items() if not cal.is_always_open}

FIRST_DAY = date(2025, 1, 1)
LAST_DAY = date(2028, 12, 31)

# Wall times worth landing on exactly: openings, closes, midnight and DST hours.
_SHARP_TIMES = [time(h, m) for h, m in [
    (0, 0), (1, 0), (1, 30), (2, 0), (2, 30), (3, 0), (8, 0), (9, 0), (10, 0), (12, 0),
    (13, 0), (15, 0), (16, 30), (17, 0), (17, 30), (22, 0), (23, 59),
]]
_ZONES = [UTC, NEW_YORK, ZoneInfo("Europe/London"), ZoneInfo("America/Havana"), ZoneInfo("Asia/Kolkata")]


@st.composite
def _sharp_instants(draw: st.DrawFn) -> datetime:
    """An instant at (or a microsecond either side of) a notable local wall time."""
    zone = draw(st.sampled_from(_ZONES[1:4]))
    day = draw(st.dates(FIRST_DAY, LAST_DAY))
    wall = datetime.combine(day, draw(st.sampled_from(_SHARP_TIMES)), tzinfo=zone)
    wall = wall.replace(fold=draw(st.integers(0, 1)))
    nudge = timedelta(microseconds=draw(st.sampled_from([0, 0, -1, 1])))
    return (wall.astimezone(UTC) + nudge).astimezone(draw(st.sampled_from(_ZONES)))


_anywhere = st.datetimes(
    datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.sampled_from(_ZONES)
)

instants = st.one_of(_anywhere, _sharp_instants())
"""Aware datetimes in 2025–2028, in various zones, often on opening/closing wall times."""

open_time_durations = st.one_of(
    st.builds(Duration, st.integers(1, 60 * 24 * 45), st.just("m")),
    st.builds(Duration, st.integers(1, 24 * 45), st.just("h")),
)
day_durations = st.builds(Duration, st.integers(0, 30), st.just("d"))
durations = st.one_of(open_time_durations, day_durations)


def open_time(duration: Duration) -> timedelta:
    return timedelta(seconds=duration.seconds)


def local_date(calendar: BusinessCalendar, moment: datetime) -> date:
    return moment.astimezone(calendar.zone).date()
