"""``/admin``: who may see it (bearer token or a signed session cookie from the sign-in
form), what it shows (queue, recent escalations with tier and SLA, dead letters, the
manifest), and the retry button (POST with a CSRF token, audited)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connector.escalation.sla import SlaState, TargetState
from connector.manifest import load_manifest
from connector.pipeline.retry import PermanentError
from connector.store.escalations import EscalationRecord, Escalations
from tests.support.clock import FakeClock

TOKEN = "admin-token-for-the-tests-0123456789"
SHIPPED = Path(__file__).resolve().parents[2] / "manifest" / "connector.yaml"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def admin_app(make_app):
    app = make_app(CONNECTOR_ADMIN_TOKEN=TOKEN, MANIFEST=load_manifest(SHIPPED))
    app.extensions["connector"].queue.clock = FakeClock(NOW)
    return app


@pytest.fixture
def http(admin_app):
    return admin_app.test_client()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_in(http):
    response = http.post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin")
    return response


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def dead_job(runtime, lane: str = "zendesk:ticket:77", error: str = "Escalation__c.Tier__c: INVALID_FIELD") -> int:
    queue = runtime.queue
    job_id = queue.enqueue(lane, "salesforce.mirror", {"ticket_id": 77}, "corr-77")
    job = queue.claim("w1")
    assert job is not None and job.id == job_id
    queue.fail(job, "w1", PermanentError(error))
    return job_id


# -- who may see it -------------------------------------------------------------------------------

def test_without_an_admin_token_configured_there_is_no_status_page(make_app):
    http = make_app(MANIFEST=load_manifest(SHIPPED)).test_client()
    assert http.get("/admin").status_code == 404
    assert http.get("/admin", headers=bearer()).status_code == 404
    assert http.post("/admin/login", data={"token": TOKEN}).status_code == 404


def test_without_credentials_the_page_is_the_sign_in_form_and_shows_nothing(http, admin_app):
    dead_job(admin_app.extensions["connector"])
    response = http.get("/admin")
    page = response.get_data(as_text=True)
    assert response.status_code == 401
    assert 'name="token"' in page and "Sign in" in page
    assert "INVALID_FIELD" not in page and "Dead letters" not in page


@pytest.mark.parametrize("header", [bearer("wrong-token-wrong-token"), {"Authorization": TOKEN},
                                    {"Authorization": f"Basic {TOKEN}"}])
def test_a_wrong_or_malformed_bearer_token_is_refused(http, header):
    assert http.get("/admin", headers=header).status_code == 401


def test_the_bearer_token_shows_the_page(http):
    response = http.get("/admin", headers=bearer())
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for heading in ("Queue", "Recent escalations", "Dead letters", "Manifest"):
        assert f"<h2>{heading}</h2>" in page
    assert TOKEN not in page
    assert "Sign out" not in page  # nothing to sign out of


def test_the_sign_in_form_sets_a_signed_strict_http_only_cookie(http):
    wrong = http.post("/admin/login", data={"token": "not-it"})
    assert wrong.status_code == 401 and "That is not the admin token." in wrong.get_data(as_text=True)
    assert "Set-Cookie" not in wrong.headers

    response = signed_in(http)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("connector_admin=") and TOKEN not in cookie
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200"):
        assert attribute in cookie
    assert http.get("/admin").status_code == 200


def test_behind_a_tls_terminating_router_the_cookie_is_https_only(http):
    response = http.post("/admin/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in response.headers["Set-Cookie"]
    assert "; Secure" not in signed_in(http).headers["Set-Cookie"]  # plain http on loopback (the demo)


def test_a_tampered_cookie_or_one_signed_before_the_token_rotated_is_refused(http, make_app):
    signed_in(http)
    value = http.get_cookie("connector_admin", path="/admin").value
    http.set_cookie("connector_admin", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/admin")
    assert http.get("/admin").status_code == 401

    rotated = make_app(CONNECTOR_ADMIN_TOKEN=TOKEN + "-rotated", MANIFEST=load_manifest(SHIPPED)).test_client()
    rotated.set_cookie("connector_admin", value, path="/admin")
    assert rotated.get("/admin").status_code == 401


def test_signing_out_needs_the_csrf_token_and_ends_the_session(http):
    signed_in(http)
    page = http.get("/admin").get_data(as_text=True)
    assert http.post("/admin/logout").status_code == 403
    response = http.post("/admin/logout", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    assert http.get("/admin").status_code == 401


def test_the_page_is_not_cached_framed_or_allowed_scripts(http):
    response = http.get("/admin", headers=bearer())
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy


# -- what it shows ----------------------------------------------------------------------------------

def test_queue_depth_and_the_oldest_waiting_jobs_age(http, admin_app):
    runtime = admin_app.extensions["connector"]
    runtime.queue.enqueue("zendesk:ticket:5", "zendesk.sla_timer", {}, "c1")
    runtime.queue.clock.advance(300)
    runtime.queue.enqueue("zendesk:ticket:6", "zendesk.sla_timer", {}, "c2")
    page = http.get("/admin", headers=bearer()).get_data(as_text=True)
    assert '<b id="queue-depth">2</b>' in page
    assert '<b id="oldest-age">5 min</b>' in page


def test_recent_escalations_show_tier_level_and_sla_state_escaped(http, admin_app):
    escalations = Escalations(admin_app.extensions["connector"].store)
    breached = SlaState(tier="T3", escalated_at=NOW - timedelta(hours=1), targets=(
        TargetState("bridge", NOW - timedelta(minutes=30), NOW - timedelta(minutes=36)),),
        next_update_due_at=NOW + timedelta(minutes=5))
    on_track = SlaState(tier="T2", escalated_at=NOW, targets=(
        TargetState("ack", NOW + timedelta(hours=1), NOW + timedelta(minutes=48)),), next_update_due_at=None)
    escalations.save(EscalationRecord(ticket_id=1001, state="open", level="L2", tier="T3", sla=breached,
                                      subject="Batch <script>alert(1)</script> paid twice"))
    escalations.save(EscalationRecord(ticket_id=1002, state="open", level="CIO", tier="T2", sla=on_track,
                                      subject="Payment file rejected"))
    page = http.get("/admin", headers=bearer()).get_data(as_text=True)
    row = page[page.index('id="escalation-1001"'):page.index("</tr>", page.index('id="escalation-1001"'))]
    assert '<td class="tier">T3</td>' in row and "<td>L2</td>" in row
    assert '<td class="sla sla-breached">breached</td>' in row
    assert "&lt;script&gt;" in row and "<script>" not in page
    other = page[page.index('id="escalation-1002"'):]
    assert '<td class="sla sla-on_track">on track</td>' in other and "<td>CIO</td>" in other


def test_dead_letters_are_listed_with_their_error_and_a_retry_button(http, admin_app):
    job_id = dead_job(admin_app.extensions["connector"])
    page = http.get("/admin", headers=bearer()).get_data(as_text=True)
    row = page[page.index(f'id="dead-{job_id}"'):]
    assert "salesforce.mirror" in row and "zendesk:ticket:77" in row
    assert "PermanentError: Escalation__c.Tier__c: INVALID_FIELD" in row
    assert f'action="/admin/jobs/{job_id}/retry"' in row
    assert '<b id="dead-count" class="bad">1</b>' in page


def test_the_manifest_summary_names_levels_tiers_and_rules(http):
    page = http.get("/admin", headers=bearer()).get_data(as_text=True)
    summary = page[page.index('id="manifest"'):]
    assert "L2" in summary and "CIO" in summary and "CEO" in summary
    assert "<b>T3</b> Compliance or financial exposure — bridge 30m" in summary
    assert "Legal threat in the customer&#39;s words → T3" in summary
    assert "project PAY, issue type Bug" in summary


# -- the retry button --------------------------------------------------------------------------------

def test_retry_from_a_session_needs_the_csrf_token(http, admin_app):
    runtime = admin_app.extensions["connector"]
    job_id = dead_job(runtime)
    signed_in(http)
    assert http.post(f"/admin/jobs/{job_id}/retry").status_code == 403
    assert http.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": "forged"}).status_code == 403
    assert [j.id for j in runtime.queue.list_jobs(("dead",))] == [job_id]

    page = http.get("/admin").get_data(as_text=True)
    response = http.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303
    assert runtime.queue.list_jobs(("dead",)) == []
    assert [j.id for j in runtime.queue.list_jobs(("pending",))] == [job_id]
    followed = http.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Job {job_id} is back in line." in followed
    [record] = [r for r in runtime.audit.export() if r["action"] == "jobs.retry"]
    assert record["detail"] == {"job_ids": [job_id]} and "status page (session)" in record["reason"]


def test_retry_without_a_session_or_token_is_refused(http, admin_app):
    job_id = dead_job(admin_app.extensions["connector"])
    assert http.post(f"/admin/jobs/{job_id}/retry").status_code == 401
    assert len(admin_app.extensions["connector"].queue.list_jobs(("dead",))) == 1


def test_retry_with_the_bearer_token_needs_no_csrf_token(http, admin_app):
    runtime = admin_app.extensions["connector"]
    job_id = dead_job(runtime)
    assert http.post(f"/admin/jobs/{job_id}/retry", headers=bearer()).status_code == 303
    assert runtime.queue.list_jobs(("dead",)) == []
    again = http.post(f"/admin/jobs/{job_id}/retry", headers=bearer())
    assert "is not a dead letter" in http.get(again.headers["Location"], headers=bearer()).get_data(as_text=True)
