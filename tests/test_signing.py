"""Webhook signature verification: one test per way a request can fail, plus rotation,
tampering and the exact edges of the replay window."""
from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug.datastructures import Headers

from connector.signing import (
    SignatureError,
    get_header,
    parse_iso8601,
    sign_hub,
    sign_zendesk,
    verify_hub_signature,
    verify_zendesk_signature,
)

BODY = b'{"type":"zen:event-type:ticket.status_changed","id":"e1","subject":"zen:ticket:4821"}'
SECRET = "current-signing-secret"
OLD_SECRET = "previous-signing-secret"
STAMP = "2026-11-23T14:05:37Z"
NOW = datetime(2026, 11, 23, 14, 5, 37, tzinfo=timezone.utc)
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="


def verify(body=BODY, signature=None, timestamp=STAMP, secrets=(SECRET,), now=NOW, **kwargs):
    if signature is None:
        signature = sign_zendesk(body, SECRET, timestamp)
    verify_zendesk_signature(body, signature, timestamp, secrets, now, **kwargs)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- Zendesk: accepted -----------------------------------------------------------------

def test_a_correctly_signed_request_is_accepted():
    verify()


def test_signature_is_base64_hmac_sha256_of_timestamp_then_body():
    expected = base64.b64encode(hmac.new(SECRET.encode(), STAMP.encode() + BODY, hashlib.sha256).digest())
    assert sign_zendesk(BODY, SECRET, STAMP) == expected.decode()


def test_second_secret_is_accepted_during_rotation():
    old_signature = sign_zendesk(BODY, OLD_SECRET, STAMP)
    verify(signature=old_signature, secrets=[SECRET, OLD_SECRET])
    verify(signature=old_signature, secrets=[OLD_SECRET, SECRET])


def test_zendesk_test_secret_is_used_as_the_key_as_written_not_decoded():
    signature = base64.b64encode(
        hmac.new(ZENDESK_TEST_SECRET.encode("ascii"), STAMP.encode() + BODY, hashlib.sha256).digest()
    ).decode()
    verify(signature=signature, secrets=[ZENDESK_TEST_SECRET])
    decoded_key = base64.b64decode(ZENDESK_TEST_SECRET)
    decoded_signature = base64.b64encode(hmac.new(decoded_key, STAMP.encode() + BODY, hashlib.sha256).digest()).decode()
    with pytest.raises(SignatureError, match="does not match any configured signing secret"):
        verify(signature=decoded_signature, secrets=[ZENDESK_TEST_SECRET])


@pytest.mark.parametrize("timestamp", [
    "2026-11-23T14:05:37Z",
    "2026-11-23T14:05:37.123456Z",
    "2026-11-23T14:05:37.512094000Z",
    "2026-11-23T09:05:37-05:00",
    "2026-11-23T15:05:37+01:00",
])
def test_timestamps_with_offsets_and_fractions_are_read(timestamp):
    verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))


def test_exactly_five_minutes_old_is_accepted():
    timestamp = stamp(NOW - timedelta(minutes=5))
    verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))


def test_exactly_five_minutes_ahead_is_accepted():
    timestamp = stamp(NOW + timedelta(minutes=5))
    verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))


def test_tolerance_can_be_widened():
    timestamp = stamp(NOW - timedelta(minutes=9))
    verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp), tolerance=timedelta(minutes=10))


def test_empty_strings_among_the_secrets_are_ignored():
    verify(secrets=["", SECRET])


# --- Zendesk: one failure each ---------------------------------------------------------

@pytest.mark.parametrize("signature", [None, "", "   "])
def test_missing_signature_header(signature):
    with pytest.raises(SignatureError, match="X-Zendesk-Webhook-Signature header is missing") as caught:
        verify_zendesk_signature(BODY, signature, STAMP, [SECRET], NOW)
    assert caught.value.code == "missing_signature"


@pytest.mark.parametrize("timestamp", [None, ""])
def test_missing_timestamp_header(timestamp):
    with pytest.raises(SignatureError, match="X-Zendesk-Webhook-Signature-Timestamp header is missing") as caught:
        verify_zendesk_signature(BODY, sign_zendesk(BODY, SECRET, STAMP), timestamp, [SECRET], NOW)
    assert caught.value.code == "missing_timestamp"


@pytest.mark.parametrize("timestamp", ["yesterday", "1732370737", "2026-11-23T14:05:37", "2026-13-40T00:00:00Z"])
def test_unreadable_timestamp(timestamp):
    with pytest.raises(SignatureError, match="not an ISO 8601 time with a UTC offset") as caught:
        verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))
    assert caught.value.code == "unreadable_timestamp"


def test_timestamp_just_over_five_minutes_old_is_refused():
    timestamp = stamp(NOW - timedelta(minutes=5, microseconds=1))
    with pytest.raises(SignatureError, match="timestamp is 300s old, more than the 300s allowed") as caught:
        verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))
    assert caught.value.code == "timestamp_too_old"


def test_timestamp_just_over_five_minutes_ahead_is_refused():
    timestamp = stamp(NOW + timedelta(minutes=5, seconds=1))
    with pytest.raises(SignatureError, match="in the future, more than the 300s allowed") as caught:
        verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))
    assert caught.value.code == "timestamp_in_future"


def test_a_stale_request_is_reported_as_old():
    timestamp = "2026-11-23T09:00:00Z"
    with pytest.raises(SignatureError, match="about 5h old"):
        verify(timestamp=timestamp, signature=sign_zendesk(BODY, SECRET, timestamp))


def test_signature_made_with_an_unknown_secret_does_not_match():
    with pytest.raises(SignatureError, match="does not match any configured signing secret") as caught:
        verify(signature=sign_zendesk(BODY, "someone-elses-secret", STAMP))
    assert caught.value.code == "no_match"


def test_tampered_body_does_not_match():
    signature = sign_zendesk(BODY, SECRET, STAMP)
    with pytest.raises(SignatureError, match="does not match"):
        verify(body=BODY.replace(b"4821", b"4822"), signature=signature)


def test_replayed_signature_with_a_fresh_timestamp_does_not_match():
    signature = sign_zendesk(BODY, SECRET, STAMP)
    with pytest.raises(SignatureError, match="does not match"):
        verify(signature=signature, timestamp="2026-11-23T14:06:00Z")


@pytest.mark.parametrize("signature", [
    "not base64!",
    base64.b64encode(b"too short").decode(),
    sign_zendesk(BODY, SECRET, STAMP)[:-4],
    "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),
])
def test_malformed_signature_header(signature):
    with pytest.raises(SignatureError, match="X-Zendesk-Webhook-Signature header is malformed") as caught:
        verify(signature=signature)
    assert caught.value.code == "malformed_signature"


@pytest.mark.parametrize("secrets", [[], (), [""]])
def test_no_secrets_configured(secrets):
    with pytest.raises(SignatureError, match="no webhook signing secrets are configured") as caught:
        verify(secrets=secrets)
    assert caught.value.code == "no_secrets"


def test_a_single_string_instead_of_a_list_of_secrets_is_a_programming_error():
    with pytest.raises(TypeError, match="sequence of strings"):
        verify(secrets=SECRET)


def test_naive_now_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(now=NOW.replace(tzinfo=None))


def test_reasons_are_distinct():
    reasons = set()
    for attempt in (
        lambda: verify(secrets=[]),
        lambda: verify_zendesk_signature(BODY, None, STAMP, [SECRET], NOW),
        lambda: verify_zendesk_signature(BODY, "x", None, [SECRET], NOW),
        lambda: verify(timestamp="soon", signature=sign_zendesk(BODY, SECRET, "soon")),
        lambda: verify(signature="%%%"),
        lambda: verify(signature=sign_zendesk(BODY, "other", STAMP)),
        lambda: verify(now=NOW + timedelta(hours=1)),
        lambda: verify(now=NOW - timedelta(hours=1)),
    ):
        with pytest.raises(SignatureError) as caught:
            attempt()
        reasons.add(caught.value.reason)
    assert len(reasons) == 8


def test_reasons_never_contain_a_secret_or_the_expected_digest():
    secret = "hunter2-very-secret"
    expected = sign_zendesk(BODY, secret, STAMP)
    for attempt in (
        lambda: verify(secrets=[secret], signature=sign_zendesk(BODY, "other", STAMP)),
        lambda: verify(secrets=[secret], signature="bad"),
        lambda: verify(secrets=[secret], now=NOW + timedelta(days=1), signature=expected),
    ):
        with pytest.raises(SignatureError) as caught:
            attempt()
        text = f"{caught.value} {caught.value.reason!r} {caught.value.args!r}"
        assert secret not in text
        assert expected not in text
        assert hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest() not in text


# --- Jira / X-Hub-Signature ------------------------------------------------------------

def test_hub_signature_is_sha256_hex_of_the_body():
    assert sign_hub(BODY, SECRET) == "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def test_correct_hub_signature_is_accepted():
    verify_hub_signature(BODY, sign_hub(BODY, SECRET), [SECRET])


def test_hub_signature_accepts_upper_case_hex_and_algorithm():
    header = sign_hub(BODY, SECRET)
    verify_hub_signature(BODY, "SHA256=" + header.split("=", 1)[1].upper(), [SECRET])


def test_hub_second_secret_is_accepted_during_rotation():
    verify_hub_signature(BODY, sign_hub(BODY, OLD_SECRET), [SECRET, OLD_SECRET])


@pytest.mark.parametrize("header", [None, "", "  "])
def test_hub_missing_signature_header(header):
    with pytest.raises(SignatureError, match="X-Hub-Signature header is missing"):
        verify_hub_signature(BODY, header, [SECRET])


def test_hub_sha1_is_refused_with_a_clear_reason():
    header = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="uses 'sha1'; only sha256 is accepted") as caught:
        verify_hub_signature(BODY, header, [SECRET])
    assert caught.value.code == "unsupported_algorithm"


@pytest.mark.parametrize("header", ["sha256", "=abc", "sha256=xyz", "sha256=abcd", sign_hub(BODY, SECRET)[:-2]])
def test_hub_malformed_signature_header(header):
    with pytest.raises(SignatureError, match="X-Hub-Signature header is malformed"):
        verify_hub_signature(BODY, header, [SECRET])


def test_hub_tampered_body_does_not_match():
    with pytest.raises(SignatureError, match="does not match any configured webhook secret"):
        verify_hub_signature(BODY + b" ", sign_hub(BODY, SECRET), [SECRET])


def test_hub_unknown_secret_does_not_match():
    with pytest.raises(SignatureError, match="does not match"):
        verify_hub_signature(BODY, sign_hub(BODY, "not-ours"), [SECRET])


def test_hub_no_secrets_configured():
    with pytest.raises(SignatureError, match="no webhook signing secrets are configured"):
        verify_hub_signature(BODY, sign_hub(BODY, SECRET), [])


# --- helpers ---------------------------------------------------------------------------

def test_parse_iso8601_returns_aware_utc():
    assert parse_iso8601("2026-11-23T09:05:37-05:00") == NOW
    assert parse_iso8601("2026-11-23T09:05:37-05:00").tzinfo == timezone.utc


def test_parse_iso8601_refuses_a_time_without_offset():
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_iso8601("2026-11-23T14:05:37")


@pytest.mark.parametrize("headers", [
    {"x-zendesk-webhook-invocation-id": "inv-1"},
    {"X-Zendesk-Webhook-Invocation-Id": "inv-1"},
    {"X-ZENDESK-WEBHOOK-INVOCATION-ID": "inv-1"},
    Headers([("x-zendesk-webhook-invocation-id", "inv-1")]),
])
def test_get_header_is_case_insensitive_for_any_mapping(headers):
    assert get_header(headers, "X-Zendesk-Webhook-Invocation-Id") == "inv-1"


def test_get_header_missing_is_none():
    assert get_header({"Content-Type": "application/json"}, "X-Hub-Signature") is None
