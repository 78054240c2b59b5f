from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class InvocationError(BaseModel):
    code: str
    message: str | None = None
    platform_code: str | None = None


class InvocationRequest(BaseModel):
    method: str | None = None
    target: str | None = Field(default=None, description="The URL called, with credentials masked")
    body: str | None = Field(default=None, description="Request body, truncated")


class InvocationResponse(BaseModel):
    status_code: int | None = None
    body: str | None = Field(default=None, description="Response body, truncated")


class InvocationOut(BaseModel):
    id: str
    tool: str
    toolset_id: str | None
    connection_id: str | None
    outcome: Literal["ok", "error"]
    status_code: int | None = Field(description="HTTP status of the last upstream response")
    error: InvocationError | None
    attempts: int
    duration_ms: float
    request: InvocationRequest
    response: InvocationResponse
    idempotency_key: str | None
    created_at: datetime
