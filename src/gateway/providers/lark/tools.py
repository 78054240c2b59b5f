"""Lark / Feishu built-in tools and Open API response classification.

Open API bodies are ``{"code": <int>, "msg": "...", "data": {...}}``; ``code != 0`` is an error
whatever the HTTP status (400 is common).

| signal                                                  | outcome                             |
|---------------------------------------------------------|-------------------------------------|
| HTTP 429, or code 99991400 (frequency limit; HTTP 400   | ProviderRateLimited(                |
| on older APIs), 11232 (message service limit), 230020   | ``x-ogw-ratelimit-reset`` seconds)  |
| (per-chat limit)                                        |                                     |
| code 99991663/99991664/99991665/99991666/99991668,      | ProviderTokenExpired (re-fetch the  |
| HTTP 401                                                | tenant/user token, retry once)      |
| HTTP 5xx / unreadable body                              | ProviderUnavailable / generic map   |
| any other ``code != 0``                                 | ProviderPermanentError(code, msg),  |
|                                                         | ``log_id`` in ``extra``             |

lark-oapi's channel layer files 99991400 under auth errors; the platform's rate-limit document
(open.feishu.cn server-docs/api-call-guide/frequency-control) shows it as the frequency-limit code
with HTTP 429 / 400 and ``x-ogw-ratelimit-reset``. We follow the document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

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

PROVIDER: Final = "lark"
API_BASE: Final = "https://open.feishu.cn"  # Lark international: https://open.larksuite.com

_RATE_LIMITED: Final = frozenset({99991400, 11232, 230020})
_TOKEN_EXPIRED: Final = frozenset({99991663, 99991664, 99991665, 99991666, 99991668})
# Id prefixes Lark uses, for when the caller omits receive_id_type.
_ID_TYPE_BY_PREFIX: Final = {"oc_": "chat_id", "ou_": "open_id", "on_": "union_id"}


def check_lark_response(response: httpx.Response, body: bytes) -> Any:
    """``data`` of a successful Open API call, or raise the classified error."""
    status = response.status_code
    payload = decode_json_object(body)
    code = payload.get("code") if payload is not None else None
    if status == 429 or code in _RATE_LIMITED:
        raise rate_limited(response, provider=PROVIDER, header="x-ogw-ratelimit-reset")
    if payload is None or not isinstance(code, int):
        raise unexpected_body(response, provider=PROVIDER)
    if code == 0 and response.is_success:
        return payload.get("data")
    if status == 401 or code in _TOKEN_EXPIRED:
        raise ProviderTokenExpired(
            f"lark rejected the token: {code}", provider=PROVIDER, upstream_status=status
        )
    if status >= 500:
        raise ProviderUnavailable(
            f"lark failed transiently: {code}", provider=PROVIDER, upstream_status=status
        )
    error = payload.get("error")
    log_id = error.get("log_id") if isinstance(error, dict) else None
    raise ProviderPermanentError(
        str(code),
        str(payload.get("msg", "")),
        status,
        provider=PROVIDER,
        extra={"log_id": log_id} if log_id else None,
    )


def _receive_id_type(params: Mapping[str, Any]) -> str:
    if "receive_id_type" in params:
        return str(params["receive_id_type"])
    receive_id = str(params["receive_id"])
    if "@" in receive_id:
        return "email"
    for prefix, id_type in _ID_TYPE_BY_PREFIX.items():
        if receive_id.startswith(prefix):
            return id_type
    raise ValidationFailed(
        "receive_id_type is required: the receive_id is not a chat (oc_), open (ou_) or "
        "union (on_) id nor an email"
    )


class SendMessage:
    spec = ToolSpec(
        name="lark.send_message",
        provider=PROVIDER,
        description=(
            "Send a text message as the Lark/Feishu bot. Either reply to a message "
            "(reply_to_message_id; the reply is shown quoting it, or inside its thread with "
            "reply_in_thread) or send a new message to a chat or user (receive_id). The bot must "
            "be in the group, or the user within the app's availability. Use uuid as an "
            "idempotency key when retrying. Returns the sent message, including its message_id."
        ),
        parameters={
            "type": "object",
            "properties": {
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 30000,
                    "description": "Plain message text.",
                },
                "receive_id": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "Recipient of a new message: a chat id (oc_…), open_id (ou_…), "
                        "union_id (on_…), user_id or email, as given by receive_id_type."
                    ),
                },
                "receive_id_type": {
                    "enum": ["chat_id", "open_id", "union_id", "user_id", "email"],
                    "description": (
                        "Kind of receive_id. Optional for oc_/ou_/on_ ids and emails, where it "
                        "is inferred; required for user_id."
                    ),
                },
                "reply_to_message_id": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Id (om_…) of the message to reply to.",
                },
                "reply_in_thread": {
                    "type": "boolean",
                    "description": "With reply_to_message_id: reply inside the message's thread.",
                },
                "uuid": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 50,
                    "description": (
                        "Idempotency key: requests with the same uuid send at most one message "
                        "within an hour."
                    ),
                },
            },
            "required": ["text"],
            "oneOf": [{"required": ["receive_id"]}, {"required": ["reply_to_message_id"]}],
            "dependentRequired": {
                "receive_id_type": ["receive_id"],
                "reply_in_thread": ["reply_to_message_id"],
            },
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        # content is a JSON *string* inside the JSON body.
        content = json.dumps({"text": params["text"]}, ensure_ascii=False, separators=(",", ":"))
        payload: dict[str, Any] = {"msg_type": "text", "content": content}
        if "uuid" in params:
            payload["uuid"] = params["uuid"]
        messages = f"{api_base(creds, API_BASE)}/open-apis/im/v1/messages"
        if "reply_to_message_id" in params:
            url = httpx.URL(f"{messages}/{quote(params['reply_to_message_id'], safe='')}/reply")
            if "reply_in_thread" in params:
                payload["reply_in_thread"] = params["reply_in_thread"]
        else:
            url = httpx.URL(messages, params={"receive_id_type": _receive_id_type(params)})
            payload["receive_id"] = params["receive_id"]
        return json_request(
            url, payload, {"Authorization": f"Bearer {creds.access_token.get_secret_value()}"}
        )

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_lark_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
