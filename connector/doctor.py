"""``connector doctor``: can this deployment do its job? One ✓ or ✗ line per check.

What it checks, in order (a check that cannot run says why, as a ✗):

- **Configuration** — the environment as ``connector serve`` needs it (every problem
  ``load_settings`` finds), and the manifest (every problem ``manifest validate`` finds).
- **Store** — reachable, and its schema at the newest revision.
- **Zendesk** — the credentials sign in (``/users/me``, an agent or admin); every ticket
  field the manifest names exists, is active and has a type that fits its ``format``
  (a dropdown the connector writes has an option for every value it writes); every
  level's custom status exists and is active; the webhook signing secret is set.
- **Salesforce** (when the manifest has a ``salesforce`` section) — the credentials work;
  every object and field API name exists with a usable type (the Salesforce plugin's
  :func:`~plugins.salesforce.doctor.metadata_problems`); escalations without a matching
  Account are listed (:func:`~plugins.salesforce.doctor.unmatched_escalations`).
- **Jira** (when the manifest has a ``jira`` section) — the Jira plugin's own check
  (``plugins/jira/doctor.py``) and the webhook secret.
- **Work** — dead letters are listed (each is an event the connector gave up on), with
  the waiting queue as information.

The exit status is 1 when any line is a ✗, 0 otherwise. Nothing secret is printed: every
line goes through the same redaction as the logs.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

OK, FAIL, INFO = "✓", "✗", "·"

FITTING_TYPES = {
    "text": ("text", "textarea", "regexp"),
    "textarea": ("textarea", "text"),
    "date": ("date",),
    "checkbox": ("checkbox",),
    "dropdown": ("tagger",),
    "integer": ("integer",),
    "decimal": ("decimal",),
}
"""Manifest ``format`` → the Zendesk ticket field types that can hold it."""
WRITTEN_TEXT_TYPES = ("text", "textarea")
"""A text field the connector writes to must take any text (a regexp field could refuse it)."""
FIELDS_HELP = "Admin Center → Objects and rules → Tickets → Fields shows each field's ID"
STATUSES_HELP = "Admin Center → Objects and rules → Tickets → Ticket statuses shows each status's ID"


@dataclass(frozen=True)
class Line:
    mark: str
    text: str
    detail: tuple[str, ...] = ()


@dataclass
class Section:
    title: str
    lines: list[Line] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.lines.append(Line(OK, text))

    def fail(self, text: str, *detail: str) -> None:
        self.lines.append(Line(FAIL, text, tuple(detail)))

    def info(self, text: str) -> None:
        self.lines.append(Line(INFO, text))


@dataclass
class Report:
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        self.sections.append(Section(title))
        return self.sections[-1]

    @property
    def failures(self) -> list[Line]:
        return [line for section in self.sections for line in section.lines if line.mark == FAIL]

    def render(self) -> list[str]:
        from connector.logs import scrub

        out: list[str] = []
        for section in self.sections:
            out += ["", section.title]
            for line in section.lines:
                out.append(scrub(f"  {line.mark} {line.text}"))
                out += [scrub(f"      {detail}") for detail in line.detail]
        problems = len(self.failures)
        out += ["", "all checks passed" if not problems else
                f"{problems} problem(s) marked ✗: fix them and run `connector doctor` again"]
        return out


def _attempt(section: Section, what: str, check: Callable[[], Any]) -> Any:
    """Run ``check``; a failure becomes a ✗ naming ``what`` (and returns None)."""
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - every failure is a finding
        section.fail(f"{what}: {_reason(error)}")
        return None


def _reason(error: BaseException) -> str:
    return str(error) or error.__class__.__name__


# -- configuration ------------------------------------------------------------------------

def check_configuration(report: Report, environ: dict[str, str] | None = None):
    """``(settings, manifest)``; either may be None when it could not be loaded."""
    from connector.config import ConfigError, load_settings
    from connector.manifest import ManifestError, load_manifest

    section = report.section("Configuration")
    settings = None
    try:
        settings = load_settings(environ, role="serve")
        section.ok("environment: everything `connector serve` (web + worker) needs is set")
    except ConfigError as error:
        for problem in error.problems:
            section.fail(f"environment: {problem}")
        try:
            settings = load_settings(environ, role="cli")
        except ConfigError:
            return None, None
    try:
        manifest = load_manifest(settings.manifest_path)
        section.ok(f"manifest {settings.manifest_path} is valid")
    except ManifestError as error:
        section.fail(f"manifest {settings.manifest_path} is invalid (`connector manifest validate` says the same):",
                     *str(error).splitlines())
        manifest = None
    except OSError as error:
        section.fail(f"manifest {settings.manifest_path} cannot be read: {error.strerror or error}")
        manifest = None
    return settings, manifest


# -- the store ------------------------------------------------------------------------------

def check_store(report: Report, settings: Any):
    """The store when it is reachable and migrated (else None)."""
    from alembic.script import ScriptDirectory

    from connector.store import Store, alembic_config

    section = report.section("Store")
    where = settings.database_url.split("@")[-1]
    path = _sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        section.fail(f"store {where}: the file does not exist; run `connector db upgrade` (or point DATABASE_URL "
                     "at the store the connector uses)")
        return None
    store = Store(settings.database_url)
    current = _attempt(section, f"store {where} unreachable", store.current_revision)
    if current is None and not section.lines:
        section.fail(f"store {where} has no schema: run `connector db upgrade`")
    if current is None:
        store.dispose()
        return None
    heads = ",".join(sorted(ScriptDirectory.from_config(alembic_config(store)).get_heads()))
    if current == heads:
        section.ok(f"store {where} reachable, schema at the newest revision ({current})")
    else:
        section.fail(f"store {where} is at revision {current}, the newest is {heads}: run `connector db upgrade`")
    return store


def _sqlite_file(url: str):
    """The database file of a ``sqlite:///path`` URL (None for other stores and memory)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from connector.store import normalise_url

    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# -- Zendesk ------------------------------------------------------------------------------

def check_zendesk(report: Report, settings: Any, manifest: Any) -> None:
    from plugins.zendesk.service import zendesk_client

    z = settings.zendesk
    section = report.section(f"Zendesk ({z.url or 'not configured'})")
    if z.webhook_secrets:
        rotation = " (several: a rotation is under way)" if len(z.webhook_secrets) > 1 else ""
        section.ok(f"webhook signing secret set in ZENDESK_WEBHOOK_SECRETS{rotation}")
    if not z.configured:
        section.info("not checked: Zendesk is not configured (see the environment problems above)")
        return
    client = _attempt(section, "client", lambda: zendesk_client({"settings": settings}))
    if client is None:
        return
    try:
        me = _attempt(section, "credentials refused", client.me)
        if me is None:
            return
        if me.get("role") in ("admin", "agent"):
            section.ok(f"credentials work: signed in as “{me.get('name')}” ({me.get('role')})")
        else:
            section.fail(f"credentials sign in as “{me.get('name')}”, a {me.get('role')}: the connector's user "
                         "must be an agent or admin to update tickets")
        if manifest is None:
            section.fail("ticket fields and statuses not checked: the manifest did not load")
            return
        fields = _attempt(section, "ticket fields could not be read", client.ticket_fields)
        if fields is not None:
            _check_fields(section, manifest, fields)
        statuses = _attempt(section, "custom statuses could not be read", client.custom_statuses)
        if statuses is not None:
            _check_levels(section, manifest, statuses)
    finally:
        client.close()


def _check_fields(section: Section, manifest: Any, fields: dict[int, dict]) -> None:
    from connector.manifest.model import CONNECTOR_WRITTEN

    problems = 0
    for name, ref in manifest.zendesk.fields.items():
        where = f"zendesk.fields.{name} = {ref.id}"
        found = fields.get(int(ref.id))
        written = name in CONNECTOR_WRITTEN or name.endswith("_due_at")
        if found is None:
            section.fail(f"{where}: no such ticket field in Zendesk ({FIELDS_HELP})")
        elif not found.get("active", True):
            section.fail(f"{where}: the field “{found.get('title')}” is inactive; activate it or map another")
        elif found.get("type") not in FITTING_TYPES[ref.format]:
            section.fail(f"{where}: “{found.get('title')}” is a {found.get('type')} field in Zendesk; format "
                         f"{ref.format} needs {' or '.join(FITTING_TYPES[ref.format])}")
        elif written and ref.format == "text" and found.get("type") not in WRITTEN_TEXT_TYPES:
            section.fail(f"{where}: “{found.get('title')}” is a {found.get('type')} field; the connector writes "
                         "there, so it must be a plain text field that takes any value")
        elif written and ref.format == "dropdown" and (missing := _missing_options(manifest, name, found)):
            section.fail(f"{where}: the dropdown “{found.get('title')}” has no option for "
                         f"{', '.join(missing)}, which the connector writes")
        else:
            continue
        problems += 1
    if not problems:
        section.ok(f"all {len(manifest.zendesk.fields)} ticket fields in the manifest exist, are active "
                   "and have fitting types")


def _missing_options(manifest: Any, name: str, found: dict) -> list[str]:
    wanted = {"tier": [tier.key for tier in manifest.tiers],
              "escalation_level": [level.name for level in manifest.zendesk.levels]}.get(name, [])
    options = {str(option.get("value", "")).lower() for option in found.get("custom_field_options") or []}
    return [value for value in wanted if value.lower() not in options]


def _check_levels(section: Section, manifest: Any, statuses: dict[int, dict]) -> None:
    good = []
    for index, level in enumerate(manifest.zendesk.levels):
        where = f"zendesk.levels.{index}.custom_status_id = {level.custom_status_id} ({level.name})"
        found = statuses.get(int(level.custom_status_id))
        if found is None:
            section.fail(f"{where}: no such custom ticket status in Zendesk ({STATUSES_HELP})")
        elif not found.get("active", True):
            section.fail(f"{where}: the status “{found.get('agent_label')}” is inactive; agents cannot choose it")
        else:
            good.append(f"{level.name} “{found.get('agent_label')}”")
    if len(good) == len(manifest.zendesk.levels):
        section.ok(f"every level's custom status exists: {', '.join(good)}")


def _optional_system(report: Report, name: str, manifest: Any, url: str | None, configured: bool,
                     variables: str, without: str) -> Section | None:
    """The section of a system the connector can run without; None (after saying why)
    when the manifest leaves it out or the environment does not configure it."""
    if manifest is not None and getattr(manifest, name.lower()) is None:
        report.section(name).info(f"the manifest has no {name.lower()} section: {without}")
        return None
    section = report.section(f"{name} ({url or 'not configured'})")
    if not configured:
        section.info(f"not configured ({variables}): {without}")
        return None
    return section


# -- Salesforce -----------------------------------------------------------------------------

def check_salesforce(report: Report, settings: Any, manifest: Any, store: Any) -> None:
    sf = settings.salesforce
    section = _optional_system(report, "Salesforce", manifest, sf.instance_url, sf.configured,
                               "SALESFORCE_INSTANCE_URL and credentials", "escalations are not mirrored")
    if section is None:
        return
    if manifest is None:
        section.fail("not checked: the manifest did not load")
        return
    from plugins.salesforce import doctor as salesforce_doctor
    from plugins.salesforce.mirror import salesforce_service

    service = _attempt(section, "client", lambda: salesforce_service({"settings": settings, "manifest": manifest}))
    if service is None:
        return
    try:
        how = "JWT bearer" if service.client.auth.jwt else "access token"
        signed_in = _attempt(section, "credentials refused",
                             lambda: service.client.call("checking the credentials", lambda api: api.limits()))
        if signed_in is None:
            return
        section.ok(f"credentials work ({how})")
        problems = _attempt(section, "objects and fields could not be described",
                            lambda: salesforce_doctor.metadata_problems(service.client, service.mapping))
        if problems:
            for problem in problems:
                section.fail(problem)
        elif problems is not None:
            objects = [service.mapping.escalation_object] + ([service.mapping.event_object]
                                                             if service.mapping.event_object else []) + ["Account"]
            section.ok(f"every object and field the connector writes exists with a usable type: {', '.join(objects)}")
        if store is None:
            section.fail("unmatched escalations not listed: the store is not usable")
            return
        unmatched = salesforce_doctor.unmatched_escalations(store)
        for line in unmatched:
            section.fail(line)
        if not unmatched:
            section.ok("every escalation found its Account (none unmatched)")
    finally:
        service.close()


# -- Jira -----------------------------------------------------------------------------------

def check_jira(report: Report, settings: Any, manifest: Any) -> None:
    j = settings.jira
    section = _optional_system(report, "Jira", manifest, j.url, j.configured, "JIRA_URL, JIRA_EMAIL, JIRA_API_TOKEN",
                               "product bugs are not sent to Jira")
    if section is None:
        return
    if j.webhook_secrets:
        section.ok("webhook secret set in JIRA_WEBHOOK_SECRET")
    try:
        from plugins.jira import doctor as jira_doctor
    except ImportError:
        section.fail("credentials, project and issue type not checked: this build's Jira plugin has no doctor "
                     "check (plugins/jira/doctor.py)")
        return
    if manifest is None:
        section.fail("project and issue type not checked: the manifest did not load")
        return
    _run_jira_doctor(section, jira_doctor, settings, manifest)


def _run_jira_doctor(section: Section, jira_doctor: Any, settings: Any, manifest: Any) -> None:
    problems = _attempt(section, "Jira check", lambda: jira_doctor.problems(settings, manifest))
    if problems:
        for problem in problems:
            section.fail(problem)
    elif problems is not None:
        section.ok(f"credentials work; project {manifest.jira.project} and issue type "
                   f"{manifest.jira.issue_type} exist")


# -- the work -------------------------------------------------------------------------------

def check_work(report: Report, store: Any) -> None:
    from connector.pipeline.queue import JobQueue

    section = report.section("Work")
    if store is None:
        section.fail("dead letters not listed: the store is not usable")
        return
    queue = JobQueue(store)
    dead = queue.list_jobs(("dead",), limit=50)
    for job in dead:
        section.fail(f"dead letter: job {job.id} {job.handler} on {job.lane} after {job.attempts} attempt(s)",
                     f"last error: {job.last_error or '—'}",
                     f"once the cause is fixed: connector jobs retry {job.id}")
    if not dead:
        section.ok("no dead letters")
    stats = queue.stats()
    waiting = stats["counts"]["pending"] + stats["counts"]["running"]
    section.info(f"{waiting} job(s) waiting or running; the oldest for {stats['oldest_waiting_seconds']:.0f} s")


# -- all of it --------------------------------------------------------------------------------

def run_doctor(environ: dict[str, str] | None = None) -> Report:
    report = Report()
    settings, manifest = check_configuration(report, environ)
    if settings is None:
        return report
    store = check_store(report, settings)
    try:
        check_zendesk(report, settings, manifest)
        check_salesforce(report, settings, manifest, store)
        check_jira(report, settings, manifest)
        check_work(report, store)
    finally:
        if store is not None:
            store.dispose()
    return report


def _command():
    import click

    @click.command("doctor")
    def doctor() -> None:
        """Check that this deployment can do its job: credentials, every id and API name in
        the manifest, webhook secrets, dead letters and unmatched accounts. One ✓/✗ line
        per check; exit 1 if any is ✗."""
        report = run_doctor()
        for line in report.render():
            click.echo(line)
        sys.exit(1 if report.failures else 0)

    return doctor


doctor_command = _command()
