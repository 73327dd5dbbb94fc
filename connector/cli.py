"""``connector`` — the command line. Every command has ``--help``.

Exit codes: 0 success, 1 the thing checked is wrong (invalid manifest, broken audit
chain, …), 2 the command could not run (bad configuration, unreadable file).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

import click

from connector.config import ConfigError, load_settings
from connector.manifest.cli import manifest_group

log = logging.getLogger("connector.cli")


def _fail(message: str, code: int = 2):
    click.echo(message, err=True)
    sys.exit(code)


def _runtime(role: str, *, migrate: bool = False, need_manifest: bool = True):
    from connector.logs import configure_logging
    from connector.runtime import build_runtime

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        settings = load_settings(role=role)
    except ConfigError as error:
        _fail(str(error))
    try:
        runtime = build_runtime(settings, migrate=migrate, with_manifest=need_manifest)
        click.get_current_context().call_on_close(runtime.store.dispose)
        return runtime
    except Exception as error:  # an invalid manifest names every problem
        from connector.manifest import ManifestError

        if isinstance(error, ManifestError):
            _fail(f"{settings.manifest_path}: the manifest is invalid; the connector will not start:\n{error}")
        raise


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """The escalation connector: Zendesk escalations, tiers and SLAs, mirrored to
    Salesforce and linked to Jira. Configuration comes from the environment (see README)."""


# -- running -------------------------------------------------------------------------

@main.command()
@click.option("--workers", default=1, show_default=True, help="Worker threads beside the web server.")
def serve(workers: int):
    """Web server (127.0.0.1:$PORT) and worker(s) in one process; migrates the store first.

    The embedded mode for one machine: SQLite by default, nothing else to run.
    """
    from werkzeug.serving import make_server

    from connector.app import create_app
    from connector.metrics import COUNTERS

    from connector.manifest import ManifestError

    try:
        app = create_app({"MIGRATE": True}, role="serve")
    except ConfigError as error:
        _fail(str(error))
    except ManifestError as error:
        _fail(f"the manifest is invalid; the connector will not start:\n{error}")
    runtime = app.extensions["connector"]
    COUNTERS.start(runtime.store)
    pool = [runtime.worker() for _ in range(workers)]
    threads = [threading.Thread(target=w.run, name=f"worker-{i}", daemon=True) for i, w in enumerate(pool)]
    for t in threads:
        t.start()
    server = make_server("127.0.0.1", runtime.settings.port, app, threaded=True)

    def shutdown(*_):
        for w in pool:
            w.stop()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    click.echo(f"connector serving on http://127.0.0.1:{runtime.settings.port} "
               f"with {workers} worker(s); store {runtime.store.url.split('@')[-1]}")
    server.serve_forever()
    for t in threads:
        t.join(timeout=30)


@main.command()
@click.option("--processes", default=lambda: int(os.environ.get("WEB_CONCURRENCY", "2")),
              show_default="$WEB_CONCURRENCY or 2", help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, help="Threads per process.")
def web(processes: int, threads: int):
    """The web half under gunicorn on 0.0.0.0:$PORT (production; run migrations first)."""
    from gunicorn.app.base import BaseApplication

    try:
        settings = load_settings(role="web")
    except ConfigError as error:
        _fail(str(error))

    class _Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"0.0.0.0:{settings.port}")
            self.cfg.set("workers", processes)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", None)

        def load(self):
            from connector.app import create_app

            return create_app(role="web")

    _Gunicorn().run()


@main.command()
@click.option("--max-idle", type=float, default=None,
              help="Exit after this many seconds with nothing to do (batch runs, tests).")
@click.option("--poll", type=float, default=0.5, show_default=True, help="Seconds between polls when idle.")
def worker(max_idle: float | None, poll: float):
    """Process stored events: claim jobs, run them in per-ticket order, retry, dead-letter.

    Run as many as you like, on one host or many (PostgreSQL); SIGTERM finishes the
    current job and stops.
    """
    from connector.metrics import COUNTERS

    runtime = _runtime("worker")
    COUNTERS.start(runtime.store)
    w = runtime.worker(poll_interval=poll)
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    signal.signal(signal.SIGINT, lambda *_: w.stop())
    w.run(max_idle=max_idle)
    COUNTERS.flush(runtime.store)


# -- the store -----------------------------------------------------------------------

@main.group()
def db():
    """Schema migrations of the store (DATABASE_URL)."""


@db.command("upgrade")
def db_upgrade():
    """Migrate the store to the newest schema (the Procfile's release step)."""
    runtime = _runtime("cli", need_manifest=False)
    before = runtime.store.current_revision()
    runtime.store.migrate()
    click.echo(f"store at revision {runtime.store.current_revision()} (was {before or 'empty'})")


@db.command("current")
def db_current():
    """Print the store's schema revision."""
    runtime = _runtime("cli", need_manifest=False)
    click.echo(runtime.store.current_revision() or "empty (run: connector db upgrade)")


# -- jobs ----------------------------------------------------------------------------

@main.group()
def jobs():
    """Inspect and revive jobs."""


@jobs.command("list")
@click.option("--state", "states", multiple=True,
              type=click.Choice(["pending", "running", "failed", "dead", "done"]),
              help="Repeatable. 'failed' = pending jobs waiting to retry after an error. "
                   "Default: pending, running and dead.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def jobs_list(states, limit, as_json):
    """List jobs with their attempts, next run and last error."""
    runtime = _runtime("cli", need_manifest=False)
    wanted = set(states or ("pending", "running", "dead"))
    query_states = {"pending" if s == "failed" else s for s in wanted}
    rows = runtime.queue.list_jobs(query_states, limit=limit)
    if wanted == {"failed"}:
        rows = [j for j in rows if j.last_error]
    if as_json:
        for j in rows:
            click.echo(json.dumps({"id": j.id, "lane": j.lane, "handler": j.handler, "state": j.state,
                                   "attempts": j.attempts, "run_after": j.run_after.isoformat(),
                                   "last_error": j.last_error}))
        return
    if not rows:
        click.echo("no jobs in " + ", ".join(sorted(wanted)))
        return
    click.echo(f"{'id':>7}  {'state':8} {'tries':>5}  {'next run (UTC)':19}  {'lane':26} handler / last error")
    for j in rows:
        state = "failed" if j.state == "pending" and j.last_error else j.state
        click.echo(f"{j.id:>7}  {state:8} {j.attempts:>5}  {j.run_after:%Y-%m-%d %H:%M:%S}  {j.lane:26} {j.handler}")
        if j.last_error:
            click.echo(f"{'':>46}└ {j.last_error}")


@jobs.command("retry")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Revive every dead job.")
def jobs_retry(job_ids, retry_all):
    """Put dead jobs back in line (by id, or --all)."""
    if not job_ids and not retry_all:
        _fail("name the dead jobs to retry (connector jobs retry 12 15) or use --all")
    runtime = _runtime("cli", need_manifest=False)
    count = runtime.queue.retry(None if retry_all else job_ids)
    runtime.audit.record("admin", "jobs.retry", reason="operator asked from the command line",
                         result=f"{count} revived", detail={"job_ids": list(job_ids) or "all"})
    click.echo(f"{count} dead job(s) put back in line")
    if job_ids and count < len(job_ids):
        click.echo("some ids were not dead jobs (see: connector jobs list --state dead)", err=True)


# -- audit ---------------------------------------------------------------------------

@main.group()
def audit():
    """The hash-chained audit log."""


@audit.command("verify")
def audit_verify():
    """Recompute the hash chain; exit 1 if any record was edited or removed."""
    runtime = _runtime("cli", need_manifest=False)
    report = runtime.audit.verify(progress=lambda n: click.echo(f"  … {n} records checked", err=True))
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} records")
        return
    click.echo(f"audit chain BROKEN ({report.checked} records checked):")
    for problem in report.problems:
        click.echo(f"  ✗ {problem}")
    sys.exit(1)


@audit.command("export")
@click.option("--ticket", type=int, help="Only the records of this Zendesk ticket.")
@click.option("--output", "-o", type=click.File("w"), default="-", help="File to write (default stdout).")
def audit_export(ticket, output):
    """Write audit records as JSON lines (each with its seq, prev_hash and hash)."""
    runtime = _runtime("cli", need_manifest=False)
    count = 0
    for record in runtime.audit.export(ticket_id=ticket):
        output.write(json.dumps(record, sort_keys=True) + "\n")
        count += 1
    click.echo(f"{count} record(s) exported", err=True)


main.add_command(manifest_group, "manifest")

# -- commands that live with their plugin or feature (one line each) -----------------------
# plugins/salesforce/cli.py: `connector salesforce resync|backfill`
# plugins/jira/cli.py:       (none yet)
# plugins/zendesk/cli.py:    `connector zendesk-app package`, `connector zendesk fields`
# connector/doctor.py, connector/demo.py: `connector doctor`, `connector demo`
main.add_command(__import__("plugins.salesforce.cli", fromlist=["salesforce"]).salesforce, "salesforce")
main.add_command(__import__("connector.demo", fromlist=["demo_command"]).demo_command, "demo")
main.add_command(__import__("connector.doctor", fromlist=["doctor_command"]).doctor_command, "doctor")
main.add_command(__import__("plugins.zendesk.cli", fromlist=["zendesk_app"]).zendesk_app, "zendesk-app")
main.add_command(__import__("plugins.zendesk.cli", fromlist=["zendesk"]).zendesk, "zendesk")
