"""The webhook intake's write: an event, one job per handler and the lane's wake-up,
committed before the webhook is answered (:meth:`JobQueue.enqueue_event`).

Both writers run prebuilt statements on a DBAPI connection (:mod:`connector.store.direct`):
this write happens on every request, and through a SQLAlchemy ``Connection`` it cost more
CPU than the database's own work.

Both commit in **groups**. The webhooks of one process that are waiting to be written
when a write begins are written together. The first thread to arrive when nobody is
writing writes (its group is itself and whoever queued meanwhile: no hand-off, no extra
thread, no added wait when webhooks come one at a time); threads that arrive during a
write queue, and the writer, once committed, hands the turn to the first of them, who
writes all the queued ones. Every thread returns — and its webhook is answered — only
after the transaction holding its event has committed, so "nothing acknowledged is lost"
is unchanged; a crash before the commit loses only webhooks nobody has answered yet (the
vendor redelivers them).

**PostgreSQL**: a group is ONE statement (data-modifying CTEs; :func:`_group_statement`)
on an autocommit connection: one round trip and one commit for the group, where one
webhook alone used to cost five round trips (BEGIN, three statements, COMMIT). A single
statement is atomic. A redelivered event inserts nothing, and neither do its jobs and
lane, which select from the events' ``RETURNING``.

**SQLite** has one writer at a time for the whole database and no data-modifying CTEs:
a group is one ``BEGIN IMMEDIATE``, one multi-row ``INSERT`` each for the events, the
jobs and the lanes, and one ``COMMIT`` (one WAL sync). Between its statements the writing
thread gives up and re-takes the GIL, which the process's other request threads hold
while they parse and verify; one webhook's five statements could hold the write lock, and
so stall every other writer, for milliseconds of GIL waits. A group pays them once.

Across processes (gunicorn workers, the CLI) SQLite's writers take turns on a lock file
(``<database>-intake-lock``, ``flock``): see :func:`_intake_lock_path`.

If a group's write fails for any reason but a lost connection, its webhooks are written
again one by one, so a webhook the database refuses fails alone. A lost connection (the
database went away) fails every webhook of the group; :meth:`JobQueue.enqueue_event`
retries each once.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ContextManager, Iterable, Iterator

from sqlalchemy import String, bindparam, literal_column
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable

from connector.store import Store, _dialect_insert
from connector.store.direct import RowsStatement, HeldConnection
from connector.store.models import inbound_events, jobs, lanes

log = logging.getLogger("connector.queue")

EVENT_COLUMNS = ("source", "dedupe_key", "event_type", "subject_key", "ticket_id", "occurred_at", "received_at",
                 "correlation_id", "event")
_JOB_COLUMNS = ("lane", "handler", "event_id", "correlation_id", "run_after", "created_at")

MAX_GROUP = 64
"""The most webhooks one group writes. A web process's 8 request threads (the Procfile's
``--threads 8``) queue at most 8; the cap only bounds the statements' size."""


@dataclass(frozen=True)
class EnqueueResult:
    event_id: int | None
    job_ids: tuple[int, ...]

    @property
    def duplicate(self) -> bool:
        return self.event_id is None


DUPLICATE = EnqueueResult(None, ())

# A new job's first state, written into the statements rather than sent with every call.
_PENDING = literal_column("'pending'")
_NO_ATTEMPTS = literal_column("0")


def binds(table, names: Iterable[str], suffix: str = "") -> dict[str, Any]:
    """``{column: bindparam}`` with the column's type (so its bind processor applies)."""
    return {name: bindparam(name + suffix, type_=table.c[name].type) for name in names}


def wake_lane_statement(dialect: str, values: dict[str, Any] | list[dict[str, Any]]) -> Executable:
    """Upsert the lane row(s): a lane that is already due (``next_run_at`` set) keeps its
    time, so a new job never overtakes the lane's head; only an idle lane (``NULL``) is
    updated. An awake lane is left as it is rather than rewritten with its own value: under
    a burst most webhooks find their lane awake, and on PostgreSQL each rewrite would be a
    new row version. The row is locked either way (PostgreSQL locks a conflicting row
    even when the ``WHERE`` skips the update), so a worker finishing the lane's last job
    and this wake-up still take turns on it."""
    lane = _dialect_insert(dialect, lanes).values(values)
    return lane.on_conflict_do_update(
        index_elements=["key"],
        set_={"next_run_at": lane.excluded.next_run_at},
        where=lanes.c.next_run_at.is_(None),
    )


def make_intake(store: Store) -> "PostgresIntake | SQLiteIntake":
    return PostgresIntake(store) if store.is_postgres else SQLiteIntake(store)


# --- groups -------------------------------------------------------------------------

class _Waiting:
    """One webhook waiting for its group's commit. Its thread sleeps on ``wake`` (a lock
    taken when it is made), which the writer releases once: when the group holding it is
    over (``done``), or, with ``done`` still false, when it is its thread's turn to write
    the queued group."""

    __slots__ = ("row", "handlers", "now", "result", "error", "done", "wake")

    def __init__(self, row: dict[str, Any], handlers: tuple[str, ...], now: datetime):
        self.row, self.handlers, self.now = row, handlers, now
        self.result: EnqueueResult | None = None
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Lock()
        self.wake.acquire()

    def outcome(self) -> EnqueueResult:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _firsts(group: list[_Waiting]) -> list[_Waiting]:
    """The members of ``group`` to write, in arrival order: a later delivery of an event
    already in the group is left out, and answered as a duplicate once the first is
    written (see :func:`_settle`)."""
    firsts: dict[tuple[str, str], _Waiting] = {}
    for waiting in group:
        firsts.setdefault((waiting.row["source"], waiting.row["dedupe_key"]), waiting)
    return list(firsts.values()) if len(firsts) < len(group) else group


def _settle(group: list[_Waiting], results: dict[tuple[str, str], EnqueueResult]) -> None:
    """Give each member of a committed group its result: ``results`` holds the events the
    group inserted, by (source, dedupe key); a member whose event is not there (stored
    before, or delivered earlier in this group) is a duplicate."""
    for waiting in group:
        key = (waiting.row["source"], waiting.row["dedupe_key"])
        waiting.result = results.pop(key, DUPLICATE)


class _GroupCommit(ABC):
    """The webhooks of one process that queue while a write is under way are written
    together by the next writer (see the module's docstring). Each store's subclass
    writes a group in :meth:`_commit`."""

    def __init__(self, connection: HeldConnection) -> None:
        self._mutex = threading.Lock()  # guards _queued and _writing, held only briefly
        self._queued: list[_Waiting] = []
        self._writing = False  # a group is under way
        # Only the thread whose turn it is writes, so one connection serves them all.
        self._connection = connection

    def close(self) -> None:
        self._connection.close()

    @abstractmethod
    def _commit(self, group: list[_Waiting]) -> None:
        """Write ``group`` in one transaction on ``self._connection`` and, once it has
        committed, set every member's ``result``; raise if it did not commit."""

    def write(self, row: dict[str, Any], handlers: tuple[str, ...], now: datetime) -> EnqueueResult:
        mine = _Waiting(row, handlers, now)
        with self._mutex:
            self._queued.append(mine)
            writer = not self._writing
            if writer:
                self._writing = True
                group = self._take()
        if not writer:
            mine.wake.acquire()  # until our group is over or the next one is ours to write
            if mine.done:
                return mine.outcome()
            with self._mutex:
                group = self._take()
        try:
            self._write_group(group)
        finally:
            with self._mutex:
                for waiting in group:
                    waiting.done = True
                following = self._queued[0] if self._queued else None  # the next group is theirs to write
                if following is None:
                    self._writing = False
            for waiting in group:
                if waiting is not mine:
                    waiting.wake.release()
            if following is not None:
                following.wake.release()
        return mine.outcome()

    def _take(self) -> list[_Waiting]:
        group, self._queued = self._queued[:MAX_GROUP], self._queued[MAX_GROUP:]
        return group

    def _write_group(self, group: list[_Waiting]) -> None:
        """Set every member's result or error; never raises."""
        try:
            self._commit(group)
        except BaseException as error:  # noqa: BLE001 - handed to each waiting thread
            lost = isinstance(error, DBAPIError) and error.connection_invalidated
            if len(group) == 1 or lost or not isinstance(error, Exception):
                for waiting in group:
                    waiting.error = error
                return
            log.warning("writing %d webhooks together failed (%s); writing them one by one",
                        len(group), type(error).__name__)
            for waiting in group:
                try:
                    self._commit([waiting])
                except BaseException as alone:  # noqa: BLE001 - handed to its thread
                    waiting.error = alone


# --- SQLite -------------------------------------------------------------------------

class SQLiteIntake(_GroupCommit):
    def __init__(self, store: Store):
        super().__init__(store.held_connection())
        self._engine = store.engine
        self._lock_path = _intake_lock_path(store)
        self._statements: dict[tuple[str, int], RowsStatement] = {}

    def _commit(self, group: list[_Waiting]) -> None:
        writing = _firsts(group)
        with self._turn(), self._connection.use() as conn:
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            insert_events = self._statement("events", len(writing))
            cursor.execute(insert_events.sql, insert_events.parameters([w.row for w in writing]))
            inserted = {(source, key): event_id for event_id, source, key in cursor.fetchall()}
            new: list[tuple[_Waiting, int]] = []  # (webhook, event id); a redelivery inserted nothing
            for w in writing:
                event_id = inserted.get((w.row["source"], w.row["dedupe_key"]))
                if event_id is not None:
                    new.append((w, event_id))
            job_rows = [(w, event_id, handler) for w, event_id in new for handler in w.handlers]
            job_ids: dict[tuple[int, str], int] = {}
            if job_rows:
                woken: dict[str, datetime] = {}  # lane -> the earliest wake-up of this group
                for w, _, _ in job_rows:
                    woken.setdefault(w.row["subject_key"], w.now)
                insert_jobs = self._statement("jobs", len(job_rows))
                cursor.execute(insert_jobs.sql, insert_jobs.parameters([
                    {"lane": w.row["subject_key"], "handler": handler, "event_id": event_id,
                     "correlation_id": w.row["correlation_id"], "run_after": w.now, "created_at": w.now}
                    for w, event_id, handler in job_rows]))
                job_ids = {(event_id, handler): job_id for job_id, event_id, handler in cursor.fetchall()}
                wake_lanes = self._statement("lanes", len(woken))
                cursor.execute(wake_lanes.sql, wake_lanes.parameters(
                    [{"key": lane, "next_run_at": at} for lane, at in woken.items()]))
            cursor.execute("COMMIT")
        _settle(group, {(w.row["source"], w.row["dedupe_key"]): EnqueueResult(
            event_id, tuple(job_ids[(event_id, handler)] for handler in w.handlers)) for w, event_id in new})

    def _statement(self, kind: str, rows: int) -> RowsStatement:
        """The multi-row statement of ``kind`` for ``rows`` rows, compiled on first use;
        bind parameters are the column names suffixed ``_0``, ``_1``, …"""
        statement = self._statements.get((kind, rows))
        if statement is None:
            if kind == "events":
                built = (_dialect_insert("sqlite", inbound_events)
                         .values([binds(inbound_events, EVENT_COLUMNS, f"_{i}") for i in range(rows)])
                         .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
                         .returning(inbound_events.c.id, inbound_events.c.source, inbound_events.c.dedupe_key))
            elif kind == "jobs":
                built = jobs.insert().values([
                    {**binds(jobs, _JOB_COLUMNS, f"_{i}"), "state": _PENDING, "attempts": _NO_ATTEMPTS}
                    for i in range(rows)]).returning(jobs.c.id, jobs.c.event_id, jobs.c.handler)
            else:
                built = wake_lane_statement("sqlite", [binds(lanes, ("key", "next_run_at"), f"_{i}")
                                                       for i in range(rows)])
            statement = self._statements[(kind, rows)] = RowsStatement(built, self._engine)
        return statement

    def _turn(self) -> ContextManager[None]:
        return _flock(self._lock_path) if self._lock_path else nullcontext()


# --- PostgreSQL ---------------------------------------------------------------------

class PostgresIntake(_GroupCommit):
    """A group is ONE statement (data-modifying CTEs) on an autocommit connection: its
    events, their jobs and their lanes' wake-ups, atomic as a whole."""

    def __init__(self, store: Store):
        super().__init__(store.held_connection(autocommit=True))
        self._quote = String().literal_processor(store.engine.dialect)
        self._statements: dict[tuple[tuple[str, ...], ...], str] = {}

    def _commit(self, group: list[_Waiting]) -> None:
        writing = _firsts(group)
        shape = tuple(waiting.handlers for waiting in writing)
        sql = self._statements.get(shape)
        if sql is None:
            if len(self._statements) >= 256:  # shapes are few; never let them pile up
                self._statements.clear()
            sql = self._statements[shape] = _group_statement(shape, self._quote)
        values = [waiting.row[name] for waiting in writing for name in EVENT_COLUMNS]
        with self._connection.use() as conn:
            rows = conn.execute(sql, values).fetchall()
        events: dict[tuple[str, str], int] = {}
        jobs_of: dict[int, list[int]] = {}
        for event_id, source, key, job_id in rows:  # an event's row has no job id; a job's, no key
            if job_id is None:
                events[(source, key)] = event_id
            else:
                jobs_of.setdefault(event_id, []).append(job_id)
        _settle(group, {key: EnqueueResult(event_id, tuple(sorted(jobs_of.get(event_id, ()))))
                        for key, event_id in events.items()})


# Types without lengths on purpose: an explicit cast to varchar(n) silently cuts a longer
# value to n characters, where the column itself refuses it (and the webhook gets a 500
# and is redelivered rather than stored cut short).
_CASTS = {"source": "varchar", "dedupe_key": "varchar", "event_type": "varchar", "subject_key": "varchar",
          "ticket_id": "bigint", "occurred_at": "timestamptz", "received_at": "timestamptz",
          "correlation_id": "varchar", "event": "text"}


def _group_statement(shape: tuple[tuple[str, ...], ...], quote) -> str:
    """The statement writing one group: ``shape`` is each webhook's handlers, in arrival
    order, each event once (:func:`_firsts`). Parameters: each webhook's
    :data:`EVENT_COLUMNS`, one webhook after the other. Rows back: ``(id, source,
    dedupe_key, NULL)`` for each event inserted (a redelivery inserts nothing) and
    ``(event id, NULL, NULL, job id)`` for each of their jobs.

    - Job ids follow arrival order, then handler order: a lane's jobs run in the order
      received.
    - Rows that can make concurrent groups wait on each other's locks go in a fixed order
      (events by source and key, lanes by key), so two groups never deadlock.
    - The handler names and a job's first state are written into the statement (their
      quoting is the dialect's own), so the driver adapts only the events' values.

    Written as SQL text rather than with SQLAlchemy Core: it is PostgreSQL-only, and
    ``VALUES`` with typed parameters, ``DISTINCT ON`` and ``unnest … WITH ORDINALITY``
    read more plainly as SQL."""
    rows = ",\n    ".join(
        "(" + ", ".join([str(i)] + [f"CAST(%s AS {_CASTS[name]})" for name in EVENT_COLUMNS]
                        + ["ARRAY[" + ", ".join(quote(h) for h in handlers) + "]::varchar[]"]) + ")"
        for i, handlers in enumerate(shape))
    columns = ", ".join(EVENT_COLUMNS)
    return f"""WITH arrived (ord, {columns}, handlers) AS (VALUES
    {rows}),
new_events AS (
    INSERT INTO inbound_events ({columns})
    SELECT {columns} FROM arrived ORDER BY source, dedupe_key
    ON CONFLICT (source, dedupe_key) DO NOTHING
    RETURNING id, source, dedupe_key),
new_jobs AS (
    INSERT INTO jobs (lane, handler, event_id, correlation_id, state, attempts, run_after, created_at)
    SELECT a.subject_key, h.handler, e.id, a.correlation_id, 'pending', 0, a.received_at, a.received_at
    FROM arrived a JOIN new_events e USING (source, dedupe_key)
    CROSS JOIN LATERAL unnest(a.handlers) WITH ORDINALITY AS h (handler, n)
    ORDER BY a.ord, h.n
    RETURNING id, event_id),
woken_lanes AS (
    INSERT INTO lanes (key, next_run_at)
    SELECT DISTINCT ON (a.subject_key) a.subject_key, a.received_at
    FROM arrived a JOIN new_events e USING (source, dedupe_key)
    WHERE cardinality(a.handlers) > 0
    ORDER BY a.subject_key, a.ord
    ON CONFLICT (key) DO UPDATE SET next_run_at = excluded.next_run_at WHERE lanes.next_run_at IS NULL)
SELECT id, source, dedupe_key, NULL::bigint FROM new_events
UNION ALL
SELECT event_id, NULL, NULL, id FROM new_jobs"""


def _intake_lock_path(store: Store) -> str:
    """SQLite's webhook writers take turns on a lock file beside the database
    (``<database>-intake-lock``, ``flock``) before ``BEGIN IMMEDIATE``.

    SQLite makes a writer that finds the lock taken sleep and retry, in steps growing to
    100 ms, however soon the lock is free again; under a burst of webhooks from several
    processes that gave waits of seconds while the database sat idle. A waiter on
    ``flock`` is woken by the kernel the moment the lock file is released. Other writers
    (workers, counters) still meet SQLite's own wait.

    "" for PostgreSQL or an in-memory database, or when the file cannot be created (then
    SQLite's own wait applies)."""
    database = store.engine.url.database if store.dialect == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return ""
    path = os.path.abspath(database) + "-intake-lock"
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as error:
        log.warning("no intake lock file %s (%s); writers wait in SQLite's busy handler", path, error)
        return ""
    return path


@contextmanager
def _flock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without holding the GIL
        yield
    finally:
        os.close(fd)  # releases the lock
