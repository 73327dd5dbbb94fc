"""Escalations at the edges: trigger webhooks, ``on_incomplete: flag``, crashes between
the write and recording it, rate limits, connector-written fields."""
from __future__ import annotations

import json
from dataclasses import replace


from connector.manifest import load_manifest
from tests.support.desk import COMPLETE_FINANCIAL, SHIPPED_MANIFEST, Desk
from tests.support.webhooks import zendesk_headers


def post_trigger(desk: Desk, ticket_id: int, *, actor_id: int, invocation: str) -> int:
    """What a Zendesk trigger's webhook sends (every placeholder a string)."""
    ticket = desk.ticket(ticket_id)
    body = {"ticket_id": str(ticket_id), "updated_at": ticket["updated_at"], "status": ticket["status"],
            "custom_status_id": str(ticket["custom_status_id"]), "current_user_id": str(actor_id),
            "requester_id": str(ticket["requester_id"]), "tags": " ".join(ticket["tags"]), "event": "escalation"}
    raw = json.dumps(body).encode()
    return desk.http.post("/webhooks/zendesk", data=raw,
                          headers=zendesk_headers(raw, invocation_id=invocation)).status_code


def test_a_trigger_webhook_escalates_from_the_tickets_current_state(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.sim.take_emitted()  # this account uses a trigger, not event subscriptions
    assert post_trigger(desk, ticket_id, actor_id=desk.agent_id, invocation="inv-1") == 202
    desk.work()
    assert desk.value(ticket_id, "tier") == "T3"
    assert len(desk.notes(ticket_id)) == 1
    # the trigger fires again for the connector's own update: ignored, no second write
    assert post_trigger(desk, ticket_id, actor_id=desk.sim.api_user_id, invocation="inv-2") == 202
    desk.work()
    assert len(desk.sim.requests("PUT")) == 1
    # and a trigger for an agent's unrelated save later re-decides nothing
    desk.edit(ticket_id, evidence="log links")
    desk.sim.take_emitted()
    assert post_trigger(desk, ticket_id, actor_id=desk.agent_id, invocation="inv-3") == 202
    desk.work()
    assert len(desk.notes(ticket_id)) == 1


def test_flag_mode_keeps_the_status_and_escalates_once_the_record_is_complete(make_desk):
    manifest = load_manifest(SHIPPED_MANIFEST)
    desk = make_desk(manifest=replace(manifest, zendesk=replace(manifest.zendesk, on_incomplete="flag")))
    values = {k: v for k, v in COMPLETE_FINANCIAL.items() if k not in ("amount",)}
    ticket_id = desk.new_ticket(**values)
    desk.escalate(ticket_id)
    desk.settle()
    ticket = desk.ticket(ticket_id)
    assert ticket["custom_status_id"] == desk.level("L2")  # flagged, not reverted
    assert "escalation_blocked" in ticket["tags"]
    [note] = desk.notes(ticket_id)
    assert "The status stays, but the ticket is tagged escalation_blocked" in note

    desk.edit(ticket_id, evidence="unrelated")  # still incomplete: no second note
    desk.settle()
    assert len(desk.notes(ticket_id)) == 1

    desk.edit(ticket_id, amount="12500")  # complete now: escalated without touching the status
    desk.settle()
    assert desk.value(ticket_id, "tier") == "T3"
    assert "escalation_blocked" not in desk.ticket(ticket_id)["tags"]
    assert len(desk.notes(ticket_id)) == 2


def test_a_crash_after_the_write_is_recovered_from_the_note_marker(desk, monkeypatch):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.deliver()
    effects = desk.worker.effects
    real_done = effects._done
    crashed = []

    def die_once(key, result):
        if not crashed and key.startswith(f"zendesk:ticket:{ticket_id}:event:"):
            crashed.append(key)
            raise ConnectionError("the store went away before the write was recorded")
        return real_done(key, result)

    monkeypatch.setattr(effects, "_done", die_once)
    desk.work()
    assert crashed and len(desk.notes(ticket_id)) == 1
    assert desk.record(ticket_id) is None  # the job failed before remembering

    desk.clock.advance(600)  # past the retry's backoff
    desk.work()
    assert len(desk.notes(ticket_id)) == 1  # found by its marker, not written again
    assert len(desk.sim.requests("PUT")) == 1
    record = desk.record(ticket_id)
    assert (record.state, record.tier) == ("open", "T3")
    results = [r["result"] for r in desk.runtime.audit.export(ticket_id=ticket_id)
               if r["action"] == "zendesk.escalation"]
    # the crash came before the write could be audited: the recovery is its audit record
    assert results == ["recovered"]


def test_a_rate_limited_write_waits_for_retry_after(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.deliver()
    desk.sim.fail_next("PUT", rf"/api/v2/tickets/{ticket_id}(\.json)?", 429, headers={"Retry-After": "120"})
    desk.work()
    assert desk.value(ticket_id, "tier") is None
    [job] = [j for j in desk.runtime.queue.list_jobs(states=["pending"]) if j.handler.startswith("zendesk.")]
    assert (job.run_after - desk.clock.now).total_seconds() >= 120
    desk.clock.advance(119)
    desk.work()
    assert desk.value(ticket_id, "tier") is None  # not before Retry-After
    desk.clock.now = job.run_after
    desk.work()
    assert desk.value(ticket_id, "tier") == "T3"
    assert len(desk.notes(ticket_id)) == 1


def test_a_change_to_a_connector_written_field_is_ignored_without_a_read(desk):
    ticket_id = desk.new_ticket(**COMPLETE_FINANCIAL)
    desk.escalate(ticket_id)
    desk.settle()
    desk.sim.clear_journal()
    desk.edit(ticket_id, tier="T1")  # an agent overwrites the tier by hand
    desk.settle()
    assert desk.sim.requests("GET", r"/api/v2/tickets/.*") == []
    reasons = [r["reason"] for r in desk.runtime.audit.export(ticket_id=ticket_id)
               if r["action"] == "zendesk.event.ignored"]
    assert any("which the connector writes" in reason for reason in reasons)


def test_comments_on_tickets_never_escalated_cost_no_calls(desk):
    ticket_id = desk.new_ticket()
    desk.sim.clear_journal()
    desk.edit(ticket_id, comment="Thanks, looking into it", public=True)
    desk.settle()
    assert desk.sim.requests("GET", r"/api/v2/tickets/.*") == []
    assert desk.record(ticket_id) is None
