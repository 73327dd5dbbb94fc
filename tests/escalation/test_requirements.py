"""The requirements check: what an agent must fix before an escalation goes ahead.

Most tests use the shipped manifest; a few build a small one to reach a check the shipped
one does not configure (a maximum, a regex, no ``one_of`` on the escalation type).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.escalation.requirements import Missing, check_requirements
from connector.escalation.ticket import TicketSnapshot
from connector.manifest import Level, parse_manifest
from tests.escalation.shipped import SHIPPED, TITLES

L2 = SHIPPED.zendesk.levels[0]
CEO = SHIPPED.zendesk.levels[-1]
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
PAN = "4111111111111111"
FAST = settings(derandomize=True, database=None, max_examples=60, deadline=None)

GENERAL = {
    "customer_id": "CUST-1042",
    "issue_summary": "Payment run did not start",
    "timeline": "Scheduled 09:00, nothing by 09:30; called twice",
    "actions_taken": "Restarted the connector; checked the bank file",
    "escalation_reason": "Payroll for 400 people is due today",
    "escalation_type": "general",
}
FINANCIAL = {
    **GENERAL,
    "escalation_type": "financial",
    "amount": "12,500.00",
    "currency": "usd",
    "transaction_ids": "TX-2026-0001,\nTX-2026-0002",
    "transaction_status": "failed",
}
COMPLIANCE = {
    **GENERAL,
    "escalation_type": "compliance",
    "violation_type": "Audit trail gap",
    "evidence": "https://example.test/logs/1",
    "risk_assessment": "High: period close on Friday",
}


def ticket(fields: dict, titles: dict | None = None) -> TicketSnapshot:
    return TicketSnapshot(id=1, status="open", updated_at=NOW, custom_status_id=L2.custom_status_id,
                          fields=fields, field_titles=TITLES if titles is None else titles)


def check(fields: dict, manifest=SHIPPED, level: Level = L2) -> tuple[Missing, ...]:
    return check_requirements(manifest, ticket(fields), level)


def reasons(fields: dict, manifest=SHIPPED) -> dict[str, str]:
    return {item.field: item.reason for item in check(fields, manifest)}


def small_manifest(validate: dict, *, all_fields=("customer_id",), by_type=None) -> object:
    fields = {name: index for index, name in enumerate(
        ["customer_id", "escalation_type", "amount", "reference", "urgent", "acknowledged"], start=1)}
    fields["urgent"] = {"id": fields["urgent"], "format": "checkbox"}
    fields["acknowledged"] = {"id": fields["acknowledged"], "format": "checkbox"}
    return parse_manifest({
        "version": 1,
        "zendesk": {"fields": fields, "levels": [{"name": "L2", "custom_status_id": 7001}]},
        "requirements": {"all": list(all_fields), "by_type": by_type or {}, "validate": validate},
        "tiers": {"T1": {"name": "Standard", "targets": {}, "update_every": "24h"}},
        "default_tier": "T1",
    })


# -- complete records ------------------------------------------------------------------

@pytest.mark.parametrize("fields", [GENERAL, FINANCIAL, COMPLIANCE], ids=["general", "financial", "compliance"])
def test_complete_escalation_has_nothing_missing(fields):
    assert check(fields) == ()


def test_the_same_requirements_apply_at_every_level():
    fields = {**FINANCIAL, "amount": "abc", "timeline": ""}
    assert check(fields, level=L2) == check(fields, level=CEO)
    assert len(check(fields, level=L2)) == 2


# -- empty fields ----------------------------------------------------------------------

def test_empty_required_fields_are_named_by_their_zendesk_title_in_manifest_order():
    fields = {**GENERAL, "customer_id": None, "timeline": "   ", "escalation_reason": ""}
    assert check(fields) == (
        Missing("customer_id", "Customer ID", "is empty"),
        Missing("timeline", "Timeline", "is empty"),
        Missing("escalation_reason", "Why escalating", "is empty"),
    )


def test_a_field_without_a_known_title_gets_a_readable_name():
    found = check_requirements(SHIPPED, ticket({**GENERAL, "actions_taken": None}, titles={}), L2)
    assert [str(item) for item in found] == ["Actions taken: is empty"]


def test_financial_escalation_needs_amount_currency_ids_and_status():
    fields = {**GENERAL, "escalation_type": "financial"}
    assert check(fields) == tuple(
        Missing(name, TITLES[name], "is empty (needed for financial escalations)")
        for name in ("amount", "currency", "transaction_ids", "transaction_status")
    )


def test_compliance_escalation_needs_violation_evidence_and_risk():
    fields = {**GENERAL, "escalation_type": "compliance", "evidence": "  "}
    assert [item.field for item in check(fields)] == ["violation_type", "evidence", "risk_assessment"]


def test_escalation_type_is_compared_without_case():
    fields = {**GENERAL, "escalation_type": "Financial"}
    assert [item.field for item in check(fields)] == ["amount", "currency", "transaction_ids", "transaction_status"]


def test_missing_escalation_type_is_itself_a_problem():
    assert check({**GENERAL, "escalation_type": None}) == (
        Missing("escalation_type", "Escalation type", "is empty"),
    )


def test_unknown_escalation_type_is_refused_by_its_one_of():
    assert reasons({**GENERAL, "escalation_type": "crypto"}) == {
        "escalation_type": '"crypto" is not one of general, financial, compliance',
    }


def test_unknown_escalation_type_is_refused_without_a_one_of_too():
    manifest = small_manifest({}, by_type={"financial": ["amount"]})
    assert reasons({"customer_id": "C1", "escalation_type": "crypto"}, manifest) == {
        "escalation_type": '"crypto" is not an escalation type — use one of financial, general',
    }
    assert reasons({"customer_id": "C1", "escalation_type": "GENERAL"}, manifest) == {}


def test_escalation_type_is_needed_when_by_type_exists_even_if_all_forgets_it():
    manifest = small_manifest({}, by_type={"financial": ["amount"]})
    assert reasons({"customer_id": "C1"}, manifest) == {"escalation_type": "is empty"}


def test_urgent_escalation_without_a_reason_is_refused():
    assert check({**GENERAL, "urgent": True}) == (
        Missing("urgency_reason", "Urgency reason", "is empty (needed because Urgent is ticked)"),
    )


@pytest.mark.parametrize("urgent", [False, None])
def test_a_reason_is_not_needed_when_not_urgent(urgent):
    assert check({**GENERAL, "urgent": urgent}) == ()


def test_an_urgent_escalation_with_its_reason_passes():
    assert check({**GENERAL, "urgent": True, "urgency_reason": "Regulator deadline at 17:00"}) == ()


def test_a_required_checkbox_must_be_ticked():
    manifest = small_manifest({}, all_fields=("customer_id", "acknowledged"))
    assert reasons({"customer_id": "C1", "acknowledged": False}, manifest) == {"acknowledged": "is not ticked"}
    assert reasons({"customer_id": "C1", "acknowledged": True}, manifest) == {}


def test_each_field_is_reported_once():
    manifest = small_manifest({"amount": {"decimal": {"min": "0.01"}}}, all_fields=("customer_id", "amount"),
                              by_type={"financial": ["amount", "customer_id"]})
    found = check({"escalation_type": "financial"}, manifest)
    assert [item.field for item in found] == ["customer_id", "amount"]
    assert [item.reason for item in found] == ["is empty", "is empty"]


# -- amounts ---------------------------------------------------------------------------

@pytest.mark.parametrize("amount", [
    "12,500.00", "12500", "0.01", "1,000", "1,234,567.5", ".50", " 250.00 ", 1250, 12.5, "+3",
])
def test_these_amounts_are_accepted(amount):
    assert reasons({**FINANCIAL, "amount": amount}) == {}


@pytest.mark.parametrize("amount", ["0", "0.00", "-5", "0.001", 0, -12.5])
def test_amounts_below_the_minimum_are_refused_with_the_minimum(amount):
    reason = reasons({**FINANCIAL, "amount": amount})["amount"]
    assert reason.endswith("is too small — it must be at least 0.01")


@pytest.mark.parametrize("amount", ["abc", "1e3", "12,50", "12 500", "$12", "NaN", "Infinity", "1.2.3", "1,2345"])
def test_text_that_is_not_an_amount_is_refused(amount):
    assert reasons({**FINANCIAL, "amount": amount}) == {
        "amount": f'"{amount}" is not an amount — write digits, e.g. 1250.00',
    }


def test_amount_above_the_maximum_is_refused():
    manifest = small_manifest({"amount": {"decimal": {"min": "1", "max": "100"}}})
    assert reasons({"customer_id": "C1", "amount": "100.00"}, manifest) == {}
    assert reasons({"customer_id": "C1", "amount": "100.01"}, manifest) == {
        "amount": '"100.01" is too large — it must be at most 100',
    }


def test_a_decimal_check_without_bounds_takes_any_number():
    manifest = small_manifest({"amount": {"decimal": {}}}, all_fields=("amount",))
    assert reasons({"amount": "-4"}, manifest) == {}
    assert reasons({"amount": "four"}, manifest) == {"amount": '"four" is not an amount — write digits, e.g. 1250.00'}


# -- one_of ----------------------------------------------------------------------------

@pytest.mark.parametrize("currency", ["usd", "USD", "Usd", " eur ", "usdt"])
def test_currency_is_compared_without_case(currency):
    assert reasons({**FINANCIAL, "currency": currency}) == {}


def test_unknown_currency_names_the_allowed_ones():
    assert reasons({**FINANCIAL, "currency": "XYZ"}) == {
        "currency": '"XYZ" is not one of CAD, EUR, GBP, USD, USDT',
    }


def test_a_value_check_applies_to_fields_that_are_not_required():
    assert reasons({**GENERAL, "signal": "meteor_strike"})["signal"].startswith(
        '"meteor_strike" is not one of payment_run_not_initiated, ')
    assert reasons({**GENERAL, "signal": "Duplicate_Payment"}) == {}


def test_a_multi_select_needs_every_option_allowed():
    manifest = small_manifest({"reference": {"one_of": ["a", "b"]}})
    assert reasons({"customer_id": "C1", "reference": ["a", "B"]}, manifest) == {}
    assert reasons({"customer_id": "C1", "reference": ["a", "c"]}, manifest) == {
        "reference": '"c" is not one of a, b',
    }


# -- list_of ---------------------------------------------------------------------------

@pytest.mark.parametrize("ids", [
    "TX-2026-0001",
    "TX-2026-0001,TX-2026-0002",
    "TX-2026-0001, TX-2026-0002",
    "TX-2026-0001\nTX-2026-0002",
    "TX-2026-0001,\nTX-2026-0002",
    "TX-2026-0001 ,, \n\n\tTX-2026-0002,",
    "\r\nTX-2026-0001\r\nTX-2026-0002\r\n",
])
def test_transaction_ids_may_be_separated_by_commas_spaces_and_new_lines(ids):
    assert reasons({**FINANCIAL, "transaction_ids": ids}) == {}


def test_one_bad_transaction_id_is_quoted():
    assert reasons({**FINANCIAL, "transaction_ids": "TX-2026-0001\ntx#1"}) == {
        "transaction_ids": '"tx#1" does not look like a transaction ID',
    }


def test_several_bad_transaction_ids_are_listed_up_to_three():
    found = reasons({**FINANCIAL, "transaction_ids": "a1, TX-2026-0001, b2"})
    assert found == {"transaction_ids": '"a1" and "b2" do not look like transaction IDs'}
    found = reasons({**FINANCIAL, "transaction_ids": "a1 b2 c3 d4 e5"})
    assert found == {"transaction_ids": '"a1", "b2", "c3" and 2 more do not look like transaction IDs'}


def test_transaction_ids_that_are_only_separators_are_empty():
    assert reasons({**FINANCIAL, "transaction_ids": " ,\n, "}) == {"transaction_ids": "is empty"}


def test_list_items_are_described_by_the_field_title():
    manifest = small_manifest({"reference": {"list_of": "^R[0-9]+$"}})
    found = check_requirements(manifest, ticket({"customer_id": "C1", "reference": "R1 x"},
                                                titles={"reference": "Order numbers"}), L2)
    assert found[0].reason == '"x" does not look like an order number'
    found = check_requirements(manifest, ticket({"customer_id": "C1", "reference": "R1 x"},
                                                titles={"reference": "Reference"}), L2)
    assert found[0].reason == '"x" does not look like a valid entry for Reference'


@FAST
@given(
    ids=st.lists(st.from_regex(r"\A[A-Za-z0-9_-]{6,20}\Z"), min_size=1, max_size=6),
    separators=st.lists(st.sampled_from([",", " ", "\n", ", ", ",\n", "\r\n", " ,\t", ",,"]), min_size=6, max_size=6),
)
def test_any_valid_ids_joined_by_any_separators_pass(ids, separators):
    text = "".join(item + separator for item, separator in zip(ids, separators))
    assert reasons({**FINANCIAL, "transaction_ids": text}) == {}


# -- regex -----------------------------------------------------------------------------

def test_regex_check_quotes_the_value():
    manifest = small_manifest({"customer_id": {"regex": "^CUST-[0-9]+$"}})
    assert reasons({"customer_id": "CUST-77"}, manifest) == {}
    assert check_requirements(manifest, ticket({"customer_id": "acme"}), L2) == (
        Missing("customer_id", "Customer ID", '"acme" is not in the form Customer ID expects'),
    )


def test_long_values_are_shortened_in_the_reason():
    manifest = small_manifest({"customer_id": {"regex": "^CUST-[0-9]+$"}})
    reason = reasons({"customer_id": "x" * 300}, manifest)["customer_id"]
    assert reason == '"' + "x" * 39 + '…" is not in the form Customer ID expects'


# -- card numbers ----------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("currency", PAN),
    ("currency", "4111 1111 1111 1111"),
    ("amount", "card 4111-1111-1111-1111"),
    ("transaction_ids", "4111 1111 1111 1111"),
    ("transaction_ids", "TX-2026-0001, 4111 1111 1111 1111, bad#"),
    ("signal", "x" * 30 + " 4111111111111111"),  # the cut falls inside the card number
])
def test_a_card_number_in_a_value_is_never_echoed(field, value):
    found = check({**FINANCIAL, field: value})
    assert found, "the value should have failed its check"
    digits = re.sub(r"\D", "", " ".join(str(item) for item in found))
    assert PAN[:12] not in digits
    assert "411111" not in digits


def _luhn_complete(prefix: str) -> str:
    for last in "0123456789":
        candidate = prefix + last
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char)
            if index % 2:
                digit = digit * 2 - 9 if digit > 4 else digit * 2
            total += digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable")


@FAST
@given(
    body=st.from_regex(r"\A[3-6][0-9]{14}\Z"),
    separator=st.sampled_from(["", " ", "-"]),
    field=st.sampled_from(["amount", "currency", "transaction_ids", "signal", "escalation_type"]),
    before=st.sampled_from(["", "card ", "TX#1 "]),
)
def test_no_card_number_survives_into_any_reason(body, separator, field, before):
    pan = _luhn_complete(body)
    written = separator.join(pan[i:i + 4] for i in range(0, 16, 4))
    found = check({**FINANCIAL, field: before + written + " #"})
    digits = re.sub(r"\D", "", " ".join(str(item) for item in found))
    assert pan[:12] not in digits
