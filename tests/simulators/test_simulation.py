"""The shared simulator machinery: loopback server, journal, faults, delays, re-basing."""
from __future__ import annotations

import time

import pytest
import requests
from flask import request

from connector.simulation import LoopbackServer, RebaseAdapter, Simulator, json_response, rebasing_session


class Echo(Simulator):
    """A minimal simulator: counts the requests that reach its state."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__()

        @self.route("/things/<int:thing_id>", ("GET", "PUT"))
        def thing(thing_id: int):
            self.handled += 1
            return json_response({"id": thing_id, "method": request.method})

    def _reset_state(self) -> None:
        self.handled = 0

    def _authenticate(self):
        if request.headers.get("Authorization") != "Bearer good":
            return json_response({"error": "no"}, 401)
        return None

    def _decorate(self, response):
        response.headers["X-Echo"] = "1"
        return response


@pytest.fixture
def echo():
    with Echo() as sim:
        yield sim


def get(sim, path, **kwargs):
    return requests.get(sim.url + path, headers={"Authorization": "Bearer good"}, timeout=5, **kwargs)


def test_server_listens_on_loopback_ephemeral_port_and_stops(echo):
    assert echo.url.startswith("http://127.0.0.1:")
    assert get(echo, "/things/1").json() == {"id": 1, "method": "GET"}
    url = echo.url
    echo.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/things/1", timeout=2)
    with pytest.raises(RuntimeError, match="not running"):
        echo.url  # noqa: B018


def test_loopback_server_runs_any_wsgi_app():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    with LoopbackServer(app) as server:
        assert requests.get(server.url + "/hello", timeout=5).text == "/hello"


def test_journal_records_request_without_credentials(echo):
    requests.put(echo.url + "/things/7?x=1&x=2", json={"a": 1},
                 headers={"Authorization": "Bearer good", "Cookie": "s=1", "X-Trace": "t"}, timeout=5)
    [entry] = echo.requests("PUT", r"/things/\d+")
    assert (entry.method, entry.path, entry.query, entry.json) == ("PUT", "/things/7", {"x": ["1", "2"]}, {"a": 1})
    assert entry.headers["X-Trace"] == "t"
    assert "Authorization" not in entry.headers and "Cookie" not in entry.headers
    assert entry.auth_scheme == "bearer" and entry.status == 200 and not entry.faulted


def test_refused_requests_are_journaled_with_their_status(echo):
    assert requests.get(echo.url + "/things/1", timeout=5).status_code == 401
    assert [e.status for e in echo.journal] == [401]
    assert echo.handled == 0


def test_fault_answers_next_n_matching_requests_then_lets_them_through(echo):
    echo.fail_next("GET", r"/things/1", 429, times=2, headers={"Retry-After": "2"}, body={"error": "slow"})
    first, second, third = (get(echo, "/things/1") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "2" and first.json() == {"error": "slow"}
    assert first.headers["X-Echo"] == "1", "vendor headers are added to faults too"
    assert echo.handled == 1
    assert [e.faulted for e in echo.journal] == [True, True, False]
    assert echo.pending_faults() == []


def test_fault_matches_method_and_whole_path_only(echo):
    echo.fail_next("PUT", r"/things/1", 503)
    assert get(echo, "/things/1").status_code == 200
    assert get(echo, "/things/12").status_code == 200
    assert requests.put(echo.url + "/things/12", headers={"Authorization": "Bearer good"}, timeout=5).status_code == 200
    assert requests.put(echo.url + "/things/1", headers={"Authorization": "Bearer good"}, timeout=5).status_code == 503


def test_fault_with_text_body_and_any_method(echo):
    echo.fail_next(None, r"/things/.*", 500, body="boom")
    response = requests.put(echo.url + "/things/3", timeout=5)
    assert (response.status_code, response.text) == (500, "boom")


def test_delay_holds_request_then_handles_it(echo):
    echo.delay_next("GET", r"/things/5", 0.3)
    started = time.monotonic()
    response = get(echo, "/things/5")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and echo.handled == 1


def test_reset_forgets_state_journal_and_faults(echo):
    echo.fail_next("GET", r".*", 500)
    get(echo, "/things/1")
    get(echo, "/things/1")
    echo.fail_next("GET", r".*", 500)
    echo.reset()
    assert (echo.handled, echo.journal, echo.pending_faults()) == (0, [], [])
    assert get(echo, "/things/1").status_code == 200


def test_rebasing_session_sends_one_base_url_elsewhere_and_keeps_the_url_it_was_given(echo):
    session = rebasing_session({"https://vendor.example.com/": echo.url})
    with session:
        response = session.get("https://vendor.example.com/things/9", headers={"Authorization": "Bearer good"},
                               timeout=5)
        assert response.json() == {"id": 9, "method": "GET"}
        assert response.url == "https://vendor.example.com/things/9"
        assert response.request.url == "https://vendor.example.com/things/9"
        assert isinstance(session.get_adapter("https://vendor.example.com/x"), RebaseAdapter)
        assert not isinstance(session.get_adapter("https://other.example.com/x"), RebaseAdapter)
        assert not isinstance(session.get_adapter("https://vendor.example.com.evil/x"), RebaseAdapter)


def test_unknown_paths_and_methods_answer_json(echo):
    missing = get(echo, "/nothing")
    assert (missing.status_code, missing.json()["error"]) == (404, "not found")
    wrong = requests.delete(echo.url + "/things/1", headers={"Authorization": "Bearer good"}, timeout=5)
    assert wrong.status_code == 405 and wrong.headers["X-Echo"] == "1"
    assert [e.status for e in echo.journal] == [404, 405]
