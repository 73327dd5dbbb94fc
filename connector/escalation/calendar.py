"""Business calendars: when the SLA clock runs, and when a target falls due.

A :class:`BusinessCalendar` is a time zone, weekly opening intervals in local wall time,
and a set of holidays (local dates). ``BusinessCalendar.always_open()`` is the ``24x7``
calendar. Everything here is pure: the only outside data is the ``holidays`` package,
read lazily one year at a time.

Semantics (the product contract, "Time semantics"), and the edge cases it leaves open:

* **Open time is real elapsed time.** Instants are handled as integer microseconds since
  the Unix epoch, so a 24x7 ``3h`` across a DST change is three real hours, and a local
  09:00–17:00 interval lasts however many real seconds lie between those wall times.
* **Intervals** are ``[open, close)`` on one local date; they may not cross midnight.
  ``time(0)`` as the *end* of an interval means 24:00 (end of the day), so
  ``(time(0), time(0))`` is the whole day. Touching intervals on a day are merged;
  overlapping ones are an error.
* **Wall times that DST makes odd.** A wall time maps to the *earliest instant at which
  the local clock reads that time or later*: a time skipped by a spring-forward gap maps
  to the transition instant (an interval lying wholly inside a gap is empty), and a time
  repeated at fall-back means its first occurrence.
* **A business day** is a local date that is not a holiday and has some open time.
* ``add(start, duration)`` is the earliest instant at which ``duration`` of open time has
  elapsed since ``start``. A result therefore never sits on an opening: eight hours from
  Monday 09:00 on a 09:00–17:00 calendar is Monday 17:00, not Tuesday 09:00. A start
  outside opening hours counts from the next opening. A zero duration returns ``start``.
* ``Nd`` on a business calendar is the close (end of the *last* interval) of the Nth
  business day after the day on which open time starts. Open time starts at ``start`` if
  the calendar is open then, else at the next opening; its local date is day 0. So a
  start during a business day counts from that day, while a start exactly at the day's
  close, after it, on a weekend or on a holiday counts from the next business day
  (Friday 16:30 + 2d → Tuesday close; Friday 17:00 + 2d → Wednesday close; Saturday +
  2d → Wednesday close). A start in a midday break (between two intervals of one day)
  counts from that same day. ``0d`` is the close of day 0. On ``24x7``, ``Nd`` is
  N × 24 real hours (a business calendar open 00:00–24:00 every day differs: its ``1d``
  ends at a local midnight).
* ``diff(start, end)`` is the open time in ``[start, end)``; it is negative when ``end``
  is before ``start``. ``diff(s, add(s, d)) == d`` for any open-time duration ``d``.
* ``is_open(t)`` is true from an opening (inclusive) to a close (exclusive).
* Inputs are aware datetimes in any zone. Every instant returned is an aware datetime
  **in UTC**: Python compares and subtracts two datetimes sharing a ``ZoneInfo`` by wall
  clock, ignoring ``fold``, which is wrong in the repeated hour at fall-back. Format for
  people with :meth:`BusinessCalendar.local` (``2026-11-23T17:00:00-05:00``).

Cost: each local year is compiled on first use into sorted arrays of its open intervals
(UTC microseconds) with running totals of open time and each business day's close. A due
time is then a couple of binary searches; a target crossing into another year steps to
that year's arrays, so cost does not grow with minutes or with business days crossed.
"""
from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.escalation.durations import Duration


class _ImportedOnFirstUse:
    """``holidays`` is imported when a country's holidays are first needed, so a process
    that never computes a business calendar (the web process) does not carry it."""

    def __getattr__(self, name: str):
        import holidays

        return getattr(holidays, name)


holidays_package = _ImportedOnFirstUse()

__all__ = ["BusinessCalendar", "CountryHolidays", "holiday_dates"]

_US = timedelta(microseconds=1)
_SECOND_US = 1_000_000
_DAY_US = 86_400 * _SECOND_US
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_EMPTY_YEARS = 3
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _supported_countries() -> dict[str, list[str]]:
    return holidays_package.list_supported_countries()


def holiday_dates(
    country: str,
    subdivision: str | None,
    years: Iterable[int],
    add: Iterable[date] = (),
    remove: Iterable[date] = (),
) -> set[date]:
    """The holiday dates falling in ``years`` for a country (and optional subdivision).

    ``add`` dates are included and ``remove`` dates excluded, both only where they fall in
    ``years``. A date observed in another year than the holiday it stands for belongs to
    the year it falls in (New Year's Day 2022, a Saturday, was observed on Friday
    2021-12-31: a 2021 date). A year outside the range the package covers for that country
    (for the US, 1777–2100) is an error rather than a year without holidays, which is what
    the package itself would silently give.
    """
    wanted = {int(year) for year in years}
    first, last = _check_country(country, subdivision)
    outside = sorted(year for year in wanted if not first <= year <= last)
    if outside:
        raise ValueError(
            f"the holidays package knows {country} holidays for {first}–{last} only, "
            f"not {', '.join(map(str, outside))}"
        )
    table = holidays_package.country_holidays(country, subdiv=subdivision, years=sorted(wanted))
    result = {day for day in table.keys() if day.year in wanted}
    result.update(day for day in _dates(add, "add") if day.year in wanted)
    result.difference_update(_dates(remove, "remove"))
    return result


def _check_country(country: str, subdivision: str | None) -> tuple[int, int]:
    """Refuse an unknown country or subdivision; return the years the package covers."""
    supported = _supported_countries()
    if country not in supported:
        raise ValueError(
            f'"{country}" is not a country the holidays package knows — use an ISO 3166-1 '
            'alpha-2 code such as US, GB or DE'
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise ValueError(
            f'"{subdivision}" is not a subdivision of {country} — use one of '
            + ", ".join(supported[country])
        )
    table = holidays_package.country_holidays(country, subdiv=subdivision)
    return table.start_year, table.end_year


def _dates(values: Iterable[date], what: str) -> list[date]:
    result = []
    for value in values:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ValueError(f"{what}: {value!r} is not a date")
        result.append(value)
    return result


class CountryHolidays:
    """Holidays of a country/subdivision for every year, computed lazily per year.

    Membership (``day in holidays``) is all it offers: the set is unbounded, so it is
    deliberately not iterable. Each year is computed on first use by :func:`holiday_dates`
    and cached.
    """

    def __init__(
        self,
        country: str,
        subdivision: str | None = None,
        add: Iterable[date] = (),
        remove: Iterable[date] = (),
    ) -> None:
        _check_country(country, subdivision)
        self.country = country
        self.subdivision = subdivision
        self.add = frozenset(_dates(add, "add"))
        self.remove = frozenset(_dates(remove, "remove"))
        self._years: dict[int, frozenset[date]] = {}
        self._lock = threading.Lock()

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date) or isinstance(day, datetime):
            return False
        dates = self._years.get(day.year)
        if dates is None:
            dates = self.for_year(day.year)
        return day in dates

    def for_year(self, year: int) -> frozenset[date]:
        """The holiday dates of one year."""
        dates = self._years.get(year)
        if dates is None:
            with self._lock:
                dates = self._years.get(year)
                if dates is None:
                    dates = frozenset(
                        holiday_dates(self.country, self.subdivision, [year], self.add, self.remove)
                    )
                    self._years[year] = dates
        return dates

    def __repr__(self) -> str:
        where = self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"
        return f"CountryHolidays({where!r}, add={len(self.add)}, remove={len(self.remove)})"


class _Year:
    """One local calendar year compiled to arrays of UTC microseconds.

    ``starts``/``ends`` are the open intervals in order; ``cum_end[i]`` is the open time
    from the start of the year to ``ends[i]``; ``day_of[i]`` is the index (within the year)
    of the business day interval ``i`` belongs to, and ``closes[k]`` that day's close.
    The year spans the instants ``[lo, hi)``: local midnight of 1 January to the next.
    """

    __slots__ = ("year", "lo", "hi", "starts", "ends", "cum_end", "day_of", "closes", "total")

    def __init__(self, year: int, lo: int, hi: int) -> None:
        self.year = year
        self.lo = lo
        self.hi = hi
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.cum_end: list[int] = []
        self.day_of: list[int] = []
        self.closes: list[int] = []
        self.total = 0

    def open_before(self, x: int) -> int:
        """Open time from the start of the year up to instant ``x`` (inside the year)."""
        i = bisect_right(self.ends, x)
        before = self.cum_end[i - 1] if i else 0
        if i < len(self.starts) and self.starts[i] < x:
            before += x - self.starts[i]
        return before


class BusinessCalendar:
    """A time zone, weekly opening hours in local time, and holidays.

    ``weekly`` maps a weekday (0 = Monday … 6 = Sunday) to ``(open, close)`` pairs of
    naive ``datetime.time``; ``close == time(0)`` means 24:00. Weekdays not mapped are
    closed. ``holidays`` is either an iterable of local dates or a :class:`CountryHolidays`
    (which covers any year lazily). See the module docstring for the exact semantics.
    """

    def __init__(
        self,
        timezone: str,
        weekly: Mapping[int, Sequence[tuple[time, time]]],
        holidays: Iterable[date] | CountryHolidays = (),
    ) -> None:
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f'"{timezone}" is not a time zone — use an IANA name such as America/New_York'
            ) from None
        self.timezone = timezone
        self._weekly = _compile_weekly(weekly)
        if isinstance(holidays, CountryHolidays):
            self._holidays: CountryHolidays | frozenset[date] = holidays
        else:
            self._holidays = frozenset(_dates(holidays, "holidays"))
        self._always_open = False
        self._years: dict[int, _Year] = {}
        self._lock = threading.Lock()

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> BusinessCalendar:
        """The ``24x7`` calendar: always open, ``Nd`` is N × 24 h; ``local`` shows ``timezone``."""
        calendar = cls(timezone, {weekday: [(time(0), time(0))] for weekday in range(7)})
        calendar._always_open = True
        return calendar

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def is_always_open(self) -> bool:
        return self._always_open

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the calendar's zone, for display (``.isoformat()``, ``.date()``)."""
        _to_us(moment)
        return moment.astimezone(self._zone)

    def __repr__(self) -> str:
        if self._always_open:
            return f"BusinessCalendar.always_open({self.timezone!r})"
        hours = {
            _WEEKDAY_NAMES[weekday][:3]: [f"{_clock(a)}-{_clock(b)}" for a, b in intervals]
            for weekday, intervals in enumerate(self._weekly)
            if intervals
        }
        return f"BusinessCalendar({self.timezone!r}, {hours}, holidays={self._holidays!r})"

    # --- public API -------------------------------------------------------------------

    def add(self, start: datetime, duration: Duration | timedelta) -> datetime:
        """The earliest instant at which ``duration`` of open time has elapsed since ``start``.

        ``Duration`` in ``m``/``h`` and ``timedelta`` count open time; ``Nd`` is the close
        of the Nth business day after the day on which open time starts (N × 24 h on
        ``24x7``). The result is in UTC.
        """
        x = _to_us(start)
        if isinstance(duration, Duration):
            if duration.amount < 0:
                raise ValueError(f"duration {duration} is negative")
            if duration.is_days:
                if self._always_open:
                    return self._from_us(x + duration.amount * _DAY_US)
                return self._from_us(self._add_business_days(x, duration.amount))
            if duration.unit not in ("m", "h"):
                raise ValueError(f"duration {duration} has an unknown unit")
            amount = duration.seconds * _SECOND_US
        elif isinstance(duration, timedelta):
            amount = duration // _US
            if amount < 0:
                raise ValueError(f"duration {duration} is negative")
        else:
            raise TypeError(f"duration must be a Duration or timedelta, not {type(duration).__name__}")
        if amount == 0 or self._always_open:
            return self._from_us(x + amount)
        return self._from_us(self._add_open(x, amount))

    def diff(self, start: datetime, end: datetime) -> timedelta:
        """Open time in ``[start, end)``; negative if ``end`` is before ``start``."""
        a = _to_us(start)
        b = _to_us(end)
        if self._always_open:
            return timedelta(microseconds=b - a)
        if b < a:
            return -timedelta(microseconds=self._open_between(b, a))
        return timedelta(microseconds=self._open_between(a, b))

    def is_open(self, moment: datetime) -> bool:
        """Whether open time is running at ``moment`` (opening inclusive, close exclusive)."""
        if self._always_open:
            _to_us(moment)
            return True
        x = _to_us(moment)
        year = self._year_at(x)
        i = bisect_right(year.ends, x)
        return i < len(year.starts) and year.starts[i] <= x

    def next_open(self, moment: datetime) -> datetime:
        """``moment`` if the calendar is open then, else the next opening (in UTC)."""
        x = _to_us(moment)
        if self._always_open:
            return self._from_us(x)
        year, i = self._first_interval_ending_after(x)
        return self._from_us(max(x, year.starts[i]))

    def is_business_day(self, day: date) -> bool:
        """Whether the local date ``day`` is a business day (not a holiday, some open time)."""
        return bool(self._day_intervals(day))

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open ``[start, end)`` intervals of a local date (instants in UTC)."""
        return [(self._from_us(a), self._from_us(b)) for a, b in self._day_intervals(day)]

    # --- instants and wall times --------------------------------------------------------

    @staticmethod
    def _from_us(x: int) -> datetime:
        return _EPOCH + timedelta(microseconds=x)

    def _wall_to_us(self, day: date, micros_of_day: int) -> int:
        """Earliest instant at which the local clock reads ``day`` + ``micros_of_day`` or later."""
        naive = datetime(day.year, day.month, day.day) + timedelta(microseconds=micros_of_day)
        first = naive.replace(tzinfo=self._zone)
        offset = first.utcoffset()
        other = first.replace(fold=1).utcoffset()
        if other is None or offset is None or other <= offset:
            return (first - _EPOCH) // _US  # exists (fold=0 is the first occurrence if repeated)
        # In a spring-forward gap: fold=0 reads it with the old offset (an instant after the
        # transition), fold=1 with the new one (before it). The clock first reads this wall
        # time or later at the transition itself, which lies in (before, after].
        after = (first - _EPOCH) // _US
        before = (first.replace(fold=1) - _EPOCH) // _US
        while after - before > 1:
            middle = (before + after) // 2
            if (_EPOCH + timedelta(microseconds=middle)).astimezone(self._zone).utcoffset() == other:
                after = middle
            else:
                before = middle
        return after

    def _day_intervals(self, day: date) -> list[tuple[int, int]]:
        if day in self._holidays:
            return []
        intervals: list[tuple[int, int]] = []
        for open_at, close_at in self._weekly[day.weekday()]:
            a = self._wall_to_us(day, open_at)
            b = self._wall_to_us(day, close_at)
            if b <= a:
                continue  # wholly inside a DST gap
            if intervals and intervals[-1][1] == a:
                intervals[-1] = (intervals[-1][0], b)
            else:
                intervals.append((a, b))
        return intervals

    # --- compiled years -----------------------------------------------------------------

    def _year(self, number: int) -> _Year:
        year = self._years.get(number)
        if year is None:
            with self._lock:
                year = self._years.get(number)
                if year is None:
                    year = self._compile_year(number)
                    self._years[number] = year
        return year

    def _compile_year(self, number: int) -> _Year:
        if not 1 <= number <= 9998:
            raise ValueError(f"{number} is outside the years a business calendar can handle")
        first = date(number, 1, 1)
        following = date(number + 1, 1, 1)
        year = _Year(number, self._wall_to_us(first, 0), self._wall_to_us(following, 0))
        running = 0
        for ordinal in range(first.toordinal(), following.toordinal()):
            intervals = self._day_intervals(date.fromordinal(ordinal))
            if not intervals:
                continue
            index = len(year.closes)
            for a, b in intervals:
                running += b - a
                year.starts.append(a)
                year.ends.append(b)
                year.cum_end.append(running)
                year.day_of.append(index)
            year.closes.append(intervals[-1][1])
        year.total = running
        return year

    def _year_at(self, x: int) -> _Year:
        """The compiled local year containing instant ``x``."""
        year = self._year(date.fromordinal(_EPOCH_ORDINAL + x // _DAY_US).year)
        if x < year.lo:
            return self._year(year.year - 1)
        if x >= year.hi:
            return self._year(year.year + 1)
        return year

    def _next_year(self, year: _Year, empty_run: int) -> tuple[_Year, int]:
        """The year after ``year``, and how many years in a row have had no open time."""
        empty_run = empty_run + 1 if not year.starts else 0
        if empty_run >= _MAX_EMPTY_YEARS:
            raise ValueError(
                f"{self!r} has no open time in {year.year - empty_run + 1}–{year.year}"
            )
        return self._year(year.year + 1), empty_run

    def _first_interval_ending_after(self, x: int) -> tuple[_Year, int]:
        """The first open interval whose end is after ``x`` (the one open time resumes in)."""
        year = self._year_at(x)
        i = bisect_right(year.ends, x)
        empty_run = 0
        while i == len(year.ends):
            year, empty_run = self._next_year(year, empty_run)
            i = 0
        return year, i

    def _add_open(self, x: int, amount: int) -> int:
        year, i = self._first_interval_ending_after(x)
        start = max(x, year.starts[i])
        # Position, in the year's running open time, at which ``amount`` has elapsed.
        target = year.cum_end[i] - (year.ends[i] - start) + amount
        empty_run = 0
        while target > year.total:
            target -= year.total
            year, empty_run = self._next_year(year, empty_run)
            i = 0
        # First interval whose running total reaches the target: the earliest instant, so a
        # target met exactly at a close is that close rather than the next opening.
        j = bisect_left(year.cum_end, target, i)
        return year.ends[j] - (year.cum_end[j] - target)

    def _add_business_days(self, x: int, days: int) -> int:
        year, i = self._first_interval_ending_after(x)
        k = year.day_of[i] + days
        empty_run = 0
        while k >= len(year.closes):
            k -= len(year.closes)
            year, empty_run = self._next_year(year, empty_run)
        return year.closes[k]

    def _open_between(self, a: int, b: int) -> int:
        first = self._year_at(a)
        last = self._year_at(b)
        if first is last:
            return last.open_before(b) - first.open_before(a)
        total = first.total - first.open_before(a)
        for number in range(first.year + 1, last.year):
            total += self._year(number).total
        return total + last.open_before(b)


def _to_us(moment: datetime) -> int:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected an aware datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone — pass an aware datetime")
    return (moment - _EPOCH) // _US


def _micros_of_day(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _SECOND_US + value.microsecond


def _clock(micros: int) -> str:
    minutes, rest = divmod(micros, 60 * _SECOND_US)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text if not rest else f"{text}:{rest / _SECOND_US:09.6f}"


def _compile_weekly(
    weekly: Mapping[int, Sequence[tuple[time, time]]],
) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Validate weekly hours; return per weekday sorted, merged (open, close) micros of day."""
    days: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for weekday, intervals in weekly.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise ValueError(f"weekday {weekday!r} is not 0 (Monday) to 6 (Sunday)")
        name = _WEEKDAY_NAMES[weekday]
        for interval in intervals:
            try:
                open_at, close_at = interval
            except (TypeError, ValueError):
                raise ValueError(f"{name}: {interval!r} is not an (open, close) pair") from None
            for value in (open_at, close_at):
                if not isinstance(value, time) or value.tzinfo is not None:
                    raise ValueError(f"{name}: {value!r} is not a naive datetime.time")
            a = _micros_of_day(open_at)
            b = _micros_of_day(close_at) or _DAY_US
            if b <= a:
                raise ValueError(
                    f"{name}: {_clock(a)}-{_clock(b)} closes before it opens — intervals may "
                    "not cross midnight; split it into two days (use 00:00 as 24:00)"
                )
            days[weekday].append((a, b))
    for weekday, intervals in enumerate(days):
        intervals.sort()
        merged: list[tuple[int, int]] = []
        for a, b in intervals:
            if merged and a < merged[-1][1]:
                raise ValueError(
                    f"{_WEEKDAY_NAMES[weekday]}: {_clock(merged[-1][0])}-{_clock(merged[-1][1])} "
                    f"overlaps {_clock(a)}-{_clock(b)}"
                )
            if merged and a == merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        days[weekday] = merged
    if not any(days):
        raise ValueError("a business calendar needs at least one opening interval")
    return tuple(tuple(intervals) for intervals in days)
