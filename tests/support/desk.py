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
from connector.demo import COMPLETE_FINANCIAL, AgentDesk
from connector.manifest import load_manifest
from connector.registry import Registry
from connector.store.escalations import Escalations
from plugins.zendesk import plugin as zendesk_plugin
from plugins.zendesk.simulator import ZendeskSimulator
from tests.support.clock import FakeClock
from tests.support.webhooks import JIRA_SECRET, SECRET, zendesk_headers

__all__ = ["COMPLETE_FINANCIAL", "Desk", "MONDAY_10_NY", "SHIPPED_MANIFEST"]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MANIFEST = ROOT / "manifest" / "connector.yaml"
MONDAY_10_NY = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


class Desk(AgentDesk):
    """The agent's desk (:class:`connector.demo.AgentDesk`) with the connector beside it,
    run by hand: :meth:`deliver`, :meth:`work`, :meth:`settle`."""

    def __init__(self, sim: ZendeskSimulator, database_url: str, *, manifest: Any = None,
                 clock: FakeClock | None = None, jira: Any = None):
        self.jira = jira  # a JiraSimulator: the Jira plugin runs too
        super().__init__(sim, manifest or load_manifest(SHIPPED_MANIFEST), clock=clock or FakeClock(MONDAY_10_NY))
        self.database_url = database_url
        self.org, self.customer_id = self.add_customer("Dana Customer", "dana@acme.example", "Acme Payments",
                                                       external_id="001ACME")
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
        }
        plugins = [zendesk_plugin.build(None, self.manifest)]
        if self.jira is not None:
            from connector.config import load_settings
            from plugins.jira import plugin as jira_plugin

            config.update(JIRA_URL=self.jira.url, JIRA_EMAIL=self.jira.email, JIRA_API_TOKEN=self.jira.api_token,
                          JIRA_WEBHOOK_SECRET=JIRA_SECRET)
            plugins.append(jira_plugin.build(load_settings(config, role="serve"), self.manifest))
        config["REGISTRY"] = Registry(plugins)
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

    # -- the agent's hands (the rest are AgentDesk's) ---------------------------------

    def new_ticket(self, subject: str = "Duplicate payment to vendor", **values: Any) -> int:
        ticket_id = self.open_ticket(subject, "We were charged twice.", requester_id=self.customer_id,
                                     created_at=self.clock.now - timedelta(hours=1), **values)
        self.sim.take_emitted()  # creation is not an escalation event
        return ticket_id

    # -- what the connector remembers ------------------------------------------------

    def record(self, ticket_id: int):
        return self.escalations.get(ticket_id)

