"""Discord built-in tools and Discord REST response classification.

Discord uses HTTP status codes; error bodies are ``{"code": <int>, "message": "...",
"errors"?: {...}}``.

| signal                                             | outcome                                  |
|----------------------------------------------------|------------------------------------------|
| HTTP 429: wait from ``Retry-After``, else body     | ProviderRateLimited (``global``/``scope``|
| ``retry_after``, else ``X-RateLimit-Reset-After``  | in ``extra``)                            |
| HTTP 401                                           | ProviderTokenExpired: a refresh helps    |
|                                                    | OAuth bearer tokens; for a reset bot     |
|                                                    | token the refresh path has nothing to do |
|                                                    | and marks the connection needs_reauth    |
| HTTP 5xx / unreadable body                         | ProviderUnavailable / generic status map |
| other 4xx                                          | ProviderPermanentError(code, message),   |
|                                                    | field ``errors`` in ``extra``            |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from gateway.providers.tools import (
    BuiltinTool,
    ProviderPermanentError,
    ProviderTokenExpired,
    ToolCredentials,
    ToolOutput,
    ToolSpec,
    api_base,
    coerce_retry_after,
    decode_json_object,
    json_request,
    parse_retry_after,
    rate_limited,
    unexpected_body,
)

PROVIDER: Final = "discord"
API_BASE: Final = "https://discord.com/api/v10"
#: Discord requires ``DiscordBot ($url, $versionNumber)``; requests without it may be blocked.
USER_AGENT: Final = "DiscordBot (integration-gateway, 0.1.0)"

_SNOWFLAKE: Final = {"type": "string", "pattern": "^[0-9]{1,20}$"}


def check_discord_response(response: httpx.Response, body: bytes) -> Any:
    """The JSON result of a successful call (``None`` for 204), or raise the classified error."""
    status = response.status_code
    payload = decode_json_object(body)
    if response.is_success:
        if payload is None and body.strip():
            raise unexpected_body(response, provider=PROVIDER)
        return payload
    if status == 429:
        headers = response.headers
        wait = parse_retry_after(headers)
        if wait is None and payload is not None:
            wait = coerce_retry_after(payload.get("retry_after"))
        if wait is None:
            wait = parse_retry_after(headers, header="x-ratelimit-reset-after")
        scope = {
            "global": bool(payload.get("global")) if payload else "x-ratelimit-global" in headers,
            "scope": headers.get("x-ratelimit-scope"),
        }
        raise rate_limited(response, provider=PROVIDER, retry_after=wait, extra=scope)
    if status == 401:
        raise ProviderTokenExpired(
            "discord rejected the token (HTTP 401)", provider=PROVIDER, upstream_status=status
        )
    if payload is None or status >= 500:
        raise unexpected_body(response, provider=PROVIDER)
    raise ProviderPermanentError(
        str(payload.get("code", f"http_{status}")),
        str(payload.get("message", response.reason_phrase)),
        status,
        provider=PROVIDER,
        extra={"errors": payload["errors"]} if "errors" in payload else None,
    )


class SendMessage:
    spec = ToolSpec(
        name="discord.send_message",
        provider=PROVIDER,
        description=(
            "Post a text message to a Discord channel, thread or DM channel as the bot "
            "(Create Message). Use it to notify a channel or to answer someone; pass "
            "reply_to_message_id to show the message as a reply to that message. Threads are "
            "channels: to post in a thread, use the thread's id as channel_id. Returns the "
            "created message object, including its id."
        ),
        parameters={
            "type": "object",
            "properties": {
                "channel_id": {
                    **_SNOWFLAKE,
                    "description": "Id (snowflake) of the channel, thread or DM channel.",
                },
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 2000,
                    "description": "Message content (Discord markdown, at most 2000 characters).",
                },
                "reply_to_message_id": {
                    **_SNOWFLAKE,
                    "description": (
                        "Id of a message in the same channel to reply to. If it was deleted the "
                        "message is still sent, without the reply marker."
                    ),
                },
            },
            "required": ["channel_id", "text"],
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        payload: dict[str, Any] = {"content": params["text"]}
        if "reply_to_message_id" in params:
            payload["message_reference"] = {
                "message_id": params["reply_to_message_id"],
                "fail_if_not_exists": False,
            }
        return json_request(
            f"{api_base(creds, API_BASE)}/channels/{quote(params['channel_id'], safe='')}/messages",
            payload,
            {
                "Authorization": f"Bot {creds.access_token.get_secret_value()}",
                "User-Agent": USER_AGENT,
            },
        )

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_discord_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
