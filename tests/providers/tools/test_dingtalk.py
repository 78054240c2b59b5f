import pytest

from gateway.kit.errors import ValidationFailed
from gateway.providers.dingtalk.tools import TOOLS
from gateway.providers.tools import (
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolOutput,
)

from .support import credentials, invoke, sent_json

(SEND,) = TOOLS
GROUP = "https://api.dingtalk.com/v1.0/robot/groupMessages/send"
ONE_TO_ONE = "https://api.dingtalk.com/v1.0/robot/oToMessages/batchSend"
SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=c2f1a3b4"
CREDS = credentials("dt-access-token", robot_code="dingrobot123")
GROUP_PARAMS = {"text": "你好", "open_conversation_id": "cidAbC123=="}
USER_PARAMS = {"text": "hi", "user_ids": ["manager1", "manager2"]}


async def test_group_message_shape(respx_mock):
    route = respx_mock.post(GROUP).respond(200, json={"processQueryKey": "pqk"})

    output = await invoke(SEND, GROUP_PARAMS, CREDS)

    request = route.calls.last.request
    assert request.headers["x-acs-dingtalk-access-token"] == "dt-access-token"
    assert sent_json(route) == {
        "robotCode": "dingrobot123",
        "msgKey": "sampleText",
        "msgParam": '{"content":"你好"}',
        "openConversationId": "cidAbC123==",
    }
    assert output == ToolOutput(200, {"processQueryKey": "pqk"})


async def test_one_to_one_uses_robot_code_from_params_over_connection(respx_mock):
    route = respx_mock.post(ONE_TO_ONE).respond(200, json={"processQueryKey": "pqk"})
    await invoke(SEND, {**USER_PARAMS, "robot_code": "other"}, CREDS)
    assert sent_json(route) == {
        "robotCode": "other",
        "msgKey": "sampleText",
        "msgParam": '{"content":"hi"}',
        "userIds": ["manager1", "manager2"],
    }


def test_robot_code_is_required_somewhere():
    with pytest.raises(ValidationFailed):
        SEND.build_request(USER_PARAMS, credentials("dt-access-token"))


async def test_session_webhook_reply_sends_no_access_token(respx_mock):
    route = respx_mock.post(SESSION).respond(200, json={"errcode": 0, "errmsg": "ok"})

    output = await invoke(SEND, {"text": "pong", "session_webhook": SESSION}, CREDS)

    assert "x-acs-dingtalk-access-token" not in route.calls.last.request.headers
    assert sent_json(route) == {"msgtype": "text", "text": {"content": "pong"}}
    assert output.output == {"errcode": 0, "errmsg": "ok"}


@pytest.mark.parametrize(
    "webhook",
    [
        "https://evil.example/robot/sendBySession?session=x",
        "http://oapi.dingtalk.com/robot/sendBySession?session=x",
        "https://oapi.dingtalk.com.evil.example/robot/sendBySession",
    ],
)
def test_session_webhook_must_point_at_dingtalk(webhook):
    with pytest.raises(ValidationFailed):
        SEND.build_request({"text": "x", "session_webhook": webhook}, CREDS)


async def test_429_honours_retry_after(respx_mock):
    respx_mock.post(GROUP).respond(
        429, headers={"Retry-After": "12"}, json={"code": "Throttling", "message": "too fast"}
    )
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, GROUP_PARAMS, CREDS)
    assert caught.value.retry_after == 12


@pytest.mark.parametrize(
    "body",
    [
        {"code": "Throttling.Api", "message": "api throttled"},
        {"errcode": 90002, "errmsg": "服务器繁忙"},
        {"errcode": 90019, "errmsg": "频率超限"},
    ],
)
async def test_throttling_codes(respx_mock, body):
    respx_mock.post(GROUP).respond(400 if "code" in body else 200, json=body)
    with pytest.raises(ProviderRateLimited):
        await invoke(SEND, GROUP_PARAMS, CREDS)


async def test_ip_anti_abuse_block_waits_as_told(respx_mock):
    respx_mock.post(GROUP).respond(200, json={"status": 1111, "wait": 5, "punish": "deny"})
    with pytest.raises(ProviderRateLimited) as caught:
        await invoke(SEND, GROUP_PARAMS, CREDS)
    assert caught.value.retry_after == 5


async def test_every_user_flow_controlled_is_rate_limited(respx_mock):
    respx_mock.post(ONE_TO_ONE).respond(
        200, json={"processQueryKey": "k", "flowControlledStaffIdList": ["manager1", "manager2"]}
    )
    with pytest.raises(ProviderRateLimited):
        await invoke(SEND, USER_PARAMS, CREDS)


async def test_partly_flow_controlled_is_reported_not_retried(respx_mock):
    result = {"processQueryKey": "k", "flowControlledStaffIdList": ["manager2"]}
    respx_mock.post(ONE_TO_ONE).respond(200, json=result)
    output = await invoke(SEND, USER_PARAMS, CREDS)
    assert output.output == result


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {}),
        (400, {"code": "InvalidAuthentication", "message": "不合法的access_token"}),
    ],
)
async def test_expired_token(respx_mock, status, body):
    respx_mock.post(GROUP).respond(status, json=body)
    with pytest.raises(ProviderTokenExpired):
        await invoke(SEND, GROUP_PARAMS, CREDS)


async def test_permanent_error_carries_code_message_and_requestid(respx_mock):
    respx_mock.post(GROUP).respond(
        400,
        json={"code": "invalidParameter.robotCode", "message": "robot 不存在", "requestid": "R1"},
    )
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, GROUP_PARAMS, CREDS)
    error = caught.value
    assert (error.platform_code, error.platform_message) == (
        "invalidParameter.robotCode",
        "robot 不存在",
    )
    assert (error.upstream_status, error.extra["requestid"]) == (400, "R1")


async def test_session_webhook_errcode_is_permanent(respx_mock):
    respx_mock.post(SESSION).respond(200, json={"errcode": 300001, "errmsg": "session 不存在"})
    with pytest.raises(ProviderPermanentError) as caught:
        await invoke(SEND, {"text": "x", "session_webhook": SESSION}, CREDS)
    assert caught.value.platform_code == "300001"


@pytest.mark.parametrize(
    ("status", "body"), [(503, {"code": "ServiceUnavailable"}), (200, {"errcode": -1})]
)
async def test_busy_is_transient(respx_mock, status, body):
    respx_mock.post(GROUP).respond(status, json=body)
    with pytest.raises(ProviderUnavailable):
        await invoke(SEND, GROUP_PARAMS, CREDS)
