"""``/v1/webhook-endpoints``: the tenant's receiving endpoints (secrets write-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.deps import KeyringDep, RuntimeDep, SessionDep, SettingsDep, TenantDep
from gateway.kit.crypto import Keyring
from gateway.kit.lookups import or_404
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import problem_responses
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import WebhookEndpoint
from gateway.models.base import utcnow
from gateway.webhooks import repository, service
from gateway.webhooks.ingest import ingest_state
from gateway.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
)

router = APIRouter(
    prefix="/v1/webhook-endpoints",
    tags=["webhook endpoints"],
    responses=problem_responses(401, 422),
)

_get_endpoint = or_404(
    repository.get_tenant_endpoint, "webhook endpoint not found", code="webhook_endpoint_not_found"
)


async def tenant_endpoint(
    endpoint_id: Annotated[str, Path(max_length=64)], tenant: TenantDep, session: SessionDep
) -> WebhookEndpoint:
    """The endpoint of this tenant, else 404 (also for another tenant's id)."""
    return await _get_endpoint(session, tenant.id, endpoint_id)


TenantEndpointDep = Annotated[WebhookEndpoint, Depends(tenant_endpoint)]
PageDep = Annotated[PageParams, Depends(page_params)]


def _out(row: WebhookEndpoint, settings: Settings, keyring: Keyring) -> WebhookEndpointOut:
    _, verifier = service.webhook_provider(row.provider)
    until = row.previous_valid_until
    return WebhookEndpointOut(
        id=row.id,
        provider=row.provider,
        url=service.endpoint_url(settings, row),
        enabled=row.enabled,
        description=row.description,
        connection_id=row.connection_id,
        config=dict(row.config_public),
        secrets_set=service.secrets_set(verifier, row, keyring),
        previous_config_valid_until=until if until is not None and until > utcnow() else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _invalidate_after_commit(session: AsyncSession, runtime: Runtime, endpoint_id: str) -> None:
    """Drop this process's cached config once the change is committed (not before: a
    concurrent delivery could otherwise re-cache the old config)."""
    state = ingest_state(runtime)
    if state is None:
        return

    def _invalidate(_session: Any) -> None:
        state.endpoints.invalidate(endpoint_id)

    sa_event.listen(session.sync_session, "after_commit", _invalidate, once=True)


@router.post(
    "",
    operation_id="create_webhook_endpoint",
    response_model=WebhookEndpointOut,
    status_code=201,
    responses=problem_responses(404),
)
async def create_endpoint(
    body: WebhookEndpointCreate,
    tenant: TenantDep,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> WebhookEndpointOut:
    """Create a receiving endpoint for a provider; give the returned `url` to the platform.

    The config is validated per provider (422 names the bad key) and stored encrypted; secret
    keys are never returned. `connection_id` must be one of your connections (else 404).
    """
    row = await service.create_endpoint(session, keyring, tenant.id, body)
    return _out(row, settings, keyring)


@router.get("", operation_id="list_webhook_endpoints", response_model=Page[WebhookEndpointOut])
async def list_endpoints(
    tenant: TenantDep,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    page: PageDep,
) -> dict[str, Any]:
    """Your webhook endpoints, newest first (cursor pagination)."""
    rows = await repository.list_tenant_endpoints(session, tenant.id, page)
    return make_page(rows, page, lambda row: _out(row, settings, keyring))


@router.get(
    "/{endpoint_id}",
    operation_id="get_webhook_endpoint",
    response_model=WebhookEndpointOut,
    responses=problem_responses(404),
)
async def get_endpoint(
    endpoint: TenantEndpointDep, settings: SettingsDep, keyring: KeyringDep
) -> WebhookEndpointOut:
    """One webhook endpoint (non-secret config, names of the secrets that are set)."""
    return _out(endpoint, settings, keyring)


@router.patch(
    "/{endpoint_id}",
    operation_id="update_webhook_endpoint",
    response_model=WebhookEndpointOut,
    responses=problem_responses(404),
)
async def update_endpoint(
    body: WebhookEndpointUpdate,
    endpoint: TenantEndpointDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> WebhookEndpointOut:
    """Update an endpoint. `config` keys are merged (`null` removes one).

    Changing the config (e.g. rotating a secret) keeps the previous config verifying until
    `previous_config_valid_until` (default 24 h), so deliveries signed with the old secret are
    not lost while the platform switches over.
    """
    row = await service.update_endpoint(session, runtime.keyring, runtime.settings, endpoint, body)
    _invalidate_after_commit(session, runtime, row.id)
    return _out(row, runtime.settings, runtime.keyring)


@router.delete(
    "/{endpoint_id}",
    operation_id="delete_webhook_endpoint",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def delete_endpoint(
    endpoint: TenantEndpointDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Delete an endpoint: its URL answers 404 from then on; stored events remain."""
    endpoint_id = endpoint.id
    await service.delete_endpoint(session, endpoint)
    _invalidate_after_commit(session, runtime, endpoint_id)
    return Response(status_code=204)
