"""Request/response shapes of ``/v1/webhook-endpoints`` and the webhook receiver."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WebhookEndpointCreate(BaseModel):
    """A receiving endpoint for one provider; ``config`` keys are listed per provider in
    ``GET /v1/providers/{id}`` (secrets are write-only)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    provider: str = Field(min_length=1, max_length=64, examples=["slack"])
    config: dict[str, Any] = Field(
        description='Provider-specific keys, e.g. `{"signing_secret": "…"}` for Slack',
        examples=[{"signing_secret": "8f742231b10e8888abcd99yyyzzz85a5"}],
    )
    connection_id: str | None = Field(
        default=None, max_length=40, description="Link events to one of your connections"
    )
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True


class WebhookEndpointUpdate(BaseModel):
    """Partial update. ``config`` keys are merged into the current config (``null`` removes a
    key); any config change keeps the previous config verifying for the overlap window."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    config: dict[str, Any] | None = None
    connection_id: str | None = Field(default=None, max_length=40)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class WebhookEndpointOut(BaseModel):
    """An endpoint as shown to its tenant: secrets are never returned, only their names."""

    id: str
    provider: str
    url: str = Field(description="Give this URL to the platform")
    enabled: bool
    description: str | None
    connection_id: str | None
    config: dict[str, Any] = Field(description="The non-secret config keys")
    secrets_set: list[str] = Field(description="Names of the secret config keys that are set")
    previous_config_valid_until: datetime | None = Field(
        description="After a config change, the old config keeps verifying until then"
    )
    created_at: datetime
    updated_at: datetime


class WebhookAck(BaseModel):
    """Default acknowledgement once a delivery is durably stored (some platforms get their own
    exact answer instead: a handshake echo, an encrypted ``success``, an empty 204)."""

    ok: Literal[True] = True
