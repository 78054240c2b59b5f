from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ToolFormat = Literal["gateway", "openai", "anthropic"]


class ToolOut(BaseModel):
    name: str = Field(description="`{provider}.{action}` or `{toolset}.{operationId}`")
    kind: Literal["builtin", "custom"]
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema (2020-12) of `parameters`")
    provider: str | None = Field(default=None, description="Platform of a built-in tool")
    toolset_id: str | None = Field(default=None, description="Toolset of a custom tool")
    requires_connection: bool = Field(
        description="Whether `connection_id` must be given when invoking (built-in tools)"
    )


class ToolList(BaseModel):
    data: list[ToolOut]
    next_cursor: str | None = Field(default=None, description="Always null: one page")


class OpenAIFunction(BaseModel):
    name: str = Field(description="The tool name with '.' written as '__'")
    description: str
    parameters: dict[str, Any]


class OpenAITool(BaseModel):
    type: Literal["function"] = "function"
    function: OpenAIFunction


class OpenAIToolList(BaseModel):
    data: list[OpenAITool]
    next_cursor: str | None = None


class AnthropicTool(BaseModel):
    name: str = Field(description="The tool name with '.' written as '__'")
    description: str
    input_schema: dict[str, Any]


class AnthropicToolList(BaseModel):
    data: list[AnthropicTool]
    next_cursor: str | None = None


class InvokeRequest(BaseModel):
    connection_id: str | None = Field(
        default=None,
        max_length=40,
        description="Connection whose credentials a built-in tool uses",
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Arguments, checked against the tool's JSON Schema"
    )


class ToolError(BaseModel):
    code: str = Field(
        description="Stable code: provider_rate_limited, provider_token_expired, "
        "provider_unavailable, provider_timeout, provider_rejected, provider_auth_revoked, "
        "provider_call_failed, connection_needs_reauth, upstream_response_too_large, ..."
    )
    message: str
    platform_code: str | None = Field(
        default=None, description="The platform's own error code (Slack `error`, WeCom `errcode`…)"
    )
    retry_after: float | None = Field(default=None, description="Seconds, when rate limited")


class InvokeResult(BaseModel):
    ok: bool
    status_code: int | None = Field(description="HTTP status of the last upstream response")
    output: Any = Field(default=None, description="Parsed result (JSON or text)")
    error: ToolError | None = None
    attempts: int = Field(description="Requests sent upstream (retries included)")
    duration_ms: float
    invocation_id: str = Field(description="Id in the invocation log")
