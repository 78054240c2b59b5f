"""Standard Webhooks provider: webhook verifier, normaliser."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.standard.normalise import NORMALISER
from gateway.providers.standard.webhook import VERIFIER

PROVIDER = Provider(
    id="standard",
    name="Standard Webhooks",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    auth_kinds=("none",),
)
