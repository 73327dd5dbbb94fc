"""Shared set-up for the Salesforce plugin tests: an org in the simulator built from the
shipped SFDX metadata (so the org has exactly what a deploy creates), the shipped
manifest's mapping, and escalation records in a test store."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from connector.escalation.sla import SlaState, TargetState
from connector.manifest import load_manifest
from connector.store.escalations import EscalationRecord, Escalations
from plugins.salesforce.client import SalesforceAuth, SalesforceClient
from plugins.salesforce.mapping import SalesforceMapping
from plugins.salesforce.metadata import simulator_schema
from plugins.salesforce.mirror import SalesforceService
from plugins.salesforce.simulator import SalesforceSimulator

ROOT = Path(__file__).resolve().parents[3]
METADATA = ROOT / "manifest" / "salesforce"
SHIPPED_MANIFEST = ROOT / "manifest" / "connector.yaml"
ZENDESK_URL = "https://acme.zendesk.com"
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
PAN = "4111 1111 1111 1111"


def shipped_mapping() -> SalesforceMapping:
    return SalesforceMapping.from_manifest(load_manifest(SHIPPED_MANIFEST))


def manifest_matching_on(tmp_path: Path, salesforce_field: str):
    """The shipped manifest with ``account_match.salesforce_field`` changed."""
    text = SHIPPED_MANIFEST.read_text().replace("salesforce_field: Id", f"salesforce_field: {salesforce_field}")
    path = tmp_path / "connector.yaml"
    path.write_text(text)
    return load_manifest(path)


def org_schema() -> dict:
    schema = simulator_schema(METADATA)
    schema["Account"]["fields"]["AccountNumber"] = "string"
    return schema


def new_org(**kwargs) -> SalesforceSimulator:
    return SalesforceSimulator(org_schema(), **kwargs)


def service_for(sim: SalesforceSimulator, mapping: SalesforceMapping, **auth) -> SalesforceService:
    auth = auth or {"instance_url": sim.url, "access_token": sim.access_token}
    return SalesforceService(SalesforceClient(SalesforceAuth(**auth), mapping=mapping), mapping, ZENDESK_URL)


def bridge_sla(escalated_at: datetime = T0, *, met_at: datetime | None = None) -> SlaState:
    return SlaState(tier="T3", escalated_at=escalated_at, targets=(
        TargetState("bridge", escalated_at + timedelta(minutes=30), escalated_at + timedelta(minutes=24), met_at,
                    "escalated", escalated_at),), next_update_due_at=escalated_at + timedelta(hours=1))


def save_escalation(escalations: Escalations, ticket_id: int, account_ref: str | None, *, organization_id: int = 7,
                    state: str = "open", tier: str = "T3", level: str = "L2", subject: str = "Duplicate payment",
                    escalated_at: datetime = T0, **extra) -> EscalationRecord:
    record = EscalationRecord(ticket_id=ticket_id, state=state, level=level, tier=tier, subject=subject,
                              escalation_type="financial", amount="25000.00", currency="usd",
                              organization_id=organization_id, account_ref=account_ref,
                              opened_at=escalated_at, escalated_at=escalated_at,
                              sla=extra.pop("sla", bridge_sla(escalated_at)), **extra)
    return escalations.save(record)
