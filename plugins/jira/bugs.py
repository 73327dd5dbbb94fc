"""Product bugs: from an escalated ticket to one Jira issue, and Jira's changes back.

``jira.link_bug`` (queued when the Zendesk plugin publishes ``escalation.product_bug``):

1. A key typed into ``jira_issue_key`` is checked to exist (an unknown key gets a note
   on the ticket saying so). Otherwise an issue is created — **once**: the creation is
   an effect keyed by the ticket, and its ``recover`` searches for the ticket's marker
   label (``zendesk-ticket-<id>``) before creating, so a worker dying between creating
   the issue and recording it finds the issue instead of making a second.
2. A remote link on the issue points at the agent's view of the ticket, with a stable
   ``globalId`` (``zendesk:<subdomain>:ticket:<id>``): posting it again replaces it.
3. ``jira_links`` gets the (ticket, issue) row; the ticket gets ``jira_issue_key`` and
   ``jira_status`` with an internal note in one write; the timeline says ``jira_linked``
   and ``escalation.changed`` is published.

``jira:issue_updated`` webhooks: a status or resolution change updates every link row of
the issue and queues ``jira.tell_ticket`` on each linked ticket's lane, which writes
``jira_status`` and a note (once per webhook delivery) and records the timeline row.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

from sqlalchemy import select, update

from connector.masking import mask_pans
from connector.pipeline.context import JobContext
from connector.store.escalations import RESOLVED, Escalations
from connector.store.models import jira_links
from plugins.jira.client import JiraClient
from plugins.zendesk.service import zendesk_client
from plugins.zendesk.writeback import TicketWrite, write_ticket

CHANGED_TOPIC = "escalation.changed"
RESOLVED_TAG = "jira_resolved"
"""On a linked ticket while its issue is done: time to update the customer."""
_lock = threading.Lock()


# -- pure ---------------------------------------------------------------------------------

def marker_label(ticket_id: int) -> str:
    return f"zendesk-ticket-{int(ticket_id)}"


def global_id(zendesk_url: str, ticket_id: int) -> str:
    host = urlsplit(zendesk_url).hostname or "zendesk"
    subdomain = host.split(".")[0] if host.endswith(".zendesk.com") else host
    return f"zendesk:{subdomain}:ticket:{int(ticket_id)}"


def issue_fields(config: Any, bug: Mapping[str, Any]) -> dict[str, Any]:
    """The ``fields`` of the issue for a product-bug request (texts masked)."""
    tier = bug.get("tier") or "T?"
    summary = mask_pans(f"[{tier}] {bug.get('subject') or 'Escalated ticket'}")[:250]
    lines = [
        mask_pans(bug.get("issue_summary") or "(no issue summary)"),
        "",
        f"Escalation type: {bug.get('escalation_type') or '—'}",
        f"Level: {bug.get('level') or '—'}   Tier: {tier}",
        f"Customer: {bug.get('customer') or '—'}" + (f" ({bug['organization']})" if bug.get("organization") else ""),
    ]
    if bug.get("amount"):
        lines.append(f"Amount: {bug['amount']} {(bug.get('currency') or '').upper()}".rstrip())
    lines.append(f"Zendesk ticket: {bug['ticket_url']}")
    fields: dict[str, Any] = {
        "project": {"key": config.project},
        "issuetype": {"name": config.issue_type},
        "summary": summary,
        "description": mask_pans("\n".join(lines)),
        "labels": [*config.labels, marker_label(bug["ticket_id"])],
    }
    priority = config.priority_by_tier.get(tier)
    if priority:
        fields["priority"] = {"name": priority}
    return fields


# -- handlers ------------------------------------------------------------------------------

def jira_client(services: dict) -> JiraClient:
    client = services.get("jira")
    if client is None:
        with _lock:
            client = services.get("jira")
            if client is None:
                client = services["jira"] = JiraClient(services["settings"].jira)
    return client


def link_bug(ctx: JobContext) -> None:
    bug = ctx.payload
    ticket_id = int(bug["ticket_id"])
    manifest = ctx.services["manifest"]
    client = jira_client(ctx.services)
    requested = bug.get("requested_key")
    if requested:
        issue = client.issue(requested)
        if issue is None:
            write_ticket(ctx, ticket_id, key=f"jira:ticket:{ticket_id}:unknown:{requested}", action="jira.unknown_key",
                         why=f"{requested} does not exist in Jira",
                         decide=lambda raw, snap: TicketWrite(note=f"Jira issue {requested} was not found — check the "
                                                                   "key typed into the Jira issue field."))
            ctx.decide("jira.unknown_key", reason=f"{requested} not found", result="noted", ticket_id=ticket_id)
            return
        created = False
    else:
        label = marker_label(ticket_id)
        issue = ctx.effects.once(
            f"jira:issue-for-ticket:{ticket_id}", system="jira", action="jira.create_issue",
            perform=lambda: client.create_issue(issue_fields(manifest.jira, bug)),
            recover=lambda: client.find_by_label(label),
            why="product bug on an escalated ticket", ticket_id=ticket_id, correlation_id=ctx.correlation_id,
            job_id=ctx.job.id)
        issue = client.issue(issue["key"]) or issue
        created = True
    key = issue["key"]
    url = bug["ticket_url"]
    ctx.effects.once(f"jira:remotelink:{key}:{ticket_id}", system="jira", action="jira.remote_link",
                     perform=lambda: client.put_remote_link(key, global_id=global_id(url, ticket_id), url=url,
                                                            title=f"Zendesk ticket #{ticket_id}") or {"key": key},
                     why="link the issue back to the ticket", ticket_id=ticket_id,
                     correlation_id=ctx.correlation_id, job_id=ctx.job.id)
    now = ctx.queue.clock()
    store = ctx.queue.store
    with store.begin() as conn:
        store.insert_ignoring_conflict(conn, jira_links, {
            "ticket_id": ticket_id, "issue_key": key, "issue_id": issue.get("id"), "status": issue.get("status"),
            "resolution": issue.get("resolution"), "created_by_connector": int(created), "created_at": now,
            "updated_at": now}, ["ticket_id", "issue_key"])
    status = issue.get("status")
    _tell(ctx, ticket_id, key=f"jira:ticket:{ticket_id}:linked:{key}", action="jira.linked",
          fields={"jira_issue_key": key, "jira_status": status},
          note=f"{'Created' if created else 'Linked'} Jira issue {key} ({status}): {client.browse_url(key)}",
          kind="jira_linked", summary=f"Jira {key} linked ({status})", at=now,
          detail={"issue_key": key, "status": status, "created": created})


def on_issue_updated(ctx: JobContext) -> None:
    """A status or resolution change of an issue: every link of it whose last applied Jira
    change is older than this webhook is updated and its ticket told; a webhook that comes
    late (older than what was applied) or twice changes nothing."""
    event = ctx.event
    issue = (event.data or {}).get("issue") or {}
    key = issue.get("key")
    relevant = {c.get("field") for c in (event.data.get("changes") or [])} & {"status", "resolution"}
    if not key or not relevant:
        ctx.decide("jira.event.ignored", reason="no status or resolution change", result="ignored", ticket_id=None)
        return
    changed_at = event.occurred_at
    store = ctx.queue.store
    newer = (jira_links.c.issue_key == key) & (
        jira_links.c.jira_changed_at.is_(None) | (jira_links.c.jira_changed_at < changed_at))
    with store.begin() as conn:
        tickets = [row.ticket_id for row in conn.execute(
            select(jira_links.c.ticket_id).where(newer).order_by(jira_links.c.ticket_id)).all()]
        if tickets:
            conn.execute(update(jira_links).where(newer).values(
                status=issue.get("status"), resolution=issue.get("resolution"), jira_changed_at=changed_at,
                updated_at=ctx.queue.clock()))
        for ticket_id in tickets:
            ctx.queue.enqueue(f"zendesk:ticket:{ticket_id}", "jira.tell_ticket",
                              {"ticket_id": ticket_id, "issue_key": key, "status": issue.get("status"),
                               "status_category": issue.get("status_category"),
                               "resolution": issue.get("resolution"), "event": event.dedupe_key,
                               "at": changed_at.isoformat()},
                              ctx.correlation_id, dedupe_key=f"jira:tell:{ticket_id}:{event.dedupe_key}", conn=conn)
    if not tickets:
        ctx.decide("jira.event.stale", reason=f"no link of {key} has a change older than {changed_at.isoformat()}",
                   result="ignored", ticket_id=None, detail={"issue_key": key})
        return
    ctx.decide("jira.status_changed", reason=f"{key} is now {issue.get('status')}", result=f"{len(tickets)} ticket(s)",
               ticket_id=None, detail={"issue_key": key, "tickets": tickets})


def tell_ticket(ctx: JobContext) -> None:
    """``jira_status`` and a note on one linked ticket; ``jira_resolved`` tagged while the
    issue is done (status category ``done``) and removed if it is reopened."""
    p = ctx.payload
    ticket_id, key, status = int(p["ticket_id"]), p["issue_key"], p.get("status")
    resolution = f", resolution {p['resolution']}" if p.get("resolution") else ""
    done = p.get("status_category") == "done"
    _tell(ctx, ticket_id, key=f"jira:ticket:{ticket_id}:status:{p['event']}", action="jira.status_told",
          fields={"jira_status": status}, note=f"Jira issue {key} moved to {status}{resolution}."
          + (" Engineering is done: update the customer." if done else ""),
          kind="jira_status_changed", summary=f"Jira {key} → {status}{resolution}",
          at=datetime.fromisoformat(p["at"]), detail={"issue_key": key, "status": status},
          tags_add=frozenset({RESOLVED_TAG}) if done else frozenset(),
          tags_remove=frozenset() if done else frozenset({RESOLVED_TAG}))


def sync_ticket_state(ctx: JobContext) -> None:
    """On every escalation change: each remote link of the ticket shows whether the ticket
    is solved (``status.resolved``). One effect per (link, solved or reopened, time of the
    solve), so replays send nothing and every solve and reopen is shown once."""
    ticket_id = int(ctx.payload["ticket_id"])
    escalations = Escalations(ctx.queue.store, ctx.queue.clock)
    keys = [link.issue_key for link in escalations.jira_links(ticket_id)]
    if not keys:
        return
    record = escalations.get(ticket_id)
    if record is None:
        return
    if record.resolved_at is None:
        return  # never solved: the link made at creation already shows it open
    resolved = record.state == RESOLVED
    stamp = record.resolved_at.isoformat()  # a reopen keeps the solve it undoes; a new solve has a new time
    client = jira_client(ctx.services)
    url = zendesk_client(ctx.services).agent_url(ticket_id)
    for key in keys:
        ctx.effects.once(
            f"jira:remotelink:{key}:{ticket_id}:{'resolved' if resolved else 'reopened'}:{stamp}", system="jira",
            action="jira.remote_link", why=f"ticket {'solved' if resolved else 'reopened'}: show it on {key}",
            perform=lambda key=key: client.put_remote_link(key, global_id=global_id(url, ticket_id), url=url,
                                                           title=f"Zendesk ticket #{ticket_id}",
                                                           resolved=resolved) or {"key": key},
            ticket_id=ticket_id, correlation_id=ctx.correlation_id, job_id=ctx.job.id)


def _tell(ctx: JobContext, ticket_id: int, *, key: str, action: str, fields: dict, note: str, kind: str,
          summary: str, at: datetime, detail: dict, tags_add: frozenset[str] = frozenset(),
          tags_remove: frozenset[str] = frozenset()) -> None:
    manifest = ctx.services["manifest"]
    mapped = {name: value for name, value in fields.items() if name in manifest.zendesk.fields}
    write_ticket(ctx, ticket_id, key=key, action=action, why=summary,
                 decide=lambda raw, snap: TicketWrite(fields=mapped, note=note, tags_add=tags_add,
                                                      tags_remove=tags_remove))
    Escalations(ctx.queue.store, ctx.queue.clock).add_event(ticket_id, f"zd-{ticket_id}:{kind}:{key}", kind, at,
                                                            summary, detail)
    ctx.publish(CHANGED_TOPIC, {"ticket_id": ticket_id}, dedupe_key=f"changed:{key}")
