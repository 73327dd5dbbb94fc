"""The admin manifest as the escalation engine reads it: immutable, typed, ordered.

Everything here is a frozen dataclass, a tuple or a :class:`FrozenMap`, so a loaded
manifest can be shared between threads and compared for equality (the round-trip test
relies on that). Mappings keep the order the admin wrote them in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Iterator, Mapping, TypeVar, Union

from connector.escalation.durations import Duration

K = TypeVar("K")
V = TypeVar("V")

ALWAYS_OPEN = "24x7"
"""The built-in calendar that is always open; targets may name it without declaring it."""

END_OF_DAY = time(0)
"""How an opening interval that runs to midnight (``"18:00-24:00"``) stores its end: as
the business-calendar module reads it, ``time(0)`` as an *end* means 24:00."""
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def format_interval(interval: tuple[time, time]) -> str:
    """``"09:00-17:00"``; an interval running to midnight ends ``"24:00"``."""
    start, end = interval
    end_text = "24:00" if end == END_OF_DAY else end.strftime("%H:%M")
    return f"{start.strftime('%H:%M')}-{end_text}"


class FrozenMap(Mapping[K, V]):
    """A read-only, hashable, order-preserving mapping."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[K, V] | None = None):
        self._items = dict(items or {})

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


# -- zendesk ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldRef:
    """A Zendesk ticket field. ``format`` is one of ``FIELD_FORMATS`` in ``schema.py``."""
    id: int
    format: str = "text"


@dataclass(frozen=True)
class Level:
    name: str
    custom_status_id: int


@dataclass(frozen=True)
class ZendeskConfig:
    fields: Mapping[str, FieldRef]
    levels: tuple[Level, ...]
    """Lowest to highest, as written."""
    on_incomplete: str = "revert"
    """``revert`` (status goes back, note, tag) or ``flag`` (note and tag only)."""

    def level_for_status(self, custom_status_id: int) -> Level | None:
        for level in self.levels:
            if level.custom_status_id == custom_status_id:
                return level
        return None

    def level_rank(self, name: str) -> int:
        """0 for the lowest configured level; KeyError for a name that is not a level."""
        for rank, level in enumerate(self.levels):
            if level.name == name:
                return rank
        raise KeyError(name)


# -- requirements ----------------------------------------------------------------------

@dataclass(frozen=True)
class DecimalValue:
    """The value is a decimal number, within ``min``/``max`` when given (inclusive)."""
    min: Decimal | None = None
    max: Decimal | None = None


@dataclass(frozen=True)
class OneOf:
    """The value is one of ``values``, compared case-insensitively."""
    values: tuple[str, ...]


@dataclass(frozen=True)
class ListOf:
    """The value holds one or more items separated by commas, spaces or new lines, each
    matching ``pattern`` (``re.search``: the admin writes ``^…$`` to match a whole item)."""
    pattern: str


@dataclass(frozen=True)
class Regex:
    """The value matches ``pattern`` (``re.search``: the admin writes ``^…$`` to match the
    whole value)."""
    pattern: str


Validator = Union[DecimalValue, OneOf, ListOf, Regex]


@dataclass(frozen=True)
class Requirements:
    all: tuple[str, ...] = ()
    by_type: Mapping[str, tuple[str, ...]] = field(default_factory=FrozenMap)
    """Escalation type (the value of the ``escalation_type`` field) -> extra fields."""
    when_urgent: tuple[str, ...] = ()
    validate: Mapping[str, Validator] = field(default_factory=FrozenMap)

    def required_for(self, escalation_type: str | None, urgent: bool) -> tuple[str, ...]:
        """Every field an escalation of this type must carry, in manifest order."""
        wanted = list(self.all)
        if escalation_type is not None:
            for key, names in self.by_type.items():
                if key.lower() == escalation_type.lower():
                    wanted += names
        if urgent:
            wanted += self.when_urgent
        return tuple(dict.fromkeys(wanted))


# -- calendars -------------------------------------------------------------------------

@dataclass(frozen=True)
class HolidaySpec:
    """Which local dates are closed: a country (and subdivision) of the ``holidays``
    package, plus ``add`` and minus ``remove``. The dates themselves are computed by the
    business-calendar module, not here."""
    country: str | None = None
    subdivision: str | None = None
    add: tuple[date, ...] = ()
    remove: tuple[date, ...] = ()


@dataclass(frozen=True)
class CalendarSpec:
    timezone: str
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    """Weekday (0 = Monday) -> opening intervals in local time, sorted, not overlapping.
    Every weekday is present; a closed day has ``()``. An interval that runs to midnight
    ends at :data:`END_OF_DAY` (``time(0)``), the form ``BusinessCalendar`` takes."""
    holidays: HolidaySpec = field(default_factory=HolidaySpec)


# -- tiers -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PublicReply:
    """Met by the first public agent comment after the clock starts."""


@dataclass(frozen=True)
class StatusReached:
    status: str
    """A Zendesk status category: new, open, pending, hold, solved or closed."""


@dataclass(frozen=True)
class FieldSet:
    field: str
    """A logical field name: met once the field has a value (a checkbox: ticked)."""


MetWhen = Union[PublicReply, StatusReached, FieldSet]


@dataclass(frozen=True)
class Target:
    name: str
    within: Duration
    calendar: str
    met_when: MetWhen | None = None
    """``None``: tracked until the escalation is resolved."""
    start_from: str = "escalated"
    """``escalated`` or ``resolved``: the event that starts this target's clock."""

    @property
    def due_field(self) -> str:
        """The logical field this target's due time is written to, when mapped."""
        return f"{self.name}_due_at"


@dataclass(frozen=True)
class Tier:
    key: str
    name: str
    targets: tuple[Target, ...]
    update_every: Duration
    checklist: tuple[str, ...] = ()

    def target(self, name: str) -> Target:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)


# -- rules -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldCondition:
    field: str
    op: str
    """``equals`` | ``in`` | ``gte`` | ``lte`` | ``present``."""
    value: object
    """``equals``: a scalar; ``in``: a tuple of scalars; ``gte``/``lte``: a Decimal;
    ``present``: a bool."""


@dataclass(frozen=True)
class TagCondition:
    tag: str


@dataclass(frozen=True)
class OrganizationTagCondition:
    tag: str


@dataclass(frozen=True)
class CommentMatches:
    """The requester's latest public comment matches ``pattern`` (``re.search``)."""
    pattern: str


@dataclass(frozen=True)
class RequesterTicketsWithin:
    """The requester created at least ``at_least`` tickets in the ``days`` days that end
    at the escalation's time."""
    days: int
    at_least: int


@dataclass(frozen=True)
class AllOf:
    conditions: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    condition: "Condition"


Condition = Union[FieldCondition, TagCondition, OrganizationTagCondition, CommentMatches,
                  RequesterTicketsWithin, AllOf, AnyOf, Not]


@dataclass(frozen=True)
class Rule:
    name: str
    when: Condition
    tier: str


def condition_fields(condition: Condition) -> Iterator[str]:
    """Every logical field a condition reads, depth first."""
    if isinstance(condition, FieldCondition):
        yield condition.field
    elif isinstance(condition, (AllOf, AnyOf)):
        for child in condition.conditions:
            yield from condition_fields(child)
    elif isinstance(condition, Not):
        yield from condition_fields(condition.condition)


# -- salesforce and jira ---------------------------------------------------------------

@dataclass(frozen=True)
class AccountMatch:
    zendesk: str
    """Where the Zendesk side of the match comes from, e.g. ``organization.external_id``."""
    salesforce_field: str


@dataclass(frozen=True)
class SalesforceConfig:
    account_match: AccountMatch
    escalation_object: str
    external_id_field: str
    fields: Mapping[str, str]
    """What the connector writes (``account``, ``tier``, …) -> field API name."""
    event_object: str | None = None


@dataclass(frozen=True)
class JiraConfig:
    project: str
    issue_type: str = "Bug"
    priority_by_tier: Mapping[str, str] = field(default_factory=FrozenMap)
    labels: tuple[str, ...] = ()


# -- the whole -------------------------------------------------------------------------

@dataclass(frozen=True)
class Manifest:
    version: int
    zendesk: ZendeskConfig
    requirements: Requirements
    calendars: Mapping[str, CalendarSpec]
    """Declared calendars only; :data:`ALWAYS_OPEN` is built in."""
    tiers: tuple[Tier, ...]
    """Lowest to highest."""
    rules: tuple[Rule, ...]
    default_tier: str
    salesforce: SalesforceConfig | None = None
    jira: JiraConfig | None = None

    def tier(self, key: str) -> Tier:
        for tier in self.tiers:
            if tier.key == key:
                return tier
        raise KeyError(key)

    def tier_rank(self, key: str) -> int:
        """0 for the lowest tier; KeyError for a key that is not a tier."""
        for rank, tier in enumerate(self.tiers):
            if tier.key == key:
                return rank
        raise KeyError(key)


CONNECTOR_WRITTEN = ("tier", "escalation_level", "jira_status", "next_update_due_at")
"""Logical fields the connector writes besides ``<target>_due_at``; rules and
requirements may not read them."""


PLACEHOLDER_IDS = range(990_000, 1_000_000)
"""Zendesk IDs the shipped manifest uses as placeholders. Real Zendesk field and status
IDs are far larger, so an ID in this range was never replaced."""


def placeholder_ids(manifest: Manifest) -> list[tuple[str, int]]:
    """``(path, id)`` for every Zendesk ID the admin has not replaced yet."""
    found = [(f"zendesk.fields.{name}", ref.id) for name, ref in manifest.zendesk.fields.items()]
    found += [(f"zendesk.levels.{i}.custom_status_id", level.custom_status_id)
              for i, level in enumerate(manifest.zendesk.levels)]
    return [(path, value) for path, value in found if value in PLACEHOLDER_IDS]
