"""``DELETE /v1/connections/{id}``: revoked at the provider, ciphertexts deleted regardless (O8)."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from gateway.connections.credentials import tool_credentials
from gateway.connections.errors import ConnectionNeedsReauth
from gateway.kit.runtime import Runtime
from gateway.models import AuditRecord, Connection, Event
from tests.conftest import TenantCtx
from tests.connections.fixtures import MockFactory
from tests.connections.support import connect_via_flow


async def _delete(
    client: httpx.AsyncClient, tenant: TenantCtx, connection_id: str
) -> httpx.Response:
    return await client.delete(f"/v1/connections/{connection_id}", headers=tenant.headers)


async def _row(runtime: Runtime, connection_id: str) -> Connection:
    async with runtime.sessionmaker() as session:
        row = await session.get(Connection, connection_id)
        assert row is not None
        return row


@pytest.mark.parametrize(("style", "provider"), [("slack", "slack"), ("discord", "discord")])
async def test_delete_revokes_at_the_provider_and_wipes_tokens(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    oauth_mock: MockFactory,
    style: str,
    provider: str,
) -> None:
    mock, _ = oauth_mock(style, provider)
    connection_id = await connect_via_flow(client, tenant, provider)
    access = mock.issued[0].value
    assert mock.is_active(access)

    response = await _delete(client, tenant, connection_id)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "revoked"
    assert body["revocation"] == "revoked"
    assert body["revoked_at"] is not None
    assert mock.revocation_calls == 1
    assert not mock.is_active(access), "the whole grant is gone at the provider"
    row = await _row(runtime, connection_id)
    assert (row.access_token_enc, row.refresh_token_enc, row.credentials_enc) == (None, None, None)
    async with runtime.sessionmaker() as session:
        events = await session.execute(
            sa.select(Event.type).where(Event.connection_id == connection_id)
        )
        audits = await session.execute(
            sa.select(AuditRecord.detail).where(
                AuditRecord.connection_id == connection_id,
                AuditRecord.action == "connection.revoke",
            )
        )
    assert "connection.revoked" in set(events.scalars())
    assert list(audits.scalars()) == [{"provider_revocation": "revoked"}]
    async with runtime.sessionmaker() as session:
        with pytest.raises(ConnectionNeedsReauth):
            await tool_credentials(
                session, runtime, tenant_id=tenant.tenant.id, connection_id=connection_id
            )


async def test_provider_outage_still_deletes_the_tokens(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, _ = oauth_mock("discord", "discord")
    connection_id = await connect_via_flow(client, tenant, "discord")
    mock.fail_next(503)
    response = await _delete(client, tenant, connection_id)
    assert response.status_code == 200
    assert response.json()["revocation"] == "retry"
    assert response.json()["status"] == "revoked"
    row = await _row(runtime, connection_id)
    assert row.access_token_enc is None
    assert row.refresh_token_enc is None


async def test_provider_without_revocation_endpoint(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    oauth_mock("lark", "lark")
    connection_id = await connect_via_flow(client, tenant, "lark", scopes=["offline_access"])
    response = await _delete(client, tenant, connection_id)
    assert response.json()["revocation"] == "unsupported"
    assert (await _row(runtime, connection_id)).refresh_token_enc is None


async def test_deleting_twice_and_credential_connections(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    created = await client.post(
        "/v1/connections",
        json={"provider": "github", "credentials": {"api_key": "k-del"}},
        headers=tenant.headers,
    )
    connection_id = created.json()["id"]
    first = await _delete(client, tenant, connection_id)
    second = await _delete(client, tenant, connection_id)
    assert first.json()["revocation"] == "skipped"
    assert first.json()["status"] == "revoked"
    assert second.status_code == 200
    assert second.json()["status"] == "revoked"
    assert (await _row(runtime, connection_id)).access_token_enc is None
