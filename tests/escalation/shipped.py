"""The shipped manifest and the Zendesk field titles an installed desk would show, shared
by the escalation domain tests."""
from __future__ import annotations

from pathlib import Path

from connector.escalation.sla import CalendarSet
from connector.manifest import load_manifest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_manifest(REPO / "manifest" / "connector.yaml")
CALENDARS = CalendarSet.from_manifest(SHIPPED)

TITLES = {
    "customer_id": "Customer ID",
    "issue_summary": "Issue summary",
    "timeline": "Timeline",
    "actions_taken": "Actions taken",
    "escalation_reason": "Why escalating",
    "escalation_type": "Escalation type",
    "amount": "Amount",
    "currency": "Currency",
    "transaction_ids": "Transaction IDs",
    "transaction_status": "Transaction status",
    "violation_type": "Violation type",
    "evidence": "Evidence",
    "risk_assessment": "Risk assessment",
    "urgent": "Urgent",
    "urgency_reason": "Urgency reason",
    "signal": "Escalation signal",
    "bridge_opened": "Bridge opened",
    "bridge_due_at": "Bridge due",
}
"""Logical field -> title, as agents see them in Zendesk (notes name fields by title)."""
