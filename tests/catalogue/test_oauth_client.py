"""``PUT/GET/DELETE /v1/providers/{id}/oauth-client``: a tenant's own client (secret write-only)."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from gateway.kit.crypto import Keyring, generate_key_line
from gateway.kit.runtime import Runtime
from gateway.models import SYSTEM_OWNER, AuditRecord
from gateway.oauth_clients import service as oauth_clients
from tests.conftest import TenantCtx

SECRET = "tenant-client-secret-0042"


async def test_put_get_delete_never_return_the_secret(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    path = "/v1/providers/dingtalk/oauth-client"
    put = await client.put(
        path,
        json={"client_id": "ding-app", "client_secret": SECRET, "scopes": ["openid"]},
        headers=tenant.headers,
    )
    assert put.status_code == 200
    assert put.json()["source"] == "tenant"
    assert put.json()["scopes"] == ["openid"]
    got = await client.get(path, headers=tenant.headers)
    assert got.json()["client_id"] == "ding-app"
    for response in (put, got):
        assert SECRET not in response.text
        assert "client_secret" not in response.json()

    deleted = await client.delete(path, headers=tenant.headers)
    assert deleted.status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    assert (await client.delete(path, headers=tenant.headers)).status_code == 404
    async with runtime.sessionmaker() as session:
        actions = await session.execute(
            sa.select(AuditRecord.action).where(AuditRecord.tenant_id == tenant.tenant.id)
        )
    assert {"oauth_client.set", "oauth_client.delete"} <= set(actions.scalars())


async def test_system_client_is_the_fallback(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session:
        await oauth_clients.set_client(
            session,
            runtime.keyring,
            owner=SYSTEM_OWNER,
            provider="discord",
            client_id="system-discord",
            client_secret=SecretStr("system-secret"),
        )
        await session.commit()
    try:
        path = "/v1/providers/discord/oauth-client"
        fallback = await client.get(path, headers=tenant.headers)
        assert fallback.json()["source"] == "system"
        assert fallback.json()["client_id"] == "system-discord"
        await client.put(
            path, json={"client_id": "mine", "client_secret": SECRET}, headers=tenant.headers
        )
        own = await client.get(path, headers=tenant.headers)
        assert own.json()["source"] == "tenant"
        assert own.json()["client_id"] == "mine"
        authorize = await client.post(
            "/v1/connections/discord/authorize", json={}, headers=tenant.headers
        )
        assert authorize.status_code == 200
    finally:
        async with runtime.sessionmaker() as session:
            await oauth_clients.delete_client(session, owner=SYSTEM_OWNER, provider="discord")
            await session.commit()


async def test_oauth_client_for_a_provider_without_oauth(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    response = await client.put(
        "/v1/providers/telegram/oauth-client",
        json={"client_id": "x", "client_secret": SECRET},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "provider_has_no_oauth"
    assert SECRET not in response.text


async def test_malformed_client_is_refused_without_echo(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    response = await client.put(
        "/v1/providers/slack/oauth-client",
        json={"client_id": "", "client_secret": SECRET},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    assert SECRET not in response.text


async def test_undecryptable_client_secret_is_a_409_not_a_500(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    foreign = Keyring.parse(generate_key_line("gone1"))  # a key this gateway no longer has
    async with runtime.sessionmaker() as session:
        await oauth_clients.set_client(
            session,
            foreign,
            owner=tenant.tenant.id,
            provider="slack",
            client_id="cid",
            client_secret=SecretStr(SECRET),
        )
        await session.commit()
    try:
        response = await client.post(
            "/v1/connections/slack/authorize", json={}, headers=tenant.headers
        )
        assert response.status_code == 409
        assert response.json()["code"] == "oauth_client_unreadable"
    finally:  # no undecryptable row may outlive the test (key rotation tests share the DB)
        async with runtime.sessionmaker() as session:
            await oauth_clients.delete_client(session, owner=tenant.tenant.id, provider="slack")
            await session.commit()
