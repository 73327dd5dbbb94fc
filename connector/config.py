"""Configuration from the environment, exactly as the product contract names it.

:func:`load_settings` checks everything at once and raises :class:`ConfigError`
listing every problem, one line each, so an operator fixes them in one go. Secret
values are registered with the log redactor as soon as they are read.

What is required depends on the role of the process: the web process needs the
webhook secrets (a webhook without a secret is refused, never accepted unsigned); a
worker needs the credentials of the systems it writes to. ``for_role`` says which.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlparse

SECRET_VARS = (
    "ZENDESK_API_TOKEN", "ZENDESK_OAUTH_TOKEN", "ZENDESK_WEBHOOK_SECRETS",
    "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_PRIVATE_KEY", "JIRA_API_TOKEN",
    "JIRA_WEBHOOK_SECRET", "CONNECTOR_ADMIN_TOKEN", "CONNECTOR_APP_TOKEN",
)


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("configuration problems:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class ZendeskSettings:
    subdomain: str | None
    base_url: str | None
    email: str | None
    api_token: str | None
    oauth_token: str | None
    webhook_secrets: tuple[str, ...]

    @property
    def url(self) -> str | None:
        if self.base_url:
            return self.base_url.rstrip("/")
        return f"https://{self.subdomain}.zendesk.com" if self.subdomain else None

    @property
    def configured(self) -> bool:
        return bool(self.url and (self.oauth_token or (self.email and self.api_token)))


@dataclass(frozen=True)
class SalesforceSettings:
    instance_url: str | None
    access_token: str | None
    username: str | None
    consumer_key: str | None
    private_key: str | None

    @property
    def configured(self) -> bool:
        return bool(self.instance_url and (self.access_token or self.username))


@dataclass(frozen=True)
class JiraSettings:
    url: str | None
    email: str | None
    api_token: str | None
    webhook_secrets: tuple[str, ...]

    @property
    def configured(self) -> bool:
        return bool(self.url and self.email and self.api_token)


@dataclass(frozen=True)
class Settings:
    port: int
    database_url: str
    manifest_path: str
    zendesk: ZendeskSettings
    salesforce: SalesforceSettings
    jira: JiraSettings
    admin_token: str | None
    app_token: str | None = None
    """``CONNECTOR_APP_TOKEN``: the Zendesk app's bearer token for the JSON API."""
    extra: Mapping[str, object] = field(default_factory=dict)


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def load_settings(environ: Mapping[str, str] | None = None, *, role: str = "serve") -> Settings:
    """Read and check the environment. ``role`` is ``web``, ``worker``, ``serve`` (both)
    or ``cli`` (commands that only need the store)."""
    env = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in env.items() if isinstance(v, str)}
    problems: list[str] = []

    from connector.logs import register_secret

    for name in SECRET_VARS:
        for value in (_split(env.get(name)) if name.endswith("SECRETS") else (env.get(name),)):
            if value:
                register_secret(value)

    port_text = env.get("PORT", "8000")
    try:
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        problems.append(f"PORT={port_text!r} is not a TCP port number (1–65535)")
        port = 8000

    database_url = env.get("DATABASE_URL") or "sqlite:///connector.db"
    scheme = database_url.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgres", "postgresql"):
        problems.append(f"DATABASE_URL uses {scheme!r}; use sqlite:///path.db or postgresql://user@host/db")

    manifest_path = env.get("CONNECTOR_MANIFEST") or "manifest/connector.yaml"

    zendesk = ZendeskSettings(
        subdomain=env.get("ZENDESK_SUBDOMAIN") or None,
        base_url=env.get("ZENDESK_URL") or None,
        email=env.get("ZENDESK_EMAIL") or None,
        api_token=env.get("ZENDESK_API_TOKEN") or None,
        oauth_token=env.get("ZENDESK_OAUTH_TOKEN") or None,
        webhook_secrets=_split(env.get("ZENDESK_WEBHOOK_SECRETS")),
    )
    salesforce = SalesforceSettings(
        instance_url=env.get("SALESFORCE_INSTANCE_URL") or None,
        access_token=env.get("SALESFORCE_ACCESS_TOKEN") or None,
        username=env.get("SALESFORCE_USERNAME") or None,
        consumer_key=env.get("SALESFORCE_CONSUMER_KEY") or None,
        private_key=env.get("SALESFORCE_PRIVATE_KEY") or None,
    )
    jira = JiraSettings(
        url=env.get("JIRA_URL") or None,
        email=env.get("JIRA_EMAIL") or None,
        api_token=env.get("JIRA_API_TOKEN") or None,
        webhook_secrets=_split(env.get("JIRA_WEBHOOK_SECRET")),
    )
    settings = Settings(port, database_url, manifest_path, zendesk, salesforce, jira,
                        env.get("CONNECTOR_ADMIN_TOKEN") or None, env.get("CONNECTOR_APP_TOKEN") or None)
    problems += _check(settings, role)
    if problems:
        raise ConfigError(problems)
    return settings


def _check(s: Settings, role: str) -> list[str]:
    problems: list[str] = []
    intake = role in ("web", "serve")
    writes = role in ("worker", "serve")
    z, sf, j = s.zendesk, s.salesforce, s.jira

    for name, url in (("ZENDESK_URL", z.base_url), ("SALESFORCE_INSTANCE_URL", sf.instance_url), ("JIRA_URL", j.url)):
        if url and urlparse(url).scheme not in ("http", "https"):
            problems.append(f"{name}={url!r} is not an http(s) URL")

    if intake and not z.webhook_secrets:
        problems.append("ZENDESK_WEBHOOK_SECRETS is not set: Zendesk webhooks cannot be verified "
                        "(set the webhook's signing secret; several, comma-separated, during rotation)")
    if writes:
        if not (z.subdomain or z.base_url):
            problems.append("ZENDESK_SUBDOMAIN is not set (or ZENDESK_URL for a local simulator)")
        if z.oauth_token and (z.email or z.api_token):
            problems.append("both ZENDESK_OAUTH_TOKEN and ZENDESK_EMAIL/ZENDESK_API_TOKEN are set; "
                            "keep one way of signing in (OAuth is preferred: API tokens are being retired)")
        elif not z.oauth_token:
            if not (z.email and z.api_token):
                problems.append("Zendesk credentials missing: set ZENDESK_OAUTH_TOKEN, or both "
                                "ZENDESK_EMAIL and ZENDESK_API_TOKEN")
    sf_any = any((sf.instance_url, sf.access_token, sf.username, sf.consumer_key, sf.private_key))
    if writes and sf_any:
        if not sf.instance_url:
            problems.append("SALESFORCE_INSTANCE_URL is not set but other SALESFORCE_* variables are")
        jwt = (sf.username, sf.consumer_key, sf.private_key)
        if sf.access_token and any(jwt):
            problems.append("both SALESFORCE_ACCESS_TOKEN and the JWT variables (SALESFORCE_USERNAME, "
                            "SALESFORCE_CONSUMER_KEY, SALESFORCE_PRIVATE_KEY) are set; keep one")
        elif not sf.access_token and not all(jwt):
            missing = [n for n, v in zip(("SALESFORCE_USERNAME", "SALESFORCE_CONSUMER_KEY",
                                          "SALESFORCE_PRIVATE_KEY"), jwt) if not v]
            problems.append("Salesforce credentials incomplete: set SALESFORCE_ACCESS_TOKEN, or the JWT "
                            f"bearer trio (missing: {', '.join(missing)})")
    jira_any = any((j.url, j.email, j.api_token))
    if jira_any and not all((j.url, j.email, j.api_token)):
        missing = [n for n, v in (("JIRA_URL", j.url), ("JIRA_EMAIL", j.email), ("JIRA_API_TOKEN", j.api_token)) if not v]
        if writes or intake:
            problems.append(f"Jira is partly configured: {', '.join(missing)} missing")
    if intake and j.url and not j.webhook_secrets:
        problems.append("JIRA_URL is set but JIRA_WEBHOOK_SECRET is not: Jira webhooks cannot be verified")
    for name, token in (("CONNECTOR_ADMIN_TOKEN", s.admin_token), ("CONNECTOR_APP_TOKEN", s.app_token)):
        if token is not None and len(token) < 16:
            problems.append(f"{name} is shorter than 16 characters; use a long random value")
    return problems
