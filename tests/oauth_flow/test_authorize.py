"""``POST /v1/connections/{provider}/authorize``: the checks made before any browser is involved."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from gateway.kit.runtime import Runtime
from gateway.models import ConnectSession, OAuthState
from gateway.models.base import utcnow
from gateway.oauth_flow.return_to import parse_origins, validate_return_to, with_query
from gateway.oauth_flow.tasks import purge_expired
from tests.conftest import TenantCtx
from tests.connections.fixtures import MockFactory
from tests.connections.support import begin_flow, set_client

BAD_RETURN_TO = [
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "https://evil.example/done",
    "http://testserver.evil.example/",
    "/%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "/%5Cevil.example",
    "javascript:alert(1)",
    "/ok\r\nSet-Cookie: x=1",
    "/ok%0d%0aSet-Cookie:x=1",
    "https://user@app.example/",
    "evil.example",
    "",
]


@pytest.mark.parametrize("value", BAD_RETURN_TO)
async def test_unsafe_return_to_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, oauth_mock: MockFactory, value: str
) -> None:
    oauth_mock("slack", "slack")
    await set_client(client, tenant, "slack")
    response = await client.post(
        "/v1/connections/slack/authorize", json={"return_to": value}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_return_to"


def test_return_to_rules() -> None:
    origins = parse_origins("https://app.example, http://localhost:3000/, not-an-origin")
    assert origins == {"https://app.example", "http://localhost:3000"}
    assert validate_return_to("/done?x=1", frozenset()) == "/done?x=1"
    assert validate_return_to("https://app.example/cb", origins) == "https://app.example/cb"
    assert validate_return_to("https://APP.example:443/cb", origins)
    assert with_query("/done?x=1", {"connection_id": "con_1"}) == "/done?x=1&connection_id=con_1"


async def test_allow_listed_origin_receives_the_connection(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    oauth_mock: MockFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime.settings, "return_to_origins", "https://app.example")
    oauth_mock("discord", "discord")
    await set_client(client, tenant, "discord")
    legs = await begin_flow(client, tenant, "discord", return_to="https://app.example/cb?a=1")
    response = await client.get(legs.callback_url)
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "app.example", "/cb")
    query = parse_qs(location.query)
    assert query["a"] == ["1"]
    assert query["connection_id"][0].startswith("con_")
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_authorize_answer(
    client: httpx.AsyncClient, tenant: TenantCtx, oauth_mock: MockFactory
) -> None:
    oauth_mock("slack", "slack")
    await set_client(client, tenant, "slack")
    response = await client.post("/v1/connections/slack/authorize", json={}, headers=tenant.headers)
    body = response.json()
    start = urlsplit(body["authorization_url"])
    assert (start.netloc, start.path) == ("testserver", "/oauth/slack/start")
    assert len(parse_qs(start.query)["session"][0]) >= 43
    assert body["redirect_uri"] == "http://testserver/oauth/slack/callback"
    assert body["expires_at"]


async def test_no_oauth_client_is_a_409(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    response = await client.post("/v1/connections/lark/authorize", json={}, headers=tenant.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "oauth_client_missing"


async def test_unknown_provider_and_provider_without_oauth(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    unknown = await client.post("/v1/connections/nope/authorize", json={}, headers=tenant.headers)
    telegram = await client.post(
        "/v1/connections/telegram/authorize", json={}, headers=tenant.headers
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "provider_not_found"
    assert telegram.status_code == 422
    assert telegram.json()["code"] == "provider_has_no_oauth"


async def test_reserved_authorize_params_are_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, oauth_mock: MockFactory
) -> None:
    oauth_mock("slack", "slack")
    await set_client(client, tenant, "slack")
    response = await client.post(
        "/v1/connections/slack/authorize",
        json={"authorize_params": {"redirect_uri": "https://evil.example"}},
        headers=tenant.headers,
    )
    assert response.status_code == 422


async def test_authorize_requires_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/connections/slack/authorize", json={})
    assert response.status_code == 401


async def test_expired_flows_are_purged_a_day_after_expiry(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    oauth_mock("slack", "slack")
    await set_client(client, tenant, "slack")
    await begin_flow(client, tenant, "slack")  # one consumed session, one pending state
    fresh = await client.post("/v1/connections/slack/authorize", json={}, headers=tenant.headers)
    assert fresh.status_code == 200
    async with runtime.sessionmaker() as session:
        for model in (ConnectSession, OAuthState):
            await session.execute(
                sa.update(model)
                .where(model.tenant_id == tenant.tenant.id, model.consumed_at.is_not(None))
                .values(expires_at=utcnow() - timedelta(days=2))
            )
        await session.commit()

    await purge_expired(runtime)

    async with runtime.sessionmaker() as session:
        sessions = await session.execute(
            sa.select(ConnectSession.id).where(ConnectSession.tenant_id == tenant.tenant.id)
        )
        states = await session.execute(
            sa.select(OAuthState.id).where(OAuthState.tenant_id == tenant.tenant.id)
        )
    assert len(sessions.all()) == 1, "only the unexpired link is left"
    assert len(states.all()) == 1, "the pending state is kept"
