"""``connector zendesk-app package`` and ``connector zendesk fields`` (docs/zendesk-app.md).

- ``zendesk-app package --connector-url URL [--without-webhook] [-o PATH]`` builds the zip
  an admin uploads (Admin Center → Apps and integrations → Zendesk Support apps → Upload
  private app) from ``manifest/zendesk-app``: Zendesk's rules and the connector's manifest
  checked first, every problem listed and nothing written when there is one (exit 1).
- ``zendesk fields`` reads the account's ticket fields once and prints the manifest's
  ``zendesk.fields`` block with the ids of the fields the installed app created; a field it
  cannot find is a problem (exit 1), never an invented id.

Exit codes as everywhere: 0 done, 1 the thing checked is wrong, 2 could not run.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from plugins.zendesk.app import (
    APP_DIR, build_zip, check_package, connector_url_problem, fields_yaml, match_installed_fields, prepare,
    read_app,
)

_APP_DIR_OPTION = click.option("--app-dir", type=click.Path(file_okay=False, path_type=Path), default=APP_DIR,
                               show_default="manifest/zendesk-app", help="The app's source folder.")


def _read_app_or_exit(app_dir: Path) -> dict[str, bytes]:
    if not app_dir.is_dir():
        click.echo(f"{app_dir}: no such folder (the Zendesk app's source, manifest/zendesk-app)", err=True)
        sys.exit(2)
    return read_app(app_dir)


def _json_or_exit(files: dict[str, bytes], path: str, app_dir: Path):
    try:
        return json.loads(files[path])
    except KeyError:
        click.echo(f"{app_dir / path}: missing", err=True)
    except ValueError as error:
        click.echo(f"{app_dir / path}: is not valid JSON ({error})", err=True)
    sys.exit(2)


def _list_problems(problems: list[str], what: str) -> None:
    click.echo(f"{what}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", err=True)
    for problem in problems:
        click.echo(f"  ✗ {problem}", err=True)
    sys.exit(1)


# -- connector zendesk-app ---------------------------------------------------------------

@click.group("zendesk-app")
def zendesk_app():
    """The Zendesk app (sidebar, save check, fields and webhook on install)."""


@zendesk_app.command("package")
@click.option("--connector-url", required=True, metavar="URL",
              help="The connector's public https URL: the webhook's endpoint is URL/webhooks/zendesk and "
                   "only this host receives the app's token.")
@click.option("--without-webhook", is_flag=True,
              help="Leave the webhook out (the account already sends events to the connector).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("build") / "zendesk-app.zip", show_default=True, help="The zip to write.")
@_APP_DIR_OPTION
@click.option("--manifest", "manifest_path", metavar="PATH",
              help="The connector's manifest (default: $CONNECTOR_MANIFEST, else manifest/connector.yaml).")
def package(connector_url: str, without_webhook: bool, output: Path, app_dir: Path, manifest_path: str | None):
    """Build the app's zip for upload, after checking it against Zendesk's rules and the
    connector's manifest (every problem listed; nothing written if there is one)."""
    from connector.manifest.cli import _load_or_exit
    from connector.manifest.load import default_path

    problem = connector_url_problem(connector_url)
    if problem:
        raise click.BadParameter(problem, param_hint="--connector-url")
    manifest_path = manifest_path or default_path()
    manifest = _load_or_exit(manifest_path)
    files = prepare(_read_app_or_exit(app_dir), connector_url, webhook=not without_webhook)
    problems = check_package(files, manifest)
    if problems:
        _list_problems(problems, f"{app_dir} (checked against {manifest_path})")
    data = build_zip(files)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    click.echo(f"{output}: {len(data):,} bytes, {len(files)} files")
    click.echo("webhook: " + ("left out (--without-webhook)" if without_webhook
                              else f"{connector_url.rstrip('/')}/webhooks/zendesk"))


# -- connector zendesk ---------------------------------------------------------------------

@click.group("zendesk")
def zendesk():
    """Zendesk account helpers."""


@zendesk.command("fields")
@_APP_DIR_OPTION
def fields(app_dir: Path):
    """Print the manifest's zendesk.fields block with the ids of the ticket fields the
    installed app created (one read of the account's ticket fields)."""
    from connector.config import ConfigError, load_settings
    from connector.manifest.cli import _load_or_exit
    from connector.http import TransientHTTPError
    from connector.pipeline.retry import PermanentError, RetryLater
    from plugins.zendesk.service import zendesk_client

    try:
        settings = load_settings(role="cli")
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(2)
    if not settings.zendesk.configured:
        click.echo("Zendesk is not configured: set ZENDESK_SUBDOMAIN (or ZENDESK_URL) and ZENDESK_OAUTH_TOKEN, "
                   "or ZENDESK_EMAIL and ZENDESK_API_TOKEN", err=True)
        sys.exit(2)
    manifest = _load_or_exit(settings.manifest_path)
    files = _read_app_or_exit(app_dir)
    requirements = _json_or_exit(files, "requirements.json", app_dir)
    app_manifest = _json_or_exit(files, "manifest.json", app_dir)
    app_name = app_manifest.get("name") if isinstance(app_manifest, dict) else None
    try:
        client = zendesk_client({"settings": settings})
        try:
            installed = client.ticket_fields().values()
        finally:
            client.close()
    except (PermanentError, RetryLater, TransientHTTPError, ValueError) as error:
        click.echo(f"could not read the ticket fields from {settings.zendesk.url}: {error}", err=True)
        sys.exit(2)
    found, problems = match_installed_fields(manifest, requirements, installed, app_name=app_name)
    if problems:
        _list_problems(problems + [f"found {len(found)} of {len(manifest.zendesk.fields)} fields; fix the ones "
                                   "above (or put their ids in the manifest by hand) and run this again"],
                       f"{settings.zendesk.url} ({os.path.basename(settings.manifest_path)})")
    click.echo(fields_yaml(found, source=settings.zendesk.url), nl=False)
