"""The Jira plugin's declaration: product bugs from escalated tickets, linked both ways.

It listens to ``escalation.product_bug`` (``jira.link_bug``) and handles Jira's
``jira:issue_updated`` webhooks; see :mod:`plugins.jira.bugs`. Without Jira credentials
or a ``jira`` manifest section it declares nothing, so Jira webhooks are answered 200
and logged as unsupported.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin

SOURCE = "jira"
IGNORED = ("jira:issue_created", "comment_created", "comment_updated", "comment_deleted",
           "worklog_updated", "issuelink_created", "issuelink_deleted")


def enabled(settings: Any, manifest: Any) -> bool:
    jira = getattr(settings, "jira", None)
    return bool(jira is not None and jira.configured and getattr(manifest, "jira", None) is not None)


def build(settings: Any, manifest: Any) -> Plugin:
    if not enabled(settings, manifest):
        return Plugin(name="jira", handles={}, ignores=frozenset())
    from plugins.jira.bugs import link_bug, on_issue_updated, tell_ticket

    return Plugin(
        name="jira",
        handles={(SOURCE, "jira:issue_updated"): on_issue_updated},
        ignores=frozenset((SOURCE, name) for name in IGNORED),
        jobs={"link_bug": link_bug, "tell_ticket": tell_ticket},
        listens={"escalation.product_bug": "link_bug"},
    )
