from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from gateway.catalogue import service, views
from gateway.catalogue.schemas import (
    CustomProviderCreate,
    OAuthClientOut,
    OAuthClientPut,
    ProviderDetail,
    ProviderSummary,
)
from gateway.catalogue.service import ResolvedProvider
from gateway.deps import KeyringDep, RuntimeDep, SessionDep, SettingsDep, TenantDep
from gateway.kit.pagination import Page
from gateway.kit.problems import problem_responses
from gateway.models import OAuthClient

router = APIRouter(prefix="/v1", tags=["providers"], responses=problem_responses(401, 422))


async def tenant_provider(
    provider_id: Annotated[str, Path(max_length=64)], tenant: TenantDep, session: SessionDep
) -> ResolvedProvider:
    """A built-in provider or one of this tenant's custom providers, else 404."""
    return await service.resolve_provider(session, tenant.id, provider_id)


ProviderDep = Annotated[ResolvedProvider, Depends(tenant_provider)]


def _client_out(row: OAuthClient, source: str) -> OAuthClientOut:
    return OAuthClientOut(
        provider=row.provider,
        client_id=row.client_id,
        scopes=list(row.scopes),
        source="tenant" if source == "tenant" else "system",
        updated_at=row.updated_at,
    )


@router.get("/providers", operation_id="list_providers", response_model=Page[ProviderSummary])
async def list_providers(tenant: TenantDep, session: SessionDep) -> dict[str, Any]:
    """Every provider this tenant can use: the built-in platforms and its custom OAuth
    providers, with their auth kinds, webhook support and built-in tools."""
    providers = await service.list_providers(session, tenant.id)
    return {"data": [views.summary(p) for p in providers], "next_cursor": None}


@router.post(
    "/providers",
    operation_id="create_custom_provider",
    response_model=ProviderDetail,
    status_code=201,
    responses=problem_responses(409),
)
async def create_custom_provider(
    body: CustomProviderCreate,
    tenant: TenantDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ProviderDetail:
    """Register a custom OAuth 2.0 provider for this tenant (authorization-code flow with PKCE
    by default). Its URLs must be reachable under the outbound (SSRF) policy; then set its client
    with `PUT /v1/providers/{id}/oauth-client` and connect with the usual authorize flow."""
    provider = await service.register_custom_provider(session, runtime.egress, tenant.id, body)
    return views.detail(provider, runtime.settings)


@router.get(
    "/providers/{provider_id}",
    operation_id="get_provider",
    response_model=ProviderDetail,
    responses=problem_responses(404),
)
async def get_provider(provider: ProviderDep, settings: SettingsDep) -> ProviderDetail:
    """One provider: how to connect it (OAuth details and the callback URL to register, or the
    credential fields), its webhook endpoint config schema (secrets are `writeOnly`) and tools."""
    return views.detail(provider, settings)


@router.put(
    "/providers/{provider_id}/oauth-client",
    operation_id="set_oauth_client",
    response_model=OAuthClientOut,
    responses=problem_responses(404),
)
async def set_oauth_client(
    body: OAuthClientPut,
    provider: ProviderDep,
    tenant: TenantDep,
    session: SessionDep,
    keyring: KeyringDep,
) -> OAuthClientOut:
    """Store this tenant's own OAuth client for the provider (used before the system client).
    The secret is encrypted and never returned."""
    row = await service.set_tenant_client(
        session,
        keyring,
        tenant.id,
        provider,
        client_id=body.client_id,
        client_secret=body.client_secret,
        scopes=list(body.scopes),
    )
    return _client_out(row, "tenant")


@router.get(
    "/providers/{provider_id}/oauth-client",
    operation_id="get_oauth_client",
    response_model=OAuthClientOut,
    responses=problem_responses(404),
)
async def get_oauth_client(
    provider: ProviderDep, tenant: TenantDep, session: SessionDep
) -> OAuthClientOut:
    """The OAuth client a connect flow would use: the tenant's own, else the system client
    (`source` says which). The secret is never returned."""
    row, source = await service.get_effective_client(session, tenant.id, provider)
    return _client_out(row, source)


@router.delete(
    "/providers/{provider_id}/oauth-client",
    operation_id="delete_oauth_client",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def delete_oauth_client(
    provider: ProviderDep, tenant: TenantDep, session: SessionDep
) -> Response:
    """Delete this tenant's own OAuth client; flows fall back to the system client if any."""
    await service.delete_tenant_client(session, tenant.id, provider)
    return Response(status_code=204)
