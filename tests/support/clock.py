from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeClock:
    """A clock tests move by hand (leases, backoff, ages)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
