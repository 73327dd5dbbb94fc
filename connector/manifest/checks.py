"""Checks that look across sections: every name a section uses must be defined in another.

They run even when the schemas found problems, on whatever was valid, so that one run
reports everything. What exists (mapped fields, calendars, tiers, targets) is read
from the admin's raw keys, so that one bad field ID does not also make every rule that
uses the field "unmapped".
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping

from connector.manifest.model import (
    ALWAYS_OPEN, CONNECTOR_WRITTEN, FieldRef, FieldSet, OneOf,
)
from connector.manifest.problems import Problem
from connector.manifest.words import did_you_mean, listing, shown

DUE_FORMATS = ("text", "date")
WRITTEN_VALUE_FORMATS = ("text", "dropdown")


def _mapping(value: Any) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _items(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def cross_check(raw: Mapping, clean: Mapping) -> list[Problem]:
    return list(_Checker(raw, clean).run())


class _Checker:
    def __init__(self, raw: Mapping, clean: Mapping):
        self.raw = raw
        self.clean = clean
        # A section that is missing or not a mapping is reported by the schema; checking
        # references against it would only repeat that problem once per reference.
        raw_fields = _mapping(raw.get("zendesk")).get("fields")
        self.fields_known = isinstance(raw_fields, Mapping) and bool(raw_fields)
        self.declared_fields = [k for k in _mapping(raw_fields) if isinstance(k, str)]
        self.field_refs: Mapping[str, FieldRef] = _mapping(_mapping(clean.get("zendesk")).get("field_map"))
        raw_calendars = raw.get("calendars")
        self.calendars_known = raw_calendars is None or isinstance(raw_calendars, Mapping)
        self.calendars = [k for k in _mapping(raw_calendars) if isinstance(k, str)] + [ALWAYS_OPEN]
        self.tiers_known = isinstance(raw.get("tiers"), Mapping) and bool(raw.get("tiers"))
        self.tiers = [k for k in _mapping(raw.get("tiers")) if isinstance(k, str)]
        self.target_names = sorted({name for tier in _mapping(raw.get("tiers")).values()
                                    for name in _mapping(_mapping(tier).get("targets"))
                                    if isinstance(name, str) and name != "next_update"})
        self.written = set(CONNECTOR_WRITTEN) | {f"{name}_due_at" for name in self.target_names}
        self.written |= {name for name in self.declared_fields if name.endswith("_due_at")}
        checks = _mapping(_mapping(clean.get("requirements")).get("checks"))
        self.one_of = {name: check for name, check in checks.items() if isinstance(check, OneOf)}

    def run(self) -> Iterator[Problem]:
        yield from self._zendesk()
        yield from self._requirements()
        yield from self._tiers()
        yield from self._rules()
        yield from self._jira()

    # -- helpers -------------------------------------------------------------------

    def _field(self, path: str, name: Any, *, reads: bool = True) -> Iterator[Problem]:
        """``name`` must be mapped; when ``reads``, it must also be one agents fill in."""
        if not isinstance(name, str) or not self.fields_known:
            return
        if name not in self.declared_fields:
            inputs = [f for f in self.declared_fields if f not in self.written]
            yield Problem(path, f"{shown(name)} is not a mapped field — add it under zendesk.fields "
                                f"({name}: <Zendesk field ID>) or use a mapped one{did_you_mean(name, inputs)}")
        elif reads and name in self.written:
            yield Problem(path, f"{shown(name)} is written by the connector, so it cannot be an input here "
                                "— use a field that agents fill in")

    def _tier(self, path: str, key: Any) -> Iterator[Problem]:
        if isinstance(key, str) and self.tiers_known and key not in self.tiers:
            yield Problem(path, f"{shown(key)} is not a tier — use one of {listing(self.tiers)}"
                                f"{did_you_mean(key, self.tiers)}")

    def _allowed_value(self, path: str, field: Any, value: Any) -> Iterator[Problem]:
        check = self.one_of.get(field) if isinstance(field, str) else None
        if check is None or isinstance(value, (Mapping, list, tuple)) or value is None:
            return
        if str(value).lower() not in {v.lower() for v in check.values}:
            yield Problem(path, f"{shown(value)} can never match: requirements.validate.{field} allows only "
                                f"{listing(check.values, 20)}{did_you_mean(str(value), check.values)}")

    # -- sections ------------------------------------------------------------------

    def _zendesk(self) -> Iterator[Problem]:
        zendesk = _mapping(self.clean.get("zendesk"))
        by_id: dict[int, str] = {}
        for name, ref in self.field_refs.items():
            path = f"zendesk.fields.{name}"
            if not isinstance(ref, FieldRef):
                continue
            if ref.id in by_id:
                yield Problem(path, f"ID {ref.id} is also mapped to {by_id[ref.id]} — each logical field "
                                    "needs its own Zendesk field")
            else:
                by_id[ref.id] = name
            if name.endswith("_due_at"):
                target = name[: -len("_due_at")]
                if self.tiers_known and name != "next_update_due_at" and target not in self.target_names:
                    yield Problem(path, f"no tier has a target named {target}, so nothing would write this "
                                        f"field — rename it to <target>_due_at for one of "
                                        f"{listing(self.target_names + ['next_update'])}, or remove it"
                                        f"{did_you_mean(target, self.target_names)}")
                if ref.format not in DUE_FORMATS:
                    yield Problem(path, f"the connector writes a due time here, which a field of format "
                                        f"{ref.format} cannot hold — map a text field (ISO 8601 time) or declare "
                                        "{id: …, format: date} for a date field")
            elif name in CONNECTOR_WRITTEN and ref.format not in WRITTEN_VALUE_FORMATS:
                yield Problem(path, f"the connector writes {name} as text (e.g. T3, L2, Done), which a field "
                                    f"of format {ref.format} cannot hold — map a text or dropdown field")
        names: dict[str, int] = {}
        statuses: dict[int, int] = {}
        for index, level in enumerate(_items(zendesk.get("levels"))):
            if not isinstance(level, Mapping):
                continue
            name, status = level.get("name"), level.get("custom_status_id")
            if name is not None:
                if name in names:
                    yield Problem(f"zendesk.levels.{index}.name", f"{shown(name)} is also the name of level "
                                                                  f"{names[name]} — give each level its own name")
                else:
                    names[name] = index
            if status is not None:
                if status in statuses:
                    yield Problem(f"zendesk.levels.{index}.custom_status_id",
                                  f"{status} is also the status of level {statuses[status]} — each level "
                                  "needs its own Zendesk custom status")
                else:
                    statuses[status] = index

    def _requirements(self) -> Iterator[Problem]:
        raw = _mapping(self.raw.get("requirements"))
        for key in ("all", "when_urgent"):
            for index, name in enumerate(_items(raw.get(key))):
                yield from self._field(f"requirements.{key}.{index}", name)
        by_type = _mapping(raw.get("by_type"))
        for escalation_type, names in by_type.items():
            for index, name in enumerate(_items(names)):
                yield from self._field(f"requirements.by_type.{escalation_type}.{index}", name)
        for name in _mapping(raw.get("validate")):
            yield from self._field(f"requirements.validate.{name}", name)
        if by_type and self.fields_known and "escalation_type" not in self.declared_fields:
            yield Problem("requirements.by_type", "depends on the escalation type, but escalation_type is not "
                                                  "mapped — add escalation_type: <dropdown field ID> under "
                                                  "zendesk.fields")
        if _items(raw.get("when_urgent")) and self.fields_known and "urgent" not in self.declared_fields:
            yield Problem("requirements.when_urgent", "applies to urgent escalations, but urgent is not mapped — "
                                                      "add urgent: {id: <checkbox field ID>, format: checkbox} "
                                                      "under zendesk.fields")
        for escalation_type in by_type:
            yield from self._allowed_value(f"requirements.by_type.{escalation_type}", "escalation_type",
                                           escalation_type)

    def _tiers(self) -> Iterator[Problem]:
        for key, tier in _mapping(self.clean.get("tiers")).items():
            for name, target in _mapping(_mapping(tier).get("targets")).items():
                path = f"tiers.{key}.targets.{name}"
                target = _mapping(target)
                calendar = target.get("calendar")
                if isinstance(calendar, str) and self.calendars_known and calendar not in self.calendars:
                    yield Problem(f"{path}.calendar", f"{shown(calendar)} is not a calendar — declare it under "
                                                      f"calendars, or use one of {listing(self.calendars)}"
                                                      f"{did_you_mean(calendar, self.calendars)}")
                met_when = target.get("met_when")
                if isinstance(met_when, FieldSet):
                    yield from self._field(f"{path}.met_when.field_set", met_when.field)
        default = self.clean.get("default_tier")
        yield from self._tier("default_tier", default)

    def _rules(self) -> Iterator[Problem]:
        names: dict[str, int] = {}
        for index, rule in enumerate(_items(self.raw.get("rules"))):
            if not isinstance(rule, Mapping):
                continue
            path = f"rules.{index}"
            name = rule.get("name")
            if isinstance(name, str):
                if name in names:
                    yield Problem(f"{path}.name", f"{shown(name)} is also the name of rule {names[name]} — "
                                                  "the note quotes the rule that fired, so give each its own name")
                else:
                    names[name] = index
            yield from self._tier(f"{path}.tier", rule.get("tier"))
            for where, condition in _field_conditions(rule.get("when"), f"{path}.when"):
                yield from self._field(f"{where}.field", condition["field"])
                if "equals" in condition:
                    yield from self._allowed_value(f"{where}.equals", condition["field"], condition["equals"])
                for i, value in enumerate(_items(condition.get("in"))):
                    yield from self._allowed_value(f"{where}.in.{i}", condition["field"], value)

    def _jira(self) -> Iterator[Problem]:
        jira = _mapping(self.raw.get("jira"))
        for key in _mapping(jira.get("priority_by_tier")):
            yield from self._tier(f"jira.priority_by_tier.{key}", key)


def _field_conditions(raw: Any, path: str) -> Iterator[tuple[str, Mapping]]:
    """Every ``{field: …}`` condition in a raw ``when``, with its path."""
    if not isinstance(raw, Mapping):
        return
    if "field" in raw:
        yield path, raw
        return
    for form in ("all", "any"):
        for index, child in enumerate(_items(raw.get(form))):
            yield from _field_conditions(child, f"{path}.{form}.{index}")
    if "not" in raw:
        yield from _field_conditions(raw["not"], f"{path}.not")
