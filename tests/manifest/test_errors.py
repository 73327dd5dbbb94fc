"""One test per kind of mistake an admin can make: the path points at the key, and the
message says what to write instead."""
from __future__ import annotations

from tests.manifest.conftest import only_problem, problems

# -- shape -----------------------------------------------------------------------------


def test_unknown_top_level_key_is_an_error_with_a_suggestion(shipped):
    shipped["rule"] = shipped.pop("rules")
    found = problems(shipped)
    assert found["rule"].startswith("unknown key — remove it, or use one of version, zendesk,")
    assert found["rule"].endswith("(did you mean rules?)")


def test_unknown_nested_key_names_the_keys_that_exist(shipped):
    shipped["tiers"]["T2"]["targets"]["ack"]["calender"] = "24x7"
    path, message = only_problem(shipped)
    assert path == "tiers.T2.targets.ack.calender"
    assert message == ("unknown key — remove it, or use one of within, calendar, met_when, from "
                       "(did you mean calendar?)")


def test_missing_required_key_says_what_to_add(shipped):
    del shipped["tiers"]["T2"]["update_every"]
    assert only_problem(shipped) == (
        "tiers.T2.update_every",
        "is missing — say how often the customer hears from you, e.g. update_every: 24h")


def test_missing_section_is_reported_once_not_once_per_reference(shipped):
    del shipped["zendesk"]
    assert only_problem(shipped) == ("zendesk", "is missing — add the zendesk section (fields and levels)")


def test_section_of_the_wrong_shape_is_an_error(shipped):
    shipped["tiers"] = ["T1", "T2"]
    path, message = only_problem(shipped)
    assert path == "tiers"
    assert message == "must be a mapping of keys to values (key: value lines), not a list"


def test_manifest_that_is_not_a_mapping_is_an_error():
    path, message = only_problem(["version", 1])
    assert path == ""
    assert "must be a mapping of sections" in message


def test_version_other_than_1_is_refused(shipped):
    shipped["version"] = 2
    assert only_problem(shipped) == ("version", "2 is not a manifest version this connector reads — write version: 1")


# -- zendesk fields and levels ---------------------------------------------------------


def test_field_id_that_is_not_a_number(shipped):
    shipped["zendesk"]["fields"]["customer_id"] = "cust-id"
    assert only_problem(shipped) == (
        "zendesk.fields.customer_id",
        '"cust-id" is not a Zendesk field ID — write the number Zendesk shows, e.g. 360012345678')


def test_field_id_in_quotes_is_told_to_drop_them(shipped):
    shipped["zendesk"]["fields"]["customer_id"] = "360012345678"
    assert only_problem(shipped) == (
        "zendesk.fields.customer_id", '"360012345678" must be a number, not text — remove the quotes')


def test_unknown_field_format_lists_the_formats(shipped):
    shipped["zendesk"]["fields"]["resolve_due_at"] = {"id": 990035, "format": "datetime"}
    assert only_problem(shipped) == (
        "zendesk.fields.resolve_due_at.format",
        '"datetime" is not allowed — use one of text, textarea, date, checkbox, dropdown, integer, decimal '
        "(did you mean date?)")


def test_logical_field_name_must_be_lowercase_identifier(shipped):
    shipped["zendesk"]["fields"]["Customer ID"] = 123456789
    path, message = only_problem(shipped)
    assert path == "zendesk.fields.Customer ID"
    assert message.startswith('"Customer ID" is not valid here — use lowercase letters, digits and underscores')


def test_two_fields_on_one_zendesk_id(shipped):
    shipped["zendesk"]["fields"]["evidence"] = 990011  # violation_type's id
    assert only_problem(shipped) == (
        "zendesk.fields.evidence",
        "ID 990011 is also mapped to violation_type — each logical field needs its own Zendesk field")


def test_level_names_must_be_unique(shipped):
    shipped["zendesk"]["levels"][2]["name"] = "CIO"
    assert only_problem(shipped) == (
        "zendesk.levels.2.name", '"CIO" is also the name of level 1 — give each level its own name')


def test_level_custom_status_ids_must_be_unique(shipped):
    shipped["zendesk"]["levels"][1]["custom_status_id"] = 990101
    assert only_problem(shipped) == (
        "zendesk.levels.1.custom_status_id",
        "990101 is also the status of level 0 — each level needs its own Zendesk custom status")


def test_on_incomplete_must_be_revert_or_flag(shipped):
    shipped["zendesk"]["on_incomplete"] = "bounce"
    assert only_problem(shipped) == ("zendesk.on_incomplete", '"bounce" is not allowed — use one of revert, flag')


# -- references to fields ---------------------------------------------------------------


def test_required_field_that_is_not_mapped(shipped):
    shipped["requirements"]["by_type"]["financial"][0] = "amonut"
    assert only_problem(shipped) == (
        "requirements.by_type.financial.0",
        '"amonut" is not a mapped field — add it under zendesk.fields (amonut: <Zendesk field ID>) '
        "or use a mapped one (did you mean amount?)")


def test_every_kind_of_field_reference_is_checked(shipped):
    del shipped["zendesk"]["fields"]["evidence"]
    shipped["requirements"]["validate"]["evidence"] = {"regex": ".+"}
    shipped["tiers"]["T3"]["targets"]["bridge"]["met_when"] = {"field_set": "evidence"}
    shipped["rules"][0]["when"] = {"not": {"field": "evidence", "present": True}}
    shipped["requirements"]["when_urgent"] = ["evidence"]
    assert set(problems(shipped)) == {
        "requirements.by_type.compliance.1",
        "requirements.when_urgent.0",
        "requirements.validate.evidence",
        "tiers.T3.targets.bridge.met_when.field_set",
        "rules.0.when.not.field",
    }


def test_rule_cannot_read_a_field_the_connector_writes(shipped):
    shipped["rules"][0]["when"] = {"field": "tier", "equals": "T3"}
    assert only_problem(shipped) == (
        "rules.0.when.field",
        '"tier" is written by the connector, so it cannot be an input here — use a field that agents fill in')


def test_requirements_by_type_needs_escalation_type_mapped(shipped):
    del shipped["zendesk"]["fields"]["escalation_type"]
    found = problems(shipped)
    assert found["requirements.by_type"] == (
        "depends on the escalation type, but escalation_type is not mapped — add escalation_type: "
        "<dropdown field ID> under zendesk.fields")


def test_when_urgent_needs_urgent_mapped(shipped):
    del shipped["zendesk"]["fields"]["urgent"]
    assert only_problem(shipped) == (
        "requirements.when_urgent",
        "applies to urgent escalations, but urgent is not mapped — add urgent: {id: <checkbox field ID>, "
        "format: checkbox} under zendesk.fields")


# -- fields the connector writes --------------------------------------------------------


def test_due_field_must_be_text_or_date(shipped):
    shipped["zendesk"]["fields"]["bridge_due_at"] = {"id": 990038, "format": "checkbox"}
    assert only_problem(shipped) == (
        "zendesk.fields.bridge_due_at",
        "the connector writes a due time here, which a field of format checkbox cannot hold — map a text "
        "field (ISO 8601 time) or declare {id: …, format: date} for a date field")


def test_next_update_due_field_must_be_text_or_date(shipped):
    shipped["zendesk"]["fields"]["next_update_due_at"] = {"id": 990033, "format": "integer"}
    path, message = only_problem(shipped)
    assert path == "zendesk.fields.next_update_due_at"
    assert "a field of format integer cannot hold" in message


def test_due_field_for_a_target_no_tier_has(shipped):
    shipped["zendesk"]["fields"]["brigde_due_at"] = 123456789
    path, message = only_problem(shipped)
    assert path == "zendesk.fields.brigde_due_at"
    assert message.startswith("no tier has a target named brigde, so nothing would write this field — "
                              "rename it to <target>_due_at for one of ack, bridge,")
    assert message.endswith("(did you mean bridge?)")


def test_tier_field_must_hold_text(shipped):
    shipped["zendesk"]["fields"]["tier"] = {"id": 990030, "format": "checkbox"}
    assert only_problem(shipped) == (
        "zendesk.fields.tier",
        "the connector writes tier as text (e.g. T3, L2, Done), which a field of format checkbox cannot "
        "hold — map a text or dropdown field")


# -- durations, regexes, values ----------------------------------------------------------


def test_bad_duration(shipped):
    shipped["tiers"]["T3"]["targets"]["bridge"]["within"] = "30 mins"
    assert only_problem(shipped) == (
        "tiers.T3.targets.bridge.within", '"30 mins" is not a duration — use forms like 30m, 4h or 2d')


def test_zero_duration(shipped):
    shipped["tiers"]["T1"]["update_every"] = "0h"
    path, message = only_problem(shipped)
    assert path == "tiers.T1.update_every"
    assert message.startswith('"0h" must be longer than zero')


def test_regex_that_does_not_compile(shipped):
    shipped["requirements"]["validate"]["transaction_ids"] = {"list_of": "[A-Z"}
    path, message = only_problem(shipped)
    assert path == "requirements.validate.transaction_ids.list_of"
    assert message.startswith('"[A-Z" is not a valid regular expression (unterminated character set')


def test_comment_regex_that_does_not_compile(shipped):
    shipped["rules"][9]["when"] = {"latest_requester_comment_matches": "(lawyer"}
    path, message = only_problem(shipped)
    assert path == "rules.9.when.latest_requester_comment_matches"
    assert "is not a valid regular expression" in message


def test_decimal_bounds_the_wrong_way_round(shipped):
    shipped["requirements"]["validate"]["amount"] = {"decimal": {"min": 100, "max": "0.01"}}
    assert only_problem(shipped) == ("requirements.validate.amount.decimal.max", "0.01 is below min 100 — swap them")


def test_unknown_value_check(shipped):
    shipped["requirements"]["validate"]["amount"] = {"positive": True}
    assert only_problem(shipped) == (
        "requirements.validate.amount.positive",
        "unknown check — use one of decimal, one_of, list_of, regex")


def test_one_of_listing_a_value_twice_ignoring_case(shipped):
    shipped["requirements"]["validate"]["currency"] = {"one_of": ["USD", "EUR", "usd"]}
    assert only_problem(shipped) == (
        "requirements.validate.currency.one_of.2",
        '"usd" is listed twice (values are compared without case) — remove one')


def test_yaml_boolean_in_a_list_of_values_gets_a_quoting_hint(shipped):
    shipped["requirements"]["validate"]["currency"] = {"one_of": ["USD", False]}
    path, message = only_problem(shipped)
    assert path == "requirements.validate.currency.one_of.1"
    assert "put the value in quotes" in message


# -- calendars ---------------------------------------------------------------------------


def test_unknown_time_zone_suggests_the_right_one(shipped):
    shipped["calendars"]["business"]["timezone"] = "America/NewYork"
    assert only_problem(shipped) == (
        "calendars.business.timezone",
        '"America/NewYork" is not an IANA time zone — use a name such as America/New_York or Europe/London '
        "(did you mean America/New_York?)")


def test_unknown_holiday_country(shipped):
    shipped["calendars"]["business"]["holidays"] = {"country": "XY"}
    path, message = only_problem(shipped)
    assert path == "calendars.business.holidays.country"
    assert message.startswith('"XY" is not a country the holidays package knows — use an ISO 3166 code')


def test_norway_read_as_false_by_yaml(shipped):
    shipped["calendars"]["business"]["holidays"] = {"country": False}
    assert only_problem(shipped) == (
        "calendars.business.holidays.country",
        'was read as "false" by YAML — write country: "NO" (in quotes) for Norway')


def test_unknown_subdivision_lists_the_country_s_subdivisions(shipped):
    shipped["calendars"]["business"]["holidays"]["subdivision"] = "NX"
    path, message = only_problem(shipped)
    assert path == "calendars.business.holidays.subdivision"
    assert message.startswith('"NX" is not a subdivision of US — use one of AK, AL,')
    assert "NY" in message and "TX" in message


def test_subdivision_by_name_is_told_its_code(shipped):
    shipped["calendars"]["business"]["holidays"] = {"country": "GB", "subdivision": "Scotland"}
    assert only_problem(shipped) == (
        "calendars.business.holidays.subdivision", 'write its code "SCT" instead of "Scotland"')


def test_subdivision_without_country(shipped):
    shipped["calendars"]["business"]["holidays"] = {"subdivision": "NY"}
    assert only_problem(shipped) == (
        "calendars.business.holidays.subdivision",
        "needs a country — add country: beside it (e.g. US for subdivision NY)")


def test_date_both_added_and_removed(shipped):
    shipped["calendars"]["business"]["holidays"].update(add=["2026-12-24"], remove=["2026-12-24"])
    assert only_problem(shipped) == (
        "calendars.business.holidays.remove", "2026-12-24 is both added and removed — keep it in one list")


def test_impossible_holiday_date(shipped):
    shipped["calendars"]["business"]["holidays"]["add"] = ["2026-02-30"]
    assert only_problem(shipped) == (
        "calendars.business.holidays.add.0",
        '"2026-02-30" is not a date — write it as YYYY-MM-DD, e.g. 2026-12-24')


def test_overlapping_opening_intervals(shipped):
    shipped["calendars"]["business"]["hours"] = {"mon-fri": ["09:00-17:00"], "wed": ["16:00-18:00"]}
    assert only_problem(shipped) == (
        "calendars.business.hours.wed",
        "16:00-18:00 overlaps 09:00-17:00 (from mon-fri) on Wednesday — merge them into one interval, "
        "or let one end where the other starts")


def test_overlap_within_one_key_names_every_day_once(shipped):
    shipped["calendars"]["business"]["hours"] = {"mon-tue": ["09:00-12:00", "11:00-17:00"]}
    assert only_problem(shipped) == (
        "calendars.business.hours.mon-tue",
        "11:00-17:00 overlaps 09:00-12:00 on Monday, Tuesday — merge them into one interval, or let one "
        "end where the other starts")


def test_touching_intervals_do_not_overlap(shipped):
    from connector.manifest import parse_manifest

    shipped["calendars"]["business"]["hours"] = {"mon-fri": ["09:00-12:00", "12:00-17:00"]}
    parse_manifest(shipped)


def test_interval_across_midnight(shipped):
    shipped["calendars"]["business"]["hours"] = {"mon": ["22:00-06:00"]}
    path, message = only_problem(shipped)
    assert path == "calendars.business.hours.mon.0"
    assert message.startswith('"22:00-06:00" ends before it starts — an interval cannot cross midnight')


def test_day_range_running_backwards(shipped):
    shipped["calendars"]["business"]["hours"] = {"fri-mon": ["09:00-17:00"]}
    path, message = only_problem(shipped)
    assert path == "calendars.business.hours.fri-mon"
    assert message.startswith('"fri-mon" runs backwards')


def test_calendar_with_no_opening_hours(shipped):
    shipped["calendars"]["business"]["hours"] = {}
    path, message = only_problem(shipped)
    assert path == "calendars.business.hours"
    assert message.startswith("has no opening hours, so deadlines on it would never fall due")


def test_target_on_an_undeclared_calendar(shipped):
    shipped["tiers"]["T1"]["targets"]["resolve"]["calendar"] = "busines"
    assert only_problem(shipped) == (
        "tiers.T1.targets.resolve.calendar",
        '"busines" is not a calendar — declare it under calendars, or use one of business, 24x7 '
        "(did you mean business?)")


def test_24x7_needs_no_declaration_and_cannot_be_redeclared(shipped):
    shipped["calendars"]["24x7"] = {"timezone": "UTC", "hours": {"mon-sun": ["00:00-24:00"]}}
    assert only_problem(shipped) == (
        "calendars.24x7", "24x7 is built in (always open) — remove it here, or give your calendar another name")


# -- tiers and targets -------------------------------------------------------------------


def test_met_when_that_is_not_a_known_form(shipped):
    shipped["tiers"]["T2"]["targets"]["ack"]["met_when"] = "first_reply"
    assert only_problem(shipped) == (
        "tiers.T2.targets.ack.met_when",
        '"first_reply" is not a way to meet a target — use public_reply, {status: solved} or '
        "{field_set: <logical field>} (did you mean public_reply?)")


def test_met_when_status_must_be_a_zendesk_status(shipped):
    shipped["tiers"]["T1"]["targets"]["resolve"]["met_when"] = {"status": "resolved"}
    assert only_problem(shipped) == (
        "tiers.T1.targets.resolve.met_when.status",
        '"resolved" is not allowed — use one of new, open, pending, hold, solved, closed (did you mean solved?)')


def test_from_must_be_escalated_or_resolved(shipped):
    shipped["tiers"]["T3"]["targets"]["rca"]["from"] = "closed"
    assert only_problem(shipped) == (
        "tiers.T3.targets.rca.from", '"closed" is not allowed — use one of escalated, resolved')


def test_target_named_next_update_is_reserved(shipped):
    shipped["tiers"]["T1"]["targets"]["next_update"] = {"within": "1h", "calendar": "24x7"}
    assert only_problem(shipped) == (
        "tiers.T1.targets.next_update",
        "is reserved for the customer-update clock (set by update_every) — rename this target")


def test_no_tiers_at_all(shipped):
    shipped["tiers"] = {}
    path, message = only_problem(shipped)
    assert path == "tiers"
    assert message.startswith("is empty — define the tiers, lowest first")


# -- rules and their conditions ------------------------------------------------------------


def test_rule_giving_a_tier_that_does_not_exist(shipped):
    shipped["rules"][0]["tier"] = "T5"
    assert only_problem(shipped) == ("rules.0.tier", '"T5" is not a tier — use one of T1, T2, T3, T4')


def test_default_tier_that_does_not_exist(shipped):
    shipped["default_tier"] = "t1"
    assert only_problem(shipped) == (
        "default_tier", '"t1" is not a tier — use one of T1, T2, T3, T4 (did you mean T1? names are case-sensitive)')


def test_rule_names_must_be_unique(shipped):
    shipped["rules"][1]["name"] = shipped["rules"][0]["name"]
    path, message = only_problem(shipped)
    assert path == "rules.1.name"
    assert message.endswith("is also the name of rule 0 — the note quotes the rule that fired, so give each "
                            "its own name")


def test_unknown_condition_form(shipped):
    shipped["rules"][11]["when"] = {"any": [{"tag": "security_incident"}, {"tags": "pci_scope"}]}
    assert only_problem(shipped) == (
        "rules.11.when.any.1.tags",
        "unknown condition — use one of field, tag, organization_tag, latest_requester_comment_matches, "
        "requester_tickets_within, all, any, not (did you mean tag?)")


def test_field_condition_with_two_comparisons(shipped):
    shipped["rules"][8]["when"] = {"field": "amount", "gte": 10, "lte": 20}
    assert only_problem(shipped) == (
        "rules.8.when", "has gte and lte — one comparison per condition; combine several with all: [...]")


def test_field_condition_without_a_comparison(shipped):
    shipped["rules"][8]["when"] = {"field": "amount"}
    path, message = only_problem(shipped)
    assert path == "rules.8.when"
    assert message == "says which field but not how to compare it — add one of equals, in, gte, lte, present"


def test_comparison_with_something_that_is_not_a_number(shipped):
    shipped["rules"][8]["when"]["all"][1] = {"field": "amount", "gte": "10k"}
    assert only_problem(shipped) == ("rules.8.when.all.1.gte", '"10k" is not a number — write e.g. 10000 or 0.01')


def test_value_a_dropdown_can_never_hold(shipped):
    shipped["rules"][2]["when"]["equals"] = "duplicate_paymnet"
    path, message = only_problem(shipped)
    assert path == "rules.2.when.equals"
    assert message.startswith('"duplicate_paymnet" can never match: requirements.validate.signal allows only ')
    assert message.endswith("(did you mean duplicate_payment?)")


def test_value_check_is_case_insensitive_like_the_engine(shipped):
    from connector.manifest import parse_manifest

    shipped["rules"][2]["when"]["equals"] = "Duplicate_Payment"
    parse_manifest(shipped)


def test_tag_with_a_space(shipped):
    shipped["rules"][11]["when"] = {"tag": "security incident"}
    assert only_problem(shipped) == (
        "rules.11.when.tag", '"security incident" is not a tag — Zendesk tags have no spaces (use _ instead)')


def test_repeat_contact_needs_positive_whole_numbers(shipped):
    shipped["rules"][10]["when"] = {"requester_tickets_within": {"days": 7, "at_least": 0, "weeks": 1}}
    found = problems(shipped)
    assert found == {
        "rules.10.when.requester_tickets_within.weeks": "unknown key — use days and at_least",
        "rules.10.when.requester_tickets_within.at_least": "0 must be a whole number greater than zero",
    }


def test_empty_all_list(shipped):
    shipped["rules"][8]["when"] = {"all": []}
    assert only_problem(shipped) == (
        "rules.8.when.all", "must be a non-empty list of conditions, e.g. all: [{tag: a}, {tag: b}]")


def test_two_forms_in_one_condition(shipped):
    shipped["rules"][11]["when"] = {"tag": "a", "organization_tag": "b"}
    path, message = only_problem(shipped)
    assert path == "rules.11.when"
    assert message.startswith("has tag and organization_tag — write one condition per mapping")


# -- salesforce and jira ---------------------------------------------------------------------


def test_jira_priority_for_a_tier_that_does_not_exist(shipped):
    shipped["jira"]["priority_by_tier"]["T0"] = "Lowest"
    assert only_problem(shipped) == ("jira.priority_by_tier.T0", '"T0" is not a tier — use one of T1, T2, T3, T4')


def test_jira_project_key_in_lowercase(shipped):
    shipped["jira"]["project"] = "pay"
    path, message = only_problem(shipped)
    assert path == "jira.project"
    assert "use the project key in capitals as Jira shows it, e.g. PAY" in message


def test_salesforce_field_key_the_connector_does_not_write(shipped):
    shipped["salesforce"]["fields"]["teir"] = "Tier__c"
    path, message = only_problem(shipped)
    assert path == "salesforce.fields.teir"
    assert message.startswith("unknown key — use one of account, tier, level, status")
    assert message.endswith("(did you mean tier?)")


def test_salesforce_escalations_need_the_account_lookup(shipped):
    del shipped["salesforce"]["fields"]["account"]
    path, message = only_problem(shipped)
    assert path == "salesforce.fields"
    assert message.startswith("has no account — add account: <lookup field to Account>")


def test_salesforce_account_match_source(shipped):
    shipped["salesforce"]["account_match"]["zendesk"] = "org.external_id"
    path, message = only_problem(shipped)
    assert path == "salesforce.account_match.zendesk"
    assert message.startswith('"org.external_id" cannot be matched — use one of organization.external_id')


# -- all at once ----------------------------------------------------------------------------


def test_every_problem_is_reported_in_one_run(shipped):
    shipped["zendesk"]["levels"][1]["name"] = "L2"
    shipped["requirements"]["all"].append("customer_name")
    shipped["requirements"]["validate"]["transaction_ids"] = {"list_of": "("}
    shipped["calendars"]["business"]["timezone"] = "Eastern"
    shipped["calendars"]["business"]["holidays"]["country"] = "XX"
    shipped["tiers"]["T3"]["targets"]["bridge"]["within"] = "half an hour"
    shipped["tiers"]["T4"]["targets"]["incident_commander"]["calendar"] = "always"
    shipped["tiers"]["T1"]["sla"] = "4h"
    shipped["rules"][0]["tier"] = "T9"
    shipped["rules"][8]["when"]["all"][1]["field"] = "amnt"
    shipped["zendesk"]["fields"]["rca_due_at"] = {"id": 990040, "format": "checkbox"}
    assert set(problems(shipped)) == {
        "zendesk.levels.1.name",
        "requirements.all.6",
        "requirements.validate.transaction_ids.list_of",
        "calendars.business.timezone",
        "calendars.business.holidays.country",
        "tiers.T3.targets.bridge.within",
        "tiers.T4.targets.incident_commander.calendar",
        "tiers.T1.sla",
        "rules.0.tier",
        "rules.8.when.all.1.field",
        "zendesk.fields.rca_due_at",
    }


def test_a_bad_field_id_does_not_also_make_its_users_unmapped(shipped):
    shipped["zendesk"]["fields"]["amount"] = "tbd"
    assert set(problems(shipped)) == {"zendesk.fields.amount"}


def test_a_broken_branch_does_not_hide_problems_in_the_others(shipped):
    shipped["rules"][8]["when"] = {"any": [{"field": "amount", "gte": "lots"}, {"field": "amnt", "gte": 1}]}
    assert set(problems(shipped)) == {"rules.8.when.any.0.gte", "rules.8.when.any.1.field"}
