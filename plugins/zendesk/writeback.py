"""Writing to a ticket the safe way: read it, decide, one ``PUT``, never twice.

:func:`write_ticket` is what every handler that changes a Zendesk ticket goes through
(the escalation engine, SLA timers, the Jira plugin telling tickets about their bug):

1. read the ticket as Zendesk has it now (one ``GET``);
2. ask ``decide(raw, snapshot)`` what to write — a :class:`TicketWrite`, or None for
   nothing — so the decision is made on current state;
3. write it in one ``PUT`` with ``safe_update`` and the ticket's ``updated_stamp``,
   through :meth:`Effects.once <connector.pipeline.effects.Effects.once>` under the
   caller's idempotency key. A note carries the key's marker line
   (:func:`~connector.escalation.decide.note_marker`), so after a crash between the
   ``PUT`` and recording it, the replay finds the note and writes nothing again;
4. on 409 (an agent saved in between) go back to 1: their edit survives and the
   decision is taken again on what they saved. After :data:`MAX_CONFLICTS` conflicts in
   a row the job is retried later by the pipeline.

A 429 from Zendesk surfaces as :class:`~connector.pipeline.retry.RetryLater` with the
``Retry-After`` delay (the client's response hook); the pipeline waits that long.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping

from connector.escalation.decide import note_marker
from connector.escalation.ticket import TicketSnapshot
from connector.pipeline.context import JobContext
from connector.pipeline.retry import RetryLater
from plugins.zendesk.client import UpdateConflict, parse_time
from plugins.zendesk.service import zendesk_client

MAX_CONFLICTS = 3
RECOVERY_MARGIN = timedelta(minutes=10)
"""How far before the attempt's start a recovered note may have been written (clock skew)."""


@dataclass(frozen=True)
class TicketWrite:
    """What to change on a ticket. Field names are the manifest's logical names."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    custom_status_id: int | None = None
    tags_add: frozenset[str] = frozenset()
    tags_remove: frozenset[str] = frozenset()
    note: str | None = None
    """An internal note; the key's marker line is appended when it is not there yet."""
    public: bool = False
    memo: Mapping[str, Any] = field(default_factory=dict)
    """What the caller needs to finish its work after the write (the decision, say); kept
    with the effect's result, so a replay after a crash gets it back without deciding
    again on a ticket the write has since changed."""

    @property
    def empty(self) -> bool:
        return not (self.fields or self.custom_status_id is not None or self.tags_add or self.tags_remove
                    or self.note)


@dataclass(frozen=True)
class WriteOutcome:
    written: bool
    """False when ``decide`` chose nothing (or nothing would change)."""
    result: dict[str, Any]
    snapshot: TicketSnapshot | None
    """The ticket as read before the (last) decision; None on a replay."""
    write: TicketWrite | None
    replayed: bool = False
    """The write had been made by an earlier attempt of this job: nothing was read or
    written now, and ``memo`` is what that attempt decided."""

    @property
    def memo(self) -> dict[str, Any]:
        return dict(self.result.get("memo") or (self.write.memo if self.write else {}) or {})


Decide = Callable[[Mapping[str, Any], TicketSnapshot], "TicketWrite | None"]


def write_ticket(ctx: JobContext, ticket_id: int, *, key: str, action: str, why: str, decide: Decide,
                 organization: bool = False) -> WriteOutcome:
    """Read ``ticket_id``, let ``decide`` choose, write once (module doc).

    ``organization=True`` reads the ticket's organization (cached) into the snapshot
    for rules on organization tags."""
    client = zendesk_client(ctx.services)
    manifest = ctx.services["manifest"]
    fields = manifest.zendesk.fields
    marker = note_marker(key)
    done = ctx.effects.result(key)
    if done is not None:
        return WriteOutcome(True, done, None, None, replayed=True)
    for attempt in range(MAX_CONFLICTS):
        raw = client.get_ticket(ticket_id)
        org = None
        if organization and raw.get("organization_id"):
            org = client.organization(int(raw["organization_id"]))
        snapshot = client.snapshot(raw, fields, organization=org)
        write = decide(raw, snapshot)
        if write is None or write.empty:
            return WriteOutcome(False, {}, snapshot, write)
        note = write.note
        if note is not None and marker not in note:
            note = f"{note}\n\n{marker}"
        since = parse_time(raw["updated_at"]) - RECOVERY_MARGIN

        def perform(raw=raw, write=write, note=note) -> dict[str, Any]:
            updated = client.update_ticket(
                ticket_id, updated_stamp=raw["updated_at"],
                custom_fields={fields[name].id: value for name, value in write.fields.items()},
                custom_status_id=write.custom_status_id,
                tags_add=write.tags_add, tags_remove=write.tags_remove, current_tags=raw.get("tags") or [],
                comment={"body": note, "public": write.public} if note else None,
            )
            return {"ticket_id": ticket_id, "updated_at": updated.get("updated_at"),
                    "fields": sorted(write.fields), "tags_add": sorted(write.tags_add),
                    "tags_remove": sorted(write.tags_remove), "note": bool(note),
                    "custom_status_id": write.custom_status_id, "memo": dict(write.memo)}

        def recover(since=since, write=write) -> dict[str, Any] | None:
            if note is None:
                return None  # field and tag writes are safe to repeat: they set, not add
            found = client.find_comment_with_marker(ticket_id, marker, since=since)
            return None if found is None else {"ticket_id": ticket_id, "comment_id": found.get("id"),
                                               "memo": dict(write.memo)}

        try:
            result = ctx.effects.once(key, system="zendesk", action=action, perform=perform, recover=recover,
                                      why=why, ticket_id=ticket_id, correlation_id=ctx.correlation_id,
                                      job_id=ctx.job.id)
        except UpdateConflict:
            ctx.decide(f"{action}.conflict", reason=f"ticket {ticket_id} changed while we wrote (409); "
                       "re-reading and deciding again", result="reread", ticket_id=ticket_id,
                       detail={"attempt": attempt + 1})
            continue
        return WriteOutcome(True, result, snapshot, write)
    raise RetryLater(f"ticket {ticket_id} kept changing under us ({MAX_CONFLICTS} conflicts in a row)", 5.0)
