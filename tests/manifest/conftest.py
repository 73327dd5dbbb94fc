"""Fixtures for the manifest tests: the shipped manifest as data, and a way to see the
problems a variation of it has."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from connector.manifest import ManifestError, parse_manifest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "manifest" / "connector.yaml"


@pytest.fixture(scope="session")
def _shipped_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


@pytest.fixture
def shipped(_shipped_data) -> dict:
    """The shipped manifest as plain data, fresh for each test to change."""
    return copy.deepcopy(_shipped_data)


def problems(data) -> dict[str, str]:
    """``{path: message}`` of every problem ``parse_manifest`` reports (fails if valid);
    several messages at one path are joined with `` | ``."""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    found: dict[str, str] = {}
    for problem in caught.value.problems:
        found[problem.path] = f"{found[problem.path]} | {problem.message}" if problem.path in found else problem.message
    return found


def only_problem(data) -> tuple[str, str]:
    found = problems(data)
    assert len(found) == 1, found
    return next(iter(found.items()))
