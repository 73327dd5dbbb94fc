"""Fixtures for the simulator tests: a webhook receiver on loopback."""
from __future__ import annotations

import pytest
from flask import Flask, request

from connector.simulation import LoopbackServer


class Receiver:
    """Records raw bodies and headers of the webhooks a simulator fires at it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        app = Flask("receiver", static_folder=None)

        @app.post("/hook")
        def hook():
            self.received.append({"body": request.get_data(), "headers": dict(request.headers)})
            return {"ok": True}, 202

        self.server = LoopbackServer(app)

    @property
    def url(self) -> str:
        return self.server.url + "/hook"


@pytest.fixture
def receiver():
    r = Receiver()
    with r.server:
        yield r
