"""Small helpers for writing error messages an admin can act on."""
from __future__ import annotations

import difflib
from datetime import date
from typing import Iterable


def shown(value: object) -> str:
    """A value as the admin wrote it in YAML: text in double quotes, the rest bare."""
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """`` (did you mean X?)`` for a near miss, else empty."""
    if not isinstance(word, str):
        return ""
    options = list(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f" (did you mean {lowered[word.lower()]}? names are case-sensitive)"
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def listing(options: Iterable[str], limit: int = 12) -> str:
    options = list(options)
    if not options:
        return "(none yet)"
    if len(options) > limit:
        return ", ".join(options[:limit]) + f", … ({len(options)} in all)"
    return ", ".join(options)


def yaml_boolean_hint(value: object) -> str:
    """YAML 1.1 reads yes/no/on/off/true/false as booleans; say so when that bit."""
    if isinstance(value, bool):
        return " (YAML read a bare yes/no/on/off/true/false as a boolean — put the value in quotes)"
    return ""
