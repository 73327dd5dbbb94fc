"""The Salesforce plugin's declaration: no webhooks, one job, listening to
``escalation.changed`` so every change to an escalation is mirrored on the ticket's lane.

The job is declared :func:`~connector.registry.lazy`: the web process does not import the
mirror or simple-salesforce."""
from __future__ import annotations

from typing import Any

from connector.registry import Plugin, lazy

CHANGED_TOPIC = "escalation.changed"


def build(settings: Any, manifest: Any) -> Plugin:
    return Plugin(name="salesforce", jobs={"mirror": lazy("plugins.salesforce.mirror:mirror_job")},
                  listens={CHANGED_TOPIC: "mirror"})


def enabled(settings: Any, manifest: Any) -> bool:
    """Mirror only when Salesforce is configured and the manifest has a salesforce section."""
    salesforce = getattr(settings, "salesforce", None)
    return bool(salesforce is not None and salesforce.configured
                and manifest is not None and getattr(manifest, "salesforce", None) is not None)
