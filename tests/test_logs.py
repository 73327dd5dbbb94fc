"""JSON log lines: their keys, the correlation id, and what never reaches them."""
from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from connector.logs import (
    JsonFormatter,
    bind_correlation_id,
    clear_secrets,
    configure_logging,
    get_correlation_id,
    redact_secrets,
    register_secret,
    reset_correlation_id,
    set_correlation_id,
)

CARD = "4111 1111 1111 1111"
MASKED = "**** **** **** 1111"


@pytest.fixture(autouse=True)
def no_secrets_registered():
    """The registry is process-wide; start and end every test here with it empty."""
    clear_secrets()
    yield
    clear_secrets()


@pytest.fixture
def log_stream():
    """Route the root logger into a buffer as configure_logging does in production,
    and put the root logger back afterwards."""
    root = logging.getLogger()
    saved_level = root.level
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    yield stream
    root.removeHandler(handler)
    handler.close()
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_per_line_with_the_standard_keys(log_stream):
    logging.getLogger("connector.intake").info("accepted %s for %s", "zendesk", "zendesk:ticket:4821")
    logging.getLogger("connector.worker").warning("second line")
    first, second = lines(log_stream)
    assert set(first) == {"ts", "level", "logger", "msg"}
    assert first["level"] == "INFO"
    assert first["logger"] == "connector.intake"
    assert first["msg"] == "accepted zendesk for zendesk:ticket:4821"
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second["level"] == "WARNING"


def test_extra_keys_are_included(log_stream):
    logging.getLogger("t").info("ok", extra={"ticket_id": 4821, "jobs": [1, 2], "dedupe_key": "abc"})
    (line,) = lines(log_stream)
    assert line["ticket_id"] == 4821
    assert line["jobs"] == [1, 2]
    assert line["dedupe_key"] == "abc"


def test_extra_keys_cannot_overwrite_the_standard_ones(log_stream):
    logging.getLogger("t").info("real message", extra={"level": "fake", "ts": "fake"})
    (line,) = lines(log_stream)
    assert line["level"] == "INFO"
    assert line["extra_level"] == "fake"
    assert line["extra_ts"] == "fake"


def test_values_json_cannot_represent_are_written_as_text(log_stream):
    class Thing:
        def __str__(self):
            return "a thing"

    logging.getLogger("t").info("odd", extra={"thing": Thing(), "nan": float("nan"), "tags": {"b"}})
    (line,) = lines(log_stream)
    assert line["thing"] == "a thing"
    assert line["nan"] == "nan"
    assert line["tags"] == ["b"]


def test_level_threshold_is_respected():
    root = logging.getLogger()
    saved = root.level
    stream = io.StringIO()
    handler = configure_logging("WARNING", stream=stream)
    try:
        logging.getLogger("t").info("dropped")
        logging.getLogger("t").warning("kept")
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
    assert [line["msg"] for line in lines(stream)] == ["kept"]


def test_unknown_level_names_are_refused():
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("LOUD", stream=io.StringIO())


def test_configuring_twice_replaces_our_handler_and_keeps_others(log_stream):
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        second_stream = io.StringIO()
        second = configure_logging("INFO", stream=second_stream)
        try:
            ours = [h for h in root.handlers if getattr(h, "_connector_json", False)]
            assert ours == [second]
            assert other in root.handlers
            logging.getLogger("t").info("once")
            assert log_stream.getvalue() == ""
            assert [line["msg"] for line in lines(second_stream)] == ["once"]
        finally:
            root.removeHandler(second)
    finally:
        root.removeHandler(other)


# --- correlation id -------------------------------------------------------------------

def test_correlation_id_is_added_while_bound_and_gone_after(log_stream):
    log = logging.getLogger("t")
    with bind_correlation_id("corr-1"):
        log.info("inside")
        with bind_correlation_id("corr-2"):
            log.info("nested")
        log.info("inside again")
    log.info("outside")
    assert [line.get("correlation_id") for line in lines(log_stream)] == ["corr-1", "corr-2", "corr-1", None]


def test_binding_is_undone_when_the_block_raises():
    with pytest.raises(RuntimeError):
        with bind_correlation_id("corr-err"):
            raise RuntimeError("boom")
    assert get_correlation_id() is None


def test_setter_and_reset():
    token = set_correlation_id("job-7")
    try:
        assert get_correlation_id() == "job-7"
    finally:
        reset_correlation_id(token)
    assert get_correlation_id() is None


def test_each_thread_sees_its_own_correlation_id():
    seen: dict[str, str | None] = {}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        with bind_correlation_id(name):
            barrier.wait()
            seen[name] = get_correlation_id()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "a", "b": "b"}


# --- redaction ------------------------------------------------------------------------

def test_card_numbers_are_masked_in_message_and_extras(log_stream):
    logging.getLogger("t").info("customer pasted %s", CARD, extra={"comment": f"card {CARD}",
                                                                   "nested": {"body": [CARD]},
                                                                   "as_number": 4111111111111111})
    (line,) = lines(log_stream)
    assert line["msg"] == f"customer pasted {MASKED}"
    assert line["comment"] == f"card {MASKED}"
    assert line["nested"] == {"body": [MASKED]}
    assert line["as_number"] == "************1111"
    assert "4111 1111 1111 1111" not in log_stream.getvalue()


def test_registered_secrets_are_redacted_everywhere(log_stream):
    register_secret("s3cr3t-token-value")
    logging.getLogger("t").warning("auth with s3cr3t-token-value failed",
                                   extra={"header": "Bearer s3cr3t-token-value", "s3cr3t-token-value": 1})
    output = log_stream.getvalue()
    assert "s3cr3t-token-value" not in output
    (line,) = lines(log_stream)
    assert line["msg"] == "auth with [redacted] failed"
    assert line["header"] == "Bearer [redacted]"
    assert line["[redacted]"] == 1


def test_secrets_are_redacted_inside_exception_tracebacks(log_stream):
    register_secret("zd-oauth-abcdef123456")
    try:
        raise ConnectionError(f"401 for token zd-oauth-abcdef123456 and card {CARD}")
    except ConnectionError:
        logging.getLogger("t").exception("call failed")
    (line,) = lines(log_stream)
    assert "Traceback (most recent call last)" in line["exc"]
    assert "ConnectionError: 401 for token [redacted]" in line["exc"]
    assert MASKED in line["exc"]
    assert "zd-oauth-abcdef123456" not in log_stream.getvalue()
    assert CARD not in log_stream.getvalue()


def test_secrets_are_redacted_in_stack_info(log_stream):
    register_secret("stack-secret-xyz")
    logging.getLogger("t").info("with stack", stack_info=True)  # the stack shows this line: stack-secret-xyz
    (line,) = lines(log_stream)
    assert "the stack shows this line: [redacted]" in line["stack"]
    assert "stack-secret-xyz" not in log_stream.getvalue()


def test_secrets_in_the_correlation_id_are_redacted(log_stream):
    register_secret("leaky-correlation")
    with bind_correlation_id("leaky-correlation"):
        logging.getLogger("t").info("x")
    (line,) = lines(log_stream)
    assert line["correlation_id"] == "[redacted]"


def test_redact_secrets_replaces_a_longer_secret_whole():
    register_secret("abc123")
    register_secret("abc123-and-more")
    assert redact_secrets("x abc123-and-more y abc123 z") == "x [redacted] y [redacted] z"


def test_secrets_with_regex_characters_are_matched_literally():
    register_secret("a.b*c(d)")
    assert redact_secrets("see a.b*c(d) and axbbbc") == "see [redacted] and axbbbc"


def test_empty_secrets_are_ignored():
    register_secret("")
    register_secret(None)
    register_secret("   ")
    assert redact_secrets("nothing to hide") == "nothing to hide"


def test_each_line_of_a_private_key_is_redacted():
    key = (
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
        "k1z5HvN0c4rJ3wY0m8bq3D9zY0bP4mH2yQ1fQ8Jk9Z2xW7vR5tQ\n"
        "-----END PRIVATE KEY-----"
    )
    register_secret(key)
    text = "bad key line: k1z5HvN0c4rJ3wY0m8bq3D9zY0bP4mH2yQ1fQ8Jk9Z2xW7vR5tQ"
    assert redact_secrets(text) == "bad key line: [redacted]"
    assert redact_secrets(key) == "[redacted]"


def test_a_bad_format_string_still_produces_a_line():
    record = logging.makeLogRecord({"name": "t", "levelname": "ERROR", "msg": "%d items", "args": ("x",)})
    line = json.loads(JsonFormatter().format(record))
    assert "%d items" in line["msg"]
