"""``connector zendesk-app package`` writes the zip an admin uploads (or refuses, listing
every problem); ``connector zendesk fields`` prints the manifest's ``zendesk.fields``
block from the fields the installed app created in a Zendesk account (the simulator)."""
from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connector.cli import main
from connector.demo import connector_environment
from connector.manifest import parse_manifest, placeholder_ids
from connector.manifest.load import read_manifest
from plugins.zendesk.app import APP_DIR, check_app
from plugins.zendesk.simulator import install_app_requirements

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PATH = ROOT / "manifest" / "connector.yaml"
REQUIREMENTS = json.loads((APP_DIR / "requirements.json").read_text())
APP_NAME = json.loads((APP_DIR / "manifest.json").read_text())["name"]
URL = "https://escalations.example.com"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


# -- zendesk-app package -------------------------------------------------------------------

def test_package_writes_the_zip_with_the_webhook_pointed_at_the_connector(tmp_path):
    out = tmp_path / "dist" / "app.zip"
    result = run("zendesk-app", "package", "--connector-url", URL, "-o", str(out),
                 "--manifest", str(SHIPPED_PATH))
    assert result.exit_code == 0, result.output
    size = out.stat().st_size
    assert f"{out}: {size:,} bytes, " in result.stdout
    assert f"webhook: {URL}/webhooks/zendesk" in result.stdout
    archive = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    files = {name: archive.read(name) for name in archive.namelist()}
    assert check_app(files, packaged=True) == []
    assert json.loads(files["requirements.json"])["webhooks"]["escalation_connector"]["endpoint"] == (
        f"{URL}/webhooks/zendesk")
    assert json.loads(files["manifest.json"])["domainWhitelist"] == ["escalations.example.com"]
    assert files["assets/main.js"] == (APP_DIR / "assets" / "main.js").read_bytes()


def test_package_without_the_webhook(tmp_path):
    out = tmp_path / "app.zip"
    result = run("zendesk-app", "package", "--connector-url", URL, "--without-webhook", "-o", str(out),
                 "--manifest", str(SHIPPED_PATH))
    assert result.exit_code == 0, result.output
    assert "webhook: left out (--without-webhook)" in result.stdout
    requirements = json.loads(zipfile.ZipFile(out).read("requirements.json"))
    assert "webhooks" not in requirements and len(requirements["ticket_fields"]) == len(REQUIREMENTS["ticket_fields"])


def test_package_refuses_a_broken_app_listing_every_problem_and_writes_nothing(tmp_path):
    app = tmp_path / "zendesk-app"
    shutil.copytree(APP_DIR, app)
    manifest = json.loads((app / "manifest.json").read_text())
    manifest["parameters"][1]["type"] = "password"
    (app / "manifest.json").write_text(json.dumps(manifest))
    (app / "assets" / "logo-small.png").unlink()
    requirements = json.loads((app / "requirements.json").read_text())
    del requirements["webhooks"]["escalation_connector"]["request_format"]
    (app / "requirements.json").write_text(json.dumps(requirements))
    out = tmp_path / "app.zip"
    result = run("zendesk-app", "package", "--connector-url", URL, "-o", str(out), "--app-dir", str(app),
                 "--manifest", str(SHIPPED_PATH))
    assert result.exit_code == 1
    assert "3 problems" in result.stderr
    assert "✗ assets/logo-small.png: missing (Zendesk requires it in every app)" in result.stderr
    assert 'parameters[1] (connector_token): type "password" does not exist' in result.stderr
    assert ("✗ requirements.json: webhooks.escalation_connector: the required key 'request_format' is missing"
            in result.stderr)
    assert not out.exists()


def test_package_refuses_requirements_out_of_step_with_the_connectors_manifest(tmp_path):
    data, _ = read_manifest(SHIPPED_PATH)
    data["zendesk"]["fields"]["refund_id"] = 990050
    manifest = tmp_path / "connector.yaml"
    manifest.write_text(yaml.safe_dump(dict(data)))
    result = run("zendesk-app", "package", "--connector-url", URL, "-o", str(tmp_path / "app.zip"),
                 "--manifest", str(manifest))
    assert result.exit_code == 1
    assert ("✗ requirements.json: ticket_fields.refund_id is missing: the manifest's zendesk.fields.refund_id "
            "(text) needs a field") in result.stderr


@pytest.mark.parametrize("url", ["http://escalations.example.com", "https://connector-url.invalid"])
def test_package_refuses_a_url_zendesk_cannot_call(tmp_path, url):
    result = run("zendesk-app", "package", "--connector-url", url, "-o", str(tmp_path / "app.zip"))
    assert result.exit_code == 2
    assert "Invalid value for --connector-url" in result.stderr


# -- zendesk fields ----------------------------------------------------------------------------

@pytest.fixture
def account(desk_server):
    """The simulator as an account where the app was installed: its fields created."""
    desk_server.reset()
    created = install_app_requirements(desk_server, REQUIREMENTS, APP_NAME)
    env = connector_environment(zendesk=desk_server, zendesk_secret="fields-test-secret",
                                database_url="sqlite:///unused.db", manifest_path=str(SHIPPED_PATH))
    return desk_server, created, env


def test_fields_prints_a_block_that_loads_back_as_the_manifests_fields_with_the_real_ids(account):
    sim, created, env = account
    sim.add_ticket_field("Amount", "text")  # an older field of the account with the same title as one of the app's
    sim.clear_journal()
    result = run("zendesk", "fields", env=env)
    assert result.exit_code == 0, result.output
    assert len(sim.requests("GET", r"/api/v2/ticket_fields(\.json)?")) == 1
    block = yaml.safe_load(result.stdout)
    data, _ = read_manifest(SHIPPED_PATH)
    data["zendesk"]["fields"] = block["fields"]
    manifest = parse_manifest(dict(data))
    assert {name: ref.id for name, ref in manifest.zendesk.fields.items()} == created
    shipped = parse_manifest(dict(read_manifest(SHIPPED_PATH)[0]))
    assert {n: r.format for n, r in manifest.zendesk.fields.items()} == {
        n: r.format for n, r in shipped.zendesk.fields.items()}
    assert not [where for where, _ in placeholder_ids(manifest) if where.startswith("zendesk.fields")]
    assert f"    currency: {{id: {created['currency']}, format: dropdown}}" in result.stdout
    assert f"    customer_id: {created['customer_id']} " in result.stdout  # a text field is a plain id


def test_a_field_the_account_lacks_is_a_problem_and_no_block_is_printed(account):
    sim, created, env = account
    del sim.ticket_fields[created["amount"]]
    with sim.lock:
        sim.ticket_fields[created["currency"]]["active"] = False
    result = run("zendesk", "fields", env=env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert ("✗ zendesk.fields.amount: no ticket field titled “Amount” in Zendesk (is the app installed? was the "
            "field renamed?)") in result.stderr
    assert (f"✗ zendesk.fields.currency: the field “Currency” (id {created['currency']}) is inactive"
            in result.stderr)
    assert f"found {len(created) - 2} of {len(created)} fields" in result.stderr


@pytest.mark.parametrize("name, title, replace, expected", [
    ("tier", "Tier", False, "✗ zendesk.fields.tier: 2 active fields are titled “Tier” (ids {original}, {other})"),
    ("amount", "Amount", True, "✗ zendesk.fields.amount: “Amount” (id {other}) is a text field; format decimal "
                               "needs decimal"),
], ids=["two-made-by-the-app", "wrong-type"])
def test_an_ambiguous_or_unfitting_field_is_a_problem_never_a_guess(account, name, title, replace, expected):
    sim, created, env = account
    if replace:
        del sim.ticket_fields[created[name]]
    other = sim.add_ticket_field(title, "text", creator_app_name=APP_NAME)["id"]
    result = run("zendesk", "fields", env=env)
    assert result.exit_code == 1
    assert expected.format(original=created[name], other=other) in result.stderr


def test_fields_needs_zendesk_configured_and_says_when_it_is_refused(account):
    sim, _, env = account
    result = run("zendesk", "fields", env={**env, "ZENDESK_OAUTH_TOKEN": "", "ZENDESK_URL": ""})
    assert result.exit_code == 2
    assert "Zendesk is not configured" in result.stderr
    result = run("zendesk", "fields", env={**env, "ZENDESK_OAUTH_TOKEN": "not-the-token"})
    assert result.exit_code == 2
    assert "could not read the ticket fields" in result.stderr and "401" in result.stderr
    assert "not-the-token" not in result.output
