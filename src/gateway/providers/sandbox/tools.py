"""Sandbox built-in tool: ``sandbox.send_message`` (``POST /sandbox/api/messages``).

The sandbox API answers errors as problem+json documents with a ``code``:

| signal                                  | outcome                                   |
|-----------------------------------------|-------------------------------------------|
| HTTP 401 (``invalid_token``,            | ProviderTokenExpired: refresh, retry once |
| ``token_expired``)                      | (a revoked grant then fails the refresh)  |
| HTTP 429                                | ProviderRateLimited(Retry-After)          |
| HTTP 5xx                                | ProviderUnavailable                       |
| any other 4xx (``insufficient_scope``…) | ProviderPermanentError(code)              |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import httpx

from gateway.providers.sandbox.oauth import API_PATH, DEFAULT_BASE
from gateway.providers.tools import (
    BuiltinTool,
    ProviderPermanentError,
    ToolCredentials,
    ToolOutput,
    ToolSpec,
    decode_json_object,
    error_for_status,
    json_request,
    unexpected_body,
)

PROVIDER: Final = "sandbox"
API_BASE: Final = DEFAULT_BASE + API_PATH


def sandbox_api_base(creds: ToolCredentials) -> str:
    """An operator override, else where the connection's tokens came from, else the default."""
    return (creds.base_url or creds.extra.get("api_base") or API_BASE).rstrip("/")


def check_sandbox_response(response: httpx.Response, body: bytes) -> dict[str, Any]:
    payload = decode_json_object(body)
    if response.is_success:
        if payload is None:
            raise unexpected_body(response, provider=PROVIDER)
        return payload
    status = response.status_code
    code = str(payload.get("code")) if payload and payload.get("code") else f"http_{status}"
    if 400 <= status < 500 and status not in (401, 429):
        detail = str(payload.get("detail") or payload.get("title") or "") if payload else ""
        raise ProviderPermanentError(code, detail, status, provider=PROVIDER)
    raise error_for_status(response, provider=PROVIDER) or unexpected_body(
        response, provider=PROVIDER
    )


class SendMessage:
    spec = ToolSpec(
        name="sandbox.send_message",
        provider=PROVIDER,
        description=(
            "Post a text message to a conversation of the sandbox platform (the gateway's "
            "built-in practice platform) as the connected app. Pass thread_id to answer inside "
            "a thread. Returns the stored message with its id."
        ),
        parameters={
            "type": "object",
            "properties": {
                "conversation": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "Conversation name, e.g. 'general'.",
                },
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 4000,
                    "description": "Message text.",
                },
                "thread_id": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "Id of the message whose thread to reply in.",
                },
            },
            "required": ["conversation", "text"],
            "additionalProperties": False,
        },
    )

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        payload = {
            key: params[key] for key in ("conversation", "text", "thread_id") if key in params
        }
        return json_request(
            f"{sandbox_api_base(creds)}/messages",
            payload,
            {"Authorization": f"Bearer {creds.access_token.get_secret_value()}"},
        )

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        return ToolOutput(response.status_code, check_sandbox_response(response, body))


TOOLS: Final[tuple[BuiltinTool, ...]] = (SendMessage(),)
