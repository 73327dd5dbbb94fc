"""How the escalation engine reads field values as agents type them.

Zendesk hands a custom field's value over as text (text, textarea, dropdown tag, date),
a bool (checkbox), a number, a list of tags (multi-select) or nothing. The requirements
check and the tier rules must read these the same way, so the readings live here:

* **Has a value**: not ``None``, not blank text, not an empty list, and for a checkbox,
  ticked. An unticked checkbox counts as empty, as ``met_when: {field_set: …}`` says.
* **An amount** (:func:`parse_amount`) is what a person types for money: ``1250``,
  ``1250.5``, ``.50``, or with thousands separators in groups of three (``12,500.00``).
  Exponents (``1e3``), currency signs, spaces inside the number, ``NaN`` and
  ``Infinity`` are not amounts, and neither is a comma that is not a thousands separator
  (``12,50`` — a European decimal comma would silently be read a hundred times too
  large). A leading sign is read, so ``-5`` is an amount that a minimum can reject with
  a clear reason rather than "not an amount".
* **List items** (:func:`split_items`) are separated by commas, whitespace (spaces, tabs,
  new lines) or any mix of them; empty items are dropped.

:func:`quoted` is the only way a value may appear in text an agent reads: card numbers
are masked before anything is shortened, so a cut can never leave a PAN half-visible.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.masking import mask_pans

_AMOUNT = re.compile(r"^[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)$")
_ITEM_SEPARATORS = re.compile(r"[,\s]+")
_TICKED_TEXT = frozenset({"true", "yes"})
QUOTE_LIMIT = 40
"""Longest value (in characters, after masking) quoted in a note before it is cut."""


def has_value(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(has_value(item) for item in value)
    return True


def is_ticked(value: Any) -> bool:
    """A checkbox reads ``True``; text ``"true"``/``"yes"`` (any case) is accepted too,
    for values that came through a trigger placeholder."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in _TICKED_TEXT
    return False


def parse_amount(value: Any) -> Decimal | None:
    """The value as a finite Decimal, or None when it is not an amount (see module doc)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _AMOUNT.match(text):
        return None
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid forms
        return None


def as_text(value: Any) -> str:
    """A scalar value as text for comparisons and patterns (numbers as written)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def split_items(text: str) -> list[str]:
    """Items separated by commas, spaces or new lines; empty items dropped."""
    return [item for item in _ITEM_SEPARATORS.split(text) if item]


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``"value"`` for a note: card numbers masked, whitespace runs shown as one space,
    cut to ``limit`` characters with an ellipsis."""
    text = " ".join(mask_pans(as_text(value)).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return f'"{text}"'


def masked_items(text: str) -> list[tuple[str, str]]:
    """``(item, item as it may be shown)`` pairs of :func:`split_items`.

    The whole value is masked before it is split, so a card number typed with spaces
    (``4111 1111 1111 1111``) is hidden even though each of its groups is an item of its
    own. Masking turns digits into ``*`` and keeps every other character, so the masked
    text splits at the same places as the original.
    """
    raw = split_items(text)
    shown = split_items(mask_pans(text))
    if len(raw) != len(shown):  # pragma: no cover - masking never touches separators
        shown = ["*" * len(item) for item in raw]
    return list(zip(raw, shown))
