"""From checked values to the typed :class:`Manifest`, and back to plain data.

``dump_manifest`` writes the forms an admin would write (``30m``, ``"09:00-17:00"``,
``{field: amount, gte: "10000"}``) so its output can be saved as YAML and loads into an
equal manifest.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from connector.manifest.model import (
    DAYS, AccountMatch, AllOf, AnyOf, CalendarSpec, CommentMatches, Condition, DecimalValue, FieldCondition, FieldRef,
    FieldSet, FrozenMap, HolidaySpec, JiraConfig, Level, ListOf, Manifest, MetWhen, Not, OneOf,
    OrganizationTagCondition, PublicReply, Regex, Requirements, RequesterTicketsWithin, Rule, SalesforceConfig,
    StatusReached, TagCondition, Target, Tier, Validator, ZendeskConfig, format_interval,
)


def build_manifest(data: Mapping[str, Any]) -> Manifest:
    zendesk = data["zendesk"]
    requirements = data.get("requirements") or {}
    salesforce = data.get("salesforce")
    jira = data.get("jira")
    return Manifest(
        version=data["version"],
        zendesk=ZendeskConfig(
            fields=FrozenMap(zendesk["field_map"]),
            levels=tuple(Level(level["name"], level["custom_status_id"]) for level in zendesk["levels"]),
            on_incomplete=zendesk.get("on_incomplete", "revert"),
        ),
        requirements=Requirements(
            all=tuple(requirements.get("all") or ()),
            by_type=FrozenMap({k: tuple(v) for k, v in (requirements.get("by_type") or {}).items()}),
            when_urgent=tuple(requirements.get("when_urgent") or ()),
            validate=FrozenMap(requirements.get("checks") or {}),
        ),
        calendars=FrozenMap({name: _calendar(spec) for name, spec in (data.get("calendars") or {}).items()}),
        tiers=tuple(_tier(key, tier) for key, tier in data["tiers"].items()),
        rules=tuple(Rule(rule["name"], rule["when"], rule["tier"]) for rule in data.get("rules") or ()),
        default_tier=data["default_tier"],
        salesforce=_salesforce(salesforce) if salesforce else None,
        jira=JiraConfig(
            project=jira["project"],
            issue_type=jira.get("issue_type", "Bug"),
            priority_by_tier=FrozenMap(jira.get("priority_by_tier") or {}),
            labels=tuple(jira.get("labels") or ()),
        ) if jira else None,
    )


def _calendar(spec: Mapping[str, Any]) -> CalendarSpec:
    holidays = spec.get("holidays") or {}
    return CalendarSpec(
        timezone=spec["timezone"],
        hours=FrozenMap(spec["hours"]),
        holidays=HolidaySpec(
            country=holidays.get("country"),
            subdivision=holidays.get("subdivision"),
            add=tuple(holidays.get("add") or ()),
            remove=tuple(holidays.get("remove") or ()),
        ),
    )


def _tier(key: str, tier: Mapping[str, Any]) -> Tier:
    return Tier(
        key=key,
        name=tier["name"],
        targets=tuple(
            Target(name, t["within"], t["calendar"], t.get("met_when"), t.get("start_from", "escalated"))
            for name, t in (tier.get("targets") or {}).items()
        ),
        update_every=tier["update_every"],
        checklist=tuple(tier.get("checklist") or ()),
    )


def _salesforce(data: Mapping[str, Any]) -> SalesforceConfig:
    match = data["account_match"]
    return SalesforceConfig(
        account_match=AccountMatch(match["zendesk"], match["salesforce_field"]),
        escalation_object=data["escalation_object"],
        external_id_field=data["external_id_field"],
        fields=FrozenMap(data["field_map"]),
        event_object=data.get("event_object"),
    )


# -- back to plain data ----------------------------------------------------------------

def dump_manifest(manifest: Manifest) -> dict[str, Any]:
    """Plain data (str, int, bool, lists, dicts) that ``parse_manifest`` turns back into
    an equal manifest, and that ``yaml.safe_dump`` can write."""
    out: dict[str, Any] = {
        "version": manifest.version,
        "zendesk": {
            "fields": {name: _field_ref(ref) for name, ref in manifest.zendesk.fields.items()},
            "levels": [{"name": lv.name, "custom_status_id": lv.custom_status_id} for lv in manifest.zendesk.levels],
            "on_incomplete": manifest.zendesk.on_incomplete,
        },
        "requirements": {
            "all": list(manifest.requirements.all),
            "by_type": {k: list(v) for k, v in manifest.requirements.by_type.items()},
            "when_urgent": list(manifest.requirements.when_urgent),
            "validate": {name: dump_validator(v) for name, v in manifest.requirements.validate.items()},
        },
        "calendars": {name: _dump_calendar(spec) for name, spec in manifest.calendars.items()},
        "tiers": {tier.key: _dump_tier(tier) for tier in manifest.tiers},
        "rules": [{"name": r.name, "when": dump_condition(r.when), "tier": r.tier} for r in manifest.rules],
        "default_tier": manifest.default_tier,
    }
    if manifest.salesforce is not None:
        sf = manifest.salesforce
        out["salesforce"] = {
            "account_match": {"zendesk": sf.account_match.zendesk,
                              "salesforce_field": sf.account_match.salesforce_field},
            "escalation_object": sf.escalation_object,
            "external_id_field": sf.external_id_field,
            "fields": dict(sf.fields),
        }
        if sf.event_object is not None:
            out["salesforce"]["event_object"] = sf.event_object
    if manifest.jira is not None:
        out["jira"] = {
            "project": manifest.jira.project,
            "issue_type": manifest.jira.issue_type,
            "priority_by_tier": dict(manifest.jira.priority_by_tier),
            "labels": list(manifest.jira.labels),
        }
    return out


def _field_ref(ref: FieldRef) -> int | dict[str, Any]:
    return ref.id if ref.format == "text" else {"id": ref.id, "format": ref.format}


def _number(value: Decimal) -> str:
    return str(value)


def dump_validator(check: Validator) -> dict[str, Any]:
    if isinstance(check, DecimalValue):
        bounds = {k: _number(v) for k, v in (("min", check.min), ("max", check.max)) if v is not None}
        return {"decimal": bounds}
    if isinstance(check, OneOf):
        return {"one_of": list(check.values)}
    if isinstance(check, ListOf):
        return {"list_of": check.pattern}
    if isinstance(check, Regex):
        return {"regex": check.pattern}
    raise TypeError(f"not a value check: {check!r}")


def _dump_calendar(spec: CalendarSpec) -> dict[str, Any]:
    hours = {DAYS[day]: [format_interval(i) for i in intervals]
             for day, intervals in spec.hours.items() if intervals}
    holidays: dict[str, Any] = {}
    if spec.holidays.country is not None:
        holidays["country"] = spec.holidays.country
    if spec.holidays.subdivision is not None:
        holidays["subdivision"] = spec.holidays.subdivision
    holidays["add"] = [d.isoformat() for d in spec.holidays.add]
    holidays["remove"] = [d.isoformat() for d in spec.holidays.remove]
    return {"timezone": spec.timezone, "hours": hours, "holidays": holidays}


def _dump_tier(tier: Tier) -> dict[str, Any]:
    targets = {}
    for target in tier.targets:
        entry: dict[str, Any] = {"within": str(target.within), "calendar": target.calendar}
        if target.met_when is not None:
            entry["met_when"] = dump_met_when(target.met_when)
        entry["from"] = target.start_from
        targets[target.name] = entry
    return {"name": tier.name, "targets": targets, "update_every": str(tier.update_every),
            "checklist": list(tier.checklist)}


def dump_met_when(met_when: MetWhen) -> Any:
    if isinstance(met_when, PublicReply):
        return "public_reply"
    if isinstance(met_when, StatusReached):
        return {"status": met_when.status}
    if isinstance(met_when, FieldSet):
        return {"field_set": met_when.field}
    raise TypeError(f"not a met_when: {met_when!r}")


def dump_condition(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, FieldCondition):
        value = condition.value
        if isinstance(value, Decimal):
            value = _number(value)
        elif isinstance(value, tuple):
            value = list(value)
        return {"field": condition.field, condition.op: value}
    if isinstance(condition, TagCondition):
        return {"tag": condition.tag}
    if isinstance(condition, OrganizationTagCondition):
        return {"organization_tag": condition.tag}
    if isinstance(condition, CommentMatches):
        return {"latest_requester_comment_matches": condition.pattern}
    if isinstance(condition, RequesterTicketsWithin):
        return {"requester_tickets_within": {"days": condition.days, "at_least": condition.at_least}}
    if isinstance(condition, AllOf):
        return {"all": [dump_condition(c) for c in condition.conditions]}
    if isinstance(condition, AnyOf):
        return {"any": [dump_condition(c) for c in condition.conditions]}
    if isinstance(condition, Not):
        return {"not": dump_condition(condition.condition)}
    raise TypeError(f"not a condition: {condition!r}")
