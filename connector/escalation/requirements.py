"""Is the escalation record complete? The manifest's ``requirements``, applied to a ticket.

:func:`check_requirements` returns one :class:`Missing` per field that needs an agent's
attention, in the order the manifest lists the fields (``all``, then the type's
``by_type`` list, then ``when_urgent``, then any other field whose value fails its
check). An empty result means the escalation may go ahead.

What is checked:

* **Required fields** for the ticket's escalation type (the ``escalation_type`` value,
  compared without case to the ``by_type`` keys) and urgency (the ``urgent`` checkbox
  ticked). An empty field is reported with why it is needed when that is not obvious
  ("needed for financial escalations").
* **The escalation type itself**, when ``by_type`` is configured: empty is a problem even
  if ``all`` forgot to list it (it decides what else is needed), and so is a type the
  connector does not know — one outside ``requirements.validate.escalation_type``'s
  ``one_of`` when there is one, else one that is neither a ``by_type`` key nor
  ``general`` (the contract's type with no extra fields).
* **Values**: every field with a value is checked against ``requirements.validate``,
  required or not. How amounts and lists are read is in :mod:`.values`.

Reasons are short and written for agents. A value is only ever quoted through
:func:`.values.quoted`, which masks card numbers.

**Levels.** ``level`` is the level being entered. The manifest has no per-level
requirements today, so every level asks for the same fields; the parameter is there so
that "an upward change (L2 → CIO) re-checks that level's requirements" can grow into
per-level lists without changing callers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connector.escalation.ticket import TicketSnapshot
from connector.escalation.values import as_text, has_value, is_ticked, masked_items, parse_amount, quoted
from connector.manifest.model import DecimalValue, Level, ListOf, Manifest, OneOf, Regex, Validator

ESCALATION_TYPE = "escalation_type"
URGENT = "urgent"
GENERAL_TYPE = "general"
"""The escalation type the product contract names that adds no fields of its own; it is
known even when ``by_type`` does not list it."""
_QUOTED_ITEMS = 3


@dataclass(frozen=True)
class Missing:
    """One field that stops the escalation, and why, in words for the agent."""
    field: str
    """Logical field name."""
    title: str
    """The field's title in Zendesk (what the agent sees on the ticket)."""
    reason: str
    """``is empty``, ``"abc" is not an amount``, …; never an unmasked card number."""

    def __str__(self) -> str:
        return f"{self.title}: {self.reason}"


def check_requirements(manifest: Manifest, ticket: TicketSnapshot, level: Level) -> tuple[Missing, ...]:
    """Everything that must be fixed before ``ticket`` may enter ``level`` (see module doc)."""
    del level  # the same requirements apply at every level (module docstring)
    requirements = manifest.requirements
    escalation_type = _text_or_none(ticket.value(ESCALATION_TYPE))
    urgent = is_ticked(ticket.value(URGENT))

    needed: dict[str, str | None] = {}  # field -> why it is needed, None when obvious
    for name in requirements.all:
        needed.setdefault(name, None)
    if requirements.by_type:
        needed.setdefault(ESCALATION_TYPE, None)
    if escalation_type is not None:
        for key, names in requirements.by_type.items():
            if key.lower() == escalation_type.lower():
                for name in names:
                    needed.setdefault(name, f"needed for {key} escalations")
    if urgent:
        for name in requirements.when_urgent:
            needed.setdefault(name, f"needed because {ticket.title(URGENT)} is ticked")

    found: dict[str, str] = {}
    for name, why in needed.items():
        value = ticket.value(name)
        if not has_value(value):
            empty = "is not ticked" if value is False else "is empty"
            found[name] = f"{empty} ({why})" if why else empty
    for name, check in requirements.validate.items():
        if name in found:
            continue
        value = ticket.value(name)
        if has_value(value) and not isinstance(value, bool):
            problem = check_value(check, value, ticket.title(name))
            if problem:
                found[name] = problem
    if (
        requirements.by_type
        and escalation_type is not None
        and ESCALATION_TYPE not in found
        and not isinstance(requirements.validate.get(ESCALATION_TYPE), OneOf)
    ):
        known = {GENERAL_TYPE, *requirements.by_type}
        if escalation_type.lower() not in {k.lower() for k in known}:
            found[ESCALATION_TYPE] = (f"{quoted(escalation_type)} is not an escalation type — use one of "
                                      f"{', '.join(sorted(known, key=str.lower))}")

    order = list(needed) + [name for name in requirements.validate if name not in needed]
    return tuple(Missing(name, ticket.title(name), found[name]) for name in order if name in found)


def _text_or_none(value: Any) -> str | None:
    if not has_value(value) or isinstance(value, (bool, list, tuple, set, frozenset)):
        return None
    return as_text(value)


def check_value(check: Validator, value: Any, title: str) -> str | None:
    """Why ``value`` fails ``check``, or None when it passes. ``title`` names the field in
    list-item reasons ("does not look like a transaction ID")."""
    if isinstance(check, DecimalValue):
        return _check_decimal(check, value)
    if isinstance(check, OneOf):
        allowed = {v.lower() for v in check.values}
        items = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        for item in items:
            if as_text(item).lower() not in allowed:
                return f"{quoted(item)} is not one of {', '.join(check.values)}"
        return None
    if isinstance(check, ListOf):
        return _check_list(check, value, title)
    if isinstance(check, Regex):
        if re.search(check.pattern, as_text(value)) is None:
            return f"{quoted(value)} is not in the form {title} expects"
        return None
    raise TypeError(f"unknown value check {check!r}")


def _check_decimal(check: DecimalValue, value: Any) -> str | None:
    number = parse_amount(value)
    if number is None:
        return f"{quoted(value)} is not an amount — write digits, e.g. 1250.00"
    if check.min is not None and number < check.min:
        return f"{quoted(value)} is too small — it must be at least {check.min}"
    if check.max is not None and number > check.max:
        return f"{quoted(value)} is too large — it must be at most {check.max}"
    return None


def _check_list(check: ListOf, value: Any, title: str) -> str | None:
    if isinstance(value, (list, tuple)):
        text = " ".join(as_text(item) for item in value)
    else:
        text = as_text(value)
    pairs = masked_items(text)
    if not pairs:
        return "is empty"
    bad = [shown for item, shown in pairs if re.search(check.pattern, item) is None]
    if not bad:
        return None
    singular, plural = _item_words(title)
    if len(bad) == 1:
        return f"{quoted(bad[0])} does not look like {singular}"
    listed = [quoted(item) for item in bad[:_QUOTED_ITEMS]]
    rest = len(bad) - len(listed)
    if rest:
        names = ", ".join(listed) + f" and {rest} more"
    else:
        names = ", ".join(listed[:-1]) + f" and {listed[-1]}"
    return f"{names} do not look like {plural}"


def _item_words(title: str) -> tuple[str, str]:
    """("a transaction ID", "transaction IDs") from the title "Transaction IDs".

    A title whose last word is a plural (ends in a single ``s``) names its items; any
    other title falls back to "a valid entry for <title>".
    """
    words = title.split()
    if words and len(words[-1]) > 1 and words[-1].endswith("s") and not words[-1].endswith("ss"):
        plural = " ".join([_lower_first(words[0])] + words[1:])
        singular = plural[:-1]
        article = "an" if singular[:1].lower() in "aeiou" else "a"
        return f"{article} {singular}", plural
    return f"a valid entry for {title}", f"valid entries for {title}"


def _lower_first(word: str) -> str:
    """Lower the first letter unless the word is an abbreviation (``ID``, ``ACH``)."""
    if len(word) > 1 and word[1].isupper():
        return word
    return word[:1].lower() + word[1:]
