"""The small languages inside the manifest: rule conditions (``when``), how a target is
met (``met_when``) and value checks (``requirements.validate``).

Each parser collects every problem in the tree before giving up, and returns the parts
that were valid, so that one run of ``manifest validate`` reports everything.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from marshmallow import ValidationError

from connector.manifest.leaves import LOGICAL_NAME, LOGICAL_NAME_HINT, ManifestField, check_regex, check_text
from connector.manifest.model import (
    AllOf, AnyOf, CommentMatches, Condition, DecimalValue, FieldCondition, FieldSet, ListOf, MetWhen, Not,
    OneOf, OrganizationTagCondition, PublicReply, Regex, RequesterTicketsWithin, StatusReached, TagCondition,
    Validator,
)
from connector.manifest.words import did_you_mean, listing, shown, yaml_boolean_hint

FIELD_OPS = ("equals", "in", "gte", "lte", "present")
FORMS = ("field", "tag", "organization_tag", "latest_requester_comment_matches",
         "requester_tickets_within", "all", "any", "not")
ZENDESK_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
VALIDATOR_KINDS = ("decimal", "one_of", "list_of", "regex")
_CONDITION_EXAMPLE = "e.g. {field: signal, equals: duplicate_payment} or {tag: security_incident}"
_TAG = re.compile(r"^\S+$")


class _Errors:
    """Problems keyed by their path inside one value, turned into marshmallow's nested
    message dict at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple, str]] = []

    def add(self, path: tuple, message: str) -> None:
        self.items.append((path, message))

    def absorb(self, path: tuple, error: ValidationError) -> None:
        messages = error.messages
        if isinstance(messages, dict):
            for key, value in messages.items():
                for inner in value if isinstance(value, list) else [value]:
                    self.add(path + ((key,) if key != "_schema" else ()), str(inner))
        else:
            for message in messages:
                self.add(path, str(message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def messages(self) -> dict | list:
        tree: dict = {}
        for path, message in self.items:
            node = tree
            for part in path:
                node = node.setdefault(part, {})
            node.setdefault("_schema", []).append(message)
        if list(tree) == ["_schema"]:
            return tree["_schema"]
        return tree


def _scalar(value: object, path: tuple, errors: _Errors) -> object:
    if isinstance(value, (list, tuple)):
        errors.add(path, "must be one value — for several, use in: [a, b]")
    elif isinstance(value, Mapping) or value is None:
        errors.add(path, f"must be one value (text, number, true or false), not {shown(value)}")
    else:
        return value
    return None


def _number(value: object, path: tuple, errors: _Errors) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors.add(path, f"{shown(value)} is not a number — write e.g. 10000 or 0.01{yaml_boolean_hint(value)}")
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        errors.add(path, f"{shown(value)} is not a number — write e.g. 10000 or 0.01")
        return None
    return number


def _logical_name(value: object, path: tuple, errors: _Errors) -> str | None:
    try:
        return check_text(value, pattern=LOGICAL_NAME, pattern_hint=LOGICAL_NAME_HINT, what="a field name")
    except ValidationError as error:
        errors.absorb(path, error)
        return None


def _tag(value: object, path: tuple, errors: _Errors) -> str | None:
    try:
        text = check_text(value, what="a tag")
    except ValidationError as error:
        errors.absorb(path, error)
        return None
    if not _TAG.match(text):
        errors.add(path, f"{shown(text)} is not a tag — Zendesk tags have no spaces (use _ instead)")
        return None
    return text


# -- conditions ------------------------------------------------------------------------

def parse_condition(raw: object, path: tuple, errors: _Errors) -> Condition | None:
    if not isinstance(raw, Mapping) or not raw:
        errors.add(path, f"must be a condition, {_CONDITION_EXAMPLE}, not {shown(raw)}")
        return None
    if "field" in raw:
        return _field_condition(raw, path, errors)
    forms = [k for k in raw if k in FORMS]
    unknown = [k for k in raw if k not in FORMS and k not in FIELD_OPS]
    for key in unknown:
        errors.add(path + (str(key),), f"unknown condition — use one of {listing(FORMS)}{did_you_mean(key, FORMS)}")
    stray_ops = [k for k in raw if k in FIELD_OPS]
    for key in stray_ops:
        errors.add(path + (key,), f"{key} compares a field — add field: <logical field name> beside it")
    if len(forms) > 1:
        errors.add(path, f"has {' and '.join(forms)} — write one condition per mapping and combine them "
                         "with all: [...] or any: [...]")
        return None
    if not forms or unknown or stray_ops:
        return None
    form = forms[0]
    value = raw[form]
    here = path + (form,)
    if form == "tag":
        tag = _tag(value, here, errors)
        return TagCondition(tag) if tag else None
    if form == "organization_tag":
        tag = _tag(value, here, errors)
        return OrganizationTagCondition(tag) if tag else None
    if form == "latest_requester_comment_matches":
        try:
            return CommentMatches(check_regex(value))
        except ValidationError as error:
            errors.absorb(here, error)
            return None
    if form == "requester_tickets_within":
        return _tickets_within(value, here, errors)
    if form == "not":
        inner = parse_condition(value, here, errors)
        return Not(inner) if inner is not None else None
    if not isinstance(value, (list, tuple)) or not value:
        errors.add(here, f"must be a non-empty list of conditions, e.g. {form}: [{{tag: a}}, {{tag: b}}]")
        return None
    children = [parse_condition(child, here + (index,), errors) for index, child in enumerate(value)]
    kept = tuple(c for c in children if c is not None)
    if not kept:
        return None
    return AllOf(kept) if form == "all" else AnyOf(kept)


def _field_condition(raw: Mapping, path: tuple, errors: _Errors) -> FieldCondition | None:
    ok = True
    for key in raw:
        if key != "field" and key not in FIELD_OPS:
            errors.add(path + (str(key),), f"unknown key in a field condition — use field plus one of "
                                           f"{listing(FIELD_OPS)}{did_you_mean(key, FIELD_OPS)}")
            ok = False
    ops = [k for k in raw if k in FIELD_OPS]
    name = _logical_name(raw["field"], path + ("field",), errors)
    if not ops:
        errors.add(path, f"says which field but not how to compare it — add one of {listing(FIELD_OPS)}")
        return None
    if len(ops) > 1:
        errors.add(path, f"has {' and '.join(ops)} — one comparison per condition; combine several with "
                         "all: [...]")
        return None
    op = ops[0]
    value = raw[op]
    here = path + (op,)
    before = len(errors.items)
    if op == "equals":
        value = _scalar(value, here, errors)
    elif op == "in":
        if not isinstance(value, (list, tuple)) or not value:
            errors.add(here, "must be a non-empty list of values, e.g. in: [usd, eur]")
        else:
            value = tuple(_scalar(v, here + (i,), errors) for i, v in enumerate(value))
    elif op in ("gte", "lte"):
        value = _number(value, here, errors)
    elif op == "present":
        if not isinstance(value, bool):
            errors.add(here, f"must be true (the field has a value) or false (it is empty), not {shown(value)}")
    if not ok or name is None or len(errors.items) != before:
        return None
    return FieldCondition(name, op, value)


def _tickets_within(value: object, path: tuple, errors: _Errors) -> RequesterTicketsWithin | None:
    if not isinstance(value, Mapping):
        errors.add(path, "must be {days: N, at_least: M}, e.g. {days: 7, at_least: 3}")
        return None
    before = len(errors.items)
    for key in value:
        if key not in ("days", "at_least"):
            errors.add(path + (str(key),), f"unknown key — use days and at_least{did_you_mean(key, ('days', 'at_least'))}")
    numbers = {}
    for key in ("days", "at_least"):
        if key not in value:
            errors.add(path + (key,), "is missing — e.g. {days: 7, at_least: 3}")
            continue
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            errors.add(path + (key,), f"{shown(number)} must be a whole number greater than zero")
            continue
        numbers[key] = number
    if len(errors.items) != before:
        return None
    return RequesterTicketsWithin(numbers["days"], numbers["at_least"])


class ConditionField(ManifestField):
    def _deserialize(self, value, attr, data, **kwargs):
        errors = _Errors()
        condition = parse_condition(value, (), errors)
        if errors:
            raise ValidationError(errors.messages(), valid_data=condition)
        return condition


# -- met_when --------------------------------------------------------------------------

_MET_WHEN_HINT = "use public_reply, {status: solved} or {field_set: <logical field>}"


class MetWhenField(ManifestField):
    def _deserialize(self, value, attr, data, **kwargs) -> MetWhen:
        if value == "public_reply":
            return PublicReply()
        if not isinstance(value, Mapping) or len(value) != 1:
            raise ValidationError(f"{shown(value)} is not a way to meet a target — {_MET_WHEN_HINT}"
                                  f"{did_you_mean(value, ('public_reply',))}")
        ((key, inner),) = value.items()
        if key == "status":
            try:
                return StatusReached(check_text(inner, choices=ZENDESK_STATUSES, what="a Zendesk status"))
            except ValidationError as error:
                raise ValidationError({"status": error.messages}) from None
        if key == "field_set":
            errors = _Errors()
            name = _logical_name(inner, (), errors)
            if errors:
                raise ValidationError({"field_set": errors.messages()})
            return FieldSet(name)
        raise ValidationError({str(key): [f"unknown — {_MET_WHEN_HINT}{did_you_mean(key, ('status', 'field_set'))}"]})


# -- value checks ----------------------------------------------------------------------

class ValueCheckField(ManifestField):
    def _deserialize(self, value, attr, data, **kwargs) -> Validator:
        if not isinstance(value, Mapping) or len(value) != 1:
            raise ValidationError("must be one check: {decimal: {min: \"0.01\"}}, {one_of: [a, b]}, "
                                  "{list_of: \"<regex>\"} or {regex: \"<regex>\"}")
        ((kind, inner),) = value.items()
        if kind not in VALIDATOR_KINDS:
            raise ValidationError({str(kind): [f"unknown check — use one of {listing(VALIDATOR_KINDS)}"
                                               f"{did_you_mean(kind, VALIDATOR_KINDS)}"]})
        errors = _Errors()
        result: Any = None
        if kind == "decimal":
            result = _decimal_check(inner, ("decimal",), errors)
        elif kind == "one_of":
            result = _one_of(inner, ("one_of",), errors)
        else:
            try:
                pattern = check_regex(inner)
                result = ListOf(pattern) if kind == "list_of" else Regex(pattern)
            except ValidationError as error:
                errors.absorb((kind,), error)
        if errors:
            raise ValidationError(errors.messages())
        return result


def _decimal_check(inner: object, path: tuple, errors: _Errors) -> DecimalValue | None:
    if inner is None:
        inner = {}
    if not isinstance(inner, Mapping):
        errors.add(path, 'must be {min: "0.01"}, {min: 1, max: 1000000} or {} for any number')
        return None
    bounds: dict[str, Decimal | None] = {"min": None, "max": None}
    for key, raw in inner.items():
        if key not in bounds:
            errors.add(path + (str(key),), f"unknown key — use min and max{did_you_mean(key, ('min', 'max'))}")
            continue
        bounds[key] = _number(raw, path + (key,), errors)
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        errors.add(path + ("max",), f"{high} is below min {low} — swap them")
    return DecimalValue(low, high)


def _one_of(inner: object, path: tuple, errors: _Errors) -> OneOf | None:
    if not isinstance(inner, (list, tuple)) or not inner:
        errors.add(path, "must be a non-empty list of allowed values, e.g. [USD, EUR]")
        return None
    values: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(inner):
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            errors.add(path + (index,), f"{shown(raw)} must be text{yaml_boolean_hint(raw)}")
            continue
        text = str(raw)
        if text.lower() in seen:
            errors.add(path + (index,), f"{shown(text)} is listed twice (values are compared without case) "
                                        "— remove one")
            continue
        seen[text.lower()] = index
        values.append(text)
    return OneOf(tuple(values))
