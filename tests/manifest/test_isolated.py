"""The web process's manifest check in a child process: the same manifest, the same
problems and the same exceptions as checking here, and a check here (with a warning) when
the child cannot answer."""
from __future__ import annotations

import logging

import pytest

from connector.manifest import ManifestError, ManifestUnreadable, load_manifest
from connector.manifest import isolated
from connector.manifest.isolated import ChildFailed, check_in_child, load_manifest_isolated
from tests.manifest.conftest import SHIPPED

# Problems of every kind: schema (two at one calendar), cross-reference, and holiday places
# that only the country modules can tell (an unknown subdivision, a subdivision's name).
INVALID = [
    ("country: US, subdivision: NY", "country: US, subdivision: Alaska"),
    ("calendar: business", "calendar: busness"),
    ("default_tier: T1", "default_tier: T9"),
]


def _variant(tmp_path, replacements, name="connector.yaml"):
    text = SHIPPED.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refusal(path) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return caught.value


def test_the_child_builds_the_manifest_this_process_would():
    kind, manifest = check_in_child(SHIPPED)
    assert kind == "manifest"
    assert manifest == load_manifest(SHIPPED)


def test_an_invalid_manifest_is_refused_with_the_same_problems_and_lines(tmp_path):
    path = _variant(tmp_path, INVALID)
    here = _refusal(path)
    assert len(here.problems) >= 3 and all(problem.line for problem in here.problems)
    assert check_in_child(path) == ("invalid", here.problems)
    with pytest.raises(ManifestError) as caught:
        load_manifest_isolated(path)
    assert type(caught.value) is ManifestError
    assert caught.value.problems == here.problems and str(caught.value) == str(here)


@pytest.mark.parametrize("text", [None, "version: 1\nzendesk:\n  fields: {a: 1\n  levels: []\n"])
def test_an_unreadable_manifest_is_unreadable_in_the_child_too(tmp_path, text):
    path = tmp_path / "connector.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    here = _refusal(path)
    assert isinstance(here, ManifestUnreadable)
    with pytest.raises(ManifestUnreadable) as caught:
        load_manifest_isolated(path)
    assert caught.value.problems == here.problems


@pytest.mark.parametrize("executable, failure", [
    ("/nonexistent/python", "No such file or directory"),
    ("/bin/false", "exit status 1: no message"),
    ("/bin/echo", "unreadable answer"),
])
def test_a_child_that_cannot_answer_is_a_failure(monkeypatch, executable, failure):
    monkeypatch.setattr(isolated.sys, "executable", executable)
    with pytest.raises(ChildFailed, match=failure):
        check_in_child(SHIPPED)


def test_a_slow_child_is_a_failure():
    with pytest.raises(ChildFailed, match="timed out"):
        check_in_child(SHIPPED, timeout=0.001)


def test_a_child_that_crashes_says_how(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the child finds this `connector` first
    (tmp_path / "connector").mkdir()
    (tmp_path / "connector" / "__init__.py").write_text("raise RuntimeError('broken install')\n")
    with pytest.raises(ChildFailed, match="exit status 1: RuntimeError: broken install"):
        check_in_child(SHIPPED)


@pytest.mark.parametrize("valid", [True, False])
def test_without_an_answer_the_manifest_is_checked_here_with_a_warning(tmp_path, monkeypatch, caplog, valid):
    path = SHIPPED if valid else _variant(tmp_path, INVALID)
    monkeypatch.setattr(isolated.sys, "executable", "/bin/false")
    with caplog.at_level(logging.WARNING, logger="connector.manifest"):
        if valid:
            assert load_manifest_isolated(path) == load_manifest(path)
        else:
            with pytest.raises(ManifestError) as caught:
                load_manifest_isolated(path)
            assert caught.value.problems == _refusal(path).problems
    assert [r.getMessage() for r in caplog.records] == [
        "checking the manifest in this process (its checker stays loaded, about 15 MB): the child process "
        "that checks it failed: exit status 1: no message"]
