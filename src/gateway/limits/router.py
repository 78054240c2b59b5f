"""``GET /v1/limits``: the calling tenant's limits and current usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gateway.deps import RuntimeDep, SessionDep, TenantDep
from gateway.kit.problems import problem_responses
from gateway.limits import service
from gateway.limits.middleware import attached
from gateway.limits.schemas import LimitsView

router = APIRouter(prefix="/v1", tags=["limits"])


def calling_key_prefix(request: Request, tenant: TenantDep) -> str | None:
    """The public prefix of the API key this request authenticated with."""
    call = attached(request.scope)
    return call.api_key_prefix if call is not None else None


CallingKeyDep = Annotated[str | None, Depends(calling_key_prefix)]


@router.get(
    "/limits",
    operation_id="get_limits",
    response_model=LimitsView,
    responses=problem_responses(401, 429, 503),
)
async def get_limits(
    tenant: TenantDep, key_prefix: CallingKeyDep, runtime: RuntimeDep, session: SessionDep
) -> LimitsView:
    """The calling tenant's rate limits and daily quotas, with current usage.

    `api` is shared by all of the tenant's API keys, `api_key` applies to each key (the numbers
    shown are the calling key's), `webhook_endpoint` to each receiving endpoint. A `null` limit
    means unlimited; `source` tells whether the number is the deployment default or an override
    set for this tenant. Quotas count per UTC day. This request itself is already counted.
    """
    return await service.usage(runtime, session, tenant.id, api_key_prefix=key_prefix)
