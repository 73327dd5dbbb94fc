"""``connector salesforce resync`` and ``connector salesforce backfill [--since DATE]``.

Both run the same mirror as the ``salesforce.mirror`` job, in this process, through
``Effects.once`` (audited; a second run sends nothing that was already sent).

- ``resync`` mirrors every escalation not mirrored yet (unmatched ones included, with a
  fresh Account lookup and, when Zendesk is configured, their customer reference read
  again from Zendesk): run it after fixing ``account_match``, an Account, or the
  organization in Zendesk. ``--all``
  re-mirrors every escalation, which also refreshes the Account roll-ups (the 90-day
  count moves with the calendar: schedule ``resync --all`` daily).
- ``backfill`` rebuilds the whole history (every timeline row) of the escalations changed
  since DATE (default: all), with a progress bar; a second run sends only what changed,
  ``--force`` sends everything again (after a sandbox refresh or records lost in
  Salesforce; upserts by external id, so nothing doubles).
"""
from __future__ import annotations

from datetime import datetime, timezone

import click

from connector.http import TransientHTTPError
from connector.pipeline.retry import PermanentError, RetryLater


@click.group("salesforce")
def salesforce():
    """Mirror escalations to Salesforce by hand: resync, backfill."""


def _mirror():
    from connector.cli import _fail, _runtime
    from connector.pipeline.effects import Effects
    from plugins.salesforce.mirror import Mirror, salesforce_service

    runtime = _runtime("cli")
    if runtime.manifest is None or runtime.manifest.salesforce is None:
        _fail("the manifest has no salesforce section: nothing is mirrored")
    if not runtime.settings.salesforce.configured:
        _fail("Salesforce is not configured: set SALESFORCE_INSTANCE_URL with SALESFORCE_ACCESS_TOKEN, or the "
              "JWT settings (SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY, SALESFORCE_PRIVATE_KEY)")
    service = salesforce_service(runtime.services)
    click.get_current_context().call_on_close(service.close)
    effects = Effects(runtime.store, runtime.audit, runtime.queue.clock)
    return runtime, Mirror(service, runtime.store, effects, runtime.audit, runtime.queue.clock)


def _run(mirror, records, *, full: bool, label: str, why: str, run: str | None = None) -> None:
    counts = {"mirrored": 0, "unmatched": 0, "missing": 0, "failed": 0}
    calls = 0
    failures: list[str] = []
    stopped = None
    with click.progressbar(records, label=label, show_pos=True, item_show_func=lambda r: (
            f"ticket {r.ticket_id}" if r is not None else None)) as bar:
        for record in bar:
            try:
                result = mirror.mirror(record.ticket_id, full=full, why=why, run=run)
            except RetryLater as error:
                stopped = f"Salesforce asked us to wait ({error}); run the command again later"
                break
            except (PermanentError, TransientHTTPError) as error:
                counts["failed"] += 1
                failures.append(f"ticket {record.ticket_id}: {error}")
                continue
            counts[result.state] += 1
            calls += result.calls
    click.echo(f"{counts['mirrored']} mirrored, {counts['unmatched']} unmatched, {counts['failed']} failed; "
               f"{calls} Salesforce call(s)")
    for line in failures:
        click.echo(line, err=True)
    if counts["unmatched"]:
        click.echo("unmatched escalations stay in the store; `connector doctor` lists them with the reason", err=True)
    if stopped:
        click.echo(stopped, err=True)
    if failures or stopped:
        raise SystemExit(1)


@salesforce.command("resync")
@click.option("--all", "everything", is_flag=True, help="Re-mirror every escalation (refreshes roll-ups).")
def resync(everything):
    """Mirror the escalations not mirrored yet (unmatched ones included)."""
    from connector.store.escalations import Escalations

    runtime, mirror = _mirror()
    mirror.service.accounts.clear()
    escalations = Escalations(mirror.store)
    _refresh_customers(runtime, escalations, escalations.list(salesforce_state="unmatched"))
    records = [r for r in escalations.list() if everything or r.salesforce_state != "mirrored"]
    _run(mirror, records, full=False, label="resync", why="connector salesforce resync")


def _refresh_customers(runtime, escalations, unmatched) -> None:
    """Read the customer reference of every unmatched escalation from Zendesk again, so a
    fix made there (the organization's ``external_id``, the ticket's organization) is
    what the mirror looks the Account up by. Without Zendesk credentials the stored
    references are used, and the command says so."""
    from plugins.zendesk.accounts import refresh_account_ref
    from plugins.zendesk.service import zendesk_client

    if not unmatched:
        return
    if not runtime.settings.zendesk.configured:
        click.echo(f"Zendesk is not configured: the customer references of {len(unmatched)} unmatched "
                   "escalation(s) are not read again (set the Zendesk credentials to pick up fixes made "
                   "in Zendesk)", err=True)
        return
    client = zendesk_client(runtime.services)
    changed, failures = 0, []
    for record in unmatched:
        try:
            before, after = refresh_account_ref(client, runtime.manifest, escalations, record.ticket_id)
        except (PermanentError, TransientHTTPError, RetryLater) as error:
            failures.append(f"ticket {record.ticket_id}: customer reference not read again: {error}")
            continue
        changed += before != after
    click.echo(f"{len(unmatched)} unmatched escalation(s): customer reference read again from Zendesk, "
               f"{changed} changed")
    for line in failures:
        click.echo(line, err=True)


@salesforce.command("backfill")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Only escalations changed on or after this date (YYYY-MM-DD, UTC).")
@click.option("--force", is_flag=True,
              help="Send every history again even where it was sent before (after a sandbox refresh, "
                   "or records deleted or edited in Salesforce).")
def backfill(since, force):
    """Rebuild every escalation's history in Salesforce from the store (idempotent).

    Without --force, what was already sent in the same state is not sent again. With it,
    everything is sent once more; Salesforce upserts by external id, so nothing doubles."""
    import secrets

    from connector.store.escalations import Escalations

    _, mirror = _mirror()
    start = since.replace(tzinfo=timezone.utc) if isinstance(since, datetime) else None
    records = Escalations(mirror.store).list(since=start)
    run = f"{mirror.clock():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}" if force else None
    _run(mirror, records, full=True, label="backfill", why="connector salesforce backfill" + (" --force" if force else ""),
         run=run)
