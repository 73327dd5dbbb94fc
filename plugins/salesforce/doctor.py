"""What ``connector doctor`` asks the Salesforce plugin (each function returns problems
as sentences an admin can act on; an empty list means all is well).

- :func:`unmatched_escalations`: escalations kept in the store without an Account match,
  with the reason. Fix the mapping (or the Account), then ``connector salesforce resync``.
- :func:`metadata_problems`: every object and field API name the connector writes exists
  in the org with a usable type (describe calls: one per object), external ID fields are
  external IDs and unique, and the Account field of ``account_match`` exists.
"""
from __future__ import annotations

from typing import Any

from connector.store import Store
from connector.store.escalations import Escalations
from plugins.salesforce.client import SalesforceClient
from plugins.salesforce.mapping import ACCOUNT, FieldSpec, SalesforceMapping, field_specs

DEPLOY_HINT = "deploy manifest/salesforce (sf project deploy start --source-dir force-app) or fix the API name"
COMPATIBLE = {
    "Text": {"string", "textarea", "picklist", "combobox", "email", "phone"},
    "LongTextArea": {"textarea", "string"},
    "Number": {"double", "int", "long", "currency", "percent"},
    "DateTime": {"datetime"}, "Date": {"date", "datetime"}, "Url": {"url", "string"},
    "Picklist": {"picklist", "string", "combobox"}, "Lookup": {"reference"}, "MasterDetail": {"reference"},
}


def unmatched_escalations(store: Store) -> list[str]:
    """One line per escalation Salesforce has no Account for."""
    return [f"ticket {record.ticket_id}: not mirrored to Salesforce — {record.salesforce_error or 'no Account match'}"
            f" (account_ref {record.account_ref!r}); fix it, then run `connector salesforce resync`"
            for record in Escalations(store).list(salesforce_state="unmatched")]


def _where(mapping: SalesforceMapping, spec: FieldSpec) -> str:
    return f"manifest key: {spec.manifest_key or mapping.manifest_key_for(spec.object, spec.api_name)}"


def metadata_problems(client: SalesforceClient, mapping: SalesforceMapping) -> list[str]:
    problems: list[str] = []
    specs = field_specs(mapping)
    objects = [mapping.escalation_object] + ([mapping.event_object] if mapping.event_object else []) + [ACCOUNT]
    described: dict[str, dict[str, Any] | None] = {}
    for sobject in objects:
        describe = client.describe(sobject)
        described[sobject] = {f["name"]: f for f in describe["fields"]} if describe else None
        if describe is None:
            problems.append(f"Salesforce has no object {sobject} "
                            f"(manifest key: {mapping.manifest_key_for(sobject, sobject)}); {DEPLOY_HINT}")
    for spec in specs:
        fields = described.get(spec.object)
        if fields is None:
            continue
        found = fields.get(spec.api_name)
        where = _where(mapping, spec)
        if found is None:
            problems.append(f"{spec.object}.{spec.api_name} does not exist ({where}); {DEPLOY_HINT}")
            continue
        if found.get("type") not in COMPATIBLE[spec.type]:
            problems.append(f"{spec.object}.{spec.api_name} is a {found.get('type')} field; the connector writes "
                            f"a {spec.type} there ({where})")
        if spec.external_id and not (found.get("externalId") and found.get("unique")):
            problems.append(f"{spec.object}.{spec.api_name} must be an External ID marked Unique, so that writes "
                            f"are idempotent ({where})")
        if spec.type in ("Lookup", "MasterDetail") and spec.reference_to not in (found.get("referenceTo") or []):
            problems.append(f"{spec.object}.{spec.api_name} must point to {spec.reference_to} ({where})")
        if not found.get("updateable", True) and not spec.external_id:
            problems.append(f"{spec.object}.{spec.api_name} is read-only for the connector's user: assign the "
                            f"Escalation_Connector permission set ({where})")
    account = described.get(ACCOUNT)
    if account is not None and mapping.account_match_field not in account:
        problems.append(f"Account.{mapping.account_match_field} does not exist "
                        "(manifest key: salesforce.account_match.salesforce_field)")
    return problems
