"""Sandbox webhooks: Standard Webhooks signatures (``webhook-id``/``-timestamp``/``-signature``).

Verification is exactly the ``standard`` provider's (``v1`` HMAC-SHA256 over
``{id}.{timestamp}.{body}``, ±300 s); only the id and the config differ: an endpoint created
without a ``secret`` gets a random ``whsec_…`` one, because the sandbox's webhook sender
(``POST /sandbox/api/simulate``) reads it from the endpoint itself. Zero setup, still signed.
"""

from __future__ import annotations

import base64
import secrets
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr

from gateway.providers.standard.webhook import StandardWebhookConfig, StandardWebhookVerifier


def new_sandbox_secret() -> SecretStr:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return SecretStr("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())


class SandboxWebhookConfig(StandardWebhookConfig):
    """Endpoint config: the ``whsec_…`` signing secret (generated when omitted)."""

    secret: SecretStr = Field(default_factory=new_sandbox_secret)


class SandboxWebhookVerifier(StandardWebhookVerifier):
    """The Standard Webhooks verifier under the ``sandbox`` id."""

    provider: ClassVar[str] = "sandbox"
    config_schema: ClassVar[type[BaseModel]] = SandboxWebhookConfig


VERIFIER = SandboxWebhookVerifier()
