"""Check requests against a vendor's OpenAPI document: the operation exists (path and
method), path and query parameters are ones it declares (required ones present), a
required body is there, and every object in the body carries the properties its schema
requires (``$ref``, ``allOf`` followed).

The documents live in ``../shared/reference`` next to the project (``CONNECTOR_REFERENCE``
points elsewhere); a test calling :func:`reference` is skipped with the reason when the
document is absent. Jira's document describes ``/rest/api/3``; v2 has the same operations
with plain-text bodies, so ``/rest/api/2/...`` is looked up as ``/rest/api/3/...``.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import pytest
import yaml

REFERENCE = Path(os.environ.get("CONNECTOR_REFERENCE")
                 or Path(__file__).resolve().parents[2].parent / "shared" / "reference")
ZENDESK = "zendesk-support-oas.yaml"
JIRA = "jira-cloud-platform-oas.json"
METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec: Mapping[str, Any]


class OpenApi:
    def __init__(self, document: Mapping[str, Any], *, rewrite: Iterable[tuple[str, str]] = ()):
        self.document = document
        self.rewrite = tuple(rewrite)
        self._routes = []
        for template, item in document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + r"(\.json)?$")
            literal = len(re.sub(r"\{[^}]+\}", "", template))  # prefer /issue/createmeta over /issue/{id}
            for method in METHODS:
                if method in item:
                    self._routes.append((literal, pattern, Operation(method.upper(), template, item[method])))
        self._routes.sort(key=lambda route: -route[0])

    def operation(self, method: str, path: str) -> Operation | None:
        for old, new in self.rewrite:
            if path.startswith(old):
                path = new + path[len(old):]
        for _, pattern, operation in self._routes:
            if operation.method == method.upper() and pattern.match(path):
                return operation
        return None

    def problems(self, method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None) -> list[str]:
        """What is wrong with one request, as sentences naming the request (empty when fine)."""
        where = f"{method.upper()} {path}"
        operation = self.operation(method, path)
        if operation is None:
            return [f"{where}: no such operation in the document"]
        found: list[str] = []
        parameters = [self.resolve(p) for p in operation.spec.get("parameters", ())]
        declared = {p["name"] for p in parameters if p.get("in") == "query"}
        for name in sorted(set(query or {}) - declared):
            found.append(f"{where}: query parameter {name!r} is not declared by {operation.template}")
        for p in parameters:
            if p.get("in") == "query" and p.get("required") and p["name"] not in (query or {}):
                found.append(f"{where}: required query parameter {p['name']!r} is missing")
        request_body = self.resolve(operation.spec.get("requestBody") or {})
        if request_body.get("required") and body is None:
            found.append(f"{where}: the operation requires a body")
        schema = ((request_body.get("content") or {}).get("application/json") or {}).get("schema")
        if schema is not None and body is not None:
            found.extend(f"{where}: {problem}" for problem in self._required(schema, body, "body"))
        return found

    def resolve(self, node: Any) -> Any:
        """Follow ``{"$ref": "#/components/..."}`` to what it names."""
        while isinstance(node, Mapping) and "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def _required(self, schema: Any, value: Any, where: str) -> list[str]:
        schema = self._flatten(schema)
        found = []
        if isinstance(value, Mapping):
            for name in schema.get("required", ()):
                if name not in value:
                    found.append(f"{where}.{name} is required")
            properties = schema.get("properties") or {}
            for name, item in value.items():
                if name in properties:
                    found.extend(self._required(properties[name], item, f"{where}.{name}"))
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                found.extend(self._required(schema["items"], item, f"{where}[{index}]"))
        return found

    def _flatten(self, schema: Any) -> dict:
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping):
            return {}
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema.get("allOf", ()):
            part = self._flatten(part)
            merged["required"] = [*merged.get("required", ()), *part.get("required", ())]
            merged["properties"] = {**part.get("properties", {}), **merged.get("properties", {})}
        return merged


@lru_cache(maxsize=None)
def reference(name: str) -> OpenApi:
    """The named document, loaded once; skips the calling test when it is absent."""
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the vendors' OpenAPI documents live in ../shared/reference next to "
                    "the project (or CONNECTOR_REFERENCE); without them requests cannot be checked")
    with path.open(encoding="utf-8") as handle:
        if path.suffix == ".json":
            document = json.load(handle)
        else:
            document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    rewrite = [("/rest/api/2/", "/rest/api/3/")] if name == JIRA else []
    return OpenApi(document, rewrite=rewrite)
