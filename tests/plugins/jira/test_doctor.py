"""The Jira plugin's doctor check against the Jira simulator."""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from connector.config import JiraSettings
from connector.manifest import load_manifest
from plugins.jira import doctor
from plugins.jira.simulator import JiraSimulator
from tests.support.desk import SHIPPED_MANIFEST

MANIFEST = load_manifest(SHIPPED_MANIFEST)


@pytest.fixture(scope="module")
def jira():
    with JiraSimulator() as sim:
        yield sim


def settings(sim, token=None):
    return SimpleNamespace(jira=JiraSettings(sim.url, sim.email, token or sim.api_token, ()))


def test_the_shipped_manifest_passes_against_a_matching_site(jira):
    assert doctor.problems(settings(jira), MANIFEST) == []


@pytest.mark.parametrize("change, expected", [
    ({"project": "NOPE"}, "jira.project: project NOPE does not exist in Jira"),
    ({"issue_type": "Defect"}, "jira.issue_type: 'Defect' is not an issue type of project PAY (it has: Bug,"),
    ({"priority_by_tier": {"T4": "Blocker"}}, "jira.priority_by_tier.T4: priority 'Blocker' does not exist in Jira"),
])
def test_each_wrong_name_is_named_with_its_manifest_key(jira, change, expected):
    [problem] = doctor.problems(settings(jira), replace(MANIFEST, jira=replace(MANIFEST.jira, **change)))
    assert problem.startswith(expected)


def test_bad_credentials_say_what_to_check(jira):
    [problem] = doctor.problems(settings(jira, token="wrong"), MANIFEST)
    assert "401" in problem and "JIRA_API_TOKEN" in problem and "wrong" not in problem
