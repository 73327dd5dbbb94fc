"""The Zendesk app's package (``manifest/zendesk-app/``), as pure functions over its files.

- :func:`check_app` — Zendesk's documented rules for ``manifest.json``,
  ``requirements.json``, the translation files and the logos, every problem at once, each
  naming the file and the key at fault. Zendesk has no offline validator (``zcli
  apps:validate`` posts the app to a live account); the rules here follow its developer
  docs and its ``zendesk_apps_support`` gem, plus two of this project's own (marked below).
- :func:`requirements_vs_manifest` — the app creates exactly the ticket fields the
  connector's manifest names under ``zendesk.fields``, with types that hold each field's
  ``format`` and the dropdown options its ``requirements.validate`` allows.
- :func:`prepare` — the files as uploaded: the webhook's endpoint pointed at the
  connector (or the webhook left out), the connector's host in ``domainWhitelist``.
- :func:`check_package` — :func:`check_app` on those files, then
  :func:`requirements_vs_manifest`.
- :func:`build_zip` — the uploadable zip, byte-for-byte the same for the same files.
- :func:`match_installed_fields` and :func:`fields_yaml` — the manifest's
  ``zendesk.fields`` block from the ticket fields the installed app created, found by the
  titles ``requirements.json`` gave them.

Nothing here reads the network; the command line (``plugins/zendesk/cli.py``) does the I/O.
"""
from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Collection, Iterable, Mapping
from urllib.parse import urlsplit

from connector.doctor import FITTING_TYPES, WRITTEN_TEXT_TYPES, _missing_options
from connector.manifest.model import CONNECTOR_WRITTEN, Manifest, OneOf

APP_DIR = Path(__file__).resolve().parents[2] / "manifest" / "zendesk-app"
"""The app's source folder in this repository."""

PARAMETER_TYPES = ("text", "checkbox", "url", "number", "multiline", "hidden", "oauth")
"""Zendesk's app parameter types. There is no ``password`` type: a secret is ``text``
with ``secure: true``."""
FRAMEWORK_VERSIONS = ("2.0",)
PRODUCTS = ("support", "chat", "sell")
LOCALE = re.compile(r"^[a-z]{2}(-\w{2,3})?$")
REQUIRED_FILES = ("manifest.json", "assets/logo.png", "assets/logo-small.png")
LOGO_SIZES = {"assets/logo.png": (320, 320), "assets/logo-small.png": (128, 128)}

REQUIREMENT_TYPES = ("automations", "channel_integrations", "custom_objects", "custom_objects_v2", "macros",
                     "targets", "views", "ticket_fields", "triggers", "user_fields", "organization_fields",
                     "webhooks")
UNTITLED_TYPES = ("channel_integrations", "custom_objects", "custom_objects_v2", "webhooks")
"""Requirement types whose entries need no ``title`` (every other entry does)."""
WEBHOOK_KEYS = ("name", "status", "endpoint", "http_method", "request_format")
WEBHOOK_VALUES = {"status": ("active", "inactive"), "http_method": ("GET", "POST", "PUT", "PATCH", "DELETE"),
                  "request_format": ("json", "xml", "form_encoded")}
REFUSED_TARGET_TYPES = ("http_target", "url_target_v2")
TICKET_FIELD_TYPES = ("text", "textarea", "checkbox", "date", "integer", "decimal", "regexp",
                      "partialcreditcard", "multiselect", "tagger", "lookup")
MAX_REQUIREMENTS = 5000

PLACEHOLDER_ORIGIN = "https://connector-url.invalid"
"""Where ``requirements.json`` points the connector's webhook until :func:`prepare`
replaces it with the connector's real URL (``.invalid`` can never resolve)."""
CONNECTOR_URL_PARAMETER = "connector_url"

_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__", "node_modules"}
_JUNK_SUFFIXES = (".pyc", ".pyo", ".swp", ".swo", "~", ".orig", ".rej")


# -- reading the folder ----------------------------------------------------------------

def is_junk(path: str) -> bool:
    """Editor, OS and build leftovers that must not go into the upload: hidden files and
    folders, ``__pycache__``, ``.DS_Store``, backups."""
    parts = PurePosixPath(path).parts
    return any(part in _JUNK_NAMES or part.startswith(".") for part in parts) or path.endswith(_JUNK_SUFFIXES)


def read_app(directory: str | Path) -> dict[str, bytes]:
    """Every file under ``directory`` by its relative POSIX path, junk left out."""
    root = Path(directory)
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and not is_junk(relative):
            files[relative] = path.read_bytes()
    return files


def _load_json(files: Mapping[str, bytes], path: str, problems: list[str]) -> Any:
    """The JSON document at ``path`` (None, with the problem noted, when it is missing,
    not UTF-8, not JSON, or repeats a key — Zendesk refuses duplicate keys)."""
    if path not in files:
        return None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen[key] = value
        return seen

    try:
        return json.loads(files[path].decode("utf-8"), object_pairs_hook=no_duplicates)
    except UnicodeDecodeError:
        problems.append(f"{path}: is not UTF-8 text")
    except json.JSONDecodeError as error:
        problems.append(f"{path}: is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})")
    except ValueError as error:
        problems.append(f"{path}: {error}")
    return None


# -- Zendesk's rules --------------------------------------------------------------------

def check_app(files: Mapping[str, bytes], *, packaged: bool = False) -> list[str]:
    """Every problem Zendesk would refuse the app for (empty when it would accept it).

    ``packaged``: the files are the upload itself, so the connector's webhook must point at
    the connector, not at :data:`PLACEHOLDER_ORIGIN`."""
    problems = [f"{path}: missing (Zendesk requires it in every app)" for path in REQUIRED_FILES
                if path not in files]
    manifest = _load_json(files, "manifest.json", problems)
    if manifest is not None:
        problems += manifest_problems(manifest, files.keys())
    problems += translation_problems(files, manifest if isinstance(manifest, Mapping) else {})
    problems += logo_problems(files)
    if "requirements.json" in files:
        requirements = _load_json(files, "requirements.json", problems)
        if requirements is not None:
            problems += requirements_problems(requirements, packaged=packaged)
    return problems


def manifest_problems(manifest: Any, paths: Collection[str]) -> list[str]:
    """``manifest.json``'s keys, types, locations and parameters. ``paths`` are the app's
    files, which relative location URLs must name."""
    where = "manifest.json"
    if not isinstance(manifest, Mapping):
        return [f"{where}: must be a JSON object, not {_kind(manifest)}"]
    problems = []
    for key in ("name", "author", "defaultLocale", "location", "frameworkVersion"):
        if key not in manifest:
            problems.append(f"{where}: the required key {key!r} is missing")
    for key in ("name", "defaultLocale", "version", "frameworkVersion"):
        if key in manifest and not isinstance(manifest[key], str):
            problems.append(f"{where}: {key} must be a string, not {_kind(manifest[key])}")
    for key in ("private", "requirementsOnly", "marketingOnly", "singleInstall", "signedUrls"):
        if key in manifest and not isinstance(manifest[key], bool):
            problems.append(f"{where}: {key} must be true or false, not {json.dumps(manifest[key])}")
    if isinstance(manifest.get("name"), str) and not manifest["name"].strip():
        problems.append(f"{where}: name is empty")
    problems += _author_problems(manifest.get("author"))
    locale = manifest.get("defaultLocale")
    if isinstance(locale, str) and not LOCALE.match(locale):
        problems.append(f"{where}: defaultLocale {locale!r} is not a locale such as \"en\" or \"pt-br\"")
    version = manifest.get("frameworkVersion")
    if isinstance(version, str) and version not in FRAMEWORK_VERSIONS:
        problems.append(f"{where}: frameworkVersion {version!r} is not served by Zendesk; use "
                        + " or ".join(repr(v) for v in FRAMEWORK_VERSIONS))
    whitelist = manifest.get("domainWhitelist")
    if whitelist is not None and not (isinstance(whitelist, list) and all(isinstance(d, str) for d in whitelist)):
        problems.append(f"{where}: domainWhitelist must be a list of domain names")
    if "location" in manifest:
        problems += _location_problems(manifest["location"], paths)
    problems += _parameter_problems(manifest.get("parameters"))
    return problems


def _author_problems(author: Any) -> list[str]:
    where = "manifest.json: author"
    if author is None:
        return []
    if not isinstance(author, Mapping):
        return [f"{where} must be an object with name, email and url"]
    problems = [f"{where}.{key} is missing" for key in ("name", "email") if not author.get(key)]
    problems += [f"{where}.{key} must be a string" for key in ("name", "email", "url")
                 if key in author and not isinstance(author[key], str)]
    url = author.get("url")
    if isinstance(url, str) and not re.match(r"^https?://", url):
        problems.append(f"{where}.url {url!r} must start with https:// or http://")
    return problems


def _location_problems(location: Any, paths: Collection[str]) -> list[str]:
    where = "manifest.json: location"
    if not isinstance(location, Mapping) or not location:
        return [f"{where} must name at least one product and location, e.g. "
                '{"support": {"ticket_sidebar": {"url": "assets/iframe.html"}}}']
    problems = []
    for product, places in location.items():
        if product not in PRODUCTS:
            problems.append(f"{where}.{product}: not a Zendesk product ({', '.join(PRODUCTS)})")
            continue
        if not isinstance(places, Mapping) or not places:
            problems.append(f"{where}.{product} must map locations (ticket_sidebar, …) to their URLs")
            continue
        for name, options in places.items():
            at = f"{where}.{product}.{name}"
            url = options.get("url") if isinstance(options, Mapping) else options
            if isinstance(options, Mapping) and "flexible" in options and not isinstance(options["flexible"], bool):
                problems.append(f"{at}.flexible must be true or false")
            if not isinstance(url, str) or not url:
                problems.append(f"{at}: has no url (a file under assets/, an https URL or localhost)")
            elif (problem := _location_url_problem(url, paths)):
                problems.append(f"{at}.url {url!r}: {problem}")
    return problems


def _location_url_problem(url: str, paths: Collection[str]) -> str | None:
    if "{{setting." in url:
        return None  # filled in from the app's settings when the app runs
    parts = urlsplit(url)
    if parts.scheme:
        if parts.scheme == "https" or parts.hostname == "localhost":
            return None
        return "an absolute location URL must be https (or localhost while developing)"
    if not parts.path.startswith("assets/"):
        return "a relative location URL must be a file under assets/"
    if parts.path not in paths:
        return "no such file in the app"
    return None


def _parameter_problems(parameters: Any) -> list[str]:
    where = "manifest.json: parameters"
    if parameters is None:
        return []
    if not isinstance(parameters, list):
        return [f"{where} must be a list, not {_kind(parameters)}"]
    problems, names = [], []
    for index, parameter in enumerate(parameters):
        if not isinstance(parameter, Mapping):
            problems.append(f"{where}[{index}] must be an object with name and type")
            continue
        name = parameter.get("name")
        at = f"{where}[{index}] ({name})" if isinstance(name, str) else f"{where}[{index}]"
        if not isinstance(name, str) or not name:
            problems.append(f"{at}: has no name")
        elif name == "name":
            problems.append(f"{at}: \"name\" is reserved by Zendesk; call the parameter something else")
        else:
            names.append(name)
        kind = parameter.get("type", "text")
        if kind == "password":
            problems.append(f"{at}: type \"password\" does not exist; a secret is type \"text\" with "
                            "\"secure\": true")
        elif kind not in PARAMETER_TYPES:
            problems.append(f"{at}: type {kind!r} is not a Zendesk parameter type ({', '.join(PARAMETER_TYPES)})")
        for flag in ("required", "secure"):
            if flag in parameter and not isinstance(parameter[flag], bool):
                problems.append(f"{at}: {flag} must be true or false, not {json.dumps(parameter[flag])}")
        if kind == "hidden" and parameter.get("required") is True:
            problems.append(f"{at}: a hidden parameter cannot be required (the admin never sees it)")
        if kind == "oauth" and parameter.get("secure") is True:
            problems.append(f"{at}: an oauth parameter cannot be secure")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"{where}: {', '.join(duplicates)} declared more than once")
    if sum(1 for p in parameters if isinstance(p, Mapping) and p.get("type") == "oauth") > 1:
        problems.append(f"{where}: only one oauth parameter is allowed")
    return problems


def translation_problems(files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> list[str]:
    """Each ``translations/*.json`` is a JSON object named after a locale; the default
    locale's file exists and gives the app's name and description. Project rule: it also
    labels every parameter (``app.parameters.<name>.label``), or the admin's settings form
    shows bare parameter names."""
    problems = []
    for path in sorted(files):
        match = re.fullmatch(r"translations/(.+)\.json", path)
        if match is None:
            continue
        if not LOCALE.match(match.group(1)):
            problems.append(f"{path}: {match.group(1)!r} is not a locale such as \"en\" or \"pt-br\"")
        data = _load_json(files, path, problems)
        if data is not None and not isinstance(data, Mapping):
            problems.append(f"{path}: must be a JSON object, not {_kind(data)}")
    locale = manifest.get("defaultLocale")
    if not isinstance(locale, str):
        return problems
    path = f"translations/{locale}.json"
    if path not in files:
        return problems + [f"{path}: missing; Zendesk requires the translation file of the "
                           f"defaultLocale {locale!r}"]
    data = _load_json(files, path, [])
    app = data.get("app") if isinstance(data, Mapping) else None
    if not isinstance(app, Mapping):
        return problems + ([f"{path}: has no \"app\" object (with the app's name and description)"]
                           if isinstance(data, Mapping) else [])
    if not _text(app.get("name")):
        problems.append(f"{path}: app.name is missing (the app's name as admins see it)")
    if not (_text(app.get("short_description")) or _text(app.get("description"))):
        problems.append(f"{path}: app.short_description (or app.description) is missing")
    labels = app.get("parameters") if isinstance(app.get("parameters"), Mapping) else {}
    for parameter in manifest.get("parameters") or ():
        name = parameter.get("name") if isinstance(parameter, Mapping) else None
        entry = labels.get(name) if isinstance(name, str) else None
        if isinstance(name, str) and not (isinstance(entry, Mapping) and _text(entry.get("label"))):
            problems.append(f"{path}: app.parameters.{name}.label is missing (the settings form would show "
                            f"the bare name {name!r})")
    return problems


def _text(value: Any) -> bool:
    """A translation string: plain, or Zendesk's ``{"title": …, "value": …}`` form."""
    if isinstance(value, Mapping):
        value = value.get("value")
    return isinstance(value, str) and bool(value.strip())


def logo_problems(files: Mapping[str, bytes]) -> list[str]:
    """The logos Zendesk shows: PNG files of the documented sizes."""
    problems = []
    for path, wanted in LOGO_SIZES.items():
        if path not in files:
            continue
        size = png_size(files[path])
        if size is None:
            problems.append(f"{path}: is not a PNG image")
        elif size != wanted:
            problems.append(f"{path}: is {size[0]}×{size[1]} pixels; Zendesk wants {wanted[0]}×{wanted[1]}")
    return problems


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None when ``data`` is not a PNG."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def requirements_problems(requirements: Any, *, packaged: bool = False) -> list[str]:
    """``requirements.json``: known resource types, each entry's required keys, webhook
    values, ticket field types and options. Project rule: ticket field titles are unique,
    since ``connector zendesk fields`` finds the installed fields by title."""
    where = "requirements.json"
    if not isinstance(requirements, Mapping):
        return [f"{where}: must be a JSON object of resource types, not {_kind(requirements)}"]
    problems = []
    unknown = [key for key in requirements if key not in REQUIREMENT_TYPES]
    if unknown:
        problems.append(f"{where}: {', '.join(unknown)} {'is not a' if len(unknown) == 1 else 'are not'} "
                        f"requirement type{'s' if len(unknown) > 1 else ''} ({', '.join(REQUIREMENT_TYPES)})")
    count = 0
    for kind, entries in requirements.items():
        if kind in ("custom_objects", "custom_objects_v2"):
            continue
        if not isinstance(entries, Mapping):
            problems.append(f"{where}: {kind} must map identifiers to {kind[:-1]} definitions")
            continue
        for identifier, entry in entries.items():
            count += 1
            at = f"{where}: {kind}.{identifier}"
            if not isinstance(entry, Mapping):
                problems.append(f"{at} must be an object")
                continue
            if kind not in UNTITLED_TYPES and not entry.get("title"):
                problems.append(f"{at}: the required key 'title' is missing")
            if kind in ("user_fields", "organization_fields") and not entry.get("key"):
                problems.append(f"{at}: the required key 'key' is missing")
            if kind == "channel_integrations" and not entry.get("manifest_url"):
                problems.append(f"{at}: the required key 'manifest_url' is missing")
            if kind == "targets" and entry.get("type") in REFUSED_TARGET_TYPES:
                problems.append(f"{at}: target type {entry['type']!r} cannot be a requirement; use a webhook")
            if kind == "webhooks":
                problems += _webhook_problems(at, entry, packaged=packaged)
            if kind == "ticket_fields":
                problems += _ticket_field_problems(at, entry)
    if count > MAX_REQUIREMENTS:
        problems.append(f"{where}: {count} requirements; Zendesk allows at most {MAX_REQUIREMENTS}")
    fields = requirements.get("ticket_fields")
    if isinstance(fields, Mapping):
        problems += _shared_tag_problems(fields) + _title_problems(fields)
    return problems


def _webhook_problems(at: str, webhook: Mapping[str, Any], *, packaged: bool) -> list[str]:
    problems = [f"{at}: the required key {key!r} is missing" for key in WEBHOOK_KEYS if key not in webhook]
    for key, allowed in WEBHOOK_VALUES.items():
        if key in webhook and webhook[key] not in allowed:
            problems.append(f"{at}: {key} {webhook[key]!r} is not one of {', '.join(allowed)}")
    endpoint = webhook.get("endpoint")
    if "endpoint" in webhook:
        parts = urlsplit(endpoint) if isinstance(endpoint, str) else None
        if parts is None or parts.scheme != "https" or not parts.hostname:
            problems.append(f"{at}: endpoint {endpoint!r} must be an https URL")
        elif packaged and endpoint.startswith(PLACEHOLDER_ORIGIN):
            problems.append(f"{at}: endpoint {endpoint!r} still points at the placeholder; give the "
                            "connector's URL (connector zendesk-app package --connector-url https://…)")
    return problems


def _ticket_field_problems(at: str, field: Mapping[str, Any]) -> list[str]:
    kind = field.get("type", "text")
    if kind not in TICKET_FIELD_TYPES:
        return [f"{at}: type {kind!r} is not a ticket field type ({', '.join(TICKET_FIELD_TYPES)})"]
    options = field.get("custom_field_options")
    if kind not in ("tagger", "multiselect"):
        return [f"{at}: custom_field_options only belong to tagger and multiselect fields"] if options else []
    if not isinstance(options, list) or not options:
        return [f"{at}: a {kind} field needs custom_field_options (a list of {{name, value}})"]
    problems = []
    for index, option in enumerate(options):
        if not (isinstance(option, Mapping) and _text(option.get("name")) and _text(option.get("value"))):
            problems.append(f"{at}: custom_field_options[{index}] needs a name and a value")
        elif not re.fullmatch(r"[^\s,]+", option["value"]):
            problems.append(f"{at}: option value {option['value']!r} becomes a tag, so it cannot contain "
                            "spaces or commas")
    values = [o.get("value") for o in options if isinstance(o, Mapping)]
    repeated = sorted({v for v in values if isinstance(v, str) and values.count(v) > 1})
    if repeated:
        problems.append(f"{at}: option value{'s' if len(repeated) > 1 else ''} {', '.join(repeated)} repeated")
    return problems


def _field_tags(field: Mapping[str, Any]) -> list[str]:
    """The tags a field puts on tickets: its dropdown values, or its checkbox tag."""
    if field.get("type") == "checkbox":
        return [field["tag"]] if isinstance(field.get("tag"), str) and field["tag"] else []
    options = field.get("custom_field_options")
    return [o["value"].lower() for o in options if isinstance(o, Mapping) and isinstance(o.get("value"), str)] \
        if isinstance(options, list) else []


def _shared_tag_problems(fields: Mapping[str, Any]) -> list[str]:
    """Zendesk: a tag can belong to one custom ticket field only."""
    owners: dict[str, list[str]] = {}
    for identifier, field in fields.items():
        if isinstance(field, Mapping):
            for tag in set(_field_tags(field)):
                owners.setdefault(tag, []).append(identifier)
    return [f"requirements.json: ticket_fields {' and '.join(names)} both use the tag {tag!r}; Zendesk allows a "
            "tag in one field only" for tag, names in sorted(owners.items()) if len(names) > 1]


def _title_problems(fields: Mapping[str, Any]) -> list[str]:
    titles: dict[str, list[str]] = {}
    for identifier, field in fields.items():
        if isinstance(field, Mapping) and isinstance(field.get("title"), str):
            titles.setdefault(field["title"].strip().casefold(), []).append(identifier)
    return [f"requirements.json: ticket_fields {' and '.join(names)} share a title; each needs its own "
            "(connector zendesk fields finds the installed fields by title)"
            for names in titles.values() if len(names) > 1]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


# -- against the connector's manifest ------------------------------------------------------

def requirements_vs_manifest(requirements: Any, manifest: Manifest) -> list[str]:
    """The app creates one ticket field per logical field in ``zendesk.fields`` and
    nothing else, each of a type that holds the field's format; a dropdown offers exactly
    the values ``requirements.validate`` allows (as Zendesk's lowercase tags), and a
    dropdown the connector writes has an option for every value it writes."""
    fields = requirements.get("ticket_fields") if isinstance(requirements, Mapping) else None
    fields = fields if isinstance(fields, Mapping) else {}
    problems = []
    for name, ref in manifest.zendesk.fields.items():
        at = f"requirements.json: ticket_fields.{name}"
        field = fields.get(name)
        if not isinstance(field, Mapping):
            problems.append(f"{at} is missing: the manifest's zendesk.fields.{name} ({ref.format}) needs a field")
            continue
        kind = field.get("type", "text")
        written = name in CONNECTOR_WRITTEN or name.endswith("_due_at")
        fitting = WRITTEN_TEXT_TYPES if written and ref.format == "text" else FITTING_TYPES[ref.format]
        if kind not in fitting:
            problems.append(f"{at}: type {kind!r} cannot hold the manifest's format {ref.format} "
                            f"(use {' or '.join(fitting)})")
            continue
        if kind != "tagger":
            continue
        offered = {v.lower() for v in _field_tags(field)}
        check = manifest.requirements.validate.get(name)
        if isinstance(check, OneOf):
            allowed = {str(v).lower() for v in check.values}
            if missing := sorted(allowed - offered):
                problems.append(f"{at}: no option for {', '.join(missing)}, which requirements.validate.{name} allows")
            if extra := sorted(offered - allowed):
                problems.append(f"{at}: options {', '.join(extra)} are refused by requirements.validate.{name}")
        if written and (missing := _missing_options(manifest, name, field)):
            problems.append(f"{at}: no option for {', '.join(missing)}, which the connector writes")
    for name in fields:
        if name not in manifest.zendesk.fields:
            problems.append(f"requirements.json: ticket_fields.{name} is not in the manifest's zendesk.fields; the "
                            "connector would never read it")
    return problems


# -- the upload ----------------------------------------------------------------------------

def connector_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the connector's public address Zendesk calls (None when it can)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return f"{url!r} is not an https URL; Zendesk calls the connector over https"
    if parts.username or parts.password:
        return f"{url!r} carries credentials; the webhook is signed instead"
    if parts.query or parts.fragment:
        return f"{url!r} has a query or fragment; give the connector's base URL"
    if parts.hostname.endswith(".invalid"):
        return f"{url!r} is the placeholder, not the connector's URL"
    return None


def prepare(files: Mapping[str, bytes], connector_url: str, *, webhook: bool = True) -> dict[str, bytes]:
    """The files to upload: the connector's webhook (the one at :data:`PLACEHOLDER_ORIGIN`)
    pointed at ``connector_url``, or left out when ``webhook`` is false (an account that
    already has one would get every event twice); the connector's host added to
    ``domainWhitelist``, so Zendesk sends the secure token nowhere else; ``connector_url``
    as the default of the ``connector_url`` setting. Files that do not parse are passed on
    untouched for :func:`check_app` to report."""
    base = connector_url.rstrip("/")
    prepared = dict(files)
    manifest = _load_json(files, "manifest.json", [])
    if isinstance(manifest, dict):
        host = urlsplit(base).hostname
        whitelist = manifest.get("domainWhitelist")
        whitelist = list(whitelist) if isinstance(whitelist, list) else []
        manifest["domainWhitelist"] = whitelist + ([host] if host and host not in whitelist else [])
        for parameter in manifest.get("parameters") or ():
            if isinstance(parameter, dict) and parameter.get("name") == CONNECTOR_URL_PARAMETER:
                parameter["default"] = base
        prepared["manifest.json"] = _dump(manifest)
    requirements = _load_json(files, "requirements.json", [])
    if isinstance(requirements, dict) and isinstance(requirements.get("webhooks"), dict):
        hooks = {}
        for identifier, hook in requirements["webhooks"].items():
            endpoint = hook.get("endpoint") if isinstance(hook, dict) else None
            if isinstance(endpoint, str) and endpoint.startswith(PLACEHOLDER_ORIGIN):
                if not webhook:
                    continue
                hook = {**hook, "endpoint": base + endpoint[len(PLACEHOLDER_ORIGIN):]}
            hooks[identifier] = hook
        if hooks:
            requirements["webhooks"] = hooks
        else:
            del requirements["webhooks"]
        prepared["requirements.json"] = _dump(requirements)
    return prepared


def check_package(files: Mapping[str, bytes], manifest: Manifest) -> list[str]:
    """Everything :func:`check_app` finds in the upload, then the ticket fields against
    the connector's manifest (:func:`requirements_vs_manifest`)."""
    problems = check_app(files, packaged=True)
    requirements = _load_json(files, "requirements.json", [])
    if isinstance(requirements, Mapping):
        problems += requirements_vs_manifest(requirements, manifest)
    return problems


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def build_zip(files: Mapping[str, bytes]) -> bytes:
    """The zip Zendesk takes: the files at its root, sorted, with fixed times (the same
    files always give the same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[path])
    return buffer.getvalue()


# -- the installed fields ------------------------------------------------------------------

@dataclass(frozen=True)
class InstalledField:
    name: str
    """The logical name (the manifest's key and the requirement's identifier)."""
    id: int
    format: str
    title: str


def match_installed_fields(manifest: Manifest, requirements: Any, installed: Iterable[Mapping[str, Any]], *,
                           app_name: str | None = None) -> tuple[list[InstalledField], list[str]]:
    """Find each of the manifest's logical fields among the account's ticket fields by
    the title ``requirements.json`` gave it. When several active fields share the title,
    the one the app created (``creator_app_name``) is taken; if that still leaves several,
    or none, or only inactive ones, or one whose type cannot hold the field's format, the
    field is a problem — never a guess."""
    fields = requirements.get("ticket_fields") if isinstance(requirements, Mapping) else None
    fields = fields if isinstance(fields, Mapping) else {}
    by_title: dict[str, list[Mapping[str, Any]]] = {}
    for field in installed:
        for title in {field.get("title"), field.get("raw_title")}:
            if isinstance(title, str):
                by_title.setdefault(title.strip().casefold(), []).append(field)
    found, problems = [], []
    for name, ref in manifest.zendesk.fields.items():
        at = f"zendesk.fields.{name}"
        requirement = fields.get(name)
        title = requirement.get("title") if isinstance(requirement, Mapping) else None
        if not isinstance(title, str) or not title.strip():
            problems.append(f"{at}: requirements.json creates no field for it; create the field in Zendesk "
                            "and put its id in the manifest by hand")
            continue
        candidates = by_title.get(title.strip().casefold(), [])
        active = [f for f in candidates if f.get("active", True)]
        if len(active) > 1 and app_name:
            own = [f for f in active if f.get("creator_app_name") == app_name]
            active = own or active
        if not candidates:
            problems.append(f"{at}: no ticket field titled “{title}” in Zendesk (is the app installed? "
                            "was the field renamed?)")
        elif not active:
            problems.append(f"{at}: the field “{title}” ({_ids(candidates)}) is inactive; activate it in Admin Center")
        elif len(active) > 1:
            problems.append(f"{at}: {len(active)} active fields are titled “{title}” ({_ids(active)}); rename or "
                            "deactivate the ones the app did not create")
        elif active[0].get("type") not in FITTING_TYPES[ref.format]:
            field = active[0]
            problems.append(f"{at}: “{title}” (id {field.get('id')}) is a {field.get('type')} field; format "
                            f"{ref.format} needs {' or '.join(FITTING_TYPES[ref.format])}")
        else:
            found.append(InstalledField(name, int(active[0]["id"]), ref.format, title))
    return found, problems


def _ids(fields: Iterable[Mapping[str, Any]]) -> str:
    ids = sorted(int(f["id"]) for f in fields)
    return ("id " if len(ids) == 1 else "ids ") + ", ".join(str(i) for i in ids)


def fields_yaml(found: Iterable[InstalledField], *, source: str) -> str:
    """The ``fields:`` block of the manifest's ``zendesk:`` section (indented as it sits
    there), each line with the field's Zendesk title as a comment. A text field is a plain
    id, as the manifest writes it."""
    lines = [f"# zendesk.fields as installed in {source}: replace the fields: block under zendesk: with this",
             "  fields:"]
    entries = [(f"    {f.name}: " + (str(f.id) if f.format == "text" else f"{{id: {f.id}, format: {f.format}}}"),
                f.title) for f in found]
    width = max((len(text) for text, _ in entries), default=0)
    lines += [f"{text:<{width}}  # {title}" for text, title in entries]
    return "\n".join(lines) + "\n"
