"""Mirroring one escalation to Salesforce: read the store, find the Account, send one
composite request through :meth:`Effects.once`, remember what was mirrored.

Calls per change: **one** ``POST composite`` (escalation upsert + new timeline rows +
the Account's roll-ups). The Account lookup (one SOQL query) happens only the first time
a process meets an ``account_ref``, then it is cached. A replay builds the same request,
whose effect key (derived from the request's content) is already ``done``: no call.

The same code serves the ``salesforce.mirror`` job, ``connector salesforce resync`` and
``connector salesforce backfill`` (``full=True``: every timeline row, not only new ones).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, MutableMapping

from connector.audit import AuditLog
from connector.pipeline.effects import Effects
from connector.pipeline.retry import PermanentError
from connector.store import Store
from connector.store.escalations import EscalationRecord, Escalations
from connector.store.models import utcnow
from plugins.salesforce.client import SalesforceAuth, SalesforceClient
from plugins.salesforce.mapping import (
    SalesforceMapping, account_query, composite_request, compute_rollups, escalation_fields,
    event_fields, request_digest, rollup_fields, split_events,
)

log = logging.getLogger("connector.salesforce")
MIRRORED, UNMATCHED = "mirrored", "unmatched"


class AccountCache:
    """``account_ref`` → Account Id, per process, for ``ttl`` seconds. Misses are not
    cached, so a fixed mapping is seen at the next attempt."""

    def __init__(self, ttl: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._found: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.lookups = 0

    def get(self, field_name: str, ref: str) -> str | None:
        with self._lock:
            hit = self._found.get((field_name, ref))
            if hit is not None and hit[1] > self.clock():
                return hit[0]
            return None

    def put(self, field_name: str, ref: str, account_id: str) -> None:
        with self._lock:
            self._found[(field_name, ref)] = (account_id, self.clock() + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._found.clear()


@dataclass
class SalesforceService:
    """What a process shares: the client, the mapping, the Account cache."""
    client: SalesforceClient
    mapping: SalesforceMapping
    ticket_url_base: str
    accounts: AccountCache = field(default_factory=AccountCache)

    def find_account(self, ref: str) -> tuple[str | None, str | None]:
        """``(account_id, None)`` or ``(None, why not)``."""
        name = self.mapping.account_match_field
        cached = self.accounts.get(name, ref)
        if cached is not None:
            return cached, None
        soql = account_query(self.mapping, ref)
        if soql is None:
            return None, f"{ref!r} is not a Salesforce Id (salesforce.account_match.salesforce_field is Id)"
        self.accounts.lookups += 1
        try:
            rows = self.client.query_all(soql, what="the Account lookup", sobject="Account")
        except PermanentError as error:
            raise PermanentError(f"{error} (manifest key: salesforce.account_match.salesforce_field = "
                                 f"{name})") from None
        if len(rows) == 1:
            self.accounts.put(name, ref, rows[0]["Id"])
            return rows[0]["Id"], None
        if not rows:
            return None, f"no Account has {name} = {ref!r} (salesforce.account_match)"
        return None, f"{len(rows)} Accounts have {name} = {ref!r}: make it unique (salesforce.account_match)"

    def close(self) -> None:
        self.client.close()


_lock = threading.Lock()


def salesforce_service(services: MutableMapping[str, Any]) -> SalesforceService:
    """The process's service, built on first use from ``services['settings']`` and
    ``services['manifest']``; tests put a ready one in ``services['salesforce']``."""
    service = services.get("salesforce")
    if service is not None:
        return service
    with _lock:
        service = services.get("salesforce")
        if service is None:
            settings = services.get("settings")
            manifest = services.get("manifest")
            sf_settings = getattr(settings, "salesforce", None)
            if sf_settings is None or not sf_settings.configured:
                raise PermanentError("Salesforce is not configured: set SALESFORCE_INSTANCE_URL with "
                                     "SALESFORCE_ACCESS_TOKEN or the JWT settings")
            if manifest is None or manifest.salesforce is None:
                raise PermanentError("the manifest has no salesforce section")
            mapping = SalesforceMapping.from_manifest(manifest)
            login_url = (getattr(settings, "extra", {}) or {}).get("SALESFORCE_LOGIN_URL") \
                or os.environ.get("SALESFORCE_LOGIN_URL")
            client = SalesforceClient(SalesforceAuth.from_settings(sf_settings, login_url), mapping=mapping)
            service = SalesforceService(client, mapping, ticket_url_base(settings))
            services["salesforce"] = service
    return service


def ticket_url_base(settings: Any) -> str:
    zendesk = getattr(settings, "zendesk", None)
    return (getattr(zendesk, "url", None) or "").rstrip("/")


@dataclass(frozen=True)
class MirrorResult:
    ticket_id: int
    state: str
    """``mirrored``, ``unmatched`` or ``missing`` (no escalation in the store)."""
    account_id: str | None = None
    events: int = 0
    calls: int = 0
    reason: str | None = None


class Mirror:
    def __init__(self, service: SalesforceService, store: Store, effects: Effects, audit: AuditLog,
                 clock: Callable[[], datetime] = utcnow):
        self.service = service
        self.store = store
        self.effects = effects
        self.audit = audit
        self.clock = clock
        self.escalations = Escalations(store, clock)

    def siblings(self, record: EscalationRecord) -> list[EscalationRecord]:
        """Every escalation of the same Account, this one as it is now: those with the same
        customer reference (``account_match``'s value, which names one Account), whichever
        Zendesk organization their tickets are in."""
        if not record.account_ref:
            return [record]
        others = [r for r in self.escalations.list(account_ref=record.account_ref)
                  if r.ticket_id != record.ticket_id]
        return [*others, record]

    def mirror(self, ticket_id: int, *, full: bool = False, correlation_id: str | None = None,
               job_id: int | None = None, why: str = "escalation changed", run: str | None = None) -> MirrorResult:
        """Mirror one escalation (``full``: its whole timeline). ``run`` names a forced
        backfill: its writes get keys of their own, so they are sent again even where the
        same state was sent before (Salesforce upserts by external id: nothing doubles)."""
        mapping = self.service.mapping
        record = self.escalations.get(ticket_id)
        if record is None:
            return MirrorResult(ticket_id, "missing", reason="no escalation in the store")
        if not record.account_ref:
            return self._unmatched(record, f"the ticket has no {mapping.account_match_source} to match an "
                                           "Account with (salesforce.account_match.zendesk)", correlation_id)
        account_id, reason = self.service.find_account(record.account_ref)
        if account_id is None:
            return self._unmatched(record, reason or "no Account", correlation_id)

        now = self.clock()
        every = self.escalations.events(ticket_id)
        events = every if full else [e for e in every if e.mirrored_at is None]
        url = f"{self.service.ticket_url_base}/agent/tickets/{record.ticket_id}"
        escalation = escalation_fields(mapping, record, account_id=account_id, ticket_url=url,
                                       jira=self.escalations.jira_links(ticket_id), now=now)
        rollups = rollup_fields(compute_rollups(self.siblings(record), mapping.tier_order, now))
        # The effect key names the state mirrored: the escalation's fields, the roll-ups and
        # every timeline key so far. A replay (nothing new) finds it done and makes no call;
        # a backfill has keys of its own, so it sends once and then is a no-op too.
        state = request_digest({"escalation": escalation, "rollups": rollups, "events": [e.key for e in every]})
        prefix = "salesforce:backfill" if full else "salesforce:escalation"
        if run:
            prefix = f"{prefix}:run:{run}"
        calls = 0
        for index, batch in enumerate(split_events(events)):
            body = composite_request(mapping, ticket_id, escalation,
                                     [event_fields(mapping, e, ticket_id) for e in batch], account_id, rollups)
            key = f"{prefix}:{ticket_id}:{state}:{index}"
            sent: list[int] = []

            def perform(body: dict = body) -> dict:
                sent.append(1)
                responses = self.service.client.composite(body, what=f"mirroring ticket {ticket_id}")
                first = responses[0].get("body") if responses else None
                return {"account_id": account_id, "events": sum(
                    len(s["body"]["records"]) for s in body["compositeRequest"] if s["referenceId"].startswith("events")),
                    "escalation_id": first.get("id") if isinstance(first, dict) else None}

            self.effects.once(key, system="salesforce", action="mirror_escalation", perform=perform, why=why,
                              ticket_id=ticket_id, correlation_id=correlation_id, job_id=job_id)
            calls += len(sent)
            self.escalations.mark_mirrored([e.id for e in batch if e.mirrored_at is None])
        self.escalations.set_salesforce(ticket_id, MIRRORED, account_id=account_id)
        return MirrorResult(ticket_id, MIRRORED, account_id, len(events), calls)

    def _unmatched(self, record: EscalationRecord, reason: str, correlation_id: str | None) -> MirrorResult:
        self.escalations.set_salesforce(record.ticket_id, UNMATCHED, error=reason)
        self.audit.record("decision", "salesforce.unmatched", reason=reason, result="kept unmatched",
                          system="salesforce", ticket_id=record.ticket_id, correlation_id=correlation_id,
                          detail={"account_ref": record.account_ref})
        log.warning("escalation of ticket %s not mirrored: %s", record.ticket_id, reason)
        return MirrorResult(record.ticket_id, UNMATCHED, reason=reason)


def mirror_job(ctx: Any) -> None:
    """``salesforce.mirror``: runs on the ticket's lane after every ``escalation.changed``."""
    ticket_id = int(ctx.payload["ticket_id"])
    service = salesforce_service(ctx.services)
    mirror = Mirror(service, ctx.queue.store, ctx.effects, ctx.audit, ctx.queue.clock)
    result = mirror.mirror(ticket_id, correlation_id=ctx.correlation_id, job_id=ctx.job.id)
    if result.state == "missing":
        ctx.decide("salesforce.mirror", reason="no escalation recorded for the ticket", result="skipped",
                   ticket_id=ticket_id)
