"""The service refuses to start on bad configuration or an invalid manifest, naming every problem."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.app import create_app
from connector.cli import main
from connector.config import load_settings
from connector.manifest import ManifestError
from connector.registry import Plugin, Registry, lazy

BAD_MANIFEST = """\
version: 1
zendesk:
  fields: {tier: 1, escalation_level: 2}
  levels: [{name: L2, custom_status_id: 7001}]
requirements: {all: [customer_id]}
calendars: {}
tiers:
  T1: {name: Standard, targets: {resolve: {within: 2 days, calendar: business}}, update_every: 48h}
rules: []
default_tier: T1
"""


def test_create_app_refuses_an_invalid_manifest_with_every_problem(tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text(BAD_MANIFEST)
    with pytest.raises(ManifestError) as caught:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_WEBHOOK_SECRETS": "s",
                    "CONNECTOR_MANIFEST": str(path), "TESTING": True})
    text = str(caught.value)
    assert "tiers.T1.targets.resolve.within" in text
    assert "tiers.T1.targets.resolve.calendar" in text
    assert "customer_id" in text


def test_create_app_loads_the_default_manifest(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_WEBHOOK_SECRETS": "s",
                      "TESTING": True, "MIGRATE": True})
    runtime = app.extensions["connector"]
    assert [level.name for level in runtime.manifest.zendesk.levels] == ["L2", "CIO", "CEO"]
    assert app.test_client().get("/readyz").status_code == 200
    runtime.store.dispose()


def test_worker_command_refuses_an_invalid_manifest(tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text(BAD_MANIFEST)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "CONNECTOR_MANIFEST": str(path),
           "ZENDESK_SUBDOMAIN": "acme", "ZENDESK_OAUTH_TOKEN": "tok"}
    result = CliRunner().invoke(main, ["worker", "--max-idle", "0"], env=env)
    assert result.exit_code == 2
    assert "the manifest is invalid" in result.output
    assert "tiers.T1.targets.resolve.within" in result.output


def test_worker_command_refuses_missing_credentials_listing_each(tmp_path):
    result = CliRunner().invoke(main, ["worker", "--max-idle", "0"],
                                env={"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_SUBDOMAIN": ""})
    assert result.exit_code == 2
    assert "ZENDESK_SUBDOMAIN is not set" in result.output
    assert "Zendesk credentials missing" in result.output


# -- what the web process loads, and what a worker loads before it starts ---------------
REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "manifest" / "connector.yaml"
SHIPPED_PLACE = "country: US, subdivision: NY"
NOT_IN_THE_WEB_PROCESS = {
    "holidays", "yaml", "marshmallow",  # the manifest checker: it runs in a child process
    "zenpy", "simple_salesforce", "zeep", "jira", "requests", "pandas", "cryptography", "jwt",  # vendor clients
}


def _environment(tmp_path, manifest: Path = SHIPPED, **extra: str) -> dict[str, str]:
    """A clean environment for a connector process of its own."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZENDESK_", "SALESFORCE_", "JIRA_", "CONNECTOR_", "GUNICORN_"))
           and k not in ("DATABASE_URL", "WEB_CONCURRENCY", "PORT", "PYTHONPATH")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/s.db", CONNECTOR_MANIFEST=str(manifest),
               ZENDESK_WEBHOOK_SECRETS="s", LOG_LEVEL="WARNING", **extra)
    return env


def _python(code: str, env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _connector(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """The ``connector`` command in a process of its own."""
    return _python("from connector.cli import main; main()", env, *args)


def test_the_web_process_loads_neither_the_manifest_checker_nor_a_vendor_client(tmp_path):
    """create_app() in a fresh interpreter, every plugin enabled: the manifest and the routes
    are there, but no YAML, schema or holidays code and no vendor client was imported."""
    env = _environment(tmp_path, JIRA_URL="https://jira.example", JIRA_EMAIL="a@example.com",
                       JIRA_API_TOKEN="t", JIRA_WEBHOOK_SECRET="j",
                       SALESFORCE_INSTANCE_URL="https://sf.example", SALESFORCE_ACCESS_TOKEN="t")
    done = _python(
        "import json, sys\n"
        "from connector.app import create_app\n"
        "app = create_app({'TESTING': True, 'MIGRATE': True})\n"
        "runtime = app.extensions['connector']\n"
        "print(json.dumps({'modules': sorted({m.split('.')[0] for m in sys.modules}),\n"
        "                  'levels': [level.name for level in runtime.manifest.zendesk.levels],\n"
        "                  'plugins': [p.name for p in runtime.registry.plugins],\n"
        "                  'routes': {e: runtime.registry.route(*e.split(' ')).outcome for e in\n"
        "                             ('zendesk ticket.status_changed', 'zendesk ticket.created',\n"
        "                              'jira jira:issue_updated')}}))\n", env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["levels"] == ["L2", "CIO", "CEO"]
    assert seen["plugins"] == ["zendesk", "jira", "salesforce"]
    assert seen["routes"] == {"zendesk ticket.status_changed": "handled", "zendesk ticket.created": "ignored",
                              "jira jira:issue_updated": "handled"}
    assert NOT_IN_THE_WEB_PROCESS & set(seen["modules"]) == set()


def test_the_zendesk_apps_save_check_loads_no_vendor_client_into_the_web_process(tmp_path):
    """POST /api/requirements builds a ticket snapshot the way the webhook path does, but
    in the web process: it must not pull in Zenpy or requests (about 8 MB per worker)."""
    env = _environment(tmp_path, CONNECTOR_APP_TOKEN="app-token-0123456789")
    done = _python(
        "import json, sys\n"
        "from connector.app import create_app\n"
        "app = create_app({'TESTING': True, 'MIGRATE': True})\n"
        "answer = app.test_client().post('/api/requirements', json={'level': 'L2', 'fields': {}},\n"
        "                                headers={'Authorization': 'Bearer app-token-0123456789'})\n"
        "print(json.dumps({'status': answer.status_code, 'may_escalate': answer.get_json()['may_escalate'],\n"
        "                  'modules': sorted({m.split('.')[0] for m in sys.modules})}))\n", env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["status"], seen["may_escalate"]) == (200, False)  # every required field is empty
    assert NOT_IN_THE_WEB_PROCESS & set(seen["modules"]) == set()


def test_a_worker_loads_every_handler_before_it_starts(tmp_path):
    from connector.runtime import build_runtime
    from plugins.salesforce.mirror import mirror_job
    from plugins.zendesk.escalations import on_sla_timer, on_ticket_event

    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_SUBDOMAIN": "acme",
                              "ZENDESK_OAUTH_TOKEN": "tok", "SALESFORCE_INSTANCE_URL": "https://sf.example",
                              "SALESFORCE_ACCESS_TOKEN": "t"}, role="worker")
    runtime = build_runtime(settings, migrate=True)
    runtime.worker()
    handlers = runtime.registry._handlers
    assert handlers["zendesk.ticket.status_changed"]._fn is on_ticket_event
    assert handlers["zendesk.sla_timer"]._fn is on_sla_timer
    assert handlers["salesforce.mirror"]._fn is mirror_job
    assert runtime.registry.handler("zendesk.ticket.comment_added") is on_ticket_event
    runtime.store.dispose()


def test_a_worker_with_a_handler_that_cannot_be_loaded_does_not_start(tmp_path):
    from connector.runtime import build_runtime

    registry = Registry([Plugin(name="broken", jobs={"gone": lazy("plugins.zendesk.escalations:no_such_handler")})])
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_SUBDOMAIN": "acme",
                              "ZENDESK_OAUTH_TOKEN": "tok"}, role="worker")
    runtime = build_runtime(settings, registry=registry, migrate=True)
    with pytest.raises(LookupError, match="handler plugins.zendesk.escalations:no_such_handler cannot be loaded"):
        runtime.worker()
    runtime.store.dispose()


@pytest.mark.parametrize("target", ["plugins.zendesk.escalations.on_ticket_event", "plugins zendesk:on", ":on", ""])
def test_a_lazy_handler_is_named_module_colon_function(target):
    with pytest.raises(ValueError, match="a lazy handler is named 'package.module:function'"):
        lazy(target)


# -- an invalid holiday subdivision stops every entry point, with the same message ------

def _bad_place(tmp_path, subdivision: str) -> tuple[Path, int]:
    """The shipped manifest with another subdivision; the path and the line it is on."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count(SHIPPED_PLACE) == 1
    path = tmp_path / "connector.yaml"
    path.write_text(text.replace(SHIPPED_PLACE, f"country: US, subdivision: {subdivision}"), encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if SHIPPED_PLACE in row)
    return path, line


def _not_a_subdivision(code: str) -> str:
    """The message the check has always given, listing the package's US codes."""
    import holidays

    codes = ", ".join(holidays.list_supported_countries()["US"])
    return f'calendars.business.holidays.subdivision: "{code}" is not a subdivision of US — use one of {codes}'


ALIAS_MESSAGE = 'calendars.business.holidays.subdivision: write its code "AK" instead of "Alaska"'


def test_create_app_refuses_an_invalid_subdivision_in_this_process_and_in_a_child(tmp_path, monkeypatch):
    """``serve`` checks in its own process, ``web`` (the default) in a child: same refusal."""
    from connector.manifest import isolated

    path, _ = _bad_place(tmp_path, "ZZ")
    config = {"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "ZENDESK_WEBHOOK_SECRETS": "s",
              "ZENDESK_SUBDOMAIN": "acme", "ZENDESK_OAUTH_TOKEN": "tok", "CONNECTOR_MANIFEST": str(path),
              "TESTING": True}
    with pytest.raises(ManifestError) as in_child:
        create_app(config)
    monkeypatch.setattr(isolated, "check_in_child", lambda *a, **k: pytest.fail("no child process expected"))
    with pytest.raises(ManifestError) as here:
        create_app(config, role="serve")
    assert str(in_child.value) == str(here.value) == _not_a_subdivision("ZZ")
    assert type(in_child.value) is ManifestError


@pytest.mark.parametrize("subdivision", ["ZZ", "Alaska"])
def test_create_app_refuses_an_invalid_subdivision_in_a_fresh_web_process(tmp_path, subdivision):
    """The web process checks the manifest in a child process: it says exactly what it
    always said, and the web process has not loaded `holidays`."""
    path, _ = _bad_place(tmp_path, subdivision)
    done = _python(
        "import sys\n"
        "from connector.app import create_app\n"
        "from connector.manifest import ManifestError\n"
        "try:\n"
        "    create_app({'TESTING': True})\n"
        "except ManifestError as error:\n"
        "    print(error)\n"
        "print('holidays loaded' if 'holidays' in sys.modules else 'holidays not loaded')\n",
        _environment(tmp_path, path))
    assert done.returncode == 0, done.stderr
    expected = _not_a_subdivision("ZZ") if subdivision == "ZZ" else ALIAS_MESSAGE
    assert done.stdout.splitlines() == [expected, "holidays not loaded"]
    assert done.stderr == ""  # the child answered: no warning about checking here after all


@pytest.mark.parametrize("subdivision", ["ZZ", "Alaska"])
def test_connector_manifest_validate_refuses_an_invalid_subdivision(tmp_path, subdivision):
    path, line = _bad_place(tmp_path, subdivision)
    done = _connector(["manifest", "validate", str(path)], _environment(tmp_path, path))
    expected = _not_a_subdivision("ZZ") if subdivision == "ZZ" else ALIAS_MESSAGE
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"{path}: 1 problem", f"  {expected}  (line {line})"]


def test_connector_worker_refuses_an_invalid_subdivision(tmp_path):
    path, _ = _bad_place(tmp_path, "ZZ")
    done = _connector(["worker", "--max-idle", "0"],
                      _environment(tmp_path, path, ZENDESK_SUBDOMAIN="acme", ZENDESK_OAUTH_TOKEN="tok"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{path}: the manifest is invalid; the connector will not start:",
                                        _not_a_subdivision("ZZ")]


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _assert_gunicorn_refused(done: subprocess.CompletedProcess) -> None:
    """gunicorn's workers build the app; one that fails to boot stops the server (exit 3,
    or 1 when the second worker's failure interrupts gunicorn's own shut-down)."""
    assert done.returncode in (1, 3), done.stderr[-2000:]
    assert f"connector.manifest.problems.ManifestError: {_not_a_subdivision('ZZ')}\n" in done.stderr
    assert "Worker failed to boot." in done.stderr


def test_connector_web_refuses_an_invalid_subdivision(tmp_path):
    path, _ = _bad_place(tmp_path, "ZZ")
    _assert_gunicorn_refused(_connector(["web"], _environment(tmp_path, path, PORT=_free_port())))


def _procfile_web(tmp_path, manifest: Path, port: str) -> tuple[list[str], dict[str, str]]:
    """The Procfile's web line run by bash, as Heroku runs it, with this virtualenv's gunicorn."""
    web = next(line.split(":", 1)[1].strip() for line in (REPO / "Procfile").read_text().splitlines()
               if line.startswith("web:"))
    env = _environment(tmp_path, manifest, PORT=port)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return ["bash", "-c", web], env


def test_the_procfile_web_process_refuses_an_invalid_subdivision(tmp_path):
    path, _ = _bad_place(tmp_path, "ZZ")
    command, env = _procfile_web(tmp_path, path, _free_port())
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=90)
    _assert_gunicorn_refused(done)


def test_the_procfile_web_process_serves_with_the_shipped_manifest(tmp_path):
    import urllib.request

    from connector.store import Store

    store = Store(f"sqlite:///{tmp_path}/s.db")
    store.migrate()
    store.dispose()
    port = _free_port()
    command, env = _procfile_web(tmp_path, SHIPPED, port)
    server = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the web process did not become ready in 60 s"
                time.sleep(0.2)
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert "Exception in worker process" not in errors and "WARNING" not in errors
