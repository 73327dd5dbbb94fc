"""HTTP plumbing shared by the plugins: instrumented sessions and one mapping from
HTTP failures to the pipeline's retry taxonomy.

- :func:`session_for` gives a ``requests.Session`` that counts every call in
  ``connector_outbound_requests_total{system,status}`` and has a default timeout; the
  vendor clients (zenpy, simple-salesforce, jira) are all handed such a session.
- :func:`classify` turns a failed response into ``RetryLater`` (429 / 503 with
  ``Retry-After``), a transient error (5xx, 408, 409 when the caller has no better idea)
  or ``PermanentError`` (other 4xx: retrying will not help, a human must look).
"""
from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests

from connector.metrics import COUNTERS
from connector.pipeline.retry import PermanentError, RetryLater

DEFAULT_TIMEOUT = 15.0


class TransientHTTPError(Exception):
    """A failure worth retrying with backoff (5xx, timeouts)."""


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def request(self, method, url, **kwargs):  # noqa: D401 - requests' signature
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, **kwargs)


def session_for(system: str, *, timeout: float = DEFAULT_TIMEOUT, session: requests.Session | None = None):
    """An instrumented session for ``system`` (``zendesk``, ``salesforce``, ``jira``)."""
    s = session if session is not None else _TimeoutSession(timeout)

    def count(response, *args, **kwargs):
        COUNTERS.inc("connector_outbound_requests_total", system=system, status=str(response.status_code))

    s.hooks.setdefault("response", []).append(count)
    return s


def count_transport_error(system: str) -> None:
    COUNTERS.inc("connector_outbound_requests_total", system=system, status="error")


def retry_after_seconds(value: str | None, default: float = 60.0, now: datetime | None = None) -> float:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def classify(system: str, response: requests.Response, what: str) -> Exception:
    """The exception a handler should raise for a failed ``response``."""
    status = response.status_code
    detail = f"{system} answered {status} to {what}"
    if status == 429 or (status == 503 and response.headers.get("Retry-After")):
        return RetryLater(f"{detail} (rate limited)", retry_after_seconds(response.headers.get("Retry-After")))
    if status >= 500 or status in (408, 409, 423, 425):
        return TransientHTTPError(detail)
    body = response.text[:300] if response.text else ""
    return PermanentError(f"{detail}: {body}")
