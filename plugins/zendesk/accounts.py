"""The Zendesk side of ``salesforce.account_match``: which customer a ticket belongs to.

An escalation keeps ``account_ref``, the value the Salesforce mirror looks an Account up
by: the ticket's organization id, or a field of its organization (``external_id``…), as
``salesforce.account_match.zendesk`` says. The escalation handlers set it at every
transition; :func:`refresh_account_ref` sets it again from what Zendesk holds now, for
``connector salesforce resync`` after an admin has fixed the organization in Zendesk.
"""
from __future__ import annotations

from typing import Any

from connector.manifest.model import Manifest
from connector.store.escalations import Escalations
from plugins.zendesk.client import ZendeskClient


def account_ref(client: ZendeskClient, manifest: Manifest, organization_id: Any) -> str | None:
    """The customer reference of an organization, or None (no Salesforce section, no
    organization, or the organization's matching field is empty). Reads the organization
    (cached by the client) unless the match is on its id."""
    sf = manifest.salesforce
    if sf is None or organization_id is None:
        return None
    source = sf.account_match.zendesk
    if source == "organization.id":
        return str(organization_id)
    organization = client.organization(int(organization_id))
    value = organization.get(source.split(".", 1)[1])
    return str(value) if value not in (None, "") else None


def refresh_account_ref(client: ZendeskClient, manifest: Manifest, escalations: Escalations,
                        ticket_id: int) -> tuple[str | None, str | None]:
    """Read the ticket's organization from Zendesk now and keep its customer reference on
    the escalation (the organization id and ``account_ref`` only, so a worker's newer
    record is not overwritten). Returns the reference before and after."""
    record = escalations.get(ticket_id)
    before = record.account_ref if record is not None else None
    if record is None:
        return None, None
    organization_id = client.get_ticket(ticket_id).get("organization_id")
    after = account_ref(client, manifest, organization_id)
    if after != before or organization_id != record.organization_id:
        escalations.set_customer(ticket_id, organization_id=organization_id, account_ref=after)
    return before, after
