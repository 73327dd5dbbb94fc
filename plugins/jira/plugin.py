"""The Jira plugin's declaration: which Jira webhook events it handles and ignores.

The bug-linking handlers register here; until they do, Jira events are answered 200
and logged as unsupported by the intake.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin

SOURCE = "jira"


def build(settings: Any, manifest: Any) -> Plugin:
    return Plugin(name="jira", handles={}, ignores=frozenset())
