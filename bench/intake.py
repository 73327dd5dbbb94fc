"""Webhook intake: signed Zendesk webhooks over loopback against the production web process.

Run (from the repository root, in the virtualenv)::

    python bench/intake.py                      # SQLite and PostgreSQL, ~10k requests per server
    python bench/intake.py --quick              # smoke run, a few seconds per server
    python bench/intake.py --stores sqlite --log-level INFO

What runs: for each store, two gunicorn servers side by side, each started by the
Procfile's own ``web`` command (read from the Procfile and run by bash, as Heroku runs
it, with ``WEB_CONCURRENCY`` = ``--workers`` (2) and ``PORT`` set), bound to 127.0.0.1
instead of 0.0.0.0:

* **connector**: the production web process, exactly: ``'connector.app:create_app()'``
  with the shipped registry and the shipped ``manifest/connector.yaml``. The Zendesk
  plugin handles ``ticket.status_changed``, so each webhook really stores an event, one
  job and the lane's wake-up, and is answered 202 after the commit. No worker runs, so
  the jobs stay pending.
* **bare**: ``bench/bare_app.py``, a Flask ``POST /webhooks/zendesk`` that reads the body
  and answers 202, served by the same command with only the app replaced.

Each server gets the same load, from threads in this process over keep-alive
``http.client`` connections. Every request is a distinct ``ticket.status_changed`` event
(its own event id; tickets cycle through ``--tickets``) with a fresh timestamp header,
signed with ``connector.signing.sign_zendesk`` (tests/support/webhooks.py builds both):

1. warm-up: ``--warmup`` requests, 8 connections (not in the figures, counted in RSS);
2. open loop: ``--rate`` requests per second for ``--duration`` seconds, sent at their
   scheduled times whatever the server does; latency runs from the *scheduled* send
   time, so a stall is charged to every request it delays (no coordinated omission);
3. closed loop: ``--concurrency`` connections sending back to back until the server has
   had ``--requests`` requests in all: the most it accepts per second. It runs in
   ``--rounds`` rounds that alternate between the servers (connector, bare; bare,
   connector; …), one server loaded at a time: the machine's speed drifts (a shared VM),
   and alternating makes the drift weigh on both alike, so their ratio holds still.

The server's RSS (VmRSS of the gunicorn master + its workers, from /proc) is sampled
before the first request and after 10 %, 50 % and 100 % of ``--requests``. Answers are
checked: only 202 counts as accepted; anything else is listed at the end. After the
connector run the store is counted: one event and one job per 202.

The client, the server and PostgreSQL share the machine's cores; the figures are for
that set-up, not for a server with cores to itself. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import platform
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET = "bench-intake-webhook-secret"
PROCFILE_APP = "'connector.app:create_app()'"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TICKS = os.sysconf("SC_CLK_TCK")


# --- the server -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, CPU ticks user+system) of ``pid``, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _vmrss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    """Proportional set size: shared pages (the app's code, forked from the master) are
    split between the processes sharing them instead of counted in each."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy() -> tuple[int, int, int]:
    """(busy, stolen, total) jiffies of all cores, from /proc/stat. Steal is time the
    hypervisor gave our virtual cores to someone else: a sign of noisy neighbours."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle, steal = values[3] + values[4], values[7]
    return sum(values) - idle - steal, steal, sum(values)


def procfile_web() -> str:
    """The Procfile's ``web`` command, as written."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("the Procfile has no web: line")


def web_command(app_spec: str | None) -> str:
    """The Procfile's ``web`` command bound to 127.0.0.1, serving ``app_spec`` instead of
    the connector when given."""
    command = procfile_web()
    for old, new in (("0.0.0.0:", "127.0.0.1:"), *([(PROCFILE_APP, shlex.quote(app_spec))] if app_spec else [])):
        if old not in command:
            raise SystemExit(f"the Procfile's web command no longer has {old!r}: update bench/intake.py")
        command = command.replace(old, new)
    return command


class Server:
    """gunicorn as the Procfile's ``web`` line runs it, on a loopback port."""

    def __init__(self, name: str, app_spec: str | None, env: dict[str, str], workers: int, log_path: Path):
        self.name, self.app_spec, self.log_path = name, app_spec, log_path
        self.workers = workers
        self.port = free_port()
        # bash runs the line as Heroku does (`bash -c`; a single command replaces bash, so
        # the process is the gunicorn master). The virtualenv's gunicorn comes first on PATH.
        self.env = {**env, "PORT": str(self.port), "WEB_CONCURRENCY": str(workers),
                    "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])}
        self.proc: subprocess.Popen | None = None
        self.worker_pids: list[int] = []

    def command(self) -> list[str]:
        return ["bash", "-c", web_command(self.app_spec)]

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.proc.returncode}; "
                                   f"see {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: not up after {timeout:.0f} s; see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
            except OSError:
                ok = False
            if ok and Path(f"/proc/{self.proc.pid}/comm").read_text().strip() == "bash":
                raise RuntimeError(f"{self.name}: bash did not hand its process to gunicorn (is the "
                                   "Procfile's web line more than one command?): RSS would be wrong")
            self.worker_pids = self.children()
            if ok and len(self.worker_pids) == self.workers:
                break
            time.sleep(0.1)
        # One worker answered; give the others time to finish loading the app (no preload,
        # as in the Procfile: each worker builds its own app after the fork).
        time.sleep(2.0)
        self.worker_pids = self.children()

    def children(self) -> list[int]:
        assert self.proc is not None
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _proc_stat(int(entry))
                if stat and stat[0] == self.proc.pid:
                    found.append(int(entry))
        return sorted(found)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid, *self.worker_pids]

    def rss_kb(self) -> int:
        return sum(_vmrss_kb(pid) for pid in self.pids())

    def rss_each_kb(self) -> list[int]:
        return [_vmrss_kb(pid) for pid in self.pids()]

    def pss_kb(self) -> int:
        return sum(_pss_kb(pid) for pid in self.pids())

    def cpu_ticks(self) -> dict[int, int]:
        return {pid: (_proc_stat(pid) or (0, 0))[1] for pid in self.pids()}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # graceful: workers finish, flush their counters and exit
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in self.worker_pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- the client -------------------------------------------------------------------------

class Webhooks:
    """Builds distinct, freshly signed ``ticket.status_changed`` webhooks."""

    def __init__(self, tickets: int):
        from tests.support.webhooks import encode, status_changed, zendesk_headers

        self._encode, self._payload, self._headers = encode, status_changed, zendesk_headers
        self.tickets = tickets
        self.run_id = uuid.uuid4().hex[:8]

    def build(self, index: int) -> tuple[bytes, dict[str, str]]:
        ticket = 700000 + index % self.tickets
        body = self._encode(self._payload(ticket, f"bench-{self.run_id}-{index}",
                                          current="OPEN", previous="NEW"))
        return body, self._headers(body, secret=SECRET)


class Connection:
    """One keep-alive connection, reopened after a failure."""

    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int | None, bytes]:
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.connect()
                self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn.request("POST", "/webhooks/zendesk", body, headers)
            response = self.conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return None, repr(error).encode()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class PhaseResult:
    name: str
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    wall: float = 0.0
    server_cpu: dict[int, float] = field(default_factory=dict)  # seconds per pid
    client_cpu: float = 0.0
    machine_busy: float = 0.0  # fraction of all cores, steal excluded
    machine_steal: float = 0.0  # fraction of all cores taken by the hypervisor

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.wall if self.wall else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """gunicorn's CPU (master + workers; not the client's, not PostgreSQL's) per request."""
        return sum(self.server_cpu.values()) / self.sent * 1000 if self.sent else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Load:
    """Sends webhooks to one server; keeps the answers and the RSS checkpoints."""

    def __init__(self, server: Server, webhooks: Webhooks, checkpoints: list[int]):
        self.server, self.webhooks = server, webhooks
        self.index = itertools.count()
        self.done = 0
        self.lock = threading.Lock()
        self.errors: Counter = Counter()  # (status, body) -> count, for every non-202
        self.checkpoints = sorted(checkpoints)
        self.rss: dict[int, int] = {0: server.rss_kb()}
        self._samples: queue.SimpleQueue = queue.SimpleQueue()
        self._sampler = threading.Thread(target=self._sample_loop, daemon=True)
        self._sampler.start()

    def _sample_loop(self) -> None:
        while (mark := self._samples.get()) is not None:
            self.rss[mark] = self.server.rss_kb()

    def close(self) -> None:
        self._samples.put(None)
        self._sampler.join()

    def _record(self, result: PhaseResult, status: int | None, body: bytes, latency: float) -> None:
        with self.lock:
            result.statuses[status] += 1
            result.latencies.append(latency)
            if status != 202:
                self.errors[(status, body[:200].decode(errors="replace"))] += 1
            self.done += 1
            if self.checkpoints and self.done >= self.checkpoints[0]:
                self._samples.put(self.checkpoints.pop(0))

    def _measure(self, name: str, run) -> PhaseResult:
        result = PhaseResult(name)
        cpu0, client0, busy0 = self.server.cpu_ticks(), os.times(), machine_busy()
        began = time.perf_counter()
        result.wall = run(result, began) or (time.perf_counter() - began)
        cpu1, client1, busy1 = self.server.cpu_ticks(), os.times(), machine_busy()
        result.server_cpu = {pid: (cpu1.get(pid, 0) - cpu0.get(pid, 0)) / TICKS for pid in cpu0}
        result.client_cpu = (client1.user + client1.system) - (client0.user + client0.system)
        total = max(1, busy1[2] - busy0[2])
        result.machine_busy = (busy1[0] - busy0[0]) / total
        result.machine_steal = (busy1[1] - busy0[1]) / total
        result.sent = len(result.latencies)
        return result

    def closed_loop(self, name: str, requests: int, concurrency: int) -> PhaseResult:
        def run(result: PhaseResult, began: float):
            remaining = itertools.count()

            def client():
                conn = Connection(self.server.port)
                while next(remaining) < requests:
                    start = time.perf_counter()
                    body, headers = self.webhooks.build(next(self.index))
                    status, answer = conn.post(body, headers)
                    self._record(result, status, answer, time.perf_counter() - start)
                conn.close()

            threads = [threading.Thread(target=client) for _ in range(concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return None

        return self._measure(name, run)

    def open_loop(self, name: str, rate: float, duration: float, connections: int) -> PhaseResult:
        count = int(round(rate * duration))

        def run(result: PhaseResult, began: float):
            due: queue.SimpleQueue = queue.SimpleQueue()
            first = time.perf_counter() + 0.05
            last_done = [first]

            def scheduler():
                for i in range(count):
                    at = first + i / rate
                    delay = at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    due.put(at)
                for _ in range(connections):
                    due.put(None)

            def client():
                conn = Connection(self.server.port)
                while (at := due.get()) is not None:
                    body, headers = self.webhooks.build(next(self.index))
                    status, answer = conn.post(body, headers)
                    finished = time.perf_counter()
                    self._record(result, status, answer, finished - at)
                    with self.lock:
                        last_done[0] = max(last_done[0], finished)
                conn.close()

            threads = [threading.Thread(target=scheduler)]
            threads += [threading.Thread(target=client) for _ in range(connections)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return last_done[0] - first

        return self._measure(name, run)


# --- stores -----------------------------------------------------------------------------

class StoreUnderTest:
    def __init__(self, kind: str, workdir: Path, pg_url: str):
        self.kind = kind
        self.workdir = workdir
        self.pg_url = pg_url
        self.schema: str | None = None
        self.url = ""

    def __enter__(self) -> "StoreUnderTest":
        from connector.store import Store

        if self.kind == "sqlite":
            self.url = f"sqlite:///{self.workdir / 'intake.db'}"
        else:
            import psycopg

            self.schema = f"bench_intake_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            sep = "&" if "?" in self.pg_url else "?"
            self.url = f"{self.pg_url}{sep}options=-csearch_path%3D{self.schema}"
        store = Store(self.url)
        store.migrate()
        store.dispose()
        return self

    def counts(self) -> dict[str, int]:
        from sqlalchemy import text

        from connector.store import Store

        store = Store(self.url)
        try:
            with store.connect() as conn:
                counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                          for table in ("inbound_events", "jobs", "lanes")}
                counts["pending_jobs"] = conn.execute(
                    text("SELECT count(*) FROM jobs WHERE state = 'pending'")).scalar()
                row = conn.execute(text(
                    "SELECT value FROM metric_counters WHERE name = 'connector_webhooks_total' "
                    "AND labels = :labels"),
                    {"labels": json.dumps({"outcome": "accepted", "source": "zendesk"}, sort_keys=True)},
                ).scalar()
                counts["metric_accepted"] = int(row or 0)
            return counts
        finally:
            store.dispose()

    def __exit__(self, *exc) -> None:
        if self.schema:
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


# --- one run ----------------------------------------------------------------------------

@dataclass
class Run:
    store: str
    target: str
    warmup: PhaseResult
    open: PhaseResult
    closed: PhaseResult
    rss: dict[int, int]
    errors: Counter
    workers: list[int]
    rss_each_end: list[int]
    pss_end: int
    counts: dict[str, int] | None = None
    rounds: list[float] = field(default_factory=list)  # closed-loop accepted/s, round by round


def merge_phases(name: str, parts: list[PhaseResult]) -> PhaseResult:
    """One phase made of several stretches (the closed loop's rounds): counts, latencies,
    wall time and CPU add up; how busy the machine was is averaged over the wall time."""
    merged = PhaseResult(name)
    for part in parts:
        merged.sent += part.sent
        merged.latencies += part.latencies
        merged.statuses += part.statuses
        merged.wall += part.wall
        for pid, seconds in part.server_cpu.items():
            merged.server_cpu[pid] = merged.server_cpu.get(pid, 0.0) + seconds
        merged.client_cpu += part.client_cpu
        merged.machine_busy += part.machine_busy * part.wall
        merged.machine_steal += part.machine_steal * part.wall
    if merged.wall:
        merged.machine_busy /= merged.wall
        merged.machine_steal /= merged.wall
    return merged


def bench_store(targets: list[tuple[str, str | None]], env: dict[str, str], args, store_kind: str,
                workdir: Path) -> list[Run]:
    """Run every target's server side by side on one store: each gets its warm-up and open
    loop in turn, then the closed loop in ``--rounds`` rounds that alternate between them
    (A B, B A, A B, …), so a machine that speeds up or slows down during the run (a shared
    VM does) weighs on every server alike. Only one server has load at any moment."""
    servers: dict[str, Server] = {}
    loads: dict[str, Load] = {}
    first: dict[str, tuple[PhaseResult, PhaseResult]] = {}
    closed: dict[str, list[PhaseResult]] = {name: [] for name, _ in targets}
    checkpoints = [args.requests // 10, args.requests // 2, args.requests]
    try:
        for name, app_spec in targets:
            server = servers[name] = Server(name, app_spec, env, args.workers,
                                            workdir / f"gunicorn-{store_kind}-{name}.log")
            server.start()
            load = loads[name] = Load(server, Webhooks(args.tickets), checkpoints)
            warmup = load.closed_loop("warm-up", args.warmup, 8)
            first[name] = (warmup, load.open_loop("open", args.rate, args.duration, args.concurrency))
        rest = max(0, args.requests - args.warmup - int(round(args.rate * args.duration)))
        for round_ in range(args.rounds):
            size = rest // args.rounds + (1 if round_ < rest % args.rounds else 0)
            for name, _ in (targets if round_ % 2 == 0 else list(reversed(targets))):
                closed[name].append(loads[name].closed_loop("closed", size, args.concurrency))
        time.sleep(0.2)  # let the last RSS sample land
        runs = []
        for name, _ in targets:
            server, load = servers[name], loads[name]
            workers_after = server.children()
            if sorted(workers_after) != sorted(server.worker_pids):
                load.errors[("worker restarted", f"{server.worker_pids} -> {workers_after}")] += 1
            runs.append(Run(store_kind, name, *first[name], merge_phases("closed", closed[name]), dict(load.rss),
                            load.errors, server.worker_pids, server.rss_each_kb(), server.pss_kb(),
                            rounds=[part.accepted_per_s for part in closed[name]]))
        return runs
    finally:
        for name in loads:
            loads[name].close()
        for server in servers.values():
            server.stop()


# --- printing ---------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def describe_phase(r: PhaseResult, server_pids: list[int]) -> str:
    cpu_total = sum(r.server_cpu.values())
    per_req = r.cpu_ms_per_request
    split = "/".join(f"{r.server_cpu.get(pid, 0):.1f}" for pid in server_pids)
    others = Counter({k: v for k, v in r.statuses.items() if k != 202})
    return (f"    {r.name:<8} {r.sent:>6} sent  {r.accepted:>6} × 202  "
            f"{r.accepted_per_s:>7.0f} accepted/s  p50 {ms(r.percentile(0.5)):>6} ms  "
            f"p99 {ms(r.percentile(0.99)):>6} ms  max {ms(max(r.latencies, default=0)):>6} ms\n"
            f"             server CPU {cpu_total:.1f} s ({per_req:.2f} ms/request; master/workers "
            f"{split} s), client CPU {r.client_cpu:.1f} s, machine busy {r.machine_busy:.0%} (+{r.machine_steal:.0%} stolen)"
            f"{'  NOT 202: ' + dict(others).__repr__() if others else ''}")


def print_run(run: Run) -> None:
    print(f"  {run.target}:")
    for phase in (run.warmup, run.open, run.closed):
        print(describe_phase(phase, list(phase.server_cpu)))
    rss = "  ".join(f"{k if k else 'start'}: {mb(v)} MB" for k, v in sorted(run.rss.items()))
    print(f"    RSS (master + {len(run.workers)} workers, VmRSS): {rss}; at the end master/workers "
          f"{' / '.join(mb(kb) for kb in run.rss_each_end)} MB, PSS sum {mb(run.pss_end)} MB")
    if run.counts is not None:
        c = run.counts
        print(f"    store after the run: {c['inbound_events']} events, {c['jobs']} jobs "
              f"({c['pending_jobs']} pending), {c['lanes']} lanes; "
              f"connector_webhooks_total{{outcome=accepted}} = {c['metric_accepted']}")


def print_summary(runs: list[Run], args) -> None:
    by_store: dict[str, dict[str, Run]] = {}
    for run in runs:
        by_store.setdefault(run.store, {})[run.target] = run
    print()
    print("=" * 100)
    print(f"Summary (the Procfile's web command with WEB_CONCURRENCY={args.workers}; open loop "
          f"{args.rate:g} req/s for {args.duration:g} s; closed loop {args.concurrency} connections; "
          f"LOG_LEVEL={args.log_level})")
    print(f"max accepted/s and server CPU: closed loop; accepted/s, p50, p99: open loop at {args.rate:g} req/s, "
          "latency from the scheduled send time; RSS: VmRSS of master + workers")
    marks = [0, args.requests // 10, args.requests // 2, args.requests]
    for store, targets in by_store.items():
        print(f"\n{store}:")
        print(f"| server | max accepted/s (closed loop) | accepted/s at {args.rate:g} req/s | "
              f"p50 ms | p99 ms | server CPU ms/request | RSS MB at start / {' / '.join(f'{m:,}' for m in marks[1:])} requests | PSS MB at the end |")
        print("|---|---:|---:|---:|---:|---:|---|---:|")
        for name in ("connector", "bare"):
            run = targets.get(name)
            if run is None:
                continue
            rss = " / ".join(mb(run.rss[m]) if m in run.rss else "?" for m in marks)
            print(f"| {name} | {run.closed.accepted_per_s:.0f} | {run.open.accepted_per_s:.0f} | "
                  f"{ms(run.open.percentile(0.5))} | {ms(run.open.percentile(0.99))} | {run.closed.cpu_ms_per_request:.2f} | "
                  f"{rss} | {mb(run.pss_end)} |")
        conn, bare = targets.get("connector"), targets.get("bare")
        if conn and bare and bare.closed.accepted_per_s:
            ratio = conn.closed.accepted_per_s / bare.closed.accepted_per_s
            p99 = conn.open.percentile(0.99)
            rss_max = max(conn.rss.values())
            growth = conn.rss.get(marks[-1], 0) - conn.rss.get(marks[1], 0)
            print(f"ratio connector ÷ bare (closed loop accepted/s): {ratio:.2f}  "
                  f"[target ≥ 0.5: {'met' if ratio >= 0.5 else 'MISSED'}]; round by round "
                  + ", ".join(f"{c:.0f}/{b:.0f} = {c / b:.2f}" for c, b in zip(conn.rounds, bare.rounds) if b))
            print(f"connector p99 at {args.rate:g} req/s: {ms(p99)} ms  "
                  f"[target < 25 ms: {'met' if p99 < 0.025 else 'MISSED'}]; "
                  f"accepted {conn.open.accepted} of {conn.open.sent}; machine busy {conn.open.machine_busy:.0%}, "
                  f"{conn.open.machine_steal:.0%} stolen by the hypervisor meanwhile")
            print(f"connector RSS: max {mb(rss_max)} MB [target < 150 MB: "
                  f"{'met' if rss_max < 150 * 1024 else 'MISSED'}], "
                  f"{'+' if growth >= 0 else ''}{growth / 1024:.1f} MB from {marks[1]} to {marks[-1]} requests")
    print()
    any_errors = False
    for run in runs:
        for (status, body), count in sorted(run.errors.items(), key=lambda kv: -kv[1]):
            any_errors = True
            print(f"NOT ACCEPTED [{run.store}/{run.target}] {count} × {status}: {body}")
        if run.counts is not None:
            accepted = run.warmup.accepted + run.open.accepted + run.closed.accepted
            c = run.counts
            if not (c["inbound_events"] == c["jobs"] == accepted):
                any_errors = True
                print(f"STORE MISMATCH [{run.store}/{run.target}]: {accepted} × 202 but "
                      f"{c['inbound_events']} events and {c['jobs']} jobs stored")
    if not any_errors:
        print("Every request was answered 202 and every 202 is one stored event and one job.")


def print_header(args) -> None:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import version

    print("Webhook intake benchmark (bench/intake.py)")
    print(f"  when: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: python {' '.join(sys.argv)}")
    print(f"  machine: {os.cpu_count()} logical cores ({cpu}), {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, gunicorn {version('gunicorn')}, Flask {version('flask')}, SQLAlchemy {version('sqlalchemy')}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("  NOTE: the load generator (this process), gunicorn and PostgreSQL share these cores.")
    print(f"  server: the Procfile's web command, WEB_CONCURRENCY={args.workers}, bound to 127.0.0.1: "
          f"{web_command(None)}")
    print("  connector app: connector.app:create_app() as in production (shipped registry and manifest); "
          "no worker runs")
    print("  bare app: the same command serving bench.bare_app:app, POST /webhooks/zendesk → 202")
    print(f"  LOG_LEVEL={args.log_level} for the connector (JSON logs to a file)")
    print(f"  load: per server {args.warmup} warm-up, {int(round(args.rate * args.duration))} open loop at "
          f"{args.rate:g}/s, the rest of {args.requests} closed loop on {args.concurrency} keep-alive "
          f"connections; every request a distinct signed ticket.status_changed over {args.tickets} tickets")
    print()


# --- main -------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    p.add_argument("--requests", type=int, default=10_000, help="requests per server, all phases")
    p.add_argument("--rate", type=float, default=200.0, help="open-loop requests per second")
    p.add_argument("--duration", type=float, default=10.0, help="open-loop seconds")
    p.add_argument("--concurrency", type=int, default=16, help="keep-alive connections")
    p.add_argument("--rounds", type=int, default=6,
                   help="the closed loop is split into this many rounds, alternating between the servers")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--tickets", type=int, default=500, help="distinct tickets the events cycle over")
    p.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    p.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of the connector")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", PG_URL))
    p.add_argument("--targets", default="connector,bare")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite file)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1,500 requests, 100/s for 3 s")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.rate, args.duration, args.warmup, args.rounds = 1500, 100.0, 3.0, 50, 2
    if args.requests < args.warmup + args.rate * args.duration:
        p.error("--requests must cover the warm-up and the open loop (rate × duration)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.setswitchinterval(0.0005)  # the client's threads hand the GIL over promptly
    print_header(args)
    workdir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    runs: list[Run] = []
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("DATABASE_URL", "ZENDESK_", "SALESFORCE_", "JIRA_", "GUNICORN_"))}
    base_env.update({"PYTHONPATH": str(ROOT), "CONNECTOR_MANIFEST": str(ROOT / "manifest" / "connector.yaml"),
                     "ZENDESK_WEBHOOK_SECRETS": SECRET, "LOG_LEVEL": args.log_level})
    try:
        for kind in [s.strip() for s in args.stores.split(",") if s.strip()]:
            with StoreUnderTest(kind, workdir, args.pg_url) as store:
                print(f"{kind}: {store.url}")
                env = {**base_env, "DATABASE_URL": store.url}
                targets = [(t, None if t == "connector" else "bench.bare_app:app")
                           for t in (t.strip() for t in args.targets.split(",")) if t]
                for run in bench_store(targets, env, args, kind, workdir):
                    if run.target == "connector":
                        run.counts = store.counts()
                    runs.append(run)
                    print_run(run)
        print_summary(runs, args)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
