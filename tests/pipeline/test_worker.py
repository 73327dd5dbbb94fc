"""Workers end to end: real HTTP downstream, real worker processes, both stores."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.pipeline.retry import RetryPolicy
from tests.support.webhooks import encode, status_changed, zendesk_headers

ROOT = Path(__file__).resolve().parents[2]


def deliver(client, payload):
    body = encode(payload)
    response = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body))
    assert response.status_code in (200, 202), response.get_json()
    return response


def drain(runtime, *, max_idle=0.3):
    worker = runtime.worker(poll_interval=0.02)
    worker.run(max_idle=max_idle)


class WorkerProcess:
    """A real worker process; its log goes to a file shown when a check fails."""

    def __init__(self, log_dir: Path, database_url: str, sink_url: str, *args: str):
        self.log_path = log_dir / f"worker-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.worker_main", database_url, sink_url, *args],
                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL, stderr=log,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def finish(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"worker still running after {timeout}s:\n{self.log()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def wait_for(predicate, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_three_deliveries_make_one_effect(client, runtime, sink):
    payload = status_changed(42, event_id="evt-once")
    for _ in range(3):
        deliver(client, payload)
    drain(runtime)
    assert len(sink.effects) == 1
    assert len(sink.posts) == 1
    assert [j.state for j in runtime.queue.list_jobs(["done"])] == ["done"]


def test_replayed_job_does_not_repeat_its_effect(client, runtime, sink):
    deliver(client, status_changed(42, event_id="evt-replay"))
    drain(runtime)
    [job] = runtime.queue.list_jobs(["done"])
    from sqlalchemy import update

    from connector.store.models import jobs, lanes

    with runtime.store.begin() as conn:  # an operator (or a bug) runs the job again
        conn.execute(update(jobs).where(jobs.c.id == job.id).values(state="pending"))
        conn.execute(update(lanes).values(next_run_at=job.created_at))
    drain(runtime)
    assert len(sink.posts) == 1


def test_429_with_retry_after_2_delays_the_job_at_least_2s_and_loses_nothing(client, runtime, sink):
    sink.rate_limit_next = 1
    sink.retry_after = "2"
    deliver(client, status_changed(42, event_id="evt-429"))
    drain(runtime, max_idle=3.0)
    assert len(sink.posts) == 2
    assert sink.posts[1]["at"] - sink.posts[0]["at"] >= 2.0
    assert len(sink.effects) == 1
    assert runtime.queue.list_jobs(["done"])[0].attempts == 2


def test_always_failing_job_is_dead_lettered_and_jobs_retry_brings_it_back(make_app, sink, database_url):
    app = make_app(RETRY_POLICY=RetryPolicy(base=0.05, cap=0.1, max_attempts=3))
    runtime = app.extensions["connector"]
    sink.fail_always = True
    deliver(app.test_client(), status_changed(42, event_id="evt-dead"))
    drain(runtime, max_idle=1.0)
    [dead] = runtime.queue.list_jobs(["dead"])
    assert "400" in dead.last_error and "refuses everything" in dead.last_error

    from connector.cli import main

    env = {"DATABASE_URL": database_url}
    listed = CliRunner().invoke(main, ["jobs", "list", "--state", "dead"], env=env)
    assert listed.exit_code == 0, listed.output
    assert f"{dead.id}" in listed.output and "refuses everything" in listed.output

    sink.fail_always = False
    revived = CliRunner().invoke(main, ["jobs", "retry", str(dead.id)], env=env)
    assert revived.exit_code == 0, revived.output
    assert "1 dead job(s) put back in line" in revived.output
    drain(runtime)
    assert [j.id for j in runtime.queue.list_jobs(["done"])] == [dead.id]
    assert len(sink.effects) == 1


@pytest.mark.slow
def test_worker_killed_mid_job_completes_after_restart_with_one_effect(client, runtime, sink, database_url,
                                                                       tmp_path):
    deliver(client, status_changed(42, event_id="evt-kill"))
    first = WorkerProcess(tmp_path, database_url, sink.url, "--lease", "1", "--pause", "60")
    try:
        assert wait_for(lambda: len(sink.effects) == 1), f"worker never performed the effect:\n{first.log()}"
    finally:
        first.kill()  # SIGKILL: no clean-up, the lease is left to expire
    assert runtime.queue.list_jobs(["running"]), "the job should be left mid-flight"
    second = WorkerProcess(tmp_path, database_url, sink.url, "--lease", "1", "--max-idle", "2")
    assert second.finish(timeout=60) == 0, second.log()
    [done] = runtime.queue.list_jobs(["done"])
    assert done.attempts == 2
    assert len(sink.posts) == 1, "the effect must not be performed twice"
    assert len(sink.effects) == 1


@pytest.mark.slow
def test_two_workers_keep_per_ticket_order_without_overlap(client, runtime, sink, database_url, tmp_path):
    expected = defaultdict(list)
    for n in range(200):
        ticket = 1000 + n % 20
        event_id = f"evt-{ticket}-{n:04d}"
        expected[ticket].append(event_id)
        deliver(client, status_changed(ticket, event_id=event_id))
    workers = [WorkerProcess(tmp_path, database_url, sink.url, "--observe", "--work", "0.005", "--max-idle", "2")
               for _ in range(2)]
    try:
        for w in workers:
            assert w.finish(timeout=300) == 0, w.log()
    finally:
        for w in workers:
            w.kill()
    assert len(sink.calls) == 200
    assert len(runtime.queue.list_jobs(["done"], limit=1000)) == 200
    by_ticket = defaultdict(list)
    for call in sink.calls:
        by_ticket[call["ticket"]].append(call)
    pids = {call["pid"] for call in sink.calls}
    assert len(pids) == 2, "both workers should have taken work"
    for ticket, calls in by_ticket.items():
        calls.sort(key=lambda c: c["start"])
        assert [c["event"] for c in calls] == expected[ticket], f"ticket {ticket} out of order"
        for before, after in zip(calls, calls[1:]):
            assert before["end"] <= after["start"], f"ticket {ticket}: jobs overlapped"
