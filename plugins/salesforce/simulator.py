"""A local Salesforce REST API (subset) that speaks real HTTP, for tests and ``connector demo``.

Objects and fields are declared by the caller, so a write naming a field the org does not
have fails the way the real API fails::

    sim = SalesforceSimulator({
        "Account": {"fields": {"Name": "string"}},
        "Escalation__c": {"fields": {
            "Zendesk_Escalation_Key__c": {"type": "string", "externalId": True, "unique": True},
            "Account__c": {"type": "reference", "referenceTo": "Account"},
            "Tier__c": {"type": "picklist", "values": ["T1", "T2", "T3", "T4"]},
            "Opened_At__c": "datetime",
        }},
    })

A field spec is a type name or a dict with ``type`` and optionally ``externalId``,
``unique``, ``caseSensitive``, ``required``, ``length``, ``values`` (a restricted picklist),
``referenceTo`` and ``relationshipName`` (defaults to ``X__r`` for ``X__c``, ``Account`` for
``AccountId``), ``label``. ``Id``, ``Name``, ``CreatedDate``, ``LastModifiedDate``,
``SystemModstamp`` and ``IsDeleted`` are added to every object.

Routes, under ``/services/data/v{version}/`` (any version from 20.0 to 62.0):
    ``sobjects`` (describeGlobal), ``sobjects/{Object}/describe``, ``POST sobjects/{Object}``,
    ``GET|PATCH sobjects/{Object}/{Id}``, ``GET|PATCH sobjects/{Object}/{ExtField}/{value}``
    (upsert: 201 ``{id, success, errors, created: true}`` when created; when updated, **200
    with ``{..., created: false}`` from API 46.0 on** — what v59.0 really answers — and
    204 with no body before 46.0; 300 with the matching record URLs when several match;
    ``?updateOnly=true`` answers 404 instead of creating), ``PATCH
    composite/sobjects/{Object}/{ExtField}`` (collections upsert, up to 200 records,
    ``allOrNone``), ``POST composite`` (up to 25 subrequests, ``@{ref.path}`` references,
    ``allOrNone`` rolls everything back), ``GET query?q=`` (see :func:`parse_soql`),
    ``GET limits``. ``GET /services/data/`` lists versions without authentication.
    ``POST /services/oauth2/token`` answers the JWT bearer grant for the connected apps
    :meth:`SalesforceSimulator.allow_jwt` registered, with a new token each time.

Errors are JSON lists ``[{"message", "errorCode", "fields"?}]`` as Salesforce sends them:
unknown field ``INVALID_FIELD``, the external ID field in an upsert body ``INVALID_FIELD``,
read-only field ``INVALID_FIELD_FOR_INSERT_UPDATE``, bad picklist value
``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``, unique clash ``DUPLICATE_VALUE``, reference to
a missing record ``INVALID_CROSS_REFERENCE_KEY``/``MALFORMED_ID``, bad SOQL
``MALFORMED_QUERY``/``INVALID_FIELD``/``INVALID_TYPE``. Inside sObject collections results
the error key is ``statusCode``, as in the real API.

Every answer carries ``Sforce-Limit-Info: api-usage=N/LIMIT``; past ``daily_limit`` calls the
API answers 403 ``REQUEST_LIMIT_EXCEEDED`` (:meth:`SalesforceSimulator.exhaust_request_limit`
gets there at once; ``fail_next`` can inject it for a few calls). A token other than the
simulator's answers 401 ``INVALID_SESSION_ID`` (:meth:`SalesforceSimulator.expire_session`).

Reach it with simple-salesforce (which forces https; see ``plugins/salesforce/transport.py``)::

    from plugins.salesforce.transport import session_for_instance_url
    sf = Salesforce(instance_url=sim.url, session_id=sim.access_token,
                    session=session_for_instance_url(sim.url))

simple-salesforce notes: ``upsert`` returns only the status code (201/200/204), use
``raw_response=True`` for the id; it does not URL-encode the external ID value (quote it
yourself if it may contain ``/ ? # %`` or spaces); ``query`` calls ``query/`` and
``limits`` calls ``limits/`` (trailing slash; both forms are served); there is no composite
helper: use ``sf.restful("composite", method="POST", json=...)`` and
``sf.restful("composite/sobjects/Obj/Field", method="PATCH", json=...)``.
"""
from __future__ import annotations

import json
import re
from copy import deepcopy
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from flask import Response, request

from connector.simulation import Simulator, json_response

LATEST_VERSION = "59.0"
VERSIONS = [f"{v}.0" for v in range(20, 63)]
STANDARD_PREFIXES = {"Account": "001", "Contact": "003", "User": "005", "Opportunity": "006",
                     "Case": "500", "Task": "00T", "Lead": "00Q"}
NOT_FOUND = {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
TEXT_TYPES = ("string", "textarea", "picklist", "multipicklist", "email", "url", "phone",
              "combobox", "encryptedstring")
NUMBER_TYPES = ("double", "currency", "percent", "int", "long")
ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request "
                          "was using AllOrNone header", "fields": []}
HALTED = {"errorCode": "PROCESSING_HALTED",
          "message": "The transaction was rolled back since another operation in the same "
                     "transaction failed."}
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class SalesforceError(Exception):
    def __init__(self, status: int, errors: Any, headers: Mapping[str, str] | None = None):
        super().__init__(status, errors)
        self.status, self.body, self.headers = status, errors, dict(headers or {})


def _error(status: int, code: str, message: str, fields: Iterable[str] | None = None) -> SalesforceError:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = list(fields)
    return SalesforceError(status, [body])


def sf_datetime(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}+0000"


def to_18(id15: str) -> str:
    """Salesforce's case-safe 18-character form of a 15-character ID."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


def _is_id_shaped(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?", value) is not None


# SOQL ------------------------------------------------------------------------------------

_SOQL_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op>!=|<>|<=|>=|=|<|>|\(|\)|,)"
                         r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*(?:\(\))?)|(?P<num>-?\d+(?:\.\d+)?))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _SOQL_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _error(400, "MALFORMED_QUERY", f"unexpected token at: {text[position:position + 20]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return out


def _literal(kind: str, token: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
                      token[1:-1])
    if kind == "num":
        return float(token) if "." in token else int(token)
    if kind == "word" and token.lower() in ("true", "false"):
        return token.lower() == "true"
    if kind == "word" and token.lower() == "null":
        return None
    if kind == "word" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
        return token
    raise _error(400, "MALFORMED_QUERY", f"unexpected token: '{token}'")


def parse_soql(soql: str) -> dict[str, Any]:
    """Parse the SOQL subset the simulator answers.

    ``SELECT f1, f2 | COUNT() FROM Object [WHERE cond [AND cond]...] [ORDER BY f [ASC|DESC]]
    [LIMIT n]`` where ``cond`` is ``field = literal``, ``field != literal`` (or ``<>``), or
    ``field IN (literal, ...)``; literals are 'quoted strings' (backslash escapes), numbers,
    true/false and null. Relationship paths (``Account__r.Name``), OR, sub-queries and
    functions other than ``COUNT()`` answer ``MALFORMED_QUERY`` naming the simulator.
    """
    tokens = _tokens(soql)
    words = [(k, v.upper() if k == "word" else v) for k, v in tokens]
    position = 0

    def expect(word: str) -> None:
        nonlocal position
        if position >= len(words) or words[position][1] != word:
            found = tokens[position][1] if position < len(tokens) else "end of query"
            raise _error(400, "MALFORMED_QUERY", f"expecting '{word}', found '{found}'")
        position += 1

    expect("SELECT")
    fields: list[str] = []
    count = False
    while True:
        if position >= len(tokens):
            raise _error(400, "MALFORMED_QUERY", "unexpected end of query")
        kind, token = tokens[position]
        if kind == "word" and token.upper() == "COUNT()":
            count = True
        elif kind == "word" and "." not in token and token.upper() != "FROM":
            fields.append(token)
        else:
            raise _error(400, "MALFORMED_QUERY",
                         f"the simulator only understands plain field names in SELECT, not '{token}'")
        position += 1
        if position < len(tokens) and tokens[position][1] == ",":
            position += 1
            continue
        break
    expect("FROM")
    if position >= len(tokens) or tokens[position][0] != "word":
        raise _error(400, "MALFORMED_QUERY", "expecting an object name after FROM")
    sobject = tokens[position][1]
    position += 1
    conditions: list[tuple[str, str, Any]] = []
    order: tuple[str, bool] | None = None
    limit: int | None = None
    if position < len(words) and words[position][1] == "WHERE":
        position += 1
        while True:
            if position + 2 > len(tokens) or tokens[position][0] != "word":
                raise _error(400, "MALFORMED_QUERY", "expecting a field name in WHERE")
            field = tokens[position][1]
            if "." in field:
                raise _error(400, "MALFORMED_QUERY",
                             f"the simulator does not follow relationship paths like '{field}'")
            op = words[position + 1][1]
            position += 2
            if op == "IN":
                expect("(")
                values = []
                while True:
                    if position >= len(tokens):
                        raise _error(400, "MALFORMED_QUERY", "unterminated IN list")
                    values.append(_literal(*tokens[position]))
                    position += 1
                    if position < len(tokens) and tokens[position][1] == ",":
                        position += 1
                        continue
                    break
                expect(")")
                conditions.append((field, "IN", values))
            elif op in ("=", "!=", "<>"):
                if position >= len(tokens):
                    raise _error(400, "MALFORMED_QUERY", "unexpected end of query")
                conditions.append((field, "!=" if op == "<>" else op, _literal(*tokens[position])))
                position += 1
            else:
                raise _error(400, "MALFORMED_QUERY",
                             f"the simulator only understands =, != and IN, not '{tokens[position - 1][1]}'")
            if position < len(words) and words[position][1] == "AND":
                position += 1
                continue
            if position < len(words) and words[position][1] == "OR":
                raise _error(400, "MALFORMED_QUERY", "the simulator does not understand OR")
            break
    if position < len(words) and words[position][1] == "ORDER":
        position += 1
        expect("BY")
        field = tokens[position][1]
        position += 1
        descending = False
        if position < len(words) and words[position][1] in ("ASC", "DESC"):
            descending = words[position][1] == "DESC"
            position += 1
        order = (field, descending)
    if position < len(words) and words[position][1] == "LIMIT":
        position += 1
        if position >= len(tokens) or tokens[position][0] != "num":
            raise _error(400, "MALFORMED_QUERY", "LIMIT needs a number")
        limit = int(tokens[position][1])
        position += 1
    if position != len(tokens):
        raise _error(400, "MALFORMED_QUERY", f"unexpected token: '{tokens[position][1]}'")
    return {"fields": fields, "count": count, "object": sobject, "where": conditions,
            "order": order, "limit": limit}


# the simulator -----------------------------------------------------------------------------

class SalesforceSimulator(Simulator):
    """An in-memory Salesforce org: ``SalesforceSimulator(schema, access_token=...,
    daily_limit=15000, clock=None)``."""

    name = "salesforce"

    def __init__(self, schema: Mapping[str, Mapping[str, Any]] | None = None, *,
                 access_token: str = "00DSIM000000001!sim-salesforce-token",
                 daily_limit: int = 15000, clock: Callable[[], datetime] | None = None,
                 port: int = 0):
        self.access_token = access_token
        self.daily_limit = daily_limit
        self.jwt_clients: dict[str, Any] = {}
        """consumer key → PEM public key (or certificate) accepted by ``/services/oauth2/token``."""
        self.jwt_users: set[str] = set()
        self.tokens_issued = 0
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._schema_spec = deepcopy(dict(schema or {"Account": {"fields": {}}}))
        super().__init__(port)
        self.route("/services/data/", ("GET",), endpoint="versions")(self._versions)
        self.route("/services/data/v<version>/", ("GET",), endpoint="resources")(self._resources)
        self.route("/services/data/v<version>/<path:rest>",
                   ("GET", "POST", "PATCH", "PUT", "DELETE"), endpoint="api")(self._api)
        self.route("/services/oauth2/token", ("POST",), endpoint="oauth_token")(self._oauth_token)

    # state ---------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.objects: dict[str, dict] = {}
        self._records: dict[str, dict[str, dict]] = {}
        self._counter = 0
        self.api_usage = 0
        self.valid_tokens = {self.access_token}
        custom = 0
        for name, spec in self._schema_spec.items():
            prefix = spec.get("keyPrefix") or STANDARD_PREFIXES.get(name)
            if prefix is None:
                prefix = f"a{custom:02d}"
                custom += 1
            self.objects[name] = self._describe_object(name, spec, prefix)
            self._records[name] = {}

    @staticmethod
    def _describe_object(name: str, spec: Mapping[str, Any], prefix: str) -> dict:
        def field(field_name: str, raw: Any, **defaults: Any) -> dict:
            raw = {"type": raw} if isinstance(raw, str) else dict(raw)
            kind = raw.get("type", "string")
            references = raw.get("referenceTo", [])
            references = [references] if isinstance(references, str) else list(references)
            relationship = raw.get("relationshipName")
            if kind == "reference" and relationship is None:
                relationship = (field_name[:-3] + "__r" if field_name.endswith("__c")
                                else field_name[:-2] if field_name.endswith("Id") else None)
            values = raw.get("values")
            return {
                "name": field_name, "label": raw.get("label", field_name.replace("__c", "").replace("_", " ")),
                "type": kind, "externalId": bool(raw.get("externalId", False)),
                "unique": bool(raw.get("unique", False)), "caseSensitive": bool(raw.get("caseSensitive", False)),
                "nillable": not raw.get("required", False) and kind != "boolean",
                "length": raw.get("length", 255 if kind in TEXT_TYPES and kind != "textarea" else
                                  131072 if kind == "textarea" else 18 if kind in ("id", "reference") else 0),
                "referenceTo": references, "relationshipName": relationship,
                "picklistValues": [{"active": True, "defaultValue": False, "label": v, "validFor": None,
                                    "value": v} for v in (values or [])],
                "restrictedPicklist": values is not None, "custom": field_name.endswith("__c"),
                "createable": defaults.get("createable", True), "updateable": defaults.get("updateable", True),
                "idLookup": field_name == "Id" or bool(raw.get("externalId", False)),
                "filterable": True, "sortable": kind != "textarea", "calculated": False,
                "defaultedOnCreate": defaults.get("defaultedOnCreate", False),
            }

        fields = {"Id": field("Id", "id", createable=False, updateable=False, defaultedOnCreate=True)}
        declared = dict(spec.get("fields", {}))
        fields["Name"] = field("Name", declared.pop("Name", "string"))
        for field_name, raw in declared.items():
            fields[field_name] = field(field_name, raw)
        for system in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            fields[system] = field(system, "datetime", createable=False, updateable=False, defaultedOnCreate=True)
        fields["IsDeleted"] = field("IsDeleted", "boolean", createable=False, updateable=False,
                                    defaultedOnCreate=True)
        return {"name": name, "label": spec.get("label", name.replace("__c", "").replace("_", " ")),
                "labelPlural": spec.get("labelPlural", name.replace("__c", "").replace("_", " ") + "s"),
                "custom": name.endswith("__c"), "keyPrefix": prefix, "createable": True,
                "updateable": True, "queryable": True, "deletable": True, "fields": fields}

    def _new_id(self, sobject: str) -> str:
        self._counter += 1
        digits, n = "", self._counter
        while n:
            n, rest = divmod(n, 62)
            digits = _ID_CHARS[rest] + digits
        return to_18(self.objects[sobject]["keyPrefix"] + "5g" + digits.rjust(10, "0"))

    # seeding and reading ---------------------------------------------------------------------

    def insert(self, sobject: str, **values: Any) -> str:
        """Create a record directly (no API call, no usage counted); returns its 18-char Id.
        Unique external IDs are *not* enforced here, so tests can build the 300 case."""
        with self.lock:
            obj = self._object(sobject)
            unknown = [k for k in values if k not in obj["fields"]]
            if unknown:
                raise KeyError(f"{sobject} has no fields {unknown}")
            return self._create(sobject, values)

    def records(self, sobject: str) -> list[dict]:
        """All records of ``sobject`` as the API would show them."""
        with self.lock:
            return [self._record_json(sobject, r, LATEST_VERSION) for r in self._records[sobject].values()]

    def record(self, sobject: str, record_id: str) -> dict:
        with self.lock:
            return self._record_json(sobject, self._records[sobject][record_id[:15]], LATEST_VERSION)

    def find(self, sobject: str, **equals: Any) -> list[dict]:
        with self.lock:
            return [self._record_json(sobject, r, LATEST_VERSION) for r in self._records[sobject].values()
                    if all(r.get(k) == v for k, v in equals.items())]

    def delete_all(self, sobject: str) -> int:
        """Delete every record of ``sobject``, as an admin (or a sandbox refresh) would;
        returns how many there were."""
        with self.lock:
            count = len(self._records[sobject])
            self._records[sobject].clear()
            return count

    def expire_session(self) -> None:
        """Every token stops working (401 INVALID_SESSION_ID) until :meth:`authorize`."""
        with self.lock:
            self.valid_tokens.clear()

    def authorize(self, token: str | None = None) -> str:
        with self.lock:
            token = token or self.access_token
            self.valid_tokens.add(token)
            return token

    def exhaust_request_limit(self) -> None:
        """Use up the daily allocation: every call answers 403 REQUEST_LIMIT_EXCEEDED."""
        with self.lock:
            self.api_usage = self.daily_limit

    def fail_with_request_limit(self, *, times: int = 1, method: str | None = None, path: str = r".*"):
        """Inject 403 ``REQUEST_LIMIT_EXCEEDED`` for the next ``times`` matching calls."""
        return self.fail_next(method, path, 403, times=times,
                              body=[{"message": "TotalRequests Limit exceeded.",
                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}])

    # HTTP plumbing ---------------------------------------------------------------------------

    def allow_jwt(self, consumer_key: str, public_key_pem: str | bytes, username: str) -> None:
        """Accept JWT bearer assertions signed (RS256) by the key pair of ``public_key_pem``
        from connected app ``consumer_key`` for ``username``."""
        with self.lock:
            self.jwt_clients[consumer_key] = public_key_pem
            self.jwt_users.add(username)

    def _oauth_token(self) -> Response:
        """``POST /services/oauth2/token`` with the JWT bearer grant, as the real org answers
        it: ``{access_token, instance_url, token_type, scope, id}`` or 400 ``invalid_grant``."""
        import jwt  # PyJWT, only needed for this route

        def refuse(error: str, description: str) -> Response:
            return json_response({"error": error, "error_description": description}, 400)

        if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return refuse("unsupported_grant_type", "grant type not supported")
        assertion = request.form.get("assertion") or ""
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            key = self.jwt_clients.get(claims.get("iss"))
            if key is None:
                return refuse("invalid_client_id", "client identifier invalid")
            claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=claims.get("aud"),
                                options={"require": ["exp", "iss", "sub", "aud"]})
        except jwt.ExpiredSignatureError:
            return refuse("invalid_grant", "expired authorization code")
        except jwt.PyJWTError:
            return refuse("invalid_grant", "invalid assertion")
        if claims["aud"] not in ("https://login.salesforce.com", "https://test.salesforce.com", self.url):
            return refuse("invalid_grant", "audience is invalid")
        if claims["sub"] not in self.jwt_users:
            return refuse("invalid_grant", "user hasn't approved this consumer")
        self.tokens_issued += 1
        token = f"00DSIM000000001!jwt-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return json_response({"access_token": token, "instance_url": self.url, "token_type": "Bearer",
                              "scope": "api", "id": f"{self.url}/id/00DSIM000000001/005SIM000000001"})

    def _authenticate(self) -> Response | None:
        if request.path == "/services/oauth2/token":
            return None
        if request.path in ("/services/data", "/services/data/"):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or token.strip() not in self.valid_tokens:
            return json_response([{"message": "Session expired or invalid",
                                   "errorCode": "INVALID_SESSION_ID"}], 401)
        if self.api_usage >= self.daily_limit:
            return json_response([{"message": "TotalRequests Limit exceeded.",
                                   "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403)
        self.api_usage += 1
        return None

    def _decorate(self, response: Response) -> Response:
        response.headers.setdefault("Sforce-Limit-Info", f"api-usage={self.api_usage}/{self.daily_limit}")
        return response

    def _unknown_route_body(self, status: int) -> Any:
        return [NOT_FOUND]

    def _versions(self) -> Response:
        return json_response([{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v}
                              for v in VERSIONS])

    def _resources(self, version: str) -> Response:
        if version not in VERSIONS:
            return json_response([NOT_FOUND], 404)
        base = f"/services/data/v{version}"
        return json_response({name: f"{base}/{name}" for name in
                              ("sobjects", "query", "composite", "limits")})

    def _api(self, version: str, rest: str) -> Response:
        body = None
        if request.method in ("POST", "PATCH", "PUT") and request.get_data():
            try:
                body = json.loads(request.get_data())
            except ValueError:
                return json_response([{"message": "Unexpected character in request body",
                                       "errorCode": "JSON_PARSER_ERROR"}], 400)
        query = {k: request.args.getlist(k) for k in request.args.keys()}
        status, headers, payload = self._handle(request.method, version, rest, query, body)
        if status == 204:
            resp = Response(status=204)
            for name, value in headers.items():
                resp.headers[name] = value
            return resp
        return json_response(payload, status, headers)

    def _handle(self, method: str, version: str, rest: str, query: Mapping[str, list[str]],
                body: Any) -> tuple[int, dict[str, str], Any]:
        """Route one call (also used for composite subrequests); returns status, headers, body."""
        try:
            if version not in VERSIONS:
                raise SalesforceError(404, [NOT_FOUND])
            rest = rest.rstrip("/")
            parts = rest.split("/", 3) if rest.startswith("sobjects") else None
            if rest == "sobjects" and method == "GET":
                return 200, {}, self._describe_global()
            if parts and len(parts) == 3 and parts[2] == "describe" and method == "GET":
                return 200, {}, self._describe(parts[1])
            if parts and len(parts) == 2 and method == "POST":
                return self._post_create(version, parts[1], body)
            if parts and len(parts) == 3 and method in ("GET", "PATCH"):
                return self._by_id(method, version, parts[1], parts[2], query, body)
            if parts and len(parts) == 4 and method in ("GET", "PATCH"):
                return self._by_external_id(method, version, parts[1], parts[2], parts[3], query, body)
            match = re.fullmatch(r"composite/sobjects/(\w+)/(\w+)", rest)
            if match and method == "PATCH":
                return self._collection_upsert(version, match.group(1), match.group(2), body)
            if rest == "composite" and method == "POST":
                return self._composite(version, body)
            if rest == "query" and method == "GET":
                return self._query(version, (query.get("q") or [""])[0])
            if rest == "limits" and method == "GET":
                return 200, {}, self._limits()
            raise SalesforceError(404, [NOT_FOUND])
        except SalesforceError as error:
            return error.status, error.headers, error.body

    # resources -------------------------------------------------------------------------------

    def _object(self, sobject: str) -> dict:
        obj = self.objects.get(sobject)
        if obj is None:
            raise SalesforceError(404, [NOT_FOUND])
        return obj

    def _describe_global(self) -> dict:
        return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            {k: o[k] for k in ("name", "label", "labelPlural", "custom", "keyPrefix", "createable",
                               "updateable", "queryable", "deletable")} for o in self.objects.values()]}

    def _describe(self, sobject: str) -> dict:
        obj = deepcopy(self._object(sobject))
        obj["fields"] = list(obj["fields"].values())
        obj["childRelationships"] = [
            {"childSObject": other["name"], "field": f["name"], "relationshipName": None,
             "cascadeDelete": False}
            for other in self.objects.values() for f in other["fields"].values()
            if sobject in f["referenceTo"]]
        obj["urls"] = {"sobject": f"/services/data/v{LATEST_VERSION}/sobjects/{sobject}",
                       "describe": f"/services/data/v{LATEST_VERSION}/sobjects/{sobject}/describe"}
        return obj

    def _limits(self) -> dict:
        return {"DailyApiRequests": {"Max": self.daily_limit,
                                     "Remaining": max(0, self.daily_limit - self.api_usage)},
                "DataStorageMB": {"Max": 5, "Remaining": 5}}

    def _url(self, version: str, sobject: str, record_id: str) -> str:
        return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"

    def _record_json(self, sobject: str, record: dict, version: str,
                     fields: Iterable[str] | None = None) -> dict:
        out: dict[str, Any] = {"attributes": {"type": sobject,
                                              "url": self._url(version, sobject, record["Id"])}}
        names = list(fields) if fields is not None else list(self.objects[sobject]["fields"])
        for name in names:
            out[name] = deepcopy(record.get(name))
        return out

    def _post_create(self, version: str, sobject: str, body: Any) -> tuple[int, dict, Any]:
        self._object(sobject)
        values = self._validated(sobject, body, creating=True)
        record_id = self._create(sobject, values)
        return 201, {"Location": self._url(version, sobject, record_id)}, \
            {"id": record_id, "success": True, "errors": []}

    def _by_id(self, method: str, version: str, sobject: str, record_id: str,
               query: Mapping[str, list[str]], body: Any) -> tuple[int, dict, Any]:
        obj = self._object(sobject)
        record = self._records[sobject].get(record_id[:15]) if _is_id_shaped(record_id) else None
        if record is None:
            raise SalesforceError(404, [NOT_FOUND])
        if method == "GET":
            wanted = None
            if query.get("fields"):
                wanted = [self._canonical(obj, f.strip()) for f in query["fields"][0].split(",")]
            return 200, {}, self._record_json(sobject, record, version, wanted)
        values = self._validated(sobject, body, creating=False, record_id=record["Id"])
        self._update(sobject, record, values)
        return 204, {}, None

    def _matches(self, sobject: str, field: dict, value: Any) -> list[dict]:
        def same(stored: Any) -> bool:
            if stored is None:
                return False
            if isinstance(stored, str) and isinstance(value, str) and not field["caseSensitive"]:
                return stored.lower() == value.lower()
            return str(stored) == str(value)

        return [r for r in self._records[sobject].values() if same(r.get(field["name"]))]

    def _external_field(self, sobject: str, field_name: str) -> dict:
        field = self._object(sobject)["fields"].get(field_name)
        if field is None or not field["idLookup"]:
            raise SalesforceError(404, [{"errorCode": "NOT_FOUND", "message":
                                         f"Provided external ID field does not exist or is not accessible: {field_name}"}])
        return field

    def _by_external_id(self, method: str, version: str, sobject: str, field_name: str, value: str,
                        query: Mapping[str, list[str]], body: Any) -> tuple[int, dict, Any]:
        field = self._external_field(sobject, field_name)
        if field_name == "Id":
            return self._by_id(method, version, sobject, value, query, body)
        matches = self._matches(sobject, field, value)
        if len(matches) > 1:
            return 300, {}, [self._url(version, sobject, r["Id"]) for r in matches]
        if method == "GET":
            if not matches:
                raise SalesforceError(404, [NOT_FOUND])
            return 200, {}, self._record_json(sobject, matches[0], version)
        if isinstance(body, dict) and field_name in body:
            raise _error(400, "INVALID_FIELD",
                         f"{field_name} is the external ID of this upsert: give its value in the URL, "
                         f"not in the request body", [field_name])
        if not matches:
            if (query.get("updateOnly") or [""])[0].lower() == "true":
                raise SalesforceError(404, [NOT_FOUND])
            values = self._validated(sobject, body, creating=True, implied=field_name)
            values[field_name] = value
            self._check_unique(sobject, values, None)
            record_id = self._create(sobject, values)
            return 201, {"Location": self._url(version, sobject, record_id)}, \
                {"id": record_id, "success": True, "errors": [], "created": True}
        record = matches[0]
        values = self._validated(sobject, body, creating=False, record_id=record["Id"])
        self._update(sobject, record, values)
        if float(version) < 46:
            return 204, {}, None
        return 200, {}, {"id": record["Id"], "success": True, "errors": [], "created": False}

    def _collection_upsert(self, version: str, sobject: str, field_name: str, body: Any) -> tuple[int, dict, Any]:
        field = self._external_field(sobject, field_name)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _error(400, "JSON_PARSER_ERROR", "The request body needs a 'records' list")
        records = body["records"]
        if len(records) > 200:
            raise _error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
        all_or_none = bool(body.get("allOrNone", False))
        snapshot = deepcopy(self._records) if all_or_none else None
        counts: dict[str, int] = {}
        for item in records:
            if isinstance(item, dict) and item.get(field_name) is not None:
                key = str(item[field_name]).lower()
                counts[key] = counts.get(key, 0) + 1
        results: list[dict] = []
        failed = False
        for item in records:
            try:
                if not isinstance(item, dict):
                    raise _error(400, "INVALID_FIELD", "each record must be an object")
                declared = (item.get("attributes") or {}).get("type")
                if declared != sobject:
                    raise _error(400, "INVALID_TYPE",
                                 f"Record type {declared!r} does not match the {sobject} in the URL")
                value = item.get(field_name)
                if value in (None, ""):
                    raise _error(400, "MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
                if counts.get(str(value).lower(), 0) > 1:
                    raise _error(400, "DUPLICATE_EXTERNAL_ID",
                                 f"Duplicate external id specified: {value}", [field_name])
                values_in = {k: v for k, v in item.items() if k not in ("attributes", field_name)}
                matches = self._matches(sobject, field, value)
                if len(matches) > 1:
                    raise _error(300, "DUPLICATE_VALUE",
                                 f"{field_name}: more than one record found for external id field: "
                                 f"{[r['Id'] for r in matches]}", [field_name])
                if matches:
                    values = self._validated(sobject, values_in, creating=False, record_id=matches[0]["Id"])
                    self._update(sobject, matches[0], values)
                    results.append({"id": matches[0]["Id"], "success": True, "errors": [], "created": False})
                else:
                    values = self._validated(sobject, values_in, creating=True, implied=field_name)
                    values[field_name] = value
                    self._check_unique(sobject, values, None)
                    results.append({"id": self._create(sobject, values), "success": True, "errors": [],
                                    "created": True})
            except SalesforceError as error:
                failed = True
                errors = [{"statusCode": e.get("errorCode"), "message": e.get("message"),
                           "fields": e.get("fields", [])} for e in error.body]
                results.append({"success": False, "errors": errors})
        if all_or_none and failed:
            self._records = snapshot  # type: ignore[assignment]
            results = [r if not r["success"] else {"success": False, "errors": [dict(ROLLED_BACK)]}
                       for r in results]
        return 200, {}, results

    def _composite(self, version: str, body: Any) -> tuple[int, dict, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise _error(400, "JSON_PARSER_ERROR", "The request body needs a 'compositeRequest' list")
        subrequests = body["compositeRequest"]
        if len(subrequests) > 25:
            raise _error(400, "INVALID_BATCH_REQUEST", "Maximum number of subrequests allowed is 25")
        seen: set[str] = set()
        for sub in subrequests:
            ref = sub.get("referenceId") if isinstance(sub, dict) else None
            if not isinstance(ref, str) or not re.fullmatch(r"[A-Za-z0-9_]+", ref) or ref in seen:
                raise _error(400, "INVALID_INPUT", f"Invalid or duplicate referenceId: {ref!r}")
            seen.add(ref)
        all_or_none = bool(body.get("allOrNone", False))
        snapshot = deepcopy(self._records) if all_or_none else None
        results: dict[str, tuple[int, Any]] = {}
        responses: list[dict] = []
        for sub in subrequests:
            ref = sub["referenceId"]
            try:
                url = self._substitute(sub.get("url", ""), results)
                payload = self._substitute(sub.get("body"), results)
            except SalesforceError as error:
                status, headers, out = error.status, {}, error.body
            else:
                parts = urlsplit(url)
                match = re.fullmatch(r"/services/data/v([\d.]+)/(.+)", parts.path)
                if not match or match.group(2).rstrip("/") == "composite":
                    status, headers, out = 400, {}, [{"errorCode": "INVALID_INPUT",
                                                      "message": f"Invalid subrequest URL: {url}"}]
                else:
                    query = {k: v for k, v in parse_qs(parts.query).items()}
                    status, headers, out = self._handle(sub.get("method", "GET").upper(), match.group(1),
                                                        unquote(match.group(2)), query, payload)
            results[ref] = (status, out)
            responses.append({"body": out, "httpHeaders": headers, "httpStatusCode": status,
                              "referenceId": ref})
            if all_or_none and status >= 400:
                self._records = snapshot  # type: ignore[assignment]
                for done in responses[:-1]:
                    done.update(body=[dict(HALTED)], httpHeaders={}, httpStatusCode=400)
                for rest in subrequests[len(responses):]:
                    responses.append({"body": [dict(HALTED)], "httpHeaders": {}, "httpStatusCode": 400,
                                      "referenceId": rest["referenceId"]})
                break
        return 200, {}, {"compositeResponse": responses}

    def _substitute(self, value: Any, results: Mapping[str, tuple[int, Any]]) -> Any:
        """Replace ``@{ref.path}`` with values from earlier subrequest responses."""
        if isinstance(value, dict):
            return {k: self._substitute(v, results) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, results) for v in value]
        if not isinstance(value, str) or "@{" not in value:
            return value

        def resolve(match: re.Match[str]) -> str:
            path = match.group(1)
            ref, _, rest = path.partition(".")
            status, body = results.get(ref, (None, None))
            current: Any = body if status is not None and status < 400 else None
            for step in re.findall(r"[^.\[\]]+|\[\d+\]", rest):
                if current is None:
                    break
                if step.startswith("["):
                    index = int(step[1:-1])
                    current = current[index] if isinstance(current, list) and index < len(current) else None
                else:
                    current = current.get(step) if isinstance(current, dict) else None
            if current is None:
                raise SalesforceError(400, [{"errorCode": "PROCESSING_HALTED", "message":
                                             f"Invalid reference specified. No value for {path} found in {ref}. "
                                             f"Provided referenceId ids are {sorted(results)}"}])
            return str(current)

        return re.sub(r"@\{([^}]+)\}", resolve, value)

    def _query(self, version: str, soql: str) -> tuple[int, dict, Any]:
        parsed = parse_soql(soql)
        obj = self.objects.get(parsed["object"]) or next(
            (o for n, o in self.objects.items() if n.lower() == parsed["object"].lower()), None)
        if obj is None:
            raise _error(400, "INVALID_TYPE", f"sObject type '{parsed['object']}' is not supported.")
        sobject = obj["name"]
        fields = [self._canonical(obj, f, query=True) for f in parsed["fields"]]
        conditions = [(self._canonical(obj, f, query=True), op, v) for f, op, v in parsed["where"]]

        def holds(record: dict) -> bool:
            for field, op, wanted in conditions:
                value = record.get(field)
                candidates = wanted if op == "IN" else [wanted]
                hit = any(_soql_equal(value, c, obj["fields"][field]) for c in candidates)
                if hit == (op == "!="):
                    return False
            return True

        rows = [r for r in self._records[sobject].values() if holds(r)]
        if parsed["order"]:
            key = self._canonical(obj, parsed["order"][0], query=True)
            rows.sort(key=lambda r: (r.get(key) is None, r.get(key) if r.get(key) is not None else ""),
                      reverse=parsed["order"][1])
        if parsed["limit"] is not None:
            rows = rows[:parsed["limit"]]
        if parsed["count"]:
            return 200, {}, {"totalSize": len(rows), "done": True, "records": []}
        return 200, {}, {"totalSize": len(rows), "done": True,
                         "records": [self._record_json(sobject, r, version, fields) for r in rows]}

    def _canonical(self, obj: dict, name: str, *, query: bool = False) -> str:
        for field_name in obj["fields"]:
            if field_name.lower() == name.lower():
                return field_name
        if query:
            raise _error(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj['name']}'. "
                         "If you are attempting to use a custom field, be sure to append the '__c' "
                         "after the custom field name.")
        raise _error(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj['name']}", [name])

    # writes ----------------------------------------------------------------------------------

    def _create(self, sobject: str, values: Mapping[str, Any]) -> str:
        record_id = self._new_id(sobject)
        now = sf_datetime(self.clock())
        record = {name: None for name in self.objects[sobject]["fields"]}
        record.update({"Id": record_id, "CreatedDate": now, "LastModifiedDate": now,
                       "SystemModstamp": now, "IsDeleted": False})
        for name, value in values.items():
            record[name] = deepcopy(value)
        self._records[sobject][record_id[:15]] = record
        return record_id

    def _update(self, sobject: str, record: dict, values: Mapping[str, Any]) -> None:
        self._check_unique(sobject, {**record, **values}, record["Id"])
        for name, value in values.items():
            record[name] = deepcopy(value)
        now = sf_datetime(self.clock())
        record["LastModifiedDate"] = record["SystemModstamp"] = now

    def _check_unique(self, sobject: str, values: Mapping[str, Any], own_id: str | None) -> None:
        for field in self.objects[sobject]["fields"].values():
            value = values.get(field["name"])
            if not field["unique"] or value is None:
                continue
            for other in self._matches(sobject, field, value):
                if other["Id"] != own_id:
                    raise _error(400, "DUPLICATE_VALUE",
                                 f"duplicate value found: {field['name']} duplicates value on record "
                                 f"with id: {other['Id']}", [field["name"]])

    def _validated(self, sobject: str, body: Any, *, creating: bool, record_id: str | None = None,
                   implied: str | None = None) -> dict:
        """Check a write body against the schema; returns field values to store."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise _error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        obj = self.objects[sobject]
        fields = obj["fields"]
        relationships = {f["relationshipName"]: f for f in fields.values()
                         if f["type"] == "reference" and f["relationshipName"]}
        values: dict[str, Any] = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            if key in relationships and isinstance(value, dict):
                field = relationships[key]
                values[field["name"]] = self._resolve_relationship(field, value)
                continue
            if key not in fields:
                raise _error(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject}", [key])
            field = fields[key]
            if not (field["createable"] if creating else field["updateable"]):
                raise _error(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                             f"Unable to create/update fields: {key}. Please check the security settings "
                             f"of this field and verify that it is read/write for your profile or "
                             f"permission set.", [key])
            values[key] = self._checked_value(field, value)
        if creating:
            missing = [f["name"] for f in fields.values()
                       if not f["nillable"] and f["createable"] and f["type"] != "boolean"
                       and f["name"] != implied and values.get(f["name"]) is None]
            if missing:
                raise _error(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing)
        else:
            cleared = [k for k, v in values.items() if v is None and not fields[k]["nillable"]]
            if cleared:
                raise _error(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: {cleared}", cleared)
        return values

    def _resolve_relationship(self, field: dict, value: Mapping[str, Any]) -> str:
        keys = [k for k in value if k != "attributes"]
        targets = field["referenceTo"]
        if len(keys) != 1 or not targets:
            raise _error(400, "INVALID_FIELD",
                         f"{field['relationshipName']} must name exactly one external ID field", [field["name"]])
        target = targets[0]
        ext = self.objects[target]["fields"].get(keys[0])
        if ext is None or not ext["idLookup"]:
            raise _error(400, "INVALID_FIELD", f"Field {keys[0]} on {target} is not an external ID",
                         [field["name"]])
        matches = self._matches(target, ext, value[keys[0]])
        if len(matches) != 1:
            verdict = "not found" if not matches else "matches more than one record"
            raise _error(400, "INVALID_FIELD", f"Foreign key external ID: {value[keys[0]]} {verdict} for "
                         f"field {keys[0]} in entity {target}", [field["name"]])
        return matches[0]["Id"]

    def _checked_value(self, field: dict, value: Any) -> Any:
        if value is None:
            return None
        kind, label = field["type"], field["label"]

        def bad_json(expected: str) -> SalesforceError:
            return _error(400, "JSON_PARSER_ERROR",
                          f"Cannot deserialize instance of {expected} from {type(value).__name__} "
                          f"value {value!r} for field {field['name']}")

        if kind in TEXT_TYPES or kind == "id":
            if not isinstance(value, str):
                raise bad_json("string")
            if field["length"] and len(value) > field["length"]:
                raise _error(400, "STRING_TOO_LONG", f"{label}: data value too large: {value[:40]}... "
                             f"(max length={field['length']})", [field["name"]])
            if field["restrictedPicklist"]:
                allowed = [p["value"] for p in field["picklistValues"]]
                chosen = value.split(";") if kind == "multipicklist" else [value]
                if any(v not in allowed for v in chosen):
                    raise _error(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                 f"{label}: bad value for restricted picklist field: {value}", [field["name"]])
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                raise bad_json("boolean")
            return value
        if kind in NUMBER_TYPES:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
                    return float(value) if "." in value else int(value)
                raise bad_json("double")
            return value
        if kind == "date":
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise bad_json("date")
            try:
                date.fromisoformat(value)
            except ValueError as error:
                raise bad_json("date") from error
            return value
        if kind == "datetime":
            if not isinstance(value, str):
                raise bad_json("datetime")
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError as error:
                raise bad_json("datetime") from error
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return sf_datetime(moment)
        if kind == "reference":
            if not _is_id_shaped(value):
                raise _error(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [field["name"]])
            for target in field["referenceTo"]:
                if value[:15] in self._records.get(target, {}):
                    return to_18(value[:15])
            raise _error(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id", [field["name"]])
        return value


def _soql_equal(value: Any, wanted: Any, field: dict) -> bool:
    if wanted is None or value is None:
        return value is None and wanted is None
    if field["type"] in ("id", "reference") and isinstance(value, str) and isinstance(wanted, str):
        return value[:15] == wanted[:15]
    if isinstance(value, str) and isinstance(wanted, str):
        return value.lower() == wanted.lower()
    if isinstance(value, bool) or isinstance(wanted, bool):
        return value is wanted
    return value == wanted
