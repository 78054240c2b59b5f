import httpx
import pytest

from gateway.providers.telegram.tools import TOOLS
from gateway.providers.tools import (
    ProviderAuthRevoked,
    ProviderCallError,
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderUnavailable,
    ToolOutput,
    classify_transport_error,
    redact_url,
)

from .support import credentials, invoke, sent_json

(SEND,) = TOOLS
TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
CREDS = credentials(TOKEN)
PARAMS = {"chat_id": -1001234567890, "text": "hello"}


def assert_token_hidden(*values: object) -> None:
    for value in values:
        assert TOKEN not in str(value)
        assert TOKEN not in repr(value)
        assert "ABC-DEF1234" not in str(value)


async def test_sends_reply_in_topic_with_token_in_path(respx_mock):
    message = {"message_id": 7, "chat": {"id": -1001234567890}, "text": "hello"}
    route = respx_mock.post(URL).respond(200, json={"ok": True, "result": message})

    output = await invoke(SEND, {**PARAMS, "reply_to_message_id": 5, "message_thread_id": 3}, CREDS)

    assert sent_json(route) == {
        "chat_id": -1001234567890,
        "text": "hello",
        "message_thread_id": 3,
        "reply_parameters": {"message_id": 5, "allow_sending_without_reply": True},
    }
    assert "authorization" not in route.calls.last.request.headers
    assert output == ToolOutput(200, message)
    assert_token_hidden(output)


async def test_flood_control_uses_parameters_retry_after(respx_mock):
    respx_mock.post(URL).respond(
        429,
        json={
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 17",
            "parameters": {"retry_after": 17},
        },
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.retry_after == 17
    assert_token_hidden(caught.value)


async def test_unauthorized_bot_token_needs_reauth(respx_mock):
    # Bot tokens do not expire and cannot be refreshed: 401 means revoked in @BotFather.
    respx_mock.post(URL).respond(
        401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
    )
    with pytest.raises(ProviderAuthRevoked) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.platform_code == "401"
    assert_token_hidden(caught.value, caught.value.extra)


async def test_bad_request_surfaces_code_and_description(respx_mock):
    respx_mock.post(URL).respond(
        400, json={"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    error = caught.value
    assert (error.platform_code, error.platform_message) == ("400", "Bad Request: chat not found")
    assert_token_hidden(error)


async def test_group_upgraded_to_supergroup_reports_new_chat_id(respx_mock):
    respx_mock.post(URL).respond(
        400,
        json={
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -1009876543210},
        },
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.extra["migrate_to_chat_id"] == -1009876543210


async def test_token_echoed_by_the_platform_is_scrubbed(respx_mock):
    respx_mock.post(URL).respond(
        400, json={"ok": False, "error_code": 400, "description": f"bad token {TOKEN}"}
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert_token_hidden(caught.value, caught.value.extra, caught.value.platform_message)


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.ConnectError])
async def test_transport_errors_never_carry_the_token(respx_mock, failure):
    respx_mock.post(URL).mock(side_effect=failure)
    with pytest.raises(ProviderUnavailable) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert_token_hidden(caught.value, caught.value.extra, caught.value.message)


async def test_real_connection_refused_on_loopback_never_carries_the_token():
    creds = credentials(TOKEN, base_url="http://127.0.0.1:1")
    request = SEND.build_request(PARAMS, creds)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.send(request)
    error = classify_transport_error(caught.value, provider="telegram")
    assert isinstance(error, ProviderUnavailable)
    assert not error.delivery_uncertain
    assert_token_hidden(error, error.extra)


def test_logged_url_omits_the_token():
    request = SEND.build_request(PARAMS, CREDS)
    assert TOKEN in str(request.url)  # the wire needs it ...
    assert redact_url(request.url) == "https://api.telegram.org/bot***/sendMessage"  # ... logs not


def test_malformed_token_is_refused_without_echoing_it():
    bad = "not a token/../x"
    with pytest.raises(ProviderAuthRevoked) as caught:
        SEND.build_request(PARAMS, credentials(bad))
    assert bad not in str(caught.value)
    assert bad not in repr(caught.value)


def test_credentials_repr_hides_the_token():
    assert_token_hidden(CREDS)


def test_provider_errors_are_gateway_errors():
    assert issubclass(ProviderAuthRevoked, ProviderCallError)
