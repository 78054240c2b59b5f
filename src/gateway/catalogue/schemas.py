from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

ProviderKind = Literal["builtin", "custom"]


class ToolInfo(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema 2020-12 of the parameters")


class OAuthInfo(BaseModel):
    """How the provider's authorization-code flow is run."""

    flow: Literal["oauth2", "wecom_web_auth"]
    authorization_url: str
    token_url: str | None
    revocation_supported: bool
    refresh_supported: bool
    default_scopes: list[str]
    scope_separator: str
    pkce: bool
    token_auth_method: str
    code_param: str
    issuer: str | None = None
    callback_url: str = Field(description="The redirect URI to register with the provider")


class WebhookInfo(BaseModel):
    config_schema: dict[str, Any] = Field(
        description="JSON Schema of `config` for `POST /v1/webhook-endpoints` (secrets writeOnly)"
    )
    secret_fields: list[str]


class CredentialsInfo(BaseModel):
    credentials_schema: dict[str, Any] = Field(
        description="JSON Schema of `credentials` for `POST /v1/connections` (secrets writeOnly)"
    )
    validated: bool = Field(description="Whether the platform is asked to confirm them")


class ProviderSummary(BaseModel):
    id: str
    name: str
    kind: ProviderKind
    aliases: list[str]
    auth_kinds: list[str]
    webhooks: bool
    tools: list[str]


class ProviderDetail(ProviderSummary):
    oauth: OAuthInfo | None
    webhook: WebhookInfo | None
    credentials: CredentialsInfo
    tool_specs: list[ToolInfo]
    docs_url: str | None = None


ScopeName = Annotated[str, Field(min_length=1, max_length=200)]


class CustomProviderCreate(BaseModel):
    """A custom OAuth 2.0 provider (authorization-code flow, RFC 6749 token responses)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,62}$", description="Tenant-scoped provider id")
    name: str = Field(min_length=1, max_length=100)
    authorization_url: str = Field(min_length=1, max_length=2000)
    token_url: str = Field(min_length=1, max_length=2000)
    revocation_url: str | None = Field(default=None, max_length=2000)
    issuer: str | None = Field(
        default=None,
        max_length=2000,
        description="RFC 9207 issuer; a callback carrying another `iss` is refused",
    )
    scopes: list[ScopeName] = Field(default_factory=list, max_length=100)
    scope_separator: str = Field(default=" ", min_length=1, max_length=1)
    pkce: bool = True
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    extra_authorize_params: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=20
    )


class OAuthClientPut(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretStr = Field(min_length=1, max_length=2000)
    scopes: list[ScopeName] = Field(default_factory=list, max_length=100)


class OAuthClientOut(BaseModel):
    """The OAuth client used for this provider. The secret is write-only and never returned."""

    provider: str
    client_id: str
    scopes: list[str]
    source: Literal["tenant", "system"]
    updated_at: datetime
