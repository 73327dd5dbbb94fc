"""``/admin`` in a real headless Chromium over real HTTP: without the token an operator
gets only the sign-in form; with it (typed into the form, or sent as a bearer header)
the page renders the queue, escalations and dead letters, and the retry button works."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from selenium.webdriver.common.by import By

from connector.escalation.sla import SlaState, TargetState
from connector.manifest import load_manifest
from connector.simulation import LoopbackServer
from connector.store.escalations import EscalationRecord, Escalations
from tests.admin.test_admin_page import SHIPPED, TOKEN, dead_job
from tests.support.browser import click_and_wait_for_page, screenshot_colours, screenshot_size

pytestmark = pytest.mark.slow


@pytest.fixture
def site(make_app):
    app = make_app(CONNECTOR_ADMIN_TOKEN=TOKEN, MANIFEST=load_manifest(SHIPPED))
    runtime = app.extensions["connector"]
    now = datetime.now(timezone.utc)
    Escalations(runtime.store).save(EscalationRecord(
        ticket_id=4242, state="open", level="L2", tier="T3", subject="Batch 0042 paid twice",
        sla=SlaState(tier="T3", escalated_at=now - timedelta(hours=1), next_update_due_at=now + timedelta(hours=1),
                     targets=(TargetState("bridge", now - timedelta(minutes=30), now - timedelta(minutes=36)),))))
    job_id = dead_job(runtime)
    with LoopbackServer(app) as server:
        yield server.url, job_id


def text(browser) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def test_without_the_token_the_browser_gets_only_the_sign_in_form(browser, site):
    url, _ = site
    browser.get(f"{url}/admin")
    assert browser.find_element(By.ID, "token").get_attribute("type") == "password"
    assert "Dead letters" not in text(browser) and "INVALID_FIELD" not in text(browser)
    browser.find_element(By.ID, "token").send_keys("not-the-admin-token")
    click_and_wait_for_page(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").text == "That is not the admin token."
    assert "Dead letters" not in text(browser)
    assert browser.get_cookies() == []


def test_signed_in_the_page_renders_and_the_retry_button_brings_a_dead_letter_back(browser, site):
    url, job_id = site
    browser.get(f"{url}/admin")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    click_and_wait_for_page(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings[:4] == ["Queue", "Recent escalations", "Dead letters", "Manifest"]
    row = browser.find_element(By.ID, "escalation-4242")
    assert "T3" in row.text and "breached" in row.text and "Batch 0042 paid twice" in row.text
    dead = browser.find_element(By.ID, f"dead-{job_id}")
    assert "INVALID_FIELD" in dead.text
    [cookie] = browser.get_cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]

    png = browser.get_screenshot_as_png()
    assert screenshot_size(png) == tuple(browser.execute_script("return [innerWidth, innerHeight]"))
    assert screenshot_colours(png) > 50  # text, table rules and state badges, not a blank page

    click_and_wait_for_page(browser, dead.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert not browser.find_elements(By.ID, f"dead-{job_id}")
    assert "Dead letters" in text(browser)

    click_and_wait_for_page(browser, browser.find_element(By.XPATH, "//button[text()='Sign out']"))
    assert browser.find_elements(By.ID, "token")
    browser.get(f"{url}/admin")
    assert browser.find_elements(By.ID, "token") and "Dead letters" not in text(browser)


def test_a_bearer_header_shows_the_page_without_signing_in(browser, site):
    url, job_id = site
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}})
    browser.get(f"{url}/admin")
    assert browser.find_elements(By.ID, f"dead-{job_id}")
    assert not browser.find_elements(By.ID, "token") and browser.get_cookies() == []
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Bearer wrong-token-0123456789"}})
    browser.get(f"{url}/admin")
    assert browser.find_elements(By.ID, "token") and not browser.find_elements(By.ID, f"dead-{job_id}")
