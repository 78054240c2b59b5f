"""The browser flow end to end against the mock authorization server, one test per style.

Each test drives a cookie-keeping client through authorize → start → provider consent →
callback, following the redirect chain by hand, then checks what the user and the API see.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from gateway.connections.credentials import tool_credentials
from gateway.kit.logging import JsonFormatter
from gateway.kit.runtime import Runtime
from gateway.models import AuditRecord, Event
from tests.conftest import TenantCtx
from tests.connections.fixtures import MockFactory
from tests.connections.support import (
    MOCK_CLIENT_SECRET,
    connection_id_of,
    connections_of,
    dump_database,
    issued_tokens,
    run_flow,
    set_client,
)


async def _tool_token(runtime: Runtime, tenant: TenantCtx, connection_id: str) -> str:
    async with runtime.sessionmaker() as session:
        creds = await tool_credentials(
            session, runtime, tenant_id=tenant.tenant.id, connection_id=connection_id
        )
    return creds.access_token.get_secret_value()


@pytest.mark.parametrize(
    ("style", "provider", "pkce"),
    [("slack", "slack", False), ("discord", "discord", False), ("lark", "lark", True)],
)
async def test_full_flow_per_style(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    oauth_mock: MockFactory,
    style: str,
    provider: str,
    pkce: bool,
) -> None:
    mock, _ = oauth_mock(style, provider, require_pkce=pkce)
    await set_client(client, tenant, provider)
    scopes = ["offline_access", "contact:read"] if provider == "lark" else None
    legs = await run_flow(client, tenant, provider, label="team chat", scopes=scopes)

    query = parse_qs(urlsplit(legs.provider_url).query)
    assert query["redirect_uri"] == [f"http://testserver/oauth/{provider}/callback"]
    assert ("code_challenge" in query) is pkce
    assert legs.callback is not None
    assert legs.callback.status_code == 200
    assert "Account connected" in legs.callback.text
    assert legs.callback.headers["referrer-policy"] == "no-referrer"
    connection_id = connection_id_of(legs)

    [listed] = await connections_of(client, tenant)
    assert listed["id"] == connection_id
    assert listed["provider"] == provider
    assert listed["auth_kind"] == "oauth2"
    assert listed["status"] == "active"
    assert listed["label"] == "team chat"
    assert listed["refreshable"] is True
    assert listed["expires_at"] is not None
    assert mock.calls("authorization_code") == 1
    token = await _tool_token(runtime, tenant, connection_id)
    assert mock.is_active(token), "the stored token is the one the provider issued"
    assert token not in json.dumps(listed)


async def test_dingtalk_flow_reads_authcode_and_camelcase_tokens(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, _ = oauth_mock("dingtalk", "dingtalk")
    await set_client(client, tenant, "dingtalk")
    legs = await run_flow(client, tenant, "dingtalk")
    assert "authCode=" in legs.callback_url
    assert "code=" not in legs.callback_url.split("?")[1][:5]
    connection_id = connection_id_of(legs)
    [listed] = await connections_of(client, tenant)
    assert listed["account"]["corp_id"] == "dingmockcorp"
    assert mock.is_active(await _tool_token(runtime, tenant, connection_id))


async def test_custom_provider_flow_with_pkce(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    mock, base = oauth_mock("rfc6749", require_pkce=True)
    created = await client.post(
        "/v1/providers",
        json={
            "id": "acme",
            "name": "Acme",
            "authorization_url": f"{base}/authorize",
            "token_url": f"{base}/token",
            "revocation_url": f"{base}/revoke",
            "scopes": ["read", "write"],
        },
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    await set_client(client, tenant, "acme")
    legs = await run_flow(client, tenant, "acme", return_to="/apps/done?tab=1")

    assert legs.callback is not None
    assert legs.callback.status_code == 302
    location = urlsplit(legs.callback.headers["location"])
    assert location.path == "/apps/done"
    assert not location.netloc
    assert parse_qs(location.query)["tab"] == ["1"]
    connection_id = connection_id_of(legs)
    assert mock.is_active(await _tool_token(runtime, tenant, connection_id))
    assert set(parse_qs(urlsplit(legs.provider_url).query)["scope"][0].split()) == {
        "read",
        "write",
    }


async def test_flow_records_event_and_audit_and_clears_cookie(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, oauth_mock: MockFactory
) -> None:
    oauth_mock("discord", "discord")
    await set_client(client, tenant, "discord")
    legs = await run_flow(client, tenant, "discord", label="ops")
    connection_id = connection_id_of(legs)
    assert legs.callback is not None
    assert 'gateway_oauth=""' in legs.callback.headers["set-cookie"]

    async with runtime.sessionmaker() as session:
        event = (
            await session.execute(sa.select(Event).where(Event.connection_id == connection_id))
        ).scalar_one()
        audit = (
            await session.execute(
                sa.select(AuditRecord).where(AuditRecord.connection_id == connection_id)
            )
        ).scalar_one()
    assert event.type == "connection.created"
    assert event.status == "processed"
    assert event.endpoint_id is None
    assert event.tenant_id == tenant.tenant.id
    assert event.data == {
        "connection": {
            "id": connection_id,
            "provider": "discord",
            "status": "active",
            "label": "ops",
        }
    }
    assert (audit.action, audit.outcome) == ("connection.connect", "success")


async def test_no_secret_of_the_flow_is_stored_or_logged_in_plaintext(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    oauth_mock: MockFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mock, _ = oauth_mock("slack", "slack")
    await set_client(client, tenant, "slack", scopes=["chat:write"])
    legs = await run_flow(client, tenant, "slack", authorize_params={"user_scope": "search:read"})
    connection_id_of(legs)
    session_token = parse_qs(urlsplit(legs.authorize.json()["authorization_url"]).query)
    binding = legs.start.cookies["gateway_oauth"]
    credentials = [*issued_tokens(mock), MOCK_CLIENT_SECRET]
    assert len(issued_tokens(mock)) >= 3  # bot, refresh and user tokens
    # state, start link and cookie travel in URLs/cookies by protocol; they are stored hashed
    flow_secrets = [legs.state, session_token["session"][0], binding]

    dump = await dump_database(runtime)
    formatter = JsonFormatter()
    logs = "\n".join(formatter.format(record) for record in caplog.records)
    for secret in credentials + flow_secrets:
        assert secret not in dump
    for secret in credentials:
        assert secret not in logs
    assert "enc1:" in dump  # the tokens are there, encrypted
