"""Each platform's send through ``POST /v1/tools/{p}.send_message/invoke`` (respx mocks)."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.kit.runtime import Runtime
from tests.conftest import TenantCtx
from tests.tools.platforms import BY_PROVIDER, PLATFORMS, Platform, carries
from tests.tools.support import ToolEnv, invoke, make_connection, platform_mock

pytestmark = pytest.mark.usefixtures("tool_env")


async def _connect(runtime: Runtime, tenant: TenantCtx, platform: Platform, token: str) -> str:
    return await make_connection(
        runtime, tenant.tenant.id, platform.provider, token, account=platform.account
    )


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.provider)
async def test_send_succeeds_with_the_connection_token(
    platform: Platform, client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    token = platform.token("live")
    connection_id = await _connect(runtime, tenant, platform, token)
    with platform_mock() as mock:
        route = mock.post(url__regex=platform.url).mock(return_value=platform.success)
        response = await invoke(
            client,
            tenant.headers,
            f"{platform.provider}.send_message",
            platform.params,
            connection_id=connection_id,
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["ok"], result["attempts"], result["status_code"]) == (True, 1, 200)
    assert result["output"] is not None
    assert result["error"] is None
    assert result["invocation_id"].startswith("inv_")
    assert route.call_count == 1
    assert carries(route.calls.last.request, token)
    assert token not in response.text


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.provider)
async def test_rate_limited_then_success_after_the_platform_wait(
    platform: Platform,
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantCtx,
    tool_env: ToolEnv,
) -> None:
    connection_id = await _connect(runtime, tenant, platform, platform.token("live"))
    with platform_mock() as mock:
        route = mock.post(url__regex=platform.url).mock(
            side_effect=[platform.rate_limited, platform.success]
        )
        response = await invoke(
            client,
            tenant.headers,
            f"{platform.provider}.send_message",
            platform.params,
            connection_id=connection_id,
        )
    result = response.json()
    assert (result["ok"], result["attempts"]) == (True, 2), result
    assert route.call_count == 2
    # The first wait honours the platform's signal (never shorter, a little jitter on top).
    assert platform.retry_after <= tool_env.waits[0] <= platform.retry_after + 0.25


@pytest.mark.parametrize(
    "platform", [p for p in PLATFORMS if p.expired is not None], ids=lambda p: p.provider
)
async def test_expired_token_is_refreshed_once_then_the_send_succeeds(
    platform: Platform,
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantCtx,
    tool_env: ToolEnv,
) -> None:
    old, new = platform.token("old"), platform.token("new")
    connection_id = await _connect(runtime, tenant, platform, old)
    tool_env.credentials.next_tokens[connection_id] = new
    assert platform.expired is not None
    with platform_mock() as mock:
        route = mock.post(url__regex=platform.url).mock(
            side_effect=[platform.expired, platform.success]
        )
        response = await invoke(
            client,
            tenant.headers,
            f"{platform.provider}.send_message",
            platform.params,
            connection_id=connection_id,
        )
    result = response.json()
    assert (result["ok"], result["attempts"]) == (True, 2), result
    assert tool_env.credentials.refresh_calls == [(connection_id, old)]
    first, second = (call.request for call in route.calls)
    assert carries(first, old)
    assert carries(second, new)
    assert not carries(second, old)


async def test_expired_token_that_cannot_be_refreshed_is_a_needs_reauth_error(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    slack = BY_PROVIDER["slack"]
    connection_id = await _connect(runtime, tenant, slack, slack.token("old"))
    assert slack.expired is not None
    with platform_mock() as mock:
        route = mock.post(url__regex=slack.url).mock(return_value=slack.expired)
        response = await invoke(
            client, tenant.headers, "slack.send_message", slack.params, connection_id=connection_id
        )
    result = response.json()
    assert result["ok"] is False
    assert result["error"]["code"] == "connection_needs_reauth"
    assert (result["attempts"], route.call_count) == (1, 1)
    # The next call is refused before anything is sent.
    again = await invoke(
        client, tenant.headers, "slack.send_message", slack.params, connection_id=connection_id
    )
    assert (again.status_code, again.json()["code"]) == (409, "connection_needs_reauth")


async def test_telegram_401_means_revoked_and_is_not_refreshed(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    telegram = BY_PROVIDER["telegram"]
    token = telegram.token("live")
    connection_id = await _connect(runtime, tenant, telegram, token)
    revoked = httpx.Response(
        401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
    )
    with platform_mock() as mock:
        mock.post(url__regex=telegram.url).mock(return_value=revoked)
        response = await invoke(
            client,
            tenant.headers,
            "telegram.send_message",
            telegram.params,
            connection_id=connection_id,
        )
    error = response.json()["error"]
    assert (error["code"], error["platform_code"]) == ("provider_auth_revoked", "401")
    assert tool_env.credentials.refresh_calls == []
    assert tool_env.credentials.revoked == [(connection_id, "provider_auth_revoked")]
    assert token not in response.text


@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: p.provider)
async def test_permanent_error_surfaces_the_platform_code_without_retrying(
    platform: Platform,
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantCtx,
    tool_env: ToolEnv,
) -> None:
    connection_id = await _connect(runtime, tenant, platform, platform.token("live"))
    with platform_mock() as mock:
        route = mock.post(url__regex=platform.url).mock(return_value=platform.permanent)
        response = await invoke(
            client,
            tenant.headers,
            f"{platform.provider}.send_message",
            platform.params,
            connection_id=connection_id,
        )
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False
    assert result["error"]["code"] == "provider_rejected"
    assert result["error"]["platform_code"] == platform.platform_code
    assert result["status_code"] == platform.permanent.status_code
    assert result["output"] is not None  # the platform's error body, for the caller to read
    assert (result["attempts"], route.call_count, tool_env.waits) == (1, 1, [])


async def test_server_errors_are_retried_with_backoff_up_to_three_attempts(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    discord = BY_PROVIDER["discord"]
    connection_id = await _connect(runtime, tenant, discord, discord.token("live"))
    with platform_mock() as mock:
        route = mock.post(url__regex=discord.url).mock(
            side_effect=[httpx.Response(502), httpx.ConnectError("refused"), httpx.Response(503)]
        )
        response = await invoke(
            client,
            tenant.headers,
            "discord.send_message",
            discord.params,
            connection_id=connection_id,
        )
    result = response.json()
    assert result["ok"] is False
    assert result["error"]["code"] == "provider_unavailable"
    assert (result["attempts"], route.call_count) == (3, 3)
    # Exponential backoff with jitter: the second wait's range is above the first's.
    assert len(tool_env.waits) == 2
    assert 0.125 <= tool_env.waits[0] <= 0.25 < tool_env.waits[1] <= 0.5


async def test_a_wait_longer_than_the_bound_is_not_slept(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    slack = BY_PROVIDER["slack"]
    connection_id = await _connect(runtime, tenant, slack, slack.token("live"))
    limited = httpx.Response(
        429, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "120"}
    )
    with platform_mock() as mock:
        route = mock.post(url__regex=slack.url).mock(return_value=limited)
        response = await invoke(
            client, tenant.headers, "slack.send_message", slack.params, connection_id=connection_id
        )
    error = response.json()["error"]
    assert (error["code"], error["retry_after"]) == ("provider_rate_limited", 120)
    assert (route.call_count, tool_env.waits) == (1, [])


@pytest.mark.usefixtures("real_sleep")
async def test_retry_after_is_really_waited(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    discord = BY_PROVIDER["discord"]
    connection_id = await _connect(runtime, tenant, discord, discord.token("live"))
    limited = httpx.Response(
        429, json={"message": "slow down", "retry_after": 0.3, "global": False}
    )
    with platform_mock() as mock:
        mock.post(url__regex=discord.url).mock(side_effect=[limited, discord.success])
        started = time.perf_counter()
        response = await invoke(
            client,
            tenant.headers,
            "discord.send_message",
            discord.params,
            connection_id=connection_id,
        )
        elapsed = time.perf_counter() - started
    assert response.json()["ok"] is True
    assert 0.3 <= elapsed < 2.0


async def test_parameters_are_validated_against_the_schema_with_json_paths(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    connection_id = await _connect(runtime, tenant, BY_PROVIDER["slack"], "xoxb-1234567890")
    with platform_mock() as mock:
        route = mock.post(url__regex=r"https://slack\.com/.*")
        response = await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            {"channel": "", "thread_ts": "not-a-ts", "colour": "red"},
            connection_id=connection_id,
        )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_parameters"
    paths = sorted(e["path"] for e in body["errors"])
    assert paths == ["/", "/", "/channel", "/thread_ts"]  # missing text, extra colour, 2 fields
    assert route.call_count == 0


@pytest.mark.parametrize(
    ("connection", "status", "code"),
    [
        (None, 422, "connection_required"),
        ("con_doesnotexist", 404, "connection_not_found"),
        ("discord", 422, "connection_provider_mismatch"),
        ("other-tenant", 404, "connection_not_found"),
    ],
)
async def test_the_connection_must_be_the_tenants_and_the_platforms(
    connection: str | None,
    status: int,
    code: str,
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: TenantCtx,
    other_tenant: TenantCtx,
) -> None:
    connection_id = connection
    if connection == "discord":
        connection_id = await make_connection(runtime, tenant.tenant.id, "discord", "bot-token-1")
    elif connection == "other-tenant":
        connection_id = await make_connection(
            runtime, other_tenant.tenant.id, "slack", "xoxb-xxxxxxxx"
        )
    with platform_mock() as mock:
        route = mock.post(url__regex=r"https://slack\.com/.*")
        response = await invoke(
            client,
            tenant.headers,
            "slack.send_message",
            {"channel": "C1", "text": "x"},
            connection_id=connection_id,
        )
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert route.call_count == 0


async def test_unknown_tool_is_404(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    response = await invoke(client, tenant.headers, "nope.send", {})
    assert (response.status_code, response.json()["code"]) == (404, "tool_not_found")


async def test_llm_spelling_of_the_name_invokes_the_same_tool(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    slack = BY_PROVIDER["slack"]
    connection_id = await _connect(runtime, tenant, slack, slack.token("live"))
    with platform_mock() as mock:
        route = mock.post(url__regex=slack.url).mock(return_value=slack.success)
        response = await invoke(
            client, tenant.headers, "slack__send_message", slack.params, connection_id=connection_id
        )
    assert response.json()["ok"] is True
    assert route.call_count == 1
