"""Property: any valid manifest survives load → dump → load unchanged, also through YAML."""
from __future__ import annotations

from decimal import Decimal

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.manifest import dump_manifest, parse_manifest
from connector.manifest.schema import FIELD_FORMATS, SALESFORCE_FIELD_KEYS

LOWER = "abcdefghijklmnopqrstuvwxyz"
LOGICAL = st.builds(str.__add__, st.sampled_from(LOWER), st.text(LOWER + "0123456789_", max_size=10))
KEY = st.builds(str.__add__, st.sampled_from("TLC" + LOWER.upper() + "0123456789"),
                st.text("ABCxyz0123456789_-", max_size=6))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    str.strip)
TAG = st.text(LOWER + "0123456789_:-", min_size=1, max_size=12)
API_NAME = st.builds(str.__add__, st.sampled_from("AEPTZaez"), st.text("AZaz09_", max_size=14))
SCALAR = st.one_of(TEXT, st.integers(-10**6, 10**6), st.booleans())
NUMBER = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
PATTERNS = st.sampled_from(["^[A-Za-z0-9_-]{6,64}$", "(?i)\\b(lawyer|sue)\\b", ".+", "^\\d+$", "[a-z]"])
WRITTEN = {"tier", "escalation_level", "jira_status", "next_update_due_at"}
HOLIDAY_PLACES = [(None, None), ("US", None), ("US", "NY"), ("GB", "ENG"), ("DE", "BY"), ("CA", "ON")]
TIME_ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "UTC", "Australia/Sydney"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def hours(draw):
    result = {}
    for day in draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True)):
        cuts = sorted(draw(st.lists(st.integers(0, 96), min_size=2, max_size=6, unique=True)))
        pairs = list(zip(cuts[::2], cuts[1::2]))
        result[day] = [f"{_clock(a * 15)}-{_clock(b * 15)}" for a, b in pairs]
    return result


@st.composite
def calendars(draw):
    names = draw(st.lists(LOGICAL, max_size=3, unique=True))
    result = {}
    for name in names:
        country, subdivision = draw(st.sampled_from(HOLIDAY_PLACES))
        days = draw(st.lists(st.dates(), max_size=4, unique=True))
        split = draw(st.integers(0, len(days)))
        holidays = {"add": [d.isoformat() for d in days[:split]]}
        if country:
            holidays["country"] = country
            holidays["remove"] = days[split:]
            if subdivision:
                holidays["subdivision"] = subdivision
        result[name] = {"timezone": draw(st.sampled_from(TIME_ZONES)), "hours": draw(hours()),
                        "holidays": holidays}
    return result


def duration():
    return st.builds(lambda n, unit: f"{n}{unit}", st.integers(1, 500), st.sampled_from("mhd"))


def conditions(fields: list[str]):
    leaf = st.one_of(
        st.builds(lambda f, v: {"field": f, "equals": v}, st.sampled_from(fields), SCALAR),
        st.builds(lambda f, v: {"field": f, "in": v}, st.sampled_from(fields), st.lists(SCALAR, min_size=1, max_size=3)),
        st.builds(lambda f, op, v: {"field": f, op: str(v)}, st.sampled_from(fields), st.sampled_from(["gte", "lte"]),
                  NUMBER),
        st.builds(lambda f, v: {"field": f, "present": v}, st.sampled_from(fields), st.booleans()),
        st.builds(lambda t: {"tag": t}, TAG),
        st.builds(lambda t: {"organization_tag": t}, TAG),
        st.builds(lambda p: {"latest_requester_comment_matches": p}, PATTERNS),
        st.builds(lambda d, n: {"requester_tickets_within": {"days": d, "at_least": n}},
                  st.integers(1, 90), st.integers(1, 20)),
    )
    return st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ), max_leaves=6)


def value_check():
    return st.one_of(
        st.builds(lambda lo, span: {"decimal": {"min": str(lo), "max": str(lo + span)}}, NUMBER,
                  st.decimals(min_value=0, max_value=1000, places=2)),
        st.builds(lambda lo: {"decimal": {"min": str(lo)}}, NUMBER),
        st.just({"decimal": {}}),
        st.builds(lambda vs: {"one_of": vs},
                  st.lists(st.text("ABCabc012_", min_size=1, max_size=8), min_size=1, max_size=5,
                           unique_by=str.lower)),
        st.builds(lambda p: {"list_of": p}, PATTERNS),
        st.builds(lambda p: {"regex": p}, PATTERNS),
    )


@st.composite
def manifests(draw):
    inputs = ["escalation_type", "urgent"] + draw(st.lists(
        LOGICAL.filter(lambda n: n not in WRITTEN and not n.endswith("_due_at") and n not in ("escalation_type", "urgent")),
        min_size=1, max_size=8, unique=True))
    cals = draw(calendars())
    calendar_names = list(cals) + ["24x7"]
    tier_keys = draw(st.lists(KEY, min_size=1, max_size=5, unique=True))
    tiers = {}
    target_names: set[str] = set()
    for key in tier_keys:
        names = draw(st.lists(LOGICAL.filter(lambda n: n != "next_update"), max_size=4, unique=True))
        targets = {}
        for name in names:
            target = {"within": draw(duration()), "calendar": draw(st.sampled_from(calendar_names))}
            met_when = draw(st.one_of(st.none(), st.just("public_reply"),
                                      st.builds(lambda s: {"status": s}, st.sampled_from(
                                          ["new", "open", "pending", "hold", "solved", "closed"])),
                                      st.builds(lambda f: {"field_set": f}, st.sampled_from(inputs))))
            if met_when is not None:
                target["met_when"] = met_when
            if draw(st.booleans()):
                target["from"] = draw(st.sampled_from(["escalated", "resolved"]))
            targets[name] = target
            target_names.add(name)
        tier = {"name": draw(TEXT), "targets": targets, "update_every": draw(duration())}
        if draw(st.booleans()):
            tier["checklist"] = draw(st.lists(TEXT, max_size=3))
        tiers[key] = tier

    formats = {name: draw(st.sampled_from(FIELD_FORMATS)) for name in inputs}
    written = {}
    for name in sorted(target_names) + ["next_update"]:
        if draw(st.booleans()):
            written[f"{name}_due_at"] = draw(st.sampled_from(["text", "date"]))
    for name in ("tier", "escalation_level", "jira_status"):
        if draw(st.booleans()):
            written[name] = draw(st.sampled_from(["text", "dropdown"]))
    all_formats = {**formats, **written}
    base = draw(st.integers(1, 10**13))
    ids = draw(st.permutations([base + i for i in range(len(all_formats))]))
    fields = {}
    for (name, fmt), field_id in zip(all_formats.items(), ids):
        fields[name] = field_id if fmt == "text" and draw(st.booleans()) else {"id": field_id, "format": fmt}

    level_names = draw(st.lists(KEY, min_size=1, max_size=4, unique=True))
    status_base = draw(st.integers(1, 10**13))
    status_ids = draw(st.permutations([status_base + i for i in range(len(level_names))]))
    zendesk = {"fields": fields,
               "levels": [{"name": n, "custom_status_id": i} for n, i in zip(level_names, status_ids)]}
    if draw(st.booleans()):
        zendesk["on_incomplete"] = draw(st.sampled_from(["revert", "flag"]))

    checked = draw(st.lists(st.sampled_from(inputs[1:]), unique=True, max_size=4))
    validate = {name: draw(value_check()) for name in checked}
    free = [name for name in inputs if "one_of" not in validate.get(name, {})]
    requirements = {
        "all": draw(st.lists(st.sampled_from(inputs), max_size=5)),
        "by_type": draw(st.dictionaries(st.text(LOWER, min_size=1, max_size=10),
                                        st.lists(st.sampled_from(inputs), max_size=4), max_size=3)),
        "when_urgent": draw(st.lists(st.sampled_from(inputs), max_size=2)),
        "validate": validate,
    }
    rule_names = draw(st.lists(TEXT, max_size=5, unique=True))
    rules = [{"name": name, "when": draw(conditions(free)), "tier": draw(st.sampled_from(tier_keys))}
             for name in rule_names]
    data = {"version": 1, "zendesk": zendesk, "requirements": requirements, "calendars": cals, "tiers": tiers,
            "rules": rules, "default_tier": draw(st.sampled_from(tier_keys))}
    if draw(st.booleans()):
        sf_fields = {"account": draw(API_NAME)}
        sf_fields.update(draw(st.dictionaries(st.sampled_from(SALESFORCE_FIELD_KEYS), API_NAME, max_size=4)))
        data["salesforce"] = {
            "account_match": {"zendesk": draw(st.sampled_from(["organization.external_id", "organization.id",
                                                                "organization.name"])),
                              "salesforce_field": draw(API_NAME)},
            "escalation_object": draw(API_NAME),
            "external_id_field": draw(API_NAME),
            "fields": sf_fields,
        }
        if draw(st.booleans()):
            data["salesforce"]["event_object"] = draw(API_NAME)
    if draw(st.booleans()):
        data["jira"] = {"project": draw(st.builds(str.__add__, st.sampled_from("PQR"),
                                                  st.text("ABCXYZ0129_", min_size=1, max_size=9))),
                        "priority_by_tier": draw(st.dictionaries(st.sampled_from(tier_keys), TEXT, max_size=3)),
                        "labels": draw(st.lists(TAG, max_size=3))}
        if draw(st.booleans()):
            data["jira"]["issue_type"] = draw(TEXT)
    return data


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_valid_manifests_round_trip_unchanged(data):
    manifest = parse_manifest(data)
    dumped = dump_manifest(manifest)
    again = parse_manifest(dumped)
    assert again == manifest
    assert dump_manifest(again) == dumped


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_dumped_manifests_survive_yaml(data):
    manifest = parse_manifest(data)
    text = yaml.safe_dump(dump_manifest(manifest), sort_keys=False, allow_unicode=True)
    assert parse_manifest(yaml.safe_load(text)) == manifest


def test_round_trip_keeps_decimal_values_exact():
    from tests.manifest.conftest import SHIPPED

    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["rules"][8]["when"]["all"][1]["gte"] = "10000.10"
    manifest = parse_manifest(data)
    assert parse_manifest(dump_manifest(manifest)).rules[8].when.conditions[1].value == Decimal("10000.10")
