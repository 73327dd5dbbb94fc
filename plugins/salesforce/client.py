"""The Salesforce client the plugin uses: simple-salesforce on an instrumented session,
access-token or JWT bearer authentication, and one mapping from Salesforce failures to
the pipeline's retry taxonomy.

- ``REQUEST_LIMIT_EXCEEDED`` (403) → :class:`RetryLater` (the daily allocation refills
  over 24 h: wait, never dead-letter); 429 → ``RetryLater`` with ``Retry-After``.
- 5xx, timeouts, connection errors, ``UNABLE_TO_LOCK_ROW`` → :class:`TransientHTTPError`
  (exponential backoff).
- 401 ``INVALID_SESSION_ID`` → with JWT: fetch a new token once and repeat the call;
  with a bare access token there is nothing to renew: :class:`PermanentError`.
- a 400 naming fields → :class:`PermanentError` naming each field *and the manifest key*
  it comes from, so the dead-letter reason says what to fix.

Secrets: the access token, the private key and the assertion never appear in a message.
Error texts from Salesforce are masked for card numbers before they go anywhere.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from connector.http import TransientHTTPError, count_transport_error, retry_after_seconds, session_for
from connector.masking import mask_pans
from connector.pipeline.retry import PermanentError, RetryLater
from plugins.salesforce.mapping import API_VERSION, SalesforceMapping
from plugins.salesforce.transport import is_loopback_host, session_for_instance_url

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REQUEST_LIMIT_WAIT = 900.0
"""Seconds to wait after REQUEST_LIMIT_EXCEEDED (no Retry-After is sent)."""
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG",
                             "QUERY_TIMEOUT"})
HALTED_CODES = frozenset({"PROCESSING_HALTED", "ALL_OR_NONE_OPERATION_ROLLED_BACK"})


class SessionExpired(Exception):
    """401 INVALID_SESSION_ID (internal: the client re-authenticates and retries once)."""


@dataclass(frozen=True)
class SalesforceAuth:
    instance_url: str | None = None
    access_token: str | None = None
    username: str | None = None
    consumer_key: str | None = None
    private_key: str | None = None
    login_url: str = DEFAULT_LOGIN_URL

    @property
    def jwt(self) -> bool:
        return bool(self.username and self.consumer_key and self.private_key)

    @classmethod
    def from_settings(cls, settings: Any, login_url: str | None = None) -> "SalesforceAuth":
        return cls(instance_url=settings.instance_url, access_token=settings.access_token,
                   username=settings.username, consumer_key=settings.consumer_key,
                   private_key=settings.private_key, login_url=login_url or DEFAULT_LOGIN_URL)


def _errors(body: Any) -> list[dict]:
    """Salesforce error lists: ``[{message, errorCode|statusCode, fields}]``."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    out = []
    for item in body:
        if isinstance(item, dict):
            out.append({"code": item.get("errorCode") or item.get("statusCode") or item.get("error") or "",
                        "message": mask_pans(str(item.get("message") or item.get("error_description") or "")),
                        "fields": [str(f) for f in item.get("fields") or []]})
    return out


def error_for(status: int, body: Any, *, what: str, mapping: SalesforceMapping | None,
              sobject: str | None = None, retry_after: str | None = None) -> Exception:
    """The exception a failed Salesforce answer (or composite subrequest) becomes."""
    errors = [e for e in _errors(body) if e["code"] not in HALTED_CODES] or _errors(body)
    codes = {e["code"] for e in errors}
    text = "; ".join(f"{e['code']}: {e['message']}" for e in errors)[:600] or f"HTTP {status}"
    detail = f"Salesforce answered {status} to {what}: {text}"
    if "REQUEST_LIMIT_EXCEEDED" in codes:
        return RetryLater(detail, retry_after_seconds(retry_after, REQUEST_LIMIT_WAIT))
    if status == 429:
        return RetryLater(detail, retry_after_seconds(retry_after, 60.0))
    if status == 401 or "INVALID_SESSION_ID" in codes:
        return SessionExpired(detail)
    if status >= 500 or status in (408, 409) or codes & TRANSIENT_CODES:
        return TransientHTTPError(detail)
    named = []
    for error in errors:
        for field in error["fields"]:
            key = mapping.manifest_key_for(sobject, field) if mapping else "?"
            named.append(f"field {field} (manifest key: {key}) — {error['code']}: {error['message']}")
    if named:
        return PermanentError(f"Salesforce refused {what}: " + "; ".join(named))
    if status == 404 and mapping is not None and sobject:
        return PermanentError(f"Salesforce answered 404 to {what}: {sobject} or its external ID field does "
                              f"not exist (manifest key: {mapping.manifest_key_for(sobject, sobject)}): {text}")
    if "INVALID_TYPE" in codes and mapping is not None and sobject:
        return PermanentError(f"Salesforce does not know object {sobject} (manifest key: "
                              f"{mapping.manifest_key_for(sobject, sobject)}): {text}")
    return PermanentError(detail)


class SalesforceClient:
    """simple-salesforce with re-authentication and error mapping. Thread-safe enough for
    the worker: the token is swapped under a lock."""

    def __init__(self, auth: SalesforceAuth, *, mapping: SalesforceMapping | None = None,
                 timeout: float = 30.0, clock: Callable[[], float] = time.time):
        self.auth = auth
        self.mapping = mapping
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._session: requests.Session | None = None
        self.authentications = 0

    # -- authentication -----------------------------------------------------------------

    def _session_for(self, instance_url: str) -> requests.Session:
        session = session_for("salesforce", timeout=self.timeout)
        return session_for_instance_url(instance_url, session=session)

    def _connect(self, instance_url: str, token: str) -> Salesforce:
        if self._session is not None:
            self._session.close()
        self._session = self._session_for(instance_url)
        return Salesforce(instance_url=instance_url, session_id=token, session=self._session,
                          version=API_VERSION)

    def _jwt_token(self) -> tuple[str, str]:
        """JWT bearer flow: ``(access_token, instance_url)``."""
        import jwt  # PyJWT

        auth = self.auth
        login = auth.login_url.rstrip("/")
        parts = urlsplit(login)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(parts.hostname or "")):
            raise PermanentError(f"Salesforce login URL {login!r} must use https")
        now = int(self.clock())
        audience = login if parts.scheme == "http" else (
            "https://test.salesforce.com" if "test.salesforce.com" in login else "https://login.salesforce.com")
        assertion = jwt.encode({"iss": auth.consumer_key, "sub": auth.username, "aud": audience,
                                "exp": now + 180}, auth.private_key, algorithm="RS256")
        session = session_for("salesforce", timeout=self.timeout)
        try:
            response = session.post(f"{login}/services/oauth2/token",
                                     data={"grant_type": JWT_GRANT, "assertion": assertion})
        except (requests.Timeout, requests.ConnectionError) as error:
            count_transport_error("salesforce")
            raise TransientHTTPError(f"Salesforce login failed: {error.__class__.__name__}") from None
        finally:
            session.close()
        if response.status_code >= 500:
            raise TransientHTTPError(f"Salesforce login answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            reason = f"{body.get('error', '?')}: {body.get('error_description', '')}" if isinstance(body, dict) else ""
            raise PermanentError(f"Salesforce JWT login refused ({response.status_code} {reason}); check "
                                 "SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY and the connected app's certificate")
        from connector.logs import register_secret

        register_secret(body["access_token"])
        return body["access_token"], body.get("instance_url") or auth.instance_url

    def _authenticate(self) -> Salesforce:
        self.authentications += 1
        if self.auth.jwt:
            token, instance_url = self._jwt_token()
        elif self.auth.access_token and self.auth.instance_url:
            token, instance_url = self.auth.access_token, self.auth.instance_url
        else:
            raise PermanentError("Salesforce is not configured: set SALESFORCE_INSTANCE_URL and "
                                 "SALESFORCE_ACCESS_TOKEN, or SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY "
                                 "and SALESFORCE_PRIVATE_KEY (JWT bearer)")
        return self._connect(instance_url, token)

    def sf(self) -> Salesforce:
        with self._lock:
            if self._sf is None:
                self._sf = self._authenticate()
            return self._sf

    def _reauthenticate(self, stale: Salesforce) -> Salesforce:
        with self._lock:
            if self._sf is stale or self._sf is None:
                if not self.auth.jwt:
                    raise PermanentError("Salesforce session expired or invalid and there is nothing to renew "
                                         "it with: set a fresh SALESFORCE_ACCESS_TOKEN, or configure the JWT "
                                         "bearer flow (SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY, "
                                         "SALESFORCE_PRIVATE_KEY)")
                self._sf = self._authenticate()
            return self._sf

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    # -- calls --------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[Salesforce], Any], *, sobject: str | None = None) -> Any:
        """Run ``fn(sf)``; an expired session is renewed once and the call repeated."""
        sf = self.sf()
        for attempt in (1, 2):
            try:
                return self._mapped(what, fn, sf, sobject)
            except SessionExpired as error:
                if attempt == 2:
                    raise PermanentError(f"{error} (again, right after re-authenticating)") from None
                sf = self._reauthenticate(sf)
        raise AssertionError("unreachable")

    def _mapped(self, what: str, fn: Callable[[Salesforce], Any], sf: Salesforce, sobject: str | None) -> Any:
        try:
            return fn(sf)
        except SalesforceExpiredSession as error:
            raise SessionExpired(f"Salesforce answered 401 to {what}") from None
        except SalesforceError as error:
            headers = getattr(getattr(error, "response", None), "headers", None) or {}
            raise error_for(error.status, error.content, what=what, mapping=self.mapping, sobject=sobject,
                            retry_after=headers.get("Retry-After")) from None
        except (requests.Timeout, requests.ConnectionError) as error:
            count_transport_error("salesforce")
            raise TransientHTTPError(f"Salesforce {what}: {error.__class__.__name__}") from None

    def composite(self, body: Mapping[str, Any], *, what: str = "the composite request") -> list[dict]:
        """``POST composite``; returns the sub-responses, or raises for the first failure."""
        result = self.call(what, lambda sf: sf.restful("composite", method="POST", json=body))
        responses = (result or {}).get("compositeResponse") or []
        subs = {sub["referenceId"]: sub for sub in body.get("compositeRequest", [])}
        failures = []
        for response in responses:
            sub = subs.get(response.get("referenceId"), {})
            sobject = _sobject_of(sub.get("url", ""))
            status = int(response.get("httpStatusCode") or 0)
            payload = response.get("body")
            if status >= 400:
                failures.append(error_for(status, payload, what=f"{what} ({sub.get('method')} {sobject})",
                                          mapping=self.mapping, sobject=sobject,
                                          retry_after=(response.get("httpHeaders") or {}).get("Retry-After")))
            elif isinstance(payload, list):  # sObject collections: one result per record
                bad = [item for item in payload if isinstance(item, dict) and not item.get("success", True)]
                if bad:
                    errors = [e for item in bad for e in item.get("errors") or []]
                    failures.append(error_for(400, errors, what=f"{what} ({sobject} rows)",
                                              mapping=self.mapping, sobject=sobject))
        if len(responses) != len(subs) and not failures:
            raise TransientHTTPError(f"Salesforce answered {len(responses)} of {len(subs)} subrequests")
        if failures:
            raise _most_telling(failures)
        return responses

    def query_all(self, soql: str, *, what: str, sobject: str | None = None) -> list[dict]:
        return self.call(what, lambda sf: sf.query_all(soql).get("records", []), sobject=sobject)

    def describe(self, sobject: str) -> dict | None:
        """The object's describe, or None when the org has no such object."""
        try:
            return self.call(f"describe {sobject}", lambda sf: getattr(sf, sobject).describe(), sobject=sobject)
        except PermanentError as error:
            if "404" in str(error):
                return None
            raise


def _sobject_of(url: str) -> str | None:
    parts = [p for p in url.split("?")[0].split("/") if p]
    if "sobjects" in parts:
        index = parts.index("sobjects")
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _most_telling(failures: Iterable[Exception]) -> Exception:
    """Of several sub-failures: a rate limit first, then a field problem, then anything."""
    failures = list(failures)
    for kind in (RetryLater, SessionExpired, TransientHTTPError):
        for failure in failures:
            if isinstance(failure, kind):
                return failure
    for failure in failures:
        if "manifest key" in str(failure):
            return failure
    return failures[0]
