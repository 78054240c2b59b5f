"""State, cookie and provider binding of the callback (O1, O3, O4; failure injection F3).

Every refused callback answers 4xx with a reason code and leaves no connection behind.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from gateway.kit.runtime import Runtime
from gateway.models import AuditRecord, OAuthState
from gateway.models.base import utcnow
from tests.conftest import TenantCtx
from tests.connections.fixtures import MockFactory
from tests.connections.support import begin_flow, connections_of, set_client


@pytest.fixture
async def slack_ready(
    client: httpx.AsyncClient, tenant: TenantCtx, oauth_mock: MockFactory
) -> MockFactory:
    oauth_mock("slack", "slack")
    await set_client(client, tenant, "slack")
    return oauth_mock


async def _failure_audits(runtime: Runtime, tenant: TenantCtx) -> list[str | None]:
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            sa.select(AuditRecord.error_code).where(
                AuditRecord.tenant_id == tenant.tenant.id, AuditRecord.outcome == "failure"
            )
        )
    return list(rows.scalars())


async def test_state_replay_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    first = await client.get(legs.callback_url)
    replay = await client.get(legs.callback_url)
    assert first.status_code == 200
    assert replay.status_code == 400
    assert "invalid_state" in replay.text
    assert len(await connections_of(client, tenant)) == 1
    assert "invalid_state" in await _failure_audits(runtime, tenant)


async def test_missing_cookie_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    client.cookies.clear()
    response = await client.get(legs.callback_url)
    assert response.status_code == 400
    assert "missing_cookie" in response.text
    assert await connections_of(client, tenant) == []
    # A request without the cookie could not burn the state: the real browser still finishes.
    client.cookies.set("gateway_oauth", legs.start.cookies["gateway_oauth"], path="/")
    retry_with_cookie = await client.get(legs.callback_url)
    assert retry_with_cookie.status_code == 200
    assert len(await connections_of(client, tenant)) == 1


async def test_another_browsers_cookie_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_ready: MockFactory
) -> None:
    victim = await begin_flow(client, tenant, "slack")
    client.cookies.clear()
    attacker = await begin_flow(client, tenant, "slack")  # sets the attacker's own cookie
    assert attacker.start.cookies["gateway_oauth"] != victim.start.cookies["gateway_oauth"]
    response = await client.get(victim.callback_url)
    assert response.status_code == 400
    assert "browser_mismatch" in response.text
    assert await connections_of(client, tenant) == []


async def test_callback_on_another_providers_route_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_ready: MockFactory
) -> None:
    slack_ready("discord", "discord")
    await set_client(client, tenant, "discord")
    legs = await begin_flow(client, tenant, "slack")
    query = urlsplit(legs.callback_url).query
    client.cookies.set("gateway_oauth", legs.start.cookies["gateway_oauth"], path="/")
    response = await client.get(f"/oauth/discord/callback?{query}")
    assert response.status_code == 400
    assert "provider_mismatch" in response.text
    assert await connections_of(client, tenant) == []


async def test_expired_state_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    async with runtime.sessionmaker() as session:
        await session.execute(
            sa.update(OAuthState)
            .where(OAuthState.tenant_id == tenant.tenant.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    response = await client.get(legs.callback_url)
    assert response.status_code == 400
    assert "invalid_state" in response.text
    assert await connections_of(client, tenant) == []


async def test_state_lives_at_most_ten_minutes(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, slack_ready: MockFactory
) -> None:
    await begin_flow(client, tenant, "slack")
    async with runtime.sessionmaker() as session:
        state = (
            await session.execute(
                sa.select(OAuthState).where(OAuthState.tenant_id == tenant.tenant.id)
            )
        ).scalar_one()
    assert state.expires_at - state.created_at <= timedelta(minutes=10)
    assert len(state.state_hash) == 64  # only a hash of the state is stored


async def test_concurrent_callbacks_with_one_state_make_one_connection(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    url = legs.callback_url
    no_cookie = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with no_cookie:
        results = await asyncio.gather(client.get(url), client.get(url), no_cookie.get(url))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 400, 400]
    assert len(await connections_of(client, tenant)) == 1


async def test_start_link_is_single_use(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    again = await client.get(legs.authorize.json()["authorization_url"])
    assert again.status_code == 400
    assert "invalid_session" in again.text
    assert "set-cookie" not in again.headers


async def test_state_cookie_attributes(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    cookie = legs.start.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/oauth/slack/callback" in cookie
    assert "secure" not in cookie  # the test gateway is served over plain http
    assert legs.start.headers["cache-control"] == "no-store"


async def test_access_denied_ends_on_failure_page_with_audit(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, _ = oauth_mock("discord", "discord")
    await set_client(client, tenant, "discord")
    mock.deny_next_authorization("access_denied")
    legs = await begin_flow(client, tenant, "discord")
    response = await client.get(legs.callback_url)
    assert response.status_code == 403
    assert "access_denied" in response.text
    assert "declined" in response.text
    assert await connections_of(client, tenant) == []
    assert "access_denied" in await _failure_audits(runtime, tenant)
    assert mock.calls("authorization_code") == 0


async def test_access_denied_redirects_to_return_to_with_reason(
    client: httpx.AsyncClient, tenant: TenantCtx, oauth_mock: MockFactory
) -> None:
    mock, _ = oauth_mock("discord", "discord")
    await set_client(client, tenant, "discord")
    mock.deny_next_authorization("access_denied")
    legs = await begin_flow(client, tenant, "discord", return_to="/settings")
    response = await client.get(legs.callback_url)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert location.path == "/settings"
    assert parse_qs(location.query)["error"] == ["access_denied"]


async def test_failed_code_exchange_stores_nothing(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, _ = oauth_mock("lark", "lark", require_pkce=True)
    await set_client(client, tenant, "lark")
    legs = await begin_flow(client, tenant, "lark")
    mock.fail_next(400, body={"error": "invalid_grant", "code": 20003})
    response = await client.get(legs.callback_url)
    assert response.status_code == 400
    assert "exchange_failed" in response.text
    assert "oauth_invalid_grant" in response.text
    assert await connections_of(client, tenant) == []
    assert "oauth_invalid_grant" in await _failure_audits(runtime, tenant)


async def test_mismatched_issuer_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_ready: MockFactory
) -> None:
    legs = await begin_flow(client, tenant, "slack")
    parts = urlsplit(legs.callback_url)
    params = {**{k: v[0] for k, v in parse_qs(parts.query).items()}, "iss": "https://evil.test"}
    response = await client.get(f"{parts.path}?{urlencode(params)}")
    assert response.status_code == 400
    assert "issuer_mismatch" in response.text
    assert await connections_of(client, tenant) == []


async def test_missing_state_and_unknown_state(client: httpx.AsyncClient) -> None:
    missing = await client.get("/oauth/slack/callback?code=abc")
    unknown = await client.get("/oauth/slack/callback?code=abc&state=nope")
    assert missing.status_code == 400
    assert "missing_state" in missing.text
    assert unknown.status_code == 400
    assert "invalid_state" in unknown.text
