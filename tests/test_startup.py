"""The service refuses to start on bad configuration or an invalid manifest, naming every problem."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from connector.app import create_app
from connector.cli import main
from connector.manifest import ManifestError

BAD_MANIFEST = """\
version: 1
zendesk:
  fields: {tier: 1, escalation_level: 2}
  levels: [{name: L2, custom_status_id: 7001}]
requirements: {all: [customer_id]}
calendars: {}
tiers:
  T1: {name: Standard, targets: {resolve: {within: 2 days, calendar: business}}, update_every: 48h}
rules: []
default_tier: T1
"""


def test_create_app_refuses_an_invalid_manifest_with_every_problem(tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text(BAD_MANIFEST)
    with pytest.raises(ManifestError) as caught:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_WEBHOOK_SECRETS": "s",
                    "CONNECTOR_MANIFEST": str(path), "TESTING": True})
    text = str(caught.value)
    assert "tiers.T1.targets.resolve.within" in text
    assert "tiers.T1.targets.resolve.calendar" in text
    assert "customer_id" in text


def test_create_app_loads_the_default_manifest(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_WEBHOOK_SECRETS": "s",
                      "TESTING": True, "MIGRATE": True})
    runtime = app.extensions["connector"]
    assert [level.name for level in runtime.manifest.zendesk.levels] == ["L2", "CIO", "CEO"]
    assert app.test_client().get("/readyz").status_code == 200
    runtime.store.dispose()


def test_worker_command_refuses_an_invalid_manifest(tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text(BAD_MANIFEST)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "CONNECTOR_MANIFEST": str(path),
           "ZENDESK_SUBDOMAIN": "acme", "ZENDESK_OAUTH_TOKEN": "tok"}
    result = CliRunner().invoke(main, ["worker", "--max-idle", "0"], env=env)
    assert result.exit_code == 2
    assert "the manifest is invalid" in result.output
    assert "tiers.T1.targets.resolve.within" in result.output


def test_worker_command_refuses_missing_credentials_listing_each(tmp_path):
    result = CliRunner().invoke(main, ["worker", "--max-idle", "0"],
                                env={"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_SUBDOMAIN": ""})
    assert result.exit_code == 2
    assert "ZENDESK_SUBDOMAIN is not set" in result.output
    assert "Zendesk credentials missing" in result.output
