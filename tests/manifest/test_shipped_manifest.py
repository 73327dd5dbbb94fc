"""The shipped manifest is valid and says what the playbooks say."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from connector.escalation.durations import Duration
from connector.manifest import (
    FieldCondition, FieldSet, OneOf, PublicReply, StatusReached, load_manifest, placeholder_ids,
)
from connector.manifest.model import PLACEHOLDER_IDS
from tests.manifest.conftest import SHIPPED

# The signal matrix of the fintech playbook: signal -> the tier range it gives.
SIGNAL_MATRIX = {
    "payment_run_not_initiated": {"T2"},
    "reconciliation_variance": {"T2", "T3"},
    "duplicate_payment": {"T3"},
    "ach_return_spike": {"T2", "T3"},
    "unusual_login": {"T3", "T4"},
    "audit_support_request": {"T1", "T2"},
    "vendor_legal_threat": {"T3"},
    "erp_integration_failure": {"T2"},
}


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(SHIPPED)


def test_shipped_manifest_is_valid(manifest):
    assert manifest.version == 1


def test_levels_go_l2_cio_ceo(manifest):
    assert [level.name for level in manifest.zendesk.levels] == ["L2", "CIO", "CEO"]
    assert manifest.zendesk.on_incomplete == "revert"


def test_every_signal_of_the_matrix_is_a_dropdown_value_with_one_rule_in_its_range(manifest):
    signal_check = manifest.requirements.validate["signal"]
    assert isinstance(signal_check, OneOf)
    assert set(signal_check.values) == set(SIGNAL_MATRIX)
    assert manifest.zendesk.fields["signal"].format == "dropdown"
    tier_of_signal = {}
    for rule in manifest.rules:
        when = rule.when
        if isinstance(when, FieldCondition) and when.field == "signal":
            assert when.op == "equals"
            assert when.value not in tier_of_signal, f"two rules for {when.value}"
            tier_of_signal[when.value] = rule.tier
    assert set(tier_of_signal) == set(SIGNAL_MATRIX)
    for signal, tier in tier_of_signal.items():
        assert tier in SIGNAL_MATRIX[signal], f"{signal} gives {tier}, outside {SIGNAL_MATRIX[signal]}"


def test_every_ranged_signal_explains_its_choice_in_a_comment():
    text = SHIPPED.read_text(encoding="utf-8")
    for signal, tiers in SIGNAL_MATRIX.items():
        if len(tiers) > 1:
            before = text[: text.index(f"equals: {signal}}}")]
            comment = before[before.rindex("- name:") - 400: before.rindex("- name:")]
            assert "Matrix range" in comment, signal


def test_four_tiers_with_the_playbook_sla_targets(manifest):
    assert [tier.key for tier in manifest.tiers] == ["T1", "T2", "T3", "T4"]

    def target(tier, name):
        return manifest.tier(tier).target(name)

    assert target("T1", "first_response").within == Duration(4, "h")
    assert target("T1", "first_response").calendar == "business"
    assert target("T1", "first_response").met_when == PublicReply()
    assert target("T1", "resolve").within == Duration(2, "d")
    assert target("T1", "resolve").met_when == StatusReached("solved")
    assert target("T2", "ack").within == Duration(1, "h")
    assert target("T2", "ack").calendar == "24x7"
    assert target("T2", "triage").within == Duration(4, "h")
    assert target("T3", "bridge").within == Duration(30, "m")
    assert target("T3", "bridge").met_when == FieldSet("bridge_opened")
    for tier in ("T3", "T4"):
        assert target(tier, "rca").within == Duration(5, "d")
        assert target(tier, "rca").calendar == "business"
        assert target(tier, "rca").start_from == "resolved"
        assert target(tier, "pir").within == Duration(5, "d")
        assert target(tier, "pir").start_from == "resolved"
    assert target("T4", "incident_commander").within == Duration(15, "m")


def test_update_cadence_hourly_daily_and_every_48_hours(manifest):
    cadence = {tier.key: tier.update_every for tier in manifest.tiers}
    assert cadence == {"T1": Duration(48, "h"), "T2": Duration(24, "h"), "T3": Duration(1, "h"),
                       "T4": Duration(1, "h")}


def test_required_fields_per_escalation_type(manifest):
    req = manifest.requirements
    assert req.all == ("customer_id", "issue_summary", "timeline", "actions_taken", "escalation_reason",
                       "escalation_type")
    assert req.by_type["financial"] == ("amount", "currency", "transaction_ids", "transaction_status")
    assert req.by_type["compliance"] == ("violation_type", "evidence", "risk_assessment")
    assert req.when_urgent == ("urgency_reason",)
    assert req.required_for("Financial", urgent=True)[-5:] == (
        "amount", "currency", "transaction_ids", "transaction_status", "urgency_reason")
    assert set(req.validate["escalation_type"].values) == {"general", "financial", "compliance"}


def test_currencies_and_value_checks(manifest):
    checks = manifest.requirements.validate
    assert set(checks["currency"].values) == {"CAD", "EUR", "GBP", "USD", "USDT"}
    assert checks["amount"].min == Decimal("0.01")
    assert re.fullmatch(checks["transaction_ids"].pattern, "TX_123456")


def test_every_zendesk_id_is_a_marked_placeholder(manifest):
    ids = [ref.id for ref in manifest.zendesk.fields.values()]
    ids += [level.custom_status_id for level in manifest.zendesk.levels]
    assert all(value in PLACEHOLDER_IDS for value in ids)
    assert len(placeholder_ids(manifest)) == len(ids)
    for line in SHIPPED.read_text(encoding="utf-8").splitlines():
        if re.search(r"\b99\d{4}\b", line.split("#")[0]):
            assert "# REPLACE" in line, line


def test_due_fields_exist_for_every_target(manifest):
    fields = manifest.zendesk.fields
    for tier in manifest.tiers:
        for target in tier.targets:
            assert fields[target.due_field].format in ("text", "date")
    assert "next_update_due_at" in fields
