"""Reading the manifest from a file: unreadable files, YAML traps, line numbers, the
default path, and the typed object the engine gets."""
from __future__ import annotations

import dataclasses
from datetime import date, time
from decimal import Decimal

import pytest
import yaml

from connector.manifest import (
    AllOf, AnyOf, CommentMatches, FieldCondition, FieldRef, Level, ManifestError, ManifestUnreadable, Not,
    OrganizationTagCondition, RequesterTicketsWithin, TagCondition, load_manifest, parse_manifest,
)
from connector.manifest.model import END_OF_DAY
from tests.manifest.conftest import SHIPPED


def _write(tmp_path, data_or_text) -> str:
    path = tmp_path / "connector.yaml"
    text = data_or_text if isinstance(data_or_text, str) else yaml.safe_dump(data_or_text, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_missing_file_is_unreadable_and_says_how_to_fix(tmp_path):
    with pytest.raises(ManifestUnreadable) as caught:
        load_manifest(tmp_path / "nope.yaml")
    (problem,) = caught.value.problems
    assert problem.path == str(tmp_path / "nope.yaml")
    assert "no such file" in problem.message and "CONNECTOR_MANIFEST" in problem.message


def test_yaml_syntax_error_is_unreadable_with_its_line(tmp_path):
    path = _write(tmp_path, "version: 1\nzendesk:\n  fields: {a: 1\n  levels: []\n")
    with pytest.raises(ManifestUnreadable) as caught:
        load_manifest(path)
    assert "is not valid YAML — line" in caught.value.problems[0].message


def test_unreadable_is_a_manifest_error():
    assert issubclass(ManifestUnreadable, ManifestError)


def test_empty_file_is_invalid_not_unreadable(tmp_path):
    with pytest.raises(ManifestError) as caught:
        load_manifest(_write(tmp_path, "# nothing yet\n"))
    assert not isinstance(caught.value, ManifestUnreadable)
    assert caught.value.problems[0].message.startswith("the manifest is empty")


def test_duplicate_yaml_key_is_reported_with_both_lines(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "      ack: {within: 1h, calendar: 24x7, met_when: public_reply}\n",
        "      ack: {within: 1h, calendar: 24x7, met_when: public_reply}\n"
        "      ack: {within: 2h, calendar: 24x7}\n")
    with pytest.raises(ManifestError) as caught:
        load_manifest(_write(tmp_path, text))
    (problem,) = caught.value.problems
    assert problem.path == "tiers.T2.targets.ack"
    assert problem.message.startswith("appears twice in the same mapping (lines ")
    assert "YAML would silently keep only the last" in problem.message


def test_problems_come_in_file_order_with_line_numbers(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("within: 30m", 'within: "30 mins"').replace("timezone: America/New_York",
                                                                    "timezone: Mars/Olympus")
    with pytest.raises(ManifestError) as caught:
        load_manifest(_write(tmp_path, text))
    first, second = caught.value.problems
    assert first.path == "calendars.business.timezone"
    assert second.path == "tiers.T3.targets.bridge.within"
    lines = text.splitlines()
    assert "Mars/Olympus" in lines[first.line - 1]
    assert "30 mins" in lines[second.line - 1]


def test_str_of_the_error_lists_every_problem_as_path_colon_message(tmp_path):
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["default_tier"] = "T0"
    data["tiers"]["T1"]["update_every"] = "2 days"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(data)
    assert str(caught.value).splitlines() == [f"{p.path}: {p.message}" for p in caught.value.problems]
    assert len(caught.value.problems) == 2


def test_unquoted_dates_and_quoted_dates_both_work(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "add: [], remove: []", 'add: [2026-12-24, "2026-12-31"], remove: [2026-07-03]')
    manifest = load_manifest(_write(tmp_path, text))
    holidays = manifest.calendars["business"].holidays
    assert holidays.add == (date(2026, 12, 24), date(2026, 12, 31))
    assert holidays.remove == (date(2026, 7, 3),)


def test_impossible_unquoted_date_is_a_problem_with_a_path_not_a_crash(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8").replace("add: []", "add: [2026-02-30]")
    with pytest.raises(ManifestError) as caught:
        load_manifest(_write(tmp_path, text))
    assert not isinstance(caught.value, ManifestUnreadable)
    assert [p.path for p in caught.value.problems] == ["calendars.business.holidays.add.0"]


def test_default_path_comes_from_connector_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_MANIFEST", _write(tmp_path, SHIPPED.read_text(encoding="utf-8")))
    assert load_manifest().default_tier == "T1"


def test_service_start_up_refuses_an_invalid_manifest(tmp_path):
    from types import SimpleNamespace

    from connector.runtime import load_manifest_for

    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["tiers"]["T3"]["targets"]["bridge"]["within"] = "30 mins"
    data["rules"][0]["tier"] = "T7"
    with pytest.raises(ManifestError) as caught:
        load_manifest_for(SimpleNamespace(manifest_path=_write(tmp_path, data)))
    message = str(caught.value)
    assert "tiers.T3.targets.bridge.within" in message and "rules.0.tier" in message


# -- the typed model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(SHIPPED)


def test_fields_are_typed_refs_and_a_plain_id_means_text(manifest):
    assert manifest.zendesk.fields["customer_id"] == FieldRef(990002, "text")
    assert manifest.zendesk.fields["resolve_due_at"] == FieldRef(990035, "date")


def test_levels_keep_their_order_and_can_be_found_by_status(manifest):
    assert manifest.zendesk.levels[0] == Level("L2", 990101)
    assert manifest.zendesk.level_for_status(990103).name == "CEO"
    assert manifest.zendesk.level_for_status(1) is None
    assert manifest.zendesk.level_rank("CIO") == 1


def test_tier_rank_orders_tiers_lowest_first(manifest):
    assert [manifest.tier_rank(k) for k in ("T1", "T2", "T3", "T4")] == [0, 1, 2, 3]
    with pytest.raises(KeyError):
        manifest.tier_rank("T5")


def test_conditions_are_a_tree_of_typed_nodes():
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["rules"] = [{"name": "everything", "tier": "T2", "when": {"all": [
        {"field": "amount", "gte": "10000.50"},
        {"field": "currency", "in": ["USD", "EUR"]},
        {"field": "urgent", "present": True},
        {"not": {"organization_tag": "vip"}},
        {"any": [{"tag": "security_incident"}, {"latest_requester_comment_matches": "(?i)fraud"}]},
        {"requester_tickets_within": {"days": 7, "at_least": 3}},
    ]}}]
    (rule,) = parse_manifest(data).rules
    assert rule.when == AllOf((
        FieldCondition("amount", "gte", Decimal("10000.50")),
        FieldCondition("currency", "in", ("USD", "EUR")),
        FieldCondition("urgent", "present", True),
        Not(OrganizationTagCondition("vip")),
        AnyOf((TagCondition("security_incident"), CommentMatches("(?i)fraud"))),
        RequesterTicketsWithin(7, 3),
    ))


def test_opening_hours_by_weekday_with_24_00_as_end_of_day():
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["calendars"]["business"]["hours"] = {"mon-wed,fri": ["13:00-17:00", "08:00-12:00"],
                                              "sat": "18:00-24:00"}
    hours = parse_manifest(data).calendars["business"].hours
    assert hours[0] == ((time(8), time(12)), (time(13), time(17)))
    assert hours[3] == ()
    assert hours[4] == hours[0]
    assert hours[5] == ((time(18), END_OF_DAY),)
    assert END_OF_DAY == time(0)  # what BusinessCalendar reads as 24:00
    assert set(hours) == set(range(7))


def test_manifest_is_immutable(manifest):
    with pytest.raises(dataclasses.FrozenInstanceError):
        manifest.default_tier = "T4"
    with pytest.raises(TypeError):
        manifest.zendesk.fields["amount"] = FieldRef(1)
    hash(manifest)
