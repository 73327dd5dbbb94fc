"""The Zendesk app's package (manifest/zendesk-app): the shipped files pass Zendesk's
documented rules and match connector.yaml; each rule, broken on purpose, gives a problem
naming the file and the key; the zip holds the app's files and nothing else."""
from __future__ import annotations

import copy
import io
import json
import struct
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

from connector.manifest import load_manifest
from connector.manifest.model import FieldRef, FrozenMap, OneOf
from plugins.zendesk.app import (
    APP_DIR, PLACEHOLDER_ORIGIN, WEBHOOK_KEYS, build_zip, check_app, check_package, connector_url_problem,
    png_size, prepare, read_app, requirements_vs_manifest,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = load_manifest(ROOT / "manifest" / "connector.yaml")
FILES = read_app(APP_DIR)
URL = "https://escalations.example.com"


def document(path: str, files: dict[str, bytes] = FILES) -> Any:
    return json.loads(files[path])


class Whole:
    """What a change returns to replace the whole document."""

    def __init__(self, value: Any):
        self.value = value


def variant(path: str, change: Callable[[Any], Any]) -> dict[str, bytes]:
    """The shipped files with ``change`` applied to one JSON document (``change`` edits
    it in place, or returns a :class:`Whole` replacement)."""
    data = copy.deepcopy(document(path))
    result = change(data)
    data = result.value if isinstance(result, Whole) else data
    return {**FILES, path: json.dumps(data).encode()}


def png(width: int, height: int) -> bytes:
    """A valid one-colour PNG of the given size."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def only(problems: list[str]) -> str:
    assert len(problems) == 1, problems
    return problems[0]


# -- the shipped app ----------------------------------------------------------------------

def test_the_shipped_app_passes_every_rule():
    assert check_app(FILES) == []


def test_the_shipped_app_prepared_for_upload_passes_every_rule_and_matches_the_manifest():
    assert check_package(prepare(FILES, URL), SHIPPED) == []


def test_the_manifest_declares_the_sidebar_and_the_two_settings_the_sidebar_reads():
    manifest = document("manifest.json")
    assert manifest["frameworkVersion"] == "2.0"
    assert manifest["private"] is True
    assert manifest["defaultLocale"] == "en"
    assert set(manifest["author"]) == {"name", "email", "url"}
    assert manifest["location"] == {"support": {"ticket_sidebar": {"url": "assets/iframe.html", "flexible": True}}}
    parameters = {p["name"]: p for p in manifest["parameters"]}
    assert parameters["connector_url"] == {"name": "connector_url", "type": "url", "required": True}
    token = parameters["connector_token"]
    assert (token["type"], token["required"], token["secure"]) == ("text", True, True)
    assert "default" not in token  # a secret's default would ship in the zip


def test_the_translation_names_the_app_and_labels_both_settings():
    app = document("translations/en.json")["app"]
    assert app["name"] == document("manifest.json")["name"]
    assert app["short_description"]
    assert set(app["parameters"]) == {"connector_url", "connector_token"}


def test_the_logos_are_the_sizes_zendesk_wants():
    assert png_size(FILES["assets/logo.png"]) == (320, 320)
    assert png_size(FILES["assets/logo-small.png"]) == (128, 128)


# -- manifest.json, broken on purpose ------------------------------------------------------

def _set(key: str, value: Any) -> Callable[[dict], None]:
    return lambda data: data.__setitem__(key, value)


def _parameter(index: int, **changes: Any) -> Callable[[dict], None]:
    return lambda data: data["parameters"][index].update(changes)


def _sidebar_url(url: str) -> Callable[[dict], None]:
    return lambda data: data["location"]["support"]["ticket_sidebar"].__setitem__("url", url)


MANIFEST_FAULTS = [
    (lambda d: d.pop("author"), "manifest.json: the required key 'author' is missing"),
    (lambda d: d.pop("frameworkVersion"), "manifest.json: the required key 'frameworkVersion' is missing"),
    (lambda d: d.pop("location"), "manifest.json: the required key 'location' is missing"),
    (lambda d: d.pop("defaultLocale"), "manifest.json: the required key 'defaultLocale' is missing"),
    (lambda d: d["author"].pop("email"), "manifest.json: author.email is missing"),
    (lambda d: d["author"].__setitem__("url", "www.example.com"), "author.url 'www.example.com' must start with"),
    (_set("frameworkVersion", "1.0"), "frameworkVersion '1.0' is not served by Zendesk; use '2.0'"),
    (_set("frameworkVersion", 2.0), "manifest.json: frameworkVersion must be a string, not a number"),
    (_set("private", "true"), 'manifest.json: private must be true or false, not "true"'),
    (_set("defaultLocale", "english"), "defaultLocale 'english' is not a locale"),
    (_parameter(1, type="password"), 'parameters[1] (connector_token): type "password" does not exist; a secret '
                                     'is type "text" with "secure": true'),
    (_parameter(0, type="uri"), "parameters[0] (connector_url): type 'uri' is not a Zendesk parameter type"),
    (_parameter(0, required="yes"), 'parameters[0] (connector_url): required must be true or false, not "yes"'),
    (_parameter(1, secure=1), "parameters[1] (connector_token): secure must be true or false, not 1"),
    (_parameter(1, name="connector_url"), "manifest.json: parameters: connector_url declared more than once"),
    (_parameter(1, type="hidden"), "parameters[1] (connector_token): a hidden parameter cannot be required"),
    (_set("parameters", {"connector_url": "url"}), "manifest.json: parameters must be a list, not an object"),
    (_sidebar_url("http://escalations.example.com/app"), "an absolute location URL must be https"),
    (_sidebar_url("assets/sidebar.html"), "ticket_sidebar.url 'assets/sidebar.html': no such file in the app"),
    (_sidebar_url("iframe.html"), "a relative location URL must be a file under assets/"),
    (lambda d: d["location"]["support"]["ticket_sidebar"].pop("url"), "ticket_sidebar: has no url"),
    (lambda d: d["location"]["support"]["ticket_sidebar"].__setitem__("flexible", "yes"),
     "ticket_sidebar.flexible must be true or false"),
    (lambda d: d["location"].__setitem__("zendesk", d["location"].pop("support")),
     "manifest.json: location.zendesk: not a Zendesk product"),
    (lambda d: Whole([1, 2]), "manifest.json: must be a JSON object, not a list"),
]


@pytest.mark.parametrize("change, expected", MANIFEST_FAULTS, ids=[e[:48] for _, e in MANIFEST_FAULTS])
def test_each_broken_manifest_rule_is_named(change, expected):
    problems = check_app(variant("manifest.json", change))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("url", ["https://escalations.example.com/sidebar", "http://localhost:4567/iframe.html",
                                 "{{setting.connector_url}}/sidebar"])
def test_location_urls_zendesk_accepts(url):
    assert check_app(variant("manifest.json", _sidebar_url(url))) == []


def test_every_manifest_problem_is_reported_at_once():
    def break_three(data):
        data.pop("author")
        data["frameworkVersion"] = "1.0"
        data["parameters"][1]["type"] = "password"
    assert len(check_app(variant("manifest.json", break_three))) == 3


def test_a_manifest_that_is_not_json_or_repeats_a_key_is_refused():
    broken = {**FILES, "manifest.json": b'{"name": "Escalation Connector",'}
    assert "manifest.json: is not valid JSON (Expecting property name" in only(
        [p for p in check_app(broken) if p.startswith("manifest.json")])
    repeated = {**FILES, "manifest.json": FILES["manifest.json"].replace(b'"private": true',
                                                                       b'"private": true, "private": false')}
    assert "manifest.json: the key 'private' appears twice in one object" in check_app(repeated)


# -- translations and logos -----------------------------------------------------------------

def test_the_default_locale_needs_its_translation_file():
    problems = check_app(variant("manifest.json", _set("defaultLocale", "fr")))
    assert only(problems) == ("translations/fr.json: missing; Zendesk requires the translation file of the "
                              "defaultLocale 'fr'")


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["app"].pop("name"), "translations/en.json: app.name is missing"),
    (lambda d: d["app"].pop("short_description"), "translations/en.json: app.short_description (or app.description)"
                                                  " is missing"),
    (lambda d: d["app"]["parameters"].pop("connector_token"),
     "translations/en.json: app.parameters.connector_token.label is missing"),
    (lambda d: Whole({"name": "Escalation Connector"}), 'translations/en.json: has no "app" object'),
    (lambda d: Whole(["Escalation Connector"]), "translations/en.json: must be a JSON object, not a list"),
])
def test_each_broken_translation_rule_is_named(change, expected):
    assert expected in only(check_app(variant("translations/en.json", change)))


def test_a_description_in_zendesks_title_value_form_counts():
    def long_form(data):
        data["app"].pop("short_description")
        data["app"]["description"] = {"title": "app description", "value": "Escalations beside the ticket"}
    assert check_app(variant("translations/en.json", long_form)) == []


def test_translation_files_must_be_json_named_after_a_locale():
    files = {**FILES, "translations/english.json": b"{}", "translations/de.json": b"{'app': 1}"}
    problems = check_app(files)
    assert "translations/english.json: 'english' is not a locale such as \"en\" or \"pt-br\"" in problems
    assert any(p.startswith("translations/de.json: is not valid JSON") for p in problems)


@pytest.mark.parametrize("path, data, expected", [
    ("assets/logo.png", png(128, 128), "assets/logo.png: is 128×128 pixels; Zendesk wants 320×320"),
    ("assets/logo-small.png", b"GIF89a", "assets/logo-small.png: is not a PNG image"),
    ("assets/logo-small.png", None, "assets/logo-small.png: missing (Zendesk requires it in every app)"),
])
def test_logos_must_be_pngs_of_the_documented_size(path, data, expected):
    files = {k: v for k, v in FILES.items() if k != path}
    if data is not None:
        files[path] = data
    assert only(check_app(files)) == expected


# -- requirements.json, broken on purpose ----------------------------------------------------

def _field(name: str, **changes: Any) -> Callable[[dict], None]:
    return lambda data: data["ticket_fields"][name].update(changes)


def _webhook(**changes: Any) -> Callable[[dict], None]:
    return lambda data: data["webhooks"]["escalation_connector"].update(changes)


REQUIREMENT_FAULTS = [
    (lambda d: d.__setitem__("custom_statuses", {"l2": {"title": "Escalated - L2"}}),
     "requirements.json: custom_statuses is not a requirement type"),
    (lambda d: d["ticket_fields"]["amount"].pop("title"),
     "requirements.json: ticket_fields.amount: the required key 'title' is missing"),
    (_field("amount", type="number"), "ticket_fields.amount: type 'number' is not a ticket field type"),
    (_field("currency", custom_field_options=[]), "ticket_fields.currency: a tagger field needs custom_field_options"),
    (_field("currency", custom_field_options=[{"name": "US dollar"}]),
     "ticket_fields.currency: custom_field_options[0] needs a name and a value"),
    (_field("currency", custom_field_options=[{"name": "US dollar", "value": "us dollar"}]),
     "option value 'us dollar' becomes a tag, so it cannot contain spaces or commas"),
    (_field("currency", custom_field_options=[{"name": "USD", "value": "usd"}, {"name": "Dollar", "value": "usd"}]),
     "ticket_fields.currency: option value usd repeated"),
    (_field("amount", custom_field_options=[{"name": "Big", "value": "big"}]),
     "ticket_fields.amount: custom_field_options only belong to tagger and multiselect fields"),
    (_field("urgent", tag="financial"), "ticket_fields escalation_type and urgent both use the tag 'financial'"),
    (_field("timeline", title="Issue summary"), "ticket_fields issue_summary and timeline share a title"),
    (lambda d: d.__setitem__("user_fields", {"tier": {"title": "Tier", "type": "text"}}),
     "requirements.json: user_fields.tier: the required key 'key' is missing"),
    (lambda d: d.__setitem__("targets", {"old": {"title": "Old", "type": "http_target"}}),
     "targets.old: target type 'http_target' cannot be a requirement; use a webhook"),
    (_webhook(http_method="FETCH"), "webhooks.escalation_connector: http_method 'FETCH' is not one of GET, POST"),
    (_webhook(status="on"), "webhooks.escalation_connector: status 'on' is not one of active, inactive"),
    (_webhook(request_format="yaml"), "request_format 'yaml' is not one of json, xml, form_encoded"),
    (_webhook(endpoint="http://escalations.example.com/webhooks/zendesk"), "must be an https URL"),
    (lambda d: Whole(["ticket_fields"]), "requirements.json: must be a JSON object of resource types, not a list"),
]


@pytest.mark.parametrize("change, expected", REQUIREMENT_FAULTS, ids=[e[:48] for _, e in REQUIREMENT_FAULTS])
def test_each_broken_requirement_rule_is_named(change, expected):
    problems = check_app(variant("requirements.json", change))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("key", WEBHOOK_KEYS)
def test_a_webhook_needs_each_of_its_required_keys(key):
    problems = check_app(variant("requirements.json", lambda d: d["webhooks"]["escalation_connector"].pop(key)))
    assert only(problems) == f"requirements.json: webhooks.escalation_connector: the required key {key!r} is missing"


def test_the_upload_must_not_keep_the_placeholder_endpoint():
    assert check_app(FILES) == []
    assert only(check_app(FILES, packaged=True)) == (
        f"requirements.json: webhooks.escalation_connector: endpoint '{PLACEHOLDER_ORIGIN}/webhooks/zendesk' still "
        "points at the placeholder; give the connector's URL (connector zendesk-app package --connector-url https://…)")


# -- requirements.json against connector.yaml -------------------------------------------------

def test_every_logical_field_has_a_requirement_and_nothing_else_does():
    assert set(document("requirements.json")["ticket_fields"]) == set(SHIPPED.zendesk.fields)
    assert requirements_vs_manifest(document("requirements.json"), SHIPPED) == []


def test_each_field_is_created_with_the_type_of_its_format():
    types = {"text": "text", "textarea": "textarea", "checkbox": "checkbox", "date": "date", "decimal": "decimal",
             "dropdown": "tagger"}
    fields = document("requirements.json")["ticket_fields"]
    assert {name: fields[name]["type"] for name in fields} == {
        name: types[ref.format] for name, ref in SHIPPED.zendesk.fields.items()}


def test_dropdowns_offer_exactly_the_values_the_manifest_allows_as_lowercase_tags():
    fields = document("requirements.json")["ticket_fields"]
    for name, check in SHIPPED.requirements.validate.items():
        if isinstance(check, OneOf):
            assert [o["value"] for o in fields[name]["custom_field_options"]] == [v.lower() for v in check.values]
    assert fields["transaction_status"]["custom_field_options"]  # no list in the manifest, still a dropdown


def test_the_webhook_sends_the_event_types_the_connector_handles_signed_to_its_intake():
    webhook = document("requirements.json")["webhooks"]["escalation_connector"]
    assert webhook["endpoint"] == f"{PLACEHOLDER_ORIGIN}/webhooks/zendesk"
    assert (webhook["http_method"], webhook["request_format"], webhook["status"]) == ("POST", "json", "active")
    assert set(webhook["subscriptions"]) == {f"zen:event-type:ticket.{kind}" for kind in (
        "custom_status_changed", "status_changed", "comment_added", "custom_field_changed")}
    assert "signing_secret" not in webhook  # Zendesk makes one per account; a shipped one would be public
    assert "authentication" not in webhook


def _with_field(name: str, ref: FieldRef):
    return replace(SHIPPED, zendesk=replace(SHIPPED.zendesk, fields=FrozenMap({**SHIPPED.zendesk.fields, name: ref})))


@pytest.mark.parametrize("change, manifest, expected", [
    (lambda d: d["ticket_fields"].pop("amount"), SHIPPED,
     "requirements.json: ticket_fields.amount is missing: the manifest's zendesk.fields.amount (decimal) needs a field"),
    (lambda d: d["ticket_fields"].__setitem__("refund_id", {"type": "text", "title": "Refund ID"}), SHIPPED,
     "requirements.json: ticket_fields.refund_id is not in the manifest's zendesk.fields"),
    (_field("amount", type="text"), SHIPPED,
     "ticket_fields.amount: type 'text' cannot hold the manifest's format decimal (use decimal)"),
    (_field("tier", type="regexp"), SHIPPED,
     "ticket_fields.tier: type 'regexp' cannot hold the manifest's format text (use text or textarea)"),
    (lambda d: d["ticket_fields"]["currency"]["custom_field_options"].pop(), SHIPPED,
     "ticket_fields.currency: no option for usdt, which requirements.validate.currency allows"),
    (lambda d: d["ticket_fields"]["currency"]["custom_field_options"].append({"name": "CHF", "value": "chf"}), SHIPPED,
     "ticket_fields.currency: options chf are refused by requirements.validate.currency"),
    (_field("tier", type="tagger", custom_field_options=[{"name": t, "value": t.lower()} for t in ("T1", "T2", "T3")]),
     _with_field("tier", FieldRef(990030, "dropdown")),
     "ticket_fields.tier: no option for T4, which the connector writes"),
], ids=["missing", "extra", "type", "written-regexp", "option-missing", "option-extra", "written-dropdown"])
def test_requirements_out_of_step_with_the_manifest_are_named(change, manifest, expected):
    assert expected in only(requirements_vs_manifest(
        json.loads(variant("requirements.json", change)["requirements.json"]), manifest))


# -- the upload --------------------------------------------------------------------------------

def test_prepare_points_the_webhook_at_the_connector_and_sends_the_token_nowhere_else():
    files = prepare(FILES, URL + "/")
    webhook = document("requirements.json", files)["webhooks"]["escalation_connector"]
    assert webhook["endpoint"] == URL + "/webhooks/zendesk"
    manifest = document("manifest.json", files)
    assert manifest["domainWhitelist"] == ["escalations.example.com"]
    assert {p["name"]: p.get("default") for p in manifest["parameters"]} == {
        "connector_url": URL, "connector_token": None}
    assert document("requirements.json", files)["ticket_fields"] == document("requirements.json")["ticket_fields"]


def test_prepare_without_the_webhook_leaves_only_the_fields():
    requirements = document("requirements.json", prepare(FILES, URL, webhook=False))
    assert set(requirements) == {"ticket_fields"}


def test_a_connector_under_a_path_keeps_its_path():
    files = prepare(FILES, "https://tools.example.com/escalations")
    assert document("requirements.json", files)["webhooks"]["escalation_connector"]["endpoint"] == (
        "https://tools.example.com/escalations/webhooks/zendesk")


@pytest.mark.parametrize("url, expected", [
    ("http://escalations.example.com", "is not an https URL"),
    ("escalations.example.com", "is not an https URL"),
    ("https://user:secret@escalations.example.com", "carries credentials"),
    ("https://escalations.example.com/?x=1", "has a query or fragment"),
    (PLACEHOLDER_ORIGIN, "is the placeholder"),
])
def test_connector_urls_zendesk_cannot_call_are_refused(url, expected):
    assert expected in connector_url_problem(url)
    assert connector_url_problem(URL) is None


def test_the_zip_holds_the_apps_files_at_its_root_and_no_junk(tmp_path):
    app = tmp_path / "zendesk-app"
    for path, data in FILES.items():
        (app / path).parent.mkdir(parents=True, exist_ok=True)
        (app / path).write_bytes(data)
    for junk in (".DS_Store", "assets/.DS_Store", "assets/__pycache__/x.pyc", "assets/main.js~", ".git/HEAD",
                 "translations/.en.json.swp"):
        (app / junk).parent.mkdir(parents=True, exist_ok=True)
        (app / junk).write_bytes(b"junk")
    files = prepare(read_app(app), URL)
    data = build_zip(files)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == sorted(FILES)
    assert {"manifest.json", "requirements.json", "translations/en.json", "assets/iframe.html",
            "assets/logo.png", "assets/logo-small.png"} <= set(FILES)
    assert archive.read("assets/logo.png") == FILES["assets/logo.png"]
    assert json.loads(archive.read("manifest.json"))["domainWhitelist"] == ["escalations.example.com"]
    assert build_zip(files) == data  # same files, same bytes
