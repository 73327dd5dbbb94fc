"""Append-only, hash-chained audit log.

Every decision the connector takes and every write it makes to another system is one
record: what (``action``), why (``reason``), the webhook's ``correlation_id``, the
result. Records are numbered without gaps (``seq``) and each carries
``hash = sha256(prev_hash + canonical JSON of the record)``; ``audit_head`` keeps the
last seq and hash. :meth:`AuditLog.verify` recomputes the chain, so an edited record, a
deleted one (a gap or a broken link) or a truncated tail (head mismatch) is detected.
Appends serialise on the ``audit_head`` row (``FOR UPDATE`` on PostgreSQL, the write
lock on SQLite), which keeps the chain linear with many workers.

Tamper-evident, not tamper-proof: someone who can rewrite the whole table can rebuild
the chain. Export it regularly (``connector audit export``) to storage they cannot touch.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterator

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from connector.store import Store
from connector.store.models import audit_head, audit_records, utcnow

GENESIS = "0" * 64


def _record_hash(prev_hash: str, record: dict[str, Any]) -> str:
    body = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _canonical(seq: int, at: datetime, kind: str, action: str, system, ticket_id,
               correlation_id, reason, result, detail) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "kind": kind,
        "action": action,
        "system": system,
        "ticket_id": ticket_id,
        "correlation_id": correlation_id,
        "reason": reason,
        "result": result,
        "detail": detail,
    }


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.clock = clock

    def record(
        self,
        kind: str,
        action: str,
        *,
        reason: str | None = None,
        result: str | None = None,
        system: str | None = None,
        ticket_id: int | None = None,
        correlation_id: str | None = None,
        detail: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Append one record; returns its seq. Text is masked for card numbers."""
        if conn is None:
            with self.store.begin() as own:
                return self.record(kind, action, reason=reason, result=result, system=system,
                                   ticket_id=ticket_id, correlation_id=correlation_id,
                                   detail=detail, conn=own)
        from connector.masking import mask_pans, mask_pans_deep

        head_q = select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == 1)
        if self.store.is_postgres:
            head_q = head_q.with_for_update()
        last_seq, last_hash = conn.execute(head_q).one()
        seq = last_seq + 1
        at = self.clock()
        detail_text = json.dumps(mask_pans_deep(detail), sort_keys=True, default=str) if detail else None
        reason = mask_pans(reason) if reason else reason
        canonical = _canonical(seq, at, kind, action, system, ticket_id, correlation_id,
                               reason, result, detail_text)
        digest = _record_hash(last_hash, canonical)
        conn.execute(audit_records.insert().values(
            seq=seq, at=at, kind=kind, action=action, system=system, ticket_id=ticket_id,
            correlation_id=correlation_id, reason=reason, result=result, detail=detail_text,
            prev_hash=last_hash, hash=digest))
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(last_seq=seq, last_hash=digest))
        return seq

    def verify(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        report = VerifyReport()
        expected_prev, expected_seq = GENESIS, 1
        with self.store.connect() as conn:
            head_seq, head_hash = conn.execute(
                select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == 1)).one()
            rows = conn.execution_options(yield_per=2000).execute(
                select(audit_records).order_by(audit_records.c.seq))
            for row in rows:
                if row.seq != expected_seq:
                    report.problems.append(
                        f"records {expected_seq}–{row.seq - 1} are missing (deleted?)")
                if row.prev_hash != expected_prev:
                    report.problems.append(f"record {row.seq}: does not link to the record before it")
                canonical = _canonical(row.seq, row.at, row.kind, row.action, row.system,
                                       row.ticket_id, row.correlation_id, row.reason, row.result,
                                       row.detail)
                if _record_hash(row.prev_hash, canonical) != row.hash:
                    report.problems.append(f"record {row.seq}: content does not match its hash (edited?)")
                expected_prev, expected_seq = row.hash, row.seq + 1
                report.checked += 1
                if progress and report.checked % 1000 == 0:
                    progress(report.checked)
        if head_seq != expected_seq - 1 or head_hash != expected_prev:
            report.problems.append(
                f"the chain ends at record {expected_seq - 1} but the head says {head_seq} "
                "(records removed from the end?)")
        return report

    def export(self, ticket_id: int | None = None) -> Iterator[dict[str, Any]]:
        query = select(audit_records).order_by(audit_records.c.seq)
        if ticket_id is not None:
            query = query.where(audit_records.c.ticket_id == ticket_id)
        with self.store.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(query):
                record = _canonical(row.seq, row.at, row.kind, row.action, row.system,
                                    row.ticket_id, row.correlation_id, row.reason, row.result,
                                    json.loads(row.detail) if row.detail else None)
                record.update(prev_hash=row.prev_hash, hash=row.hash)
                yield record
