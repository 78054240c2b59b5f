"""DingTalk built-in tools and response classification.

Two API generations answer here: the new ``api.dingtalk.com`` (HTTP status + ``{"code":
"<string>", "message", "requestid"}``) and the legacy ``oapi.dingtalk.com`` style used by robot
session webhooks (HTTP 200 + ``{"errcode": <int>, "errmsg"}``).

| signal                                                  | outcome                             |
|---------------------------------------------------------|-------------------------------------|
| HTTP 429, code ``Throttling``/``Throttling.*``, errcode | ProviderRateLimited (Retry-After or |
| 90002/90019, anti-abuse ``{"status": 1111, "wait": s}`` | ``wait``, else default)             |
| 200 whose ``flowControlledStaffIdList`` holds every     | ProviderRateLimited (default wait)  |
| requested user                                          |                                     |
| 200 with *some* users flow-controlled                   | ToolOutput: the others received it, |
|                                                         | so a retry would duplicate; the     |
|                                                         | caller sees the list in the output  |
| HTTP 401, code ``InvalidAuthentication``                | ProviderTokenExpired                |
| HTTP 5xx, errcode -1 (busy), 15 / 88 (upstream timeout) | ProviderUnavailable                 |
| any other error                                         | ProviderPermanentError(code/errcode,|
|                                                         | message/errmsg), ``requestid``      |
"""

from __future__ import annotations

import json
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
    coerce_retry_after,
    decode_json_object,
    json_request,
    rate_limited,
    unexpected_body,
)

PROVIDER: Final = "dingtalk"
API_BASE: Final = "https://api.dingtalk.com"
#: Session webhooks are handed to us inside inbound events: only DingTalk may receive our posts.
SESSION_WEBHOOK_ORIGIN: Final = "https://oapi.dingtalk.com"

_LEGACY_RATE_LIMITED: Final = frozenset({90002, 90019})
_LEGACY_TRANSIENT: Final = frozenset({-1, 15, 88})


def check_dingtalk_response(response: httpx.Response, body: bytes) -> Any:
    """The JSON result of a successful call, or raise the classified error."""
    status = response.status_code
    decoded = decode_json_object(body)
    payload = decoded or {}
    code, errcode = payload.get("code"), payload.get("errcode")
    throttled = isinstance(code, str) and (code == "Throttling" or code.startswith("Throttling."))
    if status == 429 or throttled or errcode in _LEGACY_RATE_LIMITED:
        raise rate_limited(response, provider=PROVIDER)
    if payload.get("status") == 1111:  # per-IP anti-abuse block
        wait = coerce_retry_after(payload.get("wait"))
        raise rate_limited(response, provider=PROVIDER, retry_after=wait)
    if status == 401 or code == "InvalidAuthentication":
        raise ProviderTokenExpired(
            f"dingtalk rejected the token: {code or status}",
            provider=PROVIDER,
            upstream_status=status,
        )
    if decoded is None:
        raise unexpected_body(response, provider=PROVIDER)
    if status >= 500 or errcode in _LEGACY_TRANSIENT:
        raise ProviderUnavailable(
            f"dingtalk failed transiently: {code or errcode or status}",
            provider=PROVIDER,
            upstream_status=status,
        )
    if not response.is_success or code or errcode not in (None, 0):
        requestid = payload.get("requestid")
        raise ProviderPermanentError(
            str(code or errcode or f"http_{status}"),
            str(payload.get("message") or payload.get("errmsg") or ""),
            status,
            provider=PROVIDER,
            extra={"requestid": requestid} if requestid else None,
        )
    flow_controlled = payload.get("flowControlledStaffIdList")
    if flow_controlled and _nobody_received(response, flow_controlled):
        raise rate_limited(response, provider=PROVIDER)
    return payload


def _nobody_received(response: httpx.Response, flow_controlled: object) -> bool:
    try:
        sent = decode_json_object(response.request.content)
    except RuntimeError:  # response without its request: assume the worst, retry
        return True
    requested = sent.get("userIds") if sent else None
    if not isinstance(requested, list) or not isinstance(flow_controlled, list):
        return True
    return {str(u) for u in requested} <= {str(u) for u in flow_controlled}


def _session_webhook_url(url: str, creds: ToolCredentials) -> httpx.URL:
    """The webhook, if it points at DingTalk (or, in a sandbox, at the connection's base URL)."""
    parsed = httpx.URL(url)
    allowed = {httpx.URL(SESSION_WEBHOOK_ORIGIN)}
    if creds.base_url:
        allowed.add(httpx.URL(creds.base_url))
    if not any((parsed.scheme, parsed.netloc) == (o.scheme, o.netloc) for o in allowed):
        raise ValidationFailed(f"session_webhook must be a {SESSION_WEBHOOK_ORIGIN}/ URL")
    return parsed


class SendMessage:
    spec = ToolSpec(
        name="dingtalk.send_message",
        provider=PROVIDER,
        description=(
            "Send a text message as the DingTalk app robot. Give exactly one target: "
            "open_conversation_id for a group the robot is in, user_ids for one-to-one messages "
            "to up to 20 users, or session_webhook to answer the conversation an incoming robot "
            "message came from (the sessionWebhook of that event, valid for a limited time). "
            "Returns DingTalk's result (processQueryKey; users that could not be reached are "
            "listed in invalidStaffIdList / flowControlledStaffIdList)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 20000,
                    "description": "Plain message text.",
                },
                "open_conversation_id": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Group conversation id (openConversationId, e.g. cid…==).",
                },
                "user_ids": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "minItems": 1,
                    "maxItems": 20,
                    "uniqueItems": True,
                    "description": "Staff userIds to message one-to-one.",
                },
                "session_webhook": {
                    "type": "string",
                    "pattern": "^https://",
                    "description": "sessionWebhook URL from an incoming robot message.",
                },
                "robot_code": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "robotCode of the sending robot; defaults to the connection's robot_code."
                    ),
                },
            },
            "required": ["text"],
            "oneOf": [
                {"required": ["open_conversation_id"]},
                {"required": ["user_ids"]},
                {"required": ["session_webhook"]},
            ],
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        text = params["text"]
        if "session_webhook" in params:
            # The session URL carries its own credential; the official SDK sends no token there.
            url = _session_webhook_url(params["session_webhook"], creds)
            return json_request(url, {"msgtype": "text", "text": {"content": text}})
        robot_code = params.get("robot_code") or creds.extra.get("robot_code")
        if not robot_code:
            raise ValidationFailed("robot_code is required: the connection has no robot_code")
        payload: dict[str, Any] = {
            "robotCode": robot_code,
            "msgKey": "sampleText",
            "msgParam": json.dumps({"content": text}, ensure_ascii=False, separators=(",", ":")),
        }
        if "open_conversation_id" in params:
            path = "/v1.0/robot/groupMessages/send"
            payload["openConversationId"] = params["open_conversation_id"]
        else:
            path = "/v1.0/robot/oToMessages/batchSend"
            payload["userIds"] = list(params["user_ids"])
        return json_request(
            f"{api_base(creds, API_BASE)}{path}",
            payload,
            {"x-acs-dingtalk-access-token": creds.access_token.get_secret_value()},
        )

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_dingtalk_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
