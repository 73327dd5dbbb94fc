"""SLA due times: how many ``BusinessCalendar.add`` calls one core does per second.

Run: ``python bench/sla.py`` (from the repository root, in the virtualenv). Prints figures
only; nothing here asserts a speed. The default calendars are the shipped ones: ``business``
(America/New_York, 09:00–17:00 Monday–Friday, US-NY holidays plus 2026-12-24) and
``24x7``. Starts are 20,000 random instants in 2026–2027, as a worker would see them
(aware, UTC). Calendars are warmed first (each local year is compiled on first use); the
cost of that compilation is reported separately.
"""
from __future__ import annotations

import os
import platform
import random
import sys
import time as clock
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connector.escalation.calendar import BusinessCalendar, CountryHolidays  # noqa: E402
from connector.escalation.durations import parse_duration  # noqa: E402

STARTS = 20_000
BATCH = 500
REPEATS = 7
MIX = ["15m", "30m", "1h", "4h", "8h", "24h", "2d", "5d", "10d", "30d"]
TABLE = ["1h", "8h", "2d", "10d", "30d"]
LONG = ["90d", "250d"]


def default_calendars() -> dict[str, BusinessCalendar]:
    weekdays = {day: [(time(9), time(17))] for day in range(5)}
    holidays = CountryHolidays("US", "NY", add=[date(2026, 12, 24)])
    return {
        "business": BusinessCalendar("America/New_York", weekdays, holidays),
        "24x7": BusinessCalendar.always_open("America/New_York"),
    }


def random_starts(count: int, seed: int = 7) -> list[datetime]:
    rng = random.Random(seed)
    first = datetime(2026, 1, 1, tzinfo=timezone.utc)
    span = int(timedelta(days=730).total_seconds())
    return [first + timedelta(seconds=rng.randrange(span)) for _ in range(count)]


def best_seconds(calendar: BusinessCalendar, starts: list[datetime], durations: list) -> float:
    """Seconds for one ``add`` per (start, duration) pair.

    Timed in batches of BATCH pairs, each the best of REPEATS runs, so that other work on
    a shared machine inflates the figure as little as possible.
    """
    add = calendar.add
    pairs = list(zip(starts, durations))
    total = 0.0
    for first in range(0, len(pairs), BATCH):
        batch = pairs[first : first + BATCH]
        best = float("inf")
        for _ in range(REPEATS):
            began = clock.perf_counter()
            for start, duration in batch:
                add(start, duration)
            best = min(best, clock.perf_counter() - began)
        total += best
    return total


def micros_per_call(calendar: BusinessCalendar, starts: list[datetime], duration) -> float:
    return best_seconds(calendar, starts, [duration] * len(starts)) / len(starts) * 1e6


def business_days_crossed(calendar: BusinessCalendar, start: datetime, due: datetime) -> int:
    """Business days from the day open time starts to the due day (0 = same day)."""
    day = calendar.local(calendar.next_open(start)).date()
    last = calendar.local(due - timedelta(microseconds=1)).date()
    crossed = 0
    while day < last:
        day += timedelta(days=1)
        crossed += calendar.is_business_day(day)
    return crossed


def main() -> None:
    calendars = default_calendars()
    starts = random_starts(STARTS)

    print("SLA due times — bench/sla.py")
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} logical cores (one used), {platform.platform()}")
    print()

    began = clock.perf_counter()
    calendars["business"].add(datetime(2031, 6, 1, tzinfo=timezone.utc), parse_duration("1h"))
    print(f"cold: first due time in a new year (US-NY holidays + compile the year): "
          f"{(clock.perf_counter() - began) * 1e3:.1f} ms, once per calendar per year")
    for calendar in calendars.values():  # warm every year the runs below touch
        for start in starts[:: STARTS // 200]:
            calendar.add(start, parse_duration("250d"))
    print()

    print(f"mixed targets {', '.join(MIX)} (cycled over {STARTS:,} random starts)")
    mix = [parse_duration(MIX[i % len(MIX)]) for i in range(STARTS)]
    total_calls = total_seconds = 0.0
    for name, calendar in calendars.items():
        seconds = best_seconds(calendar, starts, mix)
        total_calls += STARTS
        total_seconds += seconds
        per_call = seconds / STARTS * 1e6
        print(f"  {name:<9} {STARTS / seconds:>10,.0f} due times/s   {per_call:6.2f} µs each")
    print(f"  {'both':<9} {total_calls / total_seconds:>10,.0f} due times/s")
    print()

    print("cost per call by target (µs), with the business days and open minutes it spans")
    print(f"  {'target':>7} {'business µs':>12} {'24x7 µs':>8}"
          f" {'business days crossed':>22} {'open minutes':>13}")
    business = calendars["business"]
    sample = starts[:300]
    for text in TABLE + LONG:
        duration = parse_duration(text)
        row = [micros_per_call(calendar, starts, duration) for calendar in calendars.values()]
        crossed = sum(
            business_days_crossed(business, s, business.add(s, duration)) for s in sample
        ) / len(sample)
        open_time = sum((business.diff(s, business.add(s, duration)) for s in sample), timedelta())
        minutes = open_time.total_seconds() / 60 / len(sample)
        print(f"  {text:>7} {row[0]:>12.2f} {row[1]:>8.2f} {crossed:>22.1f} {minutes:>13,.0f}")
    print()

    print("minutes within one business day: starts Monday–Friday 09:00–09:59 New York, no holiday")
    mornings = []
    rng = random.Random(11)
    while len(mornings) < STARTS:
        day = date(2026, 1, 5) + timedelta(days=rng.randrange(700))
        if business.is_business_day(day):
            nine = datetime.combine(day, time(9), tzinfo=business.zone)
            mornings.append((nine + timedelta(minutes=rng.randrange(60))).astimezone(timezone.utc))
    print(f"  {'target':>7} {'business µs':>12} {'24x7 µs':>8}")
    for text in ["10m", "60m", "420m", "600m"]:
        duration = parse_duration(text)
        row = [micros_per_call(calendar, mornings, duration) for calendar in calendars.values()]
        print(f"  {text:>7} {row[0]:>12.2f} {row[1]:>8.2f}")
    print("  (420m still ends on the start day; 600m runs into the next business day)")


if __name__ == "__main__":
    main()
