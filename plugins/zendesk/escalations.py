"""The escalation handlers: Zendesk events in, decisions made, one write back.

Every Zendesk ticket event the plugin handles goes through :func:`on_ticket_event`:

1. **Loop guard** (:func:`loop_guard`): an event whose actor is the connector's own API
   user (``/users/me``, cached), or a field change on a field only the connector
   writes, is recorded as ignored and causes no read and no write.
2. **Read the ticket as it is now** and decide, purely, what the event means
   (:mod:`connector.escalation.decide` for a transition into a level,
   :mod:`connector.escalation.follow` for everything after):

   * the ticket sits in a level's custom status it was not escalated into yet (or was
     turned back from) → a *transition*: requirements, tier, SLA due times;
   * otherwise, on an escalated ticket → *follow-up*: a public agent reply moves the
     next customer update and meets ``public_reply`` targets, filled fields meet
     ``field_set`` targets, a solve starts the ``from: resolved`` clocks.

3. **One write** through :func:`~plugins.zendesk.writeback.write_ticket` (safe_update,
   idempotent under the event's key, 409 → re-read and re-decide).
4. **Remember** (:class:`~connector.store.escalations.Escalations`): the escalation's
   record, its timeline rows, its SLA timers (at risk at 80 %, breach at the due time);
   then ``escalation.changed`` is published so Salesforce mirrors it, and
   ``escalation.product_bug`` when the ticket asks for a Jira issue.

Steps 2–3 happen once per event: the effect key is ``zendesk:ticket:<id>:event:<event
key>``. A replay after a crash finds the write done and finishes step 4 from the
decision recorded with it (``memo``), without deciding again on a ticket the write has
since changed.

:func:`on_sla_timer` is the job a timer becomes when it falls due.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Mapping

from connector.escalation.decide import Blocked, Escalated, decide_transition, target_label, when_text
from connector.escalation.follow import AT_RISK, BREACH, FollowUp, follow_ticket, resolution_of, timer_plan
from connector.escalation.sla import CalendarSet, SlaState
from connector.escalation.ticket import RuleFacts, TicketSnapshot
from connector.escalation.tiers import rule_conditions, rule_windows
from connector.escalation.values import as_text, has_value, is_ticked
from connector.events import InboundEvent
from connector.manifest.model import CONNECTOR_WRITTEN, CommentMatches, Level, Manifest, OrganizationTagCondition
from connector.pipeline.context import JobContext
from connector.store.escalations import (
    BLOCKED, OPEN, RESOLVED, EscalationRecord, Escalations, record_from_json, record_to_json,
)
from plugins.zendesk.accounts import account_ref
from plugins.zendesk.client import ZendeskClient
from plugins.zendesk.plugin import FOLLOW_EVENTS, HANDLED_EVENTS, IGNORED_EVENTS, TRANSITION_EVENTS
from plugins.zendesk.service import zendesk_client
from plugins.zendesk.writeback import TicketWrite, write_ticket

log = logging.getLogger("connector.zendesk")

SLA_TAGS = {AT_RISK: "sla_at_risk", BREACH: "sla_breached"}
PRODUCT_BUG_TOPIC = "escalation.product_bug"
BLOCKED_PREFIX = "blocked:"
CHANGED_TOPIC = "escalation.changed"


# -- the pure bits ----------------------------------------------------------------------

def connector_field_ids(manifest: Manifest) -> frozenset[int]:
    """Zendesk ids of the fields only the connector writes (tier, level, due times…)."""
    return frozenset(ref.id for name, ref in manifest.zendesk.fields.items()
                     if name in CONNECTOR_WRITTEN or name.endswith("_due_at"))


def loop_guard(manifest: Manifest, event: InboundEvent, own_user_id: int) -> str | None:
    """Why ``event`` must cause no writes, or None when it may."""
    if event.actor_id is not None and int(event.actor_id) == int(own_user_id):
        return f"caused by the connector's own Zendesk user {own_user_id}"
    change = event.data.get("change") or {}
    if event.event_type == "ticket.custom_field_changed":
        field_id = (change.get("custom_field") or {}).get("id")
        if field_id is not None and int(field_id) in connector_field_ids(manifest):
            return f"only field {field_id}, which the connector writes, changed"
    if event.event_type == "ticket.comment_added":
        author = (change.get("comment") or {}).get("author_id")
        if author is not None and int(author) == int(own_user_id):
            return f"a comment by the connector's own Zendesk user {own_user_id}"
    return None


def is_public_agent_reply(event: InboundEvent, requester_id: int | None) -> bool:
    if event.event_type != "ticket.comment_added":
        return False
    comment = (event.data.get("change") or {}).get("comment") or {}
    if not comment.get("public"):
        return False
    if comment.get("author_is_staff") is not None:
        return bool(comment["author_is_staff"])
    author = comment.get("author_id")
    return author is not None and requester_id is not None and int(author) != int(requester_id)


def transition_id(level: Level, at: datetime) -> str:
    """What identifies one entry into a level: a ``custom_status_changed`` and a
    ``status_changed`` from the same save share it, so the second does nothing."""
    return f"{level.name}@{at.isoformat()}"


def timeline_key(ticket_id: int, kind: str, at: datetime, extra: str = "") -> str:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    return f"zd-{ticket_id}:{kind}:{stamp}" + (f":{extra}" if extra else "")


# -- the handlers -----------------------------------------------------------------------

def on_ticket_event(ctx: JobContext) -> None:
    event = ctx.event
    if event is None or event.ticket_id is None:
        return
    manifest: Manifest = ctx.services["manifest"]
    client = zendesk_client(ctx.services)
    reason = loop_guard(manifest, event, client.own_user_id)
    if reason:
        ctx.decide("zendesk.event.ignored", reason=reason, result="ignored", ticket_id=event.ticket_id,
                   detail={"event_type": event.event_type})
        return
    _Handling(ctx, manifest, client, event).run()


def on_sla_timer(ctx: JobContext) -> None:
    """An at-risk or breach moment came: tag the ticket and add a note, unless the target
    was met (or its due time moved) meanwhile."""
    payload = ctx.payload
    ticket_id, target, kind, due_iso = (int(payload["ticket_id"]), payload["target"], payload["kind"],
                                        payload["due_at"])
    manifest: Manifest = ctx.services["manifest"]
    escalations = Escalations(ctx.queue.store, ctx.queue.clock)
    record = escalations.get(ticket_id)
    current = _target_state(record, target)
    why_not = None
    if current is None:
        why_not = "the escalation no longer has this target (tier or clocks changed)"
    elif current.is_met:
        why_not = f"target {target} was met at {current.met_at.isoformat()}"
    elif current.due_at.isoformat() != datetime.fromisoformat(due_iso).isoformat():
        why_not = f"target {target} is now due {current.due_at.isoformat()}, not {due_iso}"
    if why_not:
        ctx.decide(f"sla.{kind}.skipped", reason=why_not, result="skipped", ticket_id=ticket_id,
                   detail={"target": target})
        return
    calendars = _calendars(ctx, manifest)
    title = target_label(target)
    tier_target = manifest.tier(record.sla.tier).target(target)
    due_text = when_text(current.due_at, calendars.get(tier_target.calendar))
    if kind == AT_RISK:
        note = (f"SLA at risk — {title} is due {due_text} and 80 % of its time has gone.\n"
                "Act now, or tell the customer-facing owner why it will be late.")
        summary = f"SLA at risk: {title} due {due_text}"
    else:
        note = f"SLA breached — {title} was due {due_text} and has not been met."
        summary = f"SLA breached: {title} was due {due_text}"
    key = f"zendesk:ticket:{ticket_id}:sla:{target}:{kind}:{due_iso}"
    write_ticket(ctx, ticket_id, key=key, action=f"sla.{kind}", why=summary,
                 decide=lambda raw, snapshot: TicketWrite(tags_add=frozenset({SLA_TAGS[kind]}), note=note))
    timeline_kind = "sla_at_risk" if kind == AT_RISK else "sla_breached"
    escalations.add_event(ticket_id, f"zd-{ticket_id}:{timeline_kind}:{target}:{current.due_at:%Y%m%dT%H%M%SZ}",
                          timeline_kind, datetime.fromisoformat(payload["fire_at"]), summary,
                          {"target": target, "due_at": current.due_at.isoformat()})
    ctx.decide(f"sla.{kind}", reason=summary, result="fired", ticket_id=ticket_id, detail={"target": target})
    ctx.publish(CHANGED_TOPIC, {"ticket_id": ticket_id}, dedupe_key=f"changed:{key}")


class _Handling:
    """One ticket event, from read to remember (module doc)."""

    def __init__(self, ctx: JobContext, manifest: Manifest, client: ZendeskClient, event: InboundEvent):
        self.ctx, self.manifest, self.client, self.event = ctx, manifest, client, event
        self.ticket_id = int(event.ticket_id)
        self.at = event.occurred_at
        self.escalations = Escalations(ctx.queue.store, ctx.queue.clock)
        self.record = self.escalations.get(self.ticket_id)
        self.calendars = _calendars(ctx, manifest)
        self.key = f"zendesk:ticket:{self.ticket_id}:event:{event.source}:{event.dedupe_key}"
        self.skipped: tuple[str, str] | None = None

    def run(self) -> None:
        if self.event.event_type in FOLLOW_EVENTS and self.record is None:
            self.ctx.decide("zendesk.event.ignored", reason="the ticket is not escalated", result="ignored",
                            ticket_id=self.ticket_id, detail={"event_type": self.event.event_type})
            return
        outcome = write_ticket(self.ctx, self.ticket_id, key=self.key, action="zendesk.escalation",
                               why=f"{self.event.event_type} at {self.at.isoformat()}", decide=self.decide,
                               organization=self._needs_organization())
        memo = outcome.memo
        if outcome.replayed:
            self.ctx.decide("zendesk.event.replayed", reason="the write was made by an earlier attempt; "
                            "finishing from its recorded decision", result="replayed", ticket_id=self.ticket_id)
        elif not memo and self.skipped:
            action, reason = self.skipped
            self.ctx.decide(action, reason=reason, result="skipped", ticket_id=self.ticket_id,
                            detail={"event_type": self.event.event_type})
            return
        if memo:
            self.remember(memo)

    # -- deciding (called with the ticket as it is now) ---------------------------------

    def decide(self, raw: Mapping[str, Any], ticket: TicketSnapshot) -> TicketWrite | None:
        self.skipped = None
        level = (self.manifest.zendesk.level_for_status(ticket.custom_status_id)
                 if ticket.custom_status_id is not None else None)
        if level is not None and self._is_transition(level):
            return self._transition(raw, ticket, level)
        record = self.record
        if record is None or record.sla is None or record.state == BLOCKED:
            self.skipped = ("zendesk.event.ignored", "the ticket is not escalated" if level is None
                            else f"already escalated to {level.name} ({record.last_transition if record else ''})")
            return None
        return self._follow(ticket, record)

    def _is_transition(self, level: Level) -> bool:
        """Whether this event, with the ticket now in ``level``'s status, is an entry
        into the level. A ``custom_status_changed`` is one only if the status it names is
        still the ticket's (else it is stale: a later event carries the newer change);
        ``status_changed`` and triggers, which do not name the custom status, are one
        when the ticket is in a level the escalation is not at; other events only
        complete an attempt left incomplete under ``on_incomplete: flag``."""
        record = self.record
        this = transition_id(level, self.at)
        if record is not None and record.last_transition in (this, BLOCKED_PREFIX + this):
            return False  # the other event of the same save, or this event again
        pending = record is not None and (record.state == BLOCKED or (record.last_transition or "").startswith(
            f"{BLOCKED_PREFIX}{level.name}@"))
        event_type = self.event.event_type
        if event_type == "ticket.custom_status_changed":
            return self._entered(level)
        if event_type in TRANSITION_EVENTS:
            return record is None or pending or record.level != level.name or record.state == RESOLVED
        return pending and self.manifest.zendesk.on_incomplete == "flag"

    def _entered(self, level: Level) -> bool:
        """This event is the ticket's custom status changing into ``level``'s."""
        if self.event.event_type != "ticket.custom_status_changed":
            return False
        current = (self.event.data.get("change") or {}).get("current")
        return current is not None and int(current) == level.custom_status_id

    def _repeats_block(self, level: Level) -> bool:
        """The last attempt at ``level`` was turned back and nothing re-entered it since:
        still incomplete means nothing new to say (no note on every field filled in)."""
        last = (self.record.last_transition or "") if self.record is not None else ""
        return last.startswith(f"{BLOCKED_PREFIX}{level.name}@") and not self._entered(level)

    def _transition(self, raw: Mapping[str, Any], ticket: TicketSnapshot, level: Level) -> TicketWrite | None:
        record = self.record
        facts = self._facts(ticket)
        current_level = record.level if record is not None and record.state != BLOCKED else None
        decision = decide_transition(
            self.manifest, ticket, previous_custom_status_id=self._previous_status(record),
            escalated_at=self.at, facts=facts, calendars=self.calendars, current_level=current_level,
            idempotency_key=self.key)
        if isinstance(decision, Blocked):
            if self._repeats_block(level):
                self.skipped = ("zendesk.escalation.still_incomplete",
                                f"{len(decision.missing)} field(s) still need attention")
                return None
            return self._blocked(ticket, level, decision)
        return self._escalated(ticket, level, decision)

    def _blocked(self, ticket: TicketSnapshot, level: Level, decision: Blocked) -> TicketWrite:
        base = self.record or self._new_record(ticket, BLOCKED)
        if base.state == BLOCKED:
            # The level attempted, and the customer: a blocked first attempt is mirrored too,
            # and without the customer's reference it would look unmatched in Salesforce.
            base = self._with_ticket(base, ticket).evolve(
                level=level.name, account_ref=self._account_ref(ticket) or base.account_ref)
        record = base.evolve(blocked_count=base.blocked_count + 1,
                             last_transition=BLOCKED_PREFIX + transition_id(level, self.at))
        missing = [f"{item.title}: {item.reason}" for item in decision.missing]
        summary = f"Escalation to {level.name} turned back: {len(missing)} field(s) incomplete"
        timeline = [self._timeline("blocked", summary, {"level": level.name, "missing": missing})]
        self.ctx.decide("escalation.blocked", reason="; ".join(missing), result="blocked",
                        ticket_id=self.ticket_id,
                        detail={"level": level.name, "revert_to": decision.revert_to})
        return TicketWrite(custom_status_id=decision.revert_to, tags_add=frozenset({decision.tag}),
                           note=decision.note, memo=self._memo(record, timeline))

    def _escalated(self, ticket: TicketSnapshot, level: Level, decision: Escalated) -> TicketWrite:
        before = self.record if self.record is not None and self.record.state != BLOCKED else None
        base = self.record or self._new_record(ticket, OPEN)
        record = self._with_ticket(base, ticket).evolve(
            state=OPEN, level=level.name, tier=decision.tier.tier, rules=tuple(decision.tier.winning_rules),
            opened_at=(before.opened_at if before is not None else None) or self.at, escalated_at=self.at,
            resolved_at=None, resolution=None, sla=decision.sla, last_transition=transition_id(level, self.at),
            account_ref=self._account_ref(ticket))
        why = "; ".join(decision.tier.winning_rules) or f"default tier {decision.tier.tier}"
        timeline = []
        if before is None:
            timeline.append(self._timeline("opened", f"Escalated to {level.name}, tier {decision.tier.tier}: {why}",
                                           {"level": level.name, "tier": decision.tier.tier}))
        else:
            if before.level != level.name:
                timeline.append(self._timeline("level_changed", f"Level {before.level} → {level.name}",
                                               {"from": before.level, "to": level.name}))
            if before.tier != decision.tier.tier:
                timeline.append(self._timeline("tier_changed", f"Tier {before.tier} → {decision.tier.tier}: {why}",
                                               {"from": before.tier, "to": decision.tier.tier}))
            if before.level == level.name and before.tier == decision.tier.tier:
                timeline.append(self._timeline("rechecked", f"Escalation re-checked at {level.name}, "
                                               f"tier {decision.tier.tier}", {"level": level.name}))
        self.ctx.decide("escalation.escalated", reason=why, result=decision.tier.tier, ticket_id=self.ticket_id,
                        detail={"level": level.name, "tier": decision.tier.tier,
                                "rules": list(decision.tier.fired),
                                "due": {due.target: due.due_at.isoformat() for due in decision.due_times}})
        return TicketWrite(fields=dict(decision.field_writes), tags_add=decision.tags_add,
                           tags_remove=decision.tags_remove & ticket.tags, note=decision.note,
                           memo=self._memo(record, timeline, self._bug_request(ticket, record, first=True)))

    def _follow(self, ticket: TicketSnapshot, record: EscalationRecord) -> TicketWrite | None:
        follow: FollowUp = follow_ticket(self.manifest, record.sla, ticket, at=self.at, calendars=self.calendars,
                                         public_reply=is_public_agent_reply(self.event, ticket.requester_id))
        updated = self._with_ticket(record, ticket).evolve(sla=follow.sla)
        timeline = [self._timeline("sla_met", f"SLA met: {target_label(name)}",
                                   {"target": name}, extra=name) for name in follow.met]
        note = None
        if follow.resolved:
            resolution = resolution_of(ticket.tags)
            updated = updated.evolve(state=RESOLVED, resolved_at=self.at, resolution=resolution)
            timeline.append(self._timeline("resolved", f"Resolved ({resolution})", {"resolution": resolution}))
            lines = []
            for due in follow.started:
                label = target_label(due.target)
                when = when_text(due.due_at, self.calendars.get(due.calendar_name))
                lines.append(f"- {label}: {when}")
                kind = f"{due.target}_due" if due.target in ("rca", "pir") else "target_due"
                timeline.append(self._timeline(kind, f"{label} due {when}",
                                               {"target": due.target, "due_at": due.due_at.isoformat()},
                                               extra=due.target if kind == "target_due" else ""))
            if lines:
                note = "Escalation resolved — follow-up due:\n" + "\n".join(lines)
        elif record.state == RESOLVED and ticket.status not in ("solved", "closed"):
            updated = updated.evolve(state=OPEN)
            timeline.append(self._timeline("reopened", "Ticket reopened after resolution", {}))
        bug = self._bug_request(ticket, updated, first=False)
        if not (follow.changed or timeline or bug or updated != record):
            self.skipped = ("zendesk.event.no_change", "nothing in the escalation changed")
            return None
        if follow.met:
            self.ctx.decide("sla.met", reason=", ".join(follow.met), result="met", ticket_id=self.ticket_id)
        memo = self._memo(updated, timeline, bug)
        if not (follow.field_writes or note):
            self.remember(memo)  # nothing to write to Zendesk: remember now
            return None
        return TicketWrite(fields=dict(follow.field_writes), note=note, memo=memo)

    # -- remembering (after the write, or on its replay) ---------------------------------

    def remember(self, memo: Mapping[str, Any]) -> None:
        record = record_from_json(memo["record"])
        with self.ctx.queue.store.begin() as conn:
            self.escalations.save(record, conn=conn)
            for row in memo.get("timeline", ()):
                self.escalations.add_event(self.ticket_id, row["key"], row["kind"],
                                           datetime.fromisoformat(row["at"]), row["summary"], row.get("detail"),
                                           conn=conn)
            self._sync_timers(record.sla, conn)
        self.ctx.publish(CHANGED_TOPIC, {"ticket_id": self.ticket_id}, dedupe_key=f"changed:{self.key}")
        bug = memo.get("product_bug")
        if bug:
            self.ctx.publish(PRODUCT_BUG_TOPIC, bug, dedupe_key=f"bug:{self.ticket_id}:{bug.get('requested_key') or 'new'}")
            self.ctx.decide("escalation.product_bug", reason="product bug asked for on an escalated ticket",
                            result="queued", ticket_id=self.ticket_id, detail={"requested_key": bug.get("requested_key")})

    def _sync_timers(self, sla: SlaState | None, conn) -> None:
        scheduler = self.ctx.scheduler
        if scheduler is None:
            return
        prefix = f"sla:zendesk:{self.ticket_id}:"
        wanted = []
        for target, kind, fire_at, due_at in (timer_plan(sla) if sla is not None else ()):
            key = f"{prefix}{target}:{kind}:{due_at.isoformat()}"
            wanted.append(key)
            scheduler.schedule(key, lane=self.ctx.job.lane, handler="zendesk.sla_timer", fire_at=fire_at,
                               correlation_id=self.ctx.correlation_id, conn=conn,
                               payload={"ticket_id": self.ticket_id, "target": target, "kind": kind,
                                        "due_at": due_at.isoformat(), "fire_at": fire_at.isoformat()})
        scheduler.cancel(prefix=prefix, keep=wanted, conn=conn)

    # -- helpers ---------------------------------------------------------------------

    def _memo(self, record: EscalationRecord, timeline: list[dict], bug: dict | None = None) -> dict[str, Any]:
        return {"record": record_to_json(record), "timeline": timeline, "product_bug": bug}

    def _timeline(self, kind: str, summary: str, detail: dict, extra: str = "") -> dict[str, Any]:
        return {"key": timeline_key(self.ticket_id, kind, self.at, extra), "kind": kind, "at": self.at.isoformat(),
                "summary": summary, "detail": detail}

    def _new_record(self, ticket: TicketSnapshot, state: str) -> EscalationRecord:
        return self._with_ticket(EscalationRecord(ticket_id=self.ticket_id, state=state), ticket)

    def _with_ticket(self, record: EscalationRecord, ticket: TicketSnapshot) -> EscalationRecord:
        def text(name: str) -> str | None:
            value = ticket.value(name)
            return as_text(value) if has_value(value) else None

        return record.evolve(subject=ticket.subject, escalation_type=text("escalation_type"),
                             amount=text("amount"), currency=text("currency"), requester_id=ticket.requester_id,
                             organization_id=ticket.organization_id)

    def _previous_status(self, record: EscalationRecord | None) -> int | None:
        change = self.event.data.get("change") or {}
        if self.event.event_type == "ticket.custom_status_changed" and change.get("previous") is not None:
            return int(change["previous"])
        if record is not None and record.state == OPEN and record.level:
            for level in self.manifest.zendesk.levels:
                if level.name == record.level:
                    return level.custom_status_id  # an upward move turned back returns to the level it left
        return self._default_open_status()

    def _default_open_status(self) -> int | None:
        statuses = self.client.custom_statuses()
        candidates = [s for s in statuses.values() if s.get("status_category") == "open" and s.get("active", True)]
        candidates.sort(key=lambda s: (not s.get("default"), s["id"]))
        return int(candidates[0]["id"]) if candidates else None

    def _facts(self, ticket: TicketSnapshot) -> RuleFacts:
        comment = None
        if ticket.requester_id is not None and _uses_comments(self.manifest):
            comment = self.client.latest_requester_comment(self.ticket_id, ticket.requester_id)
        counts = {}
        if ticket.requester_id is not None:
            for days in sorted(rule_windows(self.manifest)):
                counts[days] = self.client.count_requester_tickets(ticket.requester_id,
                                                                   self.at - timedelta(days=days), self.at)
        return RuleFacts(latest_requester_comment=comment, requester_ticket_counts=counts)

    def _needs_organization(self) -> bool:
        return any(isinstance(c, OrganizationTagCondition) for c in rule_conditions(self.manifest))

    def _account_ref(self, ticket: TicketSnapshot) -> str | None:
        return account_ref(self.client, self.manifest, ticket.organization_id)

    def _bug_request(self, ticket: TicketSnapshot, record: EscalationRecord, *, first: bool) -> dict | None:
        """The product-bug request, when this event asks for one: at the first
        escalation if the box is already ticked or a key typed, later when one of them
        changes (a custom_field_changed on product_bug / jira_issue_key)."""
        fields = self.manifest.zendesk.fields
        if "product_bug" not in fields and "jira_issue_key" not in fields:
            return None
        if not first:
            if self.event.event_type != "ticket.custom_field_changed":
                return None
            changed = ((self.event.data.get("change") or {}).get("custom_field") or {}).get("id")
            watched = {fields[name].id for name in ("product_bug", "jira_issue_key") if name in fields}
            if changed is None or int(changed) not in watched:
                return None
        key = ticket.value("jira_issue_key")
        requested = as_text(key).strip().upper() if has_value(key) else None
        if not (requested or is_ticked(ticket.value("product_bug"))):
            return None
        customer = ticket.value("customer_id")
        return {
            "ticket_id": self.ticket_id, "requested_key": requested, "subject": ticket.subject or "",
            "issue_summary": as_text(ticket.value("issue_summary") or ""),
            "escalation_type": record.escalation_type, "level": record.level, "tier": record.tier,
            "customer": as_text(customer) if has_value(customer) else None,
            "organization": self._organization_name(ticket), "amount": record.amount,
            "currency": record.currency, "ticket_url": self.client.agent_url(self.ticket_id),
        }

    def _organization_name(self, ticket: TicketSnapshot) -> str | None:
        if ticket.organization_id is None:
            return None
        return self.client.organization(ticket.organization_id).get("name")


def _uses_comments(manifest: Manifest) -> bool:
    return any(isinstance(c, CommentMatches) for c in rule_conditions(manifest))


def _calendars(ctx: JobContext, manifest: Manifest) -> CalendarSet:
    """The process's calendars (built once: they compile each year's opening times)."""
    calendars = ctx.services.get("calendars")
    if calendars is None:
        calendars = ctx.services.setdefault("calendars", CalendarSet.from_manifest(manifest))
    return calendars


def _target_state(record: EscalationRecord | None, name: str):
    if record is None or record.sla is None:
        return None
    try:
        return record.sla.target(name)
    except KeyError:
        return None
