"""The Zendesk plugin's declaration: the ticket events it handles and ignores, its jobs.

Every handled ticket event runs :func:`~plugins.zendesk.escalations.on_ticket_event`
on the ticket's lane; ``zendesk.sla_timer`` is the job an SLA timer becomes when it
falls due. Events about users, organizations and other subjects are ignored.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin
from plugins.zendesk.escalations import HANDLED_EVENTS, IGNORED_EVENTS, on_sla_timer, on_ticket_event

SOURCE = "zendesk"


def build(settings: Any, manifest: Any) -> Plugin:
    return Plugin(
        name="zendesk",
        handles={(SOURCE, event_type): on_ticket_event for event_type in sorted(HANDLED_EVENTS)},
        ignores=frozenset((SOURCE, event_type) for event_type in IGNORED_EVENTS),
        jobs={"sla_timer": on_sla_timer},
    )
