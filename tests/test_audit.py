"""The audit log is append-only and hash-chained: edits and deletions are detected."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import delete, update

from connector.audit import AuditLog
from connector.cli import main
from connector.store.models import audit_records


def _fill(audit: AuditLog) -> None:
    audit.record("decision", "escalation.tiered", reason="rule 'Duplicate payment confirmed' fired",
                 result="T3", ticket_id=42, correlation_id="c1")
    audit.record("write", "zendesk.ticket.update", reason="write tier and due times", result="written",
                 system="zendesk", ticket_id=42, correlation_id="c1", detail={"fields": {"tier": "T3"}})
    audit.record("decision", "escalation.blocked", reason="missing amount", result="reverted",
                 ticket_id=43, correlation_id="c2")
    audit.record("write", "salesforce.upsert", reason="mirror", result="written", system="salesforce",
                 ticket_id=42, correlation_id="c1")


def test_intact_chain_verifies(store):
    audit = AuditLog(store)
    _fill(audit)
    report = audit.verify()
    assert report.ok and report.checked == 4


def test_edited_record_is_detected(store):
    audit = AuditLog(store)
    _fill(audit)
    with store.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.seq == 2).values(result="not written"))
    report = audit.verify()
    assert report.problems == ["record 2: content does not match its hash (edited?)"]


def test_deleted_record_in_the_middle_is_detected(store):
    audit = AuditLog(store)
    _fill(audit)
    with store.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.seq == 2))
    problems = audit.verify().problems
    assert "records 2–2 are missing (deleted?)" in problems
    assert "record 3: does not link to the record before it" in problems


def test_truncated_tail_is_detected(store):
    audit = AuditLog(store)
    _fill(audit)
    with store.begin() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.seq == 4))
    assert any("head says 4" in p for p in audit.verify().problems)


def test_card_numbers_are_masked_in_audit_records(store):
    audit = AuditLog(store)
    audit.record("write", "jira.create", reason="summary mentions 5500 0000 0000 0004", result="written",
                 detail={"description": "card 5500000000000004"})
    [record] = list(audit.export())
    assert "5500 0000 0000 0004" not in record["reason"]
    assert "5500000000000004" not in json.dumps(record)
    assert audit.verify().ok


def test_cli_verify_and_export_by_ticket(store, database_url):
    audit = AuditLog(store)
    _fill(audit)
    env = {"DATABASE_URL": database_url}
    ok = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert ok.exit_code == 0 and "audit chain intact: 4 records" in ok.output
    exported = CliRunner().invoke(main, ["audit", "export", "--ticket", "42"], env=env)
    assert exported.exit_code == 0
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["seq"] for r in lines] == [1, 2, 4]
    assert all(r["ticket_id"] == 42 and len(r["hash"]) == 64 for r in lines)
    with store.begin() as conn:
        conn.execute(update(audit_records).where(audit_records.c.seq == 1).values(reason="nothing fired"))
    broken = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1 and "record 1" in broken.output
