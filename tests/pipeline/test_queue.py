"""The job queue's guarantees, on SQLite and PostgreSQL, with a hand-moved clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector.events import InboundEvent
from connector.pipeline.queue import JobQueue, LeaseLost
from connector.pipeline.retry import PermanentError, RetryLater, RetryPolicy
from tests.support.clock import FakeClock


def _event(ticket, n):
    return InboundEvent(source="zendesk", event_type="ticket.status_changed", dedupe_key=f"evt-{ticket}-{n}",
                        subject_key=f"zendesk:ticket:{ticket}", occurred_at=datetime(2026, 11, 23, tzinfo=timezone.utc),
                        ticket_id=ticket)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def queue(store, clock):
    return JobQueue(store, clock=clock, lease=timedelta(seconds=30),
                    policy=RetryPolicy(base=2, cap=60, max_attempts=3, max_age=timedelta(hours=1)))


def _enqueue(queue, ticket, n):
    return queue.enqueue_event(_event(ticket, n), ["h"], f"corr-{ticket}-{n}").job_ids[0]


def test_a_lane_runs_its_jobs_in_order_received(queue):
    ids = [_enqueue(queue, 7, n) for n in range(3)]
    seen = []
    for _ in ids:
        job = queue.claim("w1")
        seen.append(job.id)
        queue.complete(job, "w1")
    assert seen == ids
    assert queue.claim("w1") is None


def test_a_leased_lane_is_not_claimed_by_another_worker_but_other_lanes_are(queue):
    _enqueue(queue, 7, 1)
    _enqueue(queue, 7, 2)
    other = _enqueue(queue, 8, 1)
    first = queue.claim("w1")
    assert first.lane == "zendesk:ticket:7"
    second = queue.claim("w2")
    assert second.id == other
    assert queue.claim("w3") is None  # ticket 7's second job waits for the first


def test_expired_lease_hands_the_same_job_to_another_worker(queue, clock):
    job_id = _enqueue(queue, 7, 1)
    first = queue.claim("w1")
    clock.advance(29)
    assert queue.claim("w2") is None
    clock.advance(2)
    again = queue.claim("w2")
    assert (again.id, again.attempts) == (job_id, 2)
    with pytest.raises(LeaseLost):
        queue.complete(first, "w1")
    queue.complete(again, "w2")
    assert queue.list_jobs(["done"])[0].id == job_id


def test_heartbeat_keeps_the_lease(queue, clock):
    _enqueue(queue, 7, 1)
    job = queue.claim("w1")
    for _ in range(4):
        clock.advance(20)
        assert queue.heartbeat(job, "w1")
    assert queue.claim("w2") is None


def test_rate_limited_job_waits_at_least_retry_after_and_keeps_its_place(queue, clock):
    first = _enqueue(queue, 7, 1)
    _enqueue(queue, 7, 2)
    job = queue.claim("w1")
    decision, run_after, _ = queue.fail(job, "w1", RetryLater("429", 2))
    assert decision == "retry" and run_after >= clock.now + timedelta(seconds=2)
    clock.advance(1.9)
    assert queue.claim("w1") is None  # neither the job nor the one behind it
    clock.advance(0.4)
    assert queue.claim("w1").id == first


def test_rate_limits_never_dead_letter_by_attempt_count(queue, clock):
    _enqueue(queue, 7, 1)
    for _ in range(10):
        clock.advance(5)
        job = queue.claim("w1")
        decision, _, _ = queue.fail(job, "w1", RetryLater("429", 1))
        assert decision == "retry"


def test_transient_failures_back_off_then_dead_letter_with_the_reason(queue, clock):
    _enqueue(queue, 7, 1)
    delays = []
    for attempt in range(1, 4):
        job = queue.claim("w1")
        assert job.attempts == attempt
        decision, run_after, _ = queue.fail(job, "w1", ConnectionError("downstream unreachable"))
        if decision == "retry":
            delays.append((run_after - clock.now).total_seconds())
            clock.advance(delays[-1] + 0.01)
    assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4
    [dead] = queue.list_jobs(["dead"])
    assert "gave up after 3 attempts" in dead.last_error
    assert "downstream unreachable" in dead.last_error


def test_permanent_error_dead_letters_at_once(queue):
    _enqueue(queue, 7, 1)
    job = queue.claim("w1")
    decision, _, reason = queue.fail(job, "w1", PermanentError("400 INVALID_FIELD Tier__c"))
    assert decision == "dead" and "Tier__c" in reason


def test_dead_job_does_not_block_its_lane_and_retry_revives_it(queue):
    dead_id = _enqueue(queue, 7, 1)
    next_id = _enqueue(queue, 7, 2)
    queue.fail(queue.claim("w1"), "w1", PermanentError("bad"))
    job = queue.claim("w1")
    assert job.id == next_id
    queue.complete(job, "w1")
    assert queue.retry([dead_id]) == 1
    revived = queue.claim("w1")
    assert (revived.id, revived.attempts) == (dead_id, 1)


def test_card_numbers_and_secrets_never_reach_last_error(queue):
    from connector.logs import register_secret

    register_secret("sk_live_very_secret_value")
    _enqueue(queue, 7, 1)
    job = queue.claim("w1")
    queue.fail(job, "w1", PermanentError("card 4111-1111-1111-1111 token sk_live_very_secret_value"))
    [dead] = queue.list_jobs(["dead"])
    assert "4111-1111-1111-1111" not in dead.last_error
    assert "sk_live_very_secret_value" not in dead.last_error


def test_follow_up_jobs_queue_behind_and_dedupe(queue):
    first = _enqueue(queue, 7, 1)
    a = queue.enqueue("zendesk:ticket:7", "h", {"x": 1}, "c", dedupe_key="timer:7:breach")
    b = queue.enqueue("zendesk:ticket:7", "h", {"x": 1}, "c", dedupe_key="timer:7:breach")
    assert a is not None and b is None
    assert [queue.claim("w").id for _ in range(1)] == [first]


def test_stats_report_counts_and_oldest_age(queue, clock):
    _enqueue(queue, 7, 1)
    clock.advance(90)
    stats = queue.stats()
    assert stats["counts"]["pending"] == 1
    assert stats["oldest_waiting_seconds"] == pytest.approx(90)
