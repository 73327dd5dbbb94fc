"""``connector demo``: the whole product on bundled simulators, one scripted day.

The three vendor simulators (``plugins/*/simulator.py``) run as real HTTP servers on
loopback and the connector talks to them through its real clients, exactly as it talks
to Zendesk, Salesforce and Jira. The connector itself is the production wiring
(``create_app`` + ``default_registry`` + a worker thread) on a throw-away SQLite store,
served on loopback. The Zendesk simulator's event subscription posts signed webhooks for
every ticket change to the connector's intake; Jira's issue webhooks are fired by the
Jira simulator when the script moves an issue.

**Time.** A :class:`DemoClock` is shared by the simulators and the connector's
pipeline: it is real time, shifted to Monday 23 November 2026 09:00 in New York (a
business day, so business-hour targets read naturally), and the script moves it
forward where the day needs time to pass (the SLA breach: 31 minutes on). The
manifest is the shipped one, unchanged: the SLA targets shown are the real ones.

Parts, top to bottom:

- :class:`DemoClock` — the shared clock.
- :class:`AgentDesk` — a Zendesk (simulator) account set up from the manifest, and an
  agent's hands on it: open tickets, edit fields, escalate, read back. The escalation
  tests' desk (``tests/support/desk.py``) builds on it.
- :func:`connector_environment` / :func:`installed_manifest_text` — the environment and
  manifest file that point a connector at the simulators (also written for ``--serve``,
  so ``connector doctor`` and ``connector jobs list`` work against the demo).
- :class:`DemoWorld` — starts and stops everything; :meth:`DemoWorld.settle` waits until
  every webhook was answered and every job ran.
- The views (what each user sees) and the script: :data:`STEPS`, :func:`run_demo`.
"""
from __future__ import annotations

import os
import re
import secrets
import shlex
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

# -- time -----------------------------------------------------------------------------------

DEMO_START = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
"""Monday 23 November 2026, 09:00 in New York."""


class DemoClock:
    """Real time, shifted so that it starts at ``start``, and moved on by :meth:`advance`.

    Everything that reads the time in the demo reads this clock: the simulators (ticket
    ``updated_at``, event times, Jira and Salesforce timestamps) and the connector's
    queue, timers and escalation store. Only webhook signatures use the real time, as
    the intake checks them against it.
    """

    def __init__(self, start: datetime = DEMO_START, real: Callable[[], datetime] | None = None):
        self._real = real or (lambda: datetime.now(timezone.utc))
        self._offset = start - self._real()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._real() + self._offset

    @property
    def now(self) -> datetime:
        return self()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


# -- the desk: a Zendesk account as an admin set it up, and an agent working in it -----------

COMPLETE_FINANCIAL: Mapping[str, Any] = {
    "escalation_type": "financial",
    "customer_id": "CUST-1042",
    "issue_summary": "Vendor payment batch 0042 was sent twice.",
    "timeline": "Batch ran 09:02 and again 09:40 on 23 Nov; customer called at 09:55.",
    "actions_taken": "Confirmed both debits in the ledger; paused the vendor's payouts.",
    "escalation_reason": "Funds left the customer's account twice; needs Finance to reverse.",
    "amount": "25000.00",
    "currency": "usd",
    "transaction_ids": "TXN-884211, TXN-884212",
    "transaction_status": "completed",
    "signal": "duplicate_payment",
}
"""A financial escalation with everything the shipped manifest requires (tier T3)."""


class AgentDesk:
    """A Zendesk simulator account set up from ``manifest`` (its fields and level
    statuses created, :func:`~plugins.zendesk.simulator.install_manifest`), an agent, and
    the agent's hands. Fields are named by their logical (manifest) names throughout.

    ``self.manifest`` is the manifest with the simulator's real ids. ``clock`` (if given)
    becomes the simulator's clock.
    """

    def __init__(self, sim: Any, manifest: Any, *, clock: Callable[[], datetime] | None = None,
                 agent: tuple[str, str] = ("Alex Agent", "alex.agent@example.com")):
        from plugins.zendesk.simulator import install_manifest

        self.sim = sim
        if clock is not None:
            self.clock = clock
            sim.clock = clock
        else:
            self.clock = sim.clock
        self.manifest = install_manifest(sim, manifest)
        self.agent_id = sim.add_user(agent[0], agent[1], role="agent")["id"]

    # -- setting up ------------------------------------------------------------------

    def add_customer(self, name: str, email: str, organization: str, *,
                     external_id: str | None = None) -> tuple[dict, int]:
        """An organization and one end user in it: ``(organization, user id)``."""
        org = self.sim.add_organization(organization, external_id=external_id)
        return org, self.sim.add_user(name, email, organization_id=org["id"])["id"]

    def field(self, name: str) -> int:
        return self.manifest.zendesk.fields[name].id

    def level(self, name: str) -> int:
        return next(level.custom_status_id for level in self.manifest.zendesk.levels if level.name == name)

    # -- the agent's hands -----------------------------------------------------------

    def open_ticket(self, subject: str, description: str, *, requester_id: int,
                    created_at: datetime | None = None, tags: tuple[str, ...] = (), **values: Any) -> int:
        """A ticket the customer opened (``description`` is their first comment), with the
        agent's field values already filled in."""
        ticket = self.sim.add_ticket(subject, description, requester_id=requester_id, tags=tags,
                                     custom_fields={self.field(k): v for k, v in values.items()},
                                     created_at=created_at)
        return ticket["id"]

    def edit(self, ticket_id: int, *, status: str | None = None, comment: str | None = None,
             public: bool = True, **values: Any) -> dict:
        """Save the ticket as the agent: field values by logical name, a level name or a
        status category as ``status``, a comment (public reply or internal note)."""
        changes: dict[str, Any] = {}
        if values:
            changes["custom_fields"] = [{"id": self.field(k), "value": v} for k, v in values.items()]
        if status is not None:
            if status in {level.name for level in self.manifest.zendesk.levels}:
                changes["custom_status_id"] = self.level(status)
            else:
                changes["status"] = status
        if comment is not None:
            changes["comment"] = {"body": comment, "public": public}
        return self.sim.agent_edit(ticket_id, author_id=self.agent_id, **changes)

    def escalate(self, ticket_id: int, level: str = "L2") -> dict:
        return self.edit(ticket_id, status=level)

    def customer_replies(self, ticket_id: int, body: str) -> dict:
        """A public comment by the ticket's requester (an email reply)."""
        return self.sim.add_comment(ticket_id, body)

    # -- what the agent sees ---------------------------------------------------------

    def value(self, ticket_id: int, name: str) -> Any:
        return self.sim.field_value(ticket_id, self.field(name))

    def ticket(self, ticket_id: int) -> dict:
        return self.sim.ticket(ticket_id)

    def notes(self, ticket_id: int) -> list[str]:
        """Internal notes, oldest first."""
        return [c["body"] for c in self.sim.comments(ticket_id) if not c["public"]]

    def status_label(self, ticket_id: int) -> str:
        status_id = self.ticket(ticket_id)["custom_status_id"]
        return self.sim.custom_statuses[status_id]["agent_label"]


# -- pointing a connector at the simulators ---------------------------------------------------

CONNECTOR_VARIABLES = (
    "DATABASE_URL", "CONNECTOR_MANIFEST", "ZENDESK_SUBDOMAIN", "ZENDESK_URL", "ZENDESK_EMAIL",
    "ZENDESK_API_TOKEN", "ZENDESK_OAUTH_TOKEN", "ZENDESK_WEBHOOK_SECRETS", "SALESFORCE_INSTANCE_URL",
    "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME", "SALESFORCE_CONSUMER_KEY", "SALESFORCE_PRIVATE_KEY",
    "JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_WEBHOOK_SECRET", "CONNECTOR_ADMIN_TOKEN",
)
"""Every variable :func:`connector_environment` decides; the ones it leaves unused are
set empty, so nothing from the caller's own environment leaks into the demo."""


def connector_environment(*, zendesk: Any, zendesk_secret: str, database_url: str,
                          salesforce: Any = None, jira: Any = None, jira_secret: str | None = None,
                          admin_token: str | None = None, manifest_path: str | None = None) -> dict[str, str]:
    """The environment of a connector that works against these simulators (OAuth for
    Zendesk, a session token for Salesforce, an API token for Jira)."""
    env = dict.fromkeys(CONNECTOR_VARIABLES, "")
    env.update(DATABASE_URL=database_url, ZENDESK_SUBDOMAIN=zendesk.subdomain, ZENDESK_URL=zendesk.url,
               ZENDESK_OAUTH_TOKEN=zendesk.oauth_token, ZENDESK_WEBHOOK_SECRETS=zendesk_secret)
    if manifest_path:
        env["CONNECTOR_MANIFEST"] = manifest_path
    if salesforce is not None:
        env.update(SALESFORCE_INSTANCE_URL=salesforce.url, SALESFORCE_ACCESS_TOKEN=salesforce.access_token)
    if jira is not None:
        env.update(JIRA_URL=jira.url, JIRA_EMAIL=jira.email, JIRA_API_TOKEN=jira.api_token,
                   JIRA_WEBHOOK_SECRET=jira_secret or "")
    if admin_token:
        env["CONNECTOR_ADMIN_TOKEN"] = admin_token
    return env


def installed_manifest_text(shipped_text: str, shipped: Any, installed: Any) -> str:
    """The manifest file ``shipped_text`` with every Zendesk field and status id of
    ``shipped`` replaced by the one ``installed`` has (see ``install_manifest``): the
    file an admin ends up with after creating the fields, comments and layout kept."""
    text = shipped_text
    for name, ref in shipped.zendesk.fields.items():
        new_id = installed.zendesk.fields[name].id
        text = re.sub(rf"^(\s+{re.escape(name)}:\s*(?:\{{\s*id:\s*)?){ref.id}\b", rf"\g<1>{new_id}", text,
                      count=1, flags=re.M)
    for old, new in zip(shipped.zendesk.levels, installed.zendesk.levels):
        text = re.sub(rf"(custom_status_id:\s*){old.custom_status_id}\b", rf"\g<1>{new.custom_status_id}", text,
                      count=1)
    return text


# -- the running world ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_MANIFEST = ROOT / "manifest" / "connector.yaml"


class DemoTimeout(Exception):
    """The connector did not settle in time (a webhook unanswered or a job still waiting)."""


class _CountingIntake:
    """WSGI middleware that counts the webhooks the connector has answered, by path, so
    :meth:`DemoWorld.settle` knows when every delivery the simulators started has landed."""

    def __init__(self, app: Callable):
        self.app = app
        self.lock = threading.Lock()
        self.answered: dict[str, int] = {}

    def __call__(self, environ: dict, start_response: Callable):
        try:
            return self.app(environ, start_response)
        finally:
            path = environ.get("PATH_INFO", "")
            if environ.get("REQUEST_METHOD") == "POST" and path.startswith("/webhooks/"):
                with self.lock:
                    self.answered[path] = self.answered.get(path, 0) + 1

    def count(self, path: str) -> int:
        with self.lock:
            return self.answered.get(path, 0)


@dataclass(frozen=True)
class Customer:
    """A customer in all three places: a Zendesk organization with one requester, and the
    Salesforce Account the manifest's ``account_match`` finds for it."""
    organization: str
    person: str
    requester_id: int
    organization_id: int
    account_id: str


class DemoWorld:
    """The three simulators and a connector wired to them, all on loopback, in ``workdir``.

    ``start()`` brings everything up: the Zendesk account gets the manifest's fields and
    level statuses (:class:`AgentDesk`), the Salesforce org the objects the metadata
    generated from the manifest creates, Jira the manifest's project; then the connector
    (web app + one worker thread) on ``workdir/store.db``, and the Zendesk event
    subscription pointing at its intake. ``stop()`` takes it all down again.
    """

    def __init__(self, workdir: Path, *, manifest_path: Path = SHIPPED_MANIFEST,
                 clock: DemoClock | None = None, admin_token: str | None = None):
        self.workdir = Path(workdir)
        self.manifest_path = Path(manifest_path)
        self.clock = clock or DemoClock()
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.zendesk_secret = secrets.token_urlsafe(24)
        self.jira_secret = secrets.token_urlsafe(24)
        self.customers: dict[str, Customer] = {}
        self._stoppers: list[Callable[[], None]] = []

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> "DemoWorld":
        from connector.manifest import load_manifest
        from plugins.jira.simulator import JiraSimulator
        from plugins.salesforce.mapping import SalesforceMapping
        from plugins.salesforce.metadata import simulator_schema, write_project
        from plugins.salesforce.simulator import SalesforceSimulator
        from plugins.zendesk.simulator import ZendeskSimulator

        shipped = load_manifest(self.manifest_path)
        self.zendesk = self._serve(ZendeskSimulator(clock=self.clock))
        metadata = self.workdir / "salesforce"
        write_project(SalesforceMapping.from_manifest(shipped), metadata)
        self.salesforce = self._serve(SalesforceSimulator(simulator_schema(metadata), clock=self.clock))
        self.jira = self._serve(JiraSimulator(projects=(shipped.jira.project,), clock=self.clock))
        self.desk = AgentDesk(self.zendesk, shipped, clock=self.clock)
        self.manifest = self.desk.manifest
        self.installed_manifest_path = self.workdir / "connector.yaml"
        self.installed_manifest_path.write_text(
            installed_manifest_text(self.manifest_path.read_text(), shipped, self.manifest))
        self._start_connector()
        self.zendesk.subscribe(f"{self.url}/webhooks/zendesk", self.zendesk_secret)
        self._stoppers.append(lambda: self.zendesk.subscribe(None))
        return self

    def _serve(self, simulator: Any) -> Any:
        simulator.start()
        self._stoppers.append(simulator.stop)
        return simulator

    def _start_connector(self) -> None:
        from connector.app import create_app
        from connector.logs import configure_logging
        from connector.simulation import LoopbackServer

        self.database_url = f"sqlite:///{self.workdir / 'store.db'}"
        self.environment = connector_environment(
            zendesk=self.zendesk, zendesk_secret=self.zendesk_secret, database_url=self.database_url,
            salesforce=self.salesforce, jira=self.jira, jira_secret=self.jira_secret,
            admin_token=self.admin_token, manifest_path=str(self.installed_manifest_path))
        self.app = create_app({**self.environment, "MANIFEST": self.manifest, "MIGRATE": True}, role="serve")
        self.log_path = self.workdir / "connector.log"
        log_file = open(self.log_path, "a", encoding="utf-8")
        handler = configure_logging("INFO", stream=log_file)  # replaces the stderr handler create_app set
        self._stoppers.append(lambda: _remove_handler(handler, log_file))
        self.runtime = self.app.extensions["connector"]
        self._stoppers.append(self._close_runtime)
        self.runtime.queue.clock = self.clock
        self.runtime.audit.clock = self.clock
        self.intake = _CountingIntake(self.app)
        self.server = LoopbackServer(self.intake).start()
        self._stoppers.append(self.server.stop)
        self.worker = self.runtime.worker(poll_interval=0.05)
        self.worker.timer_interval = 0.2
        thread = threading.Thread(target=self.worker.run, name="demo-worker", daemon=True)
        thread.start()
        self._stoppers.append(lambda: (self.worker.stop(), thread.join(timeout=10)))

    def _close_runtime(self) -> None:
        for name in ("zendesk", "salesforce"):
            service = self.runtime.services.get(name)
            if service is not None:
                service.close()
        self.runtime.store.dispose()

    def stop(self) -> None:
        while self._stoppers:
            self._stoppers.pop()()

    def __enter__(self) -> "DemoWorld":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # -- waiting for the connector ---------------------------------------------------

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every webhook the Zendesk simulator started has been answered, no
        job is waiting or running and no timer is due — three looks in a row."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 3:
            if time.monotonic() > deadline:
                raise DemoTimeout(self._busy() or "the connector kept changing")
            quiet = quiet + 1 if not self._busy() else 0
            time.sleep(0.05)

    def _busy(self) -> str | None:
        with self.zendesk.lock:
            sent = len(self.zendesk.emitted)
        answered = self.intake.count("/webhooks/zendesk")
        if answered < sent:
            return f"{sent - answered} Zendesk webhook(s) not answered yet"
        counts = self.runtime.queue.stats()["counts"]
        if counts["pending"] or counts["running"]:
            return f"{counts['pending']} job(s) waiting, {counts['running']} running"
        due = self.worker.scheduler.next_fire_at()
        if due is not None and _aware(due) <= self.clock():
            return "an SLA timer is due"
        return None

    # -- the cast --------------------------------------------------------------------

    def add_customer(self, organization: str, person: str, email: str) -> Customer:
        """An Account in Salesforce and the matching organization in Zendesk: the shipped
        ``account_match`` pairs the organization's ``external_id`` with the Account's Id."""
        account_id = self.salesforce.insert("Account", Name=organization)
        org, requester_id = self.desk.add_customer(person, email, organization, external_id=account_id)
        customer = Customer(organization, person, requester_id, org["id"], account_id)
        self.customers[organization] = customer
        return customer

    def dead_jobs(self) -> list[Any]:
        return self.runtime.queue.list_jobs(("dead",))

    def write_env_file(self) -> Path:
        """``workdir/demo.env`` (mode 600): the connector's environment, for running other
        ``connector`` commands against this demo."""
        path = self.workdir / "demo.env"
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in self.environment.items() if v))
        return path


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _remove_handler(handler: Any, stream: Any) -> None:
    import logging

    logging.getLogger().removeHandler(handler)
    handler.close()
    stream.close()


# -- what each user sees ----------------------------------------------------------------------

MARKER_LINE = re.compile(r"^\[escalation-connector:[^\]]*\]$", re.M)
WIDTH = 100


def _rows(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """``name  value`` lines, names padded to one column; multi-line values stay aligned."""
    if not pairs:
        return []
    width = max(len(name) for name, _ in pairs)
    lines = []
    for name, value in pairs:
        first, *rest = str(value).split("\n") or [""]
        lines.append(f"{indent}{name:<{width}}  {first}".rstrip())
        lines += [f"{indent}{'':<{width}}  {line}".rstrip() for line in rest]
    return lines


def _wrap(parts: list[str], width: int) -> str:
    """Join ``parts`` with `` · `` into lines no longer than ``width``."""
    lines, line = [], ""
    for part in parts:
        candidate = f"{line} · {part}" if line else part
        if line and len(candidate) > width:
            lines.append(line)
            candidate = part
        line = candidate
    return "\n".join(lines + [line] if line else lines)


class Views:
    """What the agent, the CSM and the engineer see, as text: read straight from the
    simulators (what Zendesk, Salesforce and Jira would show them)."""

    def __init__(self, world: DemoWorld):
        from connector.manifest.model import CONNECTOR_WRITTEN
        from zoneinfo import ZoneInfo

        self.world = world
        self.manifest = world.manifest
        zones = [spec.timezone for spec in self.manifest.calendars.values()]
        self.zone = ZoneInfo(zones[0]) if zones else timezone.utc
        fields = self.manifest.zendesk.fields
        self.written = [n for n in fields if n in CONNECTOR_WRITTEN or n.endswith("_due_at")]
        self.filled = [n for n in fields if n not in self.written]
        self._notes_seen: dict[int, int] = {}

    def local(self, moment: datetime, pattern: str = "%H:%M") -> str:
        return moment.astimezone(self.zone).strftime(pattern)

    # -- the agent: the Zendesk ticket -------------------------------------------------

    def ticket(self, ticket_id: int, *, customer_words: bool = False) -> list[str]:
        desk, sim = self.world.desk, self.world.zendesk
        ticket = desk.ticket(ticket_id)
        requester = sim.users.get(ticket["requester_id"], {})
        org = sim.organizations.get(ticket["organization_id"] or 0, {})
        lines = [f"  AGENT sees Zendesk ticket #{ticket_id} \"{ticket['subject']}\""
                 f" — {requester.get('name', '?')}, {org.get('name', 'no organization')}"]
        rows = [("status", desk.status_label(ticket_id))]
        field_tags, filled, long_texts = set(), [], 0
        for name in self.filled:
            value, ref = desk.value(ticket_id, name), self.manifest.zendesk.fields[name]
            if value in (None, "", False):
                continue
            if ref.format == "dropdown":
                field_tags.add(str(value))
            if ref.format == "checkbox":
                field_tags.add(name)
                filled.append(f"{name} ✓")
            elif ref.format == "textarea":
                long_texts += 1
            else:
                filled.append(f"{name} {value}")
        tags = [t for t in ticket["tags"] if t not in field_tags]
        rows.append(("tags", " ".join(tags) or "—"))
        if long_texts:
            filled.append(f"+{long_texts} text fields")
        rows.append(("filled in", _wrap(filled, WIDTH - 16) or "—"))
        written = [(name, str(desk.value(ticket_id, name))) for name in self.written
                   if desk.value(ticket_id, name) not in (None, "")]
        rows.append(("connector", "\n".join(_rows(written, "")) if written else "—"))
        if customer_words:
            said = [c["body"] for c in sim.comments(ticket_id)
                    if c["public"] and c["author_id"] == ticket["requester_id"]]
            if said:
                rows.append(("customer", f"“{said[-1]}”"))
        notes = desk.notes(ticket_id)
        seen = self._notes_seen.get(ticket_id, 0)
        self._notes_seen[ticket_id] = len(notes)
        for note in notes[seen:]:
            rows.append(("new note", MARKER_LINE.sub("", note).strip()))
        if not notes[seen:]:
            rows.append(("new note", "—"))
        return lines + _rows(rows, "    ")

    # -- the CSM: the Salesforce Account -----------------------------------------------

    def account(self, customer: Customer) -> list[str]:
        from plugins.salesforce.mapping import (
            EVENT_FIELDS, EVENT_PARENT_FIELD, FIXED_FIELDS, ROLLUP_FIELDS, SalesforceMapping,
        )

        sf = self.world.salesforce
        mapping = SalesforceMapping.from_manifest(self.manifest)
        account = sf.record("Account", customer.account_id)
        lines = [f"  CSM sees Salesforce Account \"{account['Name']}\" — "
                 f"{account.get(ROLLUP_FIELDS['open']) or 0} open escalation(s), highest open tier "
                 f"{account.get(ROLLUP_FIELDS['highest_open_tier']) or '—'}"]
        records = sf.find(mapping.escalation_object, **{mapping.field("account"): account["Id"]})
        if not records:
            return lines + ["    no escalations mirrored"]
        for record in sorted(records, key=lambda r: r.get(mapping.field("ticket_id")) or 0):
            jira = record.get(mapping.field("jira_issue_key"))
            jira_status = record.get(FIXED_FIELDS["jira_status"])
            lines.append("    " + "  ".join([
                f"#{int(record.get(mapping.field('ticket_id')) or 0)}",
                f"{record.get(mapping.field('tier')) or '—':<3}", f"{record.get(mapping.field('level')) or '—':<4}",
                f"{record.get(mapping.field('status')) or '—':<8}",
                f"SLA {record.get(mapping.field('sla_outcome')) or '—':<9}",
                f"Jira {jira or '—'}{f' ({jira_status})' if jira and jira_status else ''}",
                f"{record.get(mapping.field('summary')) or ''}"]))
            if mapping.event_object:
                events = sf.find(mapping.event_object, **{EVENT_PARENT_FIELD: record["Id"]})
                events.sort(key=lambda e: (e.get(EVENT_FIELDS["occurred_at"]) or "", e["Id"]))
                lines += _rows([(f"{self._sf_time(e.get(EVENT_FIELDS['occurred_at']))}  "
                                 f"{e.get(EVENT_FIELDS['kind']) or '':<19}", e.get(EVENT_FIELDS["summary"]) or "")
                                for e in events], "      ")
        return lines

    def _sf_time(self, value: str | None) -> str:
        if not value:
            return "--:--"
        return self.local(datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z"))

    # -- the engineer: the Jira issue --------------------------------------------------

    def issue(self, key: str) -> list[str]:
        fields = self.world.jira.issue_json(key)["fields"]
        head = (f"  ENGINEER sees Jira {key} \"{fields.get('summary')}\" — "
                f"{(fields.get('issuetype') or {}).get('name')}, priority {(fields.get('priority') or {}).get('name')}, "
                f"status {(fields.get('status') or {}).get('name')}")
        links = [f"{(link.get('object') or {}).get('title')} → {(link.get('object') or {}).get('url')}"
                 for link in self.world.jira.remote_links(key)]
        return [head] + _rows([("labels", " ".join(fields.get("labels") or []) or "—"),
                               ("links", "\n".join(links) or "—")], "    ")


# -- the scripted day ---------------------------------------------------------------------------

GENERAL_FIELDS: Mapping[str, Any] = {
    "escalation_type": "general",
    "issue_summary": "The customer's payment files are rejected by their bank.",
    "timeline": "First rejection Thursday, again Saturday and this morning.",
    "actions_taken": "Re-sent the files; checked the bank connector's credentials.",
    "escalation_reason": "The front line cannot fix the bank connector.",
}
"""A general escalation's required fields (plus ``customer_id``, which differs per customer)."""


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool


@dataclass
class StepResult:
    number: int
    title: str
    checks: list[Check] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.checks) and all(check.ok for check in self.checks)


class ScriptedDay:
    """The day the demo plays, one method per step (:data:`STEPS`). A step acts as the
    people would — through the simulators, never by calling the connector — waits for
    the connector to settle, prints what everyone sees, and checks the outcome."""

    def __init__(self, world: DemoWorld, echo: Callable[[str], None]):
        self.world, self.echo = world, echo
        self.desk = world.desk
        self.views = Views(world)
        self.tickets: dict[str, int] = {}
        self.result: StepResult | None = None

    # -- helpers -----------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.echo(f"  {self.views.local(self.world.clock())}  {text}")

    def later(self, minutes: float) -> None:
        self.world.clock.advance(minutes * 60)
        self.echo(f"  ⏩ {minutes:g} minutes later")

    def show(self, *blocks: list[str]) -> None:
        for block in blocks:
            self.echo("")
            for line in block:
                self.echo(line)

    def expect(self, what: str, ok: Any) -> bool:
        assert self.result is not None
        self.result.checks.append(Check(what, bool(ok)))
        return bool(ok)

    def value(self, ticket_id: int, name: str) -> Any:
        return self.desk.value(ticket_id, name)

    def note_starting(self, ticket_id: int, prefix: str) -> str:
        return next((note for note in self.desk.notes(ticket_id) if note.startswith(prefix)), "")

    @property
    def salesforce_mapping(self):
        from plugins.salesforce.mapping import SalesforceMapping

        return SalesforceMapping.from_manifest(self.world.manifest)

    def escalation_record(self, ticket_id: int) -> dict:
        """The Salesforce escalation record mirrored for ``ticket_id`` ({} if none)."""
        mapping = self.salesforce_mapping
        found = self.world.salesforce.find(mapping.escalation_object, **{mapping.field("ticket_id"): ticket_id})
        return found[0] if found else {}

    def outcome_in_salesforce(self, ticket_id: int, target: str) -> str | None:
        from plugins.salesforce.mapping import target_outcome_field

        return self.escalation_record(ticket_id).get(target_outcome_field(target))

    def issue_linking(self, ticket_id: int) -> str | None:
        """The key of the Jira issue whose remote links point at the ticket's agent view."""
        url = f"{self.world.zendesk.url}/agent/tickets/{ticket_id}"
        for key in sorted(self.world.jira.issues):
            if any((link.get("object") or {}).get("url") == url for link in self.world.jira.remote_links(key)):
                return key
        return None

    def open(self, customer: Customer, subject: str, said: str, minutes_ago: float = 20, **values: Any) -> int:
        return self.desk.open_ticket(subject, said, requester_id=customer.requester_id,
                                     created_at=self.world.clock() - timedelta(minutes=minutes_ago), **values)

    # -- the steps ---------------------------------------------------------------------

    def complete_financial(self) -> None:
        acme = self.world.customers["Acme Payments"]
        ticket = self.open(acme, "Vendor batch 0042 paid twice",
                           "Our vendor batch 0042 went out twice this morning. Please reverse one of them.",
                           **COMPLETE_FINANCIAL)
        self.tickets["financial"] = ticket
        self.say(f"{acme.person} ({acme.organization}) reports batch 0042 paid twice: ticket #{ticket}")
        self.say("Alex fills in the escalation fields (financial, 25,000.00 USD, two transaction IDs) "
                 "and moves it to “Escalated – L2”")
        self.desk.escalate(ticket, "L2")
        self.world.settle()
        self.expect("tier T3 and level L2 written on the ticket",
                    (self.value(ticket, "tier"), self.value(ticket, "escalation_level")) == ("T3", "L2"))
        self.expect("bridge due in 30 minutes, next customer update in 1 hour",
                    self.value(ticket, "bridge_due_at") and self.value(ticket, "next_update_due_at"))
        self.expect("internal note names the rules and the T3 checklist",
                    "Checklist" in self.note_starting(ticket, "Escalated to L2 — tier T3"))
        self.later(10)
        self.say("Alex opens the bridge and ticks “Bridge opened”")
        self.desk.edit(ticket, bridge_opened=True)
        self.world.settle()
        self.show(self.views.ticket(ticket), self.views.account(acme))
        record, mapping = self.escalation_record(ticket), self.salesforce_mapping
        self.expect("the CSM sees it on Acme's Account: T3, L2, open",
                    tuple(record.get(mapping.field(key)) for key in ("tier", "level", "status")) == ("T3", "L2", "open"))
        self.expect("bridge target met in time (Salesforce: met)", self.outcome_in_salesforce(ticket, "bridge") == "met")

    def incomplete(self) -> None:
        acme = self.world.customers["Acme Payments"]
        values = {k: v for k, v in COMPLETE_FINANCIAL.items() if k not in ("amount", "transaction_ids", "signal")}
        values.update(issue_summary="An ACH return file was rejected.", customer_id="CUST-1042")
        ticket = self.open(acme, "ACH return file rejected", "Our ACH return file was rejected at 08:30.", **values)
        self.tickets["incomplete"] = ticket
        self.say(f"{acme.person} reports a rejected ACH return file: ticket #{ticket}")
        self.say("Alex escalates it to L2 without the amount and the transaction IDs")
        self.desk.escalate(ticket, "L2")
        self.world.settle()
        self.show(self.views.ticket(ticket))
        note = self.note_starting(ticket, "Escalation L2 blocked")
        self.expect("turned back: the ticket is no longer in “Escalated – L2”",
                    self.desk.ticket(ticket)["custom_status_id"] != self.desk.level("L2"))
        self.expect("tagged escalation_blocked, no tier written",
                    "escalation_blocked" in self.desk.ticket(ticket)["tags"] and not self.value(ticket, "tier"))
        self.expect("internal note names the missing amount and transaction IDs",
                    "Amount" in note and "Transaction ids" in note)

    def repeat_contact(self) -> None:
        globex = self.world.customers["Globex Treasury"]
        for days, subject in ((4, "Payment file rejected by our bank"), (2, "Payment file rejected again")):
            self.open(globex, subject, "Our bank rejected today's payment file.", minutes_ago=days * 24 * 60)
        ticket = self.open(globex, "Payment file rejected a third time", "Rejected again. Third time this week.",
                           customer_id="CUST-2210", **GENERAL_FIELDS)
        self.tickets["repeat"] = ticket
        self.say(f"{globex.person} ({globex.organization}) writes for the third time this week: ticket #{ticket}")
        self.say("Alex escalates it to L2 as a general escalation, no signal chosen")
        self.desk.escalate(ticket, "L2")
        self.world.settle()
        self.show(self.views.ticket(ticket), self.views.account(globex))
        self.expect("tier T2 by the repeat-contact rule (three tickets in a week)",
                    self.value(ticket, "tier") == "T2" and "Repeat contact" in self.note_starting(ticket, "Escalated"))
        self.expect("acknowledge (1h) and triage (4h) due times written",
                    self.value(ticket, "ack_due_at") and self.value(ticket, "triage_due_at"))

    def legal_threat(self) -> None:
        initech = self.world.customers["Initech Payroll"]
        ticket = self.open(initech, "Payroll deposits missing", "Our staff were not paid this morning.",
                           minutes_ago=40, customer_id="CUST-3307",
                           **{**GENERAL_FIELDS, "issue_summary": "Payroll deposits did not arrive."})
        self.tickets["legal"] = ticket
        words = "Nobody has called us back. If salaries are not paid today, our lawyer will take legal action."
        self.say(f"{initech.person} ({initech.organization}) replies on ticket #{ticket}: “{words}”")
        self.desk.customer_replies(ticket, words)
        self.say("Alex escalates it to L2 as a general escalation")
        self.desk.escalate(ticket, "L2")
        self.world.settle()
        self.show(self.views.ticket(ticket, customer_words=True))
        self.expect("tier T3 by the rule “Legal threat in the customer's words”",
                    self.value(ticket, "tier") == "T3"
                    and "Legal threat in the customer's words" in self.note_starting(ticket, "Escalated"))
        self.expect("bridge due in 30 minutes", self.value(ticket, "bridge_due_at"))

    def security(self) -> None:
        umbrella = self.world.customers["Umbrella Card Services"]
        values = {**GENERAL_FIELDS, "escalation_type": "compliance", "customer_id": "CUST-4480",
                  "issue_summary": "Admin logins from three new countries overnight.",
                  "violation_type": "Unauthorised admin access",
                  "evidence": "Login audit export: 14 admin logins from new IP ranges.",
                  "risk_assessment": "Card programme settings could be changed.", "signal": "unusual_login"}
        ticket = self.open(umbrella, "Admin logins we don't recognise", "We see admin logins we did not make.",
                           **values)
        self.tickets["security"] = ticket
        self.say(f"{umbrella.person} ({umbrella.organization}) reports unknown admin logins: ticket #{ticket}")
        self.say("Alex picks the signal “unusual_login” and escalates to L2")
        self.desk.escalate(ticket, "L2")
        self.world.settle()
        self.expect("tier T4 by the unusual-login signal, incident commander due in 15 minutes",
                    self.value(ticket, "tier") == "T4" and self.value(ticket, "incident_commander_due_at"))
        self.later(5)
        self.say("Alex names the incident commander")
        self.desk.edit(ticket, incident_commander="Priya Shah (Security)")
        self.world.settle()
        self.show(self.views.ticket(ticket), self.views.account(umbrella))
        self.expect("incident commander target met (Salesforce: met)",
                    self.outcome_in_salesforce(ticket, "incident_commander") == "met")

    def product_bug(self) -> None:
        from plugins.zendesk.escalations import PRODUCT_BUG_TOPIC

        first, other = self.tickets["financial"], self.tickets["repeat"]
        self.say(f"Alex ticks “Product bug” on #{first}: the batch scheduler ran batch 0042 twice")
        self.desk.edit(first, product_bug=True)
        self.world.settle()
        key = self.issue_linking(first)
        project = self.world.manifest.jira.project
        if not self.expect(f"a Jira issue in {project} links back to ticket #{first}", key):
            self.show(self.views.ticket(first))
            if not self.world.runtime.registry.listeners(PRODUCT_BUG_TOPIC):
                self.echo(f"  (no plugin listens to {PRODUCT_BUG_TOPIC}: this build's Jira plugin creates no issues)")
            return
        fields = self.world.jira.issue_json(key)["fields"]
        self.expect(f"{key} is a Bug with priority High (tier T3)",
                    (fields["issuetype"]["name"], (fields.get("priority") or {}).get("name")) == ("Bug", "High"))
        self.say(f"Alex links Globex's ticket #{other} to {key} by typing the key")
        self.desk.edit(other, jira_issue_key=key)
        self.world.settle()
        self.expect(f"{key} links back to ticket #{other} too", other in self._linked_tickets(key))
        self.later(15)
        self.say(f"Engineering fixes the scheduler and moves {key} to Done (Jira sends its webhook)")
        answer = self.world.jira.move_and_notify(key, "Done", f"{self.world.url}/webhooks/jira", self.world.jira_secret)
        self.world.settle()
        self.show(self.views.issue(key), self.views.ticket(first), self.views.ticket(other),
                  self.views.account(self.world.customers["Acme Payments"]))
        self.expect("the connector accepted Jira's signed webhook", 200 <= answer.status_code < 300)
        self.expect("both tickets show Jira status Done",
                    self.value(first, "jira_status") == "Done" and self.value(other, "jira_status") == "Done")

    def _linked_tickets(self, key: str) -> set[int]:
        ids = set()
        for link in self.world.jira.remote_links(key):
            match = re.search(r"/agent/tickets/(\d+)$", (link.get("object") or {}).get("url") or "")
            if match:
                ids.add(int(match.group(1)))
        return ids

    def breach(self) -> None:
        from connector.store.escalations import Escalations

        ticket = self.tickets["legal"]
        record = Escalations(self.world.runtime.store).get(ticket)
        due = record.sla.target("bridge").due_at
        minutes = max(1, int((due - self.world.clock()).total_seconds() // 60) + 1)
        self.say(f"Nobody opens the bridge for Initech's ticket #{ticket}; it is due at {self.views.local(due)}")
        self.later(minutes)
        self.world.settle()
        self.show(self.views.ticket(ticket), self.views.account(self.world.customers["Initech Payroll"]))
        tags = self.desk.ticket(ticket)["tags"]
        self.expect("tagged sla_at_risk, then sla_breached", "sla_at_risk" in tags and "sla_breached" in tags)
        self.expect("internal note: SLA breached — Bridge", self.note_starting(ticket, "SLA breached — Bridge"))
        self.expect("the CSM sees the breach (Salesforce: bridge breached)",
                    self.outcome_in_salesforce(ticket, "bridge") == "breached")


STEPS: tuple[tuple[str, str], ...] = (
    ("A complete financial escalation → T3", "complete_financial"),
    ("An incomplete escalation is turned back", "incomplete"),
    ("A repeat contact → T2", "repeat_contact"),
    ("A legal threat in the customer's words → T3", "legal_threat"),
    ("A security signal → T4", "security"),
    ("A product bug → Jira → issue done → tickets told", "product_bug"),
    ("An SLA breach", "breach"),
)
"""The day, in order: (title, :class:`ScriptedDay` method)."""


# -- running it ---------------------------------------------------------------------------------

CAST = (
    ("Acme Payments", "Dana Whitfield", "dana@acme.example"),
    ("Globex Treasury", "Sam Rivera", "sam@globex.example"),
    ("Initech Payroll", "Lee Okafor", "lee@initech.example"),
    ("Umbrella Card Services", "Kim Tanaka", "kim@umbrella.example"),
)


def play(world: DemoWorld, echo: Callable[[str], None]) -> list[StepResult]:
    """Play :data:`STEPS` in ``world``; a step that fails does not stop the day."""
    for organization, person, email in CAST:
        world.add_customer(organization, person, email)
    day = ScriptedDay(world, echo)
    results = []
    dead_before: set[int] = set()
    for number, (title, method) in enumerate(STEPS, start=1):
        day.result = StepResult(number, title)
        echo("")
        echo(f"{number}. {title}")
        echo("─" * (len(title) + len(str(number)) + 2))
        try:
            getattr(day, method)()
        except Exception as error:  # noqa: BLE001 - reported as the step's outcome
            day.result.error = f"{error.__class__.__name__}: {error}"
        dead = [job for job in world.dead_jobs() if job.id not in dead_before]
        dead_before |= {job.id for job in dead}
        if dead:
            day.expect("no job dead-lettered", False)
            for job in dead:
                echo(f"  dead letter: job {job.id} {job.handler}: {job.last_error}")
        echo("")
        for check in day.result.checks:
            echo(f"  {'✓' if check.ok else '✗'} {check.what}")
        if day.result.error:
            echo(f"  ✗ the step stopped: {day.result.error}")
        results.append(day.result)
    return results


def header(world: DemoWorld) -> list[str]:
    levels = "/".join(level.name for level in world.manifest.zendesk.levels)
    rows = [
        ("Zendesk", world.zendesk.url, f"ticket fields and “Escalated – {levels}” statuses created from the manifest"),
        ("Salesforce", world.salesforce.url, "the objects and fields manifest/salesforce deploys; one Account per customer"),
        ("Jira", world.jira.url, f"project {world.manifest.jira.project}"),
        ("Connector", world.url, "web app + 1 worker on a throw-away SQLite store; Zendesk events → /webhooks/zendesk"),
    ]
    return [
        "The escalation connector — a day on bundled simulators",
        "",
        "Everything runs on this machine, over real HTTP on 127.0.0.1, through the same clients as production:",
        *[f"  {name:<11} {url:<24} {what}" for name, url, what in rows],
        "",
        "Time: the simulators and the connector share one clock. It starts on Monday 23 November 2026,",
        "09:00 in New York, runs in real time, and jumps ahead (⏩) where the day needs time to pass.",
        "The manifest is the shipped manifest/connector.yaml, its placeholder ids replaced by the simulator's.",
    ]


def summary(results: list[StepResult]) -> list[str]:
    lines = ["", "Summary", "───────"]
    for result in results:
        failed = [check.what for check in result.checks if not check.ok]
        detail = f" — not as expected: {'; '.join(failed)}" if failed else ""
        if result.error:
            detail += f" — stopped: {result.error}"
        lines.append(f"  {'✓' if result.ok else '✗'} {result.number}. {result.title}{detail}")
    good = sum(result.ok for result in results)
    lines += ["", f"{good} of {len(results)} steps went as expected."]
    return lines


def serve_lines(world: DemoWorld, env_file: Path) -> list[str]:
    return [
        "",
        "Still running (--serve); Ctrl-C stops everything and deletes the store.",
        f"  status page      {world.url}/admin   (sign in with CONNECTOR_ADMIN_TOKEN from the file below)",
        f"  metrics          {world.url}/metrics",
        f"  Zendesk API      {world.zendesk.url}/api/v2/tickets/{{id}}.json",
        f"  Salesforce API   {world.salesforce.url}/services/data/v59.0/",
        f"  Jira API         {world.jira.url}/rest/api/2/issue/{{key}}",
        f"  environment      {env_file}   (credentials of the simulators, the secrets of this run)",
        f"  connector log    {world.log_path}",
        "",
        "Other commands work against this demo:",
        f"  set -a; . {env_file}; set +a",
        "  connector doctor        connector jobs list        connector audit verify",
    ]


def run_demo(echo: Callable[[str], None], *, serve: bool = False,
             wait: Callable[[], None] | None = None, workdir: Path | None = None) -> int:
    """Start everything, play the day, print what each user sees; 0 when every step went
    as expected, 1 otherwise. ``serve`` keeps it all running until ``wait`` returns."""
    import shutil
    import tempfile

    own = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="connector-demo-")) if own else Path(workdir)
    admin_token = os.environ.get("CONNECTOR_ADMIN_TOKEN") or None
    world = DemoWorld(directory, admin_token=admin_token)
    try:
        world.start()
        for line in header(world):
            echo(line)
        results = play(world, echo)
        for line in summary(results):
            echo(line)
        if serve:
            for line in serve_lines(world, world.write_env_file()):
                echo(line)
            (wait or _wait_for_interrupt)()
        return 0 if results and all(result.ok for result in results) else 1
    finally:
        world.stop()
        if own:
            shutil.rmtree(directory, ignore_errors=True)


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _command():
    import click

    @click.command("demo")
    @click.option("--serve", is_flag=True,
                  help="Keep the simulators and the connector running after the day and print their URLs.")
    def demo(serve: bool) -> None:
        """Play a scripted day on bundled simulators of Zendesk, Salesforce and Jira and
        show what the agent, the CSM and the engineer see. Exit 1 if any step's outcome
        was not the expected one."""
        raise SystemExit(run_demo(click.echo, serve=serve))

    return demo


demo_command = _command()
