"""Shared fixtures. Pipeline tests run on SQLite and on PostgreSQL.

PostgreSQL comes from ``TEST_POSTGRES_URL`` (default: the local server, database
``test``). Each test gets a schema of its own, dropped afterwards. Without a reachable
server the PostgreSQL variants are skipped with the reason — unless
``REQUIRE_POSTGRES=1`` (CI sets it), where they fail instead.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from connector.store import Store, normalise_url

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_pg_state: dict[str, object] = {}


def _postgres_problem() -> str | None:
    if "problem" not in _pg_state:
        try:
            engine = create_engine(normalise_url(PG_URL))
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_state["problem"] = None
        except Exception as error:  # noqa: BLE001
            _pg_state["problem"] = f"PostgreSQL not reachable at {PG_URL}: {error.__class__.__name__}"
    return _pg_state["problem"]  # type: ignore[return-value]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    problem = _postgres_problem()
    if problem:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def store(database_url):
    s = Store(database_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def sink():
    from tests.support.sink import EffectSink

    with EffectSink() as server:
        yield server


@pytest.fixture
def make_app(database_url, sink):
    """Build the web app on this test's store with the sink plugin (or another registry)."""
    from connector.app import create_app
    from tests.support.plugins import sink_registry
    from tests.support.webhooks import JIRA_SECRET, OLD_SECRET, SECRET

    built = []

    def _make(registry=None, **overrides):
        config = {
            "DATABASE_URL": database_url,
            "ZENDESK_WEBHOOK_SECRETS": f"{SECRET},{OLD_SECRET}",
            "JIRA_WEBHOOK_SECRET": JIRA_SECRET,
            "TESTING": True,
            "MIGRATE": True,
            "MANIFEST": {"test": "manifest"},
            "REGISTRY": registry or sink_registry(sink.url),
            **overrides,
        }
        app = create_app(config)
        built.append(app)
        return app

    yield _make
    for app in built:
        app.extensions["connector"].store.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runtime(app):
    return app.extensions["connector"]


@pytest.fixture(autouse=True)
def _clean_process_state():
    """Counters and registered secrets are process-wide; each test starts clean."""
    from connector.logs import clear_secrets
    from connector.metrics import COUNTERS

    COUNTERS.reset()
    clear_secrets()
    yield
    COUNTERS.reset()
    clear_secrets()


@pytest.fixture(scope="module")
def desk_server():
    """A Zendesk simulator shared by a module's tests (reset by each test's desk)."""
    from plugins.zendesk.simulator import ZendeskSimulator

    with ZendeskSimulator() as sim:
        yield sim


@pytest.fixture
def browser():
    """A headless Chromium (Selenium). Skipped with the reason when the browser is not
    installed, failed instead under ``REQUIRE_BROWSER=1`` (CI installs it and sets that)."""
    from tests.support.browser import browser_problem, start_browser

    problem = browser_problem()
    if problem:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    driver = start_browser()
    yield driver
    driver.quit()
