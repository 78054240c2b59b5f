"""Connect → receive → reply against the sandbox, through the same gateway code paths as a real
platform: the OAuth flow and token exchange, a signed webhook into the public receiver,
normalisation, ``message.reply`` with the connection's token (refreshed when the platform says
it expired), disconnect with revocation at the platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from gateway.kit.runtime import Runtime
from gateway.models import SandboxGrant, SandboxToken
from gateway.models.base import utcnow
from gateway.sandbox.store import store_of
from tests.conftest import TenantCtx
from tests.sandbox.live import LiveGateway
from tests.sandbox.support import connect, wait_for_event


@pytest.fixture
async def http(live_gateway: LiveGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_gateway.base_url, timeout=30) as client:
        yield client


async def _endpoint(http: httpx.AsyncClient, tenant: TenantCtx, connection_id: str) -> str:
    created = await http.post(
        "/v1/webhook-endpoints",
        json={"provider": "sandbox", "config": {}, "connection_id": connection_id},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["secrets_set"] == ["secret"]  # generated: zero setup, still signed
    return str(created.json()["id"])


async def _simulate(
    http: httpx.AsyncClient, tenant: TenantCtx, endpoint_id: str, text: str
) -> dict[str, object]:
    sent = await http.post(
        "/sandbox/api/simulate",
        json={"endpoint_id": endpoint_id, "conversation": "general", "text": text},
        headers=tenant.headers,
    )
    assert sent.status_code == 200, sent.text
    body = dict(sent.json())
    assert body["delivered"] is True, body
    return body


async def _reply(http: httpx.AsyncClient, tenant: TenantCtx, event_id: str, text: str) -> dict:
    answer = await http.post(
        "/v1/tools/message.reply/invoke",
        json={"parameters": {"event_id": event_id, "text": text}},
        headers=tenant.headers,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _expire_access_tokens(runtime: Runtime, tenant_id: str) -> None:
    async with store_of(runtime).sessionmaker() as session:
        await session.execute(
            sa.update(SandboxToken)
            .where(col(SandboxToken.tenant_id) == tenant_id, col(SandboxToken.kind) == "access")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


async def test_connect_receive_and_reply_round_trip(
    http: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    connection_id = await connect(http, tenant)
    connection = (await http.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["provider"] == "sandbox"
    assert connection["status"] == "active"
    assert connection["refreshable"] is True
    assert connection["account"]["workspace_name"] == tenant.tenant.name
    assert "access_token" not in str(connection)

    endpoint_id = await _endpoint(http, tenant, connection_id)
    sent = await _simulate(http, tenant, endpoint_id, "Hello, gateway!")
    event = await wait_for_event(http, tenant, endpoint_id, str(sent["webhook_id"]))
    assert event["type"] == "message.received"
    assert event["connection_id"] == connection_id
    assert event["data"]["conversation"] == {"id": "general", "type": "channel"}
    assert event["data"]["text"] == "Hello, gateway!"
    assert event["data"]["sender"]["name"] == "Developer"

    result = await _reply(http, tenant, event["id"], "Hello, developer!")
    assert result["ok"] is True, result
    assert result["output"]["thread_id"] == event["data"]["message_id"]

    listed = await http.get(
        "/sandbox/api/messages", params={"conversation": "general"}, headers=tenant.headers
    )
    messages = listed.json()["data"]
    assert [(m["sender"]["kind"], m["text"]) for m in messages] == [
        ("app", "Hello, developer!"),
        ("user", "Hello, gateway!"),
    ]
    assert messages[0]["sender"]["id"] == connection["account"]["bot_user_id"]


async def test_sandbox_data_is_tenant_scoped(
    http: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    connection_id = await connect(http, tenant)
    endpoint_id = await _endpoint(http, tenant, connection_id)
    await _simulate(http, tenant, endpoint_id, "private words")
    foreign = await http.post(
        "/sandbox/api/simulate",
        json={"endpoint_id": endpoint_id, "conversation": "general", "text": "hi"},
        headers=other_tenant.headers,
    )
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "webhook_endpoint_not_found"
    seen = await http.get("/sandbox/api/messages", headers=other_tenant.headers)
    assert "private words" not in seen.text
    anonymous = await http.get("/sandbox/api/messages")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


async def test_simulate_refuses_endpoints_of_other_platforms(
    http: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    created = await http.post(
        "/v1/webhook-endpoints",
        json={"provider": "github", "config": {"secret": "s3cret"}},
        headers=tenant.headers,
    )
    sent = await http.post(
        "/sandbox/api/simulate",
        json={"endpoint_id": created.json()["id"], "conversation": "general", "text": "hi"},
        headers=tenant.headers,
    )
    assert sent.status_code == 422
    assert sent.json()["code"] == "endpoint_not_sandbox"


async def test_an_expired_access_token_is_refreshed_once_and_the_reply_goes_through(
    http: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    connection_id = await connect(http, tenant)
    endpoint_id = await _endpoint(http, tenant, connection_id)
    sent = await _simulate(http, tenant, endpoint_id, "still there?")
    event = await wait_for_event(http, tenant, endpoint_id, str(sent["webhook_id"]))
    await _expire_access_tokens(runtime, tenant.tenant.id)

    result = await _reply(http, tenant, event["id"], "yes")
    assert result["ok"] is True, result
    assert result["attempts"] == 2  # 401 token_expired, refresh, retry
    connection = (await http.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["last_refreshed_at"] is not None
    async with store_of(runtime).sessionmaker() as session:
        refresh_rows = (
            await session.execute(
                sa.select(SandboxToken).where(
                    col(SandboxToken.tenant_id) == tenant.tenant.id,
                    col(SandboxToken.kind) == "refresh",
                )
            )
        ).scalars()
        rotated = [row.rotated_at is not None for row in refresh_rows]
    assert sorted(rotated) == [False, True]  # the old refresh token was used once, a new one issued


async def test_a_revoked_authorization_puts_the_connection_in_needs_reauth(
    http: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    connection_id = await connect(http, tenant)
    endpoint_id = await _endpoint(http, tenant, connection_id)
    sent = await _simulate(http, tenant, endpoint_id, "anyone?")
    event = await wait_for_event(http, tenant, endpoint_id, str(sent["webhook_id"]))
    async with store_of(runtime).sessionmaker() as session:
        await session.execute(
            sa.update(SandboxGrant)
            .where(col(SandboxGrant.tenant_id) == tenant.tenant.id)
            .values(revoked_at=utcnow(), revoked_reason="revoked")
        )
        await session.commit()
    answer = await http.post(
        "/v1/tools/message.reply/invoke",
        json={"parameters": {"event_id": event["id"], "text": "hello?"}},
        headers=tenant.headers,
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["ok"] is False
    assert result["error"]["code"] == "connection_needs_reauth"  # the refresh was refused
    connection = (await http.get(f"/v1/connections/{connection_id}", headers=tenant.headers)).json()
    assert connection["status"] == "needs_reauth"


async def test_disconnect_revokes_the_authorization_at_the_sandbox(
    http: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    connection_id = await connect(http, tenant)
    deleted = await http.delete(f"/v1/connections/{connection_id}", headers=tenant.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["revocation"] == "revoked"
    async with store_of(runtime).sessionmaker() as session:
        grants = (
            await session.execute(
                sa.select(SandboxGrant).where(col(SandboxGrant.tenant_id) == tenant.tenant.id)
            )
        ).scalars()
        assert [g.revoked_reason for g in grants] == ["revoked"]
