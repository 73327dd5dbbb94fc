"""Structured logging: one JSON object per line, card numbers masked, secrets redacted.

Each line carries ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``msg``,
``correlation_id`` when one is bound, ``exc`` / ``stack`` when there is a traceback, and
every key passed with ``extra=``. An ``extra`` key that collides with one of those names
is kept as ``extra_<key>`` rather than overwriting it.

Redaction happens in the formatter, on every string that is emitted — the message, each
extra value (keys too, and values nested in dicts and lists), the traceback — so no
handler or caller can forget it: first :func:`redact_secrets` replaces every registered
secret with ``[redacted]``, then :func:`~connector.masking.mask_pans` masks card numbers.
(Secrets go first: masking could alter digits inside a secret and hide it from the
redactor.) Integers are emitted as numbers unless they look like a card number, in
which case they are emitted as a masked string.

The correlation id lives in a :class:`contextvars.ContextVar`, so each request thread
and each worker job sees its own::

    with bind_correlation_id(uuid.uuid4().hex):
        log.info("accepted")        # {"...", "correlation_id": "…"}
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import datetime, timezone
from typing import IO, Any

from connector.masking import mask_pans

REDACTED = "[redacted]"

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_pattern: re.Pattern[str] | None = None

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_RESERVED = frozenset({"ts", "level", "logger", "msg", "correlation_id", "exc", "stack"})
_MAX_DEPTH = 8


# --- correlation id -------------------------------------------------------------------

def get_correlation_id() -> str | None:
    """The correlation id bound in the current context, if any."""
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> Token[str | None]:
    """Bind ``value`` for the rest of the current context; returns the token that
    :func:`reset_correlation_id` takes to restore the previous value."""
    return _correlation_id.set(value)


def reset_correlation_id(token: Token[str | None]) -> None:
    _correlation_id.reset(token)


@contextlib.contextmanager
def bind_correlation_id(value: str | None) -> Iterator[str | None]:
    """Bind ``value`` as the correlation id inside the ``with`` block, restoring the
    previous one on the way out (exceptions included)."""
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


# --- secrets ----------------------------------------------------------------------------

def register_secret(value: str | None) -> None:
    """Redact ``value`` from every log line from now on. Empty values are ignored. For a
    multi-line secret (a PEM private key) each substantial line is registered as well,
    since a traceback may show one line of it."""
    if not value or not value.strip():
        return
    candidates = {value}
    if "\n" in value:
        candidates.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
    global _secret_pattern
    with _secrets_lock:
        if candidates <= _secrets:
            return
        _secrets.update(candidates)
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(secret) for secret in ordered))


def clear_secrets() -> None:
    """Forget every registered secret (tests use this)."""
    global _secret_pattern
    with _secrets_lock:
        _secrets.clear()
        _secret_pattern = None


def redact_secrets(text: str) -> str:
    """Replace every registered secret in ``text`` with ``[redacted]``."""
    pattern = _secret_pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def scrub(text: str) -> str:
    """Everything an emitted string goes through: secrets redacted, then PANs masked."""
    return mask_pans(redact_secrets(text))


# --- formatting -------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; see the module docstring for the keys."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            message = f"{record.msg!r} % {record.args!r} (the arguments did not match the format)"
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(message),
        }
        correlation_id = _correlation_id.get()
        if correlation_id is not None:
            line["correlation_id"] = scrub(str(correlation_id))
        if record.exc_info and record.exc_info[0] is not None:
            line["exc"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = scrub(record.exc_text)
        if record.stack_info:
            line["stack"] = scrub(self.formatStack(record.stack_info))
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            name = scrub(str(key))
            if name in _RESERVED or name in line:
                name = f"extra_{name}"
            line[name] = _clean(value, 0)
        return json.dumps(line, ensure_ascii=False, allow_nan=False)


def configure_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record, at ``level`` and above, to ``stream`` (default stderr) as
    JSON lines. Calling it again replaces the handler it installed before (and leaves
    handlers installed by anyone else alone). Returns the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_connector_json", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._connector_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(_level(level))
    return handler


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    resolved = logging.getLevelName(level.strip().upper())
    if not isinstance(resolved, int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return resolved


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _clean(value: Any, depth: int) -> Any:
    """A JSON-safe copy of ``value`` with every string scrubbed."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int):
        text = str(value)
        masked = scrub(text)
        return value if masked == text else masked
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if depth < _MAX_DEPTH:
        if isinstance(value, dict):
            return {scrub(str(k)): _clean(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [_clean(v, depth + 1) for v in value]
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the line
        text = f"<unprintable {type(value).__name__}>"
    return scrub(text)


__all__ = [
    "REDACTED",
    "JsonFormatter",
    "bind_correlation_id",
    "clear_secrets",
    "configure_logging",
    "get_correlation_id",
    "redact_secrets",
    "register_secret",
    "reset_correlation_id",
    "scrub",
    "set_correlation_id",
]
