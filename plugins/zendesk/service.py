"""The one Zendesk client a process shares, built on first use from the settings.

Handlers of every plugin reach Zendesk through :func:`zendesk_client`; tests put a
ready-made client in ``services["zendesk"]``.
"""
from __future__ import annotations

import threading
from typing import Any, MutableMapping

from connector.pipeline.retry import PermanentError
from plugins.zendesk.client import ZendeskClient

_lock = threading.Lock()


def zendesk_client(services: MutableMapping[str, Any]) -> ZendeskClient:
    client = services.get("zendesk")
    if client is not None:
        return client
    with _lock:
        client = services.get("zendesk")
        if client is None:
            settings = services.get("settings")
            zendesk = getattr(settings, "zendesk", None)
            if zendesk is None or not zendesk.configured:
                raise PermanentError("Zendesk is not configured: set ZENDESK_SUBDOMAIN or ZENDESK_URL, and "
                                     "ZENDESK_OAUTH_TOKEN or ZENDESK_EMAIL + ZENDESK_API_TOKEN")
            client = ZendeskClient(zendesk)
            services["zendesk"] = client
    return client
