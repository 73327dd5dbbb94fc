"""The shipped SFDX metadata (manifest/salesforce) parsed and checked against the
manifest's salesforce mapping: every API name the connector writes is deployed, with a
type that takes the value, and the external IDs are unique."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from plugins.salesforce.mapping import ACCOUNT, ROLLUP_FIELDS, field_specs, target_due_field, target_outcome_field
from plugins.salesforce.metadata import NS, SOURCE, read_fields, render
from tests.plugins.salesforce.support import METADATA, shipped_mapping


def test_every_field_the_manifest_maps_is_in_the_metadata_with_its_type():
    mapping = shipped_mapping()
    deployed = read_fields(METADATA)
    for key, api_name in mapping.fields.items():
        assert api_name in deployed[mapping.escalation_object], (key, api_name)
    assert deployed[mapping.escalation_object][mapping.fields["account"]]["type"] == "Lookup"
    assert deployed[mapping.escalation_object][mapping.fields["account"]]["referenceTo"] == "Account"
    for spec in field_specs(mapping):
        info = deployed[spec.object][spec.api_name]
        assert info["type"] == spec.type, spec
        if spec.type == "Picklist":
            assert info["values"] == list(spec.values), spec
    assert set(ROLLUP_FIELDS.values()) <= set(deployed[ACCOUNT])


def test_external_ids_are_unique_and_the_timeline_is_a_child_of_the_escalation():
    mapping = shipped_mapping()
    deployed = read_fields(METADATA)
    key = deployed[mapping.escalation_object][mapping.external_id_field]
    assert (key["externalId"], key["unique"], key["required"]) == (True, True, True)
    event_key = deployed[mapping.event_object]["Event_Key__c"]
    assert (event_key["externalId"], event_key["unique"], event_key["length"]) == (True, True, 255)
    parent = deployed[mapping.event_object]["Escalation__c"]
    assert (parent["type"], parent["referenceTo"]) == ("MasterDetail", mapping.escalation_object)
    assert set(mapping.targets) == {"first_response", "resolve", "ack", "triage", "bridge", "rca", "pir",
                                    "incident_commander"}
    for target in mapping.targets:
        assert deployed[mapping.escalation_object][target_due_field(target)]["type"] == "DateTime"
        assert deployed[mapping.escalation_object][target_outcome_field(target)]["restricted"] is True
    assert "Incident_Commander_Due__c" in deployed[mapping.escalation_object]


def test_the_shipped_project_is_what_the_generator_makes_from_the_manifest():
    files = render(shipped_mapping())
    for relative, text in files.items():
        assert (METADATA / relative).read_text(encoding="utf-8") == text, relative
    shipped = {str(p.relative_to(METADATA)) for p in METADATA.rglob("*") if p.is_file()}
    assert shipped == set(files)
    assert json.loads((METADATA / "sfdx-project.json").read_text())["packageDirectories"][0]["path"] == "force-app"


def test_permission_sets_and_layouts_reference_only_deployed_fields():
    mapping = shipped_mapping()
    deployed = read_fields(METADATA)
    connector = ET.parse(METADATA / SOURCE / "permissionsets" / "Escalation_Connector.permissionset-meta.xml")
    granted = {f.text for f in connector.getroot().iter(f"{{{NS}}}field")}
    writable = {f"{s.object}.{s.api_name}" for s in field_specs(mapping) if not s.required and s.type != "MasterDetail"}
    assert granted == writable
    edits = {p.find(f"{{{NS}}}field").text: p.find(f"{{{NS}}}editable").text
             for p in connector.getroot().iter(f"{{{NS}}}fieldPermissions")}
    assert set(edits.values()) == {"true"}
    layout = ET.parse(METADATA / SOURCE / "layouts" / "Escalation__c-Escalation Layout.layout-meta.xml").getroot()
    on_layout = {f.text for f in layout.iter(f"{{{NS}}}field")}
    assert on_layout - {"Name"} <= set(deployed[mapping.escalation_object])
    assert [r.text for r in layout.iter(f"{{{NS}}}relatedList")] == ["Escalation_Event__c.Escalation__c"]
    account = ET.parse(METADATA / SOURCE / "layouts" / "Account-Account %28Escalations%29 Layout.layout-meta.xml")
    assert set(ROLLUP_FIELDS.values()) <= {f.text for f in account.getroot().iter(f"{{{NS}}}field")}
    assert [r.text for r in account.getroot().iter(f"{{{NS}}}relatedList")] == ["Escalation__c.Account__c"]
