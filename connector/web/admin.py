"""``/admin``: the status page an operator opens when something looks wrong.

Server-rendered HTML (Jinja templates under ``templates/admin/``), no JavaScript, no
build step. It shows the queue (depth, oldest job's age, SLA timers), the most recent
escalations with tier and SLA state, the dead letters with a retry button each, and a
summary of the manifest.

**Who may see it.** Only holders of ``CONNECTOR_ADMIN_TOKEN``; without that variable the
page answers 404 (it does not exist). Either:

- ``Authorization: Bearer <token>`` on each request (scripts, curl), or
- the sign-in form, which sets a session cookie: signed (HMAC, key derived from the
  token, so rotating the token signs everyone out and every web process agrees without
  sharing state), ``HttpOnly``, ``SameSite=Strict``, ``Secure`` over https, scoped to
  ``/admin``, valid for 12 hours.

Tokens are compared in constant time (:func:`hmac.compare_digest`).

**Changes are POSTs with a CSRF token.** The retry button and sign-out post a form
carrying the session's CSRF token (random per session, kept inside the signed cookie);
a cookie-authenticated POST without the matching token is refused with 403. A
bearer-authenticated POST needs none: browsers never add that header on their own.
Every retry is audited like ``connector jobs retry``.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

COOKIE = "connector_admin"
SESSION_SECONDS = 12 * 3600
RECENT_ESCALATIONS = 25
DEAD_LETTERS_SHOWN = 50
OUTCOME_ORDER = ("breached", "met_late", "at_risk", "on_track", "met")
"""Worst first: an escalation's SLA state is its worst target's outcome."""


def _runtime():
    return current_app.extensions["connector"]


def _token() -> str:
    token = _runtime().settings.admin_token
    if not token:
        abort(404)
    return token


def _serializer(token: str) -> URLSafeTimedSerializer:
    key = hmac.new(token.encode(), b"connector admin session v1", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(key, salt="connector-admin-session")


def _session(token: str) -> dict | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(token).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("csrf"), str) else None


def _bearer_ok(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@bp.before_request
def _authenticate():
    token = _token()
    g.admin_csrf = None
    if request.endpoint in ("admin.login", "admin.login_form"):
        return None
    if _bearer_ok(token):
        g.admin_via = "bearer"
        return None
    session = _session(token)
    if session is None:
        if request.method == "GET":
            return render_template("admin/login.html", error=None), 401
        abort(401)
    g.admin_via = "session"
    g.admin_csrf = session["csrf"]
    if request.method == "POST":
        given = request.form.get("csrf_token", "")
        if not hmac.compare_digest(given.encode(), session["csrf"].encode()):
            abort(403)
    return None


@bp.after_request
def _headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
    return response


# -- signing in and out ---------------------------------------------------------------------

@bp.get("/login")
def login_form():
    return render_template("admin/login.html", error=None)


@bp.post("/login")
def login():
    token = _token()
    given = request.form.get("token", "")
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return render_template("admin/login.html", error="That is not the admin token."), 401
    response = redirect(url_for("admin.status"), 303)
    response.set_cookie(COOKIE, _serializer(token).dumps({"csrf": secrets.token_urlsafe(32)}),
                        max_age=SESSION_SECONDS, path=bp.url_prefix, httponly=True, samesite="Strict",
                        secure=_over_https())
    return response


def _over_https() -> bool:
    """True when the browser talks https to us, also behind a TLS-terminating router
    (Heroku's, a load balancer) that says so in ``X-Forwarded-Proto``. A client lying
    about it only makes its own cookie https-only."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.is_secure or forwarded == "https"


@bp.post("/logout")
def logout():
    response = redirect(url_for("admin.login_form"), 303)
    response.delete_cookie(COOKIE, path=bp.url_prefix, httponly=True, samesite="Strict", secure=_over_https())
    return response


# -- the page -----------------------------------------------------------------------------------

@bp.get("/")
@bp.get("")
def status():
    from connector.pipeline.timers import Scheduler
    from connector.store.escalations import Escalations

    runtime = _runtime()
    now = runtime.queue.clock()
    stats = runtime.queue.stats()
    scheduler = Scheduler(runtime.queue)
    timers = scheduler.pending()
    records = Escalations(runtime.store).list(newest_first=True, limit=RECENT_ESCALATIONS)
    dead = runtime.queue.list_jobs(("dead",), limit=DEAD_LETTERS_SHOWN)
    return render_template(
        "admin/status.html",
        now=now,
        counts=stats["counts"],
        waiting=stats["counts"]["pending"] + stats["counts"]["running"],
        oldest=_age(stats["oldest_waiting_seconds"]),
        timers=len(timers),
        next_timer=timers[0].fire_at if timers else None,
        escalations=[_escalation_row(record, now, runtime) for record in records],
        dead=dead,
        manifest=_manifest_summary(runtime.manifest),
        notice=request.args.get("notice"),
        csrf=g.admin_csrf,
        via=g.admin_via,
    )


@bp.post("/jobs/<int:job_id>/retry")
def retry(job_id: int):
    runtime = _runtime()
    count = runtime.queue.retry([job_id])
    runtime.audit.record("admin", "jobs.retry", reason=f"operator asked from the status page ({g.admin_via})",
                         result=f"{count} revived", detail={"job_ids": [job_id]})
    notice = f"Job {job_id} is back in line." if count else f"Job {job_id} is not a dead letter (any more)."
    return redirect(url_for("admin.status", notice=notice), 303)


# -- what the page shows --------------------------------------------------------------------------

def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _escalation_row(record: Any, now: datetime, runtime: Any) -> dict[str, Any]:
    targets = []
    if record.sla is not None:
        targets = [(target.name, target.outcome(now), target.due_at) for target in record.sla.targets]
    outcomes = [outcome for _, outcome, _ in targets]
    worst = next((o for o in OUTCOME_ORDER if o in outcomes), None)
    base = runtime.settings.zendesk.url
    return {
        "ticket_id": record.ticket_id,
        "url": f"{base}/agent/tickets/{record.ticket_id}" if base else None,
        "subject": record.subject or "",
        "state": record.state,
        "level": record.level or "—",
        "tier": record.tier or "—",
        "sla": worst or "—",
        "targets": targets,
        "next_update": record.sla.next_update_due_at if record.sla is not None else None,
        "salesforce": record.salesforce_state or "—",
        "updated": record.updated_at,
    }


def _manifest_summary(manifest: Any) -> dict[str, Any] | None:
    if manifest is None:
        return None
    from connector.manifest.explain import explain

    return {
        "levels": [(level.name, level.custom_status_id) for level in manifest.zendesk.levels],
        "fields": len(manifest.zendesk.fields),
        "on_incomplete": manifest.zendesk.on_incomplete,
        "tiers": [(tier.key, tier.name, ", ".join(f"{t.name} {t.within}" for t in tier.targets), tier.update_every)
                  for tier in manifest.tiers],
        "rules": [(rule.name, rule.tier) for rule in manifest.rules],
        "default_tier": manifest.default_tier,
        "salesforce": (f"{manifest.salesforce.escalation_object} on the Account matched by "
                       f"{manifest.salesforce.account_match.zendesk} = Account.{manifest.salesforce.account_match.salesforce_field}"
                       if manifest.salesforce is not None else None),
        "jira": (f"project {manifest.jira.project}, issue type {manifest.jira.issue_type}"
                 if manifest.jira is not None else None),
        "explained": explain(manifest),
    }


@bp.app_template_filter("admin_time")
def _admin_time(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
