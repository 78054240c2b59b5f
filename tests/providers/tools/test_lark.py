import json

import httpx
import pytest

from gateway.kit.errors import ValidationFailed
from gateway.providers.lark.tools import TOOLS
from gateway.providers.tools import (
    DEFAULT_RETRY_AFTER,
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolOutput,
)

from .support import credentials, invoke, sent_json

(SEND,) = TOOLS
CREATE = "https://open.feishu.cn/open-apis/im/v1/messages"
REPLY = "https://open.feishu.cn/open-apis/im/v1/messages/om_dc13264520392913993dd051dba21dcf/reply"
CREDS = credentials("t-g1044qeGEDXTB6NDJOGV4JQCYDGHRBARFTGT1234")
PARAMS = {"text": '你好 "world"', "receive_id": "oc_5ad11d72b830411d72b836c20", "uuid": "u-1"}
OK = {"code": 0, "msg": "success", "data": {"message_id": "om_new"}}


async def test_creates_message_with_content_as_json_string(respx_mock):
    route = respx_mock.post(CREATE, params={"receive_id_type": "chat_id"}).respond(200, json=OK)

    output = await invoke(SEND, PARAMS, CREDS)

    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {CREDS.access_token.get_secret_value()}"
    assert request.url.params["receive_id_type"] == "chat_id"
    assert sent_json(route) == {
        "receive_id": "oc_5ad11d72b830411d72b836c20",
        "msg_type": "text",
        "content": '{"text":"你好 \\"world\\""}',
        "uuid": "u-1",
    }
    assert json.loads(sent_json(route)["content"]) == {"text": PARAMS["text"]}
    assert output == ToolOutput(200, {"message_id": "om_new"})


async def test_replies_in_thread_via_reply_endpoint(respx_mock):
    route = respx_mock.post(REPLY).respond(200, json=OK)
    params = {
        "text": "hi",
        "reply_to_message_id": "om_dc13264520392913993dd051dba21dcf",
        "reply_in_thread": True,
    }
    await invoke(SEND, params, CREDS)
    assert sent_json(route) == {
        "msg_type": "text",
        "content": '{"text":"hi"}',
        "reply_in_thread": True,
    }


@pytest.mark.parametrize(
    ("receive_id", "expected"),
    [("ou_7d8a6e6df7621556ce0d21922b676706ccs", "open_id"), ("a@example.com", "email")],
)
def test_receive_id_type_inferred_from_the_id(receive_id, expected):
    request = SEND.build_request({"text": "x", "receive_id": receive_id}, CREDS)
    assert request.url.params["receive_id_type"] == expected


def test_ambiguous_receive_id_needs_a_type():
    with pytest.raises(ValidationFailed):
        SEND.build_request({"text": "x", "receive_id": "5d9bdxxx"}, CREDS)
    request = SEND.build_request(
        {"text": "x", "receive_id": "5d9bdxxx", "receive_id_type": "user_id"}, CREDS
    )
    assert request.url.params["receive_id_type"] == "user_id"


@pytest.mark.parametrize("status", [429, 400])  # older Open APIs answer 400
async def test_frequency_limit_waits_for_ratelimit_reset(respx_mock, status):
    respx_mock.post(CREATE).respond(
        status,
        headers={"x-ogw-ratelimit-limit": "100", "x-ogw-ratelimit-reset": "52"},
        json={"code": 99991400, "msg": "request trigger frequency limit"},
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.retry_after == 52


async def test_per_chat_limit_without_header_uses_default_wait(respx_mock):
    respx_mock.post(CREATE).respond(400, json={"code": 230020, "msg": "rate limit"})
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert caught.value.retry_after == DEFAULT_RETRY_AFTER


@pytest.mark.parametrize("code", [99991663, 99991664, 99991665, 99991666, 99991668])
async def test_invalid_token_codes(respx_mock, code):
    respx_mock.post(CREATE).respond(400, json={"code": code, "msg": "Invalid access token"})
    with pytest.raises(ProviderTokenExpired):
        await invoke(SEND, PARAMS, CREDS)


async def test_other_codes_are_permanent_with_code_msg_and_log_id(respx_mock):
    respx_mock.post(CREATE).respond(
        400,
        json={
            "code": 230002,
            "msg": "The bot can not be outside the group.",
            "error": {"log_id": "20240101ABC"},
        },
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    error = caught.value
    assert (error.platform_code, error.platform_message) == (
        "230002",
        "The bot can not be outside the group.",
    )
    assert error.extra["log_id"] == "20240101ABC"


async def test_code_nonzero_with_http_200_is_still_an_error(respx_mock):
    respx_mock.post(CREATE).respond(200, json={"code": 230001, "msg": "invalid content"})
    with pytest.raises(ProviderPermanentError):
        await invoke(SEND, PARAMS, CREDS)


async def test_gateway_error_page_is_transient(respx_mock):
    respx_mock.post(CREATE).mock(return_value=httpx.Response(504, text="upstream timeout"))
    with pytest.raises(ProviderUnavailable):
        await invoke(SEND, PARAMS, CREDS)
