"""What a job handler gets: the job, its event, and the connector's services."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.audit import AuditLog
from connector.events import InboundEvent
from connector.pipeline.effects import Effects
from connector.pipeline.queue import Job, JobQueue
from connector.pipeline.timers import Scheduler
from connector.registry import Registry


@dataclass
class JobContext:
    job: Job
    event: InboundEvent | None
    queue: JobQueue
    audit: AuditLog
    effects: Effects
    services: dict[str, Any] = field(default_factory=dict)
    """Configured clients and the manifest, by name (``manifest``, ``zendesk``, …)."""
    scheduler: Scheduler | None = None
    """Timers: work to queue on a lane at a later moment (SLA at-risk and breach)."""
    registry: Registry | None = None

    @property
    def correlation_id(self) -> str:
        return self.job.correlation_id

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload or {}

    def decide(self, action: str, *, reason: str, result: str, ticket_id: int | None = None,
               detail: dict[str, Any] | None = None) -> None:
        """Audit a decision (no outbound write) taken for this job."""
        self.audit.record("decision", action, reason=reason, result=result,
                          ticket_id=ticket_id if ticket_id is not None else (self.event.ticket_id if self.event else None),
                          correlation_id=self.correlation_id, detail=detail)

    def follow_up(self, handler: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> int | None:
        """Queue more work for the same lane, after this job."""
        return self.queue.enqueue(self.job.lane, handler, payload, self.correlation_id, dedupe_key=dedupe_key)

    def publish(self, topic: str, payload: dict[str, Any], *, dedupe_key: str | None = None) -> list[int]:
        """Queue every listener of ``topic`` (``Plugin.listens``) on this job's lane, after
        this job. ``dedupe_key`` (suffixed with each listener's name) makes a replay a no-op."""
        if self.registry is None:
            return []
        queued = []
        for handler in self.registry.listeners(topic):
            key = f"{dedupe_key}:{handler}" if dedupe_key else None
            job_id = self.queue.enqueue(self.job.lane, handler, payload, self.correlation_id, dedupe_key=key)
            if job_id is not None:
                queued.append(job_id)
        return queued
