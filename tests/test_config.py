"""Configuration from the environment: every problem reported at once."""
from __future__ import annotations

import pytest

from connector.config import ConfigError, load_settings

BASE = {"ZENDESK_WEBHOOK_SECRETS": "s1", "ZENDESK_SUBDOMAIN": "acme", "ZENDESK_OAUTH_TOKEN": "oauth-tok"}


def test_defaults_follow_the_contract():
    s = load_settings(BASE)
    assert s.port == 8000
    assert s.database_url == "sqlite:///connector.db"
    assert s.manifest_path == "manifest/connector.yaml"
    assert s.zendesk.url == "https://acme.zendesk.com"
    assert s.zendesk.webhook_secrets == ("s1",)


def test_zendesk_url_overrides_the_subdomain_and_secrets_rotate():
    s = load_settings({**BASE, "ZENDESK_URL": "http://127.0.0.1:8801/", "ZENDESK_WEBHOOK_SECRETS": "new, old"})
    assert s.zendesk.url == "http://127.0.0.1:8801"
    assert s.zendesk.webhook_secrets == ("new", "old")


def test_every_problem_is_reported_at_once():
    env = {
        "PORT": "eighty",
        "DATABASE_URL": "mysql://x",
        "ZENDESK_EMAIL": "agent@example.com",  # token missing
        "SALESFORCE_USERNAME": "ops@example.com",  # instance URL and key missing
        "JIRA_URL": "ftp://jira",
        "CONNECTOR_ADMIN_TOKEN": "short",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env, role="serve")
    problems = caught.value.problems
    text = "\n".join(problems)
    for fragment in ("PORT='eighty'", "DATABASE_URL uses 'mysql'", "ZENDESK_WEBHOOK_SECRETS is not set",
                     "ZENDESK_SUBDOMAIN is not set", "Zendesk credentials missing",
                     "SALESFORCE_INSTANCE_URL is not set", "SALESFORCE_CONSUMER_KEY, SALESFORCE_PRIVATE_KEY",
                     "JIRA_URL='ftp://jira' is not an http(s) URL", "JIRA_EMAIL, JIRA_API_TOKEN missing",
                     "JIRA_WEBHOOK_SECRET is not", "CONNECTOR_ADMIN_TOKEN is shorter"):
        assert fragment in text, fragment
    assert len(problems) == 11


def test_contradictory_credentials_are_refused():
    env = {**BASE, "ZENDESK_EMAIL": "a@b.c", "ZENDESK_API_TOKEN": "tok",
           "SALESFORCE_INSTANCE_URL": "https://x.my.salesforce.com", "SALESFORCE_ACCESS_TOKEN": "00D",
           "SALESFORCE_USERNAME": "u"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env, role="worker")
    assert any("both ZENDESK_OAUTH_TOKEN" in p for p in caught.value.problems)
    assert any("both SALESFORCE_ACCESS_TOKEN" in p for p in caught.value.problems)


def test_web_role_needs_only_the_webhook_secrets():
    assert load_settings({"ZENDESK_WEBHOOK_SECRETS": "s"}, role="web").zendesk.webhook_secrets == ("s",)


def test_secrets_never_appear_in_the_error_text():
    env = {"ZENDESK_OAUTH_TOKEN": "oauth-super-secret", "ZENDESK_EMAIL": "a@b.c"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env, role="worker")
    assert "oauth-super-secret" not in str(caught.value)


def test_postgres_urls_from_platforms_are_accepted():
    s = load_settings({**BASE, "DATABASE_URL": "postgres://u:p@db.example.com:5432/prod"})
    from connector.store import normalise_url

    assert normalise_url(s.database_url) == "postgresql+psycopg://u:p@db.example.com:5432/prod"
