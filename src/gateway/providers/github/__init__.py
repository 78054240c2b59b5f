"""GitHub-style HMAC webhooks provider: webhook verifier, normaliser."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.github.normalise import NORMALISER
from gateway.providers.github.webhook import VERIFIER

PROVIDER = Provider(
    id="github",
    name="GitHub-style HMAC webhooks",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    auth_kinds=("none",),
)
