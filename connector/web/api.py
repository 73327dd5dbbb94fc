"""``/api``: the small JSON API the Zendesk app's ticket sidebar reads.

``GET /api/tickets/<id>/escalation``
    What the connector knows of the ticket's escalation: state, level, tier and the rules
    that decided it, every SLA target with its due time (ISO 8601, UTC) and state
    (``on_track``, ``at_risk``, ``breached``, ``met``, ``met_late``), the next customer
    update, the linked Jira issues, and the customer's (organization's) other recent
    escalations, most recently active first. 404 when the ticket was never escalated.

``GET /api/requirements``
    What the app needs to know before it can ask: the escalation levels (name and custom
    status id, lowest first) and the Zendesk field id of every field the requirements read.

``POST /api/requirements``
    May this ticket, as the agent is about to save it, enter an escalation level? The
    body (JSON object)::

        {"custom_status_id": 990101,          # or "level": "L2"; neither: the first level
         "fields": {"990001": "financial",    # Zendesk field id or logical name -> value
                    "amount": "1250.00"},
         "titles": {"990001": "Escalation type"},   # optional: field titles agents see
         "ticket_id": 123}                     # optional

    The escalation type and urgency are the ``escalation_type`` and ``urgent`` fields; a
    field left out counts as empty. The answer names every field that stops the
    escalation, each with its title and why, computed by
    :func:`connector.escalation.requirements.check_requirements` — the very function the
    webhook path runs, on a snapshot built by the Zendesk plugin's ``build_snapshot``, so
    the save check and the backstop cannot disagree. Bad input → 400 naming the problem.

**Who may call it.** ``Authorization: Bearer <CONNECTOR_APP_TOKEN>`` (or the admin token),
compared in constant time; anything else → 401. Without either token configured the API
does not exist (404). The app calls it through Zendesk's request proxy with a *secure*
setting (``{{setting.connector_token}}`` is filled in by Zendesk's servers), so the token
never reaches an agent's browser — and because the browser never calls the connector
directly, the API answers no CORS pre-flight and sends no CORS headers.
"""
from __future__ import annotations

import hmac
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from flask import Blueprint, current_app, jsonify, request

from connector.escalation.decide import target_label
from connector.escalation.requirements import ESCALATION_TYPE, URGENT, check_requirements
from connector.manifest.model import Level, Manifest
from connector.store.escalations import EscalationRecord, Escalations, JiraLink
from connector.web.admin import OUTCOME_ORDER

bp = Blueprint("api", __name__, url_prefix="/api")

RECENT_ESCALATIONS = 5
"""How many of the customer's other escalations the sidebar shows."""
CHECK_KEYS = ("custom_status_id", "level", "fields", "titles", "ticket_id")


class InputError(ValueError):
    """The request is malformed; the message says exactly how (answered with 400)."""


def _runtime():
    return current_app.extensions["connector"]


def _error(status: int, message: str, **extra: Any):
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


@bp.before_request
def _authenticate():
    settings = _runtime().settings
    tokens = [token for token in (settings.app_token, settings.admin_token) if token]
    if not tokens:
        return _error(404, "not found: the connector's app API is off (CONNECTOR_APP_TOKEN is not set)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = _error(401, "send the app token as Authorization: Bearer <CONNECTOR_APP_TOKEN>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector"'
        return response
    matched = False
    for token in tokens:  # every token is compared: the time taken does not say which one matched
        matched |= hmac.compare_digest(given.strip().encode(), token.encode())
    if not matched:
        response = _error(401, "the bearer token is not the connector's app token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector", error="invalid_token"'
        return response
    return None


@bp.after_request
def _headers(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _manifest() -> Manifest | None:
    manifest = _runtime().manifest
    return manifest if isinstance(manifest, Manifest) else None


# -- the ticket's escalation -----------------------------------------------------------------

@bp.get("/tickets/<ticket_id>/escalation")
def ticket_escalation(ticket_id: str):
    if not ticket_id.isdigit() or int(ticket_id) <= 0:
        return _error(400, f"ticket id {ticket_id!r} is not a Zendesk ticket number")
    runtime = _runtime()
    escalations = Escalations(runtime.store)
    record = escalations.get(int(ticket_id))
    if record is None:
        return _error(404, f"ticket {int(ticket_id)} has no escalation", ticket_id=int(ticket_id))
    recent: list[EscalationRecord] = []
    if record.organization_id is not None:
        recent = [other for other in escalations.list(organization_id=record.organization_id, newest_first=True,
                                                      limit=RECENT_ESCALATIONS + 1)
                  if other.ticket_id != record.ticket_id][:RECENT_ESCALATIONS]
    links = escalations.jira_links(record.ticket_id)
    return jsonify(escalation_view(record, now=runtime.queue.clock(), manifest=_manifest(), jira=links,
                                   recent=recent, jira_url=runtime.settings.jira.url))


# -- the requirements ------------------------------------------------------------------------

@bp.get("/requirements")
def requirements_config():
    manifest = _manifest()
    if manifest is None:
        return _error(503, "the connector has no manifest loaded")
    return jsonify(requirements_config_view(manifest))


@bp.post("/requirements")
def requirements_check():
    manifest = _manifest()
    if manifest is None:
        return _error(503, "the connector has no manifest loaded")
    body = request.get_json(silent=True)
    if body is None:
        return _error(400, "send a JSON object (Content-Type: application/json), e.g. "
                           '{"custom_status_id": 123, "fields": {"456": "financial"}}')
    try:
        answer = check_view(manifest, body, now=_runtime().queue.clock())
    except InputError as problem:
        return _error(400, str(problem))
    return jsonify(answer)


# -- pure: what the answers hold ----------------------------------------------------------------

def iso_utc(moment: datetime | None) -> str | None:
    """``2026-11-23T15:00:00Z``; a naive instant is taken to be UTC (the store's)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def escalation_view(record: EscalationRecord, *, now: datetime, manifest: Manifest | None,
                    jira: Iterable[JiraLink] = (), recent: Iterable[EscalationRecord] = (),
                    jira_url: str | None = None) -> dict[str, Any]:
    """The JSON of ``GET /api/tickets/<id>/escalation``."""
    targets = []
    next_update = None
    if record.sla is not None:
        targets = [{"name": target.name, "label": target_label(target.name), "due_at": iso_utc(target.due_at),
                    "at_risk_at": iso_utc(target.at_risk_at), "met_at": iso_utc(target.met_at),
                    "from": target.start_from, "state": target.outcome(now)}
                   for target in record.sla.targets]
        next_update = iso_utc(record.sla.next_update_due_at)
    states = {target["state"] for target in targets}
    base = jira_url.rstrip("/") if jira_url else None
    return {
        "ticket_id": record.ticket_id,
        "state": record.state,
        "level": record.level,
        "tier": _tier_view(record, manifest),
        "escalation_type": record.escalation_type,
        "resolution": record.resolution,
        "escalated_at": iso_utc(record.escalated_at),
        "resolved_at": iso_utc(record.resolved_at),
        "blocked_count": record.blocked_count,
        "sla": {
            "state": next((outcome for outcome in OUTCOME_ORDER if outcome in states), None),
            "targets": targets,
            "next_update_due_at": next_update,
        },
        "jira": [{"key": link.issue_key, "status": link.status, "resolution": link.resolution,
                  "url": f"{base}/browse/{link.issue_key}" if base else None} for link in jira],
        "customer": {"organization_id": record.organization_id, "account_ref": record.account_ref},
        "recent": [{"ticket_id": other.ticket_id, "subject": other.subject, "state": other.state,
                    "level": other.level, "tier": other.tier, "resolution": other.resolution,
                    "escalated_at": iso_utc(other.escalated_at or other.opened_at),
                    "updated_at": iso_utc(other.updated_at)} for other in recent],
        "now": iso_utc(now),
    }


def _tier_view(record: EscalationRecord, manifest: Manifest | None) -> dict[str, Any] | None:
    if record.tier is None:
        return None
    name = None
    if manifest is not None:
        try:
            name = manifest.tier(record.tier).name
        except KeyError:
            name = None  # a tier the manifest no longer has: show the key alone
    return {"key": record.tier, "name": name, "rules": list(record.rules), "default": not record.rules}


def requirement_fields(manifest: Manifest) -> tuple[str, ...]:
    """Every mapped logical field :func:`check_requirements` reads, in manifest order."""
    requirements = manifest.requirements
    names = [*requirements.all]
    if requirements.by_type:
        names.append(ESCALATION_TYPE)
    for listed in requirements.by_type.values():
        names += listed
    if requirements.when_urgent:
        names += [URGENT, *requirements.when_urgent]
    names += list(requirements.validate)
    return tuple(name for name in dict.fromkeys(names) if name in manifest.zendesk.fields)


def _levels(manifest: Manifest) -> list[dict[str, Any]]:
    return [{"name": level.name, "custom_status_id": level.custom_status_id} for level in manifest.zendesk.levels]


def requirements_config_view(manifest: Manifest) -> dict[str, Any]:
    """The JSON of ``GET /api/requirements``."""
    fields = manifest.zendesk.fields
    return {"levels": _levels(manifest),
            "fields": {name: fields[name].id for name in requirement_fields(manifest)}}


def check_view(manifest: Manifest, body: Any, *, now: datetime) -> dict[str, Any]:
    """The JSON of ``POST /api/requirements`` for the request ``body``; InputError when the
    body is malformed."""
    from plugins.zendesk.snapshot import build_snapshot

    if not isinstance(body, Mapping):
        raise InputError(f"the body must be a JSON object, not {_json_type(body)}")
    unknown = sorted(set(body) - set(CHECK_KEYS))
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(map(repr, unknown))}; the body takes "
                         f"{', '.join(CHECK_KEYS)} (the escalation type and urgency are fields)")
    level = _level_asked(manifest, body)
    ticket_id = body.get("ticket_id")
    if ticket_id is not None and (isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or ticket_id <= 0):
        raise InputError(f"ticket_id must be a positive whole number, not {ticket_id!r}")
    values = _by_field_id(manifest, body.get("fields", {}), "fields", _checked_value)
    titles = _by_field_id(manifest, body.get("titles", {}), "titles", _checked_title)
    raw_ticket = {
        "id": ticket_id or 0, "status": "open", "updated_at": now, "custom_status_id": level.custom_status_id,
        "custom_fields": [{"id": field_id, "value": value} for field_id, value in values.items()],
    }
    snapshot = build_snapshot(raw_ticket, manifest.zendesk.fields, titles_by_id=titles)
    missing = check_requirements(manifest, snapshot, level)
    fields = manifest.zendesk.fields
    return {
        "level": {"name": level.name, "custom_status_id": level.custom_status_id},
        "may_escalate": not missing,
        "missing": [{"field": item.field, "field_id": fields[item.field].id if item.field in fields else None,
                     "title": item.title, "reason": item.reason, "text": str(item)} for item in missing],
        "levels": _levels(manifest),
    }


def _level_asked(manifest: Manifest, body: Mapping[str, Any]) -> Level:
    levels = manifest.zendesk.levels
    known = ", ".join(f"{level.name} ({level.custom_status_id})" for level in levels)
    if not levels:
        raise InputError("the manifest has no escalation levels (zendesk.levels)")
    by_status = by_name = None
    status = body.get("custom_status_id")
    if status is not None:
        if isinstance(status, bool) or not (isinstance(status, int) or (isinstance(status, str) and status.isdigit())):
            raise InputError(f"custom_status_id must be a Zendesk custom status id (a number), not {status!r}")
        by_status = manifest.zendesk.level_for_status(int(status))
        if by_status is None:
            raise InputError(f"custom status {int(status)} is not an escalation level; the levels are {known} "
                             "(leave custom_status_id out to check against the first level)")
    name = body.get("level")
    if name is not None:
        if not isinstance(name, str):
            raise InputError(f"level must be a level's name, not {name!r}")
        by_name = next((level for level in levels if level.name.lower() == name.strip().lower()), None)
        if by_name is None:
            raise InputError(f"{name!r} is not an escalation level; the levels are {known}")
    if by_status is not None and by_name is not None and by_status != by_name:
        raise InputError(f"custom_status_id {by_status.custom_status_id} is level {by_status.name}, "
                         f"not {by_name.name}; send one of them")
    return by_status or by_name or levels[0]


def _by_field_id(manifest: Manifest, given: Any, key: str, check) -> dict[int, Any]:
    """``given`` keyed by logical name or Zendesk field id → keyed by field id, each value
    passed through ``check(value, path)``."""
    if not isinstance(given, Mapping):
        raise InputError(f"{key} must be a JSON object of field id or logical name -> value, not {_json_type(given)}")
    fields = manifest.zendesk.fields
    by_id = {ref.id: name for name, ref in fields.items()}
    out: dict[int, Any] = {}
    seen: dict[int, str] = {}
    for ref, value in given.items():
        ref_text = str(ref).strip()
        if ref_text in fields:
            field_id = fields[ref_text].id
        elif ref_text.isdigit() and int(ref_text) in by_id:
            field_id = int(ref_text)
        elif ref_text.isdigit():
            raise InputError(f"{key}: {ref_text} is not the id of a field in the connector's manifest")
        else:
            raise InputError(f"{key}: {ref_text!r} is neither a logical field name of the manifest nor a field id")
        if field_id in seen:
            first, second = sorted((seen[field_id], ref_text))
            raise InputError(f"{key}: {by_id[field_id]} is given twice (as {first!r} and {second!r})")
        seen[field_id] = ref_text
        out[field_id] = check(value, f"{key}.{ref_text}")
    return out


def _checked_value(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, list) and all(isinstance(item, (str, int)) and not isinstance(item, bool) for item in value):
        return value
    raise InputError(f"{path}: a field value is text, a number, true/false, null or a list of texts "
                     f"(a multi-select), not {_json_type(value)}")


def _checked_title(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path}: a title is non-empty text, not {value!r}")
    return value.strip()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
