"""Prometheus metrics that stay true with many web processes and many workers.

In-process counters would differ per gunicorn worker and be invisible across hosts, so
counters are accumulated in memory (cheap on the hot path) and flushed to the
``metric_counters`` table every couple of seconds by a daemon thread; ``/metrics``
renders from the store. Job metrics (by state, oldest waiting age) are read live from
the jobs table at scrape time.

Counters:
- ``connector_webhooks_total{source,outcome}`` — accepted, duplicate, ignored,
  unsupported, unauthorized, malformed, too_large, unsupported_media_type
- ``connector_jobs_total{handler,outcome}`` — done, retried, dead
- ``connector_outbound_requests_total{system,status}`` — every HTTP call to Zendesk,
  Salesforce or Jira by status code (``error`` when no response came back)
"""
from __future__ import annotations

import atexit
import json
import threading
from collections import Counter as _Tally
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import select

from connector.store.models import metric_counters

if TYPE_CHECKING:
    from connector.pipeline.queue import JobQueue
    from connector.store import Store

HELP = {
    "connector_webhooks_total": "Inbound webhooks by source and outcome",
    "connector_jobs_total": "Finished job attempts by handler and outcome",
    "connector_outbound_requests_total": "HTTP requests to other systems by system and status",
}


class Counters:
    def __init__(self):
        self._pending: _Tally = _Tally()
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))  # made JSON when flushed, not on every request
        with self._lock:
            self._pending[key] += amount

    def reset(self) -> None:
        """Drop unflushed counts (tests start each case clean)."""
        with self._lock:
            self._pending.clear()

    def flush(self, store: "Store | None" = None) -> None:
        store = store or self._store
        if store is None:
            return
        with self._lock:
            pending, self._pending = self._pending, _Tally()
        if not pending:
            return
        try:
            with store.begin() as conn:
                for (name, labels), amount in sorted(pending.items()):
                    labels = json.dumps(dict(labels), sort_keys=True)
                    store.upsert(conn, metric_counters, {"name": name, "labels": labels, "value": amount},
                                 ["name", "labels"], {"value": metric_counters.c.value + amount})
        except Exception:
            with self._lock:  # keep the counts for the next flush
                self._pending.update(pending)
            raise

    def start(self, store: "Store", interval: float = 2.0) -> None:
        """Flush to ``store`` every ``interval`` seconds from a daemon thread."""
        self._store = store
        if self._thread is not None:
            return

        def loop():
            while not self._stop.wait(interval):
                try:
                    self.flush()
                except Exception:  # the store is down: counts are kept, try later
                    pass

        self._thread = threading.Thread(target=loop, name="metrics-flush", daemon=True)
        self._thread.start()
        atexit.register(self._final_flush)

    def _final_flush(self) -> None:
        try:
            self.flush()
        except Exception:
            pass


COUNTERS = Counters()


class _StoreCollector:
    def __init__(self, store: "Store", queue: "JobQueue"):
        self.store, self.queue = store, queue

    def collect(self):
        families: dict[str, CounterMetricFamily] = {}
        with self.store.connect() as conn:
            rows = conn.execute(select(metric_counters)).fetchall()
        for row in rows:
            labels = json.loads(row.labels)
            family = families.get(row.name)
            if family is None:
                family = families[row.name] = CounterMetricFamily(
                    row.name.removesuffix("_total"), HELP.get(row.name, row.name), labels=sorted(labels))
            family.add_metric([labels[k] for k in sorted(labels)], row.value)
        yield from families.values()
        stats = self.queue.stats()
        jobs = GaugeMetricFamily("connector_jobs", "Jobs in the store by state", labels=["state"])
        for state, count in stats["counts"].items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily("connector_oldest_waiting_job_age_seconds",
                                "Age of the oldest job not yet done or dead",
                                value=stats["oldest_waiting_seconds"])


def render(store: "Store", queue: "JobQueue") -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(store, queue))
    return generate_latest(registry)
