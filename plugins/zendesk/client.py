"""The connector's Zendesk Support API wrapper, used by the escalation handlers.

One :class:`ZendeskClient` per process (or per worker thread); it holds one instrumented
``requests.Session`` (``connector.http.session_for("zendesk")``) that zenpy and the raw
calls share, so every request is counted, has a timeout, carries the same credentials
and goes through the same rate-limit hook.

Construction
    ``ZendeskClient(settings)`` with :class:`connector.config.ZendeskSettings`:

    - ``ZENDESK_OAUTH_TOKEN`` → ``Authorization: Bearer …``; ``ZENDESK_EMAIL`` +
      ``ZENDESK_API_TOKEN`` → Basic ``{email}/token:{token}``. The client puts the
      credentials on the session itself (zenpy is built ``anonymous`` on that session),
      so raw calls and zenpy calls cannot disagree.
    - Raw calls go to ``settings.url`` (``ZENDESK_URL`` or ``https://{subdomain}.zendesk.com``).
      zenpy always builds ``https://{subdomain}.{domain}/api/v2/…``; when ``settings.url``
      is anything else (a simulator on ``http://127.0.0.1:8801``) zenpy is given the
      placeholder base ``https://{subdomain or "connector"}.zendesk.invalid/`` and a
      :class:`~connector.simulation.RebaseAdapter` on the session sends that prefix to
      ``settings.url``. The ``.invalid`` name never resolves, so a request that somehow
      escaped the re-basing could not carry the token to a real Zendesk account.
      Plain ``http://`` is accepted for loopback hosts only (``allow_insecure_http=True``
      to override): the token would otherwise travel in the clear.
    - ``session=`` injects a session (tests); it is instrumented and given credentials
      and hooks like a fresh one.

What zenpy is used for, and what not
    zenpy reads the things it models well and that answer in one request: the API user
    (``users/me``), ticket fields, custom statuses, organizations — with its own cache
    **disabled** (``disable_cache=True``): caching is done here, with explicit lifetimes.
    The ticket itself is read with a raw ``GET`` and never through zenpy: callers need
    the JSON exactly as Zendesk sends it (``updated_at`` is the next ``updated_stamp``),
    and a read that never touches a cache cannot serve a stale ticket whatever zenpy's
    cache settings are. Writes (``PUT`` with ``safe_update``), search counts (the query
    text matters) and comment paging (newest first, stopping early) are raw too.

Failures (what a handler sees)
    - 429, or 503 with ``Retry-After`` → :class:`~connector.pipeline.retry.RetryLater`
      with the delay asked for, raised by a response hook *at once* — zenpy never gets to
      sleep on it (2.0.57 has no ``raise_on_ratelimit``).
    - 5xx, timeouts, connection errors, unreadable bodies →
      :class:`~connector.http.TransientHTTPError` (backoff and retry).
    - 409 on a ticket update → :class:`UpdateConflict` (a ``TransientHTTPError``, so an
      uncaught one is retried; the handler should re-read and decide again).
    - 404 → :class:`ZendeskNotFound`; other 4xx → ``PermanentError``, with what was being
      done, to which ticket, and Zendesk's own explanation (field ids included when
      Zendesk names them). Card numbers in messages are masked.

Requests per call
    ``me()`` / ``own_user_id``: 1 the first time, then 0. ``get_ticket``: 1.
    ``ticket_fields()``, ``custom_statuses()``: 1 per 10 minutes. ``organization(id)``:
    1 per organization per minute. ``snapshot``: 0, or 1 when the ticket fields are not
    cached. ``update_ticket``: exactly 1 ``PUT`` (a ``GET`` instead when there is nothing
    to change). ``count_requester_tickets``: 1. ``latest_requester_comment`` and
    ``find_comment_with_marker``: 1 per 100 comments looked at, newest first, stopping
    at the first match.
"""
from __future__ import annotations

import copy
import ipaddress
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import requests
from zenpy import Zenpy
from zenpy.lib.exception import APIException, ZenpyException

from connector.config import ZendeskSettings
from connector.escalation.ticket import TicketSnapshot
from connector.http import DEFAULT_TIMEOUT, TransientHTTPError, classify, count_transport_error, session_for
from connector.masking import mask_pans
from connector.pipeline.retry import PermanentError
from connector.simulation import RebaseAdapter
from plugins.zendesk.snapshot import _int_or_none, build_snapshot, parse_time

__all__ = [
    "SYSTEM",
    "UpdateConflict",
    "ZendeskClient",
    "ZendeskNotFound",
    "build_snapshot",
    "format_stamp",
    "parse_time",
    "requester_tickets_query",
]

SYSTEM = "zendesk"
PLACEHOLDER_DOMAIN = "zendesk.invalid"
"""The domain zenpy is told to use when ``ZENDESK_URL`` points somewhere else (RFC 2606:
``.invalid`` never resolves)."""
COMMENT_KEYS = frozenset({"body", "html_body", "public", "author_id"})

log = logging.getLogger(__name__)


class UpdateConflict(TransientHTTPError):
    """Zendesk refused a ``safe_update`` (409): the ticket changed after ``updated_stamp``.
    Re-read the ticket and decide again; never retry the same body."""

    def __init__(self, ticket_id: int, updated_stamp: str):
        super().__init__(f"ticket {ticket_id} changed in Zendesk after {updated_stamp} "
                         "(409 UpdateConflict from safe_update): re-read it and decide again")
        self.ticket_id = ticket_id
        self.updated_stamp = updated_stamp


class ZendeskNotFound(PermanentError):
    """Zendesk answered 404: the record does not exist (deleted, merged, or a wrong id)."""


# -- small pure helpers ------------------------------------------------------------------

def format_stamp(value: str | datetime) -> str:
    """``updated_stamp`` / search time as Zendesk writes it: UTC, whole seconds, ``Z``.
    A string is passed through as given (it is what Zendesk sent)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give an aware (UTC) time")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def requester_tickets_query(requester_id: int, since: datetime, until: datetime) -> str:
    """The search query counting the tickets ``requester_id`` created in ``[since, until]``.

    ``requester:<user id>`` is the search reference's keyword (the simulator also takes
    ``requester_id:``); ``>=`` / ``<=`` with an ISO 8601 UTC time compare instants."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be aware datetimes")
    if since > until:
        raise ValueError(f"since ({since}) is after until ({until})")
    return (f"type:ticket requester:{int(requester_id)} "
            f"created>={format_stamp(since)} created<={format_stamp(until)}")


def _normalise_tags(tags: Iterable[str]) -> list[str]:
    """Zendesk lower-cases tags and splits them on whitespace."""
    out: list[str] = []
    for tag in tags:
        for part in str(tag).lower().split():
            if part not in out:
                out.append(part)
    return out


def _tags_after(current: Iterable[str] | None, add: Iterable[str], remove: Iterable[str]) -> list[str] | None:
    """The full tag list after adding and removing, or ``None`` when nothing changes."""
    add, remove = _normalise_tags(add), _normalise_tags(remove)
    if not add and not remove:
        return None
    both = sorted(set(add) & set(remove))
    if both:
        raise ValueError(f"tags {both} are both added and removed")
    if current is None:
        raise ValueError(
            "tags_add/tags_remove need current_tags (the ticket's tags as read at updated_stamp): "
            "the API reference's ticket update has no additional_tags/remove_tags, so the whole "
            "list is sent, and safe_update makes that race-free")
    ordered = list(current) if isinstance(current, (list, tuple)) else sorted(current)
    before = _normalise_tags(ordered)
    after = [t for t in before if t not in remove] + [t for t in add if t not in before]
    return None if after == before else after


def _comment(comment: Mapping[str, Any] | str) -> dict[str, Any]:
    """A comment for the update body; internal (``public: false``) unless said otherwise."""
    if isinstance(comment, str):
        comment = {"body": comment}
    unknown = sorted(set(comment) - COMMENT_KEYS)
    if unknown:
        raise ValueError(f"unknown comment keys {unknown}; use {sorted(COMMENT_KEYS)}")
    if not (comment.get("body") or comment.get("html_body")):
        raise ValueError("a comment needs a body")
    out = dict(comment)
    out["public"] = bool(comment.get("public", False))
    return out


def _error_text(response: requests.Response) -> str:
    """Zendesk's explanation from an error body, field ids included, on one line."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:300] or (response.reason or "")
    if not isinstance(body, dict):
        return str(body)[:300]
    parts: list[str] = []
    error = body.get("error")
    if isinstance(error, dict):  # some endpoints answer {"error": {"title", "message"}}
        parts.append(": ".join(str(error[k]) for k in ("title", "message") if error.get(k)))
    elif error:
        parts.append(str(error))
    if body.get("description"):
        parts.append(str(body["description"]))
    details = body.get("details")
    if isinstance(details, dict):
        for key, problems in details.items():
            for problem in problems if isinstance(problems, list) else [problems]:
                if isinstance(problem, dict):
                    text = str(problem.get("description") or problem.get("error") or problem)
                    if problem.get("field_key") is not None:
                        text += f" (field {problem['field_key']})"
                else:
                    text = str(problem)
                parts.append(text if key == "base" else f"{key}: {text}")
    return "; ".join(p for p in parts if p)[:600] or (response.reason or "")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Expiring:
    """A small thread-safe cache whose entries live ``ttl`` seconds of ``clock``."""

    def __init__(self, ttl: float, clock: Callable[[], float]):
        self.ttl, self.clock = ttl, clock
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and self.clock() - hit[0] < self.ttl:
                return hit[1]
        value = load()  # outside the lock: a slow call must not hold up other keys
        with self._lock:
            self._items[key] = (self.clock(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# -- the client --------------------------------------------------------------------------

class ZendeskClient:
    """Zendesk Support API calls the escalation handlers make. See the module docstring."""

    TICKET_FIELDS_TTL = 600.0
    CUSTOM_STATUSES_TTL = 600.0
    ORGANIZATION_TTL = 60.0
    COMMENTS_PAGE_SIZE = 100

    def __init__(self, settings: ZendeskSettings, *, session: requests.Session | None = None,
                 timeout: float = DEFAULT_TIMEOUT, clock: Callable[[], float] = time.monotonic,
                 allow_insecure_http: bool = False):
        base = settings.url
        if not base:
            raise ValueError("Zendesk is not configured: set ZENDESK_SUBDOMAIN (or ZENDESK_URL)")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"ZENDESK_URL={base!r} is not an http(s) URL")
        if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(parts.hostname)):
            raise ValueError(f"ZENDESK_URL={base!r} uses plain http on a non-loopback host; the "
                             "credentials would travel unencrypted (use https, or 127.0.0.1 for a simulator)")
        self.base_url = base.rstrip("/")
        self.timeout = timeout
        self.session = session_for(SYSTEM, timeout=timeout, session=session)
        if settings.oauth_token:
            self.session.headers["Authorization"] = f"Bearer {settings.oauth_token}"
        elif settings.email and settings.api_token:
            self.session.auth = (f"{settings.email}/token", settings.api_token)
        else:
            raise ValueError("Zendesk credentials missing: ZENDESK_OAUTH_TOKEN, or ZENDESK_EMAIL "
                             "and ZENDESK_API_TOKEN")
        self.session.hooks.setdefault("response", []).append(self._raise_on_rate_limit)

        standard = f"https://{settings.subdomain}.zendesk.com" if settings.subdomain else None
        if self.base_url == standard:
            subdomain, domain = settings.subdomain, "zendesk.com"
        else:
            subdomain, domain = settings.subdomain or "connector", PLACEHOLDER_DOMAIN
            adapter = RebaseAdapter(f"https://{subdomain}.{domain}/", self.base_url + "/")
            self.session.mount(adapter.source, adapter)
        self.zenpy = Zenpy(subdomain=subdomain, domain=domain, session=self.session,
                           timeout=timeout, anonymous=True, disable_cache=True)

        self._me: dict[str, Any] | None = None
        self._me_lock = threading.Lock()
        self._ticket_fields = _Expiring(self.TICKET_FIELDS_TTL, clock)
        self._custom_statuses = _Expiring(self.CUSTOM_STATUSES_TTL, clock)
        self._organizations = _Expiring(self.ORGANIZATION_TTL, clock)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "ZendeskClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- who we are --------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The API user (``GET /api/v2/users/me``), read once per client."""
        with self._me_lock:
            if self._me is None:
                user = self._zenpy("reading the API user (users/me)", lambda: self.zenpy.users.me())
                self._me = user.to_dict()
            return copy.deepcopy(self._me)

    @property
    def own_user_id(self) -> int:
        """The connector's own Zendesk user id: events whose actor it is are our own writes."""
        return int(self.me()["id"])

    def agent_url(self, ticket_id: int) -> str:
        """The agent's view of a ticket (what the Jira remote link points at)."""
        return f"{self.base_url}/agent/tickets/{int(ticket_id)}"

    # -- reads -------------------------------------------------------------------------

    def get_ticket(self, ticket_id: int) -> dict[str, Any]:
        """The ticket as Zendesk has it now (raw JSON; never from a cache)."""
        ticket_id = int(ticket_id)
        what = f"reading ticket {ticket_id}"
        return self._json(self._call("GET", f"/api/v2/tickets/{ticket_id}.json", what), what, "ticket")

    def ticket_fields(self) -> dict[int, dict[str, Any]]:
        """Every ticket field by id (``title``, ``type``, options…), cached 10 minutes."""
        return copy.deepcopy(self._cached_ticket_fields())

    def _cached_ticket_fields(self) -> dict[int, dict[str, Any]]:
        def load() -> dict[int, dict[str, Any]]:
            found = self._zenpy("reading ticket fields", lambda: [f.to_dict() for f in self.zenpy.ticket_fields()])
            return {int(f["id"]): f for f in found}
        return self._ticket_fields.get("all", load)

    def custom_statuses(self) -> dict[int, dict[str, Any]]:
        """Every custom ticket status by id (``status_category``, ``agent_label``, ``active``),
        cached 10 minutes."""
        def load() -> dict[int, dict[str, Any]]:
            found = self._zenpy("reading custom statuses",
                                lambda: [s.to_dict() for s in self.zenpy.custom_statuses()])
            return {int(s["id"]): s for s in found}
        return copy.deepcopy(self._custom_statuses.get("all", load))

    def organization(self, organization_id: int) -> dict[str, Any]:
        """An organization (``external_id``, ``tags``…), cached for a minute."""
        organization_id = int(organization_id)
        what = f"reading organization {organization_id}"
        return copy.deepcopy(self._organizations.get(organization_id, lambda: self._zenpy(
            what, lambda: self.zenpy.organizations(id=organization_id)).to_dict()))

    def snapshot(self, raw_ticket: Mapping[str, Any], fields: Mapping[str, Any],
                 organization: Mapping[str, Any] | None = None) -> TicketSnapshot:
        """:func:`build_snapshot` with the field titles from :meth:`ticket_fields`."""
        titles = {fid: f["title"] for fid, f in self._cached_ticket_fields().items() if f.get("title")}
        return build_snapshot(raw_ticket, fields, titles_by_id=titles, organization=organization)

    def count_requester_tickets(self, requester_id: int, since: datetime, until: datetime) -> int:
        """How many tickets ``requester_id`` created between ``since`` and ``until``
        (both inclusive), in one ``GET /api/v2/search/count``. Zendesk's search index
        lags writes by up to a few minutes, so a ticket created moments ago may not count."""
        query = requester_tickets_query(requester_id, since, until)
        what = f"counting the tickets of requester {requester_id}"
        body = self._json(self._call("GET", "/api/v2/search/count.json", what, params={"query": query}), what)
        try:
            return int(body["count"])
        except (KeyError, TypeError, ValueError) as error:
            raise TransientHTTPError(f"zendesk answered {what} without a count: {str(body)[:200]}") from error

    def latest_requester_comment(self, ticket_id: int, requester_id: int) -> str | None:
        """The requester's newest public comment on the ticket, card numbers masked."""
        for comment in self._comments_newest_first(int(ticket_id)):
            if comment.get("public") and _int_or_none(comment.get("author_id")) == int(requester_id):
                return mask_pans(str(comment.get("plain_body") or comment.get("body") or ""))
        return None

    def find_comment_with_marker(self, ticket_id: int, marker: str, *,
                                 since: datetime | None = None) -> dict[str, Any] | None:
        """The newest comment (public or internal) whose text contains ``marker``, or None.

        Used after a crash to learn whether our note was already written. Comments are read
        newest first and the search stops at the first match — or, with ``since``, at the
        first comment created before it (leave a margin for clock skew)."""
        if not marker:
            raise ValueError("an empty marker matches every comment")
        for comment in self._comments_newest_first(int(ticket_id)):
            if since is not None and comment.get("created_at") and parse_time(comment["created_at"]) < since:
                return None
            if any(marker in str(comment.get(key) or "") for key in ("body", "plain_body", "html_body")):
                return comment
        return None

    # -- the write ---------------------------------------------------------------------

    def update_ticket(self, ticket_id: int, *, updated_stamp: str | datetime,
                      custom_fields: Mapping[int, Any] | None = None,
                      custom_status_id: int | None = None, status: str | None = None,
                      tags_add: Iterable[str] = (), tags_remove: Iterable[str] = (),
                      current_tags: Iterable[str] | None = None,
                      comment: Mapping[str, Any] | str | None = None) -> dict[str, Any]:
        """One ``PUT /api/v2/tickets/{id}.json`` with ``safe_update`` and ``updated_stamp``.

        ``custom_fields`` maps field id → value. Tags: the API reference's ticket update
        declares ``tags`` (the whole list) but not ``additional_tags``/``remove_tags``, so
        ``tags_add``/``tags_remove`` are applied to ``current_tags`` — the ticket's tags as
        read at ``updated_stamp`` — and the resulting list is sent; if the tags changed
        since, the stamp is stale and Zendesk answers 409. ``comment`` is an internal note
        unless it says ``public: True``.

        Returns the updated ticket: its ``updated_at`` is the stamp for the next write.
        Raises :class:`UpdateConflict` on 409. With nothing to change, nothing is written
        and the ticket is read instead."""
        ticket_id = int(ticket_id)
        changes: dict[str, Any] = {}
        if custom_fields:
            changes["custom_fields"] = [{"id": int(fid), "value": value} for fid, value in custom_fields.items()]
        if custom_status_id is not None:
            changes["custom_status_id"] = int(custom_status_id)
        if status is not None:
            changes["status"] = status.lower()
        tags = _tags_after(current_tags, tags_add, tags_remove)
        if tags is not None:
            changes["tags"] = tags
        if comment is not None:
            changes["comment"] = _comment(comment)
        if not changes:
            return self.get_ticket(ticket_id)
        stamp = format_stamp(updated_stamp)
        body = {"ticket": {**changes, "safe_update": True, "updated_stamp": stamp}}
        what = f"updating ticket {ticket_id} ({', '.join(self._describe(changes))})"
        response = self._send("PUT", f"/api/v2/tickets/{ticket_id}.json", what, json=body)
        if response.status_code == 409:
            response.close()
            raise UpdateConflict(ticket_id, stamp)
        self._check(response, what)
        warning = response.headers.get("X-Zendesk-Api-Warn")
        if warning:
            log.warning("zendesk accepted the update of ticket %s with a warning: %s", ticket_id, warning,
                        extra={"ticket_id": ticket_id, "zendesk_warning": warning})
        return self._json(response, what, "ticket")

    @staticmethod
    def _describe(changes: Mapping[str, Any]) -> list[str]:
        said = []
        if "custom_fields" in changes:
            said.append("fields " + ", ".join(str(f["id"]) for f in changes["custom_fields"]))
        for key in ("custom_status_id", "status"):
            if key in changes:
                said.append(f"{key} {changes[key]}")
        if "tags" in changes:
            said.append("tags")
        if "comment" in changes:
            said.append("public comment" if changes["comment"]["public"] else "internal note")
        return said

    # -- plumbing ----------------------------------------------------------------------

    def _comments_newest_first(self, ticket_id: int) -> Iterator[dict[str, Any]]:
        """Comments newest first, a page (100) at a time; stop iterating to stop paging.

        Cursor pagination with ``sort=-created_at`` (the API reference's descending order);
        each page is also ordered here, so a page served oldest first still reads newest
        first. The next page is asked for with ``page[after]`` on our own base URL rather
        than by following ``links.next``."""
        what = f"reading the comments of ticket {ticket_id}"
        params: dict[str, Any] = {"page[size]": self.COMMENTS_PAGE_SIZE, "sort": "-created_at"}
        while True:
            body = self._json(self._call("GET", f"/api/v2/tickets/{ticket_id}/comments.json", what,
                                         params=params), what)
            page = body.get("comments") or []
            yield from sorted(page, key=lambda c: (str(c.get("created_at") or ""), int(c.get("id") or 0)),
                              reverse=True)
            meta = body.get("meta") or {}
            if not (meta.get("has_more") and meta.get("after_cursor")):
                return
            params = {**params, "page[after]": meta["after_cursor"]}

    def _raise_on_rate_limit(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """Session hook: a 429 (or 503 with Retry-After) becomes RetryLater before anyone —
        zenpy included — can sleep on it."""
        if response.status_code == 429 or (response.status_code == 503 and response.headers.get("Retry-After")):
            request = response.request
            what = f"{request.method} {urlsplit(request.url or '').path}" if request is not None else "a request"
            error = classify(SYSTEM, response, what)
            response.close()  # the hook raises, so nobody else will release the connection
            raise error
        return response

    def _send(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            count_transport_error(SYSTEM)
            raise TransientHTTPError(f"zendesk did not answer {what}: {error.__class__.__name__}: "
                                     f"{mask_pans(str(error))[:200]}") from error

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        response = self._send(method, path, what, **kwargs)
        self._check(response, what)
        return response

    def _check(self, response: requests.Response, what: str) -> None:
        if 200 <= response.status_code < 300:
            return
        raise self._failure(response, what)

    @staticmethod
    def _failure(response: requests.Response, what: str) -> Exception:
        status = response.status_code
        detail = mask_pans(_error_text(response))
        if status == 404:
            return ZendeskNotFound(f"zendesk answered 404 to {what}: {detail} — the record does not "
                                   "exist (deleted, merged, or a wrong id)")
        if status == 401:
            return PermanentError(f"zendesk refused the connector's credentials (401) when {what}: {detail} "
                                  "— check ZENDESK_OAUTH_TOKEN (or ZENDESK_EMAIL and ZENDESK_API_TOKEN)")
        if status == 403:
            return PermanentError(f"zendesk forbade {what} (403): {detail} — the connector's API user "
                                  "lacks the permission")
        error = classify(SYSTEM, response, what)
        if isinstance(error, PermanentError):
            return PermanentError(f"zendesk answered {status} to {what}: {detail}")
        return error

    @staticmethod
    def _json(response: requests.Response, what: str, key: str | None = None) -> Any:
        try:
            body = response.json()
            return body[key] if key is not None else body
        except (ValueError, KeyError, TypeError) as error:
            raise TransientHTTPError(f"zendesk answered {what} with {response.status_code} but not the "
                                     f"expected JSON{f' (no {key!r})' if key else ''}: "
                                     f"{mask_pans(response.text[:200])}") from error

    def _zenpy(self, what: str, call: Callable[[], Any]) -> Any:
        """Run a zenpy call and translate its failures into the pipeline's taxonomy
        (RetryLater comes straight from the session hook)."""
        try:
            return call()
        except (APIException, requests.HTTPError) as error:
            response = getattr(error, "response", None)
            if response is None:
                raise TransientHTTPError(f"zenpy failed {what}: {mask_pans(str(error))[:300]}") from error
            raise self._failure(response, what) from error
        except requests.RequestException as error:
            count_transport_error(SYSTEM)
            raise TransientHTTPError(f"zendesk did not answer {what}: {error.__class__.__name__}") from error
        except ZenpyException as error:
            raise TransientHTTPError(f"zenpy could not read zendesk's answer to {what}: "
                                     f"{mask_pans(str(error))[:300]}") from error
