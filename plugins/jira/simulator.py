"""A local Jira Cloud REST API (v2 subset) that speaks real HTTP, for tests and ``connector demo``.

Response shapes follow ``shared/reference/jira-cloud-platform-oas.json`` (which documents
``/rest/api/3``; v2 has the same operations with plain-text instead of ADF bodies). Every
route exists there except ``/rest/applinks/latest/listApplicationlinks``, which Cloud
refuses with 403 and which the ``jira`` client calls from ``add_remote_link``.

Routes (all under ``/rest/api/2``; Basic auth ``email:api_token`` required, 401 otherwise,
except ``serverInfo`` which Cloud serves anonymously)
    ``POST issue`` → 201 ``{id, key, self}`` (keys ``PAY-1``, ``PAY-2``…); 400
    ``{"errorMessages": [], "errors": {field: message}}`` for an unknown project, issue type
    or priority, a missing summary, labels with spaces, an ADF (dict) description, or a
    field the screen does not have. ``GET issue/{key|id}`` (``fields=`` honoured).
    ``GET|POST search/jql`` (Cloud's search; see :func:`parse_jql` for the JQL understood;
    without ``fields`` each issue is only ``{"id"}``, as on Cloud; ``nextPageToken``
    pagination). ``GET|POST search`` → 410 Gone, like Cloud since the removal.
    ``GET|POST|DELETE issue/{key}/remotelink`` (POST with a ``globalId`` already on the issue
    replaces that link wholesale — fields left out are gone — and answers 200, otherwise
    201; GET ``?globalId=`` returns one link), ``GET|DELETE issue/{key}/remotelink/{id}``.
    ``GET project/{key|id}``, ``GET project/{key}/statuses``, ``GET issuetype``, ``GET
    issuetype/project?projectId=``, ``GET priority``, ``GET field``, ``GET myself``, ``GET
    serverInfo`` (``deploymentType: "Cloud"``).

Reaching it with the ``jira`` client (3.10.5)::

    jira = JIRA(server=sim.url, basic_auth=(sim.email, sim.api_token),
                get_server_info=False, max_retries=0)

What the client does that matters here:

* ``search_issues`` uses ``/rest/api/2/search/jql`` only when ``jira.deploymentType ==
  "Cloud"``; with ``get_server_info=False`` it is ``None`` and the client calls the removed
  ``/rest/api/2/search`` (410 here and on Cloud). Either construct with
  ``get_server_info=True`` (one ``GET serverInfo``), or set ``jira.deploymentType =
  "Cloud"`` after constructing. ``enhanced_search_issues`` is decorated ``@cloud_api``: when
  the client does not know it is Cloud it *returns None* with only a log line.
* Searching with any ``fields`` first calls ``GET /rest/api/2/field`` (to translate names).
* ``add_remote_link`` first calls ``GET /rest/applinks/latest/listApplicationlinks``; on
  Cloud's 403 it emits ``warnings.warn(..., Warning)`` — an *error* under pytest's
  ``filterwarnings=error`` — and, not caching the failure, asks again on every call.
* ``create_issue(prefetch=False)`` sends one request when project and issue type are given
  as dicts (``{"key": "PAY"}``, ``{"name": "Bug"}``); strings cost extra look-ups.

Test helpers: :meth:`JiraSimulator.add_project`, :meth:`add_issue_type`,
:meth:`add_status`, :meth:`add_custom_field`, :meth:`move_issue` (e.g. to Done with
resolution Fixed; returns the changelog), :meth:`issue_updated_payload`,
:meth:`fire_webhook` / :func:`post_signed` (``X-Hub-Signature: sha256=<hex HMAC-SHA256 of
the body>``, ``X-Atlassian-Webhook-Identifier``), readers :meth:`issue_json`,
:meth:`remote_links`.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from copy import deepcopy
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import requests
from flask import Response, request

from connector.signing import sign_hub  # re-exported: the simulated Jira signs its webhooks with it
from connector.simulation import Simulator, json_response

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
GONE_BODY = {"errorMessages": [
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
    "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"],
    "errors": {}}
ISSUE_NOT_FOUND = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                   "errors": {}}
SYSTEM_FIELDS = {"summary": "string", "description": "string", "labels": "array", "priority": "priority",
                 "issuetype": "issuetype", "project": "project", "assignee": "user", "reporter": "user",
                 "duedate": "date", "status": "status", "resolution": "resolution",
                 "resolutiondate": "datetime", "created": "datetime", "updated": "datetime",
                 "creator": "user"}
SETTABLE = {"summary", "description", "labels", "priority", "issuetype", "project", "assignee",
            "reporter", "duedate"}


class JiraError(Exception):
    def __init__(self, status: int, body: Any):
        super().__init__(status, body)
        self.status, self.body = status, body


def _errors(messages: Iterable[str] = (), **errors: str) -> dict:
    return {"errorMessages": list(messages), "errors": errors}


def jira_time(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def post_signed(url: str, body: Mapping[str, Any] | bytes, secret: str | None, *,
                identifier: str | None = None, retry: int = 0, timeout: float = 10.0) -> requests.Response:
    """POST ``body`` to ``url`` the way a Jira admin webhook with a secret does."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": "Atlassian Webhook HTTP Client",
               "X-Atlassian-Webhook-Identifier": identifier or str(uuid.uuid4()),
               "X-Atlassian-Webhook-Retry": str(retry)}
    if secret:
        headers["X-Hub-Signature"] = sign_hub(raw, secret)
    with requests.Session() as session:
        return session.post(url, data=raw, headers=headers, timeout=timeout)


# JQL --------------------------------------------------------------------------------------

_JQL_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|!~|>=|<=|=|~|>|<|\(|\)|,)"""
                        r"""|(?P<word>[^\s"'=!~<>(),]+))""")
_EQUALITY_FIELDS = {"project", "key", "issuekey", "id", "labels", "status", "statuscategory",
                    "issuetype", "type", "priority", "resolution"}
_TEXT_FIELDS = {"summary", "description", "text"}
_ORDER_FIELDS = {"created", "updated", "key", "priority", "status"}


def _jql_error(message: str) -> JiraError:
    return JiraError(400, _errors([message]))


def parse_jql(jql: str) -> tuple[list[Callable[[dict, "JiraSimulator"], bool]], tuple[str, bool] | None]:
    """Parse the JQL subset the simulator answers: clauses joined by ``AND``, then an
    optional ``ORDER BY field [ASC|DESC]`` (created, updated, key, priority, status).

    Clauses: ``project``, ``key``/``issuekey``/``id``, ``labels``, ``status``,
    ``statusCategory``, ``issuetype``/``type``, ``priority``, ``resolution`` with ``=``,
    ``!=``, ``in (...)``, ``not in (...)``, ``is [not] EMPTY``; ``summary``, ``description``
    and ``text`` with ``~`` / ``!~``. Values may be bare or quoted; names compare
    case-insensitively. ``labels != x`` leaves out issues without labels, as Jira does.
    ``~`` here is a case-insensitive *substring* match — real Jira tokenises and stems, so
    search markers with ``labels = "marker"``, not with text. ``OR``, ``NOT``, functions
    and entity properties answer 400 naming the simulator. A query with no clause is
    refused like Cloud refuses unbounded JQL.
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    text = jql.strip()
    while position < len(text):
        match = _JQL_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _jql_error(f"Error in the JQL Query: unexpected character at {text[position:position + 10]!r}")
        kind = match.lastgroup or ""
        token = match.group(kind)
        if kind == "str":
            token = re.sub(r"\\(.)", r"\1", token[1:-1])
        tokens.append((kind, token))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1

    index = 0

    def peek(offset: int = 0) -> tuple[str, str]:
        return tokens[index + offset] if index + offset < len(tokens) else ("end", "")

    def word(offset: int = 0) -> str:
        kind, token = peek(offset)
        return token.upper() if kind == "word" else ""

    predicates: list[Callable[[dict, JiraSimulator], bool]] = []
    order: tuple[str, bool] | None = None
    while index < len(tokens) and word() != "ORDER":
        if word() in ("OR", "NOT"):
            raise _jql_error(f"the simulator does not understand {word()} in JQL")
        kind, field = peek()
        if kind != "word":
            raise _jql_error(f"Error in the JQL Query: expecting a field name but got '{field}'")
        name = field.lower()
        if "[" in name or "." in name or "(" in name:
            raise _jql_error(f"the simulator does not understand the JQL field {field!r}")
        if name not in _EQUALITY_FIELDS | _TEXT_FIELDS:
            raise _jql_error(f"Field '{field}' does not exist or you do not have permission to view it.")
        index += 1
        op = peek()[1].upper()
        if op == "NOT" and word(1) == "IN":
            op, index = "NOT IN", index + 2
        elif op == "IS" and word(1) == "NOT":
            op, index = "IS NOT", index + 2
        else:
            index += 1
        if op in ("~", "!~"):
            if name not in _TEXT_FIELDS:
                raise _jql_error(f"The operator '{op}' is not supported by the '{field}' field.")
            value = peek()[1]
            index += 1
            predicates.append(_text_predicate(name, value, negate=op == "!~"))
        elif op in ("=", "!=", "IN", "NOT IN", "IS", "IS NOT"):
            if name in _TEXT_FIELDS:
                raise _jql_error(f"The operator '{op}' is not supported by the '{field}' field.")
            if op in ("IN", "NOT IN"):
                if peek()[1] != "(":
                    raise _jql_error("Error in the JQL Query: expecting '(' after IN")
                index += 1
                values = []
                while peek()[1] != ")":
                    if peek()[0] == "end":
                        raise _jql_error("Error in the JQL Query: unterminated list")
                    values.append(peek()[1])
                    index += 1
                    if peek()[1] == ",":
                        index += 1
                index += 1
            elif op in ("IS", "IS NOT"):
                if word() not in ("EMPTY", "NULL"):
                    raise _jql_error("Error in the JQL Query: expecting EMPTY or NULL after IS")
                values = []
                index += 1
            else:
                if peek()[0] == "end":
                    raise _jql_error(f"Error in the JQL Query: expecting a value after '{op}'")
                values = [peek()[1]]
                index += 1
            predicates.append(_equality_predicate(name, op, values))
        else:
            raise _jql_error(f"Error in the JQL Query: the operator '{peek(-1)[1]}' is not understood")
        if word() == "AND":
            index += 1
            if index >= len(tokens) or word() == "ORDER":
                raise _jql_error("Error in the JQL Query: expecting a clause after AND")
        elif word() not in ("ORDER", ""):
            raise _jql_error(f"the simulator does not understand {peek()[1]!r} here (only AND joins clauses)")
    if word() == "ORDER":
        if word(1) != "BY":
            raise _jql_error("Error in the JQL Query: expecting BY after ORDER")
        index += 2
        field = peek()[1].lower()
        if field not in _ORDER_FIELDS:
            raise _jql_error(f"the simulator cannot order by {field!r}")
        index += 1
        descending = False
        if word() in ("ASC", "DESC"):
            descending = word() == "DESC"
            index += 1
        order = (field, descending)
    if index != len(tokens):
        raise _jql_error(f"Error in the JQL Query: unexpected '{peek()[1]}'")
    if not predicates:
        raise _jql_error("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")
    return predicates, order


def _text_predicate(name: str, value: str, *, negate: bool) -> Callable[[dict, Any], bool]:
    needle = value.lower().strip("*")

    def holds(issue: dict, sim: Any) -> bool:
        fields = issue["fields"]
        if name == "text":
            haystack = " ".join(str(fields.get(k) or "") for k in ("summary", "description"))
            haystack += " " + " ".join(str(v) for k, v in fields.items()
                                       if k.startswith("customfield_") and isinstance(v, str))
        else:
            haystack = str(fields.get(name) or "")
        return (needle in haystack.lower()) != negate

    return holds


def _equality_predicate(name: str, op: str, values: list[str]) -> Callable[[dict, Any], bool]:
    wanted = [v.lower() for v in values]

    def current(issue: dict, sim: "JiraSimulator") -> list[str]:
        fields = issue["fields"]
        if name == "project":
            project = sim.projects[fields["project"]]
            return [project["key"].lower(), str(project["id"])]
        if name in ("key", "issuekey", "id"):
            return [issue["key"].lower(), str(issue["id"])]
        if name == "labels":
            return [label.lower() for label in fields["labels"]]
        if name == "status":
            return [fields["status"].lower(), str(sim.statuses[fields["status"]]["id"])]
        if name == "statuscategory":
            category = CATEGORIES[sim.statuses[fields["status"]]["category"]]
            return [category["key"], category["name"].lower(), str(category["id"])]
        if name in ("issuetype", "type"):
            return [fields["issuetype"].lower()]
        if name == "priority":
            return [fields["priority"].lower()] if fields.get("priority") else []
        if name == "resolution":
            return [fields["resolution"].lower()] if fields.get("resolution") else []
        return []

    def holds(issue: dict, sim: Any) -> bool:
        have = current(issue, sim)
        if op == "IS":
            return not have
        if op == "IS NOT":
            return bool(have)
        hit = any(w in have for w in wanted)
        if op in ("=", "IN"):
            return hit
        return bool(have) and not hit

    return holds


# the simulator --------------------------------------------------------------------------

class JiraSimulator(Simulator):
    """In-memory Jira Cloud site: ``JiraSimulator(email=..., api_token=..., projects=("PAY",),
    clock=None)``. Each project starts with issue types Task, Bug, Story and Epic, the
    workflow To Do → In Progress → Done, and priorities Highest … Lowest."""

    name = "jira"

    def __init__(self, email: str = "connector@example.com", api_token: str = "sim-jira-token", *,
                 projects: Iterable[str] = ("PAY",), clock: Callable[[], datetime] | None = None,
                 port: int = 0):
        self.email = email
        self.api_token = api_token
        self._initial_projects = list(projects)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        super().__init__(port)
        self._register_routes()

    def client(self, **kwargs: Any):
        """A ``jira.JIRA`` client for this simulator that knows it talks to Cloud."""
        from jira import JIRA

        options = {"get_server_info": False, "max_retries": 0, **kwargs}
        jira = JIRA(server=self.url, basic_auth=(self.email, self.api_token), **options)
        jira.deploymentType = "Cloud"
        return jira

    # state ---------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.account_id = "712020:5f0c-sim-connector"
        self.myself = {"accountId": self.account_id, "accountType": "atlassian", "active": True,
                       "displayName": "Escalation connector", "emailAddress": self.email,
                       "timeZone": "Etc/UTC", "locale": "en_US", "avatarUrls": {}}
        self.issue_types: dict[str, dict] = {}
        for type_id, name, level in ((10001, "Task", 0), (10002, "Bug", 0), (10003, "Story", 0),
                                     (10000, "Epic", 1)):
            self.add_issue_type(name, type_id=type_id, hierarchy_level=level)
        self.priorities = [{"id": str(i), "name": n, "statusColor": c, "description": n,
                            "iconUrl": f"/images/icons/priorities/{n.lower()}.svg"}
                           for i, (n, c) in enumerate((("Highest", "#d04437"), ("High", "#f15C75"),
                                                       ("Medium", "#f79232"), ("Low", "#707070"),
                                                       ("Lowest", "#999999")), start=1)]
        self.statuses: dict[str, dict] = {}
        for status_id, name, category in ((10000, "To Do", "new"), (3, "In Progress", "indeterminate"),
                                          (10001, "Done", "done")):
            self.add_status(name, category, status_id=status_id)
        self.resolutions = {name: {"id": str(i), "name": name, "description": name}
                            for name, i in (("Fixed", 1), ("Won't Fix", 2), ("Duplicate", 3),
                                            ("Done", 10000), ("Won't Do", 10001))}
        self.custom_fields: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.issues: dict[str, dict] = {}
        self._links: dict[str, list[dict]] = {}
        self._ids = {"project": 10000, "issue": 10000, "link": 10000, "field": 10049, "changelog": 10000}
        for key in self._initial_projects:
            self.add_project(key)

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _base(self) -> str:
        try:
            return request.host_url.rstrip("/")
        except RuntimeError:
            return self.url if self._server.running else "http://127.0.0.1"

    # seeding -------------------------------------------------------------------------------

    def add_project(self, key: str, name: str | None = None, *,
                    issue_types: Iterable[str] = ("Task", "Bug", "Story", "Epic")) -> dict:
        with self.lock:
            types = list(issue_types)
            unknown = [t for t in types if t not in self.issue_types]
            if unknown:
                raise KeyError(f"unknown issue types {unknown}; add_issue_type first")
            project = {"id": self._next("project"), "key": key, "name": name or f"{key} project",
                       "issue_types": types, "counter": 0}
            self.projects[key] = project
            return deepcopy(project)

    def add_issue_type(self, name: str, *, type_id: int | None = None, hierarchy_level: int = 0) -> dict:
        with self.lock:
            type_id = type_id or 10100 + len(self.issue_types)
            self.issue_types[name] = {"id": str(type_id), "name": name, "untranslatedName": name,
                                      "description": f"A {name.lower()}.", "subtask": hierarchy_level < 0,
                                      "hierarchyLevel": hierarchy_level, "avatarId": 10300 + type_id % 100,
                                      "iconUrl": f"/secure/viewavatar?avatarId={type_id}&avatarType=issuetype"}
            return deepcopy(self.issue_types[name])

    def add_status(self, name: str, category: str, *, status_id: int | None = None) -> dict:
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {list(CATEGORIES)}")
        with self.lock:
            status_id = status_id or 10100 + len(self.statuses)
            self.statuses[name] = {"id": status_id, "name": name, "category": category}
            return deepcopy(self.statuses[name])

    def add_custom_field(self, name: str, schema_type: str = "string") -> str:
        """A custom field issues may be created with; returns its id (``customfield_10050``)."""
        with self.lock:
            field_id = f"customfield_{self._next('field')}"
            self.custom_fields[field_id] = {"id": field_id, "name": name, "type": schema_type}
            return field_id

    def move_issue(self, key: str, status: str, *, resolution: str | None = None,
                   user: Mapping[str, Any] | None = None) -> dict:
        """Set an issue's status as a workflow transition would; returns the changelog.

        Entering a *done* status sets ``resolution`` (default ``Fixed``) and
        ``resolutiondate``; leaving it clears them.
        """
        with self.lock:
            issue = self._issue_or_404(key)
            if status not in self.statuses:
                raise KeyError(f"unknown status {status!r}; add_status first")
            fields = issue["fields"]
            items = []
            old_status = self.statuses[fields["status"]]
            new_status = self.statuses[status]
            if old_status["name"] != new_status["name"]:
                items.append({"field": "status", "fieldtype": "jira", "fieldId": "status",
                              "from": str(old_status["id"]), "fromString": old_status["name"],
                              "to": str(new_status["id"]), "toString": new_status["name"]})
            wanted = (resolution or "Fixed") if new_status["category"] == "done" else None
            if wanted is not None and wanted not in self.resolutions:
                raise KeyError(f"unknown resolution {wanted!r}")
            if wanted != fields["resolution"]:
                before = self.resolutions.get(fields["resolution"] or "")
                after = self.resolutions.get(wanted or "")
                items.append({"field": "resolution", "fieldtype": "jira", "fieldId": "resolution",
                              "from": before["id"] if before else None,
                              "fromString": before["name"] if before else None,
                              "to": after["id"] if after else None,
                              "toString": after["name"] if after else None})
            now = self.clock()
            fields["status"] = status
            fields["resolution"] = wanted
            fields["resolutiondate"] = now if wanted else None
            fields["updated"] = now
            return {"id": str(self._next("changelog")), "items": items}

    # readers and webhooks ----------------------------------------------------------------------

    def issue_json(self, key: str, fields: Iterable[str] | None = None) -> dict:
        with self.lock:
            return self._issue_json(self._issue_or_404(key), fields)

    def remote_links(self, key: str) -> list[dict]:
        with self.lock:
            issue = self._issue_or_404(key)
            return deepcopy(self._links.get(issue["key"], []))

    def issue_updated_payload(self, key: str, changelog: Mapping[str, Any] | None = None, *,
                              event_type_name: str = "issue_generic") -> dict:
        """A ``jira:issue_updated`` webhook body for the issue's current state."""
        with self.lock:
            issue = self._issue_json(self._issue_or_404(key))
            return {"timestamp": int(self.clock().timestamp() * 1000),
                    "webhookEvent": "jira:issue_updated", "issue_event_type_name": event_type_name,
                    "user": deepcopy(self.myself), "issue": issue,
                    "changelog": deepcopy(dict(changelog or {"id": str(self._next("changelog")), "items": []}))}

    def fire_webhook(self, url: str, body: Mapping[str, Any] | bytes, secret: str | None, *,
                     identifier: str | None = None, retry: int = 0) -> requests.Response:
        """POST a webhook body signed like Jira (same ``identifier`` = a redelivery)."""
        return post_signed(url, body, secret, identifier=identifier, retry=retry)

    def move_and_notify(self, key: str, status: str, url: str, secret: str | None, **kwargs: Any) -> requests.Response:
        """:meth:`move_issue`, then fire the matching ``jira:issue_updated`` webhook."""
        identifier = kwargs.pop("identifier", None)
        changelog = self.move_issue(key, status, **kwargs)
        return self.fire_webhook(url, self.issue_updated_payload(key, changelog), secret, identifier=identifier)

    # HTTP plumbing ---------------------------------------------------------------------------

    def _authenticate(self) -> Response | None:
        if request.path == "/rest/api/2/serverInfo":
            return None
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                login, _, token = base64.b64decode(header[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                login = token = ""
            if login.lower() == self.email.lower() and token == self.api_token:
                return None
        return json_response(_errors(["Client must be authenticated to access this resource."]), 401,
                             {"WWW-Authenticate": 'Basic realm="protected-area"'})

    def _unknown_route_body(self, status: int) -> Any:
        return _errors([f"null for uri: {request.url}"])

    def _api_route(self, rule: str, methods: Iterable[str] = ("GET",)):
        def register(view: Callable) -> Callable:
            def guarded(*args: Any, **kwargs: Any) -> Response:
                try:
                    return view(*args, **kwargs)
                except JiraError as error:
                    return json_response(error.body, error.status)

            guarded.__name__ = view.__name__
            self.route("/rest/api/2/" + rule, methods, endpoint=f"{view.__name__}:{rule}")(guarded)
            return view

        return register

    def _register_routes(self) -> None:
        route = self._api_route

        @route("issue", ("POST",))
        def create_issue() -> Response:
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
                raise JiraError(400, _errors(["Issue must be created with a 'fields' object."]))
            issue = self._create(body["fields"])
            base = self._base()
            return json_response({"id": str(issue["id"]), "key": issue["key"],
                                  "self": f"{base}/rest/api/2/issue/{issue['id']}"}, 201)

        @route("issue/<key>")
        def get_issue(key: str) -> Response:
            issue = self._issue_or_404(key)
            return json_response(self._issue_json(issue, _fields_param(request.args.getlist("fields"))))

        @route("search", ("GET", "POST"))
        def old_search() -> Response:
            return json_response(GONE_BODY, 410)

        @route("search/jql", ("GET", "POST"))
        def search_jql() -> Response:
            if request.method == "POST":
                body = request.get_json(silent=True) or {}
                jql = body.get("jql", "")
                fields = body.get("fields")
                max_results = body.get("maxResults", 50)
                token = body.get("nextPageToken")
            else:
                jql = request.args.get("jql", "")
                fields = request.args.getlist("fields") or None
                max_results = request.args.get("maxResults", 50)
                token = request.args.get("nextPageToken")
            predicates, order = parse_jql(jql)
            hits = [i for i in self.issues.values() if all(p(i, self) for p in predicates)]
            hits.sort(key=self._order_key(order or ("created", True)), reverse=(order or ("", True))[1])
            try:
                size = max(1, min(5000, int(max_results)))
                start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
            except ValueError:
                raise JiraError(400, _errors(["The nextPageToken or maxResults is invalid."]))
            page = hits[start:start + size]
            wanted = _fields_param(fields if isinstance(fields, list) else [fields] if fields else [])
            issues = [self._issue_json(i, wanted) if wanted is not None else {"id": str(i["id"])}
                      for i in page]
            answer: dict[str, Any] = {"issues": issues, "isLast": start + size >= len(hits)}
            if not answer["isLast"]:
                answer["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            return json_response(answer)

        @route("issue/<key>/remotelink", ("GET", "POST", "DELETE"))
        def remote_links(key: str) -> Response:
            issue = self._issue_or_404(key)
            links = self._links.setdefault(issue["key"], [])
            global_id = request.args.get("globalId")
            if request.method == "GET":
                if global_id is not None:
                    found = next((l for l in links if l.get("globalId") == global_id), None)
                    if found is None:
                        raise JiraError(404, _errors(["No remote link with that globalId."]))
                    return json_response(deepcopy(found))
                return json_response(deepcopy(links))
            if request.method == "DELETE":
                if global_id is None:
                    raise JiraError(400, _errors(["globalId is required."]))
                kept = [l for l in links if l.get("globalId") != global_id]
                if len(kept) == len(links):
                    raise JiraError(404, _errors(["No remote link with that globalId."]))
                self._links[issue["key"]] = kept
                return Response(status=204)
            body = request.get_json(silent=True)
            link, created = self._save_link(issue, body)
            return json_response({"id": link["id"], "self": link["self"]}, 201 if created else 200)

        @route("issue/<key>/remotelink/<int:link_id>", ("GET", "DELETE"))
        def remote_link(key: str, link_id: int) -> Response:
            issue = self._issue_or_404(key)
            links = self._links.get(issue["key"], [])
            found = next((l for l in links if l["id"] == link_id), None)
            if found is None:
                raise JiraError(404, _errors(["Remote link not found."]))
            if request.method == "DELETE":
                links.remove(found)
                return Response(status=204)
            return json_response(deepcopy(found))

        @route("project/<key>")
        def project(key: str) -> Response:
            return json_response(self._project_json(self._project_or_404(key)))

        @route("project/<key>/statuses")
        def project_statuses(key: str) -> Response:
            project = self._project_or_404(key)
            base = self._base()
            return json_response([{**self._issue_type_json(name), "statuses": [
                self._status_json(s, base) for s in self.statuses]} for name in project["issue_types"]])

        @route("issuetype")
        def issue_types() -> Response:
            return json_response([self._issue_type_json(name) for name in self.issue_types])

        @route("issuetype/project")
        def project_issue_types() -> Response:
            project_id = request.args.get("projectId", "")
            project = next((p for p in self.projects.values() if str(p["id"]) == project_id), None)
            if project is None:
                raise JiraError(404, _errors([f"No project could be found with id '{project_id}'."]))
            return json_response([self._issue_type_json(name) for name in project["issue_types"]])

        @route("priority")
        def priorities() -> Response:
            base = self._base()
            return json_response([{**p, "self": f"{base}/rest/api/2/priority/{p['id']}"}
                                  for p in self.priorities])

        @route("field")
        def fields() -> Response:
            out = [{"id": name, "key": name, "name": name.capitalize(), "custom": False,
                    "orderable": name in SETTABLE, "navigable": True, "searchable": True,
                    "clauseNames": [name], "schema": {"type": kind, "system": name}}
                   for name, kind in SYSTEM_FIELDS.items()]
            out += [{"id": f["id"], "key": f["id"], "name": f["name"], "custom": True, "orderable": True,
                     "navigable": True, "searchable": True,
                     "clauseNames": [f"cf[{f['id'].split('_')[1]}]", f["name"]],
                     "schema": {"type": f["type"], "customId": int(f["id"].split("_")[1])}}
                    for f in self.custom_fields.values()]
            return json_response(out)

        @route("myself")
        def myself() -> Response:
            return json_response({**deepcopy(self.myself),
                                  "self": f"{self._base()}/rest/api/2/user?accountId={self.account_id}"})

        @route("serverInfo")
        def server_info() -> Response:
            return json_response({"baseUrl": self._base(), "version": "1001.0.0-SNAPSHOT",
                                  "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
                                  "buildNumber": 100300, "buildDate": "2026-01-01T00:00:00.000+0000",
                                  "serverTime": jira_time(self.clock()), "scmInfo": "simulator",
                                  "serverTitle": "Jira (simulator)", "defaultLocale": {"locale": "en_US"},
                                  "serverTimeZone": "Etc/UTC"})

        @self.route("/rest/applinks/latest/listApplicationlinks", ("GET",), endpoint="applinks")
        def applinks() -> Response:
            return json_response({"message": "You do not have permission to list application links "
                                             "(Jira Cloud does not offer this to API users).",
                                  "status-code": 403}, 403)

    # logic ------------------------------------------------------------------------------------

    def _issue_or_404(self, key: str) -> dict:
        issue = self.issues.get(str(key).upper()) or next(
            (i for i in self.issues.values() if str(i["id"]) == str(key)), None)
        if issue is None:
            raise JiraError(404, ISSUE_NOT_FOUND)
        return issue

    def _project_or_404(self, key: str) -> dict:
        project = self.projects.get(key.upper()) or next(
            (p for p in self.projects.values() if str(p["id"]) == key), None)
        if project is None:
            raise JiraError(404, _errors([f"No project could be found with key '{key}'."]))
        return project

    def _lookup_project(self, value: Any) -> dict | None:
        if not isinstance(value, dict):
            return None
        if "key" in value:
            return self.projects.get(str(value["key"]).upper())
        if "id" in value:
            return next((p for p in self.projects.values() if str(p["id"]) == str(value["id"])), None)
        return None

    def _create(self, fields: Mapping[str, Any]) -> dict:
        errors: dict[str, str] = {}
        project = self._lookup_project(fields.get("project"))
        if project is None:
            errors["project"] = "valid project is required"
        issue_type = None
        given_type = fields.get("issuetype")
        if isinstance(given_type, dict):
            issue_type = next((t for t in self.issue_types.values()
                               if ("id" in given_type and t["id"] == str(given_type["id"]))
                               or ("name" in given_type and t["name"].lower() == str(given_type["name"]).lower())),
                              None)
        if issue_type is None or (project and issue_type["name"] not in project["issue_types"]):
            errors["issuetype"] = "Specify a valid issue type"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        description = fields.get("description")
        if description is not None and not isinstance(description, str):
            errors["description"] = "Operation value must be a string"
        priority = None
        if fields.get("priority") is not None:
            given = fields["priority"]
            priority = next((p for p in self.priorities if isinstance(given, dict) and (
                p["id"] == str(given.get("id")) or p["name"].lower() == str(given.get("name", "")).lower())), None)
            if priority is None:
                errors["priority"] = f"Specify the Priority (id or name) in the string format: {given!r} is not one"
        labels = fields.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(l, str) for l in labels):
            errors["labels"] = "labels must be a list of strings"
        else:
            bad = next((l for l in labels if not l or re.search(r"\s", l) or len(l) > 255), None)
            if bad is not None:
                errors["labels"] = f"The label '{bad}' contains spaces which is invalid."
        for name in fields:
            if name not in SETTABLE and name not in self.custom_fields:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        if errors:
            raise JiraError(400, _errors(**errors))
        assert project is not None and issue_type is not None
        project["counter"] += 1
        now = self.clock()
        issue = {"id": self._next("issue"), "key": f"{project['key']}-{project['counter']}", "fields": {
            "summary": summary, "description": description, "issuetype": issue_type["name"],
            "project": project["key"], "labels": list(dict.fromkeys(labels)),
            "priority": (priority or self.priorities[2])["name"], "status": "To Do",
            "resolution": None, "resolutiondate": None, "created": now, "updated": now,
            "duedate": fields.get("duedate"), "assignee": None,
        }}
        for name in self.custom_fields:
            if name in fields:
                issue["fields"][name] = deepcopy(fields[name])
        self.issues[issue["key"]] = issue
        return issue

    def _user_json(self, base: str) -> dict:
        return {**deepcopy(self.myself), "self": f"{base}/rest/api/2/user?accountId={self.account_id}"}

    def _status_json(self, name: str, base: str) -> dict:
        status = self.statuses[name]
        category = CATEGORIES[status["category"]]
        return {"self": f"{base}/rest/api/2/status/{status['id']}", "description": "",
                "iconUrl": f"{base}/images/icons/statuses/generic.png", "name": name,
                "id": str(status["id"]), "statusCategory": {
                    "self": f"{base}/rest/api/2/statuscategory/{category['id']}", **category}}

    def _issue_type_json(self, name: str) -> dict:
        issue_type = self.issue_types[name]
        return {**deepcopy(issue_type), "self": f"{self._base()}/rest/api/2/issuetype/{issue_type['id']}"}

    def _project_json(self, project: dict) -> dict:
        base = self._base()
        return {"expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                "self": f"{base}/rest/api/2/project/{project['id']}", "id": str(project["id"]),
                "key": project["key"], "name": project["name"], "description": "",
                "lead": self._user_json(base), "projectTypeKey": "software", "simplified": False,
                "style": "classic", "isPrivate": False, "properties": {}, "avatarUrls": {},
                "issueTypes": [self._issue_type_json(n) for n in project["issue_types"]]}

    def _issue_json(self, issue: dict, wanted: list[str] | None = None) -> dict:
        base = self._base()
        raw = issue["fields"]
        project = self.projects[raw["project"]]
        priority = next((p for p in self.priorities if p["name"] == raw["priority"]), None)
        resolution = self.resolutions.get(raw["resolution"] or "")
        fields: dict[str, Any] = {
            "summary": raw["summary"], "description": raw["description"],
            "issuetype": self._issue_type_json(raw["issuetype"]),
            "project": {"self": f"{base}/rest/api/2/project/{project['id']}", "id": str(project["id"]),
                        "key": project["key"], "name": project["name"], "projectTypeKey": "software",
                        "simplified": False, "avatarUrls": {}},
            "labels": list(raw["labels"]),
            "priority": ({"self": f"{base}/rest/api/2/priority/{priority['id']}", "iconUrl": priority["iconUrl"],
                          "name": priority["name"], "id": priority["id"]} if priority else None),
            "status": self._status_json(raw["status"], base),
            "resolution": ({"self": f"{base}/rest/api/2/resolution/{resolution['id']}", **resolution}
                           if resolution else None),
            "resolutiondate": jira_time(raw["resolutiondate"]) if raw["resolutiondate"] else None,
            "created": jira_time(raw["created"]), "updated": jira_time(raw["updated"]),
            "duedate": raw.get("duedate"), "assignee": None,
            "reporter": self._user_json(base), "creator": self._user_json(base),
        }
        for name in self.custom_fields:
            fields[name] = deepcopy(raw.get(name))
        if wanted is not None and "*all" not in wanted and "*navigable" not in wanted:
            excluded = {w[1:] for w in wanted if w.startswith("-")}
            fields = {k: v for k, v in fields.items() if k in wanted and k not in excluded}
        return {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
                "id": str(issue["id"]), "self": f"{base}/rest/api/2/issue/{issue['id']}",
                "key": issue["key"], "fields": fields}

    def _order_key(self, order: tuple[str, bool]) -> Callable[[dict], Any]:
        field = order[0]
        ranks = {p["name"]: i for i, p in enumerate(self.priorities)}
        if field == "key":
            return lambda i: (i["fields"]["project"], int(i["key"].rsplit("-", 1)[1]))
        if field == "priority":
            return lambda i: (-ranks.get(i["fields"]["priority"], 99), i["id"])
        if field == "status":
            return lambda i: (i["fields"]["status"], i["id"])
        return lambda i: (i["fields"][field], i["id"])

    def _save_link(self, issue: dict, body: Any) -> tuple[dict, bool]:
        if not isinstance(body, dict) or not isinstance(body.get("object"), dict):
            raise JiraError(400, _errors(object="'object' is required."))
        obj = body["object"]
        errors = {}
        if not obj.get("url"):
            errors["url"] = "'url' is required."
        if not obj.get("title"):
            errors["title"] = "'title' is required."
        if errors:
            raise JiraError(400, _errors(**errors))
        links = self._links.setdefault(issue["key"], [])
        global_id = body.get("globalId")
        existing = next((l for l in links if global_id is not None and l.get("globalId") == global_id), None)
        link_id = existing["id"] if existing else self._next("link")
        stored_object = deepcopy(obj)
        stored_object.setdefault("icon", {})
        status = stored_object.get("status")
        if isinstance(status, dict):
            status.setdefault("icon", {})
        link = {"id": link_id, "self": f"{self._base()}/rest/api/2/issue/{issue['key']}/remotelink/{link_id}",
                "application": deepcopy(body.get("application") or {}), "object": stored_object}
        if global_id is not None:
            link["globalId"] = global_id
        if body.get("relationship") is not None:
            link["relationship"] = body["relationship"]
        if existing:
            links[links.index(existing)] = link
        else:
            links.append(link)
        return link, existing is None


def _fields_param(values: Iterable[str]) -> list[str] | None:
    """``fields`` may come repeated or comma-separated; ``None`` when absent."""
    names = [n.strip() for v in values if v for n in str(v).split(",") if n.strip()]
    return names or None
