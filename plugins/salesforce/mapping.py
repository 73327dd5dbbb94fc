"""Pure mapping: an escalation record and its timeline → Salesforce field dicts and the
one composite request that mirrors them. No I/O, no clock: instants come in as arguments.

Field API names come from the manifest's ``salesforce`` section where it maps them
(``salesforce.fields.<key>``); everything the manifest has no key for (amount, currency,
Jira status, per-target SLA fields, the timeline object's fields, the Account roll-ups)
has a fixed API name, the one the shipped metadata under ``manifest/salesforce/`` creates.
:func:`field_specs` lists every field the connector writes, with its type: the metadata
generator and the metadata test both read it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote

from connector.masking import mask_pans, mask_pans_deep
from connector.store.escalations import RESOLVED, TIMELINE_KINDS, EscalationRecord, JiraLink, TimelineEvent

API_VERSION = "59.0"
ACCOUNT = "Account"

DEFAULT_ESCALATION_OBJECT = "Escalation__c"
DEFAULT_EXTERNAL_ID_FIELD = "Zendesk_Escalation_Key__c"
DEFAULT_EVENT_OBJECT = "Escalation_Event__c"

DEFAULT_FIELDS: Mapping[str, str] = {
    "account": "Account__c", "tier": "Tier__c", "level": "Level__c", "status": "Status__c",
    "escalation_type": "Escalation_Type__c", "summary": "Subject__c", "ticket_id": "Ticket_Number__c",
    "ticket_url": "Ticket_URL__c", "escalated_at": "Escalated_At__c", "resolved_at": "Resolved_At__c",
    "sla_outcome": "SLA_Outcome__c", "jira_issue_key": "Jira_Issue_Key__c", "resolution": "Resolution__c",
}
"""Manifest key (``salesforce.fields.<key>``) → API name when the manifest leaves it out."""

FIXED_FIELDS: Mapping[str, str] = {
    "opened_at": "Opened_At__c", "amount": "Amount__c", "currency": "Currency__c",
    "jira_status": "Jira_Status__c", "next_update_due_at": "Next_Update_Due__c",
}
"""What the connector writes on the escalation and the manifest has no key for."""

EVENT_KEY_FIELD = "Event_Key__c"
EVENT_PARENT_FIELD = "Escalation__c"
EVENT_FIELDS: Mapping[str, str] = {
    "kind": "Kind__c", "occurred_at": "Occurred_At__c", "summary": "Summary__c",
    "target": "Target__c", "detail": "Detail__c",
}
ROLLUP_FIELDS: Mapping[str, str] = {
    "open": "Open_Escalations__c", "last_90_days": "Escalations_Last_90_Days__c",
    "highest_open_tier": "Highest_Open_Tier__c", "last_escalation_date": "Last_Escalation_Date__c",
}

OUTCOMES = ("met", "met_late", "at_risk", "breached", "on_track")
_OUTCOME_SEVERITY = {"met": 0, "on_track": 1, "at_risk": 2, "met_late": 3, "breached": 4}
RESOLUTIONS = ("resolved", "denied", "referred")
STATUSES = ("open", "blocked", "resolved")
EVENT_KINDS = TIMELINE_KINDS + ("target_due",)
SUMMARY_LENGTH = 255
NAME_LENGTH = 80
DETAIL_LENGTH = 32768
MAX_COLLECTION = 200
MAX_SUBREQUESTS = 25


@dataclass(frozen=True)
class FieldSpec:
    """One field the connector writes: on which object, its API name, its type."""
    object: str
    api_name: str
    type: str
    """``Text``, ``LongTextArea``, ``Number``, ``DateTime``, ``Date``, ``Url``, ``Picklist``,
    ``Lookup``, ``MasterDetail`` (SFDX ``<type>`` values)."""
    label: str
    manifest_key: str | None = None
    """The manifest path naming this field (``salesforce.fields.tier``), when it has one."""
    length: int | None = None
    values: tuple[str, ...] = ()
    reference_to: str | None = None
    relationship_name: str | None = None
    external_id: bool = False
    required: bool = False
    precision: int | None = None
    scale: int | None = None


def target_api_prefix(target: str) -> str:
    """``first_response`` → ``First_Response``."""
    return "_".join(part.capitalize() for part in target.split("_") if part)


def target_due_field(target: str) -> str:
    return f"{target_api_prefix(target)}_Due__c"


def target_outcome_field(target: str) -> str:
    return f"{target_api_prefix(target)}_Outcome__c"


@dataclass(frozen=True)
class SalesforceMapping:
    """The API names the connector writes, from the manifest (defaults where it is silent)."""
    escalation_object: str = DEFAULT_ESCALATION_OBJECT
    external_id_field: str = DEFAULT_EXTERNAL_ID_FIELD
    event_object: str | None = DEFAULT_EVENT_OBJECT
    fields: Mapping[str, str] = None  # type: ignore[assignment]
    account_match_field: str = "Id"
    account_match_source: str = "organization.external_id"
    targets: tuple[str, ...] = ()
    tier_order: tuple[str, ...] = ()
    """Tier keys lowest first: "highest open tier" uses this order."""

    def __post_init__(self) -> None:
        if self.fields is None:
            object.__setattr__(self, "fields", dict(DEFAULT_FIELDS))

    @classmethod
    def from_manifest(cls, manifest: Any) -> "SalesforceMapping":
        config = manifest.salesforce
        if config is None:
            raise ValueError("the manifest has no salesforce section")
        fields = dict(DEFAULT_FIELDS)
        fields.update(config.fields)
        targets: list[str] = []
        for tier in manifest.tiers:
            for target in tier.targets:
                if target.name not in targets:
                    targets.append(target.name)
        return cls(escalation_object=config.escalation_object, external_id_field=config.external_id_field,
                   event_object=config.event_object, fields=fields,
                   account_match_field=config.account_match.salesforce_field,
                   account_match_source=config.account_match.zendesk,
                   targets=tuple(targets), tier_order=tuple(t.key for t in manifest.tiers))

    def field(self, key: str) -> str:
        return self.fields.get(key) or FIXED_FIELDS[key]

    def manifest_key_for(self, sobject: str | None, api_name: str) -> str:
        """Where an API name comes from, for error messages an admin can act on."""
        if api_name == self.escalation_object:
            return "salesforce.escalation_object"
        if self.event_object and api_name == self.event_object:
            return "salesforce.event_object"
        if sobject in (None, self.escalation_object):
            if api_name == self.external_id_field:
                return "salesforce.external_id_field"
            for key, name in self.fields.items():
                if name == api_name:
                    return f"salesforce.fields.{key}"
        if sobject == ACCOUNT and api_name == self.account_match_field:
            return "salesforce.account_match.salesforce_field"
        return "none (a fixed API name from manifest/salesforce: deploy that metadata)"

    def relationship(self, api_name: str) -> str:
        return api_name[:-3] + "__r" if api_name.endswith("__c") else api_name


def field_specs(mapping: SalesforceMapping) -> list[FieldSpec]:
    """Every field the connector writes, on the escalation, timeline and Account objects."""
    esc = mapping.escalation_object
    f = mapping.fields

    def key(name: str) -> str:
        return f"salesforce.fields.{name}"

    specs = [
        FieldSpec(esc, mapping.external_id_field, "Text", "Zendesk Escalation Key", "salesforce.external_id_field",
                  length=80, external_id=True, required=True),
        FieldSpec(esc, f["account"], "Lookup", "Account", key("account"), reference_to=ACCOUNT,
                  relationship_name="Escalations", required=True),
        FieldSpec(esc, f["ticket_id"], "Number", "Ticket Number", key("ticket_id"), precision=18, scale=0),
        FieldSpec(esc, f["ticket_url"], "Url", "Ticket URL", key("ticket_url")),
        FieldSpec(esc, f["summary"], "Text", "Subject", key("summary"), length=SUMMARY_LENGTH),
        FieldSpec(esc, f["escalation_type"], "Text", "Escalation Type", key("escalation_type"), length=40),
        FieldSpec(esc, f["level"], "Text", "Level", key("level"), length=40),
        FieldSpec(esc, f["tier"], "Text", "Tier", key("tier"), length=10),
        FieldSpec(esc, f["status"], "Picklist", "Status", key("status"), values=STATUSES),
        FieldSpec(esc, FIXED_FIELDS["opened_at"], "DateTime", "Opened At"),
        FieldSpec(esc, f["escalated_at"], "DateTime", "Escalated At", key("escalated_at")),
        FieldSpec(esc, f["resolved_at"], "DateTime", "Resolved At", key("resolved_at")),
        FieldSpec(esc, f["resolution"], "Picklist", "Resolution", key("resolution"), values=RESOLUTIONS),
        FieldSpec(esc, FIXED_FIELDS["amount"], "Number", "Amount", precision=16, scale=2),
        FieldSpec(esc, FIXED_FIELDS["currency"], "Text", "Currency", length=10),
        FieldSpec(esc, f["jira_issue_key"], "Text", "Jira Issue Key", key("jira_issue_key"), length=40),
        FieldSpec(esc, FIXED_FIELDS["jira_status"], "Text", "Jira Status", length=80),
        FieldSpec(esc, f["sla_outcome"], "Picklist", "SLA Outcome", key("sla_outcome"), values=OUTCOMES),
        FieldSpec(esc, FIXED_FIELDS["next_update_due_at"], "DateTime", "Next Customer Update Due"),
    ]
    for target in mapping.targets:
        label = target.replace("_", " ").title()
        specs.append(FieldSpec(esc, target_due_field(target), "DateTime", f"{label} Due"))
        specs.append(FieldSpec(esc, target_outcome_field(target), "Picklist", f"{label} Outcome", values=OUTCOMES))
    if mapping.event_object:
        ev = mapping.event_object
        specs += [
            FieldSpec(ev, EVENT_KEY_FIELD, "Text", "Event Key", length=255, external_id=True, required=True),
            FieldSpec(ev, EVENT_PARENT_FIELD, "MasterDetail", "Escalation", reference_to=esc,
                      relationship_name="Timeline", required=True),
            FieldSpec(ev, EVENT_FIELDS["kind"], "Picklist", "Kind", values=EVENT_KINDS),
            FieldSpec(ev, EVENT_FIELDS["occurred_at"], "DateTime", "Occurred At"),
            FieldSpec(ev, EVENT_FIELDS["summary"], "Text", "Summary", length=SUMMARY_LENGTH),
            FieldSpec(ev, EVENT_FIELDS["target"], "Text", "SLA Target", length=40),
            FieldSpec(ev, EVENT_FIELDS["detail"], "LongTextArea", "Detail", length=DETAIL_LENGTH),
        ]
    specs += [
        FieldSpec(ACCOUNT, ROLLUP_FIELDS["open"], "Number", "Open Escalations", precision=18, scale=0),
        FieldSpec(ACCOUNT, ROLLUP_FIELDS["last_90_days"], "Number", "Escalations (Last 90 Days)",
                  precision=18, scale=0),
        FieldSpec(ACCOUNT, ROLLUP_FIELDS["highest_open_tier"], "Text", "Highest Open Tier", length=10),
        FieldSpec(ACCOUNT, ROLLUP_FIELDS["last_escalation_date"], "Date", "Last Escalation Date"),
    ]
    return specs


# -- values -------------------------------------------------------------------------------

def sf_datetime(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: Any, length: int) -> str | None:
    if value is None or value == "":
        return None
    text = mask_pans(str(value))
    return text if len(text) <= length else text[: length - 1] + "…"


def _amount(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        return round(float(str(value).replace(",", "")), 2)
    except ValueError:
        return None


def escalation_key(ticket_id: int) -> str:
    """The escalation's external ID: one escalation record per Zendesk ticket."""
    return f"zendesk-{int(ticket_id)}"


def worst_outcome(outcomes: Iterable[str]) -> str | None:
    found = list(outcomes)
    return max(found, key=lambda o: _OUTCOME_SEVERITY[o]) if found else None


def escalation_fields(mapping: SalesforceMapping, record: EscalationRecord, *, account_id: str,
                      ticket_url: str, jira: Sequence[JiraLink] = (), now: datetime) -> dict[str, Any]:
    """The escalation record's fields (without the external ID, which goes in the URL).
    Every target of the mapping is written; targets the escalation's tier lacks are null,
    so a tier change leaves no stale due time behind. SLA outcomes are as of ``now``."""
    f = mapping.field
    subject = _text(record.subject, SUMMARY_LENGTH)
    name = _text(f"#{record.ticket_id} {record.subject or ''}".strip(), NAME_LENGTH)
    link = jira[-1] if jira else None
    values: dict[str, Any] = {
        "Name": name,
        f("account"): account_id,
        f("ticket_id"): record.ticket_id,
        f("ticket_url"): ticket_url,
        f("summary"): subject,
        f("escalation_type"): _text(record.escalation_type, 40),
        f("level"): record.level,
        f("tier"): record.tier,
        f("status"): record.state,
        f("opened_at"): sf_datetime(record.opened_at),
        f("escalated_at"): sf_datetime(record.escalated_at),
        f("resolved_at"): sf_datetime(record.resolved_at),
        f("resolution"): (record.resolution or "resolved") if record.state == RESOLVED else None,
        f("amount"): _amount(record.amount),
        f("currency"): record.currency.upper() if record.currency else None,
        f("jira_issue_key"): link.issue_key if link else None,
        f("jira_status"): _text(link.status, 80) if link else None,
        f("next_update_due_at"): sf_datetime(record.sla.next_update_due_at) if record.sla else None,
    }
    outcomes = []
    states = {t.name: t for t in record.sla.targets} if record.sla else {}
    for target in mapping.targets:
        state = states.get(target)
        outcome = state.outcome(now) if state is not None else None
        if outcome:
            outcomes.append(outcome)
        values[target_due_field(target)] = sf_datetime(state.due_at) if state else None
        values[target_outcome_field(target)] = outcome
    values[f("sla_outcome")] = worst_outcome(outcomes)
    return values


def event_fields(mapping: SalesforceMapping, event: TimelineEvent, ticket_id: int) -> dict[str, Any]:
    """One timeline row for a collections upsert (external ID included, as collections want)."""
    detail = mask_pans_deep(event.detail or {})
    target = detail.get("target") if isinstance(detail, dict) else None
    return {
        "attributes": {"type": mapping.event_object},
        EVENT_KEY_FIELD: event.key,
        mapping.relationship(EVENT_PARENT_FIELD): {mapping.external_id_field: escalation_key(ticket_id)},
        EVENT_FIELDS["kind"]: event.kind,
        EVENT_FIELDS["occurred_at"]: sf_datetime(event.occurred_at),
        EVENT_FIELDS["summary"]: _text(event.summary, SUMMARY_LENGTH),
        EVENT_FIELDS["target"]: _text(target, 40),
        EVENT_FIELDS["detail"]: _text(json.dumps(detail, sort_keys=True, default=str), DETAIL_LENGTH)
        if detail else None,
    }


@dataclass(frozen=True)
class Rollups:
    open: int
    last_90_days: int
    highest_open_tier: str | None
    last_escalation_date: str | None


def compute_rollups(records: Iterable[EscalationRecord], tier_order: Sequence[str], now: datetime) -> Rollups:
    """The Account's roll-ups from every escalation of that customer. Blocked-only
    attempts are not escalations and are not counted."""
    since = now - timedelta(days=90)
    rank = {key: i for i, key in enumerate(tier_order)}
    open_count = recent = 0
    highest: str | None = None
    last: datetime | None = None
    for record in records:
        if record.state not in ("open", "resolved"):
            continue
        started = record.opened_at or record.escalated_at
        if record.state == "open":
            open_count += 1
            if record.tier and (highest is None or rank.get(record.tier, -1) > rank.get(highest, -1)):
                highest = record.tier
        if started is not None:
            if started >= since:
                recent += 1
            if last is None or started > last:
                last = started
    return Rollups(open_count, recent, highest,
                   last.astimezone(timezone.utc).date().isoformat() if last else None)


def rollup_fields(rollups: Rollups) -> dict[str, Any]:
    return {ROLLUP_FIELDS["open"]: rollups.open, ROLLUP_FIELDS["last_90_days"]: rollups.last_90_days,
            ROLLUP_FIELDS["highest_open_tier"]: rollups.highest_open_tier,
            ROLLUP_FIELDS["last_escalation_date"]: rollups.last_escalation_date}


# -- the request --------------------------------------------------------------------------

def _base() -> str:
    return f"/services/data/v{API_VERSION}"


def composite_request(mapping: SalesforceMapping, ticket_id: int, escalation: Mapping[str, Any],
                      events: Sequence[Mapping[str, Any]], account_id: str | None,
                      rollups: Mapping[str, Any] | None) -> dict[str, Any]:
    """One ``POST composite`` body: upsert the escalation by its external ID, upsert the
    timeline rows by theirs (sObject collections, 200 a subrequest), update the Account's
    roll-ups. ``allOrNone``: a failure leaves Salesforce as it was."""
    base = _base()
    key = quote(escalation_key(ticket_id), safe="")
    subrequests: list[dict[str, Any]] = [{
        "method": "PATCH", "referenceId": "escalation",
        "url": f"{base}/sobjects/{mapping.escalation_object}/{mapping.external_id_field}/{key}",
        "body": dict(escalation),
    }]
    if events and mapping.event_object:
        for index in range(0, len(events), MAX_COLLECTION):
            subrequests.append({
                "method": "PATCH", "referenceId": f"events{index // MAX_COLLECTION}",
                "url": f"{base}/composite/sobjects/{mapping.event_object}/{EVENT_KEY_FIELD}",
                "body": {"allOrNone": True, "records": [dict(e) for e in events[index:index + MAX_COLLECTION]]},
            })
    if account_id and rollups is not None:
        subrequests.append({"method": "PATCH", "referenceId": "account",
                            "url": f"{base}/sobjects/{ACCOUNT}/{quote(account_id, safe='')}",
                            "body": dict(rollups)})
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ValueError(f"{len(subrequests)} subrequests: more than the {MAX_SUBREQUESTS} one composite takes")
    return {"allOrNone": True, "compositeRequest": subrequests}


def split_events(events: Sequence[Any], per_request: int = MAX_COLLECTION * (MAX_SUBREQUESTS - 2)) -> list[Sequence[Any]]:
    """Timeline rows in batches that each fit one composite request."""
    if not events:
        return [events]
    return [events[i:i + per_request] for i in range(0, len(events), per_request)]


def request_digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:24]


def account_query(mapping: SalesforceMapping, value: str) -> str | None:
    """The SOQL finding the Account for ``value``; None when ``value`` cannot match
    (an ``Id`` match with a value that is not an ID)."""
    field = mapping.account_match_field
    if field == "Id" and not _id_shaped(value):
        return None
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"SELECT Id FROM {ACCOUNT} WHERE {field} = '{escaped}' LIMIT 2"


def _id_shaped(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum() and value.isascii()
