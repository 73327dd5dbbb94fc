"""Idempotent, audited outbound writes.

Every write to another system goes through :meth:`Effects.once` with an idempotency
key derived from what the write means (``zendesk:ticket:123:escalated:evt-9``), never
from when it happens. The protocol:

1. Insert ``effects(key, state='started')``; if the key is already ``done``, return the
   stored result without calling the other system: a replayed job repeats nothing.
2. If the key is ``started`` a previous attempt may have written and then died before
   recording it. ``recover()`` asks the other system whether the effect is there (a
   Jira issue carrying the ticket's marker, a note carrying the key); if so that is
   recorded as the result and nothing is written again.
3. Otherwise ``perform()`` runs and its result is recorded as ``done``.

Each outcome (written, recovered, failed) leaves one audit record.
Systems with natural idempotency (Salesforce upsert by external ID, Jira remote links
by globalId) still go through here: it keeps the audit trail and saves the call.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from sqlalchemy import select, update

from connector.audit import AuditLog
from connector.store import Store
from connector.store.models import effects, utcnow


class Effects:
    def __init__(self, store: Store, audit: AuditLog, clock=utcnow):
        self.store = store
        self.audit = audit
        self.clock = clock

    def once(
        self,
        key: str,
        *,
        system: str,
        action: str,
        perform: Callable[[], dict[str, Any]],
        recover: Callable[[], dict[str, Any] | None] | None = None,
        why: str | None = None,
        ticket_id: int | None = None,
        correlation_id: str | None = None,
        job_id: int | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        with self.store.begin() as conn:
            inserted = self.store.insert_ignoring_conflict(
                conn, effects,
                {"key": key, "system": system, "action": action, "state": "started",
                 "job_id": job_id, "created_at": now, "updated_at": now},
                ["key"],
            )
            if inserted is None:
                row = conn.execute(select(effects.c.state, effects.c.result).where(effects.c.key == key)).one()
                if row.state == "done":
                    return json.loads(row.result) if row.result else {}
        audit = dict(system=system, ticket_id=ticket_id, correlation_id=correlation_id, reason=why)
        if inserted is None and recover is not None:
            found = recover()
            if found is not None:
                self._done(key, found)
                self.audit.record("write", action, result="recovered", detail={"key": key, **found}, **audit)
                return found
        try:
            result = perform() or {}
        except Exception as error:
            self.audit.record("write", action, result="failed",
                              detail={"key": key, "error": f"{error.__class__.__name__}: {error}"[:500]},
                              **audit)
            raise
        self._done(key, result)
        self.audit.record("write", action, result="written", detail={"key": key, **result}, **audit)
        return result

    def _done(self, key: str, result: dict[str, Any]) -> None:
        with self.store.begin() as conn:
            conn.execute(update(effects).where(effects.c.key == key).values(
                state="done", result=json.dumps(result, sort_keys=True, default=str), updated_at=self.clock()))

    def result(self, key: str) -> dict[str, Any] | None:
        """The recorded result of a finished effect; None unless ``key`` is ``done``."""
        with self.store.connect() as conn:
            row = conn.execute(select(effects.c.state, effects.c.result).where(effects.c.key == key)).first()
        if row is None or row.state != "done":
            return None
        return json.loads(row.result) if row.result else {}

    def state(self, key: str) -> str | None:
        with self.store.connect() as conn:
            return conn.execute(select(effects.c.state).where(effects.c.key == key)).scalar()
