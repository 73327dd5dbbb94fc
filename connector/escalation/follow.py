"""What happens to an escalation after it started — pure, like the transition.

The Zendesk plugin calls :func:`follow_ticket` for every later event on an escalated
ticket (a public reply, a field filled in, a status change), with the ticket as it is
now and the SLA clocks it kept. Back comes the new clock state, which targets were met,
which clocks started (a solve starts ``from: resolved`` targets), the field values to
write, and a short note when there is something new for agents to know.

:func:`timer_plan` lists the at-risk and breach moments of every unmet target, which
the plugin keeps as timers in the store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from connector.escalation.ticket import TicketSnapshot
from connector.escalation.sla import (
    NEXT_UPDATE_FIELD, CalendarSet, DueTime, SlaState, apply_field_set, apply_public_reply, apply_status,
    due_field_writes, filled_fields,
)
from connector.manifest.model import FieldSet, Manifest

AT_RISK, BREACH = "at_risk", "breach"
DENIED_TAG, REFERRED_TAG = "escalation_denied", "escalation_referred"


@dataclass(frozen=True)
class FollowUp:
    sla: SlaState
    met: tuple[str, ...] = ()
    started: tuple[DueTime, ...] = ()
    field_writes: Mapping[str, str | None] = field(default_factory=dict)
    resolved: bool = False
    """This event resolved the escalation (first solve)."""

    @property
    def changed(self) -> bool:
        return bool(self.met or self.started or self.field_writes or self.resolved)


def follow_ticket(
    manifest: Manifest,
    state: SlaState,
    ticket: TicketSnapshot,
    *,
    at: datetime,
    calendars: CalendarSet,
    public_reply: bool = False,
) -> FollowUp:
    """Apply what ``ticket`` now shows (and, with ``public_reply``, an agent's public reply
    at ``at``) to ``state``."""
    before = state
    met: tuple[str, ...] = ()
    started: tuple[DueTime, ...] = ()
    if public_reply:
        change = apply_public_reply(manifest, state, at)
        state, met = change.state, met + change.met
    filled = filled_fields(ticket)
    watched = {target.met_when.field for tier in manifest.tiers for target in tier.targets
               if isinstance(target.met_when, FieldSet)}
    for name in sorted(watched & filled):
        change = apply_field_set(manifest, state, name, at)
        state, met = change.state, met + change.met
    change = apply_status(manifest, state, ticket.status, at, calendars, filled)
    state, met, started = change.state, met + change.met, change.started
    resolved = before.resolved_at is None and state.resolved_at is not None

    writes: dict[str, str | None] = dict(due_field_writes(manifest, calendars, started))
    if state.next_update_due_at != before.next_update_due_at and NEXT_UPDATE_FIELD in manifest.zendesk.fields:
        if state.next_update_due_at is None:
            writes[NEXT_UPDATE_FIELD] = None  # resolved: nobody is waiting for an update any more
        else:
            writes.update(due_field_writes(manifest, calendars, (), state.next_update_due_at))
    return FollowUp(state, met, started, writes, resolved)


def resolution_of(tags: frozenset[str]) -> str:
    """How a solved escalation ended, for the CSM: ``denied`` or ``referred`` when the
    ticket carries ``escalation_denied`` / ``escalation_referred``, else ``resolved``."""
    if DENIED_TAG in tags:
        return "denied"
    if REFERRED_TAG in tags:
        return "referred"
    return "resolved"


def timer_plan(state: SlaState) -> tuple[tuple[str, str, datetime, datetime], ...]:
    """``(target, kind, fire_at, due_at)`` for every unmet target: ``at_risk`` at its
    at-risk moment (when that is before the due time) and ``breach`` at the due time."""
    plan = []
    for target in state.targets:
        if target.is_met:
            continue
        if target.at_risk_at < target.due_at:
            plan.append((target.name, AT_RISK, target.at_risk_at, target.due_at))
        plan.append((target.name, BREACH, target.due_at, target.due_at))
    return tuple(plan)
