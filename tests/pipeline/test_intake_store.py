"""The webhook intake's store path, on SQLite and PostgreSQL: prebuilt statements, pooled
connections (pinged only when idle, dropped in forked children), one retry on a lost
connection, and SQLite writers taking turns on a lock file."""
from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, event, func, select, text

import connector.store
from connector.events import InboundEvent
from connector.pipeline.queue import JobQueue, _intake_lock_path
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
    first = queue.enqueue_event(_event(7, 1), ["a", "b"], "corr-1", stored_event={"masked": True})
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
    assert kept == ('{"masked": true}', "corr-1")
    assert next_run_at == woken_at  # a later job never moves the lane's head time
    assert handlers[:2] == [("a", first.event_id, "pending"), ("b", first.event_id, "pending")]


def _lose_connection_on_first(store: Store, sql_start: str, times: int = 1) -> list[str]:
    """Make the next ``times`` statements starting with ``sql_start`` fail as a dropped
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
    results, errors = [], []

    def deliver():
        try:
            start.wait(timeout=10)
            results.append(queue.enqueue_event(_event(7, 1), ["a", "b"], "corr"))
        except Exception as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    stored = [r for r in results if not r.duplicate]
    assert len(results) == 8 and len(stored) == 1 and len(stored[0].job_ids) == 2
    assert _counts(store) == (1, 2, 1)


def _mid_enqueue(store: Store) -> str:
    """A statement the enqueue runs after it has started writing: on PostgreSQL its one
    statement (event, jobs and lane together), on SQLite the job insert after the event's."""
    return "WITH new_event AS" if store.is_postgres else "INSERT INTO jobs"


def test_postgres_enqueues_in_one_statement_and_sqlite_in_one_transaction(queue, store):
    seen: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()[:3]))

    result = queue.enqueue_event(_event(7, 1), ["a", "b"], "corr")
    event.remove(store.engine, "before_cursor_execute", _seen)
    if store.is_postgres:
        assert seen == ["WITH new_event AS"]
    else:
        assert seen == ["BEGIN IMMEDIATE", "INSERT INTO inbound_events", "INSERT INTO jobs", "INSERT INTO jobs",
                        "INSERT INTO lanes"]
    assert len(result.job_ids) == 2 and _counts(store) == (1, 2, 1)


def test_a_connection_lost_mid_enqueue_is_retried_once_on_a_fresh_connection(queue, store, caplog):
    failures = _lose_connection_on_first(store, _mid_enqueue(store))
    with caplog.at_level(logging.WARNING, logger="connector.queue"):
        result = queue.enqueue_event(_event(7, 1), ["h"], "corr")
    assert len(failures) == 1 and not result.duplicate
    assert _counts(store) == (1, 1, 1)  # the half-done first attempt was rolled back
    assert "store connection lost" in caplog.text


def test_a_second_lost_connection_is_not_retried(queue, store):
    _lose_connection_on_first(store, "WITH new_event AS" if store.is_postgres else "INSERT INTO inbound_events",
                              times=2)
    with pytest.raises(Exception) as raised:
        queue.enqueue_event(_event(7, 1), ["h"], "corr")
    assert getattr(raised.value, "connection_invalidated", False)
    assert _counts(store) == (0, 0, 0)


def test_busy_connections_are_not_pinged_idle_ones_are(database_url, monkeypatch):
    pings = []

    def _count_pings(store: Store) -> None:
        real = store.engine.dialect.do_ping
        monkeypatch.setattr(store.engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))

    busy = Store(database_url)
    busy.migrate()
    _count_pings(busy)
    queue = JobQueue(busy)
    for n in range(5):
        queue.enqueue_event(_event(7, n), ["h"], "corr")
    busy.dispose()
    assert pings == []

    monkeypatch.setattr(connector.store, "IDLE_PING_SECONDS", 0.0)  # every reuse counts as idle
    idle = Store(database_url)
    _count_pings(idle)
    queue = JobQueue(idle)
    for n in range(5, 8):
        queue.enqueue_event(_event(7, n), ["h"], "corr")
    idle.dispose()
    assert len(pings) >= 2  # each checkout after the first


@ONLY_POSTGRES  # SQLite connections cannot be killed from outside
def test_postgres_a_killed_idle_connection_is_replaced_before_use(database_url, monkeypatch, caplog):
    monkeypatch.setattr(connector.store, "IDLE_PING_SECONDS", 0.0)
    store = Store(database_url)
    store.migrate()
    queue = JobQueue(store)
    try:
        queue.enqueue_event(_event(7, 1), ["h"], "corr")
        _terminate_pooled_backends(store)
        with caplog.at_level(logging.WARNING, logger="connector.queue"):
            assert not queue.enqueue_event(_event(7, 2), ["h"], "corr").duplicate
        assert "store connection lost" not in caplog.text  # the ping found it, no retry needed
        assert _counts(store)[:2] == (2, 2)
    finally:
        store.dispose()


@ONLY_POSTGRES
def test_postgres_a_connection_killed_while_busy_costs_one_retry(database_url, store, queue, caplog):
    queue.enqueue_event(_event(7, 1), ["h"], "corr")
    _terminate_pooled_backends(store)
    with caplog.at_level(logging.WARNING, logger="connector.queue"):
        assert not queue.enqueue_event(_event(7, 2), ["h"], "corr").duplicate
    assert "store connection lost" in caplog.text
    assert _counts(store)[:2] == (2, 2)


def _terminate_pooled_backends(store: Store) -> None:
    with store.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    assert store.engine.pool.checkedin() == 1  # the one connection every call reuses
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


def test_a_forked_child_leaves_the_parents_pooled_connections_alone(store, queue):
    queue.enqueue_event(_event(7, 1), ["h"], "corr")
    assert store.engine.pool.checkedin() == 1
    pid = os.fork()
    if pid == 0:  # the child: must not touch the inherited connection; its own works
        code = 3
        try:
            if store.engine.pool.checkedin() == 0:
                code = 0 if not queue.enqueue_event(_event(8, 1), ["h"], "child").duplicate else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not queue.enqueue_event(_event(9, 1), ["h"], "parent").duplicate  # parent's connection intact
    assert _counts(store) == (3, 3, 3)


@ONLY_SQLITE
def test_sqlite_connections_are_pooled_with_their_pragmas(store, queue):
    for n in range(3):
        queue.enqueue_event(_event(7, n), ["h"], "corr")
    assert store.engine.pool.checkedin() == 1  # reused, not reopened per transaction
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_sqlite_webhook_writers_take_turns_on_a_lock_file(store, clock):
    if store.dialect != "sqlite":
        assert _intake_lock_path(store) == ""  # PostgreSQL: no turn-taking
        return
    assert _intake_lock_path(store) == store.engine.url.database + "-intake-lock"
    errors: list[BaseException] = []
    queues = [JobQueue(store, clock=clock), JobQueue(Store(str(store.engine.url)), clock=clock)]

    def send(thread: int) -> None:
        try:
            for n in range(25):
                queues[thread % 2].enqueue_event(_event(100 + thread, n), ["h"], f"corr-{thread}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    queues[1].store.dispose()
    assert errors == []
    assert _counts(store) == (200, 200, 8)
    assert os.path.exists(store.engine.url.database + "-intake-lock")


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
