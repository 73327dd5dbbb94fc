"""The connector's plugins, registered explicitly (no discovery by import name).

Each system has a folder here: its webhook parsing, client wrapper, the writes it
performs and its simulator. :func:`default_registry` is the one place that says which
plugins run.
"""
from __future__ import annotations

from typing import Any

from connector.registry import Registry


def default_registry(settings: Any, manifest: Any) -> Registry:
    from plugins.zendesk import plugin as zendesk
    from plugins.jira import plugin as jira

    from plugins.salesforce import plugin as salesforce

    plugins = [zendesk.build(settings, manifest), jira.build(settings, manifest)]
    if salesforce.enabled(settings, manifest):
        plugins.append(salesforce.build(settings, manifest))
    return Registry(plugins)
