"""``message.reply``: a stored event from each platform is answered in place, with its
connection."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.kit.crypto import FieldContext
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import WebhookEndpoint
from tests.conftest import TenantCtx
from tests.tools.platforms import BY_PROVIDER, carries
from tests.tools.support import ToolEnv, invoke, make_connection, make_event, platform_mock

pytestmark = pytest.mark.usefixtures("tool_env")

NOW_MS = int(time.time() * 1000)


@dataclass(frozen=True)
class StoredEvent:
    provider: str
    data: dict[str, Any]
    raw: dict[str, Any]
    url: str  # regex of the call the reply must make
    sent: dict[str, Any]  # fields the platform must receive


EVENTS = (
    StoredEvent(
        "slack",
        {"conversation": {"id": "C42", "type": "channel"}, "message_id": "1700000000.000100"},
        {"event": {"type": "message", "channel": "C42", "ts": "1700000000.000100"}},
        r"https://slack\.com/api/chat\.postMessage",
        {"channel": "C42", "thread_ts": "1700000000.000100", "text": "on it"},
    ),
    StoredEvent(
        "discord",
        {"conversation": {"id": "111"}, "message_id": "222"},
        {"type": 2, "id": "999", "channel_id": "111"},
        r"https://discord\.com/api/v10/channels/111/messages",
        {
            "content": "on it",
            "message_reference": {"message_id": "222", "fail_if_not_exists": False},
        },
    ),
    StoredEvent(
        "telegram",
        {"conversation": {"id": "-1001234567890", "type": "group"}, "message_id": "42"},
        {"update_id": 7, "message": {"message_id": 42, "chat": {"id": -1001234567890}}},
        r"https://api\.telegram\.org/bot[^/]+/sendMessage",
        {"chat_id": -1001234567890, "text": "on it"},
    ),
    StoredEvent(
        "lark",
        {"conversation": {"id": "oc_1", "type": "group"}, "message_id": "om_1"},
        {"event": {"message": {"message_id": "om_1", "chat_id": "oc_1"}}},
        r"https://open\.feishu\.cn/open-apis/im/v1/messages/om_1/reply",
        {"msg_type": "text", "content": '{"text":"on it"}'},
    ),
    StoredEvent(
        "dingtalk",
        {"conversation": {"id": "cidAbC==", "type": "group"}},
        {
            "conversationId": "cidAbC==",
            "conversationType": "2",
            "robotCode": "dingrobot",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=s3cr3t",
            "sessionWebhookExpiredTime": NOW_MS + 3_600_000,
        },
        r"https://oapi\.dingtalk\.com/robot/sendBySession\?session=s3cr3t",
        {"msgtype": "text", "text": {"content": "on it"}},
    ),
    StoredEvent(
        "wecom",
        {"conversation": {"id": "zhangsan", "type": "direct"}, "sender": {"id": "zhangsan"}},
        {"FromUserName": "zhangsan", "MsgType": "text"},
        r"https://qyapi\.weixin\.qq\.com/cgi-bin/message/send\?access_token=.+",
        {"touser": "zhangsan", "agentid": 1000002, "text": {"content": "on it"}},
    ),
)

SUCCESS = {
    "slack": {"ok": True, "ts": "1.2"},
    "discord": {"id": "1"},
    "telegram": {"ok": True, "result": {"message_id": 1}},
    "lark": {"code": 0, "data": {"message_id": "om_2"}},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "wecom": {"errcode": 0, "errmsg": "ok"},
}


@pytest.mark.parametrize("stored", EVENTS, ids=lambda e: e.provider)
async def test_reply_answers_in_the_same_conversation_with_the_events_connection(
    stored: StoredEvent, client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    token = BY_PROVIDER[stored.provider].token("reply")
    account = BY_PROVIDER[stored.provider].account
    connection_id = await make_connection(
        runtime, tenant.tenant.id, stored.provider, token, account=account
    )
    event_id = await make_event(
        runtime,
        tenant.tenant.id,
        stored.provider,
        data=stored.data,
        raw=stored.raw,
        connection_id=connection_id,
    )
    with platform_mock() as mock:
        route = mock.post(url__regex=stored.url).respond(json=SUCCESS[stored.provider])
        response = await invoke(
            client, tenant.headers, "message.reply", {"event_id": event_id, "text": "on it"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["ok"] is True, response.json()
    assert route.call_count == 1
    request = route.calls.last.request
    sent = json.loads(request.content)
    assert {k: sent.get(k) for k in stored.sent} == stored.sent
    if stored.provider != "dingtalk":  # a session webhook carries its own credential
        assert carries(request, token)
    log = await client.get(
        f"/v1/invocations/{response.json()['invocation_id']}", headers=tenant.headers
    )
    entry = log.json()
    assert (entry["tool"], entry["connection_id"], entry["outcome"]) == (
        "message.reply",
        connection_id,
        "ok",
    )
    assert "s3cr3t" not in log.text
    assert token not in log.text


async def test_reply_uses_the_receiving_endpoints_connection_or_the_one_given(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> None:
    tenant_id = tenant.tenant.id
    via_endpoint = await make_connection(runtime, tenant_id, "slack", "xoxb-endpoint-1234")
    chosen = await make_connection(runtime, tenant_id, "slack", "xoxb-chosen-56789")
    endpoint_id = new_id("whe")
    async with runtime.sessionmaker() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id,
                tenant_id=tenant_id,
                provider="slack",
                connection_id=via_endpoint,
                config_enc=runtime.keyring.encrypt(
                    "{}", FieldContext("webhook_endpoints", "config_enc", endpoint_id, tenant_id)
                ),
            )
        )
        await session.commit()
    stored = EVENTS[0]
    event_id = await make_event(
        runtime, tenant_id, "slack", data=stored.data, raw=stored.raw, endpoint_id=endpoint_id
    )
    with platform_mock() as mock:
        route = mock.post(url__regex=stored.url).respond(json=SUCCESS["slack"])
        await invoke(client, tenant.headers, "message.reply", {"event_id": event_id, "text": "a"})
        await invoke(
            client,
            tenant.headers,
            "message.reply",
            {"event_id": event_id, "text": "b", "connection_id": chosen},
        )
    first, second = (call.request for call in route.calls)
    assert carries(first, "xoxb-endpoint-1234")
    assert carries(second, "xoxb-chosen-56789")


async def test_reply_to_another_tenants_event_is_404(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    stored = EVENTS[0]
    connection_id = await make_connection(
        runtime, other_tenant.tenant.id, "slack", "xoxb-other-123"
    )
    event_id = await make_event(
        runtime,
        other_tenant.tenant.id,
        "slack",
        data=stored.data,
        raw=stored.raw,
        connection_id=connection_id,
    )
    with platform_mock() as mock:
        route = mock.post(url__regex=stored.url)
        response = await invoke(
            client, tenant.headers, "message.reply", {"event_id": event_id, "text": "x"}
        )
    assert (response.status_code, response.json()["code"]) == (404, "event_not_found")
    assert route.call_count == 0


async def test_reply_to_an_event_without_a_conversation_or_connection_is_422(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx, tool_env: ToolEnv
) -> None:
    github = await make_event(
        runtime, tenant.tenant.id, "github", data={"conversation": {"id": "r"}}, raw={}
    )
    response = await invoke(
        client, tenant.headers, "message.reply", {"event_id": github, "text": "x"}
    )
    assert (response.status_code, response.json()["code"]) == (422, "event_not_replyable")

    orphan = await make_event(
        runtime, tenant.tenant.id, "slack", data=EVENTS[0].data, raw=EVENTS[0].raw
    )
    response = await invoke(
        client, tenant.headers, "message.reply", {"event_id": orphan, "text": "x"}
    )
    assert (response.status_code, response.json()["code"]) == (422, "connection_required")
