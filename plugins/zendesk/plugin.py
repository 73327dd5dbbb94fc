"""The Zendesk plugin's declaration: the ticket events it handles and ignores, its jobs.

Every handled ticket event runs :func:`~plugins.zendesk.escalations.on_ticket_event`
on the ticket's lane; ``zendesk.sla_timer`` is the job an SLA timer becomes when it
falls due. Events about users, organizations and other subjects are ignored.

The handlers are declared :func:`~connector.registry.lazy`: the web process builds its
routing table from this module alone and never imports the handlers, the escalation
domain they use or Zenpy.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin, lazy

SOURCE = "zendesk"

TRANSITION_EVENTS = frozenset({"ticket.custom_status_changed", "ticket.status_changed", "ticket.trigger"})
FOLLOW_EVENTS = frozenset({"ticket.comment_added", "ticket.custom_field_changed"})
HANDLED_EVENTS = TRANSITION_EVENTS | FOLLOW_EVENTS
IGNORED_EVENTS = frozenset({
    "ticket.created", "ticket.tags_changed", "ticket.priority_changed", "ticket.type_changed",
    "ticket.agent_assignment_changed", "ticket.group_assignment_changed", "ticket.organization_changed",
    "ticket.requester_changed", "ticket.submitter_changed", "ticket.brand_changed", "ticket.form_changed",
    "ticket.problem_link_changed", "ticket.merged", "ticket.soft_deleted", "ticket.permanently_deleted",
    "ticket.undeleted", "ticket.subject_changed", "ticket.description_changed", "ticket.marked_as_spam",
    "ticket.due_date_changed", "ticket.comment_made_private", "ticket.comment_redacted",
    "ticket.attachment_redacted", "ticket.followers_changed", "ticket.email_ccs_changed",
    "ticket.sla_policy_changed", "ticket.schedule_changed", "ticket.ola_policy_changed",
    "ticket.external_id_changed", "ticket.satisfaction_rating_changed",
})
"""Ticket events that cannot start, change or meet an escalation. (A tag change could
match a ``tag`` rule, but rules are only evaluated at a transition, which re-reads the
ticket's tags.)"""


def build(settings: Any, manifest: Any) -> Plugin:
    on_ticket_event = lazy("plugins.zendesk.escalations:on_ticket_event")
    return Plugin(
        name="zendesk",
        handles={(SOURCE, event_type): on_ticket_event for event_type in sorted(HANDLED_EVENTS)},
        ignores=frozenset((SOURCE, event_type) for event_type in IGNORED_EVENTS),
        jobs={"sla_timer": lazy("plugins.zendesk.escalations:on_sla_timer")},
    )
