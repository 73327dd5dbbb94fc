"""Webhook signature verification for Zendesk and Jira, over the raw request bytes.

Zendesk signs ``timestamp + body`` (no separator) with HMAC-SHA256 keyed by the webhook's
signing secret and sends the base64 digest in ``X-Zendesk-Webhook-Signature`` and the
timestamp (ISO 8601) in ``X-Zendesk-Webhook-Signature-Timestamp``. Jira admin webhooks
with a secret send ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of body>``.

Both verifiers follow stripe-python's shape: verify before parsing, accept any of several
secrets (rotation), compare in constant time, and raise :class:`SignatureError` with one
distinct reason per failure. Unlike Stripe, a Zendesk timestamp too far in the *future*
is refused as well as a stale one: a signed request is accepted only within
``tolerance`` of ``now`` either way (the boundary itself is accepted).

Reasons are safe to log and to show: they never contain a secret or an expected digest.
Empty strings in the secret list are ignored — an empty HMAC key would let anyone sign.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

ZENDESK_SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
HUB_SIGNATURE_HEADER = "X-Hub-Signature"

DEFAULT_TOLERANCE = timedelta(minutes=5)
_DIGEST_SIZE = hashlib.sha256().digest_size


class SignatureError(Exception):
    """A webhook failed verification. ``reason`` says why, in words an admin can act on;
    ``code`` is a short stable identifier (for metrics labels and tests)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def verify_zendesk_signature(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    secrets: Sequence[str],
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> None:
    """Return if ``signature`` is base64(HMAC-SHA256(secret, timestamp + body)) for one of
    ``secrets`` and ``timestamp`` lies within ``tolerance`` of ``now``; else raise
    :class:`SignatureError`.

    Each secret is used as the key exactly as written (the UTF-8 bytes of the string), so
    Zendesk's base64-looking test secret is *not* decoded first.
    """
    keys = _keys(secrets)
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    if not signature or not signature.strip():
        raise SignatureError("missing_signature", f"the {ZENDESK_SIGNATURE_HEADER} header is missing")
    if not timestamp or not timestamp.strip():
        raise SignatureError("missing_timestamp", f"the {ZENDESK_TIMESTAMP_HEADER} header is missing")
    provided = _decode_base64_digest(signature.strip())
    try:
        signed_at = parse_iso8601(timestamp.strip())
    except ValueError:
        raise SignatureError(
            "unreadable_timestamp",
            f"the {ZENDESK_TIMESTAMP_HEADER} header is not an ISO 8601 time with a UTC offset",
        ) from None

    message = timestamp.encode("utf-8") + body
    matched = False
    for key in keys:  # no early exit: time does not depend on which secret matched
        expected = hmac.digest(key, message, "sha256")
        matched |= hmac.compare_digest(expected, provided)
    if not matched:
        raise SignatureError("no_match", "the signature does not match any configured signing secret")

    skew = signed_at - now
    if skew < -tolerance:
        raise SignatureError(
            "timestamp_too_old",
            f"the signature timestamp is {_describe(-skew)} old, more than the "
            f"{_describe(tolerance)} allowed (a replay, or a badly delayed delivery)",
        )
    if skew > tolerance:
        raise SignatureError(
            "timestamp_in_future",
            f"the signature timestamp is {_describe(skew)} in the future, more than the "
            f"{_describe(tolerance)} allowed (check the server clock)",
        )


def verify_hub_signature(body: bytes, header: str | None, secrets: Sequence[str]) -> None:
    """Return if ``header`` is ``sha256=<hex HMAC-SHA256(secret, body)>`` for one of
    ``secrets``; else raise :class:`SignatureError`. Other algorithms (``sha1=``…) are
    refused."""
    keys = _keys(secrets)
    if not header or not header.strip():
        raise SignatureError("missing_signature", f"the {HUB_SIGNATURE_HEADER} header is missing")
    algorithm, sep, hex_digest = header.strip().partition("=")
    if not sep or not algorithm:
        raise SignatureError(
            "malformed_signature",
            f"the {HUB_SIGNATURE_HEADER} header is malformed: expected sha256=<hex digest>",
        )
    if algorithm.strip().lower() != "sha256":
        shown = algorithm.strip()[:16]
        raise SignatureError(
            "unsupported_algorithm",
            f"the {HUB_SIGNATURE_HEADER} header uses {shown!r}; only sha256 is accepted",
        )
    provided = _decode_hex_digest(hex_digest.strip())
    matched = False
    for key in keys:
        expected = hmac.digest(key, body, "sha256")
        matched |= hmac.compare_digest(expected, provided)
    if not matched:
        raise SignatureError("no_match", "the signature does not match any configured webhook secret")


def sign_zendesk(body: bytes, secret: str, timestamp: str) -> str:
    """The ``X-Zendesk-Webhook-Signature`` value Zendesk would send for ``body`` at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_hub(body: bytes, secret: str) -> str:
    """The whole ``X-Hub-Signature`` value Jira would send: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def parse_iso8601(text: str) -> datetime:
    """Parse an ISO 8601 instant that carries a UTC offset (``Z``, ``+02:00``; fractions of
    any length) into an aware UTC datetime. A time without an offset is ambiguous and
    raises ValueError, as does anything unparseable."""
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a string")
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return parsed.astimezone(timezone.utc)


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively in any mapping (a plain dict included)."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    return None


def _keys(secrets: Sequence[str]) -> list[bytes]:
    if isinstance(secrets, (str, bytes)):
        # Iterating a string would make every character a "secret".
        raise TypeError("secrets must be a sequence of strings, not a single string")
    keys = [s.encode("utf-8") for s in secrets if s]
    if not keys:
        raise SignatureError("no_secrets", "no webhook signing secrets are configured")
    return keys


def _decode_base64_digest(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _DIGEST_SIZE:
        raise SignatureError(
            "malformed_signature",
            f"the {ZENDESK_SIGNATURE_HEADER} header is malformed: expected the base64 of a "
            "32-byte HMAC-SHA256 digest",
        )
    return raw


def _decode_hex_digest(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text) if len(text) == 2 * _DIGEST_SIZE else b""
    except ValueError:
        raw = b""
    if len(raw) != _DIGEST_SIZE:
        raise SignatureError(
            "malformed_signature",
            f"the {HUB_SIGNATURE_HEADER} header is malformed: expected sha256= and 64 hex digits",
        )
    return raw


def _describe(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 7200:
        return f"about {seconds / 3600:.0f}h"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


__all__ = [
    "SignatureError",
    "verify_zendesk_signature",
    "verify_hub_signature",
    "sign_zendesk",
    "sign_hub",
    "parse_iso8601",
    "get_header",
    "ZENDESK_SIGNATURE_HEADER",
    "ZENDESK_TIMESTAMP_HEADER",
    "HUB_SIGNATURE_HEADER",
]
