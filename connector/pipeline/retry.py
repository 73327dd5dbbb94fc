"""When a failed job runs again.

A handler signals how it failed by the exception it raises:

- :class:`RetryLater` — the other system asked us to slow down (HTTP 429 with
  ``Retry-After``, Salesforce ``REQUEST_LIMIT_EXCEEDED``). The job runs again no sooner
  than the delay asked for. Rate limits never dead-letter a job by attempt count: they
  only slow us down, bounded by ``max_age``.
- :class:`PermanentError` — retrying cannot help (a 400 naming a field the manifest
  maps wrongly). The job goes straight to the dead-letter state with the reason.
- anything else is transient (timeouts, 5xx, a restarted database): exponential backoff
  with jitter, up to ``max_attempts`` and ``max_age``.

Backoff for attempt ``n`` (1-based, counted before the work is done)::

    ceiling = min(cap, base * 2 ** (n - 1))
    delay   = ceiling / 2 + uniform(0, ceiling / 2)        # "equal jitter"

so the delay is never shorter than half the ceiling (no thundering retries at 0 s) and
never longer than the cap. With the defaults (base 2 s, cap 300 s, 25 attempts) a job
keeps retrying for about 1.5 hours before it is dead-lettered: an API down for an hour
loses nothing. ``connector jobs retry`` revives dead jobs.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


class RetryLater(Exception):
    """Run the job again after ``retry_after`` seconds (rate limiting)."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))


class PermanentError(Exception):
    """Retrying cannot help; dead-letter the job with this message."""


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 2.0
    cap: float = 300.0
    max_attempts: int = 25
    max_age: timedelta = timedelta(hours=72)
    rate_limit_jitter: float = 0.1  # spread waiters of one Retry-After over 10 %

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        rng = rng or random
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def decide(
        self,
        error: BaseException,
        attempts: int,
        created_at: datetime,
        now: datetime,
        rng: random.Random | None = None,
    ) -> tuple[str, datetime | None, str]:
        """Return ``("retry", run_after, reason)`` or ``("dead", None, reason)``."""
        rng = rng or random
        reason = describe(error)
        if isinstance(error, PermanentError):
            return "dead", None, reason
        if now - created_at >= self.max_age:
            return "dead", None, f"gave up after {self.max_age} since the event arrived: {reason}"
        if isinstance(error, RetryLater):
            delay = error.retry_after * (1 + rng.uniform(0, self.rate_limit_jitter))
            return "retry", now + timedelta(seconds=delay), reason
        if attempts >= self.max_attempts:
            return "dead", None, f"gave up after {attempts} attempts: {reason}"
        return "retry", now + timedelta(seconds=self.backoff(attempts, rng)), reason


def describe(error: BaseException) -> str:
    text = str(error) or error.__class__.__name__
    return f"{error.__class__.__name__}: {text}"[:2000]
