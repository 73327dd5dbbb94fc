"""Scheduled jobs (SLA timers) on SQLite and PostgreSQL: each fires once, in its lane,
only when due; cancelled ones never fire; keys are idempotent."""
from __future__ import annotations

from datetime import timedelta

from connector.pipeline.queue import JobQueue
from connector.pipeline.timers import Scheduler
from tests.support.clock import FakeClock


def make(store):
    clock = FakeClock()
    queue = JobQueue(store, clock=clock)
    return clock, queue, Scheduler(queue)


def test_a_timer_becomes_a_job_in_its_lane_once_it_is_due(store):
    clock, queue, scheduler = make(store)
    assert scheduler.schedule("sla:1:bridge:breach", lane="zendesk:ticket:1", handler="zendesk.sla_timer",
                              payload={"ticket_id": 1}, fire_at=clock.now + timedelta(minutes=30),
                              correlation_id="c1")
    assert scheduler.release_due() == 0
    clock.advance(30 * 60)
    assert scheduler.release_due() == 1
    assert scheduler.release_due() == 0  # released once
    [job] = queue.list_jobs(states=["pending"])
    assert (job.lane, job.handler, job.payload) == ("zendesk:ticket:1", "zendesk.sla_timer", {"ticket_id": 1})
    assert scheduler.get("sla:1:bridge:breach").state == "released"


def test_scheduling_a_key_again_is_a_no_op_even_after_it_fired(store):
    clock, queue, scheduler = make(store)
    args = dict(lane="l", handler="h", payload={}, fire_at=clock.now, correlation_id="c")
    assert scheduler.schedule("k", **args)
    assert not scheduler.schedule("k", **args)
    scheduler.release_due()
    assert not scheduler.schedule("k", **args)
    scheduler.release_due()
    assert len(queue.list_jobs(states=["pending"])) == 1


def test_cancel_by_prefix_keeps_what_is_still_wanted(store):
    clock, queue, scheduler = make(store)
    for key in ("sla:1:a", "sla:1:b", "sla:10:a"):
        scheduler.schedule(key, lane="l", handler="h", payload={}, fire_at=clock.now, correlation_id="c")
    assert scheduler.cancel(prefix="sla:1:", keep=["sla:1:b"]) == 1
    assert [t.key for t in scheduler.pending()] == ["sla:1:b", "sla:10:a"]  # sla:10 is not sla:1
    assert scheduler.release_due() == 2
    assert scheduler.get("sla:1:a").state == "cancelled"


def test_timers_survive_a_restart(store):
    clock, queue, scheduler = make(store)
    scheduler.schedule("k", lane="l", handler="h", payload={"n": 1}, fire_at=clock.now + timedelta(hours=1),
                       correlation_id="c")
    later = Scheduler(JobQueue(store, clock=clock))  # a new process on the same store
    clock.advance(3600)
    assert later.release_due() == 1
