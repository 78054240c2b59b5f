"""Runs a built-in tool the way the invoke service does: validate, build, send, classify."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.providers.tools import (
    BuiltinTool,
    ToolCredentials,
    ToolOutput,
    classify_transport_error,
    validate_parameters,
)


def credentials(token: str, base_url: str | None = None, **extra: str) -> ToolCredentials:
    return ToolCredentials(access_token=SecretStr(token), extra=extra, base_url=base_url)


async def invoke(
    tool: BuiltinTool, params: Mapping[str, Any], creds: ToolCredentials
) -> ToolOutput:
    validate_parameters(tool.spec, params)
    request = tool.build_request(params, creds)
    async with httpx.AsyncClient() as client:
        try:
            response = await client.send(request)
        except httpx.HTTPError as exc:
            raise classify_transport_error(exc, provider=tool.spec.provider) from exc
    return tool.parse_response(response, response.content)


def sent_json(route: Any) -> Any:
    """The JSON body of the last request a respx route received."""
    return json.loads(route.calls.last.request.content)
