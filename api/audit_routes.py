"""The audit trail's edge: each write route records its acknowledged write (`audit`), and
`GET /audit` (admin) pages through the trail (quality.contests.audit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.openapi import DATABASE, INVALID
from api.routes import opened_once
from quality.contests.audit import AuditLog, AuditPage

router = APIRouter(tags=["audit"])


def get_audit(request: Request) -> AuditLog:
    """The audit log, in the store's database, opened on first use."""
    return opened_once(request, "audit", lambda state: AuditLog.from_url(state.settings.contest_database_url))


def audit(request: Request, target: str, idempotency_key: str | None = None, detail: dict | None = None) -> None:
    """Record the write this request made, before its answer is sent: the key's name (never the
    key), the method, the route template, what was written and the Idempotency-Key."""
    key = getattr(request.state, "api_key", None)
    route = request.scope.get("route")
    get_audit(request).record(key_name=key.name if key is not None else None, method=request.method,
                              route=getattr(route, "path", request.url.path), target=target,
                              idempotency_key=idempotency_key, detail=detail)


AuditDep = Annotated[AuditLog, Depends(get_audit)]


@router.get("/audit", response_model=AuditPage, responses={**INVALID, **DATABASE})
def read_audit(log: AuditDep,
               after: Annotated[int, Query(ge=0, le=2**63 - 1, description="the last id already read")] = 0,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditPage:
    """Acknowledged writes, oldest first: contests created, entries added, judgements recorded,
    member activities stored -- with time, key name, route, target and Idempotency-Key."""
    return log.page(after, limit)
