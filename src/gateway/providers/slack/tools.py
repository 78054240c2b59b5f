"""Slack built-in tools and Slack Web API response classification.

Slack answers most errors with HTTP 200 and ``{"ok": false, "error": "<code>"}``; HTTP status
only matters for 429 (with ``Retry-After``) and 5xx.

| signal                                                | outcome                               |
|-------------------------------------------------------|---------------------------------------|
| HTTP 429, or ``error`` ratelimited / rate_limited     | ProviderRateLimited(Retry-After)      |
| HTTP 401, ``token_expired``, ``invalid_auth``,        | ProviderTokenExpired (refresh, retry) |
| ``not_authed``                                        |                                       |
| ``token_revoked``, ``account_inactive``               | ProviderAuthRevoked: a refresh cannot |
|                                                       | revive a revoked grant or deleted bot |
| HTTP 5xx, ``internal_error``, ``fatal_error``,        | ProviderUnavailable                   |
| ``service_unavailable``, ``request_timeout``          |                                       |
| any other ``ok: false``                               | ProviderPermanentError(error)         |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx

from gateway.providers.tools import (
    BuiltinTool,
    ProviderAuthRevoked,
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

PROVIDER: Final = "slack"
API_BASE: Final = "https://slack.com/api"

_RATE_LIMITED: Final = frozenset({"ratelimited", "rate_limited"})
_TOKEN_EXPIRED: Final = frozenset({"token_expired", "invalid_auth", "not_authed"})
_AUTH_REVOKED: Final = frozenset({"token_revoked", "account_inactive"})
_TRANSIENT: Final = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def check_slack_response(response: httpx.Response, body: bytes) -> dict[str, Any]:
    """The payload of a successful Web API call, or raise the classified error."""
    status = response.status_code
    payload = decode_json_object(body)
    error = payload.get("error") if payload is not None else None
    if status == 429 or error in _RATE_LIMITED:
        raise rate_limited(response, provider=PROVIDER)
    if payload is None:
        raise unexpected_body(response, provider=PROVIDER)
    if payload.get("ok") is True and response.is_success:
        return payload
    code = str(error or f"http_{status}")
    if status == 401 or code in _TOKEN_EXPIRED:
        raise ProviderTokenExpired(
            f"slack rejected the token: {code}", provider=PROVIDER, upstream_status=status
        )
    if code in _AUTH_REVOKED:
        raise ProviderAuthRevoked(code, _messages(payload), status, provider=PROVIDER)
    if status >= 500 or code in _TRANSIENT:
        raise ProviderUnavailable(
            f"slack failed transiently: {code}", provider=PROVIDER, upstream_status=status
        )
    raise ProviderPermanentError(code, _messages(payload), status, provider=PROVIDER)


def _messages(payload: Mapping[str, Any]) -> str:
    """Slack's optional human-readable detail (``response_metadata.messages``)."""
    metadata = payload.get("response_metadata")
    messages = metadata.get("messages") if isinstance(metadata, dict) else None
    if isinstance(messages, list):
        return "; ".join(str(m) for m in messages)
    return ""


class SendMessage:
    spec = ToolSpec(
        name="slack.send_message",
        provider=PROVIDER,
        description=(
            "Post a text message to a Slack channel, private channel or direct message as the "
            "connected app (chat.postMessage). Use it to notify people or to answer in a "
            "conversation; pass thread_ts to reply inside a thread instead of the main channel. "
            "Returns the posted message with its ts, which identifies it for later replies."
        ),
        parameters={
            "type": "object",
            "properties": {
                "channel": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "Conversation id: a channel (C…), private channel (G…) or DM (D…) id. "
                        "A user id (U…) sends a direct message from the app to that user."
                    ),
                },
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 40000,
                    "description": (
                        "Message text in Slack mrkdwn (*bold*, _italic_, <https://x|links>, "
                        "<@U123> mentions)."
                    ),
                },
                "thread_ts": {
                    "type": "string",
                    "pattern": r"^[0-9]+\.[0-9]+$",
                    "description": (
                        "ts of the thread's parent message (e.g. '1712345678.123456'); the "
                        "message is posted as a reply in that thread."
                    ),
                },
                "reply_broadcast": {
                    "type": "boolean",
                    "description": "With thread_ts: also show the reply in the channel.",
                },
            },
            "required": ["channel", "text"],
            "dependentRequired": {"reply_broadcast": ["thread_ts"]},
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        payload: dict[str, Any] = {"channel": params["channel"], "text": params["text"]}
        for key in ("thread_ts", "reply_broadcast"):
            if key in params:
                payload[key] = params[key]
        return json_request(
            f"{api_base(creds, API_BASE)}/chat.postMessage",
            payload,
            {"Authorization": f"Bearer {creds.access_token.get_secret_value()}"},
        )

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_slack_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
