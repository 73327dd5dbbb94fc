"""A local Zendesk Support API (v2 subset) that speaks real HTTP, for tests and ``connector demo``.

Response shapes follow ``shared/reference/zendesk-support-oas.yaml``; every route below
exists there (``tests/simulators`` checks it). Paths answer with and without ``.json``.

Routes
    ``GET|PUT /api/v2/tickets/{id}`` — PUT takes ``{"ticket": {...}}``: ``custom_fields``
    (or ``fields``) ``[{id, value}]`` merged and validated by field type, ``status``,
    ``custom_status_id`` (kept consistent with ``status``: the status is the custom status's
    category), ``priority``, ``subject``, ``assignee_id``, ``group_id``, ``tags`` (replace),
    ``additional_tags`` / ``remove_tags``, ``comment {body|html_body, public, author_id}``,
    ``safe_update`` + ``updated_stamp``. Answers ``{ticket, audit}``. A stale or missing
    stamp under ``safe_update`` answers **409** ``{"error": "UpdateConflict", ...}``.
    Every accepted write moves ``updated_at`` strictly forward (by at least one second, the
    API's resolution, even for writes within one second). Closed tickets answer 422.
    ``GET /api/v2/tickets/{id}/comments``, ``GET /api/v2/tickets/{id}/audits`` — offset
    pagination by default, cursor pagination with ``page[size]`` / ``page[after]``.
    ``GET|PUT|POST|DELETE /api/v2/tickets/{id}/tags`` — list / add / replace / remove, with
    ``safe_update`` + ``updated_stamp`` honoured like the ticket PUT.
    ``GET /api/v2/users/me``, ``GET /api/v2/users/{id}``, ``GET /api/v2/organizations/{id}``,
    ``GET /api/v2/custom_statuses``, ``GET /api/v2/ticket_fields``.
    ``GET /api/v2/search/count?query=...`` → ``{"count": N}`` (see :func:`parse_search`
    for the query language understood; anything else answers 400, never a wrong count).

Behaviour shared by all routes: 401 ``{"error": "Couldn't authenticate you"}`` without
valid credentials (Basic ``{email}/token:{api_token}`` or ``Bearer {oauth_token}``); 404
``{"error": "RecordNotFound", "description": "Not found"}`` for unknown records;
``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` on every answer, and a real 429 with
``Retry-After`` once the per-minute budget (``rate_limit``) is spent. Unknown custom field
IDs are ignored, as Zendesk does, and listed in an ``X-Zendesk-Api-Warn`` header.

Pointing zenpy at it (checked against zenpy 2.0.57's source)
    zenpy always builds ``https://{subdomain}.{domain}/api/v2/...``; passing ``session=``
    does not change the URL. Two ways work:

    1. Recommended — a session that re-bases the public URL onto the simulator (no global
       state, so several clients can coexist)::

           from connector.simulation import rebasing_session
           session = rebasing_session({"https://sim.zendesk.com/": sim.url + "/"})
           zenpy = Zenpy(subdomain="sim", email=sim.email, token=sim.api_token, session=session)
           # or oauth_token=sim.oauth_token instead of email/token

       :meth:`ZendeskSimulator.zenpy_client` does exactly this. The plugin can do the same
       for ``ZENDESK_URL``. zenpy sets the credentials on the session it is given.
    2. ``ZENPY_FORCE_SCHEME=http`` and ``ZENPY_FORCE_NETLOC=127.0.0.1:PORT`` in the
       environment (read on every request, process-wide; fine under ``monkeypatch``).

    Things to know about zenpy 2.0.57: it has no ``raise_on_ratelimit``; on a 429 it
    *sleeps* ``Retry-After`` seconds in-process and retries, for ever unless
    ``ratelimit_budget`` is set — and then raises ``RatelimitBudgetExceeded`` without the
    response. A response hook on the session that closes the response and raises (see the
    tests) is the way to get ``Retry-After`` out instead. When zenpy builds its own session
    it mounts an adapter that silently retries GET/PUT/DELETE on 413/503 three times —
    on https only, so not against this simulator. It has no ``safe_update`` option, but it
    serialises any attribute set on a ticket, so ``ticket.safe_update = True;
    ticket.updated_stamp = ...`` is sent; it also sends the whole ``custom_fields`` list
    back (appending a ``CustomField`` duplicates the ID; the last one wins). Its cache is
    refreshed from its own write's response, but an agent's edit stays invisible until the
    cache is bypassed (``disable_cache=True`` or ``purge_cache("ticket")``).

Test helpers: :meth:`add_user`, :meth:`add_organization`, :meth:`add_ticket_field`,
:meth:`add_custom_status`, :meth:`add_ticket`, :meth:`agent_edit` (an agent's change, bumps
``updated_at`` — use it to provoke 409s), :meth:`add_comment`, and readers :meth:`ticket`,
:meth:`ticket_json`, :meth:`comments`, :meth:`audits`. :func:`event_envelope` and
:func:`post_signed` / :meth:`fire_event` send signed event-subscribed webhooks.

Event deliveries, two ways (both run in background threads; :meth:`join_deliveries` waits)
    :meth:`subscribe` — one URL and secret that get every ticket event (tests, the demo).
    Webhooks as Zendesk keeps them — :meth:`add_webhook`, or installing an app whose
    ``requirements.json`` declares them (:func:`install_app_requirements`,
    :func:`install_app`). Each webhook has its own id and a signing secret Zendesk made
    (read it with :meth:`webhook_signing_secret`, Admin Center's *Reveal secret*), and
    receives only the event types in its ``subscriptions``, signed with that secret, while
    its status is ``active``. Every attempt is kept, with the status the endpoint answered,
    in :meth:`webhook_invocations`. ``sim.webhook_verify`` is what deliveries trust for
    TLS (requests' ``verify``: True for the system's CAs, or a CA bundle's path).
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
import secrets
import shlex
import threading
import time
import uuid
import zipfile
from copy import deepcopy
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping

import requests
from flask import Response, request

from connector.signing import sign_zendesk
from connector.simulation import Simulator, json_response, rebasing_session

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
FIELD_TYPES = ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp",
               "partialcreditcard", "multiselect", "tagger", "lookup")
DEFAULT_STATUS_LABELS = {"new": "New", "open": "Open", "pending": "Pending", "hold": "On-hold",
                         "solved": "Solved"}
CONFLICT_BODY = {
    "error": "UpdateConflict",
    "description": "Safe Update prevented the update due to outdated ticket data. "
                   "Please fetch the latest ticket data and try again.",
}
NOT_FOUND_BODY = {"error": "RecordNotFound", "description": "Not found"}
UNAUTHORIZED_BODY = {"error": "Couldn't authenticate you"}
TEST_WEBHOOK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
"""The fixed secret Zendesk signs test webhooks with (used as the key as written)."""


class ZendeskError(Exception):
    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None):
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, dict(headers or {})


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset; a naive value is taken as UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def normalise_tags(tags: Iterable[Any]) -> list[str]:
    """Zendesk lower-cases tags and splits them on whitespace."""
    out: list[str] = []
    for tag in tags:
        for part in str(tag).lower().split():
            if part not in out:
                out.append(part)
    return out


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def post_signed(url: str, body: Mapping[str, Any] | bytes, secret: str, *,
                timestamp: str | None = None, webhook_id: str = "01SIMWEBHOOK",
                invocation_id: str | None = None, account_id: int = 10000001,
                timeout: float = 10.0, verify: bool | str = True) -> requests.Response:
    """POST ``body`` to ``url`` signed like a Zendesk webhook (event or trigger style).
    ``verify`` is requests' TLS check: True, or the path of a CA bundle to trust."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = timestamp or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "Content-Type": "application/json",
        "X-Zendesk-Account-Id": str(account_id),
        "X-Zendesk-Webhook-Id": webhook_id,
        "X-Zendesk-Webhook-Invocation-Id": invocation_id or str(uuid.uuid4().int)[:12],
        "X-Zendesk-Webhook-Signature": sign_zendesk(raw, secret, stamp),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    with requests.Session() as session:
        return session.post(url, data=raw, headers=headers, timeout=timeout, verify=verify)


# search ----------------------------------------------------------------------------------

_TIME_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400,
               "days": 86400, "week": 604800, "weeks": 604800}
_TERM = re.compile(r"^(-?)([a-z_]+)(>=|<=|:|>|<)(.+)$")


def parse_search(query: str, now: datetime) -> list[Callable[[dict, "ZendeskSimulator"], bool]]:
    """Turn a search query into predicates over tickets; all must hold.

    Understood (each may be negated with a leading ``-``): ``type:ticket``;
    ``requester:ID|email`` and ``requester_id:ID``; ``organization:ID`` /
    ``organization_id:ID``; ``assignee:ID``; ``status`` with ``: < > <= >=`` (ordered new <
    open < pending < hold < solved < closed); ``tags:x`` / ``tag:x``; ``created`` /
    ``updated`` with ``: < > <= >=`` and a date (``2026-01-31``, compared by UTC day), an
    ISO 8601 time (compared as an instant) or a relative age (``4hours``, ``7days``);
    bare words match the subject or description case-insensitively. Anything else raises
    ``ValueError`` (the route answers 400) so a test never gets a silently wrong count.
    """
    predicates: list[Callable[[dict, ZendeskSimulator], bool]] = []
    try:
        terms = shlex.split(query)
    except ValueError as error:
        raise ValueError(f"unbalanced quotes in query: {error}") from error
    for term in terms:
        match = _TERM.match(term)
        if not match:
            word = term.lower()
            predicates.append(lambda t, sim, w=word: w in (t["subject"] + " " + t["description"]).lower())
            continue
        negate, key, op, value = match.groups()
        predicate = _search_term(key, op, value, now)
        if negate:
            predicates.append(lambda t, sim, p=predicate: not p(t, sim))
        else:
            predicates.append(predicate)
    return predicates


def _compare(left: Any, op: str, right: Any) -> bool:
    return {":": left == right, ">": left > right, "<": left < right,
            ">=": left >= right, "<=": left <= right}[op]


def _search_term(key: str, op: str, value: str, now: datetime) -> Callable[[dict, Any], bool]:
    if key == "type":
        if op != ":" or value != "ticket":
            raise ValueError(f"only type:ticket is simulated, not {key}{op}{value}")
        return lambda t, sim: True
    if key in ("requester", "requester_id", "organization", "organization_id", "assignee",
               "assignee_id"):
        if op != ":":
            raise ValueError(f"{key} only takes ':'")
        attr = {"requester": "requester_id", "organization": "organization_id",
                "assignee": "assignee_id"}.get(key, key)
        if value.isdigit():
            wanted = int(value)
            return lambda t, sim: t.get(attr) == wanted
        if attr == "requester_id" and "@" in value:
            return lambda t, sim: (sim.users.get(t["requester_id"]) or {}).get("email", "").lower() == value.lower()
        raise ValueError(f"{key} needs an ID{' or an email' if attr == 'requester_id' else ''}")
    if key == "status":
        if value not in STATUSES:
            raise ValueError(f"unknown status {value!r}")
        rank = STATUSES.index(value)
        return lambda t, sim: _compare(STATUSES.index(t["status"]), op, rank)
    if key in ("tags", "tag"):
        if op != ":":
            raise ValueError("tags only takes ':'")
        return lambda t, sim: value.lower() in t["tags"]
    if key in ("created", "updated"):
        attr = f"{key}_at"
        relative = re.fullmatch(r"(\d+)([a-z]+)", value)
        if relative and relative.group(2) in _TIME_UNITS:
            moment = now - timedelta(seconds=int(relative.group(1)) * _TIME_UNITS[relative.group(2)])
            # "created>4hours" means less than 4 hours old, i.e. created after now-4h.
            return lambda t, sim: _compare(t[attr], op, moment)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = date.fromisoformat(value)
            return lambda t, sim: _compare(t[attr].astimezone(timezone.utc).date(), op, day)
        try:
            moment = parse_time(value)
        except ValueError as error:
            raise ValueError(f"cannot read {value!r} as a date or time") from error
        return lambda t, sim: _compare(t[attr].replace(microsecond=0), op, moment)
    raise ValueError(f"the simulator does not understand the search keyword {key!r}")


# the simulator --------------------------------------------------------------------------

class ZendeskSimulator(Simulator):
    """In-memory Zendesk Support account served on loopback.

    ``ZendeskSimulator(subdomain="sim", email=..., api_token=..., oauth_token=...,
    rate_limit=700, clock=None)``. The credentials belong to the connector's own API user
    (``sim.api_user_id``, role admin), which ``/users/me`` returns. ``clock`` returns the
    current aware UTC time (defaults to the real clock). ``webhook_verify`` (an attribute,
    kept across :meth:`reset`): the TLS check of webhook deliveries, requests' ``verify``.
    """

    name = "zendesk"

    def __init__(self, subdomain: str = "sim", email: str = "connector@example.com",
                 api_token: str = "sim-zendesk-token", oauth_token: str = "sim-zendesk-oauth",
                 *, rate_limit: int = 700, account_id: int = 10000001,
                 clock: Callable[[], datetime] | None = None, port: int = 0):
        self.subdomain = subdomain
        self.email = email
        self.api_token = api_token
        self.oauth_token = oauth_token
        self.rate_limit = rate_limit
        self.account_id = account_id
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.webhook_verify: bool | str = True
        super().__init__(port)
        self._register_routes()

    @property
    def public_url(self) -> str:
        """The URL clients believe they talk to: ``https://{subdomain}.zendesk.com``."""
        return f"https://{self.subdomain}.zendesk.com"

    def zenpy_session(self) -> requests.Session:
        """A ``requests.Session`` that re-bases ``public_url`` onto this simulator."""
        return rebasing_session({self.public_url + "/": self.url + "/"})

    def zenpy_client(self, *, oauth: bool = False, **kwargs: Any):
        """A zenpy client wired to this simulator (see the module docstring)."""
        from zenpy import Zenpy

        credentials = ({"oauth_token": self.oauth_token} if oauth
                       else {"email": self.email, "token": self.api_token})
        return Zenpy(subdomain=self.subdomain, session=kwargs.pop("session", None) or self.zenpy_session(),
                     **credentials, **kwargs)

    # state -------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.emitted: list[dict] = []
        self._subscription: tuple[str, str | None] | None = None
        self.webhooks: dict[str, dict] = {}
        self._webhook_secrets: dict[str, str] = {}  # kept apart: a webhook's JSON never shows it
        self._invocations: list[dict] = []
        self._deliveries: list[threading.Thread] = []
        self.users: dict[int, dict] = {}
        self.organizations: dict[int, dict] = {}
        self.ticket_fields: dict[int, dict] = {}
        self.custom_statuses: dict[int, dict] = {}
        self.tickets: dict[int, dict] = {}
        self._comments: dict[int, list[dict]] = {}
        self._audits: dict[int, list[dict]] = {}
        self._ids = {"user": 9000000, "organization": 5000000, "ticket": 1000, "field": 360000000,
                     "status": 1000000, "event": 7000000000, "option": 36100000}
        self._window = (0.0, 0)
        created = self.clock()
        for position, (field_type, title) in enumerate(
                [("subject", "Subject"), ("description", "Description"), ("status", "Status"),
                 ("custom_status", "Ticket status"), ("tickettype", "Type"),
                 ("priority", "Priority"), ("group", "Group"), ("assignee", "Assignee")]):
            field_id = self._next("field")
            self.ticket_fields[field_id] = {
                "id": field_id, "url": f"{self.public_url}/api/v2/ticket_fields/{field_id}.json",
                "type": field_type, "title": title, "raw_title": title, "description": "",
                "raw_description": "", "position": position, "active": True, "required": False,
                "collapsed_for_agents": False, "regexp_for_validation": None,
                "title_in_portal": title, "raw_title_in_portal": title, "visible_in_portal": True,
                "editable_in_portal": False, "required_in_portal": False, "tag": None,
                "created_at": iso(created), "updated_at": iso(created), "removable": False,
                "key": None, "agent_description": None,
            }
        self.default_status_ids: dict[str, int] = {}
        for category, label in DEFAULT_STATUS_LABELS.items():
            status = self.add_custom_status(label, category, default=True)
            self.default_status_ids[category] = status["id"]
        self.api_user_id = self.add_user("Escalation connector", self.email, role="admin")["id"]
        self.credentials: dict[tuple[str, ...], int] = {
            ("token", self.email.lower(), self.api_token): self.api_user_id,
            ("bearer", self.oauth_token): self.api_user_id,
        }

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _stamp_after(self, previous: datetime | None) -> datetime:
        now = self.clock().astimezone(timezone.utc).replace(microsecond=0)
        if previous is not None and now <= previous:
            now = previous + timedelta(seconds=1)
        return now

    # seeding -------------------------------------------------------------------------------

    def add_user(self, name: str, email: str | None = None, *, role: str = "end-user",
                 organization_id: int | None = None, user_id: int | None = None,
                 external_id: str | None = None, time_zone: str = "America/New_York") -> dict:
        with self.lock:
            user_id = user_id or self._next("user")
            moment = iso(self.clock())
            self.users[user_id] = {
                "id": user_id, "url": f"{self.public_url}/api/v2/users/{user_id}.json",
                "name": name, "email": email, "role": role, "role_type": None,
                "organization_id": organization_id, "external_id": external_id,
                "active": True, "verified": True, "suspended": False, "tags": [],
                "time_zone": time_zone, "iana_time_zone": time_zone, "locale": "en-US",
                "created_at": moment, "updated_at": moment, "user_fields": {},
            }
            return deepcopy(self.users[user_id])

    def add_api_credentials(self, user_id: int, *, email: str | None = None,
                            token: str | None = None, oauth_token: str | None = None) -> None:
        """Let another user authenticate (e.g. to test what an agent's token may see)."""
        with self.lock:
            if token:
                self.credentials[("token", (email or self.users[user_id]["email"]).lower(), token)] = user_id
            if oauth_token:
                self.credentials[("bearer", oauth_token)] = user_id

    def add_organization(self, name: str, *, external_id: str | None = None,
                         organization_id: int | None = None, tags: Iterable[str] = ()) -> dict:
        with self.lock:
            org_id = organization_id or self._next("organization")
            moment = iso(self.clock())
            self.organizations[org_id] = {
                "id": org_id, "url": f"{self.public_url}/api/v2/organizations/{org_id}.json",
                "name": name, "external_id": external_id, "tags": normalise_tags(tags),
                "domain_names": [], "details": "", "notes": "", "group_id": None,
                "shared_tickets": False, "shared_comments": False, "organization_fields": {},
                "created_at": moment, "updated_at": moment,
            }
            return deepcopy(self.organizations[org_id])

    def add_ticket_field(self, title: str, field_type: str = "text", *, field_id: int | None = None,
                         options: Iterable[str | tuple[str, str]] = (), tag: str | None = None,
                         regexp: str | None = None, active: bool = True,
                         creator_app_name: str | None = None) -> dict:
        """A custom ticket field. ``options`` for tagger/multiselect: values (tags) or
        ``(name, value)`` pairs. ``tag`` for a checkbox adds that tag while it is checked.
        ``creator_app_name``: the app whose requirements created it (None: an admin did)."""
        if field_type not in FIELD_TYPES:
            raise ValueError(f"unknown Zendesk field type {field_type!r}; one of {FIELD_TYPES}")
        with self.lock:
            field_id = field_id or self._next("field")
            moment = iso(self.clock())
            field = {
                "id": field_id, "url": f"{self.public_url}/api/v2/ticket_fields/{field_id}.json",
                "type": field_type, "title": title, "raw_title": title, "description": "",
                "raw_description": "", "position": len(self.ticket_fields), "active": active,
                "required": False, "collapsed_for_agents": False,
                "regexp_for_validation": regexp if field_type == "regexp" else None,
                "title_in_portal": title, "raw_title_in_portal": title, "visible_in_portal": False,
                "editable_in_portal": False, "required_in_portal": False,
                "tag": tag if field_type == "checkbox" else None, "created_at": moment,
                "updated_at": moment, "removable": True, "key": None, "agent_description": None,
                "creator_app_name": creator_app_name, "creator_user_id": -1 if creator_app_name else None,
            }
            if field_type in ("tagger", "multiselect"):
                field["custom_field_options"] = []
                for option in options:
                    name, value = option if isinstance(option, tuple) else (option, option)
                    field["custom_field_options"].append({
                        "id": self._next("option"), "name": name, "raw_name": name,
                        "value": value, "default": False})
            self.ticket_fields[field_id] = field
            return deepcopy(field)

    def add_custom_status(self, agent_label: str, status_category: str, *,
                          status_id: int | None = None, default: bool = False,
                          active: bool = True) -> dict:
        if status_category not in DEFAULT_STATUS_LABELS:
            raise ValueError(f"status_category must be one of {list(DEFAULT_STATUS_LABELS)}")
        with self.lock:
            status_id = status_id or self._next("status")
            moment = iso(self.clock())
            self.custom_statuses[status_id] = {
                "id": status_id, "agent_label": agent_label, "raw_agent_label": agent_label,
                "end_user_label": agent_label, "raw_end_user_label": agent_label,
                "description": "", "raw_description": "", "end_user_description": "",
                "raw_end_user_description": "", "status_category": status_category,
                "active": active, "default": default, "created_at": moment, "updated_at": moment,
            }
            return deepcopy(self.custom_statuses[status_id])

    def add_ticket(self, subject: str = "Help", description: str = "Please help", *,
                   requester_id: int | None = None, organization_id: int | None = None,
                   status: str = "open", custom_status_id: int | None = None,
                   priority: str | None = "normal", ticket_type: str | None = "incident",
                   tags: Iterable[str] = (), custom_fields: Mapping[int, Any] | None = None,
                   created_at: datetime | None = None, ticket_id: int | None = None,
                   assignee_id: int | None = None, channel: str = "web") -> dict:
        """A ticket as an end user opened it; ``description`` is its first public comment.
        Without ``requester_id`` a new end user is created. ``custom_fields`` maps field ID to
        value (validated like an API write)."""
        with self.lock:
            if requester_id is None:
                requester_id = self.add_user("Customer", f"customer{len(self.users)}@example.com",
                                             organization_id=organization_id)["id"]
            if organization_id is None:
                organization_id = self.users.get(requester_id, {}).get("organization_id")
            if custom_status_id is not None:
                status = self.custom_statuses[custom_status_id]["status_category"]
            else:
                custom_status_id = self.default_status_ids.get(status)
            ticket_id = ticket_id or self._next("ticket")
            created = (created_at or self.clock()).astimezone(timezone.utc).replace(microsecond=0)
            ticket = {
                "id": ticket_id, "subject": subject, "description": description,
                "status": status, "custom_status_id": custom_status_id, "priority": priority,
                "type": ticket_type, "requester_id": requester_id, "submitter_id": requester_id,
                "assignee_id": assignee_id, "organization_id": organization_id, "group_id": None,
                "brand_id": 1, "tags": normalise_tags(tags), "fields": {}, "external_id": None,
                "created_at": created, "updated_at": created, "via": {"channel": channel},
                "is_public": True,
            }
            if custom_fields:
                ticket["fields"] = self._validated_fields(
                    [{"id": k, "value": v} for k, v in custom_fields.items()], {})[0]
                self._sync_field_tags(ticket, {})
            self.tickets[ticket_id] = ticket
            self._comments[ticket_id] = []
            self._audits[ticket_id] = []
            audit = self._new_audit(ticket, requester_id, channel, created)
            comment = self._new_comment(ticket, audit, {"body": description, "public": True},
                                        requester_id, channel, created)
            audit["events"].append(self._comment_event(comment))
            for name in ("status", "priority", "subject"):
                audit["events"].append({"id": self._next("event"), "type": "Create",
                                        "field_name": name, "value": ticket[name]})
            self._audits[ticket_id].append(audit)
            return self.ticket_json(ticket_id)

    def agent_edit(self, ticket_id: int, *, author_id: int | None = None, **changes: Any) -> dict:
        """Change a ticket as an agent in the Zendesk UI would (no safe_update; bumps
        ``updated_at``). ``changes`` use the API's ticket keys, e.g. ``custom_status_id=7001``,
        ``custom_fields=[{"id": 1, "value": "x"}]``, ``comment={"body": "...", "public": True}``.
        Returns the ticket JSON."""
        with self.lock:
            if author_id is None:
                agents = [u for u in self.users.values() if u["role"] == "agent"]
                author_id = agents[0]["id"] if agents else self.add_user(
                    "Alex Agent", "alex.agent@example.com", role="agent")["id"]
            self._apply_update(self._ticket_or_404(ticket_id), dict(changes), author_id, "web")
            return self.ticket_json(ticket_id)

    def add_comment(self, ticket_id: int, body: str, *, author_id: int | None = None,
                    public: bool = True) -> dict:
        """A comment by ``author_id`` (default: the requester, e.g. a customer's reply by email)."""
        with self.lock:
            ticket = self._ticket_or_404(ticket_id)
            author = author_id if author_id is not None else ticket["requester_id"]
            channel = "email" if author == ticket["requester_id"] else "web"
            self._apply_update(ticket, {"comment": {"body": body, "public": public}}, author, channel)
            return deepcopy(self._comments[ticket_id][-1])

    # readers -------------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> dict:
        """The ticket as the API shows it (same as :meth:`ticket_json`)."""
        return self.ticket_json(ticket_id)

    def ticket_json(self, ticket_id: int) -> dict:
        with self.lock:
            return self._ticket_json(self._ticket_or_404(ticket_id))

    def comments(self, ticket_id: int) -> list[dict]:
        with self.lock:
            return deepcopy(self._comments.get(ticket_id, []))

    def audits(self, ticket_id: int) -> list[dict]:
        with self.lock:
            return deepcopy(self._audits.get(ticket_id, []))

    def field_value(self, ticket_id: int, field_id: int) -> Any:
        with self.lock:
            return self._ticket_or_404(ticket_id)["fields"].get(field_id)

    # webhooks ------------------------------------------------------------------------------

    def event_envelope(self, ticket_id: int, event_type: str, event: Mapping[str, Any] | None = None,
                       *, actor_id: int | None = None, event_id: str | None = None,
                       time: datetime | None = None) -> dict:
        """An event-subscribed webhook body for ``zen:event-type:{event_type}`` built from the
        ticket's current state (``event_type`` like ``ticket.custom_status_changed``)."""
        with self.lock:
            ticket = self._ticket_or_404(ticket_id)
            return event_envelope(ticket, event_type, dict(event or {}), account_id=self.account_id,
                                  actor_id=actor_id, event_id=event_id,
                                  time=time or ticket["updated_at"])

    def fire_event(self, url: str, secret: str, ticket_id: int, event_type: str,
                   event: Mapping[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        """Build :meth:`event_envelope` and POST it to ``url`` signed with ``secret``."""
        signing = {k: kwargs.pop(k) for k in ("timestamp", "webhook_id", "invocation_id") if k in kwargs}
        body = self.event_envelope(ticket_id, event_type, event, **kwargs)
        return post_signed(url, body, secret, account_id=self.account_id, **signing)

    # HTTP plumbing --------------------------------------------------------------------------

    def _authenticate(self) -> Response | None:
        header = request.headers.get("Authorization", "")
        user_id = None
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                decoded = ""
            login, _, secret = decoded.partition(":")
            if login.endswith("/token"):
                user_id = self.credentials.get(("token", login[:-6].lower(), secret))
        elif header.lower().startswith("bearer "):
            user_id = self.credentials.get(("bearer", header[7:].strip()))
        if user_id is None:
            return json_response(UNAUTHORIZED_BODY, 401)
        request.environ["zendesk.user_id"] = user_id
        start, used = self._window
        now = time.time()
        if now - start >= 60:
            start, used = now, 0
        used += 1
        self._window = (start, used)
        if used > self.rate_limit:
            retry_after = max(1, math.ceil(60 - (now - start)))
            return json_response({"error": "APIRateLimitExceeded",
                                  "description": "Number of allowed API requests per minute exceeded"},
                                 429, {"Retry-After": str(retry_after)})
        return None

    def _decorate(self, response: Response) -> Response:
        start, used = self._window
        response.headers.setdefault("X-Rate-Limit", str(self.rate_limit))
        response.headers.setdefault("X-Rate-Limit-Remaining", str(max(0, self.rate_limit - used)))
        return response

    def _unknown_route_body(self, status: int) -> Any:
        return {"error": "InvalidEndpoint", "description": "Not found"}

    def _json_route(self, rule: str, methods: Iterable[str] = ("GET",)):
        """Register ``rule`` and ``rule + '.json'`` (zenpy uses the suffix, the OAS does not)."""

        def register(view: Callable) -> Callable:
            def guarded(*args: Any, **kwargs: Any) -> Response:
                try:
                    return view(*args, **kwargs)
                except ZendeskError as error:
                    return json_response(error.body, error.status, error.headers)

            guarded.__name__ = view.__name__
            self.route(rule, methods, endpoint=f"{view.__name__}:{rule}")(guarded)
            self.route(rule + ".json", methods, endpoint=f"{view.__name__}:{rule}.json")(guarded)
            return view

        return register

    def _register_routes(self) -> None:
        route = self._json_route

        @route("/api/v2/tickets/<int:ticket_id>", ("GET", "PUT"))
        def ticket(ticket_id: int) -> Response:
            record = self._ticket_or_404(ticket_id)
            if request.method == "GET":
                return json_response({"ticket": self._ticket_json(record)})
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("ticket"), dict):
                return json_response({"error": "InvalidEndpoint",
                                      "description": "ticket parameter is missing"}, 400)
            changes = body["ticket"]
            self._check_stamp(record, changes)
            audit, warnings = self._apply_update(record, changes, request.environ["zendesk.user_id"], "api")
            headers = {"X-Zendesk-Api-Warn": warnings} if warnings else None
            return json_response({"ticket": self._ticket_json(record), "audit": deepcopy(audit)},
                                 200, headers)

        @route("/api/v2/tickets/<int:ticket_id>/comments")
        def comments(ticket_id: int) -> Response:
            self._ticket_or_404(ticket_id)
            return self._paginate("comments", self._comments[ticket_id])

        @route("/api/v2/tickets/<int:ticket_id>/audits")
        def audits(ticket_id: int) -> Response:
            self._ticket_or_404(ticket_id)
            return self._paginate("audits", self._audits[ticket_id])

        @route("/api/v2/tickets/<int:ticket_id>/tags", ("GET", "PUT", "POST", "DELETE"))
        def tags(ticket_id: int) -> Response:
            record = self._ticket_or_404(ticket_id)
            if request.method == "GET":
                return json_response({"tags": list(record["tags"])})
            body = request.get_json(silent=True) or {}
            given = body.get("tags")
            if isinstance(given, str):
                given = given.split(",")
            if not isinstance(given, list):
                return json_response({"error": "InvalidValue", "description": "tags is required"}, 400)
            self._check_stamp(record, body)
            change = {"PUT": "additional_tags", "POST": "tags", "DELETE": "remove_tags"}[request.method]
            self._apply_update(record, {change: given}, request.environ["zendesk.user_id"], "api")
            return json_response({"tags": list(record["tags"])})

        @route("/api/v2/users/me")
        def me() -> Response:
            return json_response({"user": deepcopy(self.users[request.environ["zendesk.user_id"]])})

        @route("/api/v2/users/<int:user_id>")
        def user(user_id: int) -> Response:
            if user_id not in self.users:
                raise ZendeskError(404, NOT_FOUND_BODY)
            return json_response({"user": deepcopy(self.users[user_id])})

        @route("/api/v2/organizations/<int:organization_id>")
        def organization(organization_id: int) -> Response:
            if organization_id not in self.organizations:
                raise ZendeskError(404, NOT_FOUND_BODY)
            return json_response({"organization": deepcopy(self.organizations[organization_id])})

        @route("/api/v2/custom_statuses")
        def custom_statuses() -> Response:
            statuses = list(self.custom_statuses.values())
            if request.args.get("active") is not None:
                wanted = request.args["active"] == "true"
                statuses = [s for s in statuses if s["active"] == wanted]
            if request.args.get("status_categories"):
                categories = request.args["status_categories"].split(",")
                statuses = [s for s in statuses if s["status_category"] in categories]
            return json_response({"custom_statuses": deepcopy(statuses)})

        @route("/api/v2/ticket_fields")
        def ticket_fields() -> Response:
            return json_response({"ticket_fields": deepcopy(list(self.ticket_fields.values())),
                                  "next_page": None, "previous_page": None,
                                  "count": len(self.ticket_fields)})

        @route("/api/v2/search/count")
        def search_count() -> Response:
            query = request.args.get("query", "")
            try:
                predicates = parse_search(query, self.clock())
            except ValueError as error:
                return json_response({"error": "SimulatorUnsupportedQuery",
                                      "description": str(error)}, 400)
            count = sum(1 for t in self.tickets.values() if all(p(t, self) for p in predicates))
            return json_response({"count": count})

    # ticket logic ---------------------------------------------------------------------------

    def _ticket_or_404(self, ticket_id: int) -> dict:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise ZendeskError(404, NOT_FOUND_BODY)
        return ticket

    def _custom_fields(self) -> list[dict]:
        return [f for f in sorted(self.ticket_fields.values(), key=lambda f: f["id"])
                if f["removable"] and f["active"]]

    def _ticket_json(self, ticket: dict) -> dict:
        custom = [{"id": f["id"], "value": deepcopy(ticket["fields"].get(
            f["id"], False if f["type"] == "checkbox" else None))} for f in self._custom_fields()]
        tid = ticket["id"]
        return {
            "url": f"{self.public_url}/api/v2/tickets/{tid}.json", "id": tid,
            "external_id": ticket["external_id"], "via": deepcopy(ticket["via"]),
            "created_at": iso(ticket["created_at"]), "updated_at": iso(ticket["updated_at"]),
            "generated_timestamp": int(ticket["updated_at"].timestamp()),
            "type": ticket["type"], "subject": ticket["subject"], "raw_subject": ticket["subject"],
            "description": ticket["description"], "priority": ticket["priority"],
            "status": ticket["status"], "custom_status_id": ticket["custom_status_id"],
            "recipient": None, "requester_id": ticket["requester_id"],
            "submitter_id": ticket["submitter_id"], "assignee_id": ticket["assignee_id"],
            "organization_id": ticket["organization_id"], "group_id": ticket["group_id"],
            "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [], "forum_topic_id": None,
            "problem_id": None, "has_incidents": False, "is_public": ticket["is_public"],
            "due_at": None, "tags": list(ticket["tags"]), "custom_fields": custom,
            "fields": deepcopy(custom), "satisfaction_rating": None, "sharing_agreement_ids": [],
            "followup_ids": [], "ticket_form_id": None, "brand_id": ticket["brand_id"],
            "allow_channelback": False, "allow_attachments": True, "from_messaging_channel": False,
        }

    def _check_stamp(self, ticket: dict, body: Mapping[str, Any]) -> None:
        if not _truthy(body.get("safe_update")):
            return
        stamp = body.get("updated_stamp")
        try:
            fresh = stamp is not None and parse_time(str(stamp)) == ticket["updated_at"]
        except ValueError:
            fresh = False
        if not fresh:
            raise ZendeskError(409, CONFLICT_BODY)

    def _invalid(self, errors: dict[str, list[dict]]) -> ZendeskError:
        return ZendeskError(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                  "details": errors})

    def _validated_fields(self, given: Any, current: Mapping[int, Any]) -> tuple[dict[int, Any], list[int]]:
        if not isinstance(given, list):
            raise self._invalid({"base": [{"description": "custom_fields must be a list of {id, value}"}]})
        fields, ignored, problems = dict(current), [], []
        for item in given:
            if not isinstance(item, dict) or "id" not in item:
                problems.append({"description": "each custom field needs an id", "error": "InvalidValue"})
                continue
            try:
                field_id = int(item["id"])
            except (TypeError, ValueError):
                problems.append({"description": f"custom field id {item['id']!r} is not a number",
                                 "error": "InvalidValue"})
                continue
            field = self.ticket_fields.get(field_id)
            if field is None or not field["removable"]:
                ignored.append(field_id)
                continue
            value = item.get("value")
            error = _field_value_error(field, value)
            if error:
                problems.append({"description": f"{field['title']}: {error}", "error": "InvalidValue",
                                 "field_key": field_id})
                continue
            fields[field_id] = _stored_value(field, value)
        if problems:
            raise self._invalid({"base": problems})
        return fields, ignored

    def _sync_field_tags(self, ticket: dict, previous_fields: Mapping[int, Any]) -> None:
        """Dropdown and checkbox fields are backed by tags in Zendesk: keep them in step."""
        tags = ticket["tags"]
        for field_id, value in ticket["fields"].items():
            field = self.ticket_fields.get(field_id)
            if field is None:
                continue
            old = previous_fields.get(field_id)
            if field["type"] == "tagger" and old != value:
                if old and old in tags:
                    tags.remove(old)
                if value and value not in tags:
                    tags.append(value)
            elif field["type"] == "multiselect" and old != value:
                for tag in old or []:
                    if tag in tags and tag not in (value or []):
                        tags.remove(tag)
                for tag in value or []:
                    if tag not in tags:
                        tags.append(tag)
            elif field["type"] == "checkbox" and field.get("tag") and bool(old) != bool(value):
                if value and field["tag"] not in tags:
                    tags.append(field["tag"])
                elif not value and field["tag"] in tags:
                    tags.remove(field["tag"])

    def _apply_update(self, ticket: dict, changes: dict, author_id: int, channel: str) -> tuple[dict, str]:
        """Validate everything first, then apply, bump ``updated_at`` and record an audit."""
        if ticket["status"] == "closed":
            raise self._invalid({"status": [{"description": "Status: closed prevents ticket update"}]})
        new = deepcopy(ticket)
        warnings: list[int] = []
        problems: dict[str, list[dict]] = {}
        if "custom_fields" in changes or "fields" in changes:
            new["fields"], warnings = self._validated_fields(
                changes.get("custom_fields", changes.get("fields")), ticket["fields"])
        status = changes.get("status")
        status_id = changes.get("custom_status_id")
        if status is not None and status not in STATUSES:
            problems.setdefault("status", []).append({"description": f"Status: {status} is not valid"})
        if status_id is not None:
            custom = self.custom_statuses.get(status_id) if isinstance(status_id, int) else None
            if custom is None or not custom["active"]:
                problems.setdefault("custom_status_id", []).append(
                    {"description": f"Custom status {status_id} is invalid"})
            elif status is not None and status != custom["status_category"]:
                problems.setdefault("custom_status_id", []).append(
                    {"description": f"Custom status {status_id} does not belong to status {status}"})
            else:
                new["custom_status_id"] = status_id
                new["status"] = custom["status_category"]
        elif status in STATUSES and status != ticket["status"]:
            new["status"] = status
            new["custom_status_id"] = self.default_status_ids.get(status, ticket["custom_status_id"])
        if "priority" in changes:
            if changes["priority"] not in (None, "urgent", "high", "normal", "low"):
                problems.setdefault("priority", []).append({"description": "Priority is invalid"})
            new["priority"] = changes["priority"]
        for key in ("subject", "assignee_id", "group_id", "type", "external_id"):
            if key in changes:
                new[key] = changes[key]
        if "tags" in changes:
            new["tags"] = normalise_tags(changes["tags"] or [])
        for tag in normalise_tags(changes.get("additional_tags") or []):
            if tag not in new["tags"]:
                new["tags"].append(tag)
        removed = normalise_tags(changes.get("remove_tags") or [])
        new["tags"] = [t for t in new["tags"] if t not in removed]
        comment = changes.get("comment")
        if comment is not None and not isinstance(comment, dict):
            problems.setdefault("comment", []).append({"description": "comment must be an object"})
        if problems:
            raise self._invalid(problems)
        self._sync_field_tags(new, ticket["fields"])

        moment = self._stamp_after(ticket["updated_at"])
        audit = self._new_audit(ticket, author_id, channel, moment)
        if comment and (comment.get("body") or comment.get("html_body")):
            author = comment.get("author_id") or author_id
            made = self._new_comment(ticket, audit, comment, author, channel, moment)
            audit["events"].append(self._comment_event(made))
        for key in ("status", "custom_status_id", "priority", "subject", "assignee_id", "group_id",
                    "type", "tags"):
            if new[key] != ticket[key]:
                audit["events"].append({"id": self._next("event"), "type": "Change", "field_name": key,
                                        "value": deepcopy(new[key]), "previous_value": deepcopy(ticket[key])})
        for field_id in sorted(set(new["fields"]) | set(ticket["fields"])):
            if new["fields"].get(field_id) != ticket["fields"].get(field_id):
                audit["events"].append({"id": self._next("event"), "type": "Change",
                                        "field_name": str(field_id),
                                        "value": deepcopy(new["fields"].get(field_id)),
                                        "previous_value": deepcopy(ticket["fields"].get(field_id))})
        new["updated_at"] = moment
        previous = deepcopy(ticket)
        ticket.clear()
        ticket.update(new)
        self._audits[ticket["id"]].append(audit)
        self._emit_changes(previous, ticket, audit, author_id, moment)
        return audit, ", ".join(f"ignored unknown custom field {i}" for i in warnings)

    # event subscriptions ----------------------------------------------------------------

    def subscribe(self, url: str | None, secret: str | None = None) -> None:
        """Send event-subscribed webhooks for every ticket change to ``url``, signed with
        ``secret``, as Zendesk does (including the connector's own writes: its loop guard
        must ignore them). ``None`` stops sending; events are still kept in :attr:`emitted`."""
        self._subscription = (url, secret) if url else None

    def take_emitted(self) -> list[dict]:
        """The envelopes emitted since the last call (oldest first), and forget them."""
        with self.lock:
            taken, self.emitted = self.emitted, []
            return taken

    def _emit_changes(self, before: dict, after: dict, audit: dict, author_id: int, moment: datetime) -> None:
        events: list[tuple[str, dict]] = []
        for event in audit["events"]:
            if event.get("type") == "Comment":
                author = self.users.get(event.get("author_id"), {})
                events.append(("ticket.comment_added", {"comment": {
                    "id": str(event["id"]), "body": event.get("body"), "is_public": event.get("public"),
                    "author": {"id": str(event.get("author_id")), "is_staff": author.get("role") in ("agent", "admin"),
                               "name": author.get("name")}}}))
        if after["custom_status_id"] != before["custom_status_id"]:
            events.append(("ticket.custom_status_changed", {"current": str(after["custom_status_id"]),
                                                             "previous": str(before["custom_status_id"])}))
        if after["status"] != before["status"]:
            events.append(("ticket.status_changed", {"current": after["status"].upper(),
                                                      "previous": before["status"].upper()}))
        for field_id in sorted(set(after["fields"]) | set(before["fields"])):
            old, new = before["fields"].get(field_id), after["fields"].get(field_id)
            if old != new and field_id in self.ticket_fields:
                field = self.ticket_fields[field_id]
                events.append(("ticket.custom_field_changed", {
                    "custom_field": {"id": str(field_id), "title": field["title"], "type": field["type"]},
                    "current": {"value": new}, "previous": {"value": old}}))
        if after["tags"] != before["tags"]:
            events.append(("ticket.tags_changed", {
                "tags_added": [t for t in after["tags"] if t not in before["tags"]],
                "tags_removed": [t for t in before["tags"] if t not in after["tags"]]}))
        for event_type, event in events:
            envelope = event_envelope(after, event_type, event, account_id=self.account_id, actor_id=author_id,
                                      time=moment)
            self.emitted.append(envelope)
            if self._subscription is not None:
                url, secret = self._subscription
                self._start_delivery(_deliver, url, envelope, secret)
            for webhook in self.webhooks.values():
                if webhook["status"] == "active" and envelope["type"] in webhook["subscriptions"]:
                    self._start_delivery(self._invoke_webhook, webhook["id"], webhook["endpoint"], envelope)

    # webhooks as Zendesk keeps them ---------------------------------------------------------

    def add_webhook(self, name: str, endpoint: str, *, subscriptions: Iterable[str],
                    status: str = "active", http_method: str = "POST", request_format: str = "json",
                    description: str = "") -> dict:
        """A webhook as Zendesk creates it (Admin Center, the Webhooks API, or an app's
        requirements): a new id and a random signing secret of its own. It delivers the
        ticket events whose type (``zen:event-type:ticket.status_changed``, …) is in
        ``subscriptions`` while ``status`` is ``active``. Returns its JSON, which, as in
        Zendesk, leaves the secret out (:meth:`webhook_signing_secret` reveals it)."""
        spec = {"name": name, "endpoint": endpoint, "subscriptions": list(subscriptions), "status": status,
                "http_method": http_method, "request_format": request_format, "description": description}
        problem = webhook_problem(spec)
        if problem:
            raise ValueError(problem)
        with self.lock:
            webhook_id = _webhook_id()
            self.webhooks[webhook_id] = {"id": webhook_id, **spec, "created_at": iso(self.clock())}
            self._webhook_secrets[webhook_id] = base64.b64encode(secrets.token_bytes(32)).decode()
            return deepcopy(self.webhooks[webhook_id])

    def webhook_signing_secret(self, webhook_id: str) -> str:
        """The webhook's signing secret, as Admin Center's *Reveal secret* shows it."""
        with self.lock:
            if webhook_id not in self._webhook_secrets:
                raise KeyError(f"no webhook {webhook_id!r}")
            return self._webhook_secrets[webhook_id]

    def webhook_invocations(self, webhook_id: str | None = None) -> list[dict]:
        """Every delivery attempt of the webhooks (or of one), oldest first: ``webhook_id``,
        ``invocation_id``, ``event_id``, ``event_type``, ``status`` (the HTTP status answered,
        None when no answer came) and ``error`` (the failure's class name, or None).
        Deliveries still under way are not listed yet: :meth:`join_deliveries` first."""
        with self.lock:
            return [dict(i) for i in self._invocations if webhook_id is None or i["webhook_id"] == webhook_id]

    def join_deliveries(self, timeout: float = 10.0) -> None:
        """Wait until every event delivery started so far (subscription and webhooks) has
        been answered or has failed; TimeoutError if some are still under way after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.lock:
            pending = list(self._deliveries)
        for thread in pending:
            thread.join(max(0.0, deadline - time.monotonic()))
        still = sum(1 for thread in pending if thread.is_alive())
        if still:
            raise TimeoutError(f"{still} webhook deliveries still under way after {timeout} s")

    def _start_delivery(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self.lock:
            self._deliveries = [t for t in self._deliveries if t.is_alive()] + [thread]
        thread.start()

    def _invoke_webhook(self, webhook_id: str, url: str, envelope: dict) -> None:
        with self.lock:
            secret = self._webhook_secrets.get(webhook_id)
        if secret is None:  # deleted (or the simulator reset) since the event
            return
        invocation_id = str(uuid.uuid4().int)[:12]
        status, error = None, None
        try:
            response = post_signed(url, envelope, secret, webhook_id=webhook_id, invocation_id=invocation_id,
                                   account_id=self.account_id, timeout=10, verify=self.webhook_verify)
            status = response.status_code
        except requests.RequestException as failure:
            error = type(failure).__name__  # Zendesk would retry; the attempt is kept either way
        with self.lock:
            if webhook_id in self.webhooks:
                self._invocations.append({"webhook_id": webhook_id, "invocation_id": invocation_id,
                                          "event_id": envelope["id"], "event_type": envelope["type"],
                                          "status": status, "error": error})

    def _new_audit(self, ticket: dict, author_id: int, channel: str, moment: datetime) -> dict:
        return {"id": self._next("event"), "ticket_id": ticket["id"], "created_at": iso(moment),
                "author_id": author_id, "metadata": {"system": {"ip_address": "127.0.0.1"}, "custom": {}},
                "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
                "events": []}

    def _new_comment(self, ticket: dict, audit: dict, comment: Mapping[str, Any], author_id: int,
                     channel: str, moment: datetime) -> dict:
        body = comment.get("body") or re.sub(r"<[^>]+>", "", comment.get("html_body") or "")
        html = comment.get("html_body") or "".join(f"<p>{line}</p>" for line in body.split("\n"))
        made = {"id": self._next("event"), "type": "Comment", "author_id": author_id, "body": body,
                "html_body": html, "plain_body": body, "public": comment.get("public", True) is not False,
                "attachments": [], "audit_id": audit["id"],
                "via": {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": iso(moment), "metadata": {"system": {}, "custom": {}}}
        if not made["public"] and ticket["is_public"] and not self._comments[ticket["id"]]:
            ticket["is_public"] = False
        self._comments[ticket["id"]].append(made)
        return made

    @staticmethod
    def _comment_event(comment: dict) -> dict:
        return {"id": comment["id"], "type": "Comment", "author_id": comment["author_id"],
                "body": comment["body"], "html_body": comment["html_body"],
                "plain_body": comment["plain_body"], "public": comment["public"],
                "attachments": [], "audit_id": comment["audit_id"]}

    def _paginate(self, key: str, items: list[dict]) -> Response:
        """Offset pagination by default; cursor pagination when ``page[size]`` is given."""
        base = request.base_url
        try:
            page_size = int(request.args.get("page[size]", 100))
            per_page = int(request.args.get("per_page", 100))
            page_number = int(request.args.get("page", 1))
        except ValueError as error:
            raise ZendeskError(400, {"error": "InvalidPaginationParameter",
                                     "description": "page sizes and numbers must be integers"}) from error
        if "page[size]" in request.args or "page[after]" in request.args or "page[before]" in request.args:
            size = min(100, max(1, page_size))
            start = 0
            if request.args.get("page[after]"):
                start = _decode_cursor(request.args["page[after]"]) + 1
            elif request.args.get("page[before]"):
                start = max(0, _decode_cursor(request.args["page[before]"]) - size)
            page = items[start:start + size]
            has_more = start + size < len(items)
            after = _encode_cursor(start + len(page) - 1) if page else None
            before = _encode_cursor(start) if page else None
            return json_response({
                key: deepcopy(page),
                "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
                "links": {"next": f"{base}?page[size]={size}&page[after]={after}" if has_more else None,
                          "prev": f"{base}?page[size]={size}&page[before]={before}" if start else None},
            })
        per_page = min(100, max(1, per_page))
        page_number = max(1, page_number)
        start = (page_number - 1) * per_page
        page = items[start:start + per_page]
        more = start + per_page < len(items)
        return json_response({
            key: deepcopy(page), "count": len(items),
            "next_page": f"{base}?page={page_number + 1}&per_page={per_page}" if more else None,
            "previous_page": f"{base}?page={page_number - 1}&per_page={per_page}" if page_number > 1 else None,
        })


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"idx:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(raw.split(":", 1)[1])
    except (ValueError, IndexError, UnicodeDecodeError) as error:
        raise ZendeskError(400, {"error": "InvalidPaginationParameter",
                                 "description": "cursor is invalid"}) from error


def _field_value_error(field: dict, value: Any) -> str | None:
    kind = field["type"]
    if value is None or (value == "" and kind not in ("checkbox", "multiselect")):
        return None
    options = [o["value"] for o in field.get("custom_field_options", [])]
    if kind in ("text", "textarea", "partialcreditcard"):
        return None if isinstance(value, (str, int, float)) and not isinstance(value, bool) else "must be text"
    if kind == "regexp":
        if not isinstance(value, str):
            return "must be text"
        pattern = field.get("regexp_for_validation")
        return None if not pattern or re.fullmatch(pattern, value) else "does not match the field's pattern"
    if kind == "checkbox":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return f"{value!r} is not a date (YYYY-MM-DD)"
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"{value!r} is not a date"
        return None
    if kind == "integer":
        if isinstance(value, bool):
            return "must be a whole number"
        return None if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"-?\d+", value)) \
            else "must be a whole number"
    if kind == "decimal":
        if isinstance(value, bool):
            return "must be a number"
        return None if isinstance(value, (int, float)) or (
            isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value)) else "must be a number"
    if kind == "tagger":
        return None if value in options else f"{value!r} is not one of the options {options}"
    if kind == "multiselect":
        if not isinstance(value, list):
            return "must be a list of option values"
        bad = [v for v in value if v not in options]
        return f"{bad} are not options" if bad else None
    if kind == "lookup":
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a record id"
    return None


def _stored_value(field: dict, value: Any) -> Any:
    if field["type"] in ("text", "textarea", "partialcreditcard") and isinstance(value, (int, float)):
        return str(value)
    if field["type"] == "tagger" and value == "":
        return None
    return deepcopy(value)


def _deliver(url: str, envelope: dict, secret: str | None) -> None:
    try:
        post_signed(url, envelope, secret or "", timeout=10)
    except requests.RequestException:
        pass  # Zendesk would retry; tests and the demo read ``emitted`` too


def event_envelope(ticket: Mapping[str, Any], event_type: str, event: Mapping[str, Any], *,
                   account_id: int, actor_id: int | None = None, event_id: str | None = None,
                   time: datetime | None = None) -> dict:
    """Zendesk's event-subscribed envelope: string IDs and UPPERCASE enums in ``detail``."""

    def sid(value: Any) -> str | None:
        return None if value is None else str(value)

    short = event_type.split("zen:event-type:", 1)[-1]
    return {
        "account_id": account_id,
        "detail": {
            "actor_id": sid(actor_id if actor_id is not None else ticket["requester_id"]),
            "assignee_id": sid(ticket["assignee_id"]),
            "brand_id": sid(ticket["brand_id"]),
            "created_at": iso(ticket["created_at"]),
            "custom_status": sid(ticket["custom_status_id"]),
            "description": ticket["description"],
            "external_id": ticket["external_id"],
            "form_id": None,
            "group_id": sid(ticket["group_id"]),
            "id": sid(ticket["id"]),
            "is_public": ticket["is_public"],
            "organization_id": sid(ticket["organization_id"]),
            "priority": (ticket["priority"] or "").upper() or None,
            "requester_id": sid(ticket["requester_id"]),
            "status": ticket["status"].upper(),
            "subject": ticket["subject"],
            "submitter_id": sid(ticket["submitter_id"]),
            "tags": list(ticket["tags"]),
            "type": (ticket["type"] or "").upper() or None,
            "updated_at": iso(ticket["updated_at"]),
            "via": {"channel": ticket["via"]["channel"]},
        },
        "event": dict(event),
        "id": event_id or str(uuid.uuid4()),
        "subject": f"zen:ticket:{ticket['id']}",
        "time": iso(time or ticket["updated_at"]),
        "type": f"zen:event-type:{short}",
        "zendesk_event_version": "2022-11-06",
    }


# setting up an account as an admin would ---------------------------------------------------

_FIELD_TYPES_BY_FORMAT = {"text": "text", "textarea": "textarea", "date": "date", "checkbox": "checkbox",
                          "dropdown": "tagger", "integer": "integer", "decimal": "decimal"}
_DEFAULT_OPTIONS = {"transaction_status": ["pending", "failed", "completed", "returned", "reversed"]}


EVENT_TYPE_PREFIX = "zen:event-type:"
WEBHOOK_SUBSCRIPTION_TRIGGERS = "conditional_ticket_events"
"""The subscription of a webhook that triggers and automations call (never event deliveries)."""


def webhook_problem(spec: Mapping[str, Any]) -> str | None:
    """Why Zendesk would refuse to create the webhook ``spec`` (None when it would not)."""
    for key in ("name", "endpoint"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            return f"a webhook needs a {key}"
    if not re.match(r"^https?://[^/\s]+", spec["endpoint"]):
        return f"webhook {spec['name']!r}: endpoint {spec['endpoint']!r} is not an http(s) URL"
    if spec.get("status", "active") not in ("active", "inactive"):
        return f"webhook {spec['name']!r}: status must be active or inactive"
    subscriptions = spec.get("subscriptions") or []
    if not isinstance(subscriptions, list) or not all(
            isinstance(s, str) and (s == WEBHOOK_SUBSCRIPTION_TRIGGERS or
                                    (s.startswith(EVENT_TYPE_PREFIX) and len(s) > len(EVENT_TYPE_PREFIX)))
            for s in subscriptions):
        return (f"webhook {spec['name']!r}: subscriptions must be {EVENT_TYPE_PREFIX}… event types or "
                f"{WEBHOOK_SUBSCRIPTION_TRIGGERS!r}")
    if any(s.startswith(EVENT_TYPE_PREFIX) for s in subscriptions) and (
            spec.get("http_method", "POST"), spec.get("request_format", "json")) != ("POST", "json"):
        return f"webhook {spec['name']!r}: a webhook subscribed to Zendesk events must POST json"
    return None


def _webhook_id() -> str:
    """A new webhook id, shaped like Zendesk's (26 characters of Crockford base32, ``01…``)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "01" + "".join(secrets.choice(alphabet) for _ in range(24))


class InstalledRequirements(dict):
    """The ticket field ids an install created, by requirement identifier (the mapping
    itself), and :attr:`webhooks`: the created webhook ids by requirement identifier."""

    def __init__(self, fields: Mapping[str, int], webhooks: Mapping[str, str]):
        super().__init__(fields)
        self.webhooks: dict[str, str] = dict(webhooks)


def install_app_requirements(sim: ZendeskSimulator, requirements: Mapping[str, Any],
                             app_name: str) -> InstalledRequirements:
    """What Zendesk does with an app's ``requirements.json`` when an admin installs the
    app: one ticket field per ``ticket_fields`` entry, with its title, type, options and
    checkbox tag, marked as created by ``app_name``; one webhook per ``webhooks`` entry
    (:meth:`ZendeskSimulator.add_webhook`: its own id and signing secret, delivering only
    its ``subscriptions``). Every webhook is checked before anything is created. Returns
    the new field ids by requirement identifier, with the webhook ids as ``.webhooks``."""
    hooks = dict(requirements.get("webhooks") or {})
    for identifier, hook in hooks.items():
        problem = webhook_problem(hook) if isinstance(hook, Mapping) else "a webhook must be an object"
        if problem:
            raise ValueError(f"requirements.json webhooks.{identifier}: {problem}")
    created = {}
    for identifier, field in requirements.get("ticket_fields", {}).items():
        options = [(option["name"], option["value"]) for option in field.get("custom_field_options", ())]
        created[identifier] = sim.add_ticket_field(
            field["title"], field.get("type", "text"), options=options, tag=field.get("tag"),
            active=field.get("active", True), creator_app_name=app_name)["id"]
    webhooks = {}
    for identifier, hook in hooks.items():
        webhooks[identifier] = sim.add_webhook(
            hook["name"], hook["endpoint"], subscriptions=hook.get("subscriptions") or [],
            status=hook.get("status", "active"), http_method=hook.get("http_method", "POST"),
            request_format=hook.get("request_format", "json"), description=hook.get("description", ""))["id"]
    return InstalledRequirements(created, webhooks)


def install_app(sim: ZendeskSimulator, package: bytes) -> InstalledRequirements:
    """Upload and install a private app's zip (what ``connector zendesk-app package``
    writes): its ``manifest.json`` names the app; its ``requirements.json``, if it has
    one, is installed by :func:`install_app_requirements`."""
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        requirements = json.loads(archive.read("requirements.json")) if "requirements.json" in names else {}
    return install_app_requirements(sim, requirements, manifest["name"])


def install_manifest(sim: ZendeskSimulator, manifest: Any, *, level_category: str = "open") -> Any:
    """Create the manifest's ticket fields and level statuses in ``sim`` and return the
    manifest with the placeholder ids replaced by the new ones — what an admin does
    before the connector goes live (and what ``connector demo`` does on its simulator).

    Dropdown options come from the manifest's ``one_of`` validation for that field
    (as lowercase tags, as Zendesk stores them)."""
    from dataclasses import replace

    from connector.manifest.model import FieldRef, FrozenMap, Level, OneOf

    fields = {}
    for name, ref in manifest.zendesk.fields.items():
        title = name.replace("_", " ").capitalize()
        options: list[str] = []
        if ref.format == "dropdown":
            check = manifest.requirements.validate.get(name)
            values = check.values if isinstance(check, OneOf) else _DEFAULT_OPTIONS.get(name, ["yes", "no"])
            options = [str(v).lower() for v in values]
        tag = name if ref.format == "checkbox" else None
        created = sim.add_ticket_field(title, _FIELD_TYPES_BY_FORMAT[ref.format], options=options, tag=tag)
        fields[name] = FieldRef(created["id"], ref.format)
    levels = tuple(Level(level.name, sim.add_custom_status(f"Escalated – {level.name}", level_category)["id"])
                   for level in manifest.zendesk.levels)
    return replace(manifest, zendesk=replace(manifest.zendesk, fields=FrozenMap(fields), levels=levels))
