"""marshmallow schemas for each section of the manifest.

They check shape and every single value (types, durations, regexes, time zones,
holiday countries, opening hours) and load into plain dicts of checked values;
``checks.py`` then checks the references between sections, and ``build.py`` turns the
result into the typed :class:`~connector.manifest.model.Manifest`. Unknown keys are
errors everywhere: a typo must never silently switch a rule off.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

import holidays
from marshmallow import EXCLUDE, Schema, ValidationError, validates_schema

from connector.manifest.conditions import ConditionField, MetWhenField, ValueCheckField
from connector.manifest.leaves import (
    KEY_NAME, KEY_NAME_HINT, LOGICAL_NAME, LOGICAL_NAME_HINT, Choice, DurationField, Hours, Items, KeyedMapping,
    LocalDate, ManifestField, Section, Text, TimeZone, ZendeskId, check_id, check_text,
)
from connector.manifest.model import ALWAYS_OPEN, FieldRef
from connector.manifest.words import did_you_mean, listing, shown

FIELD_FORMATS = ("text", "textarea", "date", "checkbox", "dropdown", "integer", "decimal")
"""The Zendesk field types the manifest knows. A plain id means ``text``."""
ON_INCOMPLETE = ("revert", "flag")
TARGET_STARTS = ("escalated", "resolved")
SALESFORCE_FIELD_KEYS = (
    "account", "tier", "level", "status", "escalation_type", "summary", "ticket_id", "ticket_url",
    "escalated_at", "resolved_at", "sla_outcome", "jira_issue_key", "resolution",
)
"""What the connector can write on the Salesforce escalation record; ``account`` is required."""
ACCOUNT_MATCH_SOURCES = ("organization.external_id", "organization.id", "organization.name")
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
API_NAME_HINT = "use the API name as Salesforce shows it in Setup, e.g. Escalation__c or Tier__c"
JIRA_PROJECT = re.compile(r"^[A-Z][A-Z0-9_]+$")


class StrictSchema(Schema):
    """Every key it does not declare is an error that names the keys it does."""

    class Meta:
        unknown = EXCLUDE

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reject_unknown_keys(self, data: Any, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, Mapping):
            return
        known = [f.data_key or name for name, f in self.load_fields.items()]
        errors = {}
        for key in original:
            if key not in known:
                errors[str(key)] = [f"unknown key — {self.unknown_hint(known)}{did_you_mean(key, known)}"]
        if errors:
            raise ValidationError(errors)

    def unknown_hint(self, known: list[str]) -> str:
        return f"remove it, or use one of {listing(known)}"


# -- zendesk ---------------------------------------------------------------------------

class FieldRefField(ManifestField):
    """``360001`` (a text field) or ``{id: 360001, format: date}``."""

    def _deserialize(self, value, attr, data, **kwargs) -> FieldRef:
        if not isinstance(value, Mapping):
            return FieldRef(check_id(value, "Zendesk field ID"))
        errors: dict[str, list[str]] = {}
        for key in value:
            if key not in ("id", "format"):
                errors[str(key)] = [f"unknown key — a field is an ID or {{id, format}}{did_you_mean(key, ('id', 'format'))}"]
        ref_id, fmt = None, "text"
        try:
            if "id" not in value:
                raise ValidationError("is missing — write the Zendesk field ID, e.g. {id: 360012345678, format: date}")
            ref_id = check_id(value["id"], "Zendesk field ID")
        except ValidationError as error:
            errors["id"] = error.messages
        if "format" in value:
            try:
                fmt = check_text(value["format"], choices=FIELD_FORMATS, what="a field format")
            except ValidationError as error:
                errors["format"] = error.messages
        if errors:
            raise ValidationError(errors)
        return FieldRef(ref_id, fmt)


class LevelSchema(StrictSchema):
    name = Text(required=True, pattern=KEY_NAME, pattern_hint=KEY_NAME_HINT,
                hint="name the level as the connector should write it, e.g. L2")
    custom_status_id = ZendeskId(required=True, what="Zendesk custom status ID",
                                 hint="write the ID of the Zendesk custom status for this level")


class ZendeskSchema(StrictSchema):
    field_map = KeyedMapping(FieldRefField(), key_pattern=LOGICAL_NAME, key_hint=LOGICAL_NAME_HINT,
                             data_key="fields", required=True, non_empty=True,
                          hint="map each logical field to its Zendesk ticket field ID, e.g. customer_id: 360012345678")
    levels = Items(LevelSchema, required=True, non_empty=True,
                   hint="list the escalation levels lowest first, e.g. - {name: L2, custom_status_id: 7001}")
    on_incomplete = Choice(ON_INCOMPLETE)


# -- requirements ----------------------------------------------------------------------

def _field_names(**kwargs: Any) -> Items:
    return Items(Text(pattern=LOGICAL_NAME, pattern_hint=LOGICAL_NAME_HINT), **kwargs)


class RequirementsSchema(StrictSchema):
    all = _field_names()
    by_type = KeyedMapping(_field_names())
    when_urgent = _field_names()
    checks = KeyedMapping(ValueCheckField(), key_pattern=LOGICAL_NAME, key_hint=LOGICAL_NAME_HINT,
                          data_key="validate")


# -- calendars -------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _countries() -> dict[str, list[str]]:
    return holidays.list_supported_countries()


@lru_cache(maxsize=None)
def _subdivision_aliases(country: str) -> dict[str, str]:
    try:
        return dict(getattr(holidays.country_holidays(country), "subdivisions_aliases", {}) or {})
    except (NotImplementedError, KeyError):
        return {}


class HolidaysSchema(StrictSchema):
    country = ManifestField()
    subdivision = ManifestField()
    add = Items(LocalDate())
    remove = Items(LocalDate())

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _check_places_and_dates(self, data: dict, original: Any, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        country = original.get("country")
        subdivision = original.get("subdivision")
        countries = _countries()
        if country is False:
            data.pop("country", None)
            errors["country"] = ['was read as "false" by YAML — write country: "NO" (in quotes) for Norway']
        elif country is not None:
            if not isinstance(country, str) or country not in countries:
                data.pop("country", None)
                errors["country"] = [f"{shown(country)} is not a country the holidays package knows — use an "
                                     f"ISO 3166 code such as US, GB, CA or DE{did_you_mean(country, countries)}"]
        if subdivision is not None:
            data.pop("subdivision", None)
            if country is None:
                errors["subdivision"] = ["needs a country — add country: beside it (e.g. US for subdivision NY)"]
            elif isinstance(country, str) and country in countries:
                codes = countries[country]
                aliases = _subdivision_aliases(country)
                text = str(subdivision) if isinstance(subdivision, (str, int)) and not isinstance(subdivision, bool) else None
                if text in codes:
                    data["subdivision"] = text
                elif text in aliases:
                    errors["subdivision"] = [f'write its code "{aliases[text]}" instead of {shown(text)}']
                elif not codes:
                    errors["subdivision"] = [f"{country} has no subdivisions in the holidays package — remove it"]
                else:
                    errors["subdivision"] = [f"{shown(subdivision)} is not a subdivision of {country} — use one of "
                                             f"{listing(codes, 60)}{did_you_mean(text, codes)}"]
        if data.get("remove") and country is None:
            errors["remove"] = ["removes public holidays, but no country is set — add country:, or drop remove"]
        both = set(data.get("add") or ()) & set(data.get("remove") or ())
        for day in sorted(both):
            errors.setdefault("remove", []).append(f"{day.isoformat()} is both added and removed — keep it in one list")
        if errors:
            raise ValidationError(errors)


class CalendarSchema(StrictSchema):
    timezone = TimeZone(required=True, hint="write the IANA time zone, e.g. timezone: America/New_York")
    hours = Hours(required=True, hint='write the opening hours, e.g. hours: {mon-fri: ["09:00-17:00"]}')
    holidays = Section(HolidaysSchema)


# -- tiers -----------------------------------------------------------------------------

class TargetSchema(StrictSchema):
    within = DurationField(required=True, hint="say how long the target allows, e.g. within: 4h")
    calendar = Text(required=True, pattern=KEY_NAME, pattern_hint=KEY_NAME_HINT,
                    hint=f"name the calendar the clock runs on: a calendar under calendars, or {ALWAYS_OPEN}")
    met_when = MetWhenField(allow_none=True)
    start_from = Choice(TARGET_STARTS, data_key="from")


class TierSchema(StrictSchema):
    name = Text(required=True, hint="give the tier a readable name, e.g. name: Business impact")
    targets = KeyedMapping(TargetSchema, key_pattern=LOGICAL_NAME, key_hint=LOGICAL_NAME_HINT)
    update_every = DurationField(required=True,
                                 hint="say how often the customer hears from you, e.g. update_every: 24h")
    checklist = Items(Text())

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _reserved_target_names(self, data: dict, original: Any, **kwargs: Any) -> None:
        targets = original.get("targets")
        if isinstance(targets, Mapping) and "next_update" in targets:
            raise ValidationError({"targets": {"next_update": [
                "is reserved for the customer-update clock (set by update_every) — rename this target"]}})


# -- rules -----------------------------------------------------------------------------

class RuleSchema(StrictSchema):
    name = Text(required=True, hint="name the rule; the internal note quotes it when it fires")
    when = ConditionField(required=True, hint="say when the rule fires, e.g. when: {tag: security_incident}")
    tier = Text(required=True, pattern=KEY_NAME, pattern_hint=KEY_NAME_HINT,
                hint="say which tier the rule gives, e.g. tier: T3")


# -- salesforce and jira ---------------------------------------------------------------

def _api_name(**kwargs: Any) -> Text:
    return Text(pattern=API_NAME, pattern_hint=API_NAME_HINT, **kwargs)


class AccountMatchSchema(StrictSchema):
    zendesk = ManifestField(required=True, hint="write organization.external_id (or organization.id, "
                                                "organization.name)")
    salesforce_field = _api_name(required=True, hint="name the Account field that holds the same value, e.g. Id")

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _source(self, data: dict, original: Any, **kwargs: Any) -> None:
        if "zendesk" not in original:
            return
        source = original["zendesk"]
        if source in ACCOUNT_MATCH_SOURCES:
            return
        data.pop("zendesk", None)
        raise ValidationError({"zendesk": [f"{shown(source)} cannot be matched — use one of "
                                           f"{listing(ACCOUNT_MATCH_SOURCES)}{did_you_mean(source, ACCOUNT_MATCH_SOURCES)}"]})


class SalesforceSchema(StrictSchema):
    account_match = Section(AccountMatchSchema, required=True,
                            hint="say how a ticket finds its Account, e.g. {zendesk: organization.external_id, "
                                 "salesforce_field: Id}")
    escalation_object = _api_name(required=True, hint="name the escalation object, e.g. Escalation__c")
    external_id_field = _api_name(required=True,
                                  hint="name the escalation object's external ID field, e.g. Zendesk_Escalation_Key__c")
    event_object = _api_name()
    field_map = KeyedMapping(_api_name(), keys=SALESFORCE_FIELD_KEYS, data_key="fields", required=True,
                             non_empty=True,
                          hint="map what the connector writes to field API names, e.g. {account: Account__c}")

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _account_is_mapped(self, data: dict, original: Any, **kwargs: Any) -> None:
        mapped = original.get("fields")
        if isinstance(mapped, Mapping) and mapped and "account" not in mapped:
            raise ValidationError({"fields": ["has no account — add account: <lookup field to Account>, "
                                              "e.g. account: Account__c, so escalations show on the Account"]})


class JiraSchema(StrictSchema):
    project = Text(required=True, pattern=JIRA_PROJECT,
                   pattern_hint="use the project key in capitals as Jira shows it, e.g. PAY",
                   hint="write the Jira project key, e.g. project: PAY")
    issue_type = Text()
    priority_by_tier = KeyedMapping(Text())
    labels = Items(Text(pattern=re.compile(r"^\S+$"), pattern_hint="Jira labels have no spaces (use - instead)"))


# -- the whole -------------------------------------------------------------------------

class ManifestSchema(StrictSchema):
    version = ManifestField(required=True, hint="write version: 1 at the top")
    zendesk = Section(ZendeskSchema, required=True, hint="add the zendesk section (fields and levels)")
    requirements = Section(RequirementsSchema)
    calendars = KeyedMapping(CalendarSchema)
    tiers = KeyedMapping(TierSchema, required=True, non_empty=True,
                         hint="define the tiers, lowest first, e.g. T1: {name: …, targets: …, update_every: 48h}")
    rules = Items(RuleSchema)
    default_tier = Text(required=True, pattern=KEY_NAME, pattern_hint=KEY_NAME_HINT,
                        hint="name the tier an escalation gets when no rule fires, e.g. default_tier: T1")
    salesforce = Section(SalesforceSchema)
    jira = Section(JiraSchema)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _version(self, data: dict, original: Any, **kwargs: Any) -> None:
        if "version" not in original:
            return
        version = original["version"]
        if version != 1 or isinstance(version, bool):
            data.pop("version", None)
            raise ValidationError({"version": [f"{shown(version)} is not a manifest version this connector "
                                               "reads — write version: 1"]})

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _no_builtin_calendar(self, data: dict, original: Any, **kwargs: Any) -> None:
        calendars = original.get("calendars")
        if isinstance(calendars, Mapping) and ALWAYS_OPEN in calendars:
            raise ValidationError({"calendars": {ALWAYS_OPEN: [
                f"{ALWAYS_OPEN} is built in (always open) — remove it here, or give your calendar another name"]}})
