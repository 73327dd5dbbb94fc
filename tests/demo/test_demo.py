"""``connector demo`` end to end: the README's first quick-start command plays the whole
day against the bundled simulators, names every step's outcome, prints no secret, and
exits non-zero when a step does not go as expected. CI runs it too (.ci/run)."""
from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import requests

from connector import demo
from connector.demo import STEPS, run_demo

CONNECTOR = Path(sys.executable).parent / "connector"
ADMIN_TOKEN = "demo-test-admin-token-0123456789"
OUTCOMES = (
    "✓ tier T3 and level L2 written on the ticket",
    "✓ internal note names the rules and the T3 checklist",
    "✓ the CSM sees it on Acme's Account: T3, L2, open",
    "✓ turned back: the ticket is no longer in “Escalated – L2”",
    "✓ internal note names the missing amount and transaction IDs",
    "✓ tier T2 by the repeat-contact rule (three tickets in a week)",
    "✓ tier T3 by the rule “Legal threat in the customer's words”",
    "✓ tier T4 by the unusual-login signal, incident commander due in 15 minutes",
    "✓ a Jira issue in PAY links back to ticket #1001",
    "✓ both tickets show Jira status Done",
    "✓ tagged sla_at_risk, then sla_breached",
    "✓ the CSM sees the breach (Salesforce: bridge breached)",
)


def run_connector(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONNECTOR_ADMIN_TOKEN": ADMIN_TOKEN}
    return subprocess.run([str(CONNECTOR), *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_connector_demo_plays_the_day_and_names_every_steps_outcome():
    done = run_connector("demo")
    output = done.stdout
    assert done.returncode == 0, output + done.stderr
    for number, (title, _) in enumerate(STEPS, start=1):
        assert f"  ✓ {number}. {title}\n" in output, title
    for outcome in OUTCOMES:
        assert outcome in output, outcome
    assert "✗" not in output
    assert f"{len(STEPS)} of {len(STEPS)} steps went as expected." in output
    # what each user sees, from the simulators
    assert 'AGENT sees Zendesk ticket #1001 "Vendor batch 0042 paid twice"' in output
    assert 'CSM sees Salesforce Account "Acme Payments"' in output
    assert re.search(r'ENGINEER sees Jira PAY-1 ".*" — Bug, priority High, status Done', output)
    assert "SLA breached — Bridge was due Mon 23 Nov 09:40 EST and has not been met." in output
    # plain text, no logs on the terminal, no secret
    assert done.stderr == ""
    assert ADMIN_TOKEN not in output and "sim-zendesk-oauth" not in output


def test_serve_keeps_everything_running_and_other_commands_work_against_it():
    with subprocess.Popen([str(CONNECTOR), "demo", "--serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env={**os.environ, "CONNECTOR_ADMIN_TOKEN": ADMIN_TOKEN}) as process:
        try:
            lines: list[str] = []
            for line in process.stdout:
                lines.append(line)
                if line.startswith("  connector log"):
                    break
            output = "".join(lines)
            env_file = check_serving(output)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    assert process.returncode == 0
    assert not env_file.exists()  # the throw-away store and its files are gone


def check_serving(output: str) -> Path:
    """What --serve prints works: the status page, and `connector doctor` with the
    environment file it wrote (mode 600, its secrets never printed)."""
    assert "7 of 7 steps went as expected." in output, output
    admin = re.search(r"status page\s+(http://127\.0\.0\.1:\d+/admin)", output).group(1)
    env_file = Path(re.search(r"environment\s+(\S+demo\.env)", output).group(1))
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env = {k: v.strip("'") for k, v in (line.split("=", 1) for line in env_file.read_text().splitlines())}
    for name in ("ZENDESK_WEBHOOK_SECRETS", "JIRA_WEBHOOK_SECRET", "ZENDESK_OAUTH_TOKEN"):
        assert env[name] not in output, name
    assert env["CONNECTOR_ADMIN_TOKEN"] == ADMIN_TOKEN and ADMIN_TOKEN not in output

    page = requests.get(admin, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert page.status_code == 200
    assert 'id="escalation-1001"' in page.text and '<td class="sla sla-breached">breached</td>' in page.text
    assert requests.get(admin, timeout=10).status_code == 401

    doctor = subprocess.run([str(CONNECTOR), "doctor"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env})
    assert "✓ all 35 ticket fields in the manifest exist, are active and have fitting types" in doctor.stdout
    assert "✓ every object and field the connector writes exists with a usable type" in doctor.stdout
    return env_file


def test_a_step_that_does_not_go_as_expected_makes_the_demo_exit_1(monkeypatch):
    from connector.metrics import COUNTERS

    monkeypatch.setattr(COUNTERS, "start", lambda *args, **kwargs: None)  # no flush thread left behind
    started = demo.DemoWorld.start

    def start_with_jira_refusing_issues(world):
        started(world)
        world.jira.fail_next("POST", r"/rest/api/2/issue", 400, times=100,
                             body={"errorMessages": [], "errors": {"project": "project is required"}})
        return world

    monkeypatch.setattr(demo.DemoWorld, "start", start_with_jira_refusing_issues)
    lines: list[str] = []
    assert run_demo(lines.append) == 1
    output = "\n".join(lines)
    assert "✗ a Jira issue in PAY links back to ticket #1001" in output
    assert "✗ no job dead-lettered" in output
    assert "✗ 6. A product bug → Jira → issue done → tickets told — not as expected" in output
    assert "✓ 7. An SLA breach" in output
    assert f"{len(STEPS) - 1} of {len(STEPS)} steps went as expected." in output
