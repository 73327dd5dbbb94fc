"""``/healthz`` (the process answers), ``/readyz`` (store reachable, manifest loaded),
``/metrics`` (Prometheus text)."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import DBAPIError

from connector.metrics import COUNTERS, render

log = logging.getLogger("connector.health")
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    runtime = current_app.extensions["connector"]
    problems = []
    try:
        _ping(runtime.store)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        problems.append(f"store unreachable: {error.__class__.__name__}")
    if runtime.manifest is None:
        problems.append("manifest not loaded")
    if problems:
        response = jsonify({"status": "unavailable", "problems": problems})
        response.status_code = 503
        return response
    return jsonify({"status": "ready"})


def _ping(store) -> None:
    """A pooled connection is not pinged before use unless it sat idle (see
    ``connector.store``), so one that died under traffic (the database restarted) fails
    here once; the pool has then dropped it and its peers, and the second ping shows
    whether the store itself is reachable."""
    try:
        store.ping()
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        store.ping()


@bp.get("/metrics")
def metrics():
    runtime = current_app.extensions["connector"]
    try:
        COUNTERS.flush(runtime.store)  # this process's latest counts are included
    except Exception:
        log.warning("could not flush counters before scrape", exc_info=True)
    return Response(render(runtime.store, runtime.queue), mimetype=CONTENT_TYPE_LATEST)
