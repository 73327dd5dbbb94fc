"""What goes wrong with a manifest, said so that an admin can fix it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Problem:
    path: str
    """Dotted path of the key at fault, e.g. ``tiers.T3.targets.bridge.within``; list
    items are numbered from 0 (``rules.2.tier``). Empty for the manifest as a whole."""
    message: str
    line: int | None = None
    """Line in the YAML file, when the manifest was read from one."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ManifestError(Exception):
    """The manifest is invalid; ``problems`` lists every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ManifestUnreadable(ManifestError):
    """The file could not be read or is not YAML; nothing was checked."""
