"""The OpenAPI fixture imported as a toolset, then invoked with each auth kind against a
loopback API."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import pytest

from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from tests.conftest import TenantCtx
from tests.tools.mock_api import Recorded, Reply, mock_api
from tests.tools.support import (
    ToolEnv,
    create_toolset,
    fixture_text,
    invoke,
    make_connection,
    variant_app,
)

pytestmark = pytest.mark.usefixtures("tool_env")

API_KEY = "tk_live_9f8e7d6c5b4a39281706"
PASSWORD = "correct-horse-battery"


def task(request: Recorded) -> Reply:
    return Reply(body={"id": 7, "title": "Renew", "path": request.path})


async def test_api_key_in_header_from_security_schemes_with_path_query_and_header_params(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async with mock_api(lambda r: Reply(body={"data": [{"id": 1}]})) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=f"{api.url}/api/v1",
            auth={"type": "api_key", "value": API_KEY},
        )
        assert toolset["auth"] == {
            "type": "api_key",
            "in": "header",
            "name": "X-API-Key",
            "connection_id": None,
        }
        name = f"{toolset['name']}.listTasks"
        response = await invoke(
            client,
            tenant.headers,
            name,
            {
                "projectId": "OPS",
                "status": "open",
                "limit": 5,
                "tag": ["a b", "c"],
                "X-Request-Id": "req-1",
            },
        )
    result = response.json()
    assert (result["ok"], result["status_code"], result["output"]) == (
        True,
        200,
        {"data": [{"id": 1}]},
    )
    (sent,) = api.requests
    assert (sent.method, sent.path) == ("GET", "/api/v1/projects/OPS/tasks")
    assert sent.query == [("status", "open"), ("limit", "5"), ("tag", "a b"), ("tag", "c")]
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["x-request-id"] == "req-1"
    assert API_KEY not in response.text


async def test_api_key_in_query_and_a_json_body(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async with mock_api(task) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=f"{api.url}/api/v1",
            auth={"type": "api_key", "scheme": "ApiKeyQuery", "value": API_KEY},
        )
        body = {"title": "Renew the certificate", "labels": [{"name": "ops"}], "due_date": None}
        response = await invoke(
            client,
            tenant.headers,
            f"{toolset['name']}.createTask",
            {"projectId": "OPS", "body": body},
        )
        log = await client.get(
            f"/v1/invocations/{response.json()['invocation_id']}", headers=tenant.headers
        )
    assert response.json()["ok"] is True
    (sent,) = api.requests
    assert (sent.method, sent.path, sent.query) == (
        "POST",
        "/api/v1/projects/OPS/tasks",
        [("api_key", API_KEY)],
    )
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == body
    entry = log.json()
    assert entry["request"]["target"] == f"{api.url}/api/v1/projects/OPS/tasks"
    assert (
        entry["request"]["body"]
        == '{"title":"Renew the certificate","labels":[{"name":"ops"}],"due_date":null}'
    )
    assert API_KEY not in log.text


async def test_basic_auth_and_operations_without_security_get_no_credentials(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async with mock_api(task) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            openapi=fixture_text("tasks.yaml"),
            server_url=f"{api.url}/api/v1",
            auth={"type": "basic", "username": "bot", "password": PASSWORD},
        )
        got = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 7}
        )
        health = await invoke(client, tenant.headers, f"{toolset['name']}.getHealth", {})
    assert got.json()["ok"] is True
    assert health.json()["ok"] is True
    task_request, health_request = api.requests
    expected = base64.b64encode(f"bot:{PASSWORD}".encode()).decode()
    assert task_request.headers["authorization"] == f"Basic {expected}"
    assert "authorization" not in health_request.headers  # security: []


async def test_no_auth(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    async with mock_api(task) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=f"{api.url}/api/v1")
        response = await invoke(
            client,
            tenant.headers,
            f"{toolset['name']}.deleteTask",
            {"projectId": "OPS", "taskId": 1},
        )
    assert response.json()["ok"] is True
    (sent,) = api.requests
    assert (sent.method, sent.path) == ("DELETE", "/api/v1/projects/OPS/tasks/1")
    assert not {"authorization", "x-api-key"} & set(sent.headers)


async def test_oauth_connection_bearer_is_refreshed_after_a_401(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    old, new = "oauth-access-old-123456", "oauth-access-new-654321"
    connection_id = await make_connection(runtime, tenant.tenant.id, "tasks-oauth", old)
    tool_env.credentials.next_tokens[connection_id] = new

    def authorised(request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"Bearer {new}":
            return Reply(401, {"error": "invalid_token"})
        return task(request)

    async with mock_api(authorised) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=f"{api.url}/api/v1",
            auth={"type": "oauth_connection", "connection_id": connection_id},
        )
        response = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 7}
        )
    result = response.json()
    assert (result["ok"], result["attempts"]) == (True, 2), result
    assert [r.headers["authorization"] for r in api.requests] == [f"Bearer {old}", f"Bearer {new}"]
    assert tool_env.credentials.refresh_calls == [(connection_id, old)]


async def test_api_key_401_is_an_error_not_a_refresh(
    client: httpx.AsyncClient, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    async with mock_api(lambda r: Reply(401, {"error": "bad key"})) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=f"{api.url}/api/v1",
            auth={"type": "api_key", "value": API_KEY},
        )
        response = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 7}
        )
    result = response.json()
    assert result["error"]["platform_code"] == "http_401"
    assert result["output"] == {"error": "bad key"}
    assert (result["attempts"], len(api.requests), tool_env.credentials.refresh_calls) == (1, 1, [])


async def test_error_bodies_and_text_responses_are_returned(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    def answer(request: Recorded) -> Reply:
        if request.path.endswith("/404"):
            return Reply(404, {"code": "not_found", "message": "no task 404"})
        return Reply(200, "plain text, not JSON")

    async with mock_api(answer) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        missing = await invoke(
            client,
            tenant.headers,
            f"{toolset['name']}.getTask",
            {"projectId": "OPS", "taskId": 404},
        )
        text = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 1}
        )
    assert missing.json()["ok"] is False
    assert missing.json()["error"]["code"] == "provider_rejected"
    assert missing.json()["error"]["platform_code"] == "http_404"
    assert missing.json()["output"] == {"code": "not_found", "message": "no task 404"}
    assert text.json()["output"] == "plain text, not JSON"


async def test_server_errors_retry_then_succeed_honouring_retry_after(
    client: httpx.AsyncClient, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    answers = [Reply(503, {"busy": True}, {"Retry-After": "2"}), Reply(500), Reply(body={"ok": 1})]
    async with mock_api(lambda r: answers.pop(0)) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        response = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 1}
        )
    assert (response.json()["ok"], response.json()["attempts"], len(api.requests)) == (True, 3, 3)
    assert tool_env.waits[0] == 2.0  # the server's Retry-After
    assert 0.25 <= tool_env.waits[1] <= 0.5  # then exponential backoff


async def test_responses_over_10_mib_are_cut_off(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    huge = b"x" * (10 * 1024 * 1024 + 1)
    async with mock_api(lambda r: Reply(body=huge)) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        response = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 1}
        )
    result = response.json()
    assert result["ok"] is False
    assert result["error"]["code"] == "upstream_response_too_large"
    assert result["attempts"] == 1
    assert len(response.content) < 10_000


async def test_a_hanging_tool_times_out_and_does_not_block_other_calls(
    client: httpx.AsyncClient, tenant: TenantCtx, settings: Settings
) -> None:
    """F11: 45 calls hang (more than the pool holds: SQLite 15, PostgreSQL 40); other calls still
    complete at once, and the hung ones end at the configured timeout without a retry."""

    def answer(request: Recorded) -> Reply:
        return Reply(body={"slow": True}, delay=30.0) if "HANG" in request.path else task(request)

    async with mock_api(answer) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        name = f"{toolset['name']}.getTask"
        async with variant_app(settings, tool_timeout_seconds=4.0) as fast:
            started = time.perf_counter()
            hung = [
                asyncio.create_task(
                    invoke(fast, tenant.headers, name, {"projectId": "HANG", "taskId": i + 1})
                )
                for i in range(45)
            ]
            while len(api.requests) < 45 and time.perf_counter() - started < 3.0:
                await asyncio.sleep(0.05)  # every hung call has reached the API
            quick_started = time.perf_counter()
            quick = await invoke(fast, tenant.headers, name, {"projectId": "OPS", "taskId": 1})
            quick_elapsed = time.perf_counter() - quick_started
            results = [r.json() for r in await asyncio.gather(*hung)]
            total = time.perf_counter() - started
    assert len([r for r in api.requests if "HANG" in r.path]) == 45
    assert quick.json()["ok"] is True
    # Blocked behind the hung calls, it would have waited for their 4 s timeout.
    assert quick_elapsed < 2.0
    assert all(r["error"]["code"] == "provider_timeout" for r in results), results[0]
    assert all(r["attempts"] == 1 for r in results)
    assert 4.0 <= total < 10.0
