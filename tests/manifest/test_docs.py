"""docs/manifest.md stays the reference: every key the schemas accept is documented, and
its examples are valid manifest pieces."""
from __future__ import annotations

import re

import yaml

from connector.manifest import parse_manifest
from connector.manifest.conditions import FIELD_OPS, FORMS, VALIDATOR_KINDS, ZENDESK_STATUSES
from connector.manifest.schema import FIELD_FORMATS, SALESFORCE_FIELD_KEYS, ManifestSchema, StrictSchema
from connector.manifest.leaves import Section
from tests.manifest.conftest import REPO

DOC = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")


def _schema_keys(schema_cls: type[StrictSchema]) -> set[str]:
    keys = set()
    for name, field in schema_cls._declared_fields.items():
        keys.add(field.data_key or name)
        inner = field.schema_cls if isinstance(field, Section) else getattr(field, "inner", None)
        if isinstance(inner, type) and issubclass(inner, StrictSchema):
            keys |= _schema_keys(inner)
    return keys


def test_every_schema_key_is_documented():
    keys = _schema_keys(ManifestSchema)
    assert {"version", "within", "met_when", "from", "custom_status_id", "subdivision", "salesforce_field"} <= keys
    missing = [key for key in sorted(keys) if f"`{key}`" not in DOC and f"{key}:" not in DOC]
    assert not missing


def test_every_vocabulary_word_is_documented():
    words = (*FIELD_FORMATS, *SALESFORCE_FIELD_KEYS, *FIELD_OPS, *FORMS, *VALIDATOR_KINDS, *ZENDESK_STATUSES,
             "public_reply", "field_set", "revert", "flag", "escalated", "resolved", "24x7")
    assert [w for w in words if w not in DOC] == []


def test_examples_are_valid_in_the_shipped_manifest(shipped):
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]
    assert len(blocks) >= 9
    for block in blocks:
        data = dict(shipped)
        for key, value in block.items():
            if key == "zendesk":
                data["zendesk"] = {**shipped["zendesk"], "levels": value["levels"],
                                   "fields": {**shipped["zendesk"]["fields"], **value["fields"]}}
            elif key == "tiers":
                data["tiers"] = {**shipped["tiers"], **value}
            else:
                data[key] = value
        parse_manifest(data)
