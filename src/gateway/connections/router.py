from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from gateway.connections import service
from gateway.connections.schemas import (
    ConnectionDeleted,
    ConnectionOut,
    ConnectionStatus,
    CredentialConnectionCreate,
)
from gateway.deps import RuntimeDep, SessionDep, TenantDep
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from gateway.models import Connection

router = APIRouter(prefix="/v1", tags=["connections"], responses=problem_responses(401, 422))


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": description}


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _problem("The connection needs re-authorisation, or cannot renew its token")
}
_UPSTREAM: dict[int | str, dict[str, Any]] = {
    502: _problem("The provider refused the request or answered with something unusable")
}


async def tenant_connection(
    connection_id: Annotated[str, Path(max_length=40)], tenant: TenantDep, session: SessionDep
) -> Connection:
    """The tenant's connection, or 404 (also for another tenant's id)."""
    return await service.get_connection(session, tenant.id, connection_id)


ConnectionDep = Annotated[Connection, Depends(tenant_connection)]


def connection_out(row: Connection) -> ConnectionOut:
    refreshable = row.auth_kind == "credentials" or (
        row.auth_kind == "oauth2" and row.refresh_token_enc is not None
    )
    return ConnectionOut.model_validate(
        {**row.model_dump(), "refreshable": refreshable}, from_attributes=False
    )


@router.get("/connections", operation_id="list_connections", response_model=Page[ConnectionOut])
async def list_connections(
    tenant: TenantDep,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[ConnectionStatus | None, Query()] = None,
    provider: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """The tenant's connections, newest first: status, scopes, expiry and account metadata."""
    rows = await service.list_connections(
        session, tenant.id, params, status=status, provider=provider
    )
    return make_page(rows, params, connection_out)


@router.post(
    "/connections",
    operation_id="create_connection",
    response_model=ConnectionOut,
    status_code=201,
    responses={**problem_responses(404, 503), **_UPSTREAM},
)
async def create_connection(
    body: CredentialConnectionCreate, tenant: TenantDep, session: SessionDep, runtime: RuntimeDep
) -> ConnectionOut:
    """Connect with credentials instead of OAuth: a Telegram or Discord bot token, DingTalk app
    key/secret (+ robot code), WeCom corp id/secret/agent id, Lark app id/secret — each checked
    with the platform first (422 `invalid_credentials` with the platform's reason) — or a plain
    `{"api_key": …}` for any provider, stored as given."""
    row = await service.create_credential_connection(session, runtime, tenant.id, body)
    return connection_out(row)


@router.get(
    "/connections/{connection_id}",
    operation_id="get_connection",
    response_model=ConnectionOut,
    responses=problem_responses(404),
)
async def get_connection(connection: ConnectionDep) -> ConnectionOut:
    """One connection's status and metadata (never its tokens)."""
    return connection_out(connection)


@router.post(
    "/connections/{connection_id}/refresh",
    operation_id="refresh_connection",
    response_model=ConnectionOut,
    responses={**problem_responses(404, 503), **_CONFLICT, **_UPSTREAM},
)
async def refresh_connection(
    connection: ConnectionDep, session: SessionDep, runtime: RuntimeDep
) -> ConnectionOut:
    """Renew the connection's token now. A refused grant moves the connection to
    `needs_reauth` (409 `connection_needs_reauth`); an unavailable token endpoint keeps the
    current token (503)."""
    return connection_out(await service.force_refresh(session, runtime, connection))


@router.delete(
    "/connections/{connection_id}",
    operation_id="delete_connection",
    response_model=ConnectionDeleted,
    responses=problem_responses(404),
)
async def delete_connection(
    connection: ConnectionDep, session: SessionDep, runtime: RuntimeDep
) -> ConnectionDeleted:
    """Disconnect: revoke the grant at the provider where it supports revocation (RFC 7009,
    Discord, Slack `auth.revoke`), delete the stored tokens whatever the provider answered, and
    mark the connection `revoked`. `revocation` reports the provider's answer."""
    row, result = await service.revoke_connection(
        session, runtime, connection.tenant_id, connection.id
    )
    return ConnectionDeleted(**connection_out(row).model_dump(), revocation=result)
