"""Telegram Bot API built-in tools and response classification.

The bot token is part of the URL path (``/bot<token>/sendMessage``): log
``redact_url(request.url)`` (``gateway.providers.tools``), never the request or its URL. Nothing
this module produces (errors, outputs) contains the token; platform descriptions are scrubbed of
it defensively.

Errors are ``{"ok": false, "error_code": <int>, "description": "...", "parameters"?: {...}}``.

| signal                                        | outcome                                     |
|-----------------------------------------------|---------------------------------------------|
| ``error_code`` / HTTP 429                     | ProviderRateLimited(parameters.retry_after, |
|                                               | else Retry-After)                           |
| ``error_code`` / HTTP 401                     | ProviderAuthRevoked: bot tokens never       |
|                                               | expire and cannot be refreshed; a 401 means |
|                                               | it was revoked in @BotFather (re-connect)   |
| malformed stored token                        | ProviderAuthRevoked, before any request     |
| HTTP 5xx / unreadable body                    | ProviderUnavailable / generic status map    |
| anything else                                 | ProviderPermanentError(error_code,          |
|                                               | description); ``migrate_to_chat_id`` in     |
|                                               | ``extra`` when a group became a supergroup  |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import httpx

from gateway.providers.tools import (
    BuiltinTool,
    ProviderAuthRevoked,
    ProviderPermanentError,
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

PROVIDER: Final = "telegram"
API_BASE: Final = "https://api.telegram.org"

# A well-formed token is what keeps redact_url()'s path rule reliable.
_BOT_TOKEN: Final = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_TOKEN_IN_PATH: Final = re.compile(r"/bot([^/]+)/")


def check_telegram_response(response: httpx.Response, body: bytes) -> Any:
    """``result`` of a successful Bot API call, or raise the classified error."""
    status = response.status_code
    payload = decode_json_object(body)
    if payload is None:
        raise unexpected_body(response, provider=PROVIDER)
    if payload.get("ok") is True and response.is_success:
        return payload.get("result")
    error_code = payload.get("error_code")
    code = error_code if isinstance(error_code, int) else status
    description = _scrub(str(payload.get("description", "")), response)
    parameters = payload.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if code == 429 or status == 429:
        wait = coerce_retry_after(parameters.get("retry_after"))
        raise rate_limited(response, provider=PROVIDER, retry_after=wait)
    if code == 401 or status == 401:
        raise ProviderAuthRevoked(str(code), description, status, provider=PROVIDER)
    if status >= 500 or code >= 500:
        raise ProviderUnavailable(
            f"telegram failed transiently: {code}", provider=PROVIDER, upstream_status=status
        )
    migrate = parameters.get("migrate_to_chat_id")
    raise ProviderPermanentError(
        str(code),
        description,
        status,
        provider=PROVIDER,
        extra={"migrate_to_chat_id": migrate} if migrate is not None else None,
    )


def _scrub(text: str, response: httpx.Response) -> str:
    try:
        path = response.request.url.path
    except RuntimeError:  # a response built without a request: no token to find
        return text
    match = _TOKEN_IN_PATH.search(path)
    return text.replace(match.group(1), "***") if match else text


def _bot_url(creds: ToolCredentials, method: str) -> str:
    token = creds.access_token.get_secret_value()
    if not _BOT_TOKEN.fullmatch(token):
        raise ProviderAuthRevoked(
            "malformed_token", "the connection's bot token is malformed", None, provider=PROVIDER
        )
    return f"{api_base(creds, API_BASE)}/bot{token}/{method}"


class SendMessage:
    spec = ToolSpec(
        name="telegram.send_message",
        provider=PROVIDER,
        description=(
            "Send a text message from the bot to a Telegram chat: a private chat, group, "
            "supergroup or channel (sendMessage). Use it to notify a chat or to answer a user; "
            "pass reply_to_message_id to quote the message being answered and, in forum "
            "supergroups, message_thread_id to post in a topic. The bot must be a member of the "
            "chat, and a user must have started the bot before it can message them. Returns the "
            "sent message, including its message_id."
        ),
        parameters={
            "type": "object",
            "properties": {
                "chat_id": {
                    "anyOf": [
                        {"type": "integer"},
                        {"type": "string", "pattern": "^(-?[0-9]+|@[A-Za-z0-9_]{5,32})$"},
                    ],
                    "description": (
                        "Target chat id (e.g. -1001234567890) or a public channel/supergroup "
                        "username (e.g. @mychannel)."
                    ),
                },
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 4096,
                    "description": "Message text, 1-4096 characters.",
                },
                "parse_mode": {
                    "enum": ["HTML", "MarkdownV2"],
                    "description": (
                        "Format the text as Telegram HTML or MarkdownV2. Omit for plain text "
                        "(safest: unbalanced markup makes Telegram reject the message)."
                    ),
                },
                "reply_to_message_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": (
                        "message_id of a message in the same chat to reply to; if it no longer "
                        "exists the message is sent without the quote."
                    ),
                },
                "message_thread_id": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Forum topic id (supergroups with topics enabled only).",
                },
            },
            "required": ["chat_id", "text"],
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        payload: dict[str, Any] = {"chat_id": params["chat_id"], "text": params["text"]}
        for key in ("parse_mode", "message_thread_id"):
            if key in params:
                payload[key] = params[key]
        if "reply_to_message_id" in params:
            # Bot API 7.0 replaced reply_to_message_id on the wire with reply_parameters.
            payload["reply_parameters"] = {
                "message_id": params["reply_to_message_id"],
                "allow_sending_without_reply": True,
            }
        return json_request(_bot_url(creds, "sendMessage"), payload)

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_telegram_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
