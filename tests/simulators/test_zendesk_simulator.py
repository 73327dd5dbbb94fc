"""The Zendesk simulator, driven over real HTTP by zenpy and by plain requests."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, CustomField
from zenpy.lib.exception import APIException, RatelimitBudgetExceeded, RecordNotFoundException

from plugins.zendesk.simulator import ZendeskSimulator


@pytest.fixture(scope="module")
def server():
    with ZendeskSimulator() as sim:
        yield sim


@pytest.fixture
def sim(server):
    server.reset()
    return server


@pytest.fixture
def zenpy(sim):
    client = sim.zenpy_client()
    yield client
    client.tickets.session.close()


@pytest.fixture
def fields(sim):
    return {
        "summary": sim.add_ticket_field("Issue summary", "textarea")["id"],
        "tier": sim.add_ticket_field("Tier", "text")["id"],
        "currency": sim.add_ticket_field("Currency", "tagger", options=["usd", "eur"])["id"],
        "resolve_due": sim.add_ticket_field("Resolve due", "date")["id"],
        "bridge": sim.add_ticket_field("Bridge opened", "checkbox", tag="bridge_open")["id"],
    }


def raw(sim, method, path, **kwargs):
    return requests.request(method, sim.url + path, auth=(f"{sim.email}/token", sim.api_token),
                            timeout=10, **kwargs)


def value_of(ticket_json, field_id):
    return next(f["value"] for f in ticket_json["custom_fields"] if f["id"] == field_id)


# reading -------------------------------------------------------------------------------------

def test_zenpy_reads_a_seeded_ticket_through_the_rebasing_session(sim, zenpy, fields):
    org = sim.add_organization("Acme Pay", external_id="001ACME")
    customer = sim.add_user("Dana", "dana@acme.example", organization_id=org["id"])
    seeded = sim.add_ticket("Duplicate payment", "We were charged twice", requester_id=customer["id"],
                            custom_fields={fields["summary"]: "Charged twice"})
    ticket = zenpy.tickets(id=seeded["id"])
    assert (ticket.subject, ticket.status, ticket.requester_id) == ("Duplicate payment", "open", customer["id"])
    assert ticket.organization_id == org["id"]
    assert ticket.custom_status_id == sim.default_status_ids["open"]
    assert {f["id"]: f["value"] for f in ticket.custom_fields}[fields["summary"]] == "Charged twice"
    assert zenpy.organizations(id=org["id"]).external_id == "001ACME"
    assert sim.journal[0].path == f"/api/v2/tickets/{seeded['id']}.json"
    assert sim.journal[0].headers["Host"].startswith("127.0.0.1:")


def test_oauth_bearer_token_is_accepted(sim):
    client = sim.zenpy_client(oauth=True)
    try:
        assert client.users.me().id == sim.api_user_id
    finally:
        client.users.session.close()
    assert sim.journal[-1].auth_scheme == "bearer"


def test_zenpy_force_environment_variables_also_reach_the_simulator(sim, monkeypatch):
    monkeypatch.setenv("ZENPY_FORCE_SCHEME", "http")
    monkeypatch.setenv("ZENPY_FORCE_NETLOC", sim.url.removeprefix("http://"))
    client = Zenpy(subdomain="ignored", email=sim.email, token=sim.api_token)
    try:
        assert client.users.me().email == sim.email
    finally:
        client.users.session.close()


def test_wrong_or_missing_credentials_answer_401(sim):
    assert requests.get(sim.url + "/api/v2/users/me.json", timeout=5).status_code == 401
    bad = requests.get(sim.url + "/api/v2/users/me.json", auth=(f"{sim.email}/token", "nope"), timeout=5)
    assert (bad.status_code, bad.json()) == (401, {"error": "Couldn't authenticate you"})
    password_style = requests.get(sim.url + "/api/v2/users/me.json", auth=(sim.email, sim.api_token), timeout=5)
    assert password_style.status_code == 401
    client = Zenpy(subdomain=sim.subdomain, oauth_token="expired", session=sim.zenpy_session())
    try:
        with pytest.raises(APIException) as caught:
            client.users.me()
    finally:
        client.users.session.close()
    assert caught.value.response.status_code == 401


def test_unknown_ticket_is_404_record_not_found(sim, zenpy):
    with pytest.raises(RecordNotFoundException):
        zenpy.tickets(id=424242)
    assert raw(sim, "GET", "/api/v2/tickets/424242").json() == {"error": "RecordNotFound", "description": "Not found"}
    unknown = raw(sim, "GET", "/api/v2/nothing_here.json")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "InvalidEndpoint")
    ticket = sim.add_ticket()
    assert raw(sim, "GET", f"/api/v2/tickets/{ticket['id']}/audits", params={"page[size]": "x"}).status_code == 400


def test_users_custom_statuses_and_ticket_fields_are_listed(sim, zenpy, fields):
    level = sim.add_custom_status("Escalated – L2", "open", status_id=7001)
    me = raw(sim, "GET", "/api/v2/users/me.json").json()["user"]
    assert (me["id"], me["role"]) == (sim.api_user_id, "admin")
    statuses = {s.id: s for s in zenpy.custom_statuses()}
    assert statuses[7001].agent_label == "Escalated – L2" and statuses[7001].status_category == "open"
    assert level["id"] in [s["id"] for s in raw(sim, "GET", "/api/v2/custom_statuses",
                                                params={"status_categories": "open"}).json()["custom_statuses"]]
    listed = {f["id"]: f for f in raw(sim, "GET", "/api/v2/ticket_fields.json").json()["ticket_fields"]}
    assert listed[fields["currency"]]["type"] == "tagger"
    assert [o["value"] for o in listed[fields["currency"]]["custom_field_options"]] == ["usd", "eur"]
    assert {"subject", "status", "custom_status"} <= {f["type"] for f in listed.values()}
    assert raw(sim, "GET", "/api/v2/users/99").status_code == 404


# writing -------------------------------------------------------------------------------------

def test_put_merges_custom_fields_moves_status_and_adds_internal_note(sim, fields):
    sim.add_custom_status("Escalated – L2", "open", status_id=7001)
    ticket = sim.add_ticket(custom_fields={fields["summary"]: "kept"})
    response = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {
        "custom_fields": [{"id": fields["tier"], "value": "T3"}, {"id": fields["currency"], "value": "usd"}],
        "custom_status_id": 7001,
        "comment": {"body": "Tier T3: open the bridge", "public": False},
        "safe_update": True, "updated_stamp": ticket["updated_at"]}})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "audit"}
    updated = body["ticket"]
    assert value_of(updated, fields["summary"]) == "kept"
    assert value_of(updated, fields["tier"]) == "T3"
    assert (updated["custom_status_id"], updated["status"]) == (7001, "open")
    assert "usd" in updated["tags"], "a dropdown value is also a tag"
    assert updated["updated_at"] > ticket["updated_at"]
    events = {(e["type"], e.get("field_name")) for e in body["audit"]["events"]}
    assert ("Comment", None) in events and ("Change", str(fields["tier"])) in events
    assert ("Change", "custom_status_id") in events
    note = sim.comments(ticket["id"])[-1]
    assert (note["body"], note["public"], note["author_id"]) == ("Tier T3: open the bridge", False, sim.api_user_id)


def test_stale_stamp_answers_409_update_conflict_and_changes_nothing(sim, fields):
    ticket = sim.add_ticket()
    sim.agent_edit(ticket["id"], custom_fields=[{"id": fields["tier"], "value": "agent"}])
    response = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {
        "custom_fields": [{"id": fields["tier"], "value": "T1"}],
        "safe_update": True, "updated_stamp": ticket["updated_at"]}})
    assert response.status_code == 409
    assert response.json()["error"] == "UpdateConflict"
    assert "outdated ticket data" in response.json()["description"]
    assert sim.field_value(ticket["id"], fields["tier"]) == "agent"


def test_safe_update_without_a_stamp_is_refused(sim):
    ticket = sim.add_ticket()
    response = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}", json={"ticket": {"status": "pending",
                                                                                  "safe_update": "true"}})
    assert response.status_code == 409


def test_updated_at_moves_forward_even_within_one_second(fields):
    frozen = datetime(2026, 11, 23, 14, 0, 0, 500000, tzinfo=timezone.utc)
    with ZendeskSimulator(clock=lambda: frozen) as sim:
        ticket = sim.add_ticket()
        stamp = ticket["updated_at"]
        stamps = []
        for value in ("a", "b", "c"):
            response = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {
                "tags": [value], "safe_update": True, "updated_stamp": stamp}})
            assert response.status_code == 200, response.text
            stamp = response.json()["ticket"]["updated_at"]
            stamps.append(stamp)
    assert stamps == ["2026-11-23T14:00:01Z", "2026-11-23T14:00:02Z", "2026-11-23T14:00:03Z"]


def test_zenpy_serialises_safe_update_attributes_and_the_whole_custom_field_list(sim, zenpy, fields):
    ticket = zenpy.tickets(id=sim.add_ticket()["id"])
    ticket.custom_fields.append(CustomField(id=fields["tier"], value="T2"))
    ticket.comment = Comment(body="note", public=False)
    ticket.safe_update = True
    ticket.updated_stamp = ticket.updated_at
    result = zenpy.tickets.update(ticket)
    sent = sim.journal[-1].json["ticket"]
    assert sent["safe_update"] is True and sent["updated_stamp"] == ticket.updated_at
    assert [f["id"] for f in sent["custom_fields"]].count(fields["tier"]) == 2, \
        "zenpy sends every custom field back, so appending duplicates the ID (the last one wins)"
    assert result.ticket.updated_at > ticket.updated_at
    assert sim.field_value(ticket.id, fields["tier"]) == "T2"
    reads = len(sim.requests("GET"))
    assert zenpy.tickets(id=ticket.id).updated_at == result.ticket.updated_at, \
        "zenpy caches the ticket from its own write's response"
    assert len(sim.requests("GET")) == reads


def test_zenpy_raises_api_exception_on_a_conflict(sim, zenpy):
    ticket = zenpy.tickets(id=sim.add_ticket()["id"])
    sim.agent_edit(ticket.id, status="pending")
    ticket.status = "hold"
    ticket.safe_update = True
    ticket.updated_stamp = ticket.updated_at
    with pytest.raises(APIException) as caught:
        zenpy.tickets.update(ticket)
    assert caught.value.response.status_code == 409
    assert sim.ticket(ticket.id)["status"] == "pending"


def test_zenpy_cache_hides_an_agents_edit_until_bypassed(sim, zenpy):
    seeded = sim.add_ticket()
    first = zenpy.tickets(id=seeded["id"])
    sim.agent_edit(seeded["id"], status="pending")
    cached = zenpy.tickets(id=seeded["id"])
    assert len(sim.requests("GET")) == 1, "the second read never reached the API"
    assert (cached.status, cached.updated_at) == ("open", first.updated_at)
    zenpy.purge_cache("ticket")
    fresh = zenpy.tickets(id=seeded["id"])
    assert fresh.status == "pending" and fresh.updated_at > first.updated_at


def test_field_values_are_validated_by_type(sim, fields):
    ticket = sim.add_ticket()
    for field, value in ((fields["resolve_due"], "2026-11-23T17:00:00-05:00"),
                         (fields["currency"], "gbp"), (fields["bridge"], "yes")):
        response = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json",
                       json={"ticket": {"custom_fields": [{"id": field, "value": value}]}})
        assert response.status_code == 422, value
        assert response.json()["error"] == "RecordInvalid"
    ok = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"custom_fields": [
        {"id": fields["resolve_due"], "value": "2026-11-23"}, {"id": fields["bridge"], "value": True},
        {"id": 999, "value": "x"}]}})
    assert ok.status_code == 200
    assert "bridge_open" in ok.json()["ticket"]["tags"]
    assert "999" in ok.headers["X-Zendesk-Api-Warn"]


def test_custom_status_and_status_must_agree(sim):
    sim.add_custom_status("Escalated – L2", "open", status_id=7001)
    ticket = sim.add_ticket()
    clash = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json",
                json={"ticket": {"status": "pending", "custom_status_id": 7001}})
    assert clash.status_code == 422
    solved = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"status": "solved"}})
    assert solved.json()["ticket"]["custom_status_id"] == sim.default_status_ids["solved"]


def test_closed_ticket_cannot_be_updated(sim):
    ticket = sim.add_ticket(status="solved")
    sim.tickets[ticket["id"]]["status"] = "closed"
    response = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"tags": ["x"]}})
    assert response.status_code == 422


def test_tags_endpoints_add_replace_and_remove_with_safe_update(sim, zenpy):
    ticket = sim.add_ticket(tags=["vip"])
    tid = ticket["id"]
    added = raw(sim, "PUT", f"/api/v2/tickets/{tid}/tags.json", json={
        "tags": ["Escalation_Blocked"], "safe_update": True, "updated_stamp": ticket["updated_at"]})
    assert added.json() == {"tags": ["vip", "escalation_blocked"]}
    stale = raw(sim, "DELETE", f"/api/v2/tickets/{tid}/tags.json", json={
        "tags": ["escalation_blocked"], "safe_update": True, "updated_stamp": ticket["updated_at"]})
    assert stale.status_code == 409
    assert list(zenpy.tickets.delete_tags(tid, ["escalation_blocked"])) == ["vip"]
    assert list(zenpy.tickets.set_tags(tid, ["a", "b"])) == ["a", "b"]
    assert raw(sim, "GET", f"/api/v2/tickets/{tid}/tags").json() == {"tags": ["a", "b"]}
    assert [e["field_name"] for a in sim.audits(tid)[1:] for e in a["events"]] == ["tags"] * 3


# lists and search ------------------------------------------------------------------------------

def test_audits_and_comments_page_with_cursors(sim, zenpy):
    ticket = sim.add_ticket()
    for n in range(4):
        sim.add_comment(ticket["id"], f"reply {n}")
    first = raw(sim, "GET", f"/api/v2/tickets/{ticket['id']}/audits.json", params={"page[size]": 2}).json()
    assert len(first["audits"]) == 2 and first["meta"]["has_more"] is True
    second = requests.get(first["links"]["next"], auth=(f"{sim.email}/token", sim.api_token), timeout=5).json()
    third = raw(sim, "GET", f"/api/v2/tickets/{ticket['id']}/audits.json",
                params={"page[size]": 2, "page[after]": second["meta"]["after_cursor"]}).json()
    ids = [a["id"] for page in (first, second, third) for a in page["audits"]]
    assert ids == [a["id"] for a in sim.audits(ticket["id"])] and len(ids) == 5
    assert third["meta"]["has_more"] is False and third["links"]["next"] is None
    assert len(list(zenpy.tickets.audits(ticket=ticket["id"]))) == 5
    assert [c.body for c in zenpy.tickets.comments(ticket=ticket["id"])][-1] == "reply 3"
    offset = raw(sim, "GET", f"/api/v2/tickets/{ticket['id']}/comments.json").json()
    assert offset["count"] == 5 and offset["next_page"] is None


def test_search_count_counts_a_requesters_recent_tickets_in_one_call(sim, zenpy):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    dana = sim.add_user("Dana", "dana@acme.example")["id"]
    other = sim.add_user("Eli", "eli@acme.example")["id"]
    for days in (1, 3, 6, 9):
        sim.add_ticket(requester_id=dana, created_at=now - timedelta(days=days))
    sim.add_ticket(requester_id=other, created_at=now - timedelta(days=1))
    since = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = raw(sim, "GET", "/api/v2/search/count.json",
                   params={"query": f"type:ticket requester_id:{dana} created>={since}"})
    assert response.json() == {"count": 3}
    assert raw(sim, "GET", "/api/v2/search/count",
               params={"query": f"type:ticket requester:dana@acme.example"}).json() == {"count": 4}
    assert zenpy.search.count(type="ticket", requester_id=dana,
                              created_after=now - timedelta(days=7)) == 3
    assert raw(sim, "GET", "/api/v2/search/count",
               params={"query": f"type:ticket requester_id:{dana} created>8days"}).json() == {"count": 3}


def test_search_count_refuses_what_it_does_not_understand(sim):
    response = raw(sim, "GET", "/api/v2/search/count", params={"query": "type:ticket via:email"})
    assert response.status_code == 400 and "via" in response.json()["description"]


# rate limits and faults ---------------------------------------------------------------------------

def test_rate_limit_headers_count_down_and_a_real_429_follows():
    with ZendeskSimulator(rate_limit=2) as sim:
        remaining = [raw(sim, "GET", "/api/v2/users/me.json").headers["X-Rate-Limit-Remaining"] for _ in range(2)]
        limited = raw(sim, "GET", "/api/v2/users/me.json")
    assert remaining == ["1", "0"]
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-Rate-Limit"] == "2"


def test_injected_429_with_retry_after_reaches_the_client(sim):
    ticket = sim.add_ticket()
    sim.fail_next("PUT", r"/api/v2/tickets/\d+(\.json)?", 429, headers={"Retry-After": "2"},
                  body={"error": "APIRateLimitExceeded"})
    limited = raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"tags": ["x"]}})
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert "x" not in sim.ticket(ticket["id"])["tags"]
    assert raw(sim, "PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"tags": ["x"]}}).status_code == 200


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def test_a_session_hook_makes_zenpy_raise_with_retry_after_instead_of_sleeping(sim):
    def raise_on_429(response, *args, **kwargs):
        if response.status_code == 429:
            response.close()  # a hook that raises must release the connection itself
            raise RateLimited(int(response.headers.get("Retry-After", "60")))

    session = sim.zenpy_session()
    session.hooks["response"].append(raise_on_429)
    client = sim.zenpy_client(session=session)
    sim.fail_next("GET", r"/api/v2/users/me\.json", 429, headers={"Retry-After": "30"})
    started = time.monotonic()
    try:
        with pytest.raises(RateLimited) as caught:
            client.users.me()
    finally:
        session.close()
    assert caught.value.retry_after == 30 and time.monotonic() - started < 5


def test_zenpy_on_its_own_sleeps_through_retry_after_and_retries(sim, zenpy):
    sim.fail_next("GET", r"/api/v2/users/me\.json", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    assert zenpy.users.me().id == sim.api_user_id
    assert time.monotonic() - started >= 1
    assert [e.status for e in sim.requests("GET", r"/api/v2/users/me\.json")] == [429, 200]


def test_zenpy_ratelimit_budget_raises_without_the_retry_after(sim):
    client = sim.zenpy_client(ratelimit_budget=1)
    sim.fail_next("GET", r"/api/v2/users/me\.json", 429, headers={"Retry-After": "30"})
    try:
        with pytest.raises(RatelimitBudgetExceeded):
            client.users.me()
    finally:
        client.users.session.close()


# webhooks ----------------------------------------------------------------------------------------

def test_fires_a_signed_event_subscribed_webhook(sim, receiver):
    sim.add_custom_status("Escalated – L2", "open", status_id=7001)
    ticket = sim.add_ticket(priority="high")
    sim.agent_edit(ticket["id"], custom_status_id=7001)
    response = sim.fire_event(receiver.url, "s3cret", ticket["id"], "ticket.custom_status_changed",
                              {"current": "7001", "previous": str(sim.default_status_ids["open"])})
    assert response.status_code == 202
    [got] = receiver.received
    headers = {k.lower(): v for k, v in got["headers"].items()}
    expected = base64.b64encode(hmac.new(b"s3cret", headers["x-zendesk-webhook-signature-timestamp"].encode()
                                         + got["body"], hashlib.sha256).digest()).decode()
    assert headers["x-zendesk-webhook-signature"] == expected
    assert headers["x-zendesk-account-id"] == str(sim.account_id)
    body = json.loads(got["body"])
    assert body["type"] == "zen:event-type:ticket.custom_status_changed"
    assert body["subject"] == f"zen:ticket:{ticket['id']}"
    assert body["detail"]["id"] == str(ticket["id"]) and body["detail"]["status"] == "OPEN"
    assert body["detail"]["priority"] == "HIGH" and body["detail"]["custom_status"] == "7001"
    assert body["event"]["current"] == "7001"
    assert body["time"] == sim.ticket(ticket["id"])["updated_at"]
