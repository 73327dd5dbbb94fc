"""A support desk for escalation tests: the Zendesk simulator set up from the shipped
manifest, the connector's web app and worker on a test store, and the agent's hands.

Events travel the real way: the simulator emits an event-subscribed envelope for every
ticket change (the connector's own writes included), :meth:`Desk.deliver` signs and
posts them to ``POST /webhooks/zendesk``, and :meth:`Desk.work` runs the worker until the
queue is empty. :meth:`Desk.settle` repeats both until nothing new happens, so a test
sees the state after the connector's writes *and* after it ignored the echoes of them.

Time is a :class:`~tests.support.clock.FakeClock` shared by the simulator (``updated_at``,
event times) and the pipeline (timers), starting Monday 23 November 2026 10:00 in New
York, a business day.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from connector.app import create_app
from connector.manifest import load_manifest
from connector.registry import Registry
from connector.store.escalations import Escalations
from plugins.zendesk import plugin as zendesk_plugin
from plugins.zendesk.simulator import ZendeskSimulator, install_manifest
from tests.support.clock import FakeClock
from tests.support.webhooks import SECRET, zendesk_headers

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MANIFEST = ROOT / "manifest" / "connector.yaml"
MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


class Desk:
    def __init__(self, sim: ZendeskSimulator, database_url: str, *, manifest: Any = None,
                 clock: FakeClock | None = None):
        self.sim = sim
        self.clock = clock or FakeClock(MONDAY_10_NY)
        sim.clock = self.clock
        self.manifest = install_manifest(sim, manifest or load_manifest(SHIPPED_MANIFEST))
        self.database_url = database_url
        self.agent_id = sim.add_user("Alex Agent", "alex.agent@example.com", role="agent")["id"]
        self.org = sim.add_organization("Acme Payments", external_id="001ACME")
        self.customer_id = sim.add_user("Dana Customer", "dana@acme.example",
                                        organization_id=self.org["id"])["id"]
        self.apps: list[Any] = []
        self.start()

    # -- the connector ---------------------------------------------------------------

    def start(self) -> None:
        """(Re)start the connector: a new web app, runtime and worker on the same store."""
        config = {
            "DATABASE_URL": self.database_url,
            "ZENDESK_URL": self.sim.url,
            "ZENDESK_OAUTH_TOKEN": self.sim.oauth_token,
            "ZENDESK_WEBHOOK_SECRETS": SECRET,
            "TESTING": True,
            "MIGRATE": True,
            "MANIFEST": self.manifest,
            "REGISTRY": Registry([zendesk_plugin.build(None, self.manifest)]),
        }
        self.app = create_app(config, role="serve")
        self.apps.append(self.app)
        self.http = self.app.test_client()
        self.runtime = self.app.extensions["connector"]
        self.runtime.queue.clock = self.clock
        self.worker = self.runtime.worker(poll_interval=0)
        self.worker.timer_interval = 0
        self.escalations = Escalations(self.runtime.store)

    def close(self) -> None:
        for app in self.apps:
            runtime = app.extensions["connector"]
            client = runtime.services.get("zendesk")
            if client is not None:
                client.close()
            runtime.store.dispose()

    def deliver(self, envelopes: list[dict] | None = None) -> list[int]:
        """Post envelopes (default: everything the simulator emitted) to the intake."""
        statuses = []
        for envelope in self.sim.take_emitted() if envelopes is None else envelopes:
            raw = json.dumps(envelope).encode()
            response = self.http.post("/webhooks/zendesk", data=raw, headers=zendesk_headers(raw))
            statuses.append(response.status_code)
        return statuses

    def work(self) -> int:
        """Run the worker until the queue is empty (timers due now included)."""
        done = 0
        while self.worker.run_once():
            done += 1
        return done

    def settle(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            self.deliver()
            if not self.work() and not self.sim.emitted:
                return

    # -- the agent's hands -----------------------------------------------------------

    def field(self, name: str) -> int:
        return self.manifest.zendesk.fields[name].id

    def level(self, name: str) -> int:
        return next(level.custom_status_id for level in self.manifest.zendesk.levels if level.name == name)

    def new_ticket(self, subject: str = "Duplicate payment to vendor", **values: Any) -> int:
        ticket = self.sim.add_ticket(subject, "We were charged twice.", requester_id=self.customer_id,
                                     custom_fields={self.field(k): v for k, v in values.items()},
                                     created_at=self.clock.now - timedelta(hours=1))
        self.sim.take_emitted()  # creation is not an escalation event
        return ticket["id"]

    def edit(self, ticket_id: int, *, status: str | None = None, comment: str | None = None,
             public: bool = True, **values: Any) -> dict:
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

    # -- what the agent sees ---------------------------------------------------------

    def value(self, ticket_id: int, name: str) -> Any:
        return self.sim.field_value(ticket_id, self.field(name))

    def ticket(self, ticket_id: int) -> dict:
        return self.sim.ticket(ticket_id)

    def notes(self, ticket_id: int) -> list[str]:
        """Internal notes, oldest first."""
        return [c["body"] for c in self.sim.comments(ticket_id) if not c["public"]]

    def record(self, ticket_id: int):
        return self.escalations.get(ticket_id)


COMPLETE_FINANCIAL = {
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
