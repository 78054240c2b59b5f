"""``Idempotency-Key``: one platform call per key and body, whatever the retries."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest

from gateway.kit.runtime import Runtime
from tests.conftest import TenantCtx
from tests.tools.mock_api import Recorded, Reply, mock_api
from tests.tools.platforms import BY_PROVIDER
from tests.tools.support import create_toolset, invoke, make_connection, platform_mock

pytestmark = pytest.mark.usefixtures("tool_env")


async def test_same_key_and_body_returns_the_stored_result_without_calling_again(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    slack = BY_PROVIDER["slack"]
    connection_id = await make_connection(runtime, tenant.tenant.id, "slack", slack.token("k"))
    key = secrets.token_hex(8)
    with platform_mock() as mock:
        route = mock.post(url__regex=slack.url).mock(return_value=slack.success)
        first = await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            slack.params,
            connection_id=connection_id,
            idempotency_key=key,
        )
        second = await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            slack.params,
            connection_id=connection_id,
            idempotency_key=key,
        )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()  # same invocation id, output, duration
    assert route.call_count == 1
    log = await client.get(
        "/v1/invocations", params={"tool": "slack.send_message"}, headers=tenant.headers
    )
    assert [e["idempotency_key"] for e in log.json()["data"]] == [key]


async def test_same_key_with_a_different_body_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    slack = BY_PROVIDER["slack"]
    connection_id = await make_connection(runtime, tenant.tenant.id, "slack", slack.token("k"))
    key = secrets.token_hex(8)
    with platform_mock() as mock:
        route = mock.post(url__regex=slack.url).mock(return_value=slack.success)
        await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            slack.params,
            connection_id=connection_id,
            idempotency_key=key,
        )
        other = await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            {**slack.params, "text": "something else"},
            connection_id=connection_id,
            idempotency_key=key,
        )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert route.call_count == 1


async def test_keys_are_per_tenant(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    slack = BY_PROVIDER["slack"]
    key = secrets.token_hex(8)
    with platform_mock() as mock:
        route = mock.post(url__regex=slack.url).mock(return_value=slack.success)
        for ctx in (tenant, other_tenant):
            connection_id = await make_connection(runtime, ctx.tenant.id, "slack", slack.token("k"))
            response = await invoke(
                client,
                ctx.headers,
                "slack.send_message",
                slack.params,
                connection_id=connection_id,
                idempotency_key=key,
            )
            assert response.json()["ok"] is True
    assert route.call_count == 2


async def test_a_refused_request_does_not_burn_the_key(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    slack = BY_PROVIDER["slack"]
    key = secrets.token_hex(8)
    missing = await invoke(
        client,
        tenant.headers,
        "slack.send_message",
        slack.params,
        connection_id="con_missing",
        idempotency_key=key,
    )
    assert missing.status_code == 404
    connection_id = await make_connection(runtime, tenant.tenant.id, "slack", slack.token("k"))
    with platform_mock() as mock:
        mock.post(url__regex=slack.url).mock(return_value=slack.success)
        # Same key, corrected body: a new request, not a replay of the 404 and not "reused".
        fixed = await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            slack.params,
            connection_id=connection_id,
            idempotency_key=key,
        )
    assert fixed.json()["ok"] is True


async def test_concurrent_retries_with_one_key_call_the_api_once(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async def slow(request: Recorded) -> Reply:
        await asyncio.sleep(0.3)
        return Reply(body={"id": 1})

    key = secrets.token_hex(8)
    async with mock_api(slow) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        name = f"{toolset['name']}.getTask"
        params = {"projectId": "OPS", "taskId": 1}
        responses = await asyncio.gather(
            *(invoke(client, tenant.headers, name, params, idempotency_key=key) for _ in range(5))
        )
        replay = await invoke(client, tenant.headers, name, params, idempotency_key=key)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409]
    conflicts = [r for r in responses if r.status_code == 409]
    assert {r.json()["code"] for r in conflicts} == {"idempotency_request_in_progress"}
    assert all(r.headers["retry-after"] == "1" for r in conflicts)
    assert len(api.requests) == 1
    winner = next(r for r in responses if r.status_code == 200)
    assert replay.json() == winner.json()


async def test_malformed_keys_are_refused(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    response = await invoke(
        client, tenant.headers, "slack.send_message", {}, idempotency_key="has spaces in it"
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_idempotency_key")
