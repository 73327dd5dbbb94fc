"""Let simple-salesforce reach an ``http://`` instance URL (a local simulator).

simple-salesforce 1.12 keeps only the host (and a port other than 443) of
``instance_url`` and always builds ``https://{host[:port]}/services/data/v59.0/...``
(also for ``query_more``, bulk, apex and metadata URLs). So ``http://127.0.0.1:8802`` turns
into ``https://127.0.0.1:8802/...`` and the TLS handshake fails against a plain-HTTP server.

:func:`session_for_instance_url` returns a ``requests.Session`` to hand to
``Salesforce(session=...)``. For an ``https://`` instance URL it is an ordinary session.
For an ``http://`` one it mounts an adapter on exactly the ``https://`` prefix
simple-salesforce will produce for that instance and sends those requests to the original
``http://`` URL; every other URL is left alone. Plain HTTP carries the bearer token in the
clear, so it is only accepted for loopback hosts unless ``allow_insecure_http=True``::

    session = session_for_instance_url("http://127.0.0.1:8802")
    sf = Salesforce(instance_url="http://127.0.0.1:8802", session_id=token, session=session)

IPv6 literals do not work with simple-salesforce (it drops the brackets); use 127.0.0.1.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import requests

from connector.simulation import RebaseAdapter

__all__ = ["is_loopback_host", "session_for_instance_url", "simple_salesforce_base"]


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def simple_salesforce_base(instance_url: str) -> str:
    """The ``https://host[:port]/`` prefix simple-salesforce builds for ``instance_url``."""
    parts = urlsplit(instance_url)
    if not parts.hostname:
        raise ValueError(f"instance URL {instance_url!r} has no host")
    netloc = parts.hostname
    if parts.port not in (None, 443):
        netloc += f":{parts.port}"
    return f"https://{netloc}/"


def session_for_instance_url(instance_url: str, *, allow_insecure_http: bool = False,
                             session: requests.Session | None = None) -> requests.Session:
    """A session with which simple-salesforce reaches ``instance_url`` over its own scheme."""
    parts = urlsplit(instance_url)
    session = session or requests.Session()
    if parts.scheme == "https":
        return session
    if parts.scheme != "http":
        raise ValueError(f"instance URL {instance_url!r} must start with https:// (or http:// for a local simulator)")
    if not parts.hostname:
        raise ValueError(f"instance URL {instance_url!r} has no host")
    if not (allow_insecure_http or is_loopback_host(parts.hostname)):
        raise ValueError(
            f"instance URL {instance_url!r} uses plain http on a non-loopback host; the access "
            "token would travel unencrypted. Use https, or 127.0.0.1 for a local simulator.")
    source = simple_salesforce_base(instance_url)
    target = f"http://{parts.netloc}/"
    adapter = RebaseAdapter(source, target)
    session.mount(adapter.source, adapter)
    return session
