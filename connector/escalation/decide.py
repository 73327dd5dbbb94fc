"""What happens when a ticket enters an escalation level — the whole decision, pure.

The Zendesk plugin reads the ticket (current state), fetches the :class:`RuleFacts`,
calls :func:`decide_transition` and performs what comes back: a :class:`Blocked`
(internal note, tag, status put back) or an :class:`Escalated` (field writes, tags,
internal note, SLA clocks to keep). Nothing here reads a clock or calls anything.

**Every transition is checked.** Entering a level is checked against the requirements
whatever the level was before: first escalations, upward changes (L2 → CIO: the record
must still be complete, and the tier is decided afresh from the ticket as it is now),
and — deliberately — moves to the same or a lower level too. A move down is rare and
usually a correction; re-checking costs one note and means a ticket never sits in an
escalation status with an incomplete record or a stale tier. ``current_level`` only
changes the note's wording.

**Clocks restart at each transition.** ``escalated_at`` is when *this* transition
happened in Zendesk (event time or the ticket's ``updated_at``, never processing time),
and every due time of the decided tier counts from it.

**Notes** are plain text, short, first line recognisable:

* ``Escalation L2 blocked — 3 fields need attention``, then what happened to the
  status and one ``- <Zendesk field title>: <reason>`` line per field;
* ``Escalated to L2 — tier T3 (Compliance or financial exposure)``, then the rules that
  decided it, each due time in its calendar's zone (``Mon 23 Nov 10:30 EST``), and the
  tier's checklist.

The last line of every note is :func:`note_marker` — ``[escalation-connector:<key>]`` —
for the idempotency key the plugin passes, so that after a crash it can find a note it
already wrote instead of writing a second one. Card numbers are masked in the note body
(the marker is left exactly as given, or the plugin could not search for it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from connector.escalation.calendar import BusinessCalendar
from connector.escalation.durations import Duration
from connector.escalation.requirements import Missing, check_requirements
from connector.escalation.sla import (
    NEXT_UPDATE_FIELD, CalendarSet, DueTime, SlaState, due_field_writes, filled_fields, start_sla,
)
from connector.escalation.ticket import RuleFacts, TicketSnapshot
from connector.escalation.tiers import TierDecision, classify
from connector.masking import mask_pans
from connector.manifest.model import ALWAYS_OPEN, FieldSet, Level, Manifest, Target

BLOCKED_TAG = "escalation_blocked"
TIER_TAG_PREFIX = "tier_"
MARKER_PREFIX = "[escalation-connector:"


def tier_tag(tier_key: str) -> str:
    """The tag an escalation of this tier carries: ``T3`` → ``tier_t3``."""
    return TIER_TAG_PREFIX + tier_key.lower()


def note_marker(idempotency_key: str) -> str:
    """The footer line that identifies a note written for ``idempotency_key``."""
    if not idempotency_key or any(char in idempotency_key for char in "]\r\n"):
        raise ValueError(f"idempotency key {idempotency_key!r} must be non-empty, on one line, without ']'")
    return f"{MARKER_PREFIX}{idempotency_key}]"


@dataclass(frozen=True)
class Blocked:
    """The escalation is incomplete: note, tag, and (``on_incomplete: revert``) the
    status goes back."""
    level: Level
    missing: tuple[Missing, ...]
    revert_to: int | None
    """The custom status to put back (the previous one) when the manifest says
    ``revert`` and the previous status is known; None: leave the status."""
    note: str
    tag: str = BLOCKED_TAG


@dataclass(frozen=True)
class Escalated:
    """The escalation is complete: what to write, and the SLA clocks to keep."""
    level: Level
    tier: TierDecision
    due_times: tuple[DueTime, ...]
    """Targets whose clock started now (``from: escalated``), manifest order."""
    next_update_due_at: datetime
    field_writes: Mapping[str, str | None]
    """Logical field -> value to write. ``tier``, ``escalation_level``, each mapped
    ``<target>_due_at`` and ``next_update_due_at``; a mapped due field this tier does not
    start now is None, meaning *clear it* (a due time left from an earlier tier would
    mislead)."""
    tags_add: frozenset[str]
    tags_remove: frozenset[str]
    """The other tiers' tags and ``escalation_blocked``. Only tags derived from the
    manifest's tiers: other ``tier_…`` tags (a customer's plan, say) are not ours."""
    note: str
    sla: SlaState


def decide_transition(
    manifest: Manifest,
    ticket: TicketSnapshot,
    *,
    previous_custom_status_id: int | None,
    escalated_at: datetime,
    facts: RuleFacts,
    calendars: CalendarSet,
    current_level: str | None,
    idempotency_key: str,
) -> Blocked | Escalated:
    """Decide the transition of ``ticket`` into the level of its current custom status.

    ``current_level`` is the level the escalation was at before (None on a first
    escalation). Raises ValueError when the ticket's status is not an escalation level:
    the plugin checks ``manifest.zendesk.level_for_status`` first.
    """
    marker = note_marker(idempotency_key)
    level = _level_of(manifest, ticket)
    missing = check_requirements(manifest, ticket, level)
    if missing:
        revert_to = previous_custom_status_id if manifest.zendesk.on_incomplete == "revert" else None
        note = _blocked_note(level, missing, revert_to, manifest.zendesk.on_incomplete)
        return Blocked(level, missing, revert_to, _finish(note, marker))

    decision = classify(manifest, ticket, facts)
    change = start_sla(manifest, decision.tier, escalated_at, calendars, filled_fields(ticket))
    sla = change.state
    due_times = change.started
    assert sla.next_update_due_at is not None

    writes: dict[str, str | None] = {}
    fields = manifest.zendesk.fields
    if "tier" in fields:
        writes["tier"] = decision.tier
    if "escalation_level" in fields:
        writes["escalation_level"] = level.name
    writes.update(due_field_writes(manifest, calendars, due_times, sla.next_update_due_at))
    for name in fields:
        if name.endswith("_due_at") and name != NEXT_UPDATE_FIELD and name not in writes:
            writes[name] = None

    added = frozenset({tier_tag(decision.tier)})
    removed = (frozenset(tier_tag(tier.key) for tier in manifest.tiers) | {BLOCKED_TAG}) - added
    note = _escalated_note(manifest, ticket, level, current_level, decision, due_times, sla, calendars)
    return Escalated(
        level=level,
        tier=decision,
        due_times=due_times,
        next_update_due_at=sla.next_update_due_at,
        field_writes=writes,
        tags_add=added,
        tags_remove=removed,
        note=_finish(note, marker),
        sla=sla,
    )


def _level_of(manifest: Manifest, ticket: TicketSnapshot) -> Level:
    level = None
    if ticket.custom_status_id is not None:
        level = manifest.zendesk.level_for_status(ticket.custom_status_id)
    if level is None:
        raise ValueError(f"ticket {ticket.id} is in custom status {ticket.custom_status_id}, which is not an "
                         "escalation level of the manifest")
    return level


def _finish(lines: list[str], marker: str) -> str:
    return mask_pans("\n".join(lines)) + "\n\n" + marker


# -- notes ------------------------------------------------------------------------------

def _blocked_note(level: Level, missing: tuple[Missing, ...], revert_to: int | None, mode: str) -> list[str]:
    count = len(missing)
    lines = [f"Escalation {level.name} blocked — {count} field{'s' if count != 1 else ''} "
             f"need{'s' if count == 1 else ''} attention"]
    if revert_to is not None:
        lines.append(f"The status was put back. Fix {'this' if count == 1 else 'these'}, then escalate again:")
    elif mode == "flag":
        lines.append(f"The status stays, but the ticket is tagged {BLOCKED_TAG} until "
                     f"{'this is' if count == 1 else 'these are'} fixed:")
    else:
        lines.append(f"Fix {'this' if count == 1 else 'these'}, then escalate again:")
    lines += [f"- {item}" for item in missing]
    return lines


def _escalated_note(
    manifest: Manifest,
    ticket: TicketSnapshot,
    level: Level,
    current_level: str | None,
    decision: TierDecision,
    due_times: tuple[DueTime, ...],
    sla: SlaState,
    calendars: CalendarSet,
) -> list[str]:
    tier = manifest.tier(decision.tier)
    lines = [f"{_heading(manifest, level, current_level)} — tier {tier.key} ({tier.name})"]
    if decision.winning_rules:
        label = "Rule" if len(decision.winning_rules) == 1 else "Rules"
        lines.append(f"{label}: {'; '.join(decision.winning_rules)}")
    else:
        lines.append(f"No rule matched, so the default tier {tier.key} applies")
    rules = {rule.name: rule for rule in manifest.rules}
    others = [f"{name} → {rules[name].tier}" for name in decision.fired if name not in decision.winning_rules]
    if others:
        lines.append(f"Also matched: {'; '.join(others)}")
    previous = ticket.value("tier")
    if isinstance(previous, str) and previous.strip() and previous.strip().lower() != tier.key.lower():
        lines.append(f"Tier was {previous.strip()}.")

    lines.append("")
    lines.append(f"Due (escalated {when_text(sla.escalated_at, calendars.always_open)}):")
    targets = {target.name: target for target in tier.targets}
    for due in due_times:
        target = targets[due.target]
        amount, clock = _within(target.within, target.calendar)
        text = (f"- {_target_title(ticket, target)}: {when_text(due.due_at, calendars.get(due.calendar_name))} "
                f"({amount}, {clock})")
        if sla.target(due.target).is_met and isinstance(target.met_when, FieldSet):
            text += f" — already met: {ticket.title(target.met_when.field)} is filled in"
        lines.append(text)
    assert sla.next_update_due_at is not None
    lines.append(f"- Next customer update: {when_text(sla.next_update_due_at, calendars.always_open)} "
                 f"(every {tier.update_every}; each public reply moves it)")
    for target in tier.targets:
        if target.start_from != "escalated":
            amount, clock = _within(target.within, target.calendar)
            lines.append(f"- {_target_title(ticket, target)}: due {amount} after the ticket is solved ({clock})")
    if tier.checklist:
        lines.append("")
        lines.append("Checklist:")
        lines += [f"- {item}" for item in tier.checklist]
    return lines


def _heading(manifest: Manifest, level: Level, current_level: str | None) -> str:
    if current_level is None:
        return f"Escalated to {level.name}"
    try:
        before = manifest.zendesk.level_rank(current_level)
    except KeyError:
        return f"Escalated to {level.name} (from {current_level})"
    now = manifest.zendesk.level_rank(level.name)
    if now > before:
        return f"Escalated to {level.name} (from {current_level})"
    if now == before:
        return f"Escalation re-checked at {level.name}"
    return f"Escalation moved down to {level.name} (from {current_level})"


def _target_title(ticket: TicketSnapshot, target: Target) -> str:
    """The due field's Zendesk title when the ticket knows it, else the target's name."""
    return ticket.field_titles.get(target.due_field) or target_label(target.name)


def target_label(name: str) -> str:
    """A target's name for people: ``rca`` → ``RCA``, ``first_response`` → ``First response``."""
    if len(name) <= 3:
        return name.upper()  # rca, pir: abbreviations
    return name.replace("_", " ").capitalize()


def _within(within: Duration, calendar_name: str) -> tuple[str, str]:
    """(how long, on which clock): ("30m", "round the clock"), ("2 business days",
    "business calendar"), ("4h of opening hours", "business calendar")."""
    if calendar_name == ALWAYS_OPEN:
        return str(within), "round the clock"
    if within.is_days:
        unit = "day" if within.amount == 1 else "days"
        return f"{within.amount} business {unit}", f"{calendar_name} calendar"
    return f"{within} of opening hours", f"{calendar_name} calendar"


def when_text(moment: datetime, calendar: BusinessCalendar) -> str:
    """``Mon 23 Nov 10:30 EST``: the instant in the calendar's zone, at a glance."""
    local = calendar.local(moment)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"
