"""Credential fetchers (DingTalk, WeCom, Lark, Telegram) and WeCom's code exchange, via respx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import respx
from pydantic import SecretStr

from gateway.providers.dingtalk.credentials import fetch_dingtalk_app_token
from gateway.providers.lark.credentials import fetch_lark_tenant_token
from gateway.providers.oauth import (
    InvalidCredentials,
    InvalidGrant,
    TokenEndpointUnavailable,
    TokenRequestRejected,
)
from gateway.providers.telegram.credentials import fetch_telegram_bot_identity
from gateway.providers.wecom.credentials import fetch_wecom_corp_token
from gateway.providers.wecom.oauth import CorpTokenRejected, exchange_wecom_code
from tests.providers.oauth.samples import (
    DINGTALK_APP_SUCCESS,
    LARK_TENANT_SUCCESS,
    NOW,
    WECOM_GETTOKEN_SUCCESS,
    WECOM_USERINFO_MEMBER,
)

DINGTALK_URL = "https://api.dingtalk.com/v1.0/oauth2/accessToken"
LARK_URL = "https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal"
WECOM_GETTOKEN = "https://qyapi.weixin.qq.com/cgi-bin/gettoken"
WECOM_USERINFO = "https://qyapi.weixin.qq.com/cgi-bin/auth/getuserinfo"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


# ------------------------------------------------------------------ DingTalk


async def test_dingtalk_app_token(respx_mock: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = respx_mock.post(DINGTALK_URL).respond(200, json=DINGTALK_APP_SUCCESS)
    tokens = await fetch_dingtalk_app_token(
        client, app_key="dingkey", app_secret=SecretStr("dingsecret"), now=NOW
    )
    assert json.loads(route.calls.last.request.content) == {
        "appKey": "dingkey",
        "appSecret": "dingsecret",
    }
    assert tokens.access_token == SecretStr("dt-app-access-token")
    assert tokens.expires_at == NOW + timedelta(seconds=7200)
    assert tokens.refresh_token is None
    assert tokens.account == {"app_key": "dingkey"}


async def test_dingtalk_invalid_credentials_carry_the_platform_reason(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    body = {"code": "invalidClientIdOrSecret", "message": "bad secret dingsecret", "requestid": "x"}
    respx_mock.post(DINGTALK_URL).respond(400, json=body)
    with pytest.raises(InvalidCredentials) as caught:
        await fetch_dingtalk_app_token(client, app_key="dingkey", app_secret="dingsecret")
    assert caught.value.reason == "invalidClientIdOrSecret bad secret ***"
    assert caught.value.status_code == 422
    assert "dingsecret" not in str(caught.value)


async def test_dingtalk_5xx_is_unavailable(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.post(DINGTALK_URL).respond(504, json={"code": "gatewayTimeout"})
    with pytest.raises(TokenEndpointUnavailable):
        await fetch_dingtalk_app_token(client, app_key="k", app_secret="s")


# ------------------------------------------------------------------ WeCom


async def test_wecom_corp_token(respx_mock: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = respx_mock.get(WECOM_GETTOKEN).respond(200, json=WECOM_GETTOKEN_SUCCESS)
    tokens = await fetch_wecom_corp_token(
        client, corp_id="ww1436e0e65a779aee", corp_secret="corp-secret", now=NOW
    )
    assert dict(route.calls.last.request.url.params) == {
        "corpid": "ww1436e0e65a779aee",
        "corpsecret": "corp-secret",
    }
    assert tokens.access_token == SecretStr("wecom-corp-access-token-xyz")
    assert tokens.expires_at == NOW + timedelta(hours=2)
    assert tokens.token_type == "corp"


async def test_wecom_40001_is_invalid_credentials(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    errmsg = "invalid credential, hint: [1700000000_1], corpsecret corp-secret is wrong"
    respx_mock.get(WECOM_GETTOKEN).respond(200, json={"errcode": 40001, "errmsg": errmsg})
    with pytest.raises(InvalidCredentials) as caught:
        await fetch_wecom_corp_token(client, corp_id="ww1", corp_secret="corp-secret")
    assert caught.value.reason.startswith("40001 invalid credential")
    assert "corp-secret" not in caught.value.reason


@pytest.mark.parametrize("errcode", [-1, 45009])
async def test_wecom_busy_or_rate_limited_is_unavailable(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, errcode: int
) -> None:
    respx_mock.get(WECOM_GETTOKEN).respond(200, json={"errcode": errcode, "errmsg": "busy"})
    with pytest.raises(TokenEndpointUnavailable):
        await fetch_wecom_corp_token(client, corp_id="ww1", corp_secret="s")


async def test_wecom_code_exchange_returns_an_identity_not_tokens(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = respx_mock.get(WECOM_USERINFO).respond(200, json=WECOM_USERINFO_MEMBER)
    identity = await exchange_wecom_code(client, corp_access_token="corp-at", code="CODE")
    assert dict(route.calls.last.request.url.params) == {"access_token": "corp-at", "code": "CODE"}
    assert identity.user_id == "USERID"
    assert identity.user_ticket == SecretStr("USER_TICKET")
    assert identity.as_account() == {"userid": "USERID"}
    assert "USER_TICKET" not in repr(identity)


async def test_wecom_non_member_identity(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    body = {"errcode": 0, "errmsg": "ok", "openid": "OPENID", "external_userid": "EXT"}
    respx_mock.get(WECOM_USERINFO).respond(200, json=body)
    identity = await exchange_wecom_code(client, corp_access_token="t", code="c")
    assert identity.as_account() == {"openid": "OPENID", "external_userid": "EXT"}


@pytest.mark.parametrize(
    ("errcode", "expected"),
    [
        (40029, InvalidGrant),
        (42001, CorpTokenRejected),
        (40014, CorpTokenRejected),
        (-1, TokenEndpointUnavailable),
        (50001, TokenRequestRejected),
    ],
)
async def test_wecom_code_exchange_errors(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, errcode: int, expected: type[Exception]
) -> None:
    respx_mock.get(WECOM_USERINFO).respond(200, json={"errcode": errcode, "errmsg": "x"})
    with pytest.raises(expected):
        await exchange_wecom_code(client, corp_access_token="t", code="c")


# ------------------------------------------------------------------ Lark


async def test_lark_tenant_token(respx_mock: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = respx_mock.post(LARK_URL).respond(200, json=LARK_TENANT_SUCCESS)
    tokens = await fetch_lark_tenant_token(client, app_id="cli_x", app_secret="lark-sec", now=NOW)
    assert json.loads(route.calls.last.request.content) == {
        "app_id": "cli_x",
        "app_secret": "lark-sec",
    }
    assert tokens.access_token.get_secret_value().startswith("t-")
    assert tokens.expires_at == NOW + timedelta(seconds=7200)  # from "expire", not "expires_in"


async def test_lark_nonzero_code_is_invalid_credentials(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.post(LARK_URL).respond(200, json={"code": 10014, "msg": "app secret invalid"})
    with pytest.raises(InvalidCredentials) as caught:
        await fetch_lark_tenant_token(client, app_id="cli_x", app_secret="lark-sec")
    assert caught.value.reason == "10014 app secret invalid"


async def test_lark_base_url_override(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    url = "https://open.larksuite.com/open-apis/auth/v3/tenant_access_token/internal"
    respx_mock.post(url).respond(200, json=LARK_TENANT_SUCCESS)
    await fetch_lark_tenant_token(
        client, app_id="a", app_secret="s", base_url="https://open.larksuite.com"
    )


# ------------------------------------------------------------------ Telegram


async def test_telegram_get_me(respx_mock: respx.MockRouter, client: httpx.AsyncClient) -> None:
    body = {
        "ok": True,
        "result": {"id": 123456789, "is_bot": True, "first_name": "Gate", "username": "gate_bot"},
    }
    respx_mock.get(f"https://api.telegram.org/bot{BOT_TOKEN}/getMe").respond(200, json=body)
    tokens = await fetch_telegram_bot_identity(client, bot_token=SecretStr(BOT_TOKEN))
    assert tokens.access_token == SecretStr(BOT_TOKEN)
    assert tokens.expires_at is None
    assert tokens.account == {"bot_id": "123456789", "username": "gate_bot", "first_name": "Gate"}


async def test_telegram_401_is_invalid_credentials(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
    respx_mock.get(f"https://api.telegram.org/bot{BOT_TOKEN}/getMe").respond(401, json=body)
    with pytest.raises(InvalidCredentials) as caught:
        await fetch_telegram_bot_identity(client, bot_token=BOT_TOKEN)
    assert caught.value.reason == "401 Unauthorized"


@pytest.mark.parametrize(
    "token", ["", "123", "123:short", "1:" + "a" * 30 + "/../x", "abc:" + "a" * 35]
)
async def test_telegram_malformed_token_is_refused_before_any_request(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, token: str
) -> None:
    with pytest.raises(InvalidCredentials, match="malformed"):
        await fetch_telegram_bot_identity(client, bot_token=token)
    assert not respx_mock.calls


async def test_telegram_transport_error_never_shows_the_token(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.get(f"https://api.telegram.org/bot{BOT_TOKEN}/getMe").mock(
        side_effect=httpx.ConnectTimeout(f"timeout for https://api.telegram.org/bot{BOT_TOKEN}")
    )
    with pytest.raises(TokenEndpointUnavailable) as caught:
        await fetch_telegram_bot_identity(client, bot_token=BOT_TOKEN)
    assert BOT_TOKEN not in str(caught.value)
    assert BOT_TOKEN not in repr(caught.value)
    assert caught.value.__cause__ is None
