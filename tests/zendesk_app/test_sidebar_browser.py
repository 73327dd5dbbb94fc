"""The ticket sidebar in a real headless Chromium, against the real connector over HTTP.

The connector (``create_app`` on a :class:`LoopbackServer`, a SQLite store, the shipped
manifest, ``CONNECTOR_APP_TOKEN``) answers the app's JSON API; a second server plays
Zendesk (``zendesk_host.py``): it serves the app's own assets with ``zaf_stub.js`` in place
of the ZAF SDK and proxies ``client.request`` to the connector, filling in the secure
token on the server as Zendesk does. Tests play the agent (pick a status, click Submit)
through ``window.__zafStub`` and read what the agent would see.
"""
from __future__ import annotations

import json
import re
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connector.app import create_app
from connector.escalation.sla import SlaState, TargetState
from connector.manifest import load_manifest
from connector.registry import Registry
from connector.simulation import LoopbackServer
from connector.store.escalations import EscalationRecord, Escalations
from connector.store.models import jira_links
from tests.support.browser import screenshot_colours
from tests.zendesk_app.zendesk_host import ZendeskHost

SHIPPED = Path(__file__).resolve().parents[2] / "manifest" / "connector.yaml"
APP_TOKEN = "sidebar-app-token-0123456789abcdef"
JIRA_URL = "https://acme.atlassian.net"
L2, PENDING_STATUS, OPEN_STATUS = 990101, 7201, 7200
TICKET = 4242
RED, GREEN = "rgba(204, 51, 64, 1)", "rgba(3, 129, 83, 1)"

TITLES = {  # the labels agents see on the ticket form
    990001: "Escalation type", 990002: "Customer ID", 990003: "Issue summary", 990004: "Timeline",
    990005: "Actions taken", 990006: "Why escalating", 990007: "Amount", 990008: "Currency",
    990009: "Transaction IDs", 990010: "Transaction status", 990011: "Violation type", 990012: "Evidence",
    990013: "Risk assessment", 990014: "Signal", 990015: "Urgent", 990016: "Urgency reason",
}
COMPLETE_FINANCIAL = {
    990001: "financial", 990002: "C-1042", 990003: "Payment batch 77 paid twice",
    990004: "Batch ran 09:00, duplicate noticed 09:40", 990005: "Paused the batch, called the bank",
    990006: "Customer's funds are double-debited", 990007: "1250.00", 990008: "usd",
    990009: "TX-778899, TX-778900", 990010: "failed", 990015: False,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def connector(tmp_path):
    app = create_app({
        "DATABASE_URL": f"sqlite:///{tmp_path}/store.db", "ZENDESK_WEBHOOK_SECRETS": "webhook-secret",
        "CONNECTOR_APP_TOKEN": APP_TOKEN, "JIRA_URL": JIRA_URL, "JIRA_EMAIL": "bot@acme.test",
        "JIRA_API_TOKEN": "jira-token", "JIRA_WEBHOOK_SECRET": "jira-secret", "TESTING": True, "MIGRATE": True,
        "MANIFEST": load_manifest(SHIPPED), "REGISTRY": Registry(),
    })
    server = LoopbackServer(app).start()
    yield server, app.extensions["connector"]
    server.stop()
    app.extensions["connector"].store.dispose()


@pytest.fixture
def host():
    zendesk = ZendeskHost({"connector_token": APP_TOKEN})
    with LoopbackServer(zendesk.app) as server:
        zendesk.url = server.url
        yield zendesk


def ticket_state(host, connector_url: str, fields: dict, *, status: int = OPEN_STATUS, time_zone="Asia/Tokyo"):
    user = {"id": 501, "name": "Ana Agent", "locale": "en-US"}
    if time_zone is not None:
        user["timeZone"] = {"name": "Osaka", "ianaName": time_zone, "offset": 540, "formattedOffset": "GMT+09:00"}
    host.state = {
        "ticket": {"id": TICKET, "status": "open", "customStatus": {"id": status}},
        "fields": {str(k): v for k, v in fields.items()},
        "currentUser": user,
        "ticketFields": [{"name": f"custom_field_{fid}", "label": label} for fid, label in TITLES.items()],
        "settings": {"connector_url": connector_url},
        "proxy": f"{host.url}/proxy",
    }


def open_sidebar(browser, host):
    browser.set_script_timeout(20)
    browser.get(f"{host.url}/app/iframe.html")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        settled = browser.execute_script(
            "var n = document.getElementById('notice');"
            "return !document.getElementById('missing').hidden || /unreachable|error/.test(n.className);")
        if settled:
            return
        time.sleep(0.05)
    raise AssertionError("the sidebar did not finish loading: " + browser.find_element("id", "sidebar").text)


def submit(browser, status: int | None = None, fields: dict | None = None) -> dict:
    """The agent picks ``status`` in the Submit menu (and edits ``fields``), then clicks it."""
    if fields:
        browser.execute_script("window.__zafStub.setFields(arguments[0])", {str(k): v for k, v in fields.items()})
    if status is not None:
        browser.execute_script("window.__zafStub.setTicket({customStatus: {id: arguments[0]}})", status)
    return browser.execute_async_script("var done = arguments[arguments.length - 1];"
                                        "window.__zafStub.save().then(done);")


def stub(browser, name: str):
    return browser.execute_script(f"return window.__zafStub.{name};")


def text(browser, element_id: str) -> str:
    return browser.find_element("id", element_id).text


# -- the save check -------------------------------------------------------------------------

def test_an_incomplete_financial_escalation_is_not_saved_and_the_message_names_every_field(browser, host, connector):
    server, _ = connector
    incomplete = {**COMPLETE_FINANCIAL, 990007: "", 990008: "XYZ", 990009: "ab"}
    ticket_state(host, server.url, incomplete)
    open_sidebar(browser, host)
    assert stub(browser, "handlerCount('ticket.save')") == 1
    assert "3 fields need attention" in text(browser, "missing")

    outcome = submit(browser, status=L2)

    assert outcome == {"saved": False, "message": (
        "Not saved: escalating to L2 needs 3 fields fixed first — "
        "Amount: is empty (needed for financial escalations); "
        'Currency: "XYZ" is not one of CAD, EUR, GBP, USD, USDT; '
        'Transaction IDs: "ab" does not look like a transaction ID.')}
    asked = [r for r in host.proxied if r["method"] == "POST"][-1]
    assert asked["url"] == f"{server.url}/api/requirements" and asked["secure"]
    assert asked["authorization"] == f"Bearer {APP_TOKEN}"
    assert asked["body"]["custom_status_id"] == L2 and asked["body"]["fields"]["990008"] == "XYZ"
    # the token stayed on the "Zendesk" side: the page only ever held the placeholder
    assert APP_TOKEN not in browser.page_source
    assert APP_TOKEN not in json.dumps(stub(browser, "requests"))
    assert {r["headers"]["Authorization"] for r in stub(browser, "requests")} == {"Bearer {{setting.connector_token}}"}
    assert stub(browser, "notifications") == []


def test_a_complete_financial_escalation_is_saved(browser, host, connector):
    server, _ = connector
    ticket_state(host, server.url, COMPLETE_FINANCIAL)
    open_sidebar(browser, host)
    assert "Everything the escalation needs is filled in." in text(browser, "missing")

    assert submit(browser, status=L2) == {"saved": True}
    assert [r["body"].get("custom_status_id") for r in host.proxied if r["method"] == "POST"] == [None, L2]
    assert stub(browser, "notifications") == []


def test_fixing_the_fields_lets_the_same_ticket_save(browser, host, connector):
    server, _ = connector
    ticket_state(host, server.url, {**COMPLETE_FINANCIAL, 990007: "-5"})
    open_sidebar(browser, host)
    first = submit(browser, status=L2)
    assert first["saved"] is False and 'Amount: "-5" is too small — it must be at least 0.01' in first["message"]
    assert submit(browser, fields={990007: "5.00"}) == {"saved": True}


def test_a_save_that_enters_no_level_asks_the_connector_nothing(browser, host, connector):
    server, _ = connector
    ticket_state(host, server.url, {990001: "financial"})  # far from complete
    open_sidebar(browser, host)
    before = len(host.proxied)
    assert submit(browser, status=PENDING_STATUS) == {"saved": True}
    assert host.proxied[before:] == []


def test_when_the_connector_is_down_the_save_goes_ahead_and_the_agent_is_told(browser, host, connector):
    server, _ = connector
    ticket_state(host, server.url, {990001: "financial"})
    open_sidebar(browser, host)
    server.stop()

    assert submit(browser, status=L2) == {"saved": True}

    [notification] = stub(browser, "notifications")
    assert notification["kind"] == "alert" and notification["options"] == {"sticky": True}
    assert notification["message"].startswith(
        "Saved without the escalation check: the escalation connector could not be reached (502")
    assert "turns it back with a note if anything is missing" in notification["message"]
    notice = browser.find_element("id", "notice")
    assert "unreachable" in notice.get_attribute("class") and notice.text == notification["message"]


def test_a_connector_that_does_not_answer_within_five_seconds_does_not_hold_the_save(browser, host, connector):
    server, _ = connector
    ticket_state(host, server.url, {990001: "financial"})
    open_sidebar(browser, host)
    host.delay = 8
    started = time.monotonic()
    outcome = submit(browser, status=L2)
    waited = time.monotonic() - started
    assert outcome == {"saved": True}
    assert 4.5 < waited < 7.5
    [notification] = stub(browser, "notifications")
    assert "the escalation connector did not answer within 5 s" in notification["message"]


def test_a_connector_unreachable_from_the_start_is_shown_and_a_status_change_is_saved_with_a_warning(browser, host):
    ticket_state(host, f"http://127.0.0.1:{_free_port()}", {})
    open_sidebar(browser, host)
    notice = browser.find_element("id", "notice")
    assert "unreachable" in notice.get_attribute("class")
    assert notice.text.startswith("The escalation connector could not be reached (502: the proxy could not reach")
    assert notice.text.endswith("Saving still works; the connector checks escalations when it receives them.")
    assert browser.find_element("id", "retry").is_displayed()

    assert submit(browser, status=L2) == {"saved": True}
    [notification] = stub(browser, "notifications")
    assert notification["kind"] == "alert" and "Saved without the escalation check" in notification["message"]


# -- what the sidebar shows --------------------------------------------------------------------

def _escalate(runtime, now: datetime) -> None:
    escalations = Escalations(runtime.store)
    sla = SlaState(tier="T3", escalated_at=now - timedelta(minutes=40), targets=(
        TargetState("bridge", now - timedelta(minutes=10), now - timedelta(minutes=16)),
        TargetState("rca", now + timedelta(seconds=3), now + timedelta(seconds=1), start_from="resolved"),
        TargetState("pir", now + timedelta(hours=2, minutes=30), now + timedelta(hours=2)),
    ), next_update_due_at=now + timedelta(minutes=1, seconds=15))
    escalations.save(EscalationRecord(ticket_id=TICKET, state="open", level="L2", tier="T3", sla=sla,
                                      rules=("Duplicate payment confirmed",), organization_id=77,
                                      subject="Payment batch 77 paid twice", escalated_at=now - timedelta(minutes=40)))
    escalations.save(EscalationRecord(ticket_id=4100, state="resolved", level="CIO", tier="T2", organization_id=77,
                                      resolution="resolved", subject="Payment file rejected"))
    escalations.save(EscalationRecord(ticket_id=3900, state="open", level="L2", tier="T1", organization_id=78,
                                      subject="Another customer's ticket"))
    with runtime.store.begin() as conn:
        conn.execute(jira_links.insert().values(ticket_id=TICKET, issue_key="PAY-17", status="In Progress",
                                                created_by_connector=1, created_at=now, updated_at=now))


def test_tier_countdowns_jira_and_recent_escalations_in_the_agents_time_zone(browser, host, connector):
    server, runtime = connector
    now = datetime.now(timezone.utc)
    _escalate(runtime, now)
    ticket_state(host, server.url, COMPLETE_FINANCIAL, status=L2)
    open_sidebar(browser, host)

    assert text(browser, "level") == "L2"
    assert text(browser, "tier") == "T3 · Compliance or financial exposure"
    assert text(browser, "tier-why") == "Why: Duplicate payment confirmed"
    assert text(browser, "timezone") == "Times in Asia/Tokyo"
    title = browser.find_element("id", "missing-title").get_attribute("textContent")
    assert title == "Escalation record for L2" and "Everything the escalation needs" in text(browser, "missing")

    def row(name):
        return browser.find_element("css selector", f'#targets li[data-target="{name}"]')

    bridge = row("bridge")
    assert "sla-breached" in bridge.get_attribute("class")
    assert re.fullmatch(r"overdue by 10 min \d\d s", bridge.find_element("class name", "countdown").text)
    assert bridge.find_element("class name", "countdown").value_of_css_property("color") == RED
    tokyo_due = (now - timedelta(minutes=10)).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    assert tokyo_due in bridge.find_element("class name", "due").text

    pir = row("pir")
    assert "sla-on_track" in pir.get_attribute("class")
    assert re.fullmatch(r"in 2 h (29|30) min", pir.find_element("class name", "countdown").text)
    assert pir.find_element("class name", "countdown").value_of_css_property("color") == GREEN

    # live: the next update counts down second by second, and rca turns red once due
    update = row("next_update").find_element("class name", "countdown")
    first = update.text
    assert re.fullmatch(r"in 1 min \d\d s", first)
    time.sleep(3.5)
    assert update.text != first
    rca = row("rca")
    assert "sla-breached" in rca.get_attribute("class")
    assert rca.find_element("class name", "countdown").text.startswith("overdue by ")
    assert rca.find_element("class name", "countdown").value_of_css_property("color") == RED

    jira = browser.find_element("css selector", "#jira-list a.jira-key")
    assert jira.text == "PAY-17" and jira.get_attribute("href") == f"{JIRA_URL}/browse/PAY-17"
    assert "In Progress" in text(browser, "jira-list")
    recent = text(browser, "recent-list")
    assert "#4100 T2 · CIO · resolved" in recent and "Payment file rejected" in recent
    assert "#3900" not in recent and f"#{TICKET}" not in recent
    browser.find_element("css selector", "#recent-list a.ticket").click()
    assert {"name": "routeTo", "args": ["ticket", 4100]} in stub(browser, "invocations")

    resized = [i["args"][0] for i in stub(browser, "invocations") if i["name"] == "resize"]
    assert resized and int(resized[-1]["height"].rstrip("px")) > 200
    colours = screenshot_colours(browser.get_screenshot_as_png())
    assert colours > 100, f"the rendered sidebar has only {colours} colours"


def test_a_ticket_never_escalated_says_so_and_lists_what_is_missing(browser, host, connector):
    server, _ = connector
    ticket_state(host, server.url, {990001: "compliance"}, time_zone=None)
    open_sidebar(browser, host)
    assert text(browser, "notice") == "Not escalated yet."
    assert not browser.find_element("id", "sla").is_displayed()
    assert browser.find_element("id", "missing-title").get_attribute("textContent") == "Before escalating to L2"
    missing = text(browser, "missing")
    assert "Evidence: is empty (needed for compliance escalations)" in missing
    assert "Customer ID: is empty" in missing


def test_without_the_agents_time_zone_the_browsers_is_used(browser, host, connector):
    server, runtime = connector
    _escalate(runtime, datetime.now(timezone.utc))
    ticket_state(host, server.url, COMPLETE_FINANCIAL, status=L2, time_zone="Not/AZone")
    open_sidebar(browser, host)
    own = browser.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert text(browser, "timezone") == f"Times in {own}"
