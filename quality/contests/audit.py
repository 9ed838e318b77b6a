"""The audit trail: every acknowledged write (contest created, entry added, judgement recorded,
member activities stored) with its time, the API key's name, the route, the target and the
request's Idempotency-Key, in the store's database. Append-only: this module only inserts and
reads. A row is committed before the write's answer is sent, so every acknowledged write has its
row (a write interrupted before its row was committed was not acknowledged)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from quality.contests.db import Store
from quality.contests.tables import AuditRow, utc_now
from quality.errors import InvalidInput

MAX_PAGE = 1000


class AuditEntry(BaseModel):
    id: int
    at: datetime
    key_name: str | None = Field(description="the API key's name (never the key); null when keys are not set")
    method: str
    route: str
    target: str
    idempotency_key: str | None = None
    detail: dict | None = None


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_after: int | None = Field(description="pass as `after` for the next page; null at the end")


class AuditLog(Store):
    def record(self, *, key_name: str | None, method: str, route: str, target: str,
               idempotency_key: str | None = None, detail: dict | None = None) -> int:
        row = AuditRow(at=utc_now(), key_name=key_name, method=method, route=route, target=target,
                       idempotency_key=idempotency_key, detail=detail)
        with self._write.begin() as session:
            session.add(row)
            session.flush()
            return row.id

    def page(self, after: int = 0, limit: int = 100) -> AuditPage:
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be within 1-{MAX_PAGE}", field="limit")
        with self._read.begin() as session:
            rows = session.scalars(select(AuditRow).where(AuditRow.id > after).order_by(AuditRow.id)
                                   .limit(limit + 1)).all()
            entries = [AuditEntry.model_validate(row, from_attributes=True) for row in rows[:limit]]
        return AuditPage(entries=entries, next_after=entries[-1].id if len(rows) > limit else None)
