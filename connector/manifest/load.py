"""Reading a manifest: YAML -> schemas -> cross-checks -> :class:`Manifest`, with every
problem collected before anything is raised."""
from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, Mapping

import yaml
from marshmallow import ValidationError

from connector.manifest.build import build_manifest
from connector.manifest.checks import cross_check
from connector.manifest.model import Manifest
from connector.manifest.problems import ManifestError, ManifestUnreadable, Problem
from connector.manifest.schema import ManifestSchema

DEFAULT_PATH = "manifest/connector.yaml"


def default_path() -> str:
    return os.environ.get("CONNECTOR_MANIFEST") or DEFAULT_PATH


def parse_manifest(data: Any) -> Manifest:
    """Check plain data (as loaded from YAML) and build the manifest, or raise
    :class:`ManifestError` listing every problem."""
    problems, clean = check_manifest(data)
    if problems:
        raise ManifestError(problems)
    return build_manifest(clean)


def check_manifest(data: Any) -> tuple[list[Problem], dict]:
    if data is None:
        return [Problem("", "the manifest is empty — start from the shipped manifest/connector.yaml")], {}
    if not isinstance(data, Mapping):
        return [Problem("", "the manifest must be a mapping of sections (version:, zendesk:, tiers:, …) — "
                            "start from the shipped manifest/connector.yaml")], {}
    try:
        clean = ManifestSchema().load(data)
        problems: list[Problem] = []
    except ValidationError as error:
        problems = list(_flatten(error.messages, ()))
        clean = error.valid_data if isinstance(error.valid_data, dict) else {}
    problems += cross_check(data, clean)
    return _unique(problems), clean


def _flatten(messages: Any, path: tuple[str, ...]) -> Iterator[Problem]:
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            yield from _flatten(value, path if key == "_schema" else path + (str(key),))
    elif isinstance(messages, (list, tuple)):
        for message in messages:
            yield from _flatten(message, path)
    else:
        yield Problem(".".join(path), str(messages))


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# -- from a file -----------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves an impossible date (``2026-02-30``) as text, so the schema
    reports it with its path instead of the YAML parser failing on it."""

    def construct_yaml_timestamp(self, node):  # noqa: D401 - PyYAML hook
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def load_manifest(path: str | os.PathLike | None = None) -> Manifest:
    """Read and check the manifest at ``path`` (default: ``$CONNECTOR_MANIFEST`` or
    ``manifest/connector.yaml``). Raises :class:`ManifestUnreadable` when the file cannot
    be read or is not YAML, :class:`ManifestError` when it is invalid."""
    data, problems = read_manifest(path)
    try:
        manifest = parse_manifest(data)
    except ManifestError as error:
        problems = problems + error.problems
        manifest = None
    if problems:
        raise ManifestError(_sorted(problems, data._lines if isinstance(data, _Document) else {}))
    return manifest


class _Document(dict):
    """The loaded top-level mapping, remembering the line of every key path."""

    _lines: dict[tuple[str, ...], int]


def read_manifest(path: str | os.PathLike | None = None) -> tuple[Any, list[Problem]]:
    """YAML -> plain data, plus the problems YAML itself hides (duplicate keys)."""
    path = os.fspath(path if path is not None else default_path())
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ManifestUnreadable([Problem(path, "no such file — create it from the shipped "
                                                "manifest/connector.yaml, or point CONNECTOR_MANIFEST at yours")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestUnreadable([Problem(path, f"cannot be read ({error}) — check the path and permissions, "
                                                "and save it as UTF-8")]) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        raise ManifestUnreadable([Problem(path, f"is not valid YAML — {_yaml_message(error)}")]) from None
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    problems = list(_walk(node, (), lines)) if node is not None else []
    if isinstance(data, dict):
        document = _Document(data)
        document._lines = lines
        data = document
    return data, problems


def _yaml_message(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem} (check the indentation and quoting around there)"


def _walk(node: yaml.Node, path: tuple[str, ...], lines: dict) -> Iterator[Problem]:
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            here = path + (key,)
            if key in first_seen:
                yield Problem(".".join(here), f"appears twice in the same mapping (lines {first_seen[key]} and "
                                              f"{line}); YAML would silently keep only the last — merge them "
                                              "or rename one", line)
            else:
                first_seen[key] = line
                lines[here] = line
            yield from _walk(value_node, here, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = path + (str(index),)
            lines[here] = item.start_mark.line + 1
            yield from _walk(item, here, lines)


def _sorted(problems: list[Problem], lines: Mapping[tuple[str, ...], int]) -> list[Problem]:
    located = []
    for problem in _unique(problems):
        line = problem.line
        if line is None and problem.path:
            parts = tuple(problem.path.split("."))
            while parts and parts not in lines:
                parts = parts[:-1]
            line = lines.get(parts)
        located.append(Problem(problem.path, problem.message, line))
    return sorted(located, key=lambda p: p.line if p.line is not None else 0)
