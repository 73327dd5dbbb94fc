"""``connector manifest validate|explain [PATH]``.

Exit codes: 0 valid, 1 invalid (every problem listed), 2 the file could not be read or
is not YAML.
"""
from __future__ import annotations

import sys

import click

from connector.manifest.explain import explain
from connector.manifest.load import default_path, load_manifest
from connector.manifest.model import Manifest, PLACEHOLDER_IDS, placeholder_ids
from connector.manifest.problems import ManifestError, ManifestUnreadable

_PATH_HELP = "Manifest file (default: $CONNECTOR_MANIFEST, else manifest/connector.yaml)."


def _load_or_exit(path: str) -> Manifest:
    try:
        return load_manifest(path)
    except ManifestUnreadable as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(2)
    except ManifestError as error:
        count = len(error.problems)
        click.echo(f"{path}: {count} problem{'s' if count != 1 else ''}", err=True)
        for problem in error.problems:
            where = f"  (line {problem.line})" if problem.line else ""
            click.echo(f"  {problem}{where}", err=True)
        sys.exit(1)


@click.group("manifest")
def manifest_group():
    """Check and explain the admin manifest."""


@manifest_group.command("validate")
@click.argument("path", required=False)
def validate(path: str | None):
    """Report every problem in the manifest at once; exit 1 if there are any."""
    path = path or default_path()
    manifest = _load_or_exit(path)
    click.echo(f"{path}: valid — {len(manifest.zendesk.levels)} levels, {len(manifest.tiers)} tiers, "
               f"{len(manifest.rules)} rules")
    left = placeholder_ids(manifest)
    if left:
        click.echo(f"{len(left)} Zendesk IDs are still placeholders ({PLACEHOLDER_IDS.start}–"
                   f"{PLACEHOLDER_IDS.stop - 1}); replace them with your account's IDs before going live:")
        for where, value in left:
            click.echo(f"  {where}: {value}")


@manifest_group.command("explain")
@click.argument("path", required=False)
def explain_command(path: str | None):
    """Say in words what the manifest makes the connector do."""
    path = path or default_path()
    manifest = _load_or_exit(path)
    click.echo(explain(manifest), nl=False)
