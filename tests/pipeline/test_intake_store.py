"""The webhook intake's store path, on SQLite and PostgreSQL: prebuilt statements, pooled
connections (pinged only when idle, dropped in forked children), one retry on a lost
connection, and SQLite writers taking turns on a lock file."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import DBAPIError

import connector.store
from connector.events import InboundEvent
from connector.pipeline.intake import _intake_lock_path
from connector.pipeline.queue import EnqueueResult, JobQueue
from connector.store import Store, normalise_url
from connector.store.models import inbound_events, jobs, lanes
from tests.conftest import PG_URL
from tests.support.clock import FakeClock


ONLY_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _event(ticket: int, n: int) -> InboundEvent:
    return InboundEvent(source="zendesk", event_type="ticket.status_changed", dedupe_key=f"evt-{ticket}-{n}",
                        subject_key=f"zendesk:ticket:{ticket}", occurred_at=datetime(2026, 11, 23, tzinfo=timezone.utc),
                        ticket_id=ticket)


def _counts(store: Store) -> tuple[int, int, int]:
    with store.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar() for t in (inbound_events, jobs, lanes))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(store, clock):
    return JobQueue(store, clock=clock)


def test_event_jobs_and_lane_are_stored_and_a_redelivery_adds_nothing(queue, store, clock):
    first = queue.enqueue_event(_event(7, 1), ["a", "b"], "corr-1")
    assert not first.duplicate and len(first.job_ids) == 2 and first.job_ids[0] < first.job_ids[1]
    woken_at = clock.now
    clock.advance(60)
    again = queue.enqueue_event(_event(7, 1), ["a", "b"], "corr-2")
    assert again.duplicate and again.job_ids == ()
    queue.enqueue_event(_event(7, 2), ["a"], "corr-3")
    assert _counts(store) == (2, 3, 1)
    with store.connect() as conn:
        kept = conn.execute(select(inbound_events.c.event, inbound_events.c.correlation_id)
                            .where(inbound_events.c.id == first.event_id)).one()
        next_run_at = conn.execute(select(lanes.c.next_run_at)).scalar_one()
        handlers = conn.execute(select(jobs.c.handler, jobs.c.event_id, jobs.c.state).order_by(jobs.c.id)).all()
    assert (json.loads(kept[0]), kept[1]) == (_event(7, 1).to_json(), "corr-1")
    assert next_run_at == woken_at  # a later job never moves the lane's head time
    assert handlers[:2] == [("a", first.event_id, "pending"), ("b", first.event_id, "pending")]


def _lose_connection_on_first(store: Store, sql_start: str, times: int = 1) -> list[str]:
    """Make the next ``times`` statements run through SQLAlchemy (not the intake's
    direct path: see :class:`_Driver`) starting with ``sql_start`` fail as a dropped
    connection would (SQLAlchemy invalidates it and the pool behind it)."""
    failures: list[str] = []
    dbapi = store.engine.dialect.loaded_dbapi

    @event.listens_for(store.engine, "before_cursor_execute")
    def _fail(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith(sql_start) and len(failures) < times:
            failures.append(statement)
            raise dbapi.OperationalError("server closed the connection unexpectedly")

    @event.listens_for(store.engine, "handle_error")
    def _as_disconnect(context):
        if "server closed the connection unexpectedly" in str(context.original_exception):
            context.is_disconnect = True

    return failures


def test_the_same_event_delivered_at_once_by_many_threads_is_stored_once(queue, store):
    """Zendesk retries a delivery it thinks timed out while the first is still being
    stored: eight deliveries of one event at the same moment make one event and one job
    set; every other delivery is answered as a duplicate."""
    start = threading.Barrier(8)
    results = []

    def deliver(_thread: int) -> None:
        start.wait(timeout=10)
        results.append(queue.enqueue_event(_event(7, 1), ["a", "b"], "corr"))

    errors = _in_threads(deliver, 8)
    assert errors == []
    stored = [r for r in results if not r.duplicate]
    assert len(results) == 8 and len(stored) == 1 and len(stored[0].job_ids) == 2
    assert _counts(store) == (1, 2, 1)


LOST = "server closed the connection unexpectedly"


class _Driver:
    """Stands between the intake and the connections it takes from the pool
    (``engine.raw_connection()``): records the first words of every statement the driver
    runs, and makes the first ``times`` statements starting with ``fail_on`` fail as a
    dropped connection does (the dialect's ``is_disconnect`` then recognises it)."""

    def __init__(self, store: Store, monkeypatch, fail_on: str | None = None, times: int = 0, message: str = LOST):
        self.seen: list[str] = []
        self.failures: list[str] = []
        self._fail_on, self._times, self._message = fail_on, times, message
        self._error = store.engine.dialect.loaded_dbapi.OperationalError
        engine = store.engine
        real_raw = engine.raw_connection
        real_is_disconnect = engine.dialect.is_disconnect
        monkeypatch.setattr(engine, "raw_connection", lambda: _Fairy(real_raw(), self))
        monkeypatch.setattr(engine.dialect, "is_disconnect",
                            lambda error, conn, cursor: LOST in str(error) or real_is_disconnect(error, conn, cursor))

    def check(self, sql: str) -> None:
        self.seen.append(" ".join(sql.split()[:3]))
        if self._fail_on and sql.startswith(self._fail_on) and len(self.failures) < self._times:
            self.failures.append(sql)
            raise self._error(self._message)


class _Proxy:
    def __init__(self, target, driver: _Driver):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_driver", driver)

    def __getattr__(self, name):
        return getattr(self._target, name)

    def __setattr__(self, name, value):
        setattr(self._target, name, value)

    def execute(self, sql, *args, **kwargs):
        self._driver.check(sql)
        return self._target.execute(sql, *args, **kwargs)

    def cursor(self, *args, **kwargs):
        return _Proxy(self._target.cursor(*args, **kwargs), self._driver)


class _Fairy:
    def __init__(self, fairy, driver: _Driver):
        self._fairy = fairy
        self.driver_connection = self.dbapi_connection = _Proxy(fairy.driver_connection, driver)

    def __getattr__(self, name):
        return getattr(self._fairy, name)


def _held(queue: JobQueue):
    """The connection the queue's intake holds (None before its first write)."""
    return queue._intake._connection._conn


def _mid_enqueue(store: Store) -> str:
    """A statement the enqueue runs after it has started writing: on PostgreSQL its one
    statement (event, jobs and lane together), on SQLite the job insert after the event's."""
    return "WITH arrived" if store.is_postgres else "INSERT INTO jobs"


def test_postgres_enqueues_in_one_statement_and_sqlite_in_one_transaction(queue, store, monkeypatch):
    driver = _Driver(store, monkeypatch)
    result = queue.enqueue_event(_event(7, 1), ["a", "b"], "corr")
    if store.is_postgres:
        assert driver.seen == ["WITH arrived (ord,"]
    else:
        assert driver.seen == ["BEGIN IMMEDIATE", "INSERT INTO inbound_events", "INSERT INTO jobs", "INSERT INTO lanes",
                               "COMMIT"]
    assert len(result.job_ids) == 2 and _counts(store) == (1, 2, 1)
    assert queue.enqueue_event(_event(7, 1), ["a", "b"], "corr").duplicate
    assert driver.seen[-2:] == (["WITH arrived (ord,"] * 2 if store.is_postgres else ["INSERT INTO inbound_events", "COMMIT"])
    assert _counts(store) == (1, 2, 1)


def test_the_intake_leaves_the_stores_transactions_alone(queue, store):
    """The intake writes on a connection of its own, taken out of the pool (on PostgreSQL
    one whose statements commit on their own); the store's transactions still roll back
    as a whole."""
    queue.enqueue_event(_event(7, 1), ["h"], "corr")
    with pytest.raises(RuntimeError):
        with store.begin() as conn:
            conn.execute(text("DELETE FROM jobs"))
            assert conn.connection.dbapi_connection is not _held(queue)
            raise RuntimeError("roll back")
    assert _counts(store) == (1, 1, 1)  # the delete was rolled back
    if store.is_postgres:
        assert _held(queue).autocommit
        with store.connect() as conn:
            assert not conn.connection.dbapi_connection.autocommit


def test_a_connection_lost_mid_enqueue_is_retried_once_on_a_fresh_connection(queue, store, caplog, monkeypatch):
    driver = _Driver(store, monkeypatch, fail_on=_mid_enqueue(store), times=1)
    with caplog.at_level(logging.WARNING, logger="connector.queue"):
        result = queue.enqueue_event(_event(7, 1), ["h"], "corr")
    assert len(driver.failures) == 1 and not result.duplicate
    assert _counts(store) == (1, 1, 1)  # the half-done first attempt was rolled back
    assert "store connection lost" in caplog.text


def test_a_second_lost_connection_is_not_retried(queue, store, monkeypatch):
    _Driver(store, monkeypatch, fail_on="WITH arrived" if store.is_postgres else "INSERT INTO inbound_events",
            times=2)
    with pytest.raises(Exception) as raised:
        queue.enqueue_event(_event(7, 1), ["h"], "corr")
    assert getattr(raised.value, "connection_invalidated", False)
    assert _counts(store) == (0, 0, 0)


def test_a_store_error_that_is_not_a_lost_connection_is_raised_at_once(queue, store, monkeypatch):
    """A write the database refuses is not retried: the caller answers 500 and the vendor
    redelivers later. Nothing is half-stored, and the connection is fine after."""
    if store.is_postgres:  # a value too long for its column
        refused = dataclasses.replace(_event(7, 1), event_type="x" * 101)
    else:  # a store that cannot be written (read-only file, full disk) refuses mid-write
        refused = _event(7, 1)
        _Driver(store, monkeypatch, fail_on="INSERT INTO jobs", times=1,
                message="attempt to write a readonly database")
    with pytest.raises(DBAPIError) as raised:
        queue.enqueue_event(refused, ["h"], "corr")
    assert not raised.value.connection_invalidated
    assert _counts(store) == (0, 0, 0)  # the event written before the refusal was rolled back
    assert not queue.enqueue_event(_event(7, 2), ["h"], "corr").duplicate


def test_the_intakes_connection_is_pinged_only_after_it_sat_idle(database_url, monkeypatch):
    pings = []
    store = Store(database_url)
    store.migrate()
    real = store.engine.dialect.do_ping
    monkeypatch.setattr(store.engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
    queue = JobQueue(store)
    try:
        for n in range(5):
            queue.enqueue_event(_event(7, n), ["h"], "corr")
        assert pings == []  # busy: used again at once
        monkeypatch.setattr(connector.store, "IDLE_PING_SECONDS", 0.0)  # every reuse counts as idle
        for n in range(5, 8):
            queue.enqueue_event(_event(7, n), ["h"], "corr")
        assert len(pings) == 3
    finally:
        store.dispose()


@ONLY_POSTGRES  # SQLite connections cannot be killed from outside
def test_postgres_a_killed_idle_connection_is_replaced_before_use(database_url, monkeypatch, caplog):
    monkeypatch.setattr(connector.store, "IDLE_PING_SECONDS", 0.0)
    store = Store(database_url)
    store.migrate()
    queue = JobQueue(store)
    try:
        queue.enqueue_event(_event(7, 1), ["h"], "corr")
        _terminate_pooled_backends(store, queue)
        with caplog.at_level(logging.WARNING, logger="connector.queue"):
            assert not queue.enqueue_event(_event(7, 2), ["h"], "corr").duplicate
        assert "store connection lost" not in caplog.text  # the ping found it, no retry needed
        assert _counts(store)[:2] == (2, 2)
    finally:
        store.dispose()


@ONLY_POSTGRES
def test_postgres_a_connection_killed_while_busy_costs_one_retry(database_url, store, queue, caplog):
    queue.enqueue_event(_event(7, 1), ["h"], "corr")
    _terminate_pooled_backends(store, queue)
    with caplog.at_level(logging.WARNING, logger="connector.queue"):
        assert not queue.enqueue_event(_event(7, 2), ["h"], "corr").duplicate
    assert "store connection lost" in caplog.text
    assert _counts(store)[:2] == (2, 2)


def _terminate_pooled_backends(store: Store, queue: JobQueue) -> None:
    """Kill the server side of the intake's connection."""
    pid = _held(queue).info.backend_pid
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


def _intake_connections(store: Store, queue: JobQueue) -> list:
    """The connection the intake would use next, if it holds one."""
    return [_held(queue)] if _held(queue) is not None else []


def test_a_forked_child_leaves_the_parents_connections_alone(store, queue):
    queue.enqueue_event(_event(7, 1), ["h"], "corr")
    inherited = _intake_connections(store, queue)
    assert len(inherited) == 1
    pid = os.fork()
    if pid == 0:  # the child: must not touch the inherited connection; its own works
        code = 3
        try:
            if not queue.enqueue_event(_event(8, 1), ["h"], "child").duplicate:
                code = 0 if not set(map(id, _intake_connections(store, queue))) & set(map(id, inherited)) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not queue.enqueue_event(_event(9, 1), ["h"], "parent").duplicate  # parent's connection intact
    assert _intake_connections(store, queue) == inherited
    assert _counts(store) == (3, 3, 3)


@ONLY_SQLITE
def test_sqlite_intake_keeps_one_connection_with_the_stores_pragmas(store, queue):
    """Only the thread whose turn it is writes, so the intake holds one connection for
    good instead of taking one from the pool for every group."""
    queue.enqueue_event(_event(7, 0), ["h"], "corr")
    [held] = _intake_connections(store, queue)
    for n in range(1, 3):
        queue.enqueue_event(_event(7, n), ["h"], "corr")
    assert _intake_connections(store, queue) == [held]
    assert held.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert held.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert held.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    queue._intake.close()
    with pytest.raises(sqlite3.ProgrammingError):
        held.execute("SELECT 1")  # closed


def _in_threads(send, count: int) -> list[BaseException]:
    """Run ``send(0)`` … ``send(count - 1)`` at once, each in its own thread; what they raised."""
    errors: list[BaseException] = []

    def run(thread: int) -> None:
        try:
            send(thread)
        except BaseException as error:  # noqa: BLE001 - returned to the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_sqlite_webhook_writers_take_turns_on_a_lock_file(store, clock):
    if store.dialect != "sqlite":
        assert _intake_lock_path(store) == ""  # PostgreSQL: no turn-taking
        return
    assert _intake_lock_path(store) == store.engine.url.database + "-intake-lock"
    queues = [JobQueue(store, clock=clock), JobQueue(Store(str(store.engine.url)), clock=clock)]

    def send(thread: int) -> None:
        for n in range(25):
            queues[thread % 2].enqueue_event(_event(100 + thread, n), ["h"], f"corr-{thread}")

    errors = _in_threads(send, 8)
    queues[1].store.dispose()
    assert errors == []
    assert _counts(store) == (200, 200, 8)
    assert os.path.exists(store.engine.url.database + "-intake-lock")


def _deliver_behind_a_writer(store: Store, queue: JobQueue, monkeypatch, first, queued):
    """Hold the first delivery inside its transaction while the ``queued`` deliveries
    arrive one after another, then let it go. Returns the driver (statements seen), and
    each delivery's result or error by name. Asserts that nobody was answered before the
    first commit."""
    driver = _Driver(store, monkeypatch)
    inside, release = threading.Event(), threading.Event()
    record = driver.check

    def check(sql: str) -> None:
        record(sql)
        if not inside.is_set():  # the first statement of the first write
            inside.set()
            release.wait(10)

    monkeypatch.setattr(driver, "check", check)
    answers: dict[str, object] = {}

    def deliver(name, event, handlers):
        try:
            answers[name] = queue.enqueue_event(event, handlers, f"corr-{name}")
        except Exception as error:  # noqa: BLE001 - asserted by the caller
            answers[name] = error

    threads = [threading.Thread(target=deliver, args=first)]
    threads[0].start()
    assert inside.wait(10)
    for n, delivery in enumerate(queued, start=1):
        threads.append(threading.Thread(target=deliver, args=delivery))
        threads[-1].start()
        for _ in range(1000):  # until it waits its turn behind the writer
            if len(queue._intake._queued) == n:
                break
            threading.Event().wait(0.01)
        assert len(queue._intake._queued) == n
    assert answers == {}  # nobody answered before the commit
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    return driver, answers


def test_a_lane_gone_idle_is_woken_by_the_next_job_from_either_producer(queue, store, clock):
    """A lane whose last job finished has no ``next_run_at``; the next webhook (the intake's
    statement) or the next scheduled job (``enqueue``) sets it to its own time, and
    a lane already due keeps the time it had."""
    queue.enqueue_event(_event(7, 1), ["a"], "corr-1")
    job = queue.claim("w1")
    queue.complete(job, "w1")

    def lane_time():
        with store.connect() as conn:
            return conn.execute(select(lanes.c.next_run_at)).scalar_one()

    assert lane_time() is None  # idle: nothing left to run
    clock.advance(60)
    webhook_at = clock.now
    queue.enqueue_event(_event(7, 2), ["a"], "corr-2")
    assert lane_time() == webhook_at
    queue.complete(queue.claim("w1"), "w1")
    assert lane_time() is None
    clock.advance(60)
    scheduled_at = clock.now
    queue.enqueue("zendesk:ticket:7", "a", {"n": 3}, "corr-3")
    assert lane_time() == scheduled_at
    clock.advance(60)
    queue.enqueue_event(_event(7, 4), ["a"], "corr-4")
    assert lane_time() == scheduled_at  # already due: the head's time stays


def test_the_webhooks_that_queue_during_a_write_are_written_together(store, queue, monkeypatch):
    """Group commit: four webhooks that arrive while another is being written are written
    together, in one transaction, in the order they arrived; a second delivery of an
    event in the same group, and a redelivery of the event being written, are duplicates."""
    driver, answers = _deliver_behind_a_writer(store, queue, monkeypatch, ("first", _event(7, 1), ["a"]), [
        ("second", _event(8, 1), ["a", "b"]),
        ("second again", _event(8, 1), ["a", "b"]),
        ("first again", _event(7, 1), ["a"]),
        ("third", _event(7, 2), ["a"]),
    ])
    one_write = ["WITH arrived (ord,"] if store.is_postgres else [
        "BEGIN IMMEDIATE", "INSERT INTO inbound_events", "INSERT INTO jobs", "INSERT INTO lanes", "COMMIT"]
    assert driver.seen == one_write * 2
    assert answers["second again"].duplicate and answers["first again"].duplicate
    first, second, third = answers["first"], answers["second"], answers["third"]
    assert len(first.job_ids) == 1 and len(second.job_ids) == 2 and len(third.job_ids) == 1
    assert first.job_ids[0] < second.job_ids[0] < second.job_ids[1] < third.job_ids[0]  # the order received
    with store.connect() as conn:
        stored = conn.execute(select(jobs.c.id, jobs.c.lane, jobs.c.handler, jobs.c.event_id, jobs.c.correlation_id)
                              .order_by(jobs.c.id)).all()
        woken = dict(conn.execute(select(lanes.c.key, lanes.c.next_run_at)).all())
    assert stored == [
        (first.job_ids[0], "zendesk:ticket:7", "a", first.event_id, "corr-first"),
        (second.job_ids[0], "zendesk:ticket:8", "a", second.event_id, "corr-second"),
        (second.job_ids[1], "zendesk:ticket:8", "b", second.event_id, "corr-second"),
        (third.job_ids[0], "zendesk:ticket:7", "a", third.event_id, "corr-third"),
    ]
    assert set(woken) == {"zendesk:ticket:7", "zendesk:ticket:8"}


def test_a_webhook_the_store_refuses_fails_alone_in_its_group(store, queue, monkeypatch, caplog):
    refused = dataclasses.replace(_event(9, 1), subject_key=None)  # NOT NULL: the database refuses it
    with caplog.at_level(logging.WARNING, logger="connector.queue"):
        driver, answers = _deliver_behind_a_writer(store, queue, monkeypatch, ("first", _event(7, 1), ["a"]), [
            ("before", _event(8, 1), ["a"]), ("refused", refused, ["a"]), ("after", _event(8, 2), ["a"])])
    assert isinstance(answers["refused"], DBAPIError) and not answers["refused"].connection_invalidated
    assert not answers["before"].duplicate and not answers["after"].duplicate
    assert "writing them one by one" in caplog.text
    # the first write; the group of three, refused at its events; then each of the three alone
    assert len(driver.seen) == (1 + 1 + 3 if store.is_postgres else 5 + 2 + 5 + 2 + 5)
    assert _counts(store) == (3, 3, 2)


def test_two_processes_writing_groups_over_the_same_lanes_lose_and_double_nothing(store, clock):
    """Two stores stand for two web processes, four threads each, sending events for the
    same five tickets in different orders, and each event delivered twice, once through
    each process. Groups that touch the same lanes and events in different orders must not
    deadlock; every event is stored once with its jobs, and a thread's events for one
    ticket keep their order."""
    import random

    other = Store(store.url)
    queues = [JobQueue(store, clock=clock), JobQueue(other, clock=clock)]
    sent: dict[int, list[tuple[int, EnqueueResult]]] = {}

    def send(thread: int) -> None:
        rng = random.Random(thread)
        mine = sent.setdefault(thread, [])
        for n in range(30):
            event = _event(rng.randrange(5), thread * 100 + n)
            for queue in (queues[thread % 2], queues[(thread + 1) % 2]):  # delivered twice
                result = queue.enqueue_event(event, ["a", "b"], f"corr-{thread}")
                if not result.duplicate:
                    mine.append((event.ticket_id, result))

    errors = _in_threads(send, 8)
    other.dispose()
    assert errors == []
    assert all(len(results) == 30 for results in sent.values())  # each event stored once, by one delivery
    assert _counts(store) == (240, 480, 5)
    for results in sent.values():
        for ticket in range(5):
            ids = [job for t, result in results if t == ticket for job in result.job_ids]
            assert ids == sorted(ids)


def test_sqlite_without_a_lock_file_falls_back_to_sqlites_own_wait(tmp_path, caplog):
    assert _intake_lock_path(Store("sqlite://")) == ""  # in memory
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.migrate()
    (tmp_path / "store.db-intake-lock").mkdir()  # cannot be opened as the lock file
    try:
        with caplog.at_level(logging.WARNING, logger="connector.queue"):
            assert _intake_lock_path(store) == ""
            assert not JobQueue(store).enqueue_event(_event(7, 1), ["h"], "corr").duplicate
        assert "no intake lock file" in caplog.text
    finally:
        store.dispose()


def test_readyz_answers_ready_when_only_a_dead_pooled_connection_failed(make_app):
    app = make_app()
    store = app.extensions["connector"].store
    failures = _lose_connection_on_first(store, "SELECT 1")
    response = app.test_client().get("/readyz")
    assert len(failures) == 1
    assert response.status_code == 200, response.get_json()


def test_readyz_is_503_when_the_store_stays_unreachable(make_app):
    app = make_app()
    _lose_connection_on_first(app.extensions["connector"].store, "SELECT 1", times=2)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["problems"] == ["store unreachable: OperationalError"]
