from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from gateway.audit import service
from gateway.audit.schemas import AuditRecordOut
from gateway.deps import SessionDep, TenantDep
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import problem_responses
from gateway.models import AuditRecord

router = APIRouter(prefix="/v1", tags=["audit"], responses=problem_responses(400, 401, 422))


def _out(row: AuditRecord) -> AuditRecordOut:
    return AuditRecordOut.model_validate(row, from_attributes=True)


@router.get("/audit", operation_id="list_audit_records", response_model=Page[AuditRecordOut])
async def list_audit_records(
    tenant: TenantDep,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    connection_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The tenant's audit trail, newest first: connects, refreshes, re-auth requests,
    revocations and OAuth client changes, each with its outcome and error code."""
    rows = await service.list_records(
        session, tenant.id, params, connection_id=connection_id, action=action
    )
    return make_page(rows, params, _out)
