"""``POST /webhooks/zendesk`` and ``POST /webhooks/jira``: verify, store, answer.

The order of checks is deliberate: size (413) and content type (415) are cheap and need
no secret; then the signature over the **raw bytes** (401, with the reason logged but not
returned); only then is the body parsed (400 if malformed) and normalised. Nothing is
stored unless every check passed. The answer (202) comes once the event and its jobs
are committed; the work happens in the workers.
"""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, request

from connector.events import MalformedEvent
from connector.logs import bind_correlation_id
from connector.metrics import COUNTERS
from connector.signing import (
    HUB_SIGNATURE_HEADER, ZENDESK_SIGNATURE_HEADER, ZENDESK_TIMESTAMP_HEADER, SignatureError,
    verify_hub_signature, verify_zendesk_signature,
)

log = logging.getLogger("connector.intake")

MAX_BODY = 256 * 1024

bp = Blueprint("webhooks", __name__)


def _answer(source: str, outcome: str, status: int, **body) -> Response:
    COUNTERS.inc("connector_webhooks_total", source=source, outcome=outcome)
    return Response(json.dumps({"status": outcome, **body}, separators=(",", ":")), status=status,
                    mimetype="application/json")


def _precheck(source: str):
    length = request.content_length
    if length is not None and length > MAX_BODY:
        log.warning("%s webhook refused: body of %s bytes is over 256 KB", source, length)
        return None, _answer(source, "too_large", 413, error="body over 256 KB")
    if request.mimetype != "application/json":
        log.warning("%s webhook refused: content type %r", source, request.mimetype)
        return None, _answer(source, "unsupported_media_type", 415, error="send application/json")
    body = request.get_data(cache=False)  # bounded by MAX_CONTENT_LENGTH → 413 if chunked and too big
    if len(body) > MAX_BODY:
        return None, _answer(source, "too_large", 413, error="body over 256 KB")
    return body, None


def _parse(source: str, body: bytes):
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("%s webhook malformed: not JSON (%s)", source, error)
        return None, _answer(source, "malformed", 400, error="body is not valid JSON")
    if not isinstance(payload, dict):
        log.warning("%s webhook malformed: JSON %s, not an object", source, type(payload).__name__)
        return None, _answer(source, "malformed", 400, error="body must be a JSON object")
    return payload, None


def _accept(runtime, source: str, normalise, payload: dict, correlation_id: str) -> Response:
    try:
        event = normalise(payload, request.headers)
    except MalformedEvent as error:
        log.warning("%s webhook malformed: %s", source, error)
        return _answer(source, "malformed", 400, error=str(error))
    route = runtime.registry.route(event.source, event.event_type)
    if route.outcome == "ignored":
        return _answer(source, "ignored", 200)
    if route.outcome == "unsupported":
        log.info("%s event type %s is handled by no plugin; ignored", source, event.event_type,
                 extra={"dedupe_key": event.dedupe_key})
        return _answer(source, "unsupported", 200)
    result = runtime.queue.enqueue_event(event, route.handlers, correlation_id)
    if result.duplicate:
        log.info("duplicate delivery of %s %s; nothing to do", source, event.dedupe_key)
        return _answer(source, "duplicate", 200)
    log.info("accepted %s %s for %s as event %s", source, event.event_type, event.subject_key,
             result.event_id, extra={"jobs": list(result.job_ids)})
    return _answer(source, "accepted", 202, event_id=result.event_id, correlation_id=correlation_id)


def _intake(source: str, verify, normalise, invocation_header: str | None = None) -> Response:
    """Check, verify, parse and accept one delivery from ``source``.

    The vendor's parts come in as arguments: ``verify(body, headers, settings)`` raises
    :class:`SignatureError` unless the raw body is signed with a configured secret;
    ``normalise(payload, headers)`` makes the :class:`~connector.events.InboundEvent`
    (its ``dedupe_key`` is what makes a redelivery a duplicate). ``invocation_header``,
    when given, names a header whose value is logged with a refusal so an admin can
    find the delivery in the vendor's log."""
    runtime = current_app.extensions["connector"]
    correlation_id = uuid.uuid4().hex
    with bind_correlation_id(correlation_id):
        body, refusal = _precheck(source)
        if refusal:
            return refusal
        try:
            verify(body, request.headers, runtime.settings)
        except SignatureError as error:
            extra = {"invocation_id": request.headers.get(invocation_header)} if invocation_header else None
            log.warning("%s webhook refused: %s", source, error.reason, extra=extra)
            return _answer(source, "unauthorized", 401, error="signature verification failed")
        payload, refusal = _parse(source, body)
        if refusal:
            return refusal
        return _accept(runtime, source, normalise, payload, correlation_id)


def _verify_zendesk(body: bytes, headers, settings) -> None:
    verify_zendesk_signature(
        body,
        headers.get(ZENDESK_SIGNATURE_HEADER),
        headers.get(ZENDESK_TIMESTAMP_HEADER),
        settings.zendesk.webhook_secrets,
        now=datetime.now(timezone.utc),
    )


def _verify_jira(body: bytes, headers, settings) -> None:
    verify_hub_signature(body, headers.get(HUB_SIGNATURE_HEADER), settings.jira.webhook_secrets)


# The routes import their plugin's normaliser on use, as they always have; after the first
# delivery that is a lookup in sys.modules.

@bp.post("/webhooks/zendesk")
def zendesk_webhook():
    from plugins.zendesk.events import INVOCATION_HEADER, normalise_zendesk

    return _intake("zendesk", _verify_zendesk, normalise_zendesk, INVOCATION_HEADER)


@bp.post("/webhooks/jira")
def jira_webhook():
    from plugins.jira.events import normalise_jira

    return _intake("jira", _verify_jira, normalise_jira)
