"""Every route a simulator serves must exist, with that method, in the vendor's OpenAPI
document — so code that works against a simulator asks the real API for things it has.

The documents live in ``../shared/reference`` (outside the project); without them these
tests are skipped with the reason. Jira's document describes ``/rest/api/3``; v2 offers
the same operations, so ``/rest/api/2/...`` is looked up as ``/rest/api/3/...``.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from plugins.jira.simulator import JiraSimulator
from plugins.zendesk.simulator import ZendeskSimulator

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
ZENDESK_OAS = REFERENCE / "zendesk-support-oas.yaml"
JIRA_OAS = REFERENCE / "jira-cloud-platform-oas.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

JIRA_NOT_IN_OAS = {
    # Not part of the platform REST API: the jira client calls it from add_remote_link and
    # Cloud refuses it with 403, which is all the simulator does with it.
    ("GET", "/rest/applinks/latest/listApplicationlinks"),
}


def normalise(path: str) -> str:
    """``/a/{x}/b`` and ``/a/<int:x>/b.json`` both become ``/a/{}/b``."""
    path = re.sub(r"<[^>]+>", "{}", path)
    path = re.sub(r"\{[^}]+\}", "{}", path)
    return path.removesuffix(".json")


def simulator_routes(simulator) -> set[tuple[str, str]]:
    return {(method, normalise(rule.rule))
            for rule in simulator.app.url_map.iter_rules()
            for method in rule.methods or ()
            if method.lower() in HTTP_METHODS}


def operations(paths: dict) -> set[tuple[str, str]]:
    return {(method.upper(), normalise(path)) for path, item in paths.items()
            for method in item if method in HTTP_METHODS}


@lru_cache(maxsize=None)
def zendesk_operations() -> frozenset[tuple[str, str]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with ZENDESK_OAS.open(encoding="utf-8") as handle:
        return frozenset(operations(yaml.load(handle, Loader=loader)["paths"]))


@lru_cache(maxsize=None)
def jira_operations() -> frozenset[tuple[str, str]]:
    with JIRA_OAS.open(encoding="utf-8") as handle:
        return frozenset(operations(json.load(handle)["paths"]))


def require(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent: the vendors' OpenAPI documents live in ../shared/reference "
                    "next to the project; without them the routes cannot be checked")


def test_every_zendesk_simulator_route_is_in_the_zendesk_openapi_document():
    require(ZENDESK_OAS)
    routes = simulator_routes(ZendeskSimulator())
    assert len(routes) >= 12
    missing = sorted(routes - zendesk_operations())
    assert missing == [], f"the Zendesk simulator serves routes the real API does not have: {missing}"


def test_every_jira_simulator_route_is_in_the_jira_openapi_document():
    require(JIRA_OAS)
    routes = simulator_routes(JiraSimulator())
    assert JIRA_NOT_IN_OAS <= routes
    as_v3 = {(method, path.replace("/rest/api/2/", "/rest/api/3/", 1))
             for method, path in routes - JIRA_NOT_IN_OAS}
    assert len(as_v3) >= 15
    missing = sorted(as_v3 - jira_operations())
    assert missing == [], f"the Jira simulator serves routes the real API does not have: {missing}"


def test_the_check_notices_a_route_the_api_does_not_have():
    require(JIRA_OAS)
    invented = ("GET", "/rest/api/3/issue/{}/escalate")
    assert invented not in jira_operations()
    assert ("GET", "/rest/api/3/issue/{}") in jira_operations()
