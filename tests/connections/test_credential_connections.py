"""``POST /v1/connections``: credentials checked with the platform, stored encrypted."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.connections.credentials import refresh_after_rejection, tool_credentials
from gateway.connections.errors import ConnectionNotFound
from gateway.kit.runtime import Runtime
from gateway.models import Connection
from gateway.models.base import utcnow
from tests.conftest import TenantCtx
from tests.connections.support import PlatformMock, dump_database


async def _create(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, **credentials: Any
) -> httpx.Response:
    return await client.post(
        "/v1/connections",
        json={"provider": provider, "credentials": credentials, "label": f"{provider} bot"},
        headers=tenant.headers,
    )


async def _creds(runtime: Runtime, tenant: TenantCtx, connection_id: str) -> Any:
    async with runtime.sessionmaker() as session:
        return await tool_credentials(
            session, runtime, tenant_id=tenant.tenant.id, connection_id=connection_id
        )


async def test_telegram_bot_token_is_validated_with_getme(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    response = await _create(client, tenant, "telegram", bot_token=platform.bot_token)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["auth_kind"] == "credentials"
    assert body["status"] == "active"
    assert body["account"]["username"] == "mock_bot"
    assert body["expires_at"] is None
    assert platform.bot_token not in response.text
    creds = await _creds(runtime, tenant, body["id"])
    assert creds.access_token.get_secret_value() == platform.bot_token
    assert creds.extra["bot_id"] == "123456789"
    assert creds.base_url == runtime.settings.provider_base_urls["telegram"]
    assert platform.bot_token not in await dump_database(runtime)


async def test_invalid_bot_token_is_a_422_with_the_platform_reason(
    client: httpx.AsyncClient, tenant: TenantCtx, platform: PlatformMock
) -> None:
    bad = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    response = await _create(client, tenant, "telegram", bot_token=bad)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_credentials"
    assert problem["reason"] == "401 Unauthorized"
    assert bad not in response.text
    listed = await client.get("/v1/connections", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_discord_bot_token(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    ok = await _create(client, tenant, "discord", bot_token=platform.bot_token)
    bad = await _create(client, tenant, "discord", bot_token="not-the-token")
    assert ok.status_code == 201
    assert ok.json()["account"]["bot_user_id"] == "999000111"
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_credentials"
    assert "not-the-token" not in bad.text
    creds = await _creds(runtime, tenant, ok.json()["id"])
    assert creds.base_url == runtime.settings.provider_base_urls["discord"] + "/api/v10"


async def test_dingtalk_app_token_is_fetched_and_cached_encrypted(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    response = await _create(
        client,
        tenant,
        "dingtalk",
        app_key="dingappkey",
        app_secret=platform.app_secret,
        robot_code="dingrobot",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["refreshable"] is True
    assert body["account"] == {"app_key": "dingappkey", "robot_code": "dingrobot"}
    creds = await _creds(runtime, tenant, body["id"])
    assert creds.access_token.get_secret_value() == "dt-app-1"
    assert creds.extra["robot_code"] == "dingrobot"
    assert platform.calls["dingtalk"] == 1, "a cached app token is reused"
    dump = await dump_database(runtime)
    assert "dt-app-1" not in dump
    assert platform.app_secret not in dump


async def test_wecom_corp_credentials_and_refused_secret(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    ok = await _create(
        client, tenant, "wecom", corp_id="ww1", corp_secret=platform.app_secret, agent_id=1000002
    )
    bad = await _create(client, tenant, "wecom", corp_id="ww1", corp_secret="nope", agent_id=1)
    assert ok.status_code == 201, ok.text
    assert bad.status_code == 422
    assert bad.json()["reason"] == "40001 invalid credential"
    creds = await _creds(runtime, tenant, ok.json()["id"])
    assert creds.extra["agent_id"] == "1000002"
    assert creds.extra["corp_id"] == "ww1"


async def test_lark_app_credentials(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    ok = await _create(client, tenant, "feishu", app_id="cli_1", app_secret=platform.app_secret)
    bad = await _create(client, tenant, "lark", app_id="cli_1", app_secret="wrong")
    assert ok.status_code == 201
    assert ok.json()["provider"] == "lark"
    assert bad.status_code == 422
    assert bad.json()["reason"] == "10014 app secret invalid"
    creds = await _creds(runtime, tenant, ok.json()["id"])
    assert creds.access_token.get_secret_value().startswith("t-lark-")


async def test_expired_app_token_is_refetched_once(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    created = await _create(client, tenant, "lark", app_id="cli_2", app_secret=platform.app_secret)
    connection_id = created.json()["id"]
    first = (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value()
    async with runtime.sessionmaker() as session:
        await session.execute(
            sa.update(Connection)
            .where(Connection.id == connection_id)
            .values(expires_at=utcnow() - timedelta(days=2))
        )
        await session.commit()
    renewed = (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value()
    again = (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value()
    assert renewed != first
    assert again == renewed
    assert platform.calls["lark"] == 2


async def test_platform_expired_token_code_refetches(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    created = await _create(
        client, tenant, "wecom", corp_id="ww2", corp_secret=platform.app_secret, agent_id="7"
    )
    connection_id = created.json()["id"]
    old = (await _creds(runtime, tenant, connection_id)).access_token.get_secret_value()
    async with runtime.sessionmaker() as session:  # WeCom answered 42001 (token expired)
        fresh = await refresh_after_rejection(
            session,
            runtime,
            tenant_id=tenant.tenant.id,
            connection_id=connection_id,
            rejected_access_token=old,
        )
    assert fresh.access_token.get_secret_value() not in (old, "")
    assert platform.calls["wecom"] == 2


async def test_generic_api_key_is_stored_as_given(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    response = await _create(client, tenant, "github", api_key="ghp_fixturekey0001")
    assert response.status_code == 201
    body = response.json()
    assert body["auth_kind"] == "api_key"
    assert body["refreshable"] is False
    creds = await _creds(runtime, tenant, body["id"])
    assert creds.access_token.get_secret_value() == "ghp_fixturekey0001"
    assert "ghp_fixturekey0001" not in await dump_database(runtime)


@pytest.mark.parametrize(
    ("provider", "credentials"),
    [
        ("telegram", {}),
        ("telegram", {"bot_token": ""}),
        ("dingtalk", {"app_key": "k"}),
        ("wecom", {"corp_id": "ww", "corp_secret": "s3cr3t-value", "agent_id": "1", "x": 1}),
    ],
)
async def test_malformed_credentials_are_a_422_without_echo(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, credentials: dict[str, Any]
) -> None:
    response = await _create(client, tenant, provider, **credentials)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert "s3cr3t-value" not in response.text


async def test_unknown_provider_is_a_404(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    response = await _create(client, tenant, "nope", api_key="k")
    assert response.status_code == 404
    assert response.json()["code"] == "provider_not_found"


async def test_connections_are_tenant_scoped(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx, runtime: Runtime
) -> None:
    created = (await _create(client, tenant, "github", api_key="k-1")).json()
    path = f"/v1/connections/{created['id']}"
    assert (await client.get(path, headers=other_tenant.headers)).status_code == 404
    assert (await client.delete(path, headers=other_tenant.headers)).status_code == 404
    assert (await client.post(f"{path}/refresh", headers=other_tenant.headers)).status_code == 404
    listed = await client.get("/v1/connections", headers=other_tenant.headers)
    assert created["id"] not in listed.text
    async with runtime.sessionmaker() as session:
        with pytest.raises(ConnectionNotFound):
            await tool_credentials(
                session, runtime, tenant_id=other_tenant.tenant.id, connection_id=created["id"]
            )


async def test_list_filters_and_pages(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    ids = [
        (await _create(client, tenant, "github", api_key=f"k-{i}")).json()["id"] for i in range(3)
    ]
    await _create(client, tenant, "standard", api_key="k-std")
    await client.delete(f"/v1/connections/{ids[0]}", headers=tenant.headers)

    github = await client.get("/v1/connections?provider=github", headers=tenant.headers)
    revoked = await client.get("/v1/connections?status=revoked", headers=tenant.headers)
    first = (await client.get("/v1/connections?limit=2", headers=tenant.headers)).json()
    rest = await client.get(
        f"/v1/connections?limit=2&cursor={first['next_cursor']}", headers=tenant.headers
    )
    assert {c["id"] for c in github.json()["data"]} == set(ids)
    assert [c["id"] for c in revoked.json()["data"]] == [ids[0]]
    assert len(first["data"]) + len(rest.json()["data"]) == 4
