"""Run a real worker process against a test store and the effect sink.

``python -m tests.support.worker_main DATABASE_URL SINK_URL [--lease S] [--pause S]
[--work S] [--observe] [--max-idle S]`` — the production Worker and JobQueue, with the
sink plugin registered instead of the vendor plugins.
"""
from __future__ import annotations

import argparse
from datetime import timedelta

from connector.audit import AuditLog
from connector.pipeline.queue import JobQueue
from connector.pipeline.worker import Worker
from connector.store import Store
from tests.support.plugins import sink_registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("sink_url")
    parser.add_argument("--lease", type=float, default=30)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--work", type=float, default=0.0)
    parser.add_argument("--observe", action="store_true")
    parser.add_argument("--max-idle", type=float, default=3.0)
    args = parser.parse_args()
    store = Store(args.database_url)
    queue = JobQueue(store, lease=timedelta(seconds=args.lease))
    registry = sink_registry(args.sink_url, observe_calls=args.observe,
                             pause_after_effect=args.pause, work_seconds=args.work)
    Worker(queue, registry, AuditLog(store), poll_interval=0.05).run(max_idle=args.max_idle)


if __name__ == "__main__":
    main()
