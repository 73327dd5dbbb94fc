"""Installing the packaged app creates the webhook, and the webhook reaches the connector.

The app's zip is built as ``connector zendesk-app package`` builds it (``prepare`` for the
connector's URL, ``check_package``, ``build_zip``) and installed into the Zendesk
simulator, which creates the ticket fields and the webhook with a signing secret of its
own. The connector is served over real HTTPS on 127.0.0.1 (a CA made for the test, which
the simulator's deliveries trust). The admin's steps follow docs/zendesk-app.md: reveal the
secret into ``ZENDESK_WEBHOOK_SECRETS``, ``connector zendesk fields`` into the manifest,
level statuses created by hand. Then an agent's change travels the webhook to
``POST /webhooks/zendesk``, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import io
import ipaddress
import json
import logging
import secrets
import ssl
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from connector.app import create_app
from connector.cli import main
from connector.demo import COMPLETE_FINANCIAL, connector_environment
from connector.manifest import load_manifest, parse_manifest
from connector.manifest.load import read_manifest
from connector.registry import Registry
from connector.store.models import inbound_events
from plugins.zendesk import plugin as zendesk_plugin
from plugins.zendesk.app import APP_DIR, build_zip, check_package, connector_url_problem, prepare, read_app
from plugins.zendesk.simulator import ZendeskSimulator, install_app

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PATH = ROOT / "manifest" / "connector.yaml"
REQUIREMENTS = json.loads((APP_DIR / "requirements.json").read_text())
HOOK = REQUIREMENTS["webhooks"]["escalation_connector"]
APP_NAME = json.loads((APP_DIR / "manifest.json").read_text())["name"]
CUSTOM_STATUS_CHANGED = "zen:event-type:ticket.custom_status_changed"


# -- HTTPS on loopback -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed CA certificate for 127.0.0.1 and its key: ``(certificate, key)``."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "connector.pem", directory / "connector.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class Intake:
    """The connector's public address: whichever connector app is current (None: the web
    process is down, 503), and every request that reached it with the status answered."""

    def __init__(self) -> None:
        self.app: Any = None
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any):
        entry = {"method": environ["REQUEST_METHOD"], "path": environ.get("PATH_INFO", ""),
                 "webhook_id": environ.get("HTTP_X_ZENDESK_WEBHOOK_ID"), "status": None}

        def recording_start_response(status: str, headers: list, exc_info: Any = None):
            entry["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        with self._lock:
            self.seen.append(entry)
        if self.app is None:
            recording_start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"connector down"]
        return self.app(environ, recording_start_response)


# -- the account, the package and the connector -------------------------------------------

@dataclass
class Installed:
    sim: ZendeskSimulator
    intake: Intake
    connector_url: str
    package: bytes
    created: Any
    webhook_id: str
    database_url: str
    manifest: Any = None
    apps: list[Any] = field(default_factory=list)

    @property
    def runtime(self) -> Any:
        return self.apps[-1].extensions["connector"]

    @property
    def secret(self) -> str:
        return self.sim.webhook_signing_secret(self.webhook_id)

    def start_connector(self, webhook_secrets: str) -> None:
        """(Re)start the connector's web process with ``ZENDESK_WEBHOOK_SECRETS``."""
        config = {
            "DATABASE_URL": self.database_url,
            "ZENDESK_URL": self.sim.url,
            "ZENDESK_OAUTH_TOKEN": self.sim.oauth_token,
            "ZENDESK_WEBHOOK_SECRETS": webhook_secrets,
            "TESTING": True,
            "MIGRATE": True,
            "MANIFEST": self.manifest,
            "REGISTRY": Registry([zendesk_plugin.build(None, self.manifest)]),
        }
        app = create_app(config, role="serve")
        self.apps.append(app)
        self.intake.app = app

    def stored(self) -> list[tuple[str, int]]:
        with self.runtime.store.connect() as conn:
            rows = conn.execute(select(inbound_events.c.event_type, inbound_events.c.ticket_id)
                                .order_by(inbound_events.c.id)).all()
        return [(row.event_type, row.ticket_id) for row in rows]

    def field(self, name: str) -> int:
        return self.manifest.zendesk.fields[name].id

    def level(self, name: str) -> int:
        return next(level.custom_status_id for level in self.manifest.zendesk.levels if level.name == name)

    def deliveries(self) -> list[dict]:
        """The webhook's delivery attempts so far, once every one under way is answered."""
        self.sim.join_deliveries(timeout=20)
        return self.sim.webhook_invocations(self.webhook_id)

    def settle(self) -> None:
        """Run the worker and let the webhook deliver the connector's own writes (the loop
        guard drops them) until nothing new happens."""
        worker = self.runtime.worker(poll_interval=0)
        worker.timer_interval = 0
        for _ in range(6):
            self.sim.join_deliveries(timeout=20)
            if not worker.run_once():
                return
            while worker.run_once():
                pass
        raise AssertionError("the connector kept working")


def installed_manifest(installed: Installed, statuses: dict[str, int]) -> Any:
    """The shipped manifest with the block ``connector zendesk fields`` prints for this
    account, and the level statuses the admin created."""
    env = connector_environment(zendesk=installed.sim, zendesk_secret=installed.secret,
                                database_url=installed.database_url, manifest_path=str(SHIPPED_PATH))
    result = CliRunner().invoke(main, ["zendesk", "fields"], env=env)
    assert result.exit_code == 0, result.output
    assert installed.secret not in result.output
    data, _ = read_manifest(SHIPPED_PATH)
    data["zendesk"]["fields"] = yaml.safe_load(result.stdout)["fields"]
    data["zendesk"]["levels"] = [{"name": name, "custom_status_id": status} for name, status in statuses.items()]
    return parse_manifest(dict(data))


@pytest.fixture
def installed(database_url, tls):
    cert, key = tls
    sim = ZendeskSimulator().start()
    sim.webhook_verify = str(cert)  # as Zendesk trusts the public CAs
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    intake = Intake()
    server = make_server("127.0.0.1", 0, intake, threaded=True, ssl_context=context, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    connector_url = f"https://127.0.0.1:{server.server_port}"
    state = None
    try:
        assert connector_url_problem(connector_url) is None
        files = prepare(read_app(APP_DIR), connector_url)
        assert check_package(files, load_manifest(SHIPPED_PATH)) == []
        package = build_zip(files)
        created = install_app(sim, package)
        state = Installed(sim, intake, connector_url, package, created, created.webhooks["escalation_connector"],
                          database_url)
        statuses = {level.name: sim.add_custom_status(f"Escalated – {level.name}", "open")["id"]
                    for level in load_manifest(SHIPPED_PATH).zendesk.levels}
        state.manifest = installed_manifest(state, statuses)
        yield state
    finally:
        try:
            sim.join_deliveries(timeout=20)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            for app in state.apps if state else ():
                runtime = app.extensions["connector"]
                client = runtime.services.get("zendesk")
                if client is not None:
                    client.close()
                runtime.store.dispose()
            sim.stop()


def new_ticket(installed: Installed, **values: Any) -> tuple[int, int]:
    """A customer's ticket with the agent's field values in the installed fields: ``(ticket id, agent id)``."""
    sim = installed.sim
    org = sim.add_organization("Acme Payments", external_id="001ACME")
    requester = sim.add_user("Dana Customer", f"dana{secrets.token_hex(3)}@acme.example", organization_id=org["id"])
    agent = sim.add_user("Alex Agent", f"alex{secrets.token_hex(3)}@example.com", role="agent")
    ticket = sim.add_ticket("Duplicate payment to vendor", "We were charged twice.", requester_id=requester["id"],
                            custom_fields={installed.field(k): v for k, v in values.items()})
    return ticket["id"], agent["id"]


# -- the tests ---------------------------------------------------------------------------

def test_installing_the_package_creates_the_webhook_with_a_secret_of_its_own(installed):
    webhook = installed.sim.webhooks[installed.webhook_id]
    assert webhook["name"] == HOOK["name"] == "Escalation connector"
    assert webhook["endpoint"] == f"{installed.connector_url}/webhooks/zendesk"
    assert webhook["subscriptions"] == HOOK["subscriptions"] and len(webhook["subscriptions"]) == 4
    assert (webhook["status"], webhook["http_method"], webhook["request_format"]) == ("active", "POST", "json")
    assert list(installed.sim.webhooks) == [installed.webhook_id]
    assert installed.secret and installed.secret not in json.dumps(installed.sim.webhooks)
    # the fields the install created are the ones the manifest now names
    assert {name: ref.id for name, ref in installed.manifest.zendesk.fields.items()} == dict(installed.created)
    assert {installed.sim.ticket_fields[i]["creator_app_name"] for i in installed.created.values()} == {APP_NAME}


def test_a_ticket_moved_into_a_level_reaches_the_connector_signed_with_the_webhooks_secret(installed):
    installed.start_connector(installed.secret)
    ticket_id, agent_id = new_ticket(installed, **COMPLETE_FINANCIAL)
    assert installed.deliveries() == []  # creating a ticket is not an event the webhook subscribes to

    installed.sim.agent_edit(ticket_id, author_id=agent_id, custom_status_id=installed.level("L2"))
    [delivery] = installed.deliveries()
    assert (delivery["event_type"], delivery["status"], delivery["error"]) == (CUSTOM_STATUS_CHANGED, 202, None)
    assert [(e["method"], e["path"], e["webhook_id"], e["status"]) for e in installed.intake.seen] == [
        ("POST", "/webhooks/zendesk", installed.webhook_id, 202)]
    assert installed.stored() == [("ticket.custom_status_changed", ticket_id)]

    # the worker escalates the ticket, writing into the fields the app created
    installed.settle()
    assert installed.sim.field_value(ticket_id, installed.created["tier"]) == "T3"
    assert installed.sim.field_value(ticket_id, installed.created["escalation_level"]) == "L2"
    echoes = installed.deliveries()[1:]
    assert echoes, "the connector's own writes are delivered too"
    assert {d["status"] for d in echoes} <= {200, 202} and not any(d["error"] for d in echoes)
    assert installed.sim.ticket(ticket_id)["custom_status_id"] == installed.level("L2")


def test_an_event_type_the_webhook_is_not_subscribed_to_is_not_delivered(installed):
    installed.start_connector(installed.secret)
    ticket_id, agent_id = new_ticket(installed)
    installed.sim.take_emitted()
    installed.sim.agent_edit(ticket_id, author_id=agent_id, additional_tags=["vip_customer"])
    assert [e["type"] for e in installed.sim.take_emitted()] == ["zen:event-type:ticket.tags_changed"]
    assert installed.deliveries() == []
    assert installed.intake.seen == []

    # the webhook is live: a subscribed change right after is delivered, alone
    installed.sim.agent_edit(ticket_id, author_id=agent_id,
                             custom_fields=[{"id": installed.field("customer_id"), "value": "CUST-1042"}])
    assert [(d["event_type"], d["status"]) for d in installed.deliveries()] == [
        ("zen:event-type:ticket.custom_field_changed", 202)]
    assert installed.stored() == [("ticket.custom_field_changed", ticket_id)]


def test_a_connector_holding_another_secret_answers_401_and_stores_nothing(installed, caplog):
    caplog.set_level(logging.DEBUG)
    other = secrets.token_urlsafe(32)
    installed.start_connector(other)
    ticket_id, agent_id = new_ticket(installed, **COMPLETE_FINANCIAL)
    installed.sim.agent_edit(ticket_id, author_id=agent_id, custom_status_id=installed.level("L2"))
    [delivery] = installed.deliveries()
    assert (delivery["event_type"], delivery["status"]) == (CUSTOM_STATUS_CHANGED, 401)
    assert installed.stored() == []
    assert "zendesk webhook refused" in caplog.text
    assert installed.secret not in caplog.text and other not in caplog.text

    # the admin adds the revealed secret and restarts the web process: the next change is taken
    installed.start_connector(f"{other},{installed.secret}")
    installed.sim.agent_edit(ticket_id, author_id=agent_id, comment={"body": "Checking the batch.", "public": False})
    assert [(d["event_type"], d["status"]) for d in installed.deliveries()] == [
        (CUSTOM_STATUS_CHANGED, 401), ("zen:event-type:ticket.comment_added", 202)]
    assert installed.stored() == [("ticket.comment_added", ticket_id)]
    assert installed.secret not in caplog.text


def test_the_package_carries_no_signing_secret():
    package = build_zip(prepare(read_app(APP_DIR), "https://escalations.example.com"))
    archive = zipfile.ZipFile(io.BytesIO(package))
    contents = {name: archive.read(name) for name in archive.namelist()}
    hook = json.loads(contents["requirements.json"])["webhooks"]["escalation_connector"]
    assert not {"signing_secret", "authentication", "custom_headers"} & set(hook)

    made = []
    for _ in range(2):  # two accounts installing the same zip
        sim = ZendeskSimulator()
        webhook_id = install_app(sim, package).webhooks["escalation_connector"]
        made.append((webhook_id, sim.webhook_signing_secret(webhook_id)))
    (first_id, first), (second_id, second) = made
    assert first_id != second_id and first != second and len(first) >= 32
    for secret in (first, second):
        assert secret.encode() not in package
        assert not any(secret.encode() in data for data in contents.values())
