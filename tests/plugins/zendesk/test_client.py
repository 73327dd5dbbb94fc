"""The Zendesk client's requests and failure handling, against ``responses``.

Every request shape the handlers rely on is pinned here: method, path, query, body
(``safe_update`` + ``updated_stamp``), credentials for OAuth and for API tokens, timeouts.
The contract tests at the end check every request against the vendor's OpenAPI document
in ``../shared/reference`` (skipped, with the reason, when it is absent).
"""
from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import yaml

from connector.config import ZendeskSettings
from connector.escalation.ticket import TicketSnapshot
from connector.http import TransientHTTPError
from connector.manifest.model import FieldRef
from connector.pipeline.retry import PermanentError, RetryLater
from plugins.zendesk.client import (
    UpdateConflict,
    ZendeskClient,
    ZendeskNotFound,
    build_snapshot,
    requester_tickets_query,
)

BASE = "https://acme.zendesk.com"
OAUTH = "oauth-abc-123"
EMAIL = "connector@acme.example"
TOKEN = "api-token-xyz"
TICKET = 4242
STAMP = "2026-11-23T14:00:00Z"
REFERENCE = Path(__file__).resolve().parents[3].parent / "shared" / "reference"
ZENDESK_OAS = REFERENCE / "zendesk-support-oas.yaml"


def settings(*, oauth: bool = True, subdomain: str | None = "acme", url: str | None = None) -> ZendeskSettings:
    return ZendeskSettings(subdomain=subdomain, base_url=url,
                           email=None if oauth else EMAIL, api_token=None if oauth else TOKEN,
                           oauth_token=OAUTH if oauth else None, webhook_secrets=())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(clock):
    c = ZendeskClient(settings(), timeout=7.5, clock=clock)
    yield c
    c.close()


def ticket_json(**overrides) -> dict:
    ticket = {
        "id": TICKET, "url": f"{BASE}/api/v2/tickets/{TICKET}.json", "subject": "Refund twice",
        "status": "open", "custom_status_id": 7001, "requester_id": 91, "organization_id": 55,
        "created_at": "2026-11-20T09:00:00Z", "updated_at": STAMP,
        "tags": ["vip", "usd"],
        "custom_fields": [{"id": 360001, "value": "financial"}, {"id": 360007, "value": "12500.00"},
                          {"id": 360015, "value": True}, {"id": 360030, "value": None}],
    }
    ticket.update(overrides)
    return ticket


def fields_json() -> dict:
    return {"ticket_fields": [
        {"id": 360001, "type": "tagger", "title": "Escalation type"},
        {"id": 360007, "type": "decimal", "title": "Amount"},
        {"id": 360015, "type": "checkbox", "title": "Urgent"},
        {"id": 360030, "type": "text", "title": "Tier"},
    ], "next_page": None, "previous_page": None, "count": 4}


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


# construction and credentials ------------------------------------------------------------

def test_oauth_bearer_is_sent_on_zenpy_and_raw_calls_with_the_timeout(rsps, client):
    rsps.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 77, "name": "Connector"}})
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    client.me()
    client.get_ticket(TICKET)
    assert [c.request.headers["Authorization"] for c in rsps.calls] == [f"Bearer {OAUTH}"] * 2
    assert [c.request.req_kwargs["timeout"] for c in rsps.calls] == [7.5, 7.5]


def test_email_and_api_token_are_sent_as_basic_auth_on_zenpy_and_raw_calls(rsps):
    rsps.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 77}})
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    with ZendeskClient(settings(oauth=False)) as client:
        client.me()
        client.get_ticket(TICKET)
    expected = basic(f"{EMAIL}/token", TOKEN)
    assert [c.request.headers["Authorization"] for c in rsps.calls] == [expected] * 2


@pytest.mark.parametrize("subdomain", [None, "acme"])
def test_zendesk_url_override_reaches_zenpy_and_raw_calls(rsps, subdomain):
    local = "http://127.0.0.1:8801"
    rsps.get(f"{local}/api/v2/users/me.json", json={"user": {"id": 77}})
    rsps.get(f"{local}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    with ZendeskClient(settings(subdomain=subdomain, url=local + "/")) as client:
        assert client.own_user_id == 77
        assert client.get_ticket(TICKET)["id"] == TICKET
        assert client.agent_url(TICKET) == f"{local}/agent/tickets/{TICKET}"
    assert [urlsplit(c.request.url).netloc for c in rsps.calls] == ["127.0.0.1:8801"] * 2


def test_zenpy_is_pointed_at_an_unresolvable_placeholder_when_the_url_is_overridden():
    with ZendeskClient(settings(subdomain="acme", url="http://127.0.0.1:8801")) as client:
        assert client.zenpy.users.base_url == "acme.zendesk.invalid"
    with ZendeskClient(settings()) as client:
        assert client.zenpy.users.base_url == "acme.zendesk.com"


def test_construction_refuses_what_cannot_work():
    with pytest.raises(ValueError, match="credentials missing"):
        ZendeskClient(ZendeskSettings("acme", None, EMAIL, None, None, ()))
    with pytest.raises(ValueError, match="not configured"):
        ZendeskClient(ZendeskSettings(None, None, None, None, OAUTH, ()))
    with pytest.raises(ValueError, match="plain http on a non-loopback host"):
        ZendeskClient(settings(url="http://zendesk.internal.example"))
    ZendeskClient(settings(url="http://zendesk.internal.example"), allow_insecure_http=True).close()
    ZendeskClient(settings(url="http://localhost:8801")).close()


def test_an_injected_session_is_used_and_instrumented(rsps):
    session = requests.Session()
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", status=429, headers={"Retry-After": "3"})
    client = ZendeskClient(settings(), session=session)
    assert client.session is session and client.zenpy.users.session is session
    assert session.headers["Authorization"] == f"Bearer {OAUTH}"
    with pytest.raises(RetryLater):
        client.get_ticket(TICKET)


# reads ---------------------------------------------------------------------------------

def test_get_ticket_reads_fresh_every_time(rsps, client):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json(updated_at="2026-11-23T14:05:00Z")})
    assert client.get_ticket(TICKET)["updated_at"] == STAMP
    assert client.get_ticket(TICKET)["updated_at"] == "2026-11-23T14:05:00Z"
    assert len(rsps.calls) == 2


def test_me_is_read_once_per_client(rsps, client):
    rsps.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 77, "name": "Connector", "role": "admin"}})
    assert client.me()["name"] == "Connector"
    client.me()["name"] = "changed by a caller"
    assert client.own_user_id == 77 and client.me()["name"] == "Connector"
    assert len(rsps.calls) == 1


def test_ticket_fields_are_cached_for_ten_minutes(rsps, client, clock):
    rsps.get(f"{BASE}/api/v2/ticket_fields.json", json=fields_json())
    rsps.get(f"{BASE}/api/v2/ticket_fields.json", json=fields_json())
    assert client.ticket_fields()[360030]["title"] == "Tier"
    clock.now += 599
    client.ticket_fields()
    assert len(rsps.calls) == 1
    clock.now += 2
    assert client.ticket_fields()[360001]["type"] == "tagger"
    assert len(rsps.calls) == 2


def test_custom_statuses_are_cached(rsps, client, clock):
    body = {"custom_statuses": [{"id": 7001, "agent_label": "Escalated – L2", "status_category": "open",
                                 "active": True}]}
    rsps.get(f"{BASE}/api/v2/custom_statuses.json", json=body)
    assert client.custom_statuses()[7001]["agent_label"] == "Escalated – L2"
    clock.now += 300
    assert client.custom_statuses()[7001]["status_category"] == "open"
    assert len(rsps.calls) == 1


def test_organizations_are_cached_briefly_per_id(rsps, client, clock):
    for org_id, external in ((55, "001ACME"), (56, "001BETA"), (55, "001ACME-NEW")):
        rsps.get(f"{BASE}/api/v2/organizations/{org_id}.json",
                 json={"organization": {"id": org_id, "external_id": external, "tags": ["vip"]}})
    assert client.organization(55)["external_id"] == "001ACME"
    assert client.organization(56)["external_id"] == "001BETA"
    assert client.organization(55)["tags"] == ["vip"]
    assert len(rsps.calls) == 2
    clock.now += 61
    assert client.organization(55)["external_id"] == "001ACME-NEW"
    assert len(rsps.calls) == 3


# snapshot ------------------------------------------------------------------------------

FIELDS = {"escalation_type": FieldRef(360001), "amount": FieldRef(360007, "text"),
          "urgent": FieldRef(360015), "tier": FieldRef(360030), "signal": FieldRef(360014)}


def test_snapshot_translates_field_ids_to_logical_names_with_titles(rsps, client):
    rsps.get(f"{BASE}/api/v2/ticket_fields.json", json=fields_json())
    organization = {"id": 55, "external_id": "001ACME", "tags": ["strategic", "emea"]}
    snap = client.snapshot(ticket_json(status="HOLD", updated_at="2026-11-23T09:00:00-05:00"), FIELDS,
                           organization)
    assert isinstance(snap, TicketSnapshot)
    assert snap.fields == {"escalation_type": "financial", "amount": "12500.00", "urgent": True,
                           "tier": None, "signal": None}
    assert snap.field_titles == {"escalation_type": "Escalation type", "amount": "Amount",
                                 "urgent": "Urgent", "tier": "Tier"}
    assert snap.title("signal") == "Signal"
    assert snap.status == "hold"
    assert snap.updated_at == datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
    assert snap.updated_at.utcoffset() == timedelta(0)
    assert snap.tags == frozenset({"vip", "usd"}) and snap.organization_tags == frozenset({"strategic", "emea"})
    assert (snap.id, snap.custom_status_id, snap.requester_id, snap.organization_id) == (TICKET, 7001, 91, 55)
    assert snap.created_at == datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    client.snapshot(ticket_json(), FIELDS)  # titles come from the cache
    assert len(rsps.calls) == 1


def test_build_snapshot_takes_string_ids_and_refuses_another_organization():
    raw = ticket_json(custom_fields=[{"id": "360030", "value": "T2"}], organization_id=None, tags=[])
    snap = build_snapshot(raw, {"tier": 360030})
    assert snap.fields == {"tier": "T2"} and snap.organization_id is None and snap.field_titles == {}
    with pytest.raises(ValueError, match="not ticket 4242's organization"):
        build_snapshot(ticket_json(), FIELDS, organization={"id": 99, "tags": []})


# the write -----------------------------------------------------------------------------

def test_update_is_one_put_with_safe_update_stamp_fields_status_tags_and_internal_note(rsps, client):
    updated = ticket_json(updated_at="2026-11-23T14:00:07Z", tags=["vip", "usd", "escalated"])
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": updated, "audit": {"id": 1}})
    result = client.update_ticket(
        TICKET, updated_stamp=datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=-5))),
        custom_fields={360030: "T3", 360031: "L2"}, custom_status_id=7001, status="OPEN",
        tags_add=["Escalated"], tags_remove=["escalation_blocked"], current_tags=["vip", "usd", "escalation_blocked"],
        comment={"body": "Tier T3: open the bridge."})
    assert result["updated_at"] == "2026-11-23T14:00:07Z"
    (call,) = rsps.calls
    assert call.request.method == "PUT" and call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {"ticket": {
        "custom_fields": [{"id": 360030, "value": "T3"}, {"id": 360031, "value": "L2"}],
        "custom_status_id": 7001, "status": "open",
        "tags": ["vip", "usd", "escalated"],
        "comment": {"body": "Tier T3: open the bridge.", "public": False},
        "safe_update": True, "updated_stamp": "2026-11-23T14:00:00Z",
    }}
    assert call.request.req_kwargs["timeout"] == 7.5


def test_update_sends_no_tags_when_the_tag_changes_change_nothing(rsps, client):
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    client.update_ticket(TICKET, updated_stamp=STAMP, custom_fields={360030: "T1"},
                         tags_add=["vip"], tags_remove=["escalation_blocked"], current_tags=frozenset({"vip"}))
    sent = json.loads(rsps.calls[0].request.body)["ticket"]
    assert "tags" not in sent and sent["updated_stamp"] == STAMP


def test_update_with_a_public_comment_given_as_text_or_marked_public(rsps, client):
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    client.update_ticket(TICKET, updated_stamp=STAMP, comment="internal by default")
    client.update_ticket(TICKET, updated_stamp=STAMP, comment={"body": "Hello", "public": True})
    comments = [json.loads(c.request.body)["ticket"]["comment"] for c in rsps.calls]
    assert comments == [{"body": "internal by default", "public": False}, {"body": "Hello", "public": True}]


def test_update_with_nothing_to_change_reads_the_ticket_instead(rsps, client):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json(updated_at="2026-11-23T15:00:00Z")})
    result = client.update_ticket(TICKET, updated_stamp=STAMP, tags_add=["vip"], current_tags=["vip"])
    assert result["updated_at"] == "2026-11-23T15:00:00Z"
    assert [c.request.method for c in rsps.calls] == ["GET"]


def test_update_refuses_ambiguous_arguments_without_calling(rsps, client):
    with pytest.raises(ValueError, match="current_tags"):
        client.update_ticket(TICKET, updated_stamp=STAMP, tags_add=["x"])
    with pytest.raises(ValueError, match="both added and removed"):
        client.update_ticket(TICKET, updated_stamp=STAMP, tags_add=["x"], tags_remove=["X"], current_tags=[])
    with pytest.raises(ValueError, match="naive"):
        client.update_ticket(TICKET, updated_stamp=datetime(2026, 11, 23, 14), custom_fields={1: "x"})
    with pytest.raises(ValueError, match="unknown comment keys"):
        client.update_ticket(TICKET, updated_stamp=STAMP, comment={"body": "x", "internal": True})
    assert len(rsps.calls) == 0


def test_a_409_is_an_update_conflict(rsps, client):
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", status=409,
             json={"error": "UpdateConflict", "description": "Safe Update prevented the update"})
    with pytest.raises(UpdateConflict) as caught:
        client.update_ticket(TICKET, updated_stamp=STAMP, custom_fields={360030: "T3"})
    assert caught.value.ticket_id == TICKET and caught.value.updated_stamp == STAMP
    assert isinstance(caught.value, TransientHTTPError)
    assert f"ticket {TICKET}" in str(caught.value)


# failures ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, call", [
    ("GET", f"/api/v2/tickets/{TICKET}.json", lambda c: c.get_ticket(TICKET)),
    ("PUT", f"/api/v2/tickets/{TICKET}.json",
     lambda c: c.update_ticket(TICKET, updated_stamp=STAMP, custom_fields={1: "x"})),
    ("GET", "/api/v2/users/me.json", lambda c: c.me()),
    ("GET", "/api/v2/organizations/55.json", lambda c: c.organization(55)),
    ("GET", "/api/v2/search/count.json",
     lambda c: c.count_requester_tickets(91, datetime(2026, 11, 1, tzinfo=timezone.utc),
                                         datetime(2026, 11, 8, tzinfo=timezone.utc))),
], ids=["ticket", "update", "zenpy-me", "zenpy-organization", "search"])
def test_a_429_raises_retry_later_at_once_without_sleeping_or_retrying(rsps, client, method, path, call):
    rsps.add(method, BASE + path, status=429, headers={"Retry-After": "30"},
             json={"error": "APIRateLimitExceeded"})
    started = time.monotonic()
    with pytest.raises(RetryLater) as caught:
        call(client)
    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == 30
    assert len(rsps.calls) == 1


def test_a_503_with_retry_after_is_a_rate_limit_too(rsps, client):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", status=503, headers={"Retry-After": "12"})
    with pytest.raises(RetryLater) as caught:
        client.get_ticket(TICKET)
    assert caught.value.retry_after == 12


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient_for_raw_and_zenpy_calls(rsps, client, status):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", status=status, body="upstream trouble")
    rsps.get(f"{BASE}/api/v2/custom_statuses.json", status=status, json={"error": "InternalError"})
    with pytest.raises(TransientHTTPError, match=f"{status}.*ticket {TICKET}"):
        client.get_ticket(TICKET)
    with pytest.raises(TransientHTTPError, match="custom statuses"):
        client.custom_statuses()


def test_timeouts_and_connection_errors_are_transient(rsps, client):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(f"{BASE}/api/v2/users/me.json", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(TransientHTTPError, match="did not answer reading ticket"):
        client.get_ticket(TICKET)
    with pytest.raises(TransientHTTPError, match="did not answer"):
        client.me()


def test_a_404_names_the_missing_record(rsps, client):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", status=404,
             json={"error": "RecordNotFound", "description": "Not found"})
    rsps.get(f"{BASE}/api/v2/organizations/55.json", status=404,
             json={"error": "RecordNotFound", "description": "Not found"})
    with pytest.raises(ZendeskNotFound, match=f"ticket {TICKET}: RecordNotFound"):
        client.get_ticket(TICKET)
    with pytest.raises(ZendeskNotFound, match="organization 55"):
        client.organization(55)


def test_a_422_names_the_ticket_and_the_field_zendesk_complains_about(rsps, client):
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", status=422, json={
        "error": "RecordInvalid", "description": "Record validation errors",
        "details": {"base": [{"description": "Tier: 4111 1111 1111 1111 is not one of the options",
                              "error": "InvalidValue", "field_key": 360030}]}})
    with pytest.raises(PermanentError) as caught:
        client.update_ticket(TICKET, updated_stamp=STAMP, custom_fields={360030: "4111 1111 1111 1111"})
    message = str(caught.value)
    assert f"updating ticket {TICKET} (fields 360030)" in message
    assert "RecordInvalid" in message and "(field 360030)" in message
    assert "4111 1111 1111 1111" not in message and "1111" in message
    assert not isinstance(caught.value, ZendeskNotFound)


def test_bad_credentials_say_which_settings_to_check(rsps, client):
    rsps.get(f"{BASE}/api/v2/users/me.json", status=401, json={"error": "Couldn't authenticate you"})
    with pytest.raises(PermanentError, match="ZENDESK_OAUTH_TOKEN"):
        client.me()


def test_an_unreadable_success_body_is_transient(rsps, client):
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", body="<html>maintenance</html>")
    with pytest.raises(TransientHTTPError, match="not the expected JSON"):
        client.get_ticket(TICKET)


# search count --------------------------------------------------------------------------

def test_count_requester_tickets_is_one_search_count_call(rsps, client):
    rsps.get(f"{BASE}/api/v2/search/count.json", json={"count": 3})
    since = datetime(2026, 11, 16, 9, 30, 15, 999, tzinfo=timezone(timedelta(hours=-5)))
    assert client.count_requester_tickets(91, since, since + timedelta(days=7)) == 3
    (call,) = rsps.calls
    assert urlsplit(call.request.url).path == "/api/v2/search/count.json"
    assert query_of(call) == {"query": [
        "type:ticket requester:91 created>=2026-11-16T14:30:15Z created<=2026-11-23T14:30:15Z"]}


def test_the_search_window_must_be_aware_and_ordered():
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="aware"):
        requester_tickets_query(1, datetime(2026, 11, 1), now)
    with pytest.raises(ValueError, match="after"):
        requester_tickets_query(1, now, now - timedelta(days=1))


# comments ------------------------------------------------------------------------------

def comment(cid: int, author: int, body: str, *, public: bool = True, minute: int = 0) -> dict:
    return {"id": cid, "type": "Comment", "author_id": author, "body": body, "plain_body": body,
            "html_body": f"<p>{body}</p>", "public": public,
            "created_at": f"2026-11-23T10:{minute:02d}:00Z"}


def page(comments: list[dict], after: str | None = None) -> dict:
    return {"comments": comments, "meta": {"has_more": after is not None, "after_cursor": after,
                                           "before_cursor": None}}


COMMENTS_URL = f"{BASE}/api/v2/tickets/{TICKET}/comments.json"


def test_latest_requester_comment_reads_newest_first_skipping_notes_and_agents(rsps, client):
    rsps.get(COMMENTS_URL, json=page([comment(9, 500, "Agent reply", minute=9),
                                      comment(8, 91, "private?", public=False, minute=8)], after="c1"))
    rsps.get(COMMENTS_URL, json=page([comment(7, 91, "My card 4111-1111-1111-1111 was charged twice, "
                                                     "my lawyer will call", minute=7),
                                      comment(3, 91, "older", minute=3)]))
    text = client.latest_requester_comment(TICKET, 91)
    assert text == "My card ****-****-****-1111 was charged twice, my lawyer will call"
    first, second = (query_of(c) for c in rsps.calls)
    assert first == {"page[size]": ["100"], "sort": ["-created_at"]}
    assert second == {"page[size]": ["100"], "sort": ["-created_at"], "page[after]": ["c1"]}


def test_a_page_served_oldest_first_is_still_read_newest_first(rsps, client):
    rsps.get(COMMENTS_URL, json=page([comment(1, 91, "first", minute=1), comment(2, 91, "second", minute=2)]))
    assert client.latest_requester_comment(TICKET, 91) == "second"


def test_no_requester_comment_is_none(rsps, client):
    rsps.get(COMMENTS_URL, json=page([comment(1, 500, "agent only")]))
    assert client.latest_requester_comment(TICKET, 91) is None


def test_marker_search_stops_at_the_first_match(rsps, client):
    marker = "[connector:esc:4242:evt-9]"
    rsps.get(COMMENTS_URL, json=page([comment(9, 77, f"Escalation incomplete\n{marker}", public=False, minute=9),
                                      comment(8, 91, "hello", minute=8)], after="more"))
    found = client.find_comment_with_marker(TICKET, marker)
    assert found is not None and found["id"] == 9
    assert len(rsps.calls) == 1


def test_marker_search_reads_every_page_before_saying_no(rsps, client):
    rsps.get(COMMENTS_URL, json=page([comment(9, 77, "a note", public=False)], after="p2"))
    rsps.get(COMMENTS_URL, json=page([comment(3, 91, "hello")]))
    assert client.find_comment_with_marker(TICKET, "[connector:esc:4242:evt-9]") is None
    assert len(rsps.calls) == 2


def test_marker_search_with_since_stops_at_older_comments(rsps, client):
    rsps.get(COMMENTS_URL, json=page([comment(9, 77, "new note", minute=30), comment(8, 91, "old", minute=5)],
                                     after="p2"))
    since = datetime(2026, 11, 23, 10, 20, tzinfo=timezone.utc)
    assert client.find_comment_with_marker(TICKET, "[mark]", since=since) is None
    assert len(rsps.calls) == 1
    with pytest.raises(ValueError):
        client.find_comment_with_marker(TICKET, "")


# contract: every request exists in Zendesk's OpenAPI document --------------------------------

def _normalise(path: str) -> str:
    path = re.sub(r"\{[^}]+\}", "{}", path.removesuffix(".json"))
    return re.sub(r"/\d+(?=/|$)", "/{}", path)


@lru_cache(maxsize=None)
def _oas() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with ZENDESK_OAS.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)


def _require_oas() -> dict:
    if not ZENDESK_OAS.exists():
        pytest.skip(f"{ZENDESK_OAS} is absent: Zendesk's OpenAPI document lives in ../shared/reference "
                    "next to the project; without it the requests cannot be checked against the real API")
    return _oas()


def _operations(oas: dict) -> set[tuple[str, str]]:
    return {(method.upper(), _normalise(path)) for path, item in oas["paths"].items()
            for method in item if method in {"get", "put", "post", "delete", "patch"}}


def _exercise_every_method(rsps, client) -> None:
    """Call every public method once, so every request shape the client has is recorded."""
    rsps.get(f"{BASE}/api/v2/users/me.json", json={"user": {"id": 77}})
    rsps.get(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    rsps.get(f"{BASE}/api/v2/ticket_fields.json", json=fields_json())
    rsps.get(f"{BASE}/api/v2/custom_statuses.json", json={"custom_statuses": []})
    rsps.get(f"{BASE}/api/v2/organizations/55.json", json={"organization": {"id": 55, "tags": []}})
    rsps.put(f"{BASE}/api/v2/tickets/{TICKET}.json", json={"ticket": ticket_json()})
    rsps.get(f"{BASE}/api/v2/search/count.json", json={"count": 0})
    rsps.get(COMMENTS_URL, json=page([comment(1, 91, "hi")]))
    rsps.get(COMMENTS_URL, json=page([comment(1, 91, "hi")]))
    client.me()
    raw = client.get_ticket(TICKET)
    client.snapshot(raw, FIELDS, client.organization(55))
    client.custom_statuses()
    client.update_ticket(TICKET, updated_stamp=raw["updated_at"], custom_fields={360030: "T3"},
                         custom_status_id=7001, status="open", tags_add=["escalated"], current_tags=raw["tags"],
                         comment={"body": "note", "public": False, "author_id": 77})
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    client.count_requester_tickets(91, now - timedelta(days=7), now)
    client.latest_requester_comment(TICKET, 91)
    client.find_comment_with_marker(TICKET, "[mark]")


def test_every_request_the_client_sends_is_an_operation_of_the_zendesk_api(rsps, client):
    oas = _require_oas()
    _exercise_every_method(rsps, client)
    sent = {(c.request.method, _normalise(urlsplit(c.request.url).path)) for c in rsps.calls}
    assert sent == {("GET", "/api/v2/users/me"), ("GET", "/api/v2/tickets/{}"), ("PUT", "/api/v2/tickets/{}"),
                    ("GET", "/api/v2/ticket_fields"), ("GET", "/api/v2/custom_statuses"),
                    ("GET", "/api/v2/organizations/{}"), ("GET", "/api/v2/search/count"),
                    ("GET", "/api/v2/tickets/{}/comments")}
    missing = sorted(sent - _operations(oas))
    assert missing == [], f"the client sends requests the Zendesk API does not have: {missing}"


def test_the_ticket_update_body_uses_only_properties_the_api_declares(rsps, client):
    oas = _require_oas()
    _exercise_every_method(rsps, client)
    schemas = oas["components"]["schemas"]
    request_schema = oas["paths"]["/api/v2/tickets/{ticket_id}"]["put"]["requestBody"]["content"][
        "application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    ticket_schema = schemas[request_schema]["properties"]["ticket"]["$ref"].rsplit("/", 1)[-1]
    declared = set(schemas[ticket_schema]["properties"])
    (put,) = [c for c in rsps.calls if c.request.method == "PUT"]
    body = json.loads(put.request.body)
    assert set(body) == {"ticket"}
    sent = body["ticket"]
    assert {"safe_update", "updated_stamp", "tags", "custom_fields", "comment"} <= set(sent)
    assert sorted(set(sent) - declared) == [], "additional_tags/remove_tags and friends are not in the reference"
    comment_schema = schemas[ticket_schema]["properties"]["comment"]["$ref"].rsplit("/", 1)[-1]
    assert set(sent["comment"]) <= set(schemas[comment_schema]["properties"])
    # The reference types custom_fields items with the ticket-field *definition* schema,
    # which has `id` but not `value`; the API's documented item shape is {id, value}.
    item_schema = schemas[ticket_schema]["properties"]["custom_fields"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert "id" in schemas[item_schema]["properties"]
    assert all(set(item) == {"id", "value"} for item in sent["custom_fields"])


def test_the_query_parameters_are_the_ones_the_reference_documents(rsps, client):
    oas = _require_oas()
    _exercise_every_method(rsps, client)
    count = oas["paths"]["/api/v2/search/count"]["get"]
    assert "query" in {p["name"] for p in count["parameters"]}
    comments_doc = oas["paths"]["/api/v2/tickets/{ticket_id}/comments"]["get"]["description"]
    assert "`sort`" in comments_doc and '"-created_at"' in comments_doc and "Cursor pagination" in comments_doc
    used = {name for c in rsps.calls for name in query_of(c)}
    assert used == {"query", "page[size]", "sort"}
