"""A Jira simulator per module and a desk (Zendesk simulator + connector) running the Jira plugin."""
from __future__ import annotations

import pytest

from plugins.jira.simulator import JiraSimulator
from tests.support.desk import Desk


@pytest.fixture(scope="module")
def jira_server():
    with JiraSimulator() as sim:
        yield sim


@pytest.fixture
def desk(desk_server, jira_server, database_url):
    desk_server.reset()
    jira_server.reset()
    d = Desk(desk_server, database_url, jira=jira_server)
    yield d
    d.close()
