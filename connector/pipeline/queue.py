"""Durable, per-lane ordered job queue on the store (SQLite or PostgreSQL).

Guarantees, and how each is kept:

* **Nothing acknowledged is lost.** A webhook is answered 2xx only after its event and
  its jobs are committed (:meth:`JobQueue.enqueue_event`).
* **One lane at a time, in order.** A lane is one ticket (or one Jira issue). A worker
  first *leases the lane* (``lanes.leased_by/leased_until``) and then runs the lane's
  head job — the lowest-id job not yet done or dead. While the lease holds no other
  worker can take any job of that lane, so a ticket's jobs never overlap and run in the
  order received. On PostgreSQL the lane is picked with ``FOR UPDATE SKIP LOCKED`` so
  many workers on many hosts never wait on each other; on SQLite ``BEGIN IMMEDIATE``
  serialises claims.
* **Crashed workers.** A worker renews its lease while a job runs (heartbeat). If it
  dies, the lease expires and the lane is claimed again; the head job (still marked
  ``running``) runs again. Its attempt was counted before the work started.
* **Lost wake-ups cannot happen.** ``lanes.next_run_at`` (when the head job may run)
  is only written while holding the lane row's lock: enqueueing upserts the row,
  finishing locks it (``FOR UPDATE``) before recomputing the head.

Job states: ``pending`` → ``running`` → ``done`` | ``pending`` (retry later) | ``dead``.
A dead job does not block its lane; ``retry`` puts it back in line at its place.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Callable, Iterable

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

from connector.events import InboundEvent
from connector.pipeline.retry import RetryPolicy
from connector.store import Store, _dialect_insert
from connector.pipeline.intake import (  # noqa: F401 - EnqueueResult is part of this module's API
    EnqueueResult, PostgresIntake, SQLiteIntake, binds, make_intake, wake_lane_statement,
)
from connector.store.models import jobs, lanes, utcnow

log = logging.getLogger("connector.queue")

ACTIVE = ("pending", "running")


@dataclass(frozen=True)
class Job:
    id: int
    lane: str
    handler: str
    event_id: int | None
    payload: dict[str, Any] | None
    correlation_id: str
    attempts: int
    created_at: datetime
    state: str = "running"
    last_error: str | None = None
    run_after: datetime | None = None


class LeaseLost(Exception):
    """Another worker took the lane over (our lease expired); our result is discarded."""


@dataclass(frozen=True)
class _ProducerStatements:
    """The follow-up jobs' statements (:meth:`JobQueue.enqueue`), built once per dialect
    and executed with a dict of values. SQLAlchemy then compiles each once (its compiled
    cache is keyed by the statement); a statement built anew per call
    (``insert().values(**row)``) is keyed and compiled again every time."""

    insert_job: Executable  # RETURNING id
    insert_job_once: Executable  # ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
    wake_lane: Executable  # upsert; keeps an earlier next_run_at


@lru_cache(maxsize=None)
def _producer_statements(dialect: str) -> _ProducerStatements:
    return _ProducerStatements(
        insert_job=jobs.insert().returning(jobs.c.id),
        insert_job_once=_dialect_insert(dialect, jobs)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(jobs.c.id),
        wake_lane=wake_lane_statement(dialect, binds(lanes, ("key", "next_run_at"))),
    )


class JobQueue:
    def __init__(
        self,
        store: Store,
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ):
        self.store = store
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.clock = clock
        self.rng = rng or random.Random()
        self._intake_writer: PostgresIntake | SQLiteIntake | None = None
        self._intake_lock = threading.Lock()

    # -- producing -----------------------------------------------------------------

    def enqueue_event(
        self,
        event: InboundEvent,
        handlers: Iterable[str],
        correlation_id: str,
    ) -> EnqueueResult:
        """Store an inbound event and one job per handler, atomically.

        A redelivered event (same source and dedupe key) stores nothing and returns
        ``EnqueueResult(None, ())``. What is kept of the event is ``event.to_json()``, whose
        ``data`` the event masked when it was made.

        A connection found dead mid-transaction (the database restarted) is retried
        once on a fresh one. That is safe even if the lost transaction did commit: the
        retry then finds the event and answers "duplicate", and its jobs were
        committed with it.
        """
        now = self.clock()
        handlers = tuple(handlers)
        row = {
            "source": event.source,
            "dedupe_key": event.dedupe_key[:200],
            "event_type": event.event_type,
            "subject_key": event.subject_key,
            "ticket_id": event.ticket_id,
            "occurred_at": event.occurred_at,
            "received_at": now,
            "correlation_id": correlation_id,
            "event": json.dumps(event.to_json(), sort_keys=True),
        }
        try:
            return self._intake.write(row, handlers, now)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            log.warning("store connection lost while enqueueing %s %s; trying once more",
                        event.source, row["dedupe_key"])
            return self._intake.write(row, handlers, now)

    def enqueue(
        self,
        lane: str,
        handler: str,
        payload: dict[str, Any],
        correlation_id: str,
        *,
        dedupe_key: str | None = None,
        conn: Connection | None = None,
    ) -> int | None:
        """Add a follow-up job (not a webhook) at the end of a lane; None if
        ``dedupe_key`` exists already.

        There is deliberately no "run at" here: a future-dated job would hold up every
        later job of its lane. Work due later (SLA timers) lives in its own table and
        enqueues a job when it falls due.
        """
        if conn is None:
            with self.store.begin() as own:
                return self.enqueue(lane, handler, payload, correlation_id, dedupe_key=dedupe_key, conn=own)
        now = self.clock()
        job_id = self._insert_job(conn, lane, handler, correlation_id, now,
                                  payload=payload, dedupe_key=dedupe_key)
        if job_id is not None:
            self._wake_lane(conn, lane, now)
        return job_id

    @property
    def _sql(self) -> "_ProducerStatements":
        return _producer_statements(self.store.dialect)

    @property
    def _intake(self) -> "PostgresIntake | SQLiteIntake":
        # One per queue, so that the process's webhooks meet in one group writer; made
        # on first use (workers never need it) under a lock (web threads race to it).
        if self._intake_writer is None:
            with self._intake_lock:
                if self._intake_writer is None:
                    self._intake_writer = make_intake(self.store)
        return self._intake_writer

    def _insert_job(self, conn, lane, handler, correlation_id, now, *, event_id=None,
                    payload=None, dedupe_key=None) -> int | None:
        values = {
            "lane": lane,
            "handler": handler,
            "event_id": event_id,
            "payload": json.dumps(payload, sort_keys=True) if payload is not None else None,
            "dedupe_key": dedupe_key,
            "correlation_id": correlation_id,
            "state": "pending",
            "attempts": 0,
            "run_after": now,
            "created_at": now,
        }
        if dedupe_key is None:
            return conn.execute(self._sql.insert_job, values).scalar_one()
        return conn.execute(self._sql.insert_job_once, values).scalar()

    def _wake_lane(self, conn: Connection, lane: str, at: datetime) -> None:
        conn.execute(self._sql.wake_lane, {"key": lane, "next_run_at": at})

    # -- consuming -----------------------------------------------------------------

    def claim(self, worker_id: str) -> Job | None:
        """Lease one ready lane and start its head job; None when nothing is ready."""
        for _ in range(8):  # a stale lane (nothing runnable) is repaired and skipped
            now = self.clock()
            with self.store.begin() as conn:
                query = (
                    select(lanes.c.key)
                    .where(lanes.c.next_run_at <= now)
                    .where(or_(lanes.c.leased_until.is_(None), lanes.c.leased_until < now))
                    .order_by(lanes.c.next_run_at)
                    .limit(1)
                )
                if self.store.is_postgres:
                    query = query.with_for_update(skip_locked=True)
                lane = conn.execute(query).scalar()
                if lane is None:
                    return None
                head = self._head(conn, lane)
                if head is None or head.run_after > now:
                    conn.execute(update(lanes).where(lanes.c.key == lane).values(
                        next_run_at=head.run_after if head is not None else None))
                    continue
                conn.execute(update(lanes).where(lanes.c.key == lane).values(
                    leased_by=worker_id, leased_until=now + self.lease))
                conn.execute(update(jobs).where(jobs.c.id == head.id).values(
                    state="running", attempts=jobs.c.attempts + 1, started_at=now, worker_id=worker_id))
                return _to_job(head, attempts=head.attempts + 1, state="running")
        return None

    def heartbeat(self, job: Job, worker_id: str) -> bool:
        """Extend the lane lease; False if it was lost (the worker should stop quietly)."""
        now = self.clock()
        with self.store.begin() as conn:
            result = conn.execute(
                update(lanes)
                .where(and_(lanes.c.key == job.lane, lanes.c.leased_by == worker_id))
                .values(leased_until=now + self.lease)
            )
            return result.rowcount == 1

    def complete(self, job: Job, worker_id: str) -> None:
        self._finish(job, worker_id, state="done", error=None, run_after=None)

    def fail(self, job: Job, worker_id: str, error: BaseException) -> tuple[str, datetime | None, str]:
        """Record a failure; returns the policy's decision (``retry``/``dead``, when, why)."""
        decision, run_after, reason = self.policy.decide(
            error, job.attempts, job.created_at, self.clock(), self.rng)
        state = "pending" if decision == "retry" else "dead"
        self._finish(job, worker_id, state=state, error=_safe(reason), run_after=run_after)
        return decision, run_after, reason

    def _finish(self, job, worker_id, *, state, error, run_after) -> None:
        now = self.clock()
        with self.store.begin() as conn:
            lock = select(lanes.c.leased_by).where(lanes.c.key == job.lane)
            if self.store.is_postgres:
                lock = lock.with_for_update()
            holder = conn.execute(lock).scalar()
            if holder != worker_id:
                raise LeaseLost(f"lane {job.lane} is now leased by {holder!r}")
            values: dict[str, Any] = {"state": state, "last_error": error}
            if state == "pending":
                values["run_after"] = run_after
            else:
                values["finished_at"] = now
            conn.execute(update(jobs).where(jobs.c.id == job.id).values(**values))
            head = self._head(conn, job.lane)
            conn.execute(update(lanes).where(lanes.c.key == job.lane).values(
                leased_by=None, leased_until=None,
                next_run_at=head.run_after if head is not None else None))

    def _head(self, conn: Connection, lane: str):
        return conn.execute(
            select(jobs).where(and_(jobs.c.lane == lane, jobs.c.state.in_(ACTIVE)))
            .order_by(jobs.c.id).limit(1)
        ).first()

    # -- operating -----------------------------------------------------------------

    def list_jobs(self, states: Iterable[str] = ("pending", "running", "dead"), limit: int = 100) -> list[Job]:
        with self.store.connect() as conn:
            rows = conn.execute(
                select(jobs).where(jobs.c.state.in_(tuple(states))).order_by(jobs.c.id).limit(limit)
            ).fetchall()
        return [_to_job(r) for r in rows]

    def retry(self, job_ids: Iterable[int] | None = None) -> int:
        """Put dead jobs (all of them, or the given ones) back in line; returns how many."""
        now = self.clock()
        with self.store.begin() as conn:
            query = select(jobs.c.id, jobs.c.lane).where(jobs.c.state == "dead")
            if job_ids is not None:
                query = query.where(jobs.c.id.in_(list(job_ids)))
            rows = conn.execute(query).fetchall()
            for row in rows:
                # attempts restart so the policy gives the revived job a full allowance;
                # created_at restarts so max_age does not kill it at once.
                conn.execute(update(jobs).where(jobs.c.id == row.id).values(
                    state="pending", attempts=0, run_after=now, created_at=now, finished_at=None))
                # Wake the lane now; claim() re-derives the real head and its time.
                self.store.upsert(conn, lanes, {"key": row.lane, "next_run_at": now}, ["key"],
                                  {"next_run_at": now})
            return len(rows)

    def stats(self) -> dict[str, Any]:
        """Counts by state and the age of the oldest job still waiting (for /metrics)."""
        now = self.clock()
        with self.store.connect() as conn:
            counts = dict(conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)).fetchall())
            oldest = conn.execute(select(func.min(jobs.c.created_at)).where(jobs.c.state.in_(ACTIVE))).scalar()
        if oldest is not None and oldest.tzinfo is None:  # aggregate bypasses the type
            from datetime import timezone
            oldest = oldest.replace(tzinfo=timezone.utc)
        return {
            "counts": {s: counts.get(s, 0) for s in ("pending", "running", "done", "dead")},
            "oldest_waiting_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        }


def _to_job(row, **override) -> Job:
    data = dict(
        id=row.id, lane=row.lane, handler=row.handler, event_id=row.event_id,
        payload=json.loads(row.payload) if row.payload else None,
        correlation_id=row.correlation_id, attempts=row.attempts, created_at=row.created_at,
        state=row.state, last_error=row.last_error, run_after=row.run_after,
    )
    data.update(override)
    return Job(**data)


def _safe(text: str) -> str:
    """Secrets redacted, then card numbers masked (that order: a secret with digits in it
    must not be half-masked and so escape redaction)."""
    from connector.logs import scrub

    return scrub(text)


def new_worker_id() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
