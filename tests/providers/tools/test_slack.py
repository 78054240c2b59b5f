import httpx
import pytest

from gateway.providers.slack.tools import TOOLS
from gateway.providers.tools import (
    DEFAULT_RETRY_AFTER,
    ProviderAuthRevoked,
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolOutput,
)

from .support import credentials, invoke, sent_json

(SEND,) = TOOLS
URL = "https://slack.com/api/chat.postMessage"
CREDS = credentials("xoxb-17653672481-secret")
PARAMS = {"channel": "C0123", "text": "hello"}


async def test_posts_thread_reply_with_bearer_token(respx_mock):
    result = {"ok": True, "channel": "C0123", "ts": "1712345678.000200", "message": {}}
    route = respx_mock.post(URL).respond(200, json=result)

    output = await invoke(
        SEND, {**PARAMS, "thread_ts": "1712345678.000100", "reply_broadcast": True}, CREDS
    )

    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer xoxb-17653672481-secret"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert sent_json(route) == {
        "channel": "C0123",
        "text": "hello",
        "thread_ts": "1712345678.000100",
        "reply_broadcast": True,
    }
    assert output == ToolOutput(200, result)


async def test_http_429_honours_retry_after(respx_mock):
    respx_mock.post(URL).respond(
        429, headers={"Retry-After": "30"}, json={"ok": False, "error": "ratelimited"}
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.retry_after == 30
    assert caught.value.hinted
    assert caught.value.headers["Retry-After"] == "30"


async def test_ratelimited_body_without_header_uses_default_wait(respx_mock):
    respx_mock.post(URL).respond(200, json={"ok": False, "error": "ratelimited"})
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert (caught.value.retry_after, caught.value.hinted) == (DEFAULT_RETRY_AFTER, False)


@pytest.mark.parametrize("error", ["token_expired", "invalid_auth", "not_authed"])
async def test_expired_token_signals(respx_mock, error):
    respx_mock.post(URL).respond(200, json={"ok": False, "error": error})
    with pytest.raises(ProviderTokenExpired) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert error in str(caught.value)


async def test_revoked_token_needs_reauth_not_refresh(respx_mock):
    respx_mock.post(URL).respond(200, json={"ok": False, "error": "token_revoked"})
    with pytest.raises(ProviderAuthRevoked) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert isinstance(caught.value, ProviderPermanentError)
    assert caught.value.platform_code == "token_revoked"


async def test_ok_false_is_a_permanent_error_with_slack_code(respx_mock):
    respx_mock.post(URL).respond(
        200,
        json={
            "ok": False,
            "error": "channel_not_found",
            "response_metadata": {"messages": ["[ERROR] unknown channel"]},
        },
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    error = caught.value
    assert (error.platform_code, error.platform_message) == (
        "channel_not_found",
        "[ERROR] unknown channel",
    )
    assert error.upstream_status == 200
    assert error.status_code == 502  # rendered by the gateway as a bad-gateway problem
    assert "channel_not_found" in str(error)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"ok": False, "error": "internal_error"}),
        httpx.Response(503, text="<html>maintenance</html>"),
    ],
)
async def test_slack_side_failures_are_transient(respx_mock, response):
    respx_mock.post(URL).mock(return_value=response)
    with pytest.raises(ProviderUnavailable):
        await invoke(SEND, PARAMS, CREDS)
