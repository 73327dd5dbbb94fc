"""Work due later (SLA at-risk and breach timers): scheduled jobs in the store.

A scheduled job is a row in ``scheduled_jobs`` with a ``fire_at``. It is *not* a job
yet — a future-dated job would hold up every later job of its ticket's lane. Workers
call :meth:`Scheduler.release_due` on their poll loop: every row whose moment has come
becomes an ordinary job at the end of its lane, in the same transaction that marks the
row ``released`` (on PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, so two
workers never release the same row). From then on the pipeline's guarantees apply:
ordered with the ticket's other jobs, retried, dead-lettered, never lost.

Because the rows live in the store, timers survive restarts: a timer whose moment
passed while every worker was down fires on the first poll after they return.

Keys are chosen by the caller from what the timer means
(``sla:zendesk:ticket:42:bridge:breach:2026-11-23T15:30:00+00:00``): scheduling the
same key again is a no-op, and :meth:`cancel` takes keys or a key prefix.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import and_, select, update

from connector.pipeline.queue import JobQueue
from connector.store import Store
from connector.store.models import scheduled_jobs

PENDING, RELEASED, CANCELLED = "pending", "released", "cancelled"


@dataclass(frozen=True)
class ScheduledJob:
    id: int
    key: str
    lane: str
    handler: str
    payload: dict[str, Any]
    fire_at: datetime
    state: str


class Scheduler:
    def __init__(self, queue: JobQueue, clock: Callable[[], datetime] | None = None):
        self.queue = queue
        self.store: Store = queue.store
        self.clock = clock or queue.clock

    def schedule(self, key: str, *, lane: str, handler: str, payload: dict[str, Any], fire_at: datetime,
                 correlation_id: str, conn=None) -> bool:
        """Schedule ``handler`` to be queued on ``lane`` at ``fire_at``; False if ``key``
        exists already (in any state: a cancelled or fired timer is not revived)."""
        if fire_at.tzinfo is None:
            raise ValueError("fire_at must be an aware datetime")
        values = {
            "key": key, "lane": lane, "handler": handler, "payload": json.dumps(payload, sort_keys=True, default=str),
            "correlation_id": correlation_id, "fire_at": fire_at, "state": PENDING, "created_at": self.clock(),
        }
        if conn is not None:
            return self.store.insert_ignoring_conflict(conn, scheduled_jobs, values, ["key"]) is not None
        with self.store.begin() as own:
            return self.store.insert_ignoring_conflict(own, scheduled_jobs, values, ["key"]) is not None

    def cancel(self, keys: Iterable[str] = (), *, prefix: str | None = None, keep: Iterable[str] = (),
               conn=None) -> int:
        """Cancel pending timers named in ``keys`` and/or starting with ``prefix`` (except
        those in ``keep``); returns how many were cancelled."""
        keys, keep = list(keys), list(keep)
        if not keys and prefix is None:
            return 0
        conditions = [scheduled_jobs.c.state == PENDING]
        if prefix is not None:
            conditions.append(scheduled_jobs.c.key.startswith(prefix, autoescape=True))
            if keys:
                raise ValueError("give keys or a prefix, not both")
        else:
            conditions.append(scheduled_jobs.c.key.in_(keys))
        if keep:
            conditions.append(scheduled_jobs.c.key.not_in(keep))
        statement = update(scheduled_jobs).where(and_(*conditions)).values(state=CANCELLED)
        if conn is not None:
            return conn.execute(statement).rowcount
        with self.store.begin() as own:
            return own.execute(statement).rowcount

    def release_due(self, *, limit: int = 100) -> int:
        """Turn every pending timer whose moment has come into a job; returns how many."""
        now = self.clock()
        query = (select(scheduled_jobs).where(scheduled_jobs.c.state == PENDING)
                 .where(scheduled_jobs.c.fire_at <= now).order_by(scheduled_jobs.c.fire_at).limit(limit))
        if self.store.is_postgres:
            query = query.with_for_update(skip_locked=True)
        released = 0
        with self.store.begin() as conn:
            for row in conn.execute(query).mappings().all():
                job_id = self.queue.enqueue(row["lane"], row["handler"], json.loads(row["payload"] or "{}"),
                                            row["correlation_id"], dedupe_key=f"timer:{row['id']}", conn=conn)
                conn.execute(update(scheduled_jobs).where(scheduled_jobs.c.id == row["id"])
                             .values(state=RELEASED, released_at=now, job_id=job_id))
                released += 1
        return released

    def pending(self, *, prefix: str | None = None) -> list[ScheduledJob]:
        query = select(scheduled_jobs).where(scheduled_jobs.c.state == PENDING)
        if prefix is not None:
            query = query.where(scheduled_jobs.c.key.startswith(prefix, autoescape=True))
        with self.store.connect() as conn:
            return [_scheduled(row) for row in conn.execute(query.order_by(scheduled_jobs.c.fire_at)).mappings()]

    def get(self, key: str) -> ScheduledJob | None:
        with self.store.connect() as conn:
            row = conn.execute(select(scheduled_jobs).where(scheduled_jobs.c.key == key)).mappings().first()
        return _scheduled(row) if row is not None else None

    def next_fire_at(self) -> datetime | None:
        with self.store.connect() as conn:
            return conn.execute(select(scheduled_jobs.c.fire_at).where(scheduled_jobs.c.state == PENDING)
                                .order_by(scheduled_jobs.c.fire_at).limit(1)).scalar()


def _scheduled(row: Any) -> ScheduledJob:
    return ScheduledJob(int(row["id"]), row["key"], row["lane"], row["handler"], json.loads(row["payload"] or "{}"),
                        row["fire_at"], row["state"])
