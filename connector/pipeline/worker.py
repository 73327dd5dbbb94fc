"""The worker loop: claim a lane's head job, run its handler, record the outcome.

A heartbeat thread renews the lane lease while the handler runs, so a slow call does
not hand the lane to another worker, and a killed worker's lane is free again one lease
later. SIGTERM (``connector worker`` under a process manager) lets the current job
finish, then the loop stops.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import select

from connector.audit import AuditLog
from connector.events import InboundEvent
from connector.logs import bind_correlation_id
from connector.metrics import COUNTERS
from connector.pipeline.context import JobContext
from connector.pipeline.effects import Effects
from connector.pipeline.queue import Job, JobQueue, LeaseLost, new_worker_id
from connector.pipeline.timers import Scheduler
from connector.registry import Registry
from connector.store.models import inbound_events

log = logging.getLogger("connector.worker")


@dataclass
class Worker:
    queue: JobQueue
    registry: Registry
    audit: AuditLog
    services: dict[str, Any] = field(default_factory=dict)
    worker_id: str = field(default_factory=new_worker_id)
    poll_interval: float = 0.5
    on_job_done: Callable[[Job, str], None] | None = None  # tests and the demo observe with this
    timer_interval: float = 5.0
    """Seconds between looks for timers that fell due (SLA at-risk and breach): well
    inside the 60 s within which a timer must fire."""

    def __post_init__(self):
        self.effects = Effects(self.queue.store, self.audit, self.queue.clock)
        self.scheduler = Scheduler(self.queue)
        self.services.setdefault("scheduler", self.scheduler)
        self._stop = threading.Event()
        self._timers_checked = float("-inf")

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, max_idle: float | None = None) -> None:
        """Work until :meth:`stop` (or, with ``max_idle``, until idle that long)."""
        idle_since = time.monotonic()
        log.info("worker started", extra={"worker_id": self.worker_id})
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the store restarting, say: wait and carry on
                log.exception("worker loop error; retrying shortly")
                worked = False
                self._stop.wait(min(5.0, self.poll_interval * 4))
            if worked:
                idle_since = time.monotonic()
                continue
            if max_idle is not None and time.monotonic() - idle_since >= max_idle:
                break
            self._stop.wait(self.poll_interval)
        log.info("worker stopped", extra={"worker_id": self.worker_id})

    def run_once(self) -> bool:
        if time.monotonic() - self._timers_checked >= self.timer_interval:
            self._timers_checked = time.monotonic()
            released = self.scheduler.release_due()
            if released:
                log.info("%s timer(s) fell due and were queued", released)
        job = self.queue.claim(self.worker_id)
        if job is None:
            return False
        with bind_correlation_id(job.correlation_id):
            self._run(job)
        return True

    def _run(self, job: Job) -> None:
        beat = _Heartbeat(self.queue, job, self.worker_id)
        beat.start()
        outcome = "done"
        try:
            ctx = JobContext(job=job, event=self._event(job), queue=self.queue, audit=self.audit,
                             effects=self.effects, services=self.services, scheduler=self.scheduler,
                             registry=self.registry)
            self.registry.handler(job.handler)(ctx)
        except Exception as error:  # noqa: BLE001 - every failure is recorded, none escapes
            beat.stop()
            try:
                decision, run_after, reason = self.queue.fail(job, self.worker_id, error)
            except LeaseLost:
                log.warning("lease lost while failing job %s; another worker has it", job.id)
                return
            outcome = "retried" if decision == "retry" else "dead"
            log_fn = log.warning if decision == "retry" else log.error
            log_fn("job %s (%s) failed, attempt %s: %s; %s", job.id, job.handler, job.attempts,
                   reason, f"retry at {run_after.isoformat()}" if run_after else "dead-lettered")
            if decision == "dead":
                self.audit.record("decision", "job.dead_lettered", reason=reason, result="dead",
                                  correlation_id=job.correlation_id,
                                  detail={"job_id": job.id, "handler": job.handler, "attempts": job.attempts})
        else:
            beat.stop()
            try:
                self.queue.complete(job, self.worker_id)
            except LeaseLost:
                log.warning("lease lost before job %s was recorded done; it will run again "
                            "(its writes are idempotent)", job.id)
                return
            log.info("job %s (%s) done", job.id, job.handler)
        finally:
            beat.stop()
        COUNTERS.inc("connector_jobs_total", handler=job.handler, outcome=outcome)
        if self.on_job_done:
            self.on_job_done(job, outcome)

    def _event(self, job: Job) -> InboundEvent | None:
        if job.event_id is None:
            return None
        with self.queue.store.connect() as conn:
            raw = conn.execute(select(inbound_events.c.event).where(inbound_events.c.id == job.event_id)).scalar_one()
        return InboundEvent.from_json(json.loads(raw))


class _Heartbeat(threading.Thread):
    def __init__(self, queue: JobQueue, job: Job, worker_id: str):
        super().__init__(daemon=True, name=f"heartbeat-{job.id}")
        self.queue, self.job, self.worker_id = queue, job, worker_id
        self._done = threading.Event()

    def run(self) -> None:
        interval = max(0.05, self.queue.lease.total_seconds() / 3)
        while not self._done.wait(interval):
            try:
                if not self.queue.heartbeat(self.job, self.worker_id):
                    log.warning("lease on lane %s lost during job %s", self.job.lane, self.job.id)
                    return
            except Exception:
                log.exception("heartbeat failed; will try again")

    def stop(self) -> None:
        self._done.set()
