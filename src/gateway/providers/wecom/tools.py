"""WeCom (企业微信) built-in tools and response classification.

Results are ``{"errcode": <int>, "errmsg": "..."}`` with HTTP 200; the HTTP status only reflects
transport (a non-2xx without an ``errcode`` body goes through the generic status map).

The access token is a query parameter (``?access_token=``): log ``redact_url(request.url)``.

| signal                      | outcome                                                         |
|-----------------------------|-----------------------------------------------------------------|
| errcode 45009               | ProviderRateLimited(DEFAULT_RETRY_AFTER, hinted=False): WeCom   |
|                             | gives no wait                                                   |
| errcode 42001 / 40014 /     | ProviderTokenExpired: re-fetch with corpid+corpsecret, retry    |
| 40001                       | once (wechatpy does the same for these three)                   |
| errcode -1 (system busy)    | ProviderUnavailable                                             |
| other non-zero errcode      | ProviderPermanentError(errcode, errmsg); e.g. 81013 when every  |
|                             | recipient is invalid                                            |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx

from gateway.kit.errors import ValidationFailed
from gateway.providers.tools import (
    BuiltinTool,
    ProviderPermanentError,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolCredentials,
    ToolOutput,
    ToolSpec,
    api_base,
    decode_json_object,
    json_request,
    rate_limited,
    unexpected_body,
)

PROVIDER: Final = "wecom"
API_BASE: Final = "https://qyapi.weixin.qq.com"

_RATE_LIMITED: Final = frozenset({45009})
_TOKEN_EXPIRED: Final = frozenset({40001, 40014, 42001})
_TRANSIENT: Final = frozenset({-1})


def check_wecom_response(response: httpx.Response, body: bytes) -> dict[str, Any]:
    """The payload of a successful call (``errcode`` 0), or raise the classified error."""
    status = response.status_code
    payload = decode_json_object(body)
    errcode = payload.get("errcode") if payload is not None else None
    if payload is None or not isinstance(errcode, int):
        raise unexpected_body(response, provider=PROVIDER)
    if errcode == 0 and response.is_success:
        return payload
    if errcode in _RATE_LIMITED:
        raise rate_limited(response, provider=PROVIDER)
    if errcode in _TOKEN_EXPIRED:
        raise ProviderTokenExpired(
            f"wecom rejected the token: {errcode}", provider=PROVIDER, upstream_status=status
        )
    if errcode in _TRANSIENT or status >= 500:
        raise ProviderUnavailable(
            f"wecom failed transiently: {errcode}", provider=PROVIDER, upstream_status=status
        )
    raise ProviderPermanentError(
        str(errcode), str(payload.get("errmsg", "")), status, provider=PROVIDER
    )


def _agent_id(creds: ToolCredentials) -> int:
    value = creds.extra.get("agent_id", "")
    if not value.isdigit():
        raise ValidationFailed("the WeCom connection has no numeric agent_id")
    return int(value)


def _ids(description: str, max_items: int) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
        "maxItems": max_items,
        "uniqueItems": True,
        "description": description,
    }


class SendMessage:
    spec = ToolSpec(
        name="wecom.send_message",
        provider=PROVIDER,
        description=(
            "Send a text message as the connected WeCom (企业微信) application. Address members "
            "(touser), departments (toparty) and/or tags (totag) — combined as a union — or a "
            "group chat created by the app (chatid). Recipients must be within the app's "
            "visible range. Returns WeCom's result: msgid, and invaliduser / invalidparty / "
            "invalidtag listing recipients that were skipped."
        ),
        parameters={
            "type": "object",
            "properties": {
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 2048,
                    "description": "Message text; WeCom truncates beyond 2048 bytes (UTF-8).",
                },
                "touser": _ids('Member userids, or ["@all"] for everyone in range.', 1000),
                "toparty": _ids("Department ids.", 100),
                "totag": _ids("Tag ids.", 100),
                "chatid": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Id of a group chat created through the app (appchat).",
                },
                "safe": {
                    "type": "boolean",
                    "description": "Confidential message: recipients cannot forward it.",
                },
            },
            "required": ["text"],
            "oneOf": [
                {"required": ["chatid"]},
                {
                    "anyOf": [
                        {"required": ["touser"]},
                        {"required": ["toparty"]},
                        {"required": ["totag"]},
                    ]
                },
            ],
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        payload: dict[str, Any] = {
            "msgtype": "text",
            "text": {"content": params["text"]},
            "safe": int(bool(params.get("safe", False))),
        }
        if "chatid" in params:
            path = "/cgi-bin/appchat/send"
            payload["chatid"] = params["chatid"]
        else:
            path = "/cgi-bin/message/send"
            payload["agentid"] = _agent_id(creds)
            for key in ("touser", "toparty", "totag"):
                if key in params:
                    payload[key] = "|".join(params[key])
        url = httpx.URL(
            f"{api_base(creds, API_BASE)}{path}",
            params={"access_token": creds.access_token.get_secret_value()},
        )
        return json_request(url, payload)

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_wecom_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
