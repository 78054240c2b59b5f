from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ScopeName = Annotated[str, Field(min_length=1, max_length=200)]


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_to: str | None = Field(
        default=None,
        max_length=2000,
        description="Where to send the browser afterwards (`?connection_id=…` or `?error=…` is "
        "appended): a path on this gateway, or a URL on an origin in GATEWAY_RETURN_TO_ORIGINS. "
        "Without it the browser ends on a plain result page.",
    )
    scopes: list[ScopeName] | None = Field(
        default=None, max_length=100, description="Default: the OAuth client's, else provider's"
    )
    label: str | None = Field(default=None, max_length=200)
    authorize_params: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict,
        max_length=10,
        description="Extra authorize parameters, e.g. Slack `user_scope`/`team`, WeCom `agentid`",
    )


class AuthorizeResponse(BaseModel):
    authorization_url: str = Field(
        description="One-time link to open in the user's browser (it starts the flow)"
    )
    expires_at: datetime
    redirect_uri: str = Field(description="The callback URL the provider will redirect to")
