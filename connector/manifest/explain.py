"""``connector manifest explain``: the manifest in words, for the admin and for whoever
signs off the escalation policy."""
from __future__ import annotations

from connector.manifest.model import (
    ALWAYS_OPEN, DAY_NAMES, AllOf, AnyOf, CalendarSpec, CommentMatches, Condition, DecimalValue, FieldCondition,
    FieldSet, ListOf, Manifest, MetWhen, Not, OneOf, OrganizationTagCondition, PublicReply, Regex,
    RequesterTicketsWithin, StatusReached, TagCondition, Validator, format_interval, placeholder_ids,
)

def explain(manifest: Manifest) -> str:
    placeholders = {value for _, value in placeholder_ids(manifest)}
    lines: list[str] = []
    lines += _levels(manifest, placeholders)
    lines += [""] + _requirements(manifest)
    lines += [""] + _calendars(manifest)
    lines += [""] + _tiers(manifest)
    lines += [""] + _rules(manifest)
    lines += [""] + _elsewhere(manifest)
    if placeholders:
        lines += ["", f"! {len(placeholders)} Zendesk IDs are still placeholders (marked “placeholder” above "
                      "and listed by `connector manifest validate`) — replace them before going live."]
    return "\n".join(lines) + "\n"


def _id(value: int, placeholders: set[int]) -> str:
    return f"{value} (placeholder)" if value in placeholders else str(value)


def _levels(manifest: Manifest, placeholders: set[int]) -> list[str]:
    zendesk = manifest.zendesk
    lines = ["ESCALATION LEVELS (lowest to highest)",
             "  " + " → ".join(level.name for level in zendesk.levels),
             "  Moving a ticket into one of these Zendesk statuses is an escalation:"]
    lines += [f"    {level.name:<6} custom status {_id(level.custom_status_id, placeholders)}"
              for level in zendesk.levels]
    if zendesk.on_incomplete == "revert":
        lines.append("  An incomplete escalation is turned back: the status returns to what it was, an internal "
                     "note names what is missing, and the ticket is tagged escalation_blocked.")
    else:
        lines.append("  An incomplete escalation keeps its status, gets an internal note naming what is "
                     "missing, and is tagged escalation_blocked.")
    return lines


def _requirements(manifest: Manifest) -> list[str]:
    req = manifest.requirements
    lines = ["WHAT AN ESCALATION MUST CARRY"]
    lines.append(f"  Every escalation: {', '.join(req.all) or 'nothing in particular'}")
    for escalation_type, names in req.by_type.items():
        lines.append(f"  {escalation_type} escalations also: {', '.join(names)}")
    if req.when_urgent:
        lines.append(f"  Urgent escalations also: {', '.join(req.when_urgent)}")
    if req.validate:
        lines.append("  Values are checked, not just present:")
        width = max(len(name) for name in req.validate)
        for name, check in req.validate.items():
            lines.append(f"    {name:<{width}}  {describe_check(check)}")
    return lines


def describe_check(check: Validator) -> str:
    if isinstance(check, DecimalValue):
        bounds = []
        if check.min is not None:
            bounds.append(f"at least {check.min}")
        if check.max is not None:
            bounds.append(f"at most {check.max}")
        return "a number" + (", " + " and ".join(bounds) if bounds else "")
    if isinstance(check, OneOf):
        return f"one of {', '.join(check.values)} (any case)"
    if isinstance(check, ListOf):
        return f"one or more values separated by commas, spaces or new lines, each matching {check.pattern}"
    if isinstance(check, Regex):
        return f"matches {check.pattern}"
    raise TypeError(check)


def _calendars(manifest: Manifest) -> list[str]:
    lines = ["CALENDARS"]
    names = list(manifest.calendars) + [ALWAYS_OPEN]
    width = max(len(n) for n in names)
    for name, spec in manifest.calendars.items():
        lines.append(f"  {name:<{width}}  {describe_calendar(spec)}")
    lines.append(f"  {ALWAYS_OPEN:<{width}}  always open (built in)")
    return lines


def describe_calendar(spec: CalendarSpec) -> str:
    groups: list[tuple[list[int], tuple]] = []
    for day in range(7):
        intervals = spec.hours.get(day, ())
        if groups and groups[-1][1] == intervals and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], intervals))
    parts = []
    for days, intervals in groups:
        if not intervals:
            continue
        span = DAY_NAMES[days[0]][:3] + (f"–{DAY_NAMES[days[-1]][:3]}" if len(days) > 1 else "")
        parts.append(f"{span} {', '.join(format_interval(i).replace('-', '–') for i in intervals)}")
    text = f"{spec.timezone}; open {'; '.join(parts)}"
    holidays = spec.holidays
    if holidays.country:
        place = holidays.country + (f" ({holidays.subdivision})" if holidays.subdivision else "")
        text += f"; closed on public holidays of {place}"
    if holidays.add:
        text += "; also closed " + ", ".join(d.isoformat() for d in holidays.add)
    if holidays.remove:
        text += "; open on " + ", ".join(d.isoformat() for d in holidays.remove)
    return text


def describe_met_when(met_when: MetWhen | None) -> str:
    if met_when is None:
        return "escalation resolved"
    if isinstance(met_when, PublicReply):
        return "first public agent reply"
    if isinstance(met_when, StatusReached):
        return f"ticket {met_when.status}"
    if isinstance(met_when, FieldSet):
        return f"{met_when.field} filled in"
    raise TypeError(met_when)


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _due(manifest: Manifest, field: str) -> str:
    ref = manifest.zendesk.fields.get(field)
    if ref is None:
        return "—"
    return field + (" (date)" if ref.format == "date" else "")


def _tiers(manifest: Manifest) -> list[str]:
    lines = [f"TIERS (lowest to highest; an escalation no rule matches gets {manifest.default_tier})"]
    lines += [f"  {tier.key}  {tier.name}" for tier in manifest.tiers]
    rows = [["tier", "target", "within", "calendar", "clock starts", "met when", "due written to"]]
    for tier in manifest.tiers:
        key = tier.key
        for target in tier.targets:
            rows.append([key, target.name, str(target.within), target.calendar,
                         "at resolution" if target.start_from == "resolved" else "at escalation",
                         describe_met_when(target.met_when), _due(manifest, target.due_field)])
            key = ""
        rows.append([key, "customer update", f"every {tier.update_every}", ALWAYS_OPEN, "at escalation",
                     "each public agent reply restarts it", _due(manifest, "next_update_due_at")])
    lines += [""] + _table(rows)
    lines += ["  (m and h count opening time on the calendar; Nd on a business calendar ends at the close of the",
              "   Nth business day, on 24x7 it is N x 24 hours)"]
    checklists = [tier for tier in manifest.tiers if tier.checklist]
    if checklists:
        lines += ["", "  Checklist put in the internal note:"]
        for tier in checklists:
            lines.append(f"    {tier.key}")
            lines += [f"      - {item}" for item in tier.checklist]
    return lines


def _rules(manifest: Manifest) -> list[str]:
    lines = ["RULES (every rule is checked; the highest tier among those that match wins)"]
    if not manifest.rules:
        lines.append(f"  none — every escalation gets {manifest.default_tier}")
    for number, rule in enumerate(manifest.rules, start=1):
        lines.append(f"  {number:>2}. {rule.name} → {rule.tier}")
        lines.append(f"      when {describe_condition(rule.when)}")
    return lines


def describe_condition(condition: Condition, nested: bool = False) -> str:
    if isinstance(condition, FieldCondition):
        value = condition.value
        if condition.op == "equals":
            return f"{condition.field} is {_value(value)}"
        if condition.op == "in":
            return f"{condition.field} is one of {', '.join(_value(v) for v in value)}"
        if condition.op == "gte":
            return f"{condition.field} is at least {value}"
        if condition.op == "lte":
            return f"{condition.field} is at most {value}"
        return f"{condition.field} {'is filled in' if value else 'is empty'}"
    if isinstance(condition, TagCondition):
        return f"the ticket is tagged {condition.tag}"
    if isinstance(condition, OrganizationTagCondition):
        return f"the customer's organization is tagged {condition.tag}"
    if isinstance(condition, CommentMatches):
        return f"the requester's latest comment matches {condition.pattern}"
    if isinstance(condition, RequesterTicketsWithin):
        return (f"the requester opened at least {condition.at_least} tickets in the {condition.days} days "
                "before the escalation")
    if isinstance(condition, (AllOf, AnyOf)):
        joiner = " and " if isinstance(condition, AllOf) else " or "
        text = joiner.join(describe_condition(c, nested=True) for c in condition.conditions)
        return f"({text})" if nested and len(condition.conditions) > 1 else text
    if isinstance(condition, Not):
        return f"not ({describe_condition(condition.condition)})"
    raise TypeError(condition)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "ticked" if value else "not ticked"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _elsewhere(manifest: Manifest) -> list[str]:
    lines = ["SALESFORCE AND JIRA"]
    sf = manifest.salesforce
    if sf is None:
        lines.append("  Salesforce: not configured — escalations are not mirrored")
    else:
        lines.append(f"  Salesforce: each escalation becomes one {sf.escalation_object} record (keyed by "
                     f"{sf.external_id_field}), on the Account whose {sf.account_match.salesforce_field} equals "
                     f"the ticket's {sf.account_match.zendesk}")
        lines.append("    writes " + ", ".join(f"{k} → {v}" for k, v in sf.fields.items()))
        if sf.event_object:
            lines.append(f"    timeline rows: {sf.event_object}")
    jira = manifest.jira
    if jira is None:
        lines.append("  Jira: not configured — product bugs are not sent to Jira")
    else:
        text = f"  Jira: product bugs become {jira.issue_type} issues in {jira.project}"
        if jira.priority_by_tier:
            text += "; priority " + ", ".join(f"{k} → {v}" for k, v in jira.priority_by_tier.items())
        if jira.labels:
            text += "; labels " + ", ".join(jira.labels)
        lines.append(text)
    return lines
