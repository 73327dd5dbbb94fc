"""Run vendor simulators on loopback, record what they were asked, and make them fail on cue.

The three vendor simulators (``plugins/*/simulator.py``) are Flask apps built on
:class:`Simulator`. Each one is a real HTTP server on ``127.0.0.1`` with an ephemeral port,
so the real client libraries (zenpy, simple-salesforce, jira) talk to it exactly as they
would talk to the vendor. Everything a test needs to steer or inspect lives here:

* **Lifecycle** — ``start()`` / ``stop()`` / ``url``, or ``with Simulator(...) as sim:``.
  :class:`LoopbackServer` does the serving and can run any WSGI app.
* **Journal** — every request, as a :class:`JournalEntry` (method, path, query, JSON body,
  headers without ``Authorization``/``Cookie``, the status answered, whether a fault
  answered it). ``sim.requests("PUT", r"/api/v2/tickets/\\d+\\.json")`` filters it.
* **Faults** — ``sim.fail_next("PUT", r"/api/v2/tickets/.*", 429, headers={"Retry-After":
  "2"}, times=2)`` makes the next two matching requests answer 429 instead of being
  handled. ``sim.delay_next(...)`` slows matching requests down, then handles them
  normally. A path pattern must match the *whole* path (``re.fullmatch``); ``method``
  ``None`` or ``"*"`` matches any method. Faults are consumed in the order they were added.
* **State** — kept in memory by each vendor simulator; ``reset()`` empties it, the journal
  and the pending faults, so one server can be shared between tests.

State changes run under one lock per simulator (``self.lock``); route handlers registered
with :meth:`Simulator.route` take it automatically. Delays happen outside the lock, so a
slow request does not hold up the others.

:class:`RebaseAdapter` / :func:`rebasing_session` send a client's requests for one base URL
to another (``https://sim.zendesk.com/`` to ``http://127.0.0.1:PORT/``). That is how a client
library that builds its own URLs is pointed at a simulator without touching the process
environment; the Zendesk plugin can use it for ``ZENDESK_URL`` and the Salesforce transport
uses it for ``http://`` instance URLs.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable, Iterable, Mapping

import requests
from flask import Flask, Response, request
from requests.adapters import HTTPAdapter
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

__all__ = [
    "Fault",
    "JournalEntry",
    "LoopbackServer",
    "RebaseAdapter",
    "Simulator",
    "json_response",
    "rebasing_session",
]

_HIDDEN_HEADERS = {"authorization", "cookie", "proxy-authorization"}


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the one-line-per-request access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class LoopbackServer:
    """Serve a WSGI app on ``127.0.0.1`` (ephemeral port unless given) in a daemon thread."""

    def __init__(self, app: Callable, port: int = 0):
        self.app = app
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> "LoopbackServer":
        if self._server is not None:
            return self
        server = make_server("127.0.0.1", self.port, self.app, threaded=True,
                             request_handler=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"loopback-{server.server_port}", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass
class JournalEntry:
    """One request as the simulator received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]
    auth_scheme: str | None
    """``"basic"``, ``"bearer"`` or ``None``: how the client authenticated (never the secret)."""
    status: int | None = None
    """The status code answered (``None`` while the request is still being handled)."""
    faulted: bool = False
    """True when an injected fault answered instead of the simulator."""
    at: float = field(default_factory=time.time)

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    """Answer (or delay) the next ``remaining`` requests matching ``method`` and ``path``."""

    method: str | None
    path: re.Pattern[str]
    status: int | None
    """``None`` = only delay, then handle the request normally."""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    remaining: int = 1
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in (None, "*") and self.method.upper() != method.upper():
            return False
        return self.path.fullmatch(path) is not None

    def response(self) -> Response:
        if self.body is None:
            payload: bytes | str = b""
            mimetype = None
        elif isinstance(self.body, (bytes, str)):
            payload, mimetype = self.body, "text/plain"
        else:
            payload, mimetype = json.dumps(self.body), "application/json"
        resp = Response(payload, status=self.status, mimetype=mimetype)
        for name, value in self.headers.items():
            resp.headers[name] = value
        return resp


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response with exactly this status (also for lists, which Flask would not take)."""
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


class Simulator:
    """Base of the vendor simulators: a Flask app with a journal, faults and a lock.

    Subclasses register routes with :meth:`route`, keep their state in attributes they
    (re)create in :meth:`_reset_state`, and may override :meth:`_authenticate` (return a
    response to refuse the request) and :meth:`_decorate` (add headers to every answer).
    """

    name = "simulator"

    def __init__(self, port: int = 0):
        self.lock = threading.RLock()
        self.journal: list[JournalEntry] = []
        self._faults: list[Fault] = []
        self.app = Flask(f"{self.name}-simulator", static_folder=None)
        self.app.config["TRAP_HTTP_EXCEPTIONS"] = False
        self.app.before_request(self._before)
        self.app.after_request(self._after)
        for status in (404, 405):
            self.app.register_error_handler(status, self._routing_error)
        self._server = LoopbackServer(self.app, port)
        with self.lock:
            self._reset_state()

    # lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return self._server.url

    def start(self):
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all state, the journal and pending faults (the server keeps running)."""
        with self.lock:
            self.journal.clear()
            self._faults.clear()
            self._reset_state()

    def _reset_state(self) -> None:  # pragma: no cover - subclasses override
        pass

    # faults ----------------------------------------------------------------------------

    def fail_next(self, method: str | None, path: str, status: int, *, times: int = 1,
                  headers: Mapping[str, str] | None = None, body: Any = None,
                  delay: float = 0.0) -> Fault:
        """The next ``times`` requests matching answer ``status`` with ``headers``/``body``.

        ``body`` may be a dict/list (sent as JSON), a string or bytes (sent as text), or
        ``None`` (empty). The request is journaled but never reaches the simulator's state.
        """
        fault = Fault(method, re.compile(path), status, dict(headers or {}), body, times, delay)
        with self.lock:
            self._faults.append(fault)
        return fault

    def delay_next(self, method: str | None, path: str, seconds: float, *, times: int = 1) -> Fault:
        """Hold the next ``times`` matching requests for ``seconds``, then handle them normally."""
        fault = Fault(method, re.compile(path), None, {}, None, times, seconds)
        with self.lock:
            self._faults.append(fault)
        return fault

    def pending_faults(self) -> list[Fault]:
        with self.lock:
            return [f for f in self._faults if f.remaining > 0]

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    # journal ---------------------------------------------------------------------------

    def requests(self, method: str | None = None, path: str | None = None) -> list[JournalEntry]:
        """Journal entries, optionally only those with this method and whole-path regex."""
        pattern = re.compile(path) if path is not None else None
        with self.lock:
            return [e for e in self.journal
                    if (method is None or e.method == method.upper())
                    and (pattern is None or pattern.fullmatch(e.path))]

    def clear_journal(self) -> None:
        with self.lock:
            self.journal.clear()

    # routing ---------------------------------------------------------------------------

    def route(self, rule: str, methods: Iterable[str] = ("GET",), endpoint: str | None = None):
        """Register a view on the app; it runs holding :attr:`lock`."""

        def register(view: Callable) -> Callable:
            @wraps(view)
            def locked(*args: Any, **kwargs: Any) -> Any:
                with self.lock:
                    return view(*args, **kwargs)

            name = endpoint or f"{view.__name__}:{rule}"
            self.app.add_url_rule(rule, endpoint=name, view_func=locked, methods=list(methods))
            return view

        return register

    def _authenticate(self) -> Response | None:
        """Return a response to refuse the current request; ``None`` lets it through."""
        return None

    def _unknown_route_body(self, status: int) -> Any:
        """The body answered for a path (404) or method (405) the simulator does not serve."""
        return {"error": "not found" if status == 404 else "method not allowed",
                "path": request.path, "method": request.method}

    def _routing_error(self, error: Any) -> Response:
        status = getattr(error, "code", 404) or 404
        return json_response(self._unknown_route_body(status), status)

    def _decorate(self, response: Response) -> Response:
        """Add vendor headers to every response (faults included)."""
        return response

    # request hooks ---------------------------------------------------------------------

    def _before(self) -> Response | None:
        auth = request.headers.get("Authorization", "")
        scheme = auth.split(" ", 1)[0].lower() if auth else None
        entry = JournalEntry(
            method=request.method,
            path=request.path,
            query={k: request.args.getlist(k) for k in request.args.keys()},
            json=request.get_json(silent=True),
            headers={k: v for k, v in request.headers.items() if k.lower() not in _HIDDEN_HEADERS},
            auth_scheme=scheme,
        )
        with self.lock:
            self.journal.append(entry)
            fault = next((f for f in self._faults
                          if f.remaining > 0 and f.matches(request.method, request.path)), None)
            if fault is not None:
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
        request.environ["simulation.entry"] = entry
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                entry.faulted = True
                return fault.response()
        with self.lock:
            return self._authenticate()

    def _after(self, response: Response) -> Response:
        entry = request.environ.get("simulation.entry")
        with self.lock:
            response = self._decorate(response)
        if entry is not None:
            entry.status = response.status_code
        return response


class RebaseAdapter(HTTPAdapter):
    """Send requests whose URL starts with ``source`` to ``target`` instead.

    Mount it on the source prefix: ``session.mount(source, RebaseAdapter(source, target))``.
    Only the scheme/host/port prefix changes; path and query pass through untouched. The
    response keeps the URL and request the client built (clients such as zenpy check that
    a response came from the host they asked).
    """

    def __init__(self, source: str, target: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.source = source if source.endswith("/") else source + "/"
        self.target = target if target.endswith("/") else target + "/"

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        if not url.lower().startswith(self.source.lower()):
            return super().send(request, *args, **kwargs)
        rebased = request.copy()
        rebased.url = self.target + url[len(self.source):]
        response = super().send(rebased, *args, **kwargs)
        response.request = request
        response.url = url
        return response


def rebasing_session(routes: Mapping[str, str], session: requests.Session | None = None) -> requests.Session:
    """A session that sends each ``source`` base URL of ``routes`` to its ``target``.

    >>> s = rebasing_session({"https://sim.zendesk.com/": "http://127.0.0.1:8801/"})
    """
    session = session or requests.Session()
    for source, target in routes.items():
        adapter = RebaseAdapter(source, target)
        session.mount(adapter.source, adapter)
    return session
