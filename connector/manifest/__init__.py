"""The admin manifest: one YAML file that configures the whole connector.

``load_manifest(path)`` reads and checks a file; ``parse_manifest(data)`` checks data
already loaded. Both raise :class:`ManifestError` listing every problem (path and what
to change), and return an immutable :class:`Manifest`. ``dump_manifest`` goes back to
plain data. The reference for admins is ``docs/manifest.md``.

The checking and building code (YAML, the marshmallow schemas, the holidays package)
is imported when one of those functions is first used, not with the package: a web
process reads the model without carrying the checker (``isolated.py``).
"""
import importlib

from connector.manifest.model import (
    ALWAYS_OPEN, AccountMatch, AllOf, AnyOf, CalendarSpec, CommentMatches, Condition, DecimalValue,
    FieldCondition, FieldRef, FieldSet, FrozenMap, HolidaySpec, JiraConfig, Level, ListOf, Manifest, MetWhen,
    Not, OneOf, OrganizationTagCondition, PublicReply, Regex, Requirements, RequesterTicketsWithin, Rule,
    SalesforceConfig, StatusReached, TagCondition, Target, Tier, Validator, ZendeskConfig, placeholder_ids,
)
from connector.manifest.problems import ManifestError, ManifestUnreadable, Problem

__all__ = [
    "ALWAYS_OPEN", "DEFAULT_PATH", "AccountMatch", "AllOf", "AnyOf", "CalendarSpec", "CommentMatches",
    "Condition", "DecimalValue", "FieldCondition", "FieldRef", "FieldSet", "FrozenMap", "HolidaySpec",
    "JiraConfig", "Level", "ListOf", "Manifest", "ManifestError", "ManifestUnreadable", "MetWhen", "Not",
    "OneOf", "OrganizationTagCondition", "Problem", "PublicReply", "Regex", "Requirements",
    "RequesterTicketsWithin", "Rule", "SalesforceConfig", "StatusReached", "TagCondition", "Target", "Tier",
    "Validator", "ZendeskConfig", "default_path", "dump_manifest", "load_manifest", "parse_manifest",
    "placeholder_ids",
]

_LOADED_ON_FIRST_USE = {
    "dump_manifest": "build",
    "DEFAULT_PATH": "load", "default_path": "load", "load_manifest": "load", "parse_manifest": "load",
}


def __getattr__(name: str):
    module = _LOADED_ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
