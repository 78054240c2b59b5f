"""Refresh: renewed before use, single-flight, rotation kept, refusals, outages (O5 to O7, S4)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.audit import service as audit
from gateway.connections import refresh as refresh_module
from gateway.connections.credentials import (
    mark_needs_reauth,
    refresh_after_rejection,
    tool_credentials,
)
from gateway.connections.errors import ConnectionNeedsReauth
from gateway.connections.sealing import open_secrets
from gateway.connections.tasks import refresh_expiring
from gateway.kit.crypto import FieldContext
from gateway.kit.runtime import Runtime
from gateway.models import AuditRecord, Connection, Event
from gateway.models.base import utcnow
from gateway.providers.oauth import InvalidGrant, TokenEndpointUnavailable
from gateway.providers.tools import ToolCredentials
from tests.conftest import TenantCtx
from tests.connections.fixtures import MockFactory
from tests.connections.support import SlowTokenEndpoint, connect_via_flow, expire_connection
from tests.mocks.oauth_server import MockAuthServer

TOKEN_PATH = "/api/oauth2/token"  # the Discord-style mock's token endpoint


async def _creds(runtime: Runtime, tenant: TenantCtx, connection_id: str) -> ToolCredentials:
    async with runtime.sessionmaker() as session:
        return await tool_credentials(
            session, runtime, tenant_id=tenant.tenant.id, connection_id=connection_id
        )


async def _after_rejection(
    runtime: Runtime, tenant: TenantCtx, connection_id: str, rejected: str
) -> ToolCredentials:
    async with runtime.sessionmaker() as session:
        return await refresh_after_rejection(
            session,
            runtime,
            tenant_id=tenant.tenant.id,
            connection_id=connection_id,
            rejected_access_token=rejected,
        )


async def _row(runtime: Runtime, connection_id: str) -> Connection:
    async with runtime.sessionmaker() as session:
        row = await session.get(Connection, connection_id)
        assert row is not None
        return row


async def _stored_refresh_token(runtime: Runtime, connection_id: str) -> str | None:
    secrets = open_secrets(runtime.keyring, await _row(runtime, connection_id))
    return secrets.refresh_token.get_secret_value() if secrets.refresh_token else None


async def _discord_connection(
    client: httpx.AsyncClient, tenant: TenantCtx, oauth_mock: MockFactory, **options: Any
) -> tuple[MockAuthServer, str, str]:
    """A Discord-style OAuth connection → (mock, connection id, its current access token)."""
    mock, _ = oauth_mock("discord", "discord", **options)
    connection_id = await connect_via_flow(client, tenant, "discord")
    return mock, connection_id, mock.issued[0].value


async def test_fifty_concurrent_reactive_refreshes_make_one_token_call(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(
        client, tenant, oauth_mock, wrap=lambda app: SlowTokenEndpoint(app, TOKEN_PATH, 0.2)
    )
    mock.expire_access_tokens()
    await expire_connection(runtime, connection_id, ago_seconds=2 * 86400)

    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(
        *(_after_rejection(runtime, tenant, connection_id, old) for _ in range(50))
    )
    elapsed = asyncio.get_running_loop().time() - started

    tokens = {r.access_token.get_secret_value() for r in results}
    assert len(results) == 50
    assert len(tokens) == 1
    [new] = tokens
    assert new != old
    assert mock.is_active(new)
    assert mock.calls("refresh_token") == 1
    assert mock.snapshot()["invalid_grants"] == 0
    newest_refresh = [t.value for t in mock.issued if t.kind == "refresh"][-1]
    assert await _stored_refresh_token(runtime, connection_id) == newest_refresh
    assert elapsed < 5, f"50 refreshes took {elapsed:.2f}s"


async def test_expired_token_is_renewed_before_use_and_recorded(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(client, tenant, oauth_mock)
    await expire_connection(runtime, connection_id, ago_seconds=2 * 86400)

    renewed = (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value()
    again = (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value()

    assert renewed != old
    assert again == renewed
    assert mock.calls("refresh_token") == 1
    detail = (await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert detail["status"] == "active"
    assert detail["last_refreshed_at"] is not None
    assert detail["expires_at"] > utcnow().isoformat()
    async with runtime.sessionmaker() as session:
        events = await session.execute(
            sa.select(Event.type).where(Event.connection_id == connection_id)
        )
        actions = await session.execute(
            sa.select(AuditRecord.action, AuditRecord.outcome).where(
                AuditRecord.connection_id == connection_id
            )
        )
    assert "connection.refreshed" in set(events.scalars())
    assert ("connection.refresh", "success") in {tuple(row) for row in actions.all()}


async def test_invalid_grant_moves_the_connection_to_needs_reauth(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(client, tenant, oauth_mock)
    mock.fail_next(400, body={"error": "invalid_grant"})

    with pytest.raises(ConnectionNeedsReauth):
        await _after_rejection(runtime, tenant, connection_id, old)

    detail = (await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert detail["status"] == "needs_reauth"
    assert detail["last_error_code"] == "oauth_invalid_grant"
    with pytest.raises(ConnectionNeedsReauth):
        await _creds(runtime, tenant, connection_id)
    forced = await client.post(f"/v1/connections/{connection_id}/refresh", headers=tenant.headers)
    assert forced.status_code == 409
    assert forced.json()["code"] == "connection_needs_reauth"
    async with runtime.sessionmaker() as session:
        events = await session.execute(
            sa.select(Event.type).where(Event.connection_id == connection_id)
        )
    assert "connection.needs_reauth" in set(events.scalars())
    assert mock.calls("refresh_token") == 1


async def test_a_stale_caller_gets_the_winners_token_without_a_token_call(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(client, tenant, oauth_mock)
    winner = await _after_rejection(runtime, tenant, connection_id, old)
    # A second caller that saw the old token rejected arrives after the first one won.
    late = await _after_rejection(runtime, tenant, connection_id, old)
    assert late.access_token == winner.access_token
    assert mock.calls("refresh_token") == 1
    assert mock.snapshot()["invalid_grants"] == 0
    assert (await _row(runtime, connection_id)).status == "active"


async def test_invalid_grant_after_a_lost_race_is_not_a_dead_grant(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    oauth_mock: MockFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, connection_id, old = await _discord_connection(client, tenant, oauth_mock)

    async def rival_wins_then_refused(session: Any, rt: Runtime, row: Connection, _: Any) -> Any:
        # While our refresh token was in flight, another refresher stored the rotated tokens.
        def seal(column: str, value: str) -> str:
            return rt.keyring.encrypt(
                value, FieldContext("connections", column, row.id, row.tenant_id)
            )

        await session.execute(
            sa.update(Connection)
            .where(Connection.id == row.id)
            .values(
                access_token_enc=seal("access_token_enc", "at-rival"),
                refresh_token_enc=seal("refresh_token_enc", "rt-rival"),
                version=row.version + 1,
            )
        )
        raise InvalidGrant(provider_error="invalid_grant")

    monkeypatch.setattr(refresh_module, "_new_tokens", rival_wins_then_refused)
    creds = await _after_rejection(runtime, tenant, connection_id, old)

    assert creds.access_token.get_secret_value() == "at-rival"
    row = await _row(runtime, connection_id)
    assert row.status == "active"
    assert row.last_error_code is None
    assert await _stored_refresh_token(runtime, connection_id) == "rt-rival"


async def test_token_endpoint_outage_keeps_credentials_and_backs_off(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(client, tenant, oauth_mock)
    refresh_before = await _stored_refresh_token(runtime, connection_id)
    mock.fail_next(503, retry_after=7)

    forced = await client.post(f"/v1/connections/{connection_id}/refresh", headers=tenant.headers)
    assert forced.status_code == 503
    assert forced.json()["code"] == "oauth_token_endpoint_unavailable"
    detail = (await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert detail["status"] == "active"
    assert detail["last_error_code"] == "oauth_token_endpoint_unavailable"
    assert await _stored_refresh_token(runtime, connection_id) == refresh_before

    # Nearly expired but still valid: the current token is used while the endpoint is down.
    await expire_connection(runtime, connection_id, ago_seconds=-30)
    assert (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value() == old
    # Reactive refreshes wait out the back-off without calling the provider again.
    with pytest.raises(TokenEndpointUnavailable):
        await _after_rejection(runtime, tenant, connection_id, old)
    assert mock.calls("refresh_token") == 1
    # An operator's forced refresh does not wait.
    forced = await client.post(f"/v1/connections/{connection_id}/refresh", headers=tenant.headers)
    assert forced.status_code == 200
    assert forced.json()["last_error_code"] is None
    assert mock.calls("refresh_token") == 2


async def test_forced_refresh_and_connections_that_cannot_refresh(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(client, tenant, oauth_mock)
    old_refresh = await _stored_refresh_token(runtime, connection_id)
    before = (await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    forced = await client.post(f"/v1/connections/{connection_id}/refresh", headers=tenant.headers)
    assert forced.status_code == 200
    assert forced.json()["last_refreshed_at"] is not None
    assert forced.json()["expires_at"] >= before["expires_at"]
    assert old_refresh is not None
    assert not mock.is_active(old_refresh), "the rotated refresh token was spent"
    assert (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value() != old
    api_key = await client.post(
        "/v1/connections",
        json={"provider": "github", "credentials": {"api_key": "k-123"}},
        headers=tenant.headers,
    )
    refused = await client.post(
        f"/v1/connections/{api_key.json()['id']}/refresh", headers=tenant.headers
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "connection_not_refreshable"


async def test_refresh_response_without_refresh_token_keeps_the_old_one(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, connection_id, old = await _discord_connection(
        client, tenant, oauth_mock, rotate_refresh_tokens=False
    )
    original_refresh = await _stored_refresh_token(runtime, connection_id)
    first = await _after_rejection(runtime, tenant, connection_id, old)
    second = await _after_rejection(
        runtime, tenant, connection_id, first.access_token.get_secret_value()
    )
    assert await _stored_refresh_token(runtime, connection_id) == original_refresh
    assert mock.is_active(second.access_token.get_secret_value())
    assert mock.calls("refresh_token") == 2


async def test_refreshing_status_is_visible_while_in_flight(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    _, connection_id, old = await _discord_connection(
        client, tenant, oauth_mock, wrap=lambda app: SlowTokenEndpoint(app, TOKEN_PATH, 0.3)
    )
    task = asyncio.create_task(_after_rejection(runtime, tenant, connection_id, old))
    seen: set[str] = set()
    for _ in range(40):
        detail = await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)
        seen.add(detail.json()["status"])
        if "refreshing" in seen:
            break
        await asyncio.sleep(0.02)
    await task
    assert "refreshing" in seen
    final = await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)
    assert final.json()["status"] == "active"


async def test_proactive_job_renews_only_what_expires_soon(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, _ = oauth_mock("discord", "discord")
    soon, later, idle = [await connect_via_flow(client, tenant, "discord") for _ in range(3)]
    await expire_connection(runtime, soon, ago_seconds=-60)
    await expire_connection(runtime, later, ago_seconds=-2 * 86400)
    await expire_connection(runtime, idle, ago_seconds=2 * 86400)
    before = {cid: (await _row(runtime, cid)).expires_at for cid in (soon, later, idle)}

    await refresh_expiring(runtime)  # (the periodic loop may have been quicker: same result)

    assert (await _row(runtime, soon)).expires_at > utcnow() + timedelta(minutes=30)
    assert (await _row(runtime, later)).expires_at == before[later]
    assert (await _row(runtime, idle)).expires_at == before[idle]
    assert mock.calls("refresh_token") == 1


async def test_undecryptable_credentials_mean_needs_reauth_not_a_500(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    _, first, _ = await _discord_connection(client, tenant, oauth_mock)
    second = await connect_via_flow(client, tenant, "discord")
    moved = (await _row(runtime, first)).access_token_enc
    async with runtime.sessionmaker() as session:  # a ciphertext copied onto another row
        await session.execute(
            sa.update(Connection).where(Connection.id == second).values(access_token_enc=moved)
        )
        await session.commit()

    try:
        with pytest.raises(ConnectionNeedsReauth):
            await _creds(runtime, tenant, second)
        detail = await client.get(f"/v1/connections/{second}", headers=tenant.headers)
        assert detail.status_code == 200
        assert detail.json()["status"] == "needs_reauth"
        assert detail.json()["last_error_code"] == "decryption_failed"
        assert (
            await client.post(f"/v1/connections/{second}/refresh", headers=tenant.headers)
        ).status_code == 409
    finally:  # leave no undecryptable row behind for the key-rotation tests sharing the DB
        async with runtime.sessionmaker() as session:
            await session.execute(
                sa.update(Connection).where(Connection.id == second).values(access_token_enc=None)
            )
            await session.commit()


async def test_refresh_inside_a_session_that_already_wrote(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    """A caller that wrote first (on SQLite: holds the write lock) still gets fresh creds."""
    mock, connection_id, old = await _discord_connection(client, tenant, oauth_mock)
    await expire_connection(runtime, connection_id, ago_seconds=2 * 86400)
    async with runtime.sessionmaker() as session:
        await audit.record(session, tenant.tenant.id, "test.write_first", "success")
        creds = await asyncio.wait_for(
            tool_credentials(
                session, runtime, tenant_id=tenant.tenant.id, connection_id=connection_id
            ),
            timeout=10,
        )
        await session.commit()
    assert creds.access_token.get_secret_value() != old
    assert mock.is_active(creds.access_token.get_secret_value())
    assert (
        await _stored_refresh_token(runtime, connection_id)
        == [t.value for t in mock.issued if t.kind == "refresh"][-1]
    )


async def test_mark_needs_reauth_for_a_revoked_credential(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    _, connection_id, _ = await _discord_connection(client, tenant, oauth_mock)
    async with runtime.sessionmaker() as session:
        await mark_needs_reauth(
            session,
            runtime,
            tenant_id=tenant.tenant.id,
            connection_id=connection_id,
            error_code="provider_auth_revoked",
        )
        await session.rollback()  # the caller's own failure does not undo the transition
    row = await _row(runtime, connection_id)
    assert row.status == "needs_reauth"
    assert row.last_error_code == "provider_auth_revoked"
