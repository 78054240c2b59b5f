from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

#: No ``_``: exported tool names are ``{toolset}__{operationId}`` and the first ``__`` must
#: mark the namespace.
TOOLSET_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
MAX_DOCUMENT_CHARS = 1_000_000


class AuthNone(BaseModel):
    type: Literal["none"] = "none"


class AuthApiKey(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    type: Literal["api_key"]
    location: Literal["header", "query"] | None = Field(
        default=None,
        alias="in",
        description="Where the key goes; default: from the document's apiKey security scheme",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Header or query parameter name; default: from the security scheme",
    )
    scheme: str | None = Field(
        default=None,
        max_length=200,
        description="Which apiKey security scheme of the document to follow (default: the first)",
    )
    value: SecretStr = Field(min_length=1, max_length=4096, description="Write-only")


class AuthBasic(BaseModel):
    type: Literal["basic"]
    username: str = Field(min_length=1, max_length=500)
    password: SecretStr = Field(max_length=4096, description="Write-only")


class AuthOAuthConnection(BaseModel):
    type: Literal["oauth_connection"]
    connection_id: str = Field(
        min_length=1, max_length=40, description="Bearer token from this stored connection"
    )


ToolsetAuthIn = Annotated[
    AuthNone | AuthApiKey | AuthBasic | AuthOAuthConnection, Field(discriminator="type")
]


class ToolsetCreate(BaseModel):
    name: str = Field(
        pattern=TOOLSET_NAME_PATTERN,
        description="Namespace of the tools: `{name}.{operationId}` (lower case, digits, '-')",
    )
    openapi: dict[str, Any] | Annotated[str, Field(max_length=MAX_DOCUMENT_CHARS)] = Field(
        description="OpenAPI 3.0/3.1 document: an object, or JSON/YAML text"
    )
    server_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Base URL to call instead of the document's first server",
    )
    auth: ToolsetAuthIn = Field(default_factory=AuthNone)


class ToolsetAuthOut(BaseModel):
    type: Literal["none", "api_key", "basic", "oauth_connection"]
    location: Literal["header", "query"] | None = Field(default=None, serialization_alias="in")
    name: str | None = None
    connection_id: str | None = None


class SkippedOperation(BaseModel):
    path: str = Field(description="JSON pointer of the operation in the document")
    message: str


class ToolsetOut(BaseModel):
    id: str
    name: str
    title: str | None
    openapi_version: str
    server_url: str
    auth: ToolsetAuthOut
    tools: list[str]
    skipped: list[SkippedOperation] = Field(
        default_factory=list, description="Operations not imported (only in the create response)"
    )
    created_at: datetime
    updated_at: datetime
