"""SLA due times for a tier, and how they move as the escalation goes on.

Everything here is pure: instants come in as arguments, calendars come from a
:class:`CalendarSet`, nothing reads a clock. The maths of open time is
:class:`~connector.escalation.calendar.BusinessCalendar`'s (``add``/``diff``); this module
decides *what* to add to *which* instant.

Time semantics, beyond the contract's "Time semantics":

* **A target's clock** starts at the escalation (``from: escalated``, the instant the
  ticket entered the level in Zendesk) or at resolution (``from: resolved``). Its due
  time is ``calendar.add(start, within)``.
* **At risk** is the instant 80 % of the target's open time has elapsed, counted on the
  same calendar: ``calendar.add(start, 0.8 × calendar.diff(start, due))``. For ``m``/``h``
  targets the open time is ``within`` itself; for ``Nd`` on a business calendar it is
  the open time up to that day's close (escalated Monday 10:00, ``2d`` on 09:00–17:00 →
  due Wednesday 17:00, 23 h open, at risk after 18 h 24 m: Wednesday 12:24).
* **Customer update cadence** (``update_every``) is elapsed time, round the clock: the
  customer waits through nights and weekends too, and ``docs/manifest.md`` says "counted
  round the clock". Next update due = escalation time + ``update_every``, and each public
  agent reply moves it to reply time + ``update_every`` (never earlier than it was). It
  is computed in UTC, so 48 h across a DST change is 48 real hours. Once the escalation
  is resolved there is no next update due.
* **24x7 in people's time.** ``24x7`` has no zone of its own. A :class:`CalendarSet`
  gives it a display zone — by default the first declared calendar's, i.e. the desk's —
  so a 30-minute bridge is written ``2026-11-23T10:30:00-05:00`` rather than
  ``…15:30:00+00:00``. Only how it is shown changes; the instant is the same.
* **Met.** ``public_reply``: the first public agent reply at or after the target's clock
  started. ``{status: X}``: the ticket reaches status X (``closed`` also counts as
  ``solved``: a ticket can only be closed once solved). ``{field_set: f}``: ``f`` has a
  value — a state, not an event, so a field already filled when a clock starts meets the
  target at once. No ``met_when``: met when the escalation is resolved (status solved or
  closed). A ``from: resolved`` target without ``met_when`` has nothing that meets it
  and stays open until its due time passes; give such targets a ``met_when``.
* **Resolution** happens once: a second solve (after a reopen) neither restarts the
  ``from: resolved`` clocks nor un-meets anything.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Collection, Iterable, Mapping

from connector.escalation.calendar import BusinessCalendar, CountryHolidays
from connector.escalation.ticket import TicketSnapshot
from connector.escalation.values import has_value
from connector.manifest.model import (
    ALWAYS_OPEN, CalendarSpec, FieldSet, Manifest, PublicReply, StatusReached, Target,
)

ESCALATED = "escalated"
RESOLVED = "resolved"
RESOLVING_STATUSES = frozenset({"solved", "closed"})
NEXT_UPDATE_FIELD = "next_update_due_at"
AT_RISK_NUMERATOR, AT_RISK_DENOMINATOR = 4, 5
"""At risk once 4/5 (80 %) of a target's open time has elapsed."""

_US = timedelta(microseconds=1)


# -- calendars --------------------------------------------------------------------------

def build_calendar(spec: CalendarSpec) -> BusinessCalendar:
    """A :class:`BusinessCalendar` from a manifest calendar spec."""
    holidays_spec = spec.holidays
    holidays: Iterable[date] | CountryHolidays
    if holidays_spec.country:
        holidays = CountryHolidays(holidays_spec.country, holidays_spec.subdivision,
                                   holidays_spec.add, holidays_spec.remove)
    else:
        holidays = frozenset(holidays_spec.add) - frozenset(holidays_spec.remove)
    return BusinessCalendar(spec.timezone, spec.hours, holidays)


class CalendarSet:
    """The manifest's calendars by name, plus ``24x7``, each built once on first use.

    Keep one per loaded manifest and share it: a calendar compiles each year's opening
    times and holidays the first time a due time needs them. Safe to use from several
    threads.
    """

    def __init__(self, specs: Mapping[str, CalendarSpec], display_timezone: str | None = None) -> None:
        self._specs = dict(specs)
        if display_timezone is None:
            display_timezone = next(iter(self._specs.values())).timezone if self._specs else "UTC"
        self.display_timezone = display_timezone
        self._built: dict[str, BusinessCalendar] = {ALWAYS_OPEN: BusinessCalendar.always_open(display_timezone)}
        self._lock = threading.Lock()

    @classmethod
    def from_manifest(cls, manifest: Manifest, display_timezone: str | None = None) -> CalendarSet:
        return cls(manifest.calendars, display_timezone)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self._specs, ALWAYS_OPEN)

    @property
    def always_open(self) -> BusinessCalendar:
        return self._built[ALWAYS_OPEN]

    def get(self, name: str) -> BusinessCalendar:
        calendar = self._built.get(name)
        if calendar is not None:
            return calendar
        if name not in self._specs:
            raise KeyError(f"{name!r} is not a calendar of this manifest (known: {', '.join(self.names)})")
        with self._lock:
            calendar = self._built.get(name)
            if calendar is None:
                calendar = build_calendar(self._specs[name])
                self._built[name] = calendar
        return calendar

    __getitem__ = get


# -- due times --------------------------------------------------------------------------

@dataclass(frozen=True)
class DueTime:
    """When one target falls due, and where that is written."""
    target: str
    due_at: datetime
    """Aware, UTC."""
    calendar_name: str
    field: str | None
    """The logical ``<target>_due_at`` field when the manifest maps it, else None."""
    at_risk_at: datetime
    """Aware, UTC: 80 % of the target's open time has elapsed (module doc)."""
    started_at: datetime
    """When the target's clock started (aware, UTC)."""
    start_from: str = ESCALATED


def plan_targets(
    manifest: Manifest,
    tier_key: str,
    started_at: datetime,
    calendars: CalendarSet,
    start_from: str = ESCALATED,
) -> tuple[DueTime, ...]:
    """Due times of the tier's targets whose clock starts at ``start_from``
    (``escalated`` or ``resolved``) when that happened at ``started_at``; manifest order."""
    if start_from not in (ESCALATED, RESOLVED):
        raise ValueError(f"start_from must be {ESCALATED!r} or {RESOLVED!r}, not {start_from!r}")
    started = _utc(started_at)
    return tuple(
        _plan(manifest, target, started, calendars)
        for target in manifest.tier(tier_key).targets
        if target.start_from == start_from
    )


def _plan(manifest: Manifest, target: Target, started: datetime, calendars: CalendarSet) -> DueTime:
    calendar = calendars.get(target.calendar)
    due = calendar.add(started, target.within)
    open_time = calendar.diff(started, due) // _US
    at_risk = calendar.add(started, timedelta(microseconds=open_time * AT_RISK_NUMERATOR // AT_RISK_DENOMINATOR))
    field = target.due_field if target.due_field in manifest.zendesk.fields else None
    return DueTime(target.name, due, target.calendar, field, at_risk, started, target.start_from)


def start_resolved_targets(
    manifest: Manifest, tier_key: str, resolved_at: datetime, calendars: CalendarSet,
) -> tuple[DueTime, ...]:
    """Due times of the tier's ``from: resolved`` targets (root-cause report, review…)."""
    return plan_targets(manifest, tier_key, resolved_at, calendars, start_from=RESOLVED)


def next_update_due(manifest: Manifest, tier_key: str, after: datetime) -> datetime:
    """``after`` + the tier's ``update_every``, as elapsed time (module doc), in UTC."""
    every = manifest.tier(tier_key).update_every
    return _utc(after) + timedelta(seconds=every.seconds)


def format_for_field(dt: datetime, calendar: BusinessCalendar, field_format: str) -> str:
    """What a Zendesk field holds for the instant ``dt``: the local date ``YYYY-MM-DD``
    for a ``date`` field, else ISO 8601 to the second with the calendar's UTC offset
    (``2026-11-23T17:00:00-05:00``). Sub-second parts are dropped, never rounded up."""
    local = calendar.local(dt)
    if field_format == "date":
        return local.date().isoformat()
    return local.replace(microsecond=0).isoformat()


def due_field_writes(
    manifest: Manifest,
    calendars: CalendarSet,
    due_times: Iterable[DueTime] = (),
    next_update_due_at: datetime | None = None,
) -> dict[str, str]:
    """``{logical field: value}`` for every due time whose field is mapped, and for
    ``next_update_due_at`` (shown on ``24x7``) when given and mapped."""
    fields = manifest.zendesk.fields
    writes: dict[str, str] = {}
    for due in due_times:
        if due.field is not None and due.field in fields:
            writes[due.field] = format_for_field(due.due_at, calendars.get(due.calendar_name),
                                                 fields[due.field].format)
    if next_update_due_at is not None and NEXT_UPDATE_FIELD in fields:
        writes[NEXT_UPDATE_FIELD] = format_for_field(next_update_due_at, calendars.always_open,
                                                     fields[NEXT_UPDATE_FIELD].format)
    return writes


# -- after the escalation ----------------------------------------------------------------

@dataclass(frozen=True)
class TargetState:
    """One target whose clock has started."""
    name: str
    due_at: datetime
    at_risk_at: datetime
    met_at: datetime | None = None
    start_from: str = ESCALATED
    started_at: datetime | None = None

    @classmethod
    def from_due(cls, due: DueTime) -> TargetState:
        return cls(due.target, due.due_at, due.at_risk_at, None, due.start_from, due.started_at)

    @property
    def is_met(self) -> bool:
        return self.met_at is not None

    def outcome(self, now: datetime) -> str:
        """``met``, ``met_late``, ``breached`` (due and not met), ``at_risk`` or ``on_track``."""
        if self.met_at is not None:
            return "met" if self.met_at <= self.due_at else "met_late"
        if now >= self.due_at:
            return "breached"
        if now >= self.at_risk_at:
            return "at_risk"
        return "on_track"


@dataclass(frozen=True)
class SlaState:
    """An escalation's SLA clocks: what the plugin keeps between events."""
    tier: str
    escalated_at: datetime
    targets: tuple[TargetState, ...]
    next_update_due_at: datetime | None
    """None once the escalation is resolved."""
    resolved_at: datetime | None = None

    def target(self, name: str) -> TargetState:
        for state in self.targets:
            if state.name == name:
                return state
        raise KeyError(name)


@dataclass(frozen=True)
class SlaChange:
    """What an event did: the new state, the targets it met (names, in state order) and
    the clocks it started (due times to write)."""
    state: SlaState
    met: tuple[str, ...] = ()
    started: tuple[DueTime, ...] = ()

    @property
    def next_update_due_at(self) -> datetime | None:
        return self.state.next_update_due_at


def filled_fields(ticket: TicketSnapshot) -> frozenset[str]:
    """The logical fields of ``ticket`` that hold a value (a checkbox: ticked)."""
    return frozenset(name for name, value in ticket.fields.items() if has_value(value))


def start_sla(
    manifest: Manifest,
    tier_key: str,
    escalated_at: datetime,
    calendars: CalendarSet,
    filled: Collection[str] = (),
) -> SlaChange:
    """The clocks of an escalation into ``tier_key`` at ``escalated_at``.

    ``filled`` are the logical fields that already hold a value: a ``field_set`` target
    whose field is filled is met at once.
    """
    escalated = _utc(escalated_at)
    due_times = plan_targets(manifest, tier_key, escalated, calendars)
    state = SlaState(
        tier=tier_key,
        escalated_at=escalated,
        targets=tuple(TargetState.from_due(due) for due in due_times),
        next_update_due_at=next_update_due(manifest, tier_key, escalated),
    )
    state, met = _meet(manifest, state, escalated, _field_set_in(filled))
    return SlaChange(state, met, due_times)


def apply_public_reply(manifest: Manifest, state: SlaState, at: datetime) -> SlaChange:
    """A public agent reply at ``at``: meets ``public_reply`` targets whose clock had
    started, and moves the next customer update to ``at`` + ``update_every``."""
    at = _utc(at)
    state, met = _meet(manifest, state, at, lambda target: isinstance(target.met_when, PublicReply))
    if state.next_update_due_at is not None:
        moved = next_update_due(manifest, state.tier, at)
        state = replace(state, next_update_due_at=max(state.next_update_due_at, moved))
    return SlaChange(state, met)


def apply_field_set(manifest: Manifest, state: SlaState, field: str, at: datetime) -> SlaChange:
    """``field`` got a value at ``at``: meets the ``{field_set: field}`` targets."""
    return _field_change(manifest, state, frozenset({field}), _utc(at))


def apply_status(
    manifest: Manifest,
    state: SlaState,
    status: str,
    at: datetime,
    calendars: CalendarSet,
    filled: Collection[str] = (),
) -> SlaChange:
    """The ticket's status became ``status`` (a Zendesk status category) at ``at``.

    Meets ``{status: …}`` targets. ``solved`` or ``closed`` is also the resolution, the
    first time only: targets without ``met_when`` are met, the ``from: resolved`` clocks
    start (their due times are in ``started``; ``filled`` as for :func:`start_sla`), and
    there is no next customer update due any more.
    """
    at = _utc(at)
    status = status.lower()
    started: tuple[DueTime, ...] = ()
    met: tuple[str, ...] = ()
    if status in RESOLVING_STATUSES and state.resolved_at is None:
        state, met = _meet(manifest, state, at, lambda target: target.met_when is None
                           and target.start_from == ESCALATED)
        started = start_resolved_targets(manifest, state.tier, at, calendars)
        state = replace(
            state,
            targets=state.targets + tuple(TargetState.from_due(due) for due in started),
            next_update_due_at=None,
            resolved_at=at,
        )
        state, also = _meet(manifest, state, at, _field_set_in(filled))
        met += also
    state, by_status = _meet(manifest, state, at, lambda target: isinstance(target.met_when, StatusReached)
                             and _status_reached(target.met_when.status, status))
    return SlaChange(state, met + by_status, started)


def _field_change(manifest: Manifest, state: SlaState, fields: frozenset[str], at: datetime) -> SlaChange:
    state, met = _meet(manifest, state, at, _field_set_in(fields), field_state=True)
    return SlaChange(state, met)


def _field_set_in(fields: Collection[str]):
    wanted = frozenset(fields)
    return lambda target: isinstance(target.met_when, FieldSet) and target.met_when.field in wanted


def _status_reached(wanted: str, status: str) -> bool:
    return status == wanted or (wanted == "solved" and status == "closed")


def _meet(manifest: Manifest, state: SlaState, at: datetime, applies, field_state: bool = False):
    """Mark met every open target the predicate ``applies`` to (given its manifest
    :class:`Target`). An event before a target's clock started does not meet it —
    except a field being set (``field_state``), which is a state: the target is met
    when its clock starts."""
    try:
        tier = manifest.tier(state.tier)
    except KeyError:
        return state, ()
    targets = []
    met = []
    for current in state.targets:
        target = _find(tier.targets, current.name)
        started = current.started_at or state.escalated_at
        if current.met_at is None and target is not None and applies(target):
            if at >= started:
                current = replace(current, met_at=at)
                met.append(current.name)
            elif field_state:
                current = replace(current, met_at=started)
                met.append(current.name)
        targets.append(current)
    return replace(state, targets=tuple(targets)), tuple(met)


def _find(targets: tuple[Target, ...], name: str) -> Target | None:
    for target in targets:
        if target.name == name:
            return target
    return None


def _utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected an aware datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone — pass an aware datetime")
    return moment.astimezone(timezone.utc)


# -- keeping state between events ---------------------------------------------------------

def sla_to_dict(state: SlaState) -> dict:
    """A JSON-ready form of ``state`` (instants as ISO 8601 UTC); :func:`sla_from_dict`
    reads it back unchanged."""
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(timezone.utc).isoformat()

    return {
        "tier": state.tier,
        "escalated_at": iso(state.escalated_at),
        "next_update_due_at": iso(state.next_update_due_at),
        "resolved_at": iso(state.resolved_at),
        "targets": [
            {"name": t.name, "due_at": iso(t.due_at), "at_risk_at": iso(t.at_risk_at), "met_at": iso(t.met_at),
             "start_from": t.start_from, "started_at": iso(t.started_at)}
            for t in state.targets
        ],
    }


def sla_from_dict(data: Mapping) -> SlaState:
    def when(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value).astimezone(timezone.utc)

    return SlaState(
        tier=data["tier"],
        escalated_at=when(data["escalated_at"]),
        next_update_due_at=when(data.get("next_update_due_at")),
        resolved_at=when(data.get("resolved_at")),
        targets=tuple(
            TargetState(t["name"], when(t["due_at"]), when(t["at_risk_at"]), when(t.get("met_at")),
                        t.get("start_from", ESCALATED), when(t.get("started_at")))
            for t in data.get("targets", ())
        ),
    )
