import httpx
import pytest

from gateway.kit.errors import ValidationFailed
from gateway.providers.tools import (
    DEFAULT_RETRY_AFTER,
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolOutput,
    redact_url,
)
from gateway.providers.wecom.tools import TOOLS

from .support import credentials, invoke, sent_json

(SEND,) = TOOLS
SEND_URL = "https://qyapi.weixin.qq.com/cgi-bin/message/send"
TOKEN = "wecom-access-token-ABC"
CREDS = credentials(TOKEN, agent_id="1000002")
PARAMS = {"text": "你好", "touser": ["ChenJiaShun", "zhangsan"], "toparty": ["1"]}
OK = {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "m1"}


async def test_message_send_shape(respx_mock):
    route = respx_mock.post(SEND_URL, params={"access_token": TOKEN}).respond(200, json=OK)

    output = await invoke(SEND, PARAMS, CREDS)

    assert route.calls.last.request.url.params["access_token"] == TOKEN
    assert sent_json(route) == {
        "touser": "ChenJiaShun|zhangsan",
        "toparty": "1",
        "msgtype": "text",
        "agentid": 1000002,
        "text": {"content": "你好"},
        "safe": 0,
    }
    assert output == ToolOutput(200, OK)
    assert TOKEN not in redact_url(route.calls.last.request.url)


async def test_chatid_goes_to_appchat_without_agentid(respx_mock):
    route = respx_mock.post("https://qyapi.weixin.qq.com/cgi-bin/appchat/send").respond(
        200, json={"errcode": 0, "errmsg": "ok"}
    )
    await invoke(SEND, {"text": "hi", "chatid": "CHAT1", "safe": True}, CREDS)
    assert sent_json(route) == {
        "chatid": "CHAT1",
        "msgtype": "text",
        "text": {"content": "hi"},
        "safe": 1,
    }


def test_agent_id_comes_from_the_connection():
    with pytest.raises(ValidationFailed):
        SEND.build_request(PARAMS, credentials(TOKEN))


async def test_frequency_limit_has_no_retry_after_so_default_backoff(respx_mock):
    respx_mock.post(SEND_URL).respond(
        200, json={"errcode": 45009, "errmsg": "api freq out of limit"}
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, PARAMS, CREDS)
    assert (caught.value.retry_after, caught.value.hinted) == (DEFAULT_RETRY_AFTER, False)


@pytest.mark.parametrize("errcode", [42001, 40014, 40001])
async def test_token_errcodes(respx_mock, errcode):
    respx_mock.post(SEND_URL).respond(200, json={"errcode": errcode, "errmsg": "token"})
    with pytest.raises(ProviderTokenExpired):
        await invoke(SEND, PARAMS, CREDS)


async def test_system_busy_is_transient(respx_mock):
    respx_mock.post(SEND_URL).respond(200, json={"errcode": -1, "errmsg": "system busy"})
    with pytest.raises(ProviderUnavailable):
        await invoke(SEND, PARAMS, CREDS)


async def test_other_errcodes_are_permanent(respx_mock):
    respx_mock.post(SEND_URL).respond(
        200, json={"errcode": 81013, "errmsg": "user & party & tag all invalid"}
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, PARAMS, CREDS)
    error = caught.value
    assert (error.platform_code, error.platform_message) == (
        "81013",
        "user & party & tag all invalid",
    )
    assert TOKEN not in str(error)


async def test_http_status_is_transport_only(respx_mock):
    respx_mock.post(SEND_URL).mock(return_value=httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(ProviderUnavailable):
        await invoke(SEND, PARAMS, CREDS)
