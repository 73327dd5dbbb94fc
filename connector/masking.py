"""Mask primary account numbers (card numbers) so they never leave Zendesk.

A PAN here is 13–19 ASCII digits that pass the Luhn check, written either as one run
(``4111111111111111``) or as groups joined by single spaces or dashes
(``4111 1111 1111 1111``, ``3782-822463-10005``). Every digit but the last four becomes
``*`` and the separators stay where they were: ``**** **** **** 1111``.

How a candidate is judged:

* The regex finds maximal runs of digits joined by single separators that hold at least
  13 digits. Shorter runs never reach Python code.
* A run of one unbroken group is masked only if the *whole* group is 13–19 digits and
  passes Luhn. A Luhn-valid stretch inside a longer unbroken run of digits (a 24-digit
  reference, say) is left alone: that run is some other number.
* A run of several groups is masked whole if it holds 13–19 digits and passes Luhn.
  Otherwise every *card-shaped* window of whole groups (unbroken, in fours with a
  shorter last group, or 4-6-5 / 4-6-4) holding 13–19 digits that passes Luhn has all
  but its last four digits masked. So ``4111 1111 1111 1111 12/27`` (card, then expiry)
  still loses the card number, and a card next to another number never shows more than
  its last four — though a Luhn-valid window overlapping it may star those too. Erring
  this way is deliberate: starring a stray digit costs less than leaking a card. Lists
  of numbers that are not card-shaped (``123456789 987654321``, dates) are only judged
  as a whole.
* Runs that fail Luhn — order numbers, transaction IDs, most timestamps — come back
  unchanged. (About one random 13–19 digit number in ten passes Luhn by chance, so some
  such numbers *will* be masked — Zendesk IDs of 13+ digits kept as strings included;
  keep IDs as ints. Mask parsed JSON with :func:`mask_pans_deep`, never the raw JSON
  text: JSON numbers are not strings and are left alone, and the text stays valid.)

Speed (``python -m connector.masking``; best of 20 on a shared, loaded two-core dev
container, Python 3.11): 256 KB of ticket prose with dates, order and transaction
numbers and a card every ~3 KB takes 4–7 ms, almost all of it the regex scan; 256 KB
without a digit returns from the pre-check in 0.03 ms; a pathological 256 KB that is
nothing but ~9,400 card numbers takes 50–70 ms. A real event body (1–5 KB) costs tens of
microseconds.
"""
from __future__ import annotations

import re
from typing import Any

_MIN_DIGITS = 13
_MAX_DIGITS = 19

# A maximal run of >= 13 ASCII digits, a single space or dash allowed between digits.
# The scan tries each run from its first digit and the possessive repeat takes the whole
# run, so a match never starts inside a run: had the run been long enough, the match at
# its start would have consumed it, and if it was not, no tail of it is either. The
# look-behind only makes attempts that start inside a group of digits fail at once.
_CANDIDATE = re.compile(r"[0-9](?<![0-9][0-9])(?:[ -]?[0-9]){12,}+")
_SEPARATOR = re.compile(r"[ -]")
_DIGITS = "0123456789"
_DOUBLED = str.maketrans(_DIGITS, "0246813579")  # digit -> digit sum of twice it
_STARRED = str.maketrans(_DIGITS, "*" * 10)


def luhn_valid(digits: str) -> bool:
    """True if the string of ASCII digits passes the Luhn (mod 10) check."""
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_DOUBLED)))
    return total % 10 == 0


def mask_pans(text: str) -> str:
    """Return ``text`` with every PAN masked down to its last four digits."""
    if len(text) < _MIN_DIGITS or not _has_digit(text):
        return text
    return _CANDIDATE.sub(_mask_run, text)


def mask_pans_deep(obj: Any) -> Any:
    """Mask every string inside a JSON-like structure (dicts, lists, tuples, strings).
    Dict keys are masked too. Other values (numbers, booleans, None) pass unchanged.
    Returns a new structure; the input is not modified."""
    if isinstance(obj, str):
        return mask_pans(obj)
    if isinstance(obj, dict):
        return {
            (mask_pans(key) if isinstance(key, str) else key): mask_pans_deep(value)
            for key, value in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return [mask_pans_deep(value) for value in obj]
    return obj


def _has_digit(text: str) -> bool:
    for digit in _DIGITS:
        if digit in text:
            return True
    return False


def _mask_run(match: re.Match[str]) -> str:
    run = match.group()
    if run.isdigit():  # one unbroken group: all of it is the number, or none of it is
        if len(run) <= _MAX_DIGITS and luhn_valid(run):
            return _mask_all_but_last_four(run)
        return run
    digits = run.replace(" ", "").replace("-", "")
    if len(digits) <= _MAX_DIGITS and luhn_valid(digits):
        # Any other valid window lies inside this one and would only star digits that
        # are starred already.
        return _mask_all_but_last_four(run)
    groups = _SEPARATOR.split(run)
    hidden = _hidden_digits(digits, groups)
    if not hidden:
        return run
    out = []
    index = 0
    for char in run:
        if char in _DIGITS:
            out.append("*" if index in hidden else char)
            index += 1
        else:
            out.append(char)
    return "".join(out)


def _hidden_digits(digits: str, groups: list[str]) -> set[int]:
    """Positions (in ``digits``) to star: for every card-shaped window of whole groups
    holding 13–19 digits that passes Luhn, all its digits but the last four. Taking the
    union means no such window ever shows more than its last four digits, whichever of
    them is the real card."""
    starts = []
    offset = 0
    for group in groups:
        starts.append(offset)
        offset += len(group)
    starts.append(offset)
    hidden: set[int] = set()
    for first in range(len(groups)):
        for last in range(first, len(groups)):
            size = starts[last + 1] - starts[first]
            if size > _MAX_DIGITS:
                break
            if (
                size >= _MIN_DIGITS
                and _card_shaped(groups[first : last + 1])
                and luhn_valid(digits[starts[first] : starts[last + 1]])
            ):
                hidden.update(range(starts[first], starts[last + 1] - 4))
    return hidden


def _card_shaped(groups: list[str]) -> bool:
    """How card numbers are written: unbroken, in fours (the last group may be shorter,
    as in 4-4-4-4-3), or 4-6-5 / 4-6-4 (American Express, Diners Club)."""
    if len(groups) == 1:
        return True
    if all(len(group) == 4 for group in groups[:-1]) and 1 <= len(groups[-1]) <= 4:
        return True
    return [len(group) for group in groups] in ([4, 6, 5], [4, 6, 4])


def _mask_all_but_last_four(text: str) -> str:
    """Star every digit of ``text`` except the last four; other characters stay."""
    keep = 4
    cut = len(text)
    while keep:
        cut -= 1
        if text[cut] in _DIGITS:
            keep -= 1
    return text[:cut].translate(_STARRED) + text[cut:]


def _benchmark() -> None:  # pragma: no cover - a measuring aid, not behaviour
    """Print the best of 20 runs of :func:`mask_pans` on three 256 KB bodies."""
    import random
    import time

    rng = random.Random(7)
    vocabulary = (
        "the customer reports that their payment run did not start and the ACH batch "
        "is still pending settlement please escalate to finance refund requested"
    ).split()

    def token() -> str:
        roll = rng.random()
        if roll < 0.02:
            return "2026-11-%02dT%02d:15:00Z" % (rng.randint(1, 28), rng.randint(0, 23))
        if roll < 0.04:
            return "order %d" % rng.randint(10_000, 99_999_999)
        if roll < 0.05:
            return "txn %d" % rng.randint(10**11, 10**16)
        if roll < 0.06:
            return "USD %d.%02d" % (rng.randint(1, 99_999), rng.randint(0, 99))
        if roll < 0.062:
            return rng.choice(["4111 1111 1111 1111", "5555-5555-5555-4444", "378282246310005"])
        return rng.choice(vocabulary)

    ticket = " ".join(token() for _ in range(60_000))[: 256 * 1024]
    words = ("the customer says the payment run did not start and wants a refund " * 4000)[: 256 * 1024]
    cards = ("card 4111 1111 1111 1111 ok " * 10_000)[: 256 * 1024]
    for name, body in (("ticket text", ticket), ("no digits", words), ("all cards", cards)):
        timings = []
        for _ in range(20):
            start = time.perf_counter()
            mask_pans(body)
            timings.append(time.perf_counter() - start)
        print(f"{name:12} {len(body) // 1024} KB: {min(timings) * 1000:.2f} ms")


if __name__ == "__main__":  # pragma: no cover
    _benchmark()
