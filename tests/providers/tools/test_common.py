"""Contracts every built-in tool shares, and the shared parsing helpers."""

from datetime import UTC, datetime

import httpx
import pytest
from jsonschema import Draft202012Validator

from gateway.kit.errors import ValidationFailed
from gateway.providers.dingtalk.tools import TOOLS as DINGTALK
from gateway.providers.discord.tools import TOOLS as DISCORD
from gateway.providers.lark.tools import TOOLS as LARK
from gateway.providers.slack.tools import TOOLS as SLACK
from gateway.providers.telegram.tools import TOOLS as TELEGRAM
from gateway.providers.tools import (
    MAX_RETRY_AFTER,
    BuiltinTool,
    ProviderCallError,
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    classify_transport_error,
    coerce_retry_after,
    decode_json_object,
    parse_retry_after,
    redact_url,
    validate_parameters,
)
from gateway.providers.wecom.tools import TOOLS as WECOM

from .support import credentials, invoke

ALL_TOOLS: tuple[BuiltinTool, ...] = SLACK + DISCORD + TELEGRAM + LARK + DINGTALK + WECOM
BY_NAME = {tool.spec.name: tool for tool in ALL_TOOLS}
CREDS = credentials("123456:TOKEN-abc", agent_id="1", robot_code="r")

# name -> (minimal valid params, production URL prefix, params the schema must reject)
CASES = {
    "slack.send_message": (
        {"channel": "C1", "text": "hi"},
        "https://slack.com/api/",
        [
            {"channel": "C1"},
            {"channel": "C1", "text": ""},
            {"channel": "C1", "text": "hi", "thread_ts": "yesterday"},
            {"channel": "C1", "text": "hi", "reply_broadcast": True},
            {"channel": "C1", "text": "hi", "as_user": True},
        ],
    ),
    "discord.send_message": (
        {"channel_id": "1", "text": "hi"},
        "https://discord.com/api/v10/",
        [
            {"channel_id": "../guilds", "text": "hi"},
            {"channel_id": "1", "text": "x" * 2001},
            {"channel_id": 1, "text": "hi"},
        ],
    ),
    "telegram.send_message": (
        {"chat_id": 42, "text": "hi"},
        "https://api.telegram.org/bot",
        [
            {"chat_id": "general", "text": "hi"},
            {"chat_id": 42, "text": "hi", "reply_to_message_id": "5"},
            {"chat_id": 42, "text": "hi", "parse_mode": "Markdown2"},
        ],
    ),
    "lark.send_message": (
        {"text": "hi", "receive_id": "oc_1"},
        "https://open.feishu.cn/open-apis/im/v1/messages",
        [
            {"text": "hi"},
            {"text": "hi", "receive_id": "oc_1", "reply_to_message_id": "om_1"},
            {"text": "hi", "receive_id": "oc_1", "reply_in_thread": True},
            {"text": "hi", "receive_id": "oc_1", "receive_id_type": "phone"},
        ],
    ),
    "dingtalk.send_message": (
        {"text": "hi", "open_conversation_id": "cid1"},
        "https://api.dingtalk.com/v1.0/robot/",
        [
            {"text": "hi"},
            {"text": "hi", "open_conversation_id": "cid1", "user_ids": ["u"]},
            {"text": "hi", "user_ids": []},
            {"text": "hi", "session_webhook": "http://oapi.dingtalk.com/x"},
        ],
    ),
    "wecom.send_message": (
        {"text": "hi", "touser": ["u1"]},
        "https://qyapi.weixin.qq.com/cgi-bin/",
        [
            {"text": "hi"},
            {"text": "hi", "touser": "u1"},
            {"text": "hi", "touser": ["u1"], "chatid": "c"},
            {"text": "hi", "touser": ["u1"], "agentid": 5},
        ],
    ),
}


def test_every_tool_has_a_case_and_a_unique_namespaced_name():
    assert sorted(BY_NAME) == sorted(CASES)
    assert len(BY_NAME) == len(ALL_TOOLS)
    for name, tool in BY_NAME.items():
        assert name == f"{tool.spec.provider}.send_message"


@pytest.mark.parametrize("name", sorted(CASES))
def test_schema_is_valid_2020_12_closed_and_documented(name):
    spec = BY_NAME[name].spec
    Draft202012Validator.check_schema(spec.parameters)
    assert spec.parameters["type"] == "object"
    assert spec.parameters["additionalProperties"] is False
    assert spec.parameters["required"]
    assert all(prop.get("description") for prop in spec.parameters["properties"].values())
    assert len(spec.description) > 80


@pytest.mark.parametrize("name", sorted(CASES))
def test_schema_accepts_minimal_and_rejects_bad_params(name):
    spec = BY_NAME[name].spec
    valid, _, invalid = CASES[name]
    validate_parameters(spec, valid)
    for params in invalid:
        with pytest.raises(ValidationFailed) as caught:
            validate_parameters(spec, params)
        assert caught.value.extra["errors"], params


def test_validation_errors_point_at_the_field():
    with pytest.raises(ValidationFailed) as caught:
        validate_parameters(BY_NAME["telegram.send_message"].spec, {"chat_id": 1, "text": 5})
    assert caught.value.extra["errors"][0]["path"] == "/text"


@pytest.mark.parametrize("name", sorted(CASES))
def test_production_base_url_by_default_and_override_when_set(name):
    tool = BY_NAME[name]
    valid, production, _ = CASES[name]
    assert str(tool.build_request(valid, CREDS).url).startswith(production)

    sandbox = credentials("123456:TOKEN-abc", "http://127.0.0.1:8081/sandbox/", agent_id="1")
    sandboxed = tool.build_request(
        {**valid, "robot_code": "r"} if "dingtalk" in name else valid, sandbox
    )
    assert str(sandboxed.url).startswith("http://127.0.0.1:8081/sandbox/")
    assert sandboxed.method == "POST"


@pytest.mark.parametrize("name", sorted(CASES))
async def test_timeout_is_unavailable_for_every_provider(respx_mock, name):
    tool = BY_NAME[name]
    respx_mock.route().mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(ProviderUnavailable) as caught:
        await invoke(tool, CASES[name][0], CREDS)
    error = caught.value
    assert (error.code, error.status_code, error.provider) == (
        "provider_timeout",
        504,
        tool.spec.provider,
    )
    assert error.delivery_uncertain  # the platform may have posted it: retry with care


@pytest.mark.parametrize(
    ("exc", "kind", "uncertain"),
    [
        (httpx.ConnectTimeout, ProviderUnavailable, False),
        (httpx.PoolTimeout, ProviderUnavailable, False),
        (httpx.ConnectError, ProviderUnavailable, False),
        (httpx.ReadError, ProviderUnavailable, True),
        (httpx.RemoteProtocolError, ProviderUnavailable, True),
        (httpx.UnsupportedProtocol, ProviderCallError, None),
        (httpx.DecodingError, ProviderCallError, None),
    ],
)
def test_transport_errors_mapped_once(exc, kind, uncertain):
    request = httpx.Request("POST", "https://qyapi.weixin.qq.com/x?access_token=SECRET")
    error = classify_transport_error(exc("boom", request=request), provider="wecom")
    assert type(error) is kind
    assert "qyapi.weixin.qq.com" in error.message
    assert "SECRET" not in error.message
    if uncertain is not None:
        assert error.delivery_uncertain is uncertain


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, ProviderRateLimited),
        (401, ProviderTokenExpired),
        (500, ProviderUnavailable),
        (404, ProviderPermanentError),
    ],
)
def test_http_status_errors_mapped_by_status(status, kind):
    request = httpx.Request("GET", "https://example.test/")
    response = httpx.Response(status, request=request)
    error = classify_transport_error(
        httpx.HTTPStatusError("x", request=request, response=response), provider="x"
    )
    assert type(error) is kind
    assert error.upstream_status == status


NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("Wed, 01 Jan 2025 12:00:45 GMT", 45.0),
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0.0),  # in the past: go now
        ("99999999", MAX_RETRY_AFTER),
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_RETRY_AFTER),
        ("-5", None),
        ("nan", None),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after({"Retry-After": value}, NOW) == expected


def test_parse_retry_after_absent_and_other_header_names():
    assert parse_retry_after({}, NOW) is None
    assert (
        parse_retry_after({"X-Ogw-Ratelimit-Reset": "52"}, NOW, header="x-ogw-ratelimit-reset")
        == 52
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(17, 17.0), (64.57, 64.57), ("3", 3.0), (True, None), (None, None), (-1, None), ([], None)],
)
def test_coerce_retry_after(value, expected):
    assert coerce_retry_after(value) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"ok":true}', {"ok": True}),
        (b"[1]", None),
        (b"<html>", None),
        (b"", None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
    ],
)
def test_decode_json_object(body, expected):
    assert decode_json_object(body) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://api.telegram.org/bot123:AAE-x_y/sendMessage",
            "https://api.telegram.org/bot***/sendMessage",
        ),
        (
            "https://api.telegram.org/file/bot123:AAE/doc.pdf",
            "https://api.telegram.org/file/bot***/doc.pdf",
        ),
        (
            "https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=T0K&debug=1",
            "https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=***&debug=1",
        ),
        (
            "https://oapi.dingtalk.com/robot/sendBySession?session=S3SS",
            "https://oapi.dingtalk.com/robot/sendBySession?session=***",
        ),
        ("https://user:pw@slack.com/api/bots.info", "https://slack.com/api/bots.info"),
        ("http://[::1]:8081/api", "http://[::1]:8081/api"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_rate_limited_error_renders_retry_after_header():
    error = ProviderRateLimited(2.2, provider="slack")
    assert (error.status_code, error.code, error.headers["Retry-After"]) == (
        429,
        "provider_rate_limited",
        "3",
    )
    assert error.extra["retry_after"] == 2.2
