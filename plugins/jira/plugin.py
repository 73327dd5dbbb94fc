"""The Jira plugin's declaration: product bugs from escalated tickets, linked both ways.

It listens to ``escalation.product_bug`` (``jira.link_bug``) and ``escalation.changed``
(``jira.sync_ticket_state``: a solved ticket shows as resolved on its issues' remote
links), and handles Jira's
``jira:issue_updated`` webhooks; see :mod:`plugins.jira.bugs`. Without Jira credentials
or a ``jira`` manifest section it declares nothing, so Jira webhooks are answered 200
and logged as unsupported. The handlers are declared :func:`~connector.registry.lazy`:
the web process does not import them or the jira library.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin, lazy

SOURCE = "jira"
BUGS = "plugins.jira.bugs"
IGNORED = ("jira:issue_created", "comment_created", "comment_updated", "comment_deleted",
           "worklog_updated", "issuelink_created", "issuelink_deleted")


def enabled(settings: Any, manifest: Any) -> bool:
    jira = getattr(settings, "jira", None)
    return bool(jira is not None and jira.configured and getattr(manifest, "jira", None) is not None)


def build(settings: Any, manifest: Any) -> Plugin:
    if not enabled(settings, manifest):
        return Plugin(name="jira", handles={}, ignores=frozenset())
    return Plugin(
        name="jira",
        handles={(SOURCE, "jira:issue_updated"): lazy(f"{BUGS}:on_issue_updated")},
        ignores=frozenset((SOURCE, name) for name in IGNORED),
        jobs={name: lazy(f"{BUGS}:{name}") for name in ("link_bug", "tell_ticket", "sync_ticket_state")},
        listens={"escalation.product_bug": "link_bug", "escalation.changed": "sync_ticket_state"},
    )
