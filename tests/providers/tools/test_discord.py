import httpx
import pytest

from gateway.providers.discord.tools import TOOLS
from gateway.providers.tools import (
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolOutput,
)

from .support import credentials, invoke, sent_json

(SEND,) = TOOLS
URL = "https://discord.com/api/v10/channels/123456789012345678/messages"
CREDS = credentials("MTAx.bot-secret")
PARAMS = {"channel_id": "123456789012345678", "text": "hello"}


async def test_posts_reply_with_bot_token_and_user_agent(respx_mock):
    message = {"id": "223456789012345678", "channel_id": "123456789012345678"}
    route = respx_mock.post(URL).respond(200, json=message)

    output = await invoke(SEND, {**PARAMS, "reply_to_message_id": "99"}, CREDS)

    request = route.calls.last.request
    assert request.headers["authorization"] == "Bot MTAx.bot-secret"
    assert request.headers["user-agent"].startswith("DiscordBot (")
    assert sent_json(route) == {
        "content": "hello",
        "message_reference": {"message_id": "99", "fail_if_not_exists": False},
    }
    assert output == ToolOutput(200, message)


async def test_plain_message_has_no_reference(respx_mock):
    route = respx_mock.post(URL).respond(200, json={"id": "1"})
    await invoke(SEND, PARAMS, CREDS)
    assert sent_json(route) == {"content": "hello"}


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (
            {"Retry-After": "65"},
            {"message": "You are being rate limited.", "retry_after": 64.57},
            65,
        ),
        ({}, {"message": "You are being rate limited.", "retry_after": 1.5, "global": True}, 1.5),
        ({"X-RateLimit-Reset-After": "2.25"}, {}, 2.25),
    ],
)
async def test_429_wait_from_header_body_or_reset_after(respx_mock, headers, body, expected):
    respx_mock.post(URL).respond(429, headers=headers, json=body)
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.retry_after == expected
    assert caught.value.hinted


async def test_global_rate_limit_is_reported(respx_mock):
    respx_mock.post(URL).respond(
        429,
        headers={"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"},
        json={"message": "You are being rate limited.", "retry_after": 3, "global": True},
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.extra["global"] is True
    assert caught.value.extra["scope"] == "global"


async def test_401_is_token_expired(respx_mock):
    respx_mock.post(URL).respond(401, json={"message": "401: Unauthorized", "code": 0})
    with pytest.raises(ProviderTokenExpired):
        await invoke(SEND, PARAMS, CREDS)


async def test_4xx_surfaces_discord_code_message_and_field_errors(respx_mock):
    errors = {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "too long"}]}}
    respx_mock.post(URL).respond(
        400, json={"code": 50035, "message": "Invalid Form Body", "errors": errors}
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    error = caught.value
    assert (error.platform_code, error.platform_message) == ("50035", "Invalid Form Body")
    assert error.upstream_status == 400
    assert error.extra["errors"] == errors


async def test_missing_permissions_is_permanent(respx_mock):
    respx_mock.post(URL).respond(403, json={"code": 50013, "message": "Missing Permissions"})
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.platform_code == "50013"


async def test_cloudflare_html_502_is_transient(respx_mock):
    respx_mock.post(URL).mock(return_value=httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(ProviderUnavailable):
        await invoke(SEND, PARAMS, CREDS)
