"""WeCom web auth is not OAuth: the code is traded (with the corp token) for *who* signed in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from gateway.connections.credentials import tool_credentials
from gateway.connections.errors import ConnectionHasNoToken
from gateway.kit.runtime import Runtime
from tests.conftest import TenantCtx
from tests.connections.support import PlatformMock, connections_of


async def test_wecom_web_auth_records_the_user_identity(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, platform: PlatformMock
) -> None:
    put = await client.put(
        "/v1/providers/wecom/oauth-client",
        json={"client_id": "ww-corp-1", "client_secret": platform.app_secret},
        headers=tenant.headers,
    )
    assert put.status_code == 200
    authorize = await client.post(
        "/v1/connections/wecom/authorize",
        json={"authorize_params": {"agentid": "1000002"}},
        headers=tenant.headers,
    )
    start = await client.get(authorize.json()["authorization_url"])
    assert start.status_code == 302
    provider_url = urlsplit(start.headers["location"])
    query = parse_qs(provider_url.query)
    assert provider_url.path.endswith("/connect/oauth2/authorize")
    assert provider_url.fragment == "wechat_redirect"
    assert query["appid"] == ["ww-corp-1"]
    assert query["agentid"] == ["1000002"]
    assert "code_challenge" not in query

    # The WeCom client redirects back with a code; no consent page to drive here.
    callback = await client.get(f"/oauth/wecom/callback?code=wecom-code&state={query['state'][0]}")
    assert callback.status_code == 200, callback.text
    [connection] = await connections_of(client, tenant)
    assert connection["auth_kind"] == "wecom_web_auth"
    assert connection["account"] == {"userid": "zhangsan", "corp_id": "ww-corp-1"}
    assert connection["refreshable"] is False
    assert platform.calls["wecom"] == 1
    assert platform.calls["wecom_userinfo"] == 1

    async with runtime.sessionmaker() as session:
        with pytest.raises(ConnectionHasNoToken):
            await tool_credentials(
                session, runtime, tenant_id=tenant.tenant.id, connection_id=connection["id"]
            )


async def test_wecom_bad_code_fails_cleanly(
    client: httpx.AsyncClient, tenant: TenantCtx, platform: PlatformMock
) -> None:
    await client.put(
        "/v1/providers/wecom/oauth-client",
        json={"client_id": "ww-corp-1", "client_secret": platform.app_secret},
        headers=tenant.headers,
    )
    authorize = await client.post(
        "/v1/connections/wecom/authorize", json={}, headers=tenant.headers
    )
    start = await client.get(authorize.json()["authorization_url"])
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    callback = await client.get(f"/oauth/wecom/callback?code=stale&state={state}")
    assert callback.status_code == 400
    assert "oauth_invalid_grant" in callback.text
    assert await connections_of(client, tenant) == []
