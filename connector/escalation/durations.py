"""Durations as admins write them in the manifest: ``15m``, ``4h``, ``2d``.

``m`` and ``h`` count open time on a calendar. ``d`` is special: on a business calendar
``Nd`` means the close of the Nth business day after the day on which open time starts;
on ``24x7`` it is N x 24 hours. So a :class:`Duration` keeps the unit rather than
flattening everything to seconds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_FORM = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_HINT = "use forms like 30m, 4h or 2d"


@dataclass(frozen=True, order=True)
class Duration:
    amount: int
    unit: str  # "m", "h" or "d"

    @property
    def is_days(self) -> bool:
        return self.unit == "d"

    @property
    def seconds(self) -> int:
        """Length in seconds (for ``d``, N x 24 h: its meaning on a 24x7 calendar)."""
        return self.amount * {"m": 60, "h": 3600, "d": 86400}[self.unit]

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_duration(text: object) -> Duration:
    """Parse ``15m`` / ``4h`` / ``2d``; raise ValueError with a message an admin can act on."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"{text!r} is not a duration — {_HINT}")
    match = _FORM.match(str(text))
    if not match:
        raise ValueError(f'"{text}" is not a duration — {_HINT}')
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f'"{text}" must be longer than zero — {_HINT}')
    return Duration(amount, match.group(2))
