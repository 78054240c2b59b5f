"""Generic HMAC webhooks provider: webhook verifier, normaliser."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.generic.normalise import NORMALISER
from gateway.providers.generic.webhook import VERIFIER

PROVIDER = Provider(
    id="generic",
    name="Generic HMAC webhooks",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    auth_kinds=("none",),
)
