"""The admin manifest: one YAML file that configures the whole connector.

``load_manifest(path)`` reads and checks a file; ``parse_manifest(data)`` checks data
already loaded. Both raise :class:`ManifestError` listing every problem (path and what
to change), and return an immutable :class:`Manifest`. ``dump_manifest`` goes back to
plain data. The reference for admins is ``docs/manifest.md``.
"""
from connector.manifest.build import dump_manifest
from connector.manifest.load import DEFAULT_PATH, default_path, load_manifest, parse_manifest
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
