"""Checking the manifest in a child process, for the web process.

Checking a manifest takes PyYAML, the marshmallow schemas and the ``holidays`` package,
whose country modules (~300 of them, imported all at once to look up one subdivision)
are most of it: about 15 MB that would stay in every gunicorn worker although the web
process never reads YAML again and never computes a business calendar.
:func:`load_manifest_isolated` therefore runs the very same :func:`load_manifest` in a
short-lived child process (the same Python, the same code) and takes back, pickled,
either the built :class:`~connector.manifest.model.Manifest` or the problems; the
child's memory goes when it exits. An invalid or unreadable manifest raises exactly the
:class:`ManifestError` or :class:`ManifestUnreadable` that checking here would raise.

If the child cannot answer (it cannot be started, crashes, or takes longer than
``CHILD_TIMEOUT``), the manifest is checked in this process after all and a warning says
why: the check is never skipped.
"""
from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

from connector.manifest.model import Manifest
from connector.manifest.problems import ManifestError, ManifestUnreadable

log = logging.getLogger("connector.manifest")

CHILD_TIMEOUT = 20.0
"""Seconds the child may take (it needs about a third of one). Below gunicorn's 30 s worker
timeout, so a stuck child costs a warning and a check here, not the worker."""

_REFUSALS = {"invalid": ManifestError, "unreadable": ManifestUnreadable}


class ChildFailed(Exception):
    """The child process gave no answer."""


def load_manifest_isolated(path: str | os.PathLike) -> Manifest:
    """:func:`~connector.manifest.load.load_manifest` (``path``) run in a child process."""
    try:
        kind, value = check_in_child(path)
    except ChildFailed as error:
        log.warning("checking the manifest in this process (its checker stays loaded, about 15 MB): "
                    "the child process that checks it failed: %s", error)
        from connector.manifest.load import load_manifest

        return load_manifest(path)
    if kind == "manifest":
        return value
    raise _REFUSALS[kind](value)


def check_in_child(path: str | os.PathLike, timeout: float = CHILD_TIMEOUT) -> tuple[str, object]:
    """``("manifest", Manifest)``, or ``("invalid" | "unreadable", [Problem, ...])``."""
    if not sys.executable:
        raise ChildFailed("this interpreter does not know its own executable")
    # The child finds this package as this process did (same interpreter, environment and
    # working directory); the directory holding it is a last resort at the end of its path.
    root = str(Path(__file__).resolve().parents[2])
    program = f"import sys; sys.path.append({root!r}); from connector.manifest.isolated import _child; _child()"
    try:
        done = subprocess.run([sys.executable, "-c", program, os.fspath(path)], capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        raise ChildFailed(str(error)) from None
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise ChildFailed(f"exit status {done.returncode}: {last}")
    try:
        kind, value = pickle.loads(done.stdout)
    except Exception as error:  # noqa: BLE001 - anything unreadable is a failed child
        raise ChildFailed(f"unreadable answer ({error.__class__.__name__}: {error})") from None
    if not ((kind == "manifest" and isinstance(value, Manifest)) or (kind in _REFUSALS and isinstance(value, list))):
        raise ChildFailed(f"unexpected answer {kind!r}")
    return kind, value


def _child() -> None:
    """The child's side: check the manifest at ``argv[1]``, write the pickled outcome to
    standard output (anything else printed meanwhile goes to standard error)."""
    from connector.manifest.load import load_manifest

    out = sys.stdout.buffer
    sys.stdout = sys.stderr
    try:
        outcome: tuple[str, object] = ("manifest", load_manifest(sys.argv[1]))
    except ManifestUnreadable as error:
        outcome = ("unreadable", error.problems)
    except ManifestError as error:
        outcome = ("invalid", error.problems)
    out.write(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    out.flush()
