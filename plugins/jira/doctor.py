"""What ``connector doctor`` asks of Jira: do the credentials work, and do the manifest's
project, issue type and priorities exist there? Each problem is one precise sentence."""
from __future__ import annotations

from typing import Any

from connector.http import TransientHTTPError
from connector.pipeline.retry import PermanentError, RetryLater
from plugins.jira.client import JiraClient


def problems(settings: Any, manifest: Any) -> list[str]:
    config = manifest.jira
    client = JiraClient(settings.jira)
    try:
        return _problems(client, config)
    except (PermanentError, TransientHTTPError, RetryLater) as error:
        return [f"Jira at {client.base_url} could not be checked: {error}"]
    finally:
        client.close()


def _problems(client: JiraClient, config: Any) -> list[str]:
    jira = client.jira
    client._call("reading the API user (myself)", jira.myself)
    found = []
    try:
        project = client._call(f"reading project {config.project}", lambda: jira.project(config.project))
    except PermanentError as error:
        if "404" in str(error):
            return [f"jira.project: project {config.project} does not exist in Jira (or the API user cannot see it)"]
        raise
    types = client._call("reading the project's issue types",
                         lambda: jira._get_json("issuetype/project", params={"projectId": project.id}))
    names = sorted(t["name"] for t in types)
    if config.issue_type not in names:
        found.append(f"jira.issue_type: {config.issue_type!r} is not an issue type of project {config.project} "
                     f"(it has: {', '.join(names)})")
    priorities = {p.name for p in client._call("reading priorities", jira.priorities)}
    for tier, name in config.priority_by_tier.items():
        if name not in priorities:
            found.append(f"jira.priority_by_tier.{tier}: priority {name!r} does not exist in Jira "
                         f"(it has: {', '.join(sorted(priorities))})")
    return found
