"""marshmallow fields for the manifest's building blocks, with messages for admins.

marshmallow's stock messages ("Not a valid string.") say what is wrong but not what to
write instead, so every field here raises its own. Collections (:class:`Items`,
:class:`KeyedMapping`, :class:`Section`) key their errors by the admin's own list index
or mapping key, so a problem's path reads like the YAML it points at, and they pass on
whatever part was valid so the cross-checks can still look at it.
"""
from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from marshmallow import Schema, ValidationError, fields

from connector.escalation.durations import parse_duration
from connector.manifest.model import DAY_NAMES, DAYS, END_OF_DAY, format_interval
from connector.manifest.words import did_you_mean, listing, shown, yaml_boolean_hint

LOGICAL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
LOGICAL_NAME_HINT = "use lowercase letters, digits and underscores, starting with a letter (e.g. bridge_opened)"
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
KEY_NAME_HINT = "use letters, digits, - and _ only (no spaces or dots), e.g. T3 or business"


class ManifestField(fields.Field):
    """Base: ``hint`` says what to write when the key is missing."""

    default_error_messages = {
        "required": "is missing",
        "null": "is empty — give it a value",
    }

    def __init__(self, *, hint: str | None = None, **kwargs: Any):
        messages = dict(kwargs.pop("error_messages", None) or {})
        if hint:
            hint = hint.replace("{", "{{").replace("}", "}}")  # marshmallow formats these messages
            messages.setdefault("required", f"is missing — {hint}")
            messages.setdefault("null", f"is empty — {hint}")
        super().__init__(error_messages=messages, **kwargs)


class Text(ManifestField):
    """A non-empty string, optionally matching ``pattern``."""

    def __init__(self, *, pattern: re.Pattern | None = None, pattern_hint: str = "",
                 choices: Iterable[str] | None = None, **kwargs: Any):
        self.pattern = pattern
        self.pattern_hint = pattern_hint
        self.choices = tuple(choices) if choices is not None else None
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return check_text(value, pattern=self.pattern, pattern_hint=self.pattern_hint, choices=self.choices)


def check_text(value: object, *, pattern: re.Pattern | None = None, pattern_hint: str = "",
               choices: Iterable[str] | None = None, what: str = "text") -> str:
    if isinstance(value, bool):
        raise ValidationError(f"must be {what}, not {shown(value)}{yaml_boolean_hint(value)}")
    if isinstance(value, (int, float)):
        raise ValidationError(f'must be {what} — put it in quotes: "{value}"')
    if not isinstance(value, str):
        raise ValidationError(f"must be {what}, not {shown(value)}")
    if not value.strip():
        raise ValidationError(f"is empty — write the {what}")
    if choices is not None:
        choices = tuple(choices)
        if value not in choices:
            raise ValidationError(f"{shown(value)} is not allowed — use one of {listing(choices)}"
                                  f"{did_you_mean(value, choices)}")
    if pattern is not None and not pattern.match(value):
        raise ValidationError(f"{shown(value)} is not valid here — {pattern_hint}")
    return value


class ZendeskId(ManifestField):
    def __init__(self, *, what: str = "Zendesk ID", **kwargs: Any):
        self.what = what
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return check_id(value, self.what)


def check_id(value: object, what: str = "Zendesk ID") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            raise ValidationError(f"{shown(value)} must be a number, not text — remove the quotes")
        raise ValidationError(f"{shown(value)} is not a {what} — write the number Zendesk shows, "
                              "e.g. 360012345678")
    if value <= 0:
        raise ValidationError(f"{value} is not a {what} — IDs are positive whole numbers")
    return value


class DurationField(ManifestField):
    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_duration(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


def check_regex(value: object) -> str:
    text = check_text(value, what="a regular expression")
    try:
        re.compile(text)
    except re.error as error:
        raise ValidationError(f"{shown(text)} is not a valid regular expression ({error}) — "
                              "fix it, and remember that YAML needs \\\\ for one backslash "
                              "inside double quotes") from None
    return text


@lru_cache(maxsize=1)
def _all_time_zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


class TimeZone(ManifestField):
    def _deserialize(self, value, attr, data, **kwargs):
        text = check_text(value, what="an IANA time zone name")
        try:
            zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise ValidationError(f"{shown(text)} is not an IANA time zone — use a name such as "
                                  f"America/New_York or Europe/London{did_you_mean(text, _all_time_zones())}"
                                  ) from None
        return text


class Choice(Text):
    def __init__(self, choices: Iterable[str], **kwargs: Any):
        super().__init__(choices=choices, **kwargs)


class LocalDate(ManifestField):
    def _deserialize(self, value, attr, data, **kwargs):
        return check_date(value)


def check_date(value: object) -> date:
    if isinstance(value, datetime):
        raise ValidationError(f"{value.isoformat()} has a time of day — write the date only, YYYY-MM-DD")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{shown(value)} is not a date — write it as YYYY-MM-DD, e.g. 2026-12-24")


# -- collections -----------------------------------------------------------------------

Loader = Callable[[Any], Any]


def as_loader(inner: "ManifestField | type[Schema] | Loader") -> Loader:
    if isinstance(inner, type) and issubclass(inner, Schema):
        return lambda raw: load_section(inner, raw)
    if isinstance(inner, fields.Field):
        return inner.deserialize
    return inner


@lru_cache(maxsize=None)
def _schema(schema_cls: type[Schema]) -> Schema:
    return schema_cls()  # loading keeps no state on the schema, so one instance serves all


def load_section(schema_cls: type[Schema], raw: object) -> dict:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"must be a mapping of keys to values (key: value lines), not {shown(raw)}")
    return _schema(schema_cls).load(raw)


class Section(ManifestField):
    """A nested schema. An optional section left empty in YAML (``requirements:``) is
    read as an empty mapping."""

    def __init__(self, schema_cls: type[Schema], **kwargs: Any):
        self.schema_cls = schema_cls
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None and not self.required:
            value = {}
        elif value is None:
            raise self.make_error("null")
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return load_section(self.schema_cls, value)


class Items(ManifestField):
    """A list; errors are keyed by index. Empty YAML (``key:``) is an empty list."""

    def __init__(self, inner, *, non_empty: bool = False, **kwargs: Any):
        self.inner = inner
        self.load_item = as_loader(inner)
        self.non_empty = non_empty
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None:
            value = []
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            raise ValidationError(f"must be a list (- item lines, or [a, b]), not {shown(value)}")
        if self.non_empty and not value:
            raise self.make_error("null")
        result, errors = [], {}
        for index, item in enumerate(value):
            try:
                result.append(self.load_item(item))
            except ValidationError as error:
                errors[index] = error.messages
                result.append(error.valid_data or None)  # keeps indexes aligned for the cross-checks
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result


class KeyedMapping(ManifestField):
    """A mapping with admin-chosen keys; errors are keyed by those keys."""

    def __init__(self, inner, *, key_pattern: re.Pattern | None = KEY_NAME, key_hint: str = KEY_NAME_HINT,
                 keys: Iterable[str] | None = None, non_empty: bool = False, **kwargs: Any):
        self.inner = inner
        self.load_value = as_loader(inner)
        self.key_pattern = key_pattern
        self.key_hint = key_hint
        self.keys = tuple(keys) if keys is not None else None
        self.non_empty = non_empty
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None and not self.non_empty:
            value = {}
        elif value is None:
            raise self.make_error("null")
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError(f"must be a mapping of keys to values (key: value lines), not {shown(value)}")
        if self.non_empty and not value:
            raise self.make_error("null")
        result, errors = {}, {}
        for key, item in value.items():
            problem = self._key_problem(key)
            if problem:
                errors[str(key)] = [problem]
                continue
            try:
                result[key] = self.load_value(item)
            except ValidationError as error:
                errors[key] = error.messages
                if error.valid_data:
                    result[key] = error.valid_data
        if errors:
            raise ValidationError(errors, valid_data=result)
        return result

    def _key_problem(self, key: object) -> str | None:
        if not isinstance(key, str):
            return f"the key {shown(key)} must be text — put it in quotes{yaml_boolean_hint(key)}"
        if self.keys is not None and key not in self.keys:
            return f"unknown key — use one of {listing(self.keys, 20)}{did_you_mean(key, self.keys)}"
        if self.key_pattern is not None and not self.key_pattern.match(key):
            return f"{shown(key)} is not valid here — {self.key_hint}"
        return None


# -- opening hours ---------------------------------------------------------------------

_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAYS_HINT = "use mon … sun, a range such as mon-fri, or a list such as sat,sun"


def parse_days(spec: object) -> list[int]:
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError(f"{shown(spec)} is not a day — {_DAYS_HINT}")
    days: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(end[:3] not in DAYS or not DAY_NAMES[DAYS.index(end[:3])].lower().startswith(end)
                                for end in ends):
            raise ValidationError(f"{shown(spec)} is not a day or range of days — {_DAYS_HINT}")
        first, last = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        if last < first:
            raise ValidationError(f"{shown(spec)} runs backwards — write ranges Monday to Sunday "
                                  "(split a range over the weekend: sat-sun and mon)")
        days.extend(range(first, last + 1))
    return days


def parse_interval(text: object) -> tuple[time, time]:
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        raise ValidationError(f'{shown(text)} is not an opening interval — write "09:00-17:00" '
                              "(24-hour clock, local time, in quotes)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValidationError(f"{shown(text)} has an impossible time — use 00:00 to 24:00")
    start = time(h1, m1)
    end = END_OF_DAY if h2 == 24 else time(h2, m2)
    if h2 * 60 + m2 <= h1 * 60 + m1:
        raise ValidationError(f"{shown(text)} ends before it starts — an interval cannot cross midnight; "
                              'write 24:00 for the end of the day and split a night shift: '
                              '"22:00-24:00" on one day and "00:00-06:00" on the next')
    return start, end


def _minutes(value: time, is_end: bool = False) -> int:
    if is_end and value == END_OF_DAY:
        return 24 * 60
    return value.hour * 60 + value.minute


class Hours(ManifestField):
    """``{mon-fri: ["09:00-17:00"], sat: ["10:00-14:00"]}`` -> weekday -> sorted intervals."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, Mapping):
            raise ValidationError('must map days to opening intervals, e.g. {mon-fri: ["09:00-17:00"]}')
        errors: dict[str, Any] = {}
        seen: dict[int, list[tuple[tuple[time, time], str]]] = {d: [] for d in range(7)}
        for spec, intervals in value.items():
            key = str(spec)
            try:
                days = parse_days(spec)
            except ValidationError as error:
                errors[key] = error.messages
                continue
            is_list = isinstance(intervals, (list, tuple))
            raw_list = list(intervals) if is_list else [intervals]
            if not raw_list:
                errors[key] = ["has no intervals — list them, or leave the day out (it is then closed)"]
            for index, raw in enumerate(raw_list):
                try:
                    interval = parse_interval(raw)
                except ValidationError as error:
                    if is_list:
                        _nested(errors, key)[index] = error.messages
                    else:
                        errors[key] = error.messages
                    continue
                clashes: dict[tuple[tuple[time, time], str], list[str]] = {}
                for day in days:
                    for other, other_key in seen[day]:
                        if _minutes(interval[0]) < _minutes(other[1], True) and _minutes(other[0]) < _minutes(interval[1], True):
                            clashes.setdefault((other, other_key), []).append(DAY_NAMES[day])
                    seen[day].append((interval, key))
                for (other, other_key), day_names in clashes.items():
                    source = "" if other_key == key else f" (from {other_key})"
                    _append(errors, key, f"{format_interval(interval)} overlaps {format_interval(other)}{source} "
                                         f"on {', '.join(day_names)} — merge them into one interval, or let one "
                                         "end where the other starts")
        if errors:
            raise ValidationError(errors)
        hours = {day: tuple(sorted(i for i, _ in seen[day])) for day in range(7)}
        if not any(hours.values()):
            raise ValidationError("has no opening hours, so deadlines on it would never fall due — "
                                  'add some, e.g. {mon-fri: ["09:00-17:00"]}, or use the built-in 24x7')
        return hours


def _nested(errors: dict, key: str) -> dict:
    current = errors.get(key)
    if not isinstance(current, dict):
        errors[key] = {"_schema": current} if current else {}
    return errors[key]


def _append(errors: dict, key: str, message: str) -> None:
    current = errors.get(key)
    if current is None:
        errors[key] = [message]
    elif isinstance(current, dict):
        current.setdefault("_schema", []).append(message)
    elif message not in current:
        current.append(message)
