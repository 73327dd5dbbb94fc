"""The Jira Cloud calls the bug-linking handlers make, over the ``jira`` client.

Built from ``JIRA_URL`` / ``JIRA_EMAIL`` / ``JIRA_API_TOKEN``; a ``http://127.0.0.1``
URL works (the local simulator). The client is told it talks to Cloud
(``deploymentType``), so searches use ``/rest/api/2/search/jql``. Remote links are
posted directly on the client's session: ``JIRA.add_remote_link`` first asks for
application links, which Cloud refuses with 403 on every call.

Failures become the pipeline's taxonomy: 429 → :class:`RetryLater` after ``Retry-After``;
5xx and connection errors → :class:`TransientHTTPError` (backoff); 401/403 →
:class:`PermanentError` naming what to fix.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import requests
from jira import JIRA, JIRAError

from connector.config import JiraSettings
from connector.http import TransientHTTPError, retry_after_seconds
from connector.pipeline.retry import PermanentError, RetryLater

DEFAULT_TIMEOUT = 10.0
SEARCH_FIELDS = "status,resolution"


class JiraClient:
    def __init__(self, settings: JiraSettings, *, timeout: float = DEFAULT_TIMEOUT):
        if not settings.configured:
            raise PermanentError("Jira is not configured: set JIRA_URL, JIRA_EMAIL and JIRA_API_TOKEN")
        self.base_url = settings.url.rstrip("/")
        self.jira = JIRA(server=self.base_url, basic_auth=(settings.email, settings.api_token),
                         get_server_info=False, max_retries=0, timeout=timeout)
        self.jira.deploymentType = "Cloud"
        # search_issues translates field names through a cache it fills with GET /field on
        # first use; the connector only asks for system fields, whose ids are their names.
        self.jira._fields_cache_value = {name: name for name in SEARCH_FIELDS.split(",")}

    def close(self) -> None:
        self.jira.close()

    def browse_url(self, key: str) -> str:
        return f"{self.base_url}/browse/{key}"

    # -- reads -------------------------------------------------------------------------

    def issue(self, key: str) -> dict[str, Any] | None:
        """``{"key", "id", "status", "resolution"}`` of an issue, or None when it does not exist."""
        try:
            found = self._call(f"reading issue {key}", lambda: self.jira.issue(key, fields=SEARCH_FIELDS))
        except _NotFound:
            return None
        return _summary(found)

    def find_by_label(self, label: str) -> dict[str, Any] | None:
        """The issue carrying ``label`` (the connector's marker for one ticket), or None."""
        found = self._call(f"searching for label {label}", lambda: self.jira.search_issues(
            f'labels = "{label}" ORDER BY created ASC', maxResults=1, fields=SEARCH_FIELDS))
        return _summary(found[0]) if found else None

    # -- writes ------------------------------------------------------------------------

    def create_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        created = self._call("creating an issue", lambda: self.jira.create_issue(fields=fields, prefetch=False))
        return {"key": created.key, "id": str(created.id)}

    def put_remote_link(self, key: str, *, global_id: str, url: str, title: str, resolved: bool = False) -> None:
        """Create or replace (same ``globalId``) the link on ``key`` pointing at ``url``;
        ``resolved`` shows the ticket as solved (Jira strikes the link through)."""
        body = {"globalId": global_id, "application": {"type": "com.zendesk", "name": "Zendesk"},
                "object": {"url": url, "title": title, "status": {"resolved": bool(resolved)}}}
        endpoint = f"{self.base_url}/rest/api/2/issue/{key}/remotelink"
        self._call(f"linking {key} to {url}", lambda: self.jira._session.post(endpoint, data=json.dumps(body)))

    # -- plumbing ----------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except JIRAError as error:
            raise _translate(error, what) from error
        except (requests.ConnectionError, requests.Timeout) as error:
            raise TransientHTTPError(f"jira: {what}: {error.__class__.__name__}") from error


class _NotFound(PermanentError):
    pass


MANIFEST_KEYS = {"project": "jira.project", "issuetype": "jira.issue_type",
                 "priority": "jira.priority_by_tier", "labels": "jira.labels"}
"""Issue fields the manifest decides, so a refusal names the key to fix."""


def _translate(error: JIRAError, what: str) -> Exception:
    status = error.status_code or 0
    text = (_field_errors(error) or error.text or "").strip()[:300]
    detail = f"jira answered {status} to {what}: {text}"
    if status == 429:
        headers = getattr(error.response, "headers", {}) or {}
        return RetryLater(detail, retry_after_seconds(headers.get("Retry-After")))
    if status >= 500 or status == 0:
        return TransientHTTPError(detail)
    if status in (401, 403):
        return PermanentError(f"{detail} — check JIRA_EMAIL / JIRA_API_TOKEN and the user's project permissions")
    if status == 404:
        return _NotFound(detail)
    return PermanentError(detail)


def _field_errors(error: JIRAError) -> str | None:
    """``errors`` of a 400 answer as "field: message (manifest key)" lines, or None."""
    try:
        errors = error.response.json().get("errors") or {}
    except (AttributeError, ValueError):
        return None
    if not isinstance(errors, dict) or not errors:
        return None
    return "; ".join(f"{name}: {message}" + (f" (manifest: {MANIFEST_KEYS[name]})" if name in MANIFEST_KEYS else "")
                     for name, message in sorted(errors.items()))


def _summary(issue: Any) -> dict[str, Any]:
    fields = issue.fields
    resolution = getattr(fields, "resolution", None)
    return {"key": issue.key, "id": str(issue.id), "status": fields.status.name,
            "resolution": getattr(resolution, "name", None) if resolution else None}
