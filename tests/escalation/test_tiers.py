"""Tier rules: every condition form, the highest tier winning, and the shipped signal matrix."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.escalation.ticket import RuleFacts, TicketSnapshot
from connector.escalation.tiers import (
    TierDecision,
    classify,
    describe_rule,
    matches,
    rule_windows,
)
from connector.manifest import Rule, TagCondition, load_manifest, parse_manifest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_manifest(REPO / "manifest" / "connector.yaml")
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
FAST = settings(derandomize=True, database=None, max_examples=80, deadline=None)

FIELDS = ["signal", "amount", "escalation_type", "product_bug", "region", "count"]


def manifest_with(rules: list[dict], default_tier: str = "T1"):
    fields = {name: index for index, name in enumerate(FIELDS, start=1)}
    fields["product_bug"] = {"id": fields["product_bug"], "format": "checkbox"}
    return parse_manifest({
        "version": 1,
        "zendesk": {"fields": fields, "levels": [{"name": "L2", "custom_status_id": 7001}]},
        "tiers": {key: {"name": f"Tier {key}", "targets": {}, "update_every": "24h"}
                  for key in ("T1", "T2", "T3", "T4")},
        "rules": rules,
        "default_tier": default_tier,
    })


def ticket(fields: dict | None = None, tags=(), organization_tags=()) -> TicketSnapshot:
    return TicketSnapshot(id=7, status="open", updated_at=NOW, custom_status_id=7001, fields=fields or {},
                          tags=frozenset(tags), organization_tags=frozenset(organization_tags))


def fires(when: dict, fields: dict | None = None, facts: RuleFacts = RuleFacts(), **ticket_args) -> bool:
    manifest = manifest_with([{"name": "Only rule", "when": when, "tier": "T3"}])
    decision = classify(manifest, ticket(fields, **ticket_args), facts)
    assert decision.tier in ("T1", "T3")
    return decision.fired == ("Only rule",)


# -- each condition form ---------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("duplicate_payment", True),
    ("Duplicate_Payment", True),
    ("  duplicate_payment ", True),
    ("duplicate", False),
    (None, False),
    ("", False),
    (["other", "duplicate_payment"], True),
])
def test_equals_compares_text_without_case(value, expected):
    assert fires({"field": "signal", "equals": "duplicate_payment"}, {"signal": value}) is expected


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (None, False), ("true", True)])
def test_equals_true_reads_a_checkbox(value, expected):
    assert fires({"field": "product_bug", "equals": True}, {"product_bug": value}) is expected


@pytest.mark.parametrize("value, expected", [(False, True), (None, True), (True, False)])
def test_equals_false_matches_an_unticked_or_unset_checkbox(value, expected):
    assert fires({"field": "product_bug", "equals": False}, {"product_bug": value}) is expected


@pytest.mark.parametrize("value, expected", [(3, True), ("3", True), ("3.00", True), (3.0, True), ("4", False)])
def test_equals_a_number_compares_numerically(value, expected):
    assert fires({"field": "count", "equals": 3}, {"count": value}) is expected


@pytest.mark.parametrize("value, expected", [("eu", True), ("US", True), ("apac", False), (None, False)])
def test_in_matches_any_listed_value(value, expected):
    assert fires({"field": "region", "in": ["eu", "us"]}, {"region": value}) is expected


@pytest.mark.parametrize("amount, expected", [
    ("10000", True), ("12,500.00", True), (10000, True), (10000.5, True), ("9999.99", False),
    ("abc", False), (None, False), ("", False), (True, False), ("1e5", False),
])
def test_gte_reads_the_value_as_an_amount(amount, expected):
    assert fires({"field": "amount", "gte": 10000}, {"amount": amount}) is expected


@pytest.mark.parametrize("amount, expected", [("5", True), ("4.99", True), ("5.01", False), ("five", False)])
def test_lte_reads_the_value_as_an_amount(amount, expected):
    assert fires({"field": "amount", "lte": "5"}, {"amount": amount}) is expected


@pytest.mark.parametrize("value, present", [
    ("x", True), (" ", False), ("", False), (None, False), (True, True), (False, False), (0, True), ([], False),
])
def test_present_means_the_field_has_a_value(value, present):
    assert fires({"field": "region", "present": True}, {"region": value}) is present
    assert fires({"field": "region", "present": False}, {"region": value}) is not present


def test_a_field_missing_from_the_ticket_is_empty():
    assert fires({"field": "region", "present": False}, {})
    assert not fires({"field": "region", "equals": "eu"}, {})


def test_tag_matches_the_tickets_tags():
    assert fires({"tag": "security_incident"}, tags={"vip", "security_incident"})
    assert fires({"tag": "security_incident"}, tags={"Security_Incident"})
    assert not fires({"tag": "security_incident"}, tags={"security"})
    assert not fires({"tag": "security_incident"}, organization_tags={"security_incident"})


def test_organization_tag_matches_the_organizations_tags():
    assert fires({"organization_tag": "strategic"}, organization_tags={"strategic"})
    assert not fires({"organization_tag": "strategic"}, tags={"strategic"})


@pytest.mark.parametrize("comment, expected", [
    ("We will take legal action if this is not fixed", True),
    ("Our LAWYER is copied", True),
    ("Please call me", False),
    ("lawyers", False),
    (None, False),
])
def test_latest_requester_comment_is_searched_with_the_pattern(comment, expected):
    when = {"latest_requester_comment_matches": r"(?i)\b(lawyer|legal action)\b"}
    assert fires(when, facts=RuleFacts(latest_requester_comment=comment)) is expected


@pytest.mark.parametrize("counts, expected", [({7: 3}, True), ({7: 9}, True), ({7: 2}, False), ({30: 5}, False), ({}, False)])
def test_requester_tickets_within_reads_the_count_for_its_window(counts, expected):
    when = {"requester_tickets_within": {"days": 7, "at_least": 3}}
    assert fires(when, facts=RuleFacts(requester_ticket_counts=counts)) is expected


def test_all_any_and_not_combine_conditions():
    when = {"all": [
        {"any": [{"tag": "a"}, {"tag": "b"}]},
        {"not": {"field": "region", "equals": "eu"}},
    ]}
    assert fires(when, {"region": "us"}, tags={"b"})
    assert not fires(when, {"region": "eu"}, tags={"b"})
    assert not fires(when, {"region": "us"}, tags={"c"})
    assert fires(when, {}, tags={"a"})


def test_not_inverts_a_missing_fact():
    when = {"not": {"requester_tickets_within": {"days": 7, "at_least": 3}}}
    assert fires(when, facts=RuleFacts())


def test_an_unknown_condition_is_a_programming_error():
    with pytest.raises(TypeError):
        matches(object(), ticket(), RuleFacts())  # type: ignore[arg-type]


# -- choosing the tier -----------------------------------------------------------------

RULES = [
    {"name": "Repeat contact", "when": {"requester_tickets_within": {"days": 7, "at_least": 3}}, "tier": "T2"},
    {"name": "Duplicate payment", "when": {"field": "signal", "equals": "duplicate_payment"}, "tier": "T3"},
    {"name": "Security", "when": {"tag": "security_incident"}, "tier": "T4"},
    {"name": "Big amount", "when": {"field": "amount", "gte": 10000}, "tier": "T3"},
]


def test_no_rule_firing_gives_the_default_tier():
    decision = classify(manifest_with(RULES), ticket({"signal": "other"}), RuleFacts())
    assert decision == TierDecision("T1", (), ())
    assert decision.is_default


def test_the_highest_tier_among_fired_rules_wins():
    decision = classify(manifest_with(RULES), ticket({"signal": "duplicate_payment"}, tags={"security_incident"}),
                        RuleFacts(requester_ticket_counts={7: 5}))
    assert decision == TierDecision("T4", ("Repeat contact", "Duplicate payment", "Security"), ("Security",))


def test_every_rule_that_gave_the_winning_tier_is_named_in_manifest_order():
    decision = classify(manifest_with(RULES), ticket({"signal": "duplicate_payment", "amount": "25,000"}),
                        RuleFacts(requester_ticket_counts={7: 5}))
    assert decision.tier == "T3"
    assert decision.fired == ("Repeat contact", "Duplicate payment", "Big amount")
    assert decision.winning_rules == ("Duplicate payment", "Big amount")


def test_the_tier_order_is_the_manifests_not_the_names():
    manifest = manifest_with(RULES)
    reordered = dataclasses.replace(manifest, tiers=tuple(reversed(manifest.tiers)))  # T4 lowest … T1 highest
    decision = classify(reordered, ticket({"signal": "duplicate_payment"}, tags={"security_incident"}), RuleFacts())
    assert decision.tier == "T3"


def test_the_default_tier_is_not_a_floor():
    manifest = manifest_with([{"name": "Known noise", "when": {"tag": "noise"}, "tier": "T1"}], default_tier="T2")
    assert classify(manifest, ticket(), RuleFacts()).tier == "T2"
    assert classify(manifest, ticket(tags={"noise"}), RuleFacts()).tier == "T1"


CONDITION_POOL = [
    {"tag": "a"}, {"tag": "b"}, {"organization_tag": "vip"},
    {"field": "signal", "equals": "duplicate_payment"}, {"field": "amount", "gte": 100},
    {"field": "region", "present": True}, {"requester_tickets_within": {"days": 7, "at_least": 2}},
    {"not": {"tag": "a"}}, {"any": [{"tag": "b"}, {"field": "amount", "lte": 5}]},
]
BASE = manifest_with([
    {"name": f"rule {index}", "when": when, "tier": f"T{1 + index % 4}"}
    for index, when in enumerate(CONDITION_POOL)
])


@FAST
@given(
    chosen=st.lists(st.sampled_from(range(len(BASE.rules))), unique=True),
    extra_tier=st.sampled_from(["T1", "T2", "T3", "T4"]),
    position=st.integers(min_value=0),
    tags=st.sets(st.sampled_from(["a", "b", "c"])),
    organization_tags=st.sets(st.sampled_from(["vip", "other"])),
    signal=st.sampled_from([None, "duplicate_payment", "other"]),
    amount=st.sampled_from([None, "3", "150", "abc"]),
    region=st.sampled_from([None, "eu", ""]),
    count=st.sampled_from([None, 0, 2, 9]),
)
def test_adding_a_rule_that_fires_never_lowers_the_tier(chosen, extra_tier, position, tags, organization_tags,
                                                         signal, amount, region, count):
    rules = [BASE.rules[index] for index in chosen]
    manifest = dataclasses.replace(BASE, rules=tuple(rules))
    subject = ticket({"signal": signal, "amount": amount, "region": region},
                     tags=tags | {"always"}, organization_tags=organization_tags)
    facts = RuleFacts(requester_ticket_counts={} if count is None else {7: count})
    before = classify(manifest, subject, facts)

    extra = Rule("extra", TagCondition("always"), extra_tier)
    rules.insert(position % (len(rules) + 1), extra)
    after = classify(dataclasses.replace(manifest, rules=tuple(rules)), subject, facts)

    assert manifest.tier_rank(after.tier) >= manifest.tier_rank(before.tier)
    assert manifest.tier_rank(after.tier) >= manifest.tier_rank(extra_tier)
    assert "extra" in after.fired
    assert set(after.fired) == set(before.fired) | {"extra"}
    assert set(after.winning_rules) <= set(after.fired)


@FAST
@given(st.permutations(range(len(BASE.rules))), st.sets(st.sampled_from(["a", "b", "c"])),
       st.sampled_from([None, "150", "3"]))
def test_the_tier_does_not_depend_on_rule_order(order, tags, amount):
    shuffled = dataclasses.replace(BASE, rules=tuple(BASE.rules[index] for index in order))
    subject = ticket({"amount": amount, "signal": "duplicate_payment"}, tags=tags)
    first, second = classify(BASE, subject, RuleFacts()), classify(shuffled, subject, RuleFacts())
    assert first.tier == second.tier
    assert set(first.winning_rules) == set(second.winning_rules)
    assert second.fired == tuple(rule.name for rule in shuffled.rules if rule.name in first.fired)


# -- windows and words -----------------------------------------------------------------

def test_rule_windows_are_the_distinct_days_anywhere_in_the_rules():
    manifest = manifest_with([
        {"name": "a", "when": {"requester_tickets_within": {"days": 7, "at_least": 3}}, "tier": "T2"},
        {"name": "b", "when": {"all": [{"tag": "x"}, {"not": {"requester_tickets_within": {"days": 30, "at_least": 9}}}]},
         "tier": "T2"},
        {"name": "c", "when": {"any": [{"requester_tickets_within": {"days": 7, "at_least": 5}}, {"tag": "y"}]},
         "tier": "T3"},
    ])
    assert rule_windows(manifest) == frozenset({7, 30})
    assert rule_windows(manifest_with([])) == frozenset()


def test_describe_rule_uses_the_manifests_words():
    rule = next(r for r in SHIPPED.rules if r.name == "Large financial exposure")
    assert describe_rule(rule) == ('Large financial exposure → T3 (when escalation_type is "financial" and '
                                   "amount is at least 10000)")


# -- the shipped signal matrix ---------------------------------------------------------

@pytest.mark.parametrize("signal, tier, rule", [
    ("payment_run_not_initiated", "T2", "Payment run not initiated by scheduled time"),
    ("reconciliation_variance", "T2", "Reconciliation variance flagged by customer"),
    ("duplicate_payment", "T3", "Duplicate payment confirmed"),
    ("ach_return_spike", "T3", "ACH return code spike"),
    ("unusual_login", "T4", "Unusual login pattern or permission escalation"),
    ("audit_support_request", "T2", "Audit support request ahead of period close"),
    ("vendor_legal_threat", "T3", "Vendor threatening legal action over non-payment"),
    ("erp_integration_failure", "T2", "Integration failure with ERP"),
])
def test_each_shipped_signal_maps_to_its_tier(signal, tier, rule):
    decision = classify(SHIPPED, ticket({"signal": signal}), RuleFacts())
    assert (decision.tier, decision.winning_rules) == (tier, (rule,))


def test_shipped_rules_read_the_ticket_itself():
    facts = RuleFacts(latest_requester_comment="Our attorney will contact you", requester_ticket_counts={7: 3})
    decision = classify(SHIPPED, ticket({"escalation_type": "financial", "amount": "10,000.00"}), facts)
    assert decision.tier == "T3"
    assert decision.winning_rules == ("Large financial exposure", "Legal threat in the customer's words")
    assert decision.fired[-1] == "Repeat contact (three tickets in a week)"

    decision = classify(SHIPPED, ticket({"signal": "duplicate_payment"}, tags={"pci_scope"}), RuleFacts())
    assert decision.winning_rules == ("Security or PCI-DSS incident tagged",)
    assert decision.tier == "T4"


def test_the_shipped_manifest_counts_requester_tickets_over_one_week():
    assert rule_windows(SHIPPED) == frozenset({7})


def test_a_general_escalation_without_signals_is_standard():
    assert classify(SHIPPED, ticket({"escalation_type": "general", "amount": "50000"}), RuleFacts()).tier == "T1"
