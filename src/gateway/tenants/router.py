from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from gateway.deps import RuntimeDep, SessionDep, TenantDep, api_key_cache
from gateway.kit.errors import NotFound
from gateway.kit.problems import problem_responses
from gateway.models import ApiKey
from gateway.tenants import repository, service
from gateway.tenants.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, TenantOut

router = APIRouter(prefix="/v1", tags=["tenant"], responses=problem_responses(401, 422))


async def tenant_api_key(
    key_id: Annotated[str, Path(max_length=64)], tenant: TenantDep, session: SessionDep
) -> ApiKey:
    row = await repository.get_tenant_api_key(session, tenant.id, key_id)
    if row is None:
        raise NotFound("API key not found", code="api_key_not_found")
    return row


TenantApiKeyDep = Annotated[ApiKey, Depends(tenant_api_key)]


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(row, from_attributes=True)


@router.get("/me", operation_id="get_current_tenant", response_model=TenantOut)
async def get_me(tenant: TenantDep) -> TenantOut:
    """The tenant the API key belongs to."""
    return TenantOut.model_validate(tenant, from_attributes=True)


@router.get("/api-keys", operation_id="list_api_keys", response_model=list[ApiKeyOut])
async def list_keys(tenant: TenantDep, session: SessionDep) -> list[ApiKeyOut]:
    """The tenant's API keys (never the keys themselves)."""
    return [_out(k) for k in await repository.list_api_keys(session, tenant.id)]


@router.post(
    "/api-keys", operation_id="create_api_key", response_model=ApiKeyCreated, status_code=201
)
async def create_key(body: ApiKeyCreate, tenant: TenantDep, session: SessionDep) -> ApiKeyCreated:
    """Issue a new API key; the key is in this response only."""
    issued = await service.create_api_key(session, tenant, label=body.label)
    return ApiKeyCreated(**_out(issued.api_key).model_dump(), api_key=issued.plaintext)


@router.delete(
    "/api-keys/{key_id}",
    operation_id="revoke_api_key",
    response_model=ApiKeyOut,
    responses=problem_responses(404),
)
async def revoke_key(key: TenantApiKeyDep, session: SessionDep, runtime: RuntimeDep) -> ApiKeyOut:
    """Revoke an API key; it stops working immediately (other replicas: within seconds)."""
    revoked = _out(await service.revoke_api_key(session, key.id))
    api_key_cache(runtime).invalidate_all()
    return revoked
