"""A plugin for pipeline tests: each Zendesk status change becomes one effect on the
sink, through the same Effects / HTTP-classification path real plugins use."""
from __future__ import annotations

import os
import time

import requests

from connector.http import classify, session_for
from connector.registry import Plugin, Registry

EVENT = ("zendesk", "ticket.status_changed")


def sink_registry(sink_url: str, *, observe_calls: bool = False, pause_after_effect: float = 0.0,
                  work_seconds: float = 0.0) -> Registry:
    http = session_for("sink", timeout=5)

    def handle(ctx):
        event = ctx.event
        started = time.time()
        key = f"sink:{event.dedupe_key}"

        def perform():
            r = http.post(f"{sink_url}/effects", json={"key": key, "ticket": event.ticket_id})
            if r.status_code >= 300:
                raise classify("sink", r, "POST /effects")
            return r.json()

        def recover():
            r = http.get(f"{sink_url}/effects/{key}")
            return r.json() if r.status_code == 200 else None

        ctx.effects.once(key, system="sink", action="sink.effect", perform=perform, recover=recover,
                         why="test event", ticket_id=event.ticket_id, correlation_id=ctx.correlation_id,
                         job_id=ctx.job.id)
        if pause_after_effect:
            time.sleep(pause_after_effect)
        if work_seconds:
            time.sleep(work_seconds)
        if observe_calls:
            http.post(f"{sink_url}/calls", json={
                "ticket": event.ticket_id, "event": event.dedupe_key, "start": started,
                "end": time.time(), "pid": os.getpid(), "job": ctx.job.id})

    def handle_jira(ctx):
        ctx.decide("jira.seen", reason="test", result=ctx.event.subject_key)

    return Registry([Plugin(name="sink", handles={EVENT: handle, ("jira", "jira:issue_updated"): handle_jira},
                            ignores=frozenset({("zendesk", "ticket.tags_changed")}))])
