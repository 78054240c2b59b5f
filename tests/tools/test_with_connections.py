"""Built-in tools with connections created through the connect domain's own API and code
(``POST /v1/connections`` + ``gateway.connections.credentials``), not a stand-in."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import TenantCtx
from tests.tools.support import invoke, platform_mock

DINGTALK_TOKEN = r"https://api\.dingtalk\.com/v1\.0/oauth2/accessToken"
DINGTALK_SEND = r"https://api\.dingtalk\.com/v1\.0/robot/groupMessages/send"
TELEGRAM_GET_ME = r"https://api\.telegram\.org/bot[^/]+/getMe"
TELEGRAM_SEND = r"https://api\.telegram\.org/bot[^/]+/sendMessage"
BOT_TOKEN = "4242:AAF-real-connection-bot-token"


async def _connect(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, **credentials: object
) -> str:
    response = await client.post(
        "/v1/connections",
        json={"provider": provider, "credentials": credentials},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["id"]
    return connection_id


@dataclass(frozen=True)
class AppPlatform:
    provider: str
    credentials: dict[str, object]
    token_method: str
    token_url: str
    token_answers: tuple[dict[str, object], dict[str, object]]
    send_url: str
    params: dict[str, object]
    expired: httpx.Response
    sent: httpx.Response

    def carries(self, request: httpx.Request, token: str) -> bool:
        return token in str(request.url) or token in request.headers.get(
            "x-acs-dingtalk-access-token", request.headers.get("authorization", "")
        )


APP_PLATFORMS = (
    AppPlatform(
        "dingtalk",
        {"app_key": "dingkey", "app_secret": "ding-secret-value", "robot_code": "dingrobot"},
        "POST",
        DINGTALK_TOKEN,
        (
            {"accessToken": "app-first-token", "expireIn": 7200},
            {"accessToken": "app-second-token", "expireIn": 7200},
        ),
        DINGTALK_SEND,
        {"open_conversation_id": "cid9==", "text": "hello"},
        httpx.Response(401, json={"code": "InvalidAuthentication", "message": "expired"}),
        httpx.Response(200, json={"processQueryKey": "q-9"}),
    ),
    AppPlatform(
        "wecom",
        {"corp_id": "ww1436e0e65a779aee", "corp_secret": "wecom-secret-value", "agent_id": 1000002},
        "GET",
        r"https://qyapi\.weixin\.qq\.com/cgi-bin/gettoken\?.*",
        (
            {"errcode": 0, "access_token": "app-first-token", "expires_in": 7200},
            {"errcode": 0, "access_token": "app-second-token", "expires_in": 7200},
        ),
        r"https://qyapi\.weixin\.qq\.com/cgi-bin/message/send\?.*",
        {"touser": ["zhangsan"], "text": "hello"},
        httpx.Response(200, json={"errcode": 42001, "errmsg": "access_token expired"}),
        httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "msgid": "m1"}),
    ),
    AppPlatform(
        "lark",
        {"app_id": "cli_a1b2c3", "app_secret": "lark-secret-value"},
        "POST",
        r"https://open\.feishu\.cn/open-apis/auth/v3/tenant_access_token/internal",
        (
            {"code": 0, "tenant_access_token": "app-first-token", "expire": 7200},
            {"code": 0, "tenant_access_token": "app-second-token", "expire": 7200},
        ),
        r"https://open\.feishu\.cn/open-apis/im/v1/messages\?receive_id_type=chat_id",
        {"receive_id": "oc_abc", "text": "hello"},
        httpx.Response(400, json={"code": 99991663, "msg": "Invalid access token"}),
        httpx.Response(200, json={"code": 0, "data": {"message_id": "om_1"}}),
    ),
)


@pytest.mark.parametrize("platform", APP_PLATFORMS, ids=lambda p: p.provider)
async def test_expired_app_token_is_refetched_by_the_connect_domain_then_sent(
    platform: AppPlatform, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    with platform_mock() as mock:
        token_route = mock.route(method=platform.token_method, url__regex=platform.token_url).mock(
            side_effect=[httpx.Response(200, json=answer) for answer in platform.token_answers]
        )
        connection_id = await _connect(client, tenant, platform.provider, **platform.credentials)
        send = mock.post(url__regex=platform.send_url).mock(
            side_effect=[platform.expired, platform.sent]
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
    assert token_route.call_count == 2  # created, then renewed once after the rejection
    first, second = (call.request for call in send.calls)
    assert platform.carries(first, "app-first-token")
    assert platform.carries(second, "app-second-token")
    if platform.provider == "dingtalk":
        assert json.loads(second.content)["robotCode"] == "dingrobot"  # from the connection
    assert "app-second-token" not in response.text


async def test_revoked_bot_token_marks_the_connection_needs_reauth(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    with platform_mock() as mock:
        mock.get(url__regex=TELEGRAM_GET_ME).respond(
            json={"ok": True, "result": {"id": 4242, "is_bot": True, "username": "gw_bot"}}
        )
        connection_id = await _connect(client, tenant, "telegram", bot_token=BOT_TOKEN)
        mock.post(url__regex=TELEGRAM_SEND).respond(
            401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
        )
        response = await invoke(
            client,
            tenant.headers,
            "telegram.send_message",
            {"chat_id": 5, "text": "hi"},
            connection_id=connection_id,
        )
        again = await invoke(
            client,
            tenant.headers,
            "telegram.send_message",
            {"chat_id": 5, "text": "hi"},
            connection_id=connection_id,
        )
    assert response.json()["error"]["code"] == "provider_auth_revoked"
    connection = await client.get(f"/v1/connections/{connection_id}", headers=tenant.headers)
    assert connection.json()["status"] == "needs_reauth"
    assert (again.status_code, again.json()["code"]) == (409, "connection_needs_reauth")
    log = await client.get(
        "/v1/invocations", params={"tool": "telegram.send_message"}, headers=tenant.headers
    )
    assert BOT_TOKEN not in log.text
    assert BOT_TOKEN not in response.text


async def test_another_tenants_connection_is_not_found(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    with platform_mock() as mock:
        mock.get(url__regex=TELEGRAM_GET_ME).respond(
            json={"ok": True, "result": {"id": 1, "is_bot": True, "username": "b"}}
        )
        theirs = await _connect(client, other_tenant, "telegram", bot_token=BOT_TOKEN)
    response = await invoke(
        client,
        tenant.headers,
        "telegram.send_message",
        {"chat_id": 5, "text": "hi"},
        connection_id=theirs,
    )
    assert (response.status_code, response.json()["code"]) == (404, "connection_not_found")
