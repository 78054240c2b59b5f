from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ConnectionStatus = Literal["active", "refreshing", "needs_reauth", "revoked"]
AuthKind = Literal["oauth2", "credentials", "api_key", "wecom_web_auth"]


class ConnectionOut(BaseModel):
    """A connection's state and metadata. Token values are never part of it."""

    id: str
    provider: str
    auth_kind: AuthKind
    label: str | None
    status: ConnectionStatus = Field(
        description="`active`, `refreshing` (a refresh is in progress), `needs_reauth` (connect "
        "again: the grant or credentials were refused) or `revoked` (disconnected)"
    )
    scopes: list[str]
    account: dict[str, Any] = Field(description="Non-secret account metadata (team, bot id, …)")
    expires_at: datetime | None = Field(description="When the current access token expires")
    refresh_expires_at: datetime | None
    refreshable: bool = Field(description="Whether the gateway can renew the token by itself")
    last_refreshed_at: datetime | None
    last_error_code: str | None = Field(description="Code of the last failed refresh, if any")
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None


class CredentialConnectionCreate(BaseModel):
    """A connection from credentials instead of an OAuth flow; see `GET /v1/providers/{id}`
    (`credentials.credentials_schema`) for the fields each provider takes."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    provider: str = Field(min_length=1, max_length=64)
    credentials: dict[str, Any] = Field(max_length=20)
    label: str | None = Field(default=None, max_length=200)


class ConnectionDeleted(ConnectionOut):
    revocation: Literal["revoked", "retry", "failed", "unsupported", "skipped"] = Field(
        description="What the provider said to the revocation request (the stored tokens are "
        "deleted whatever it said); `skipped` when there was nothing to revoke"
    )
