"""``/v1/invocations``: what was called and how it went, never a credential."""

from __future__ import annotations

import httpx
import pytest

from gateway.kit.runtime import Runtime
from tests.conftest import TenantCtx
from tests.tools.mock_api import Recorded, Reply, mock_api
from tests.tools.platforms import BY_PROVIDER
from tests.tools.support import create_toolset, invoke, make_connection, platform_mock

pytestmark = pytest.mark.usefixtures("tool_env")

TELEGRAM_TOKEN = "987654:AAH-secret-telegram-token"
WECOM_TOKEN = "wecom-access-token-secret-42"
API_KEY = "tk_live_echoed_back_1234567890"


async def test_tokens_in_urls_headers_and_echoed_bodies_never_reach_the_log(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    telegram = await make_connection(runtime, tenant.tenant.id, "telegram", TELEGRAM_TOKEN)
    wecom = await make_connection(
        runtime, tenant.tenant.id, "wecom", WECOM_TOKEN, account={"agent_id": "1000002"}
    )
    with platform_mock() as mock:
        # A platform that echoes the request URL back, token included.
        mock.post(url__regex=BY_PROVIDER["telegram"].url).mock(
            side_effect=lambda request: httpx.Response(
                400,
                json={"ok": False, "error_code": 400, "description": f"bad {request.url}"},
            )
        )
        mock.post(url__regex=BY_PROVIDER["wecom"].url).respond(
            json={"errcode": 0, "errmsg": "ok", "msgid": "m1"}
        )
        sent = [
            await invoke(
                client,
                tenant.headers,
                "telegram.send_message",
                {"chat_id": 1, "text": "hi"},
                connection_id=telegram,
            ),
            await invoke(
                client,
                tenant.headers,
                "wecom.send_message",
                {"touser": ["u1"], "text": "hi"},
                connection_id=wecom,
            ),
        ]
    for response in sent:
        assert TELEGRAM_TOKEN not in response.text
        assert WECOM_TOKEN not in response.text
    listed = await client.get("/v1/invocations", headers=tenant.headers)
    assert listed.status_code == 200
    for secret in (TELEGRAM_TOKEN, WECOM_TOKEN, "AAH-secret"):
        assert secret not in listed.text
    entries = {e["tool"]: e for e in listed.json()["data"]}
    assert entries["telegram.send_message"]["request"]["target"] == (
        "https://api.telegram.org/bot***/sendMessage"
    )
    assert entries["wecom.send_message"]["request"]["target"] == (
        "https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=***"
    )
    failed = entries["telegram.send_message"]
    assert (failed["outcome"], failed["status_code"], failed["attempts"]) == ("error", 400, 1)
    assert failed["error"]["platform_code"] == "400"
    assert failed["connection_id"] == telegram
    assert "***" in failed["response"]["body"]


async def test_custom_tool_secrets_are_scrubbed_and_bodies_truncated(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    def echo(request: Recorded) -> Reply:
        return Reply(body={"you_sent": request.headers.get("x-api-key"), "pad": "z" * 5000})

    async with mock_api(echo) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=api.url,
            auth={"type": "api_key", "value": API_KEY},
        )
        response = await invoke(
            client, tenant.headers, f"{toolset['name']}.getTask", {"projectId": "OPS", "taskId": 9}
        )
    assert response.json()["output"]["you_sent"] == "***"  # scrubbed before it is returned
    entry = (
        await client.get(
            f"/v1/invocations/{response.json()['invocation_id']}", headers=tenant.headers
        )
    ).json()
    assert API_KEY not in str(entry)
    assert entry["toolset_id"] == toolset["id"]
    assert entry["request"] == {
        "method": "GET",
        "target": f"{api.url}/projects/OPS/tasks/9",
        "body": None,
    }
    body = entry["response"]["body"]
    assert body.startswith('{"you_sent": "***"')
    assert body.endswith("…[truncated]")
    assert len(body) <= 2048 + len("…[truncated]")
    assert entry["duration_ms"] > 0


async def test_log_is_per_tenant_filterable_and_paged(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    answers = iter([Reply(body={"n": 1}), Reply(404, {"nope": True}), Reply(body={"n": 3})])
    async with mock_api(lambda r: next(answers)) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        ids = [
            (await invoke(client, tenant.headers, f"{toolset['name']}.getHealth", {})).json()[
                "invocation_id"
            ]
            for _ in range(3)
        ]
    page = (await client.get("/v1/invocations?limit=2", headers=tenant.headers)).json()
    rest = (
        await client.get(
            f"/v1/invocations?limit=2&cursor={page['next_cursor']}", headers=tenant.headers
        )
    ).json()
    assert [e["id"] for e in page["data"] + rest["data"]] == ids[::-1]
    errors = (await client.get("/v1/invocations?outcome=error", headers=tenant.headers)).json()
    assert [e["id"] for e in errors["data"]] == [ids[1]]
    assert (await client.get("/v1/invocations", headers=other_tenant.headers)).json()["data"] == []
    foreign = await client.get(f"/v1/invocations/{ids[0]}", headers=other_tenant.headers)
    assert (foreign.status_code, foreign.json()["code"]) == (404, "invocation_not_found")
