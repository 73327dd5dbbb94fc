"""Fixtures for the escalation flow tests: one Zendesk simulator per module, a fresh
:class:`~tests.support.desk.Desk` (simulator state, connector, store) per test."""
from __future__ import annotations

import pytest

from tests.support.desk import Desk


@pytest.fixture
def make_desk(desk_server, database_url):
    desks = []

    def make(**kwargs):
        desk_server.reset()
        desk = Desk(desk_server, database_url, **kwargs)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()


@pytest.fixture
def desk(make_desk):
    return make_desk()
