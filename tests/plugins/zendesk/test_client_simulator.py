"""The Zendesk client over real HTTP against the local Zendesk simulator.

The client is built the way production builds it — from ``ZendeskSettings`` — with
``ZENDESK_URL`` set to the simulator's ``http://127.0.0.1:PORT``, so zenpy's requests go
through the re-basing adapter and the raw ones straight to the simulator.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from connector.config import ZendeskSettings
from connector.manifest.model import FieldRef
from connector.pipeline.retry import PermanentError, RetryLater
from plugins.zendesk.client import UpdateConflict, ZendeskClient, ZendeskNotFound, parse_time
from plugins.zendesk.simulator import ZendeskSimulator


@pytest.fixture(scope="module")
def server():
    with ZendeskSimulator() as sim:
        yield sim


@pytest.fixture
def sim(server):
    server.reset()
    return server


def settings_for(sim: ZendeskSimulator, *, oauth: bool = True, subdomain: str | None = None) -> ZendeskSettings:
    return ZendeskSettings(subdomain=subdomain, base_url=sim.url,
                           email=None if oauth else sim.email, api_token=None if oauth else sim.api_token,
                           oauth_token=sim.oauth_token if oauth else None, webhook_secrets=())


@pytest.fixture
def client(sim):
    c = ZendeskClient(settings_for(sim), timeout=5)
    yield c
    c.close()


@pytest.fixture
def setup(sim):
    """Fields as the manifest maps them, an organization and a requester in it."""
    org = sim.add_organization("Acme Payments", external_id="001ACME", tags=["Strategic", "emea"])
    requester = sim.add_user("Dana Customer", "dana@acme.example", organization_id=org["id"])
    ids = {
        "escalation_type": sim.add_ticket_field("Escalation type", "tagger",
                                                options=["general", "financial", "compliance"])["id"],
        "amount": sim.add_ticket_field("Amount", "decimal")["id"],
        "urgent": sim.add_ticket_field("Urgent", "checkbox", tag="urgent_escalation")["id"],
        "tier": sim.add_ticket_field("Tier", "text")["id"],
        "resolve_due_at": sim.add_ticket_field("Resolve due", "date")["id"],
    }
    fields = {name: FieldRef(fid, "date" if name == "resolve_due_at" else "text") for name, fid in ids.items()}
    l2 = sim.add_custom_status("Escalated – L2", "open")
    return {"org": org, "requester": requester["id"], "ids": ids, "fields": fields, "l2": l2["id"]}


def new_ticket(sim, setup, *, tags=("vip",), **kwargs):
    ids = setup["ids"]
    return sim.add_ticket("Charged twice", "I was charged twice", requester_id=setup["requester"],
                          organization_id=setup["org"]["id"], tags=tags,
                          custom_fields={ids["escalation_type"]: "financial", ids["amount"]: "12500.00",
                                         ids["urgent"]: True}, **kwargs)


# reading -----------------------------------------------------------------------------------

def test_reads_and_snapshots_a_ticket_with_its_organization(sim, client, setup):
    ticket = new_ticket(sim, setup, custom_status_id=setup["l2"])
    raw = client.get_ticket(ticket["id"])
    org = client.organization(raw["organization_id"])
    snap = client.snapshot(raw, setup["fields"], org)
    assert snap.id == ticket["id"] and snap.status == "open" and snap.custom_status_id == setup["l2"]
    assert snap.fields == {"escalation_type": "financial", "amount": "12500.00", "urgent": True,
                           "tier": None, "resolve_due_at": None}
    assert snap.field_titles["escalation_type"] == "Escalation type" and snap.title("tier") == "Tier"
    assert snap.updated_at == parse_time(sim.ticket(ticket["id"])["updated_at"])
    assert snap.updated_at.tzinfo is not None and snap.updated_at.utcoffset() == timedelta(0)
    assert {"vip", "financial", "urgent_escalation"} <= snap.tags
    assert snap.organization_tags == frozenset({"strategic", "emea"})
    assert org["external_id"] == "001ACME"
    assert snap.requester_id == setup["requester"]


def test_an_agents_edit_is_seen_on_the_next_read(sim, client, setup):
    ticket = new_ticket(sim, setup)
    first = client.get_ticket(ticket["id"])
    sim.agent_edit(ticket["id"], custom_fields=[{"id": setup["ids"]["tier"], "value": "T2"}])
    second = client.get_ticket(ticket["id"])
    assert parse_time(second["updated_at"]) > parse_time(first["updated_at"])
    assert client.snapshot(second, setup["fields"]).fields["tier"] == "T2"


def test_the_api_user_is_known_and_read_once(sim, client):
    assert client.own_user_id == sim.api_user_id
    assert client.me()["email"] == sim.email
    assert len(sim.requests("GET", r"/api/v2/users/me(\.json)?")) == 1


def test_custom_statuses_and_ticket_fields_are_read_once_each(sim, client, setup):
    statuses = client.custom_statuses()
    assert statuses[setup["l2"]]["status_category"] == "open"
    assert statuses[setup["l2"]]["agent_label"] == "Escalated – L2"
    assert client.ticket_fields()[setup["ids"]["urgent"]]["type"] == "checkbox"
    client.custom_statuses()
    client.ticket_fields()
    assert len(sim.requests("GET", r"/api/v2/custom_statuses(\.json)?")) == 1
    assert len(sim.requests("GET", r"/api/v2/ticket_fields(\.json)?")) == 1


def test_unknown_ticket_and_organization_are_not_found(sim, client):
    with pytest.raises(ZendeskNotFound, match="ticket 999999"):
        client.get_ticket(999999)
    with pytest.raises(ZendeskNotFound, match="organization 424242"):
        client.organization(424242)


# writing -----------------------------------------------------------------------------------

def test_update_with_a_fresh_stamp_writes_everything_in_one_put(sim, client, setup):
    ticket = new_ticket(sim, setup, tags=["vip", "escalation_blocked"])
    snap = client.snapshot(client.get_ticket(ticket["id"]), setup["fields"])
    ids = setup["ids"]
    sim.clear_journal()
    updated = client.update_ticket(
        ticket["id"], updated_stamp=snap.updated_at,
        custom_fields={ids["tier"]: "T3", ids["resolve_due_at"]: "2026-11-25"},
        custom_status_id=setup["l2"], tags_add=["escalated_t3"], tags_remove=["escalation_blocked"],
        current_tags=snap.tags, comment={"body": "Tier T3 (Duplicate payment confirmed). [mark:1]"})
    (put,) = sim.requests("PUT")
    assert put.status == 200 and put.json["ticket"]["safe_update"] is True
    assert len(sim.journal) == 1
    stored = sim.ticket(ticket["id"])
    assert updated["updated_at"] == stored["updated_at"]
    assert parse_time(updated["updated_at"]) > snap.updated_at
    assert sim.field_value(ticket["id"], ids["tier"]) == "T3"
    assert sim.field_value(ticket["id"], ids["resolve_due_at"]) == "2026-11-25"
    assert stored["custom_status_id"] == setup["l2"]
    assert "escalated_t3" in stored["tags"] and "escalation_blocked" not in stored["tags"]
    assert {"vip", "financial", "urgent_escalation"} <= set(stored["tags"])
    note = sim.comments(ticket["id"])[-1]
    assert note["public"] is False and note["author_id"] == sim.api_user_id
    # the stamp returned is the one the next write must use
    client.update_ticket(ticket["id"], updated_stamp=updated["updated_at"], custom_fields={ids["tier"]: "T4"})
    assert sim.field_value(ticket["id"], ids["tier"]) == "T4"


def test_a_stale_stamp_after_an_agent_edit_is_an_update_conflict_and_writes_nothing(sim, client, setup):
    ticket = new_ticket(sim, setup)
    raw = client.get_ticket(ticket["id"])
    sim.agent_edit(ticket["id"], custom_fields=[{"id": setup["ids"]["amount"], "value": "99.00"}])
    with pytest.raises(UpdateConflict):
        client.update_ticket(ticket["id"], updated_stamp=raw["updated_at"],
                             custom_fields={setup["ids"]["tier"]: "T3"}, comment="should not appear")
    assert sim.field_value(ticket["id"], setup["ids"]["tier"]) is None
    assert all(c["body"] != "should not appear" for c in sim.comments(ticket["id"]))
    fresh = client.get_ticket(ticket["id"])
    client.update_ticket(ticket["id"], updated_stamp=fresh["updated_at"], custom_fields={setup["ids"]["tier"]: "T3"})
    assert sim.field_value(ticket["id"], setup["ids"]["tier"]) == "T3"


def test_a_value_zendesk_rejects_is_permanent_and_names_the_field(sim, client, setup):
    ticket = new_ticket(sim, setup)
    raw = client.get_ticket(ticket["id"])
    field = setup["ids"]["resolve_due_at"]
    with pytest.raises(PermanentError) as caught:
        client.update_ticket(ticket["id"], updated_stamp=raw["updated_at"], custom_fields={field: "tomorrow"})
    message = str(caught.value)
    assert not isinstance(caught.value, ZendeskNotFound)
    assert f"ticket {ticket['id']}" in message and f"field {field}" in message and "422" in message


# search and comments ----------------------------------------------------------------------

def test_count_requester_tickets_counts_the_window_in_one_call(sim, client, setup):
    at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    for days in (0, 2, 6.9, 7.1, 12):
        sim.add_ticket(requester_id=setup["requester"], created_at=at - timedelta(days=days))
    sim.add_ticket(requester_id=sim.add_user("Other")["id"], created_at=at)
    sim.add_ticket(requester_id=setup["requester"], created_at=at + timedelta(minutes=30))  # after the escalation
    sim.clear_journal()
    assert client.count_requester_tickets(setup["requester"], at - timedelta(days=7), at) == 3
    (search,) = sim.journal
    assert search.path.startswith("/api/v2/search/count") and search.status == 200


def test_latest_requester_comment_is_the_newest_public_one_masked(sim, client, setup):
    ticket = new_ticket(sim, setup)
    sim.add_comment(ticket["id"], "Card 4111 1111 1111 1111 was charged twice. I will call my lawyer.")
    sim.add_comment(ticket["id"], "internal thought", public=False)
    sim.agent_edit(ticket["id"], comment={"body": "We are looking into it", "public": True})
    text = client.latest_requester_comment(ticket["id"], setup["requester"])
    assert text == "Card **** **** **** 1111 was charged twice. I will call my lawyer."
    other = sim.add_ticket(requester_id=setup["requester"])
    sim.agent_edit(other["id"], comment={"body": "agent", "public": True})
    assert client.latest_requester_comment(other["id"], setup["requester"]) == "Please help"
    assert client.latest_requester_comment(other["id"], 123) is None


def test_marker_search_finds_our_note_after_a_crash(sim, client, setup):
    ticket = new_ticket(sim, setup)
    raw = client.get_ticket(ticket["id"])
    marker = f"[connector:zendesk:ticket:{ticket['id']}:escalated:evt-9]"
    assert client.find_comment_with_marker(ticket["id"], marker) is None
    client.update_ticket(ticket["id"], updated_stamp=raw["updated_at"],
                         comment={"body": f"Escalation accepted as T3.\n{marker}"})
    sim.add_comment(ticket["id"], "thanks")
    found = client.find_comment_with_marker(ticket["id"], marker)
    assert found is not None and found["public"] is False and marker in found["body"]
    assert client.find_comment_with_marker(ticket["id"], marker.replace("evt-9", "evt-10")) is None


# credentials and rate limits --------------------------------------------------------------

@pytest.mark.parametrize("oauth, scheme", [(True, "bearer"), (False, "basic")])
def test_oauth_and_api_token_both_authenticate_zenpy_and_raw_calls(sim, setup, oauth, scheme):
    ticket = new_ticket(sim, setup)
    with ZendeskClient(settings_for(sim, oauth=oauth, subdomain="acme")) as client:
        assert client.own_user_id == sim.api_user_id
        assert client.get_ticket(ticket["id"])["id"] == ticket["id"]
    assert [(e.auth_scheme, e.status) for e in sim.journal] == [(scheme, 200), (scheme, 200)]


def test_a_real_429_raises_retry_later_without_sleeping():
    with ZendeskSimulator(rate_limit=1) as sim:
        ticket = sim.add_ticket()
        with ZendeskClient(settings_for(sim)) as client:
            client.get_ticket(ticket["id"])
            started = time.monotonic()
            with pytest.raises(RetryLater) as caught:
                client.me()
            elapsed = time.monotonic() - started
        assert elapsed < 2 and 1 <= caught.value.retry_after <= 60
        assert [e.status for e in sim.journal] == [200, 429]


def test_an_injected_429_on_the_write_reaches_the_caller_with_its_retry_after(sim, client, setup):
    ticket = new_ticket(sim, setup)
    raw = client.get_ticket(ticket["id"])
    sim.fail_next("PUT", r"/api/v2/tickets/\d+(\.json)?", 429, headers={"Retry-After": "17"})
    with pytest.raises(RetryLater) as caught:
        client.update_ticket(ticket["id"], updated_stamp=raw["updated_at"], custom_fields={setup["ids"]["tier"]: "T3"})
    assert caught.value.retry_after == 17
    assert sim.field_value(ticket["id"], setup["ids"]["tier"]) is None
    assert len(sim.requests("PUT")) == 1
