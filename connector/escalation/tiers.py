"""Which tier an escalation gets: every rule of the manifest, evaluated over the ticket.

Every rule is checked (none short-circuits another); the highest tier among the rules
that fire wins, by the order of ``tiers`` in the manifest. When no rule fires the tier
is ``default_tier`` — taken literally: it is what an escalation gets *when nothing
matches*, not a floor under the rules, so a rule may give a lower tier than the default.

How each condition reads the ticket (values as :mod:`.values` reads them):

* ``{field, equals}`` — text is compared without case and surrounding spaces; a
  ``true``/``false`` compares a checkbox (an unset checkbox is ``false``); a number in
  the manifest (``equals: 3``) compares numerically, as does a number on the ticket. A
  multi-select matches when any of its options does. ``in`` is ``equals`` for any of
  its values.
* ``{field, gte|lte}`` — the value read as an amount (``12,500.00`` is 12500); a value
  that is not a number does not match.
* ``{field, present}`` — the field has a value (a checkbox: it is ticked).
* ``{tag}`` / ``{organization_tag}`` — the ticket's / organization's tags, without case.
* ``{latest_requester_comment_matches}`` — ``re.search`` over the requester's latest
  public comment; no comment does not match.
* ``{requester_tickets_within: {days, at_least}}`` — the count the plugin fetched for
  that window (:func:`rule_windows` says which). A window whose count is missing does
  not match, so a plugin that forgot to fetch it errs towards the lower tier.
* ``all`` / ``any`` / ``not`` — as in logic; ``not`` inverts whatever its condition gave,
  a missing fact included.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator

from connector.escalation.ticket import RuleFacts, TicketSnapshot
from connector.escalation.values import as_text, has_value, is_ticked, parse_amount
from connector.manifest.explain import describe_condition
from connector.manifest.model import (
    AllOf, AnyOf, CommentMatches, Condition, FieldCondition, Manifest, Not, OrganizationTagCondition,
    RequesterTicketsWithin, Rule, TagCondition,
)


@dataclass(frozen=True)
class TierDecision:
    tier: str
    """The winning tier's key (``T3``)."""
    fired: tuple[str, ...]
    """Names of every rule that fired, in manifest order."""
    winning_rules: tuple[str, ...]
    """The fired rules that gave the winning tier, in manifest order; empty when no rule
    fired and the tier is the default."""

    @property
    def is_default(self) -> bool:
        return not self.fired


def classify(manifest: Manifest, ticket: TicketSnapshot, facts: RuleFacts) -> TierDecision:
    """The tier for ``ticket`` (see module doc)."""
    fired = [rule for rule in manifest.rules if matches(rule.when, ticket, facts)]
    if not fired:
        return TierDecision(manifest.default_tier, (), ())
    best = max(manifest.tier_rank(rule.tier) for rule in fired)
    tier = manifest.tiers[best].key
    return TierDecision(
        tier=tier,
        fired=tuple(rule.name for rule in fired),
        winning_rules=tuple(rule.name for rule in fired if rule.tier == tier),
    )


def matches(condition: Condition, ticket: TicketSnapshot, facts: RuleFacts) -> bool:
    """Whether one condition (tree) holds for the ticket and facts."""
    if isinstance(condition, FieldCondition):
        return _field_matches(condition, ticket.value(condition.field))
    if isinstance(condition, TagCondition):
        return condition.tag.lower() in {tag.lower() for tag in ticket.tags}
    if isinstance(condition, OrganizationTagCondition):
        return condition.tag.lower() in {tag.lower() for tag in ticket.organization_tags}
    if isinstance(condition, CommentMatches):
        comment = facts.latest_requester_comment
        return comment is not None and re.search(condition.pattern, comment) is not None
    if isinstance(condition, RequesterTicketsWithin):
        count = facts.requester_ticket_counts.get(condition.days)
        return count is not None and count >= condition.at_least
    if isinstance(condition, AllOf):
        return all(matches(child, ticket, facts) for child in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(matches(child, ticket, facts) for child in condition.conditions)
    if isinstance(condition, Not):
        return not matches(condition.condition, ticket, facts)
    raise TypeError(f"unknown condition {condition!r}")


def _field_matches(condition: FieldCondition, value: Any) -> bool:
    op = condition.op
    if op == "present":
        return has_value(value) == condition.value
    if op in ("gte", "lte"):
        number = None if isinstance(value, bool) else parse_amount(value)
        if number is None:
            return False
        bound = Decimal(condition.value)  # type: ignore[arg-type]
        return number >= bound if op == "gte" else number <= bound
    if op == "equals":
        return _equals(value, condition.value)
    if op == "in":
        return any(_equals(value, wanted) for wanted in condition.value)  # type: ignore[union-attr]
    raise ValueError(f"unknown field comparison {op!r}")


def _equals(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool):
        return is_ticked(value) == wanted
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_equals(item, wanted) for item in value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    if isinstance(wanted, (int, float, Decimal)) or (
        isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    ):
        left, right = parse_amount(value), parse_amount(wanted)
        if left is not None and right is not None:
            return left == right
    return as_text(value).casefold() == as_text(wanted).casefold()


def rule_windows(manifest: Manifest) -> frozenset[int]:
    """The distinct ``requester_tickets_within`` windows (days) the rules use, so the
    plugin fetches each requester ticket count once."""
    return frozenset(
        condition.days
        for rule in manifest.rules
        for condition in _leaves(rule.when)
        if isinstance(condition, RequesterTicketsWithin)
    )


def rule_conditions(manifest: Manifest) -> Iterator[Condition]:
    """Every leaf condition of every rule (what the plugin must fetch facts for)."""
    for rule in manifest.rules:
        yield from _leaves(rule.when)


def _leaves(condition: Condition) -> Iterator[Condition]:
    if isinstance(condition, (AllOf, AnyOf)):
        for child in condition.conditions:
            yield from _leaves(child)
    elif isinstance(condition, Not):
        yield from _leaves(condition.condition)
    else:
        yield condition


def describe_rule(rule: Rule) -> str:
    """``Large financial exposure → T3 (when escalation_type is "financial" and amount is
    at least 10000)``; the condition words are the manifest explainer's."""
    return f"{rule.name} → {rule.tier} (when {describe_condition(rule.when)})"
