"""The Zendesk plugin's declaration: which Zendesk events it handles and ignores.

The escalation handlers (requirements, tier, SLA write-back) register here; until they
do, Zendesk events are answered 200 and logged as unsupported by the intake.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin

SOURCE = "zendesk"


def build(settings: Any, manifest: Any) -> Plugin:
    return Plugin(name="zendesk", handles={}, ignores=frozenset())
