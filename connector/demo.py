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

import threading
from datetime import datetime, timedelta, timezone
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
