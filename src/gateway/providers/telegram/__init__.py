"""Telegram provider: webhook verifier, normaliser, OAuth spec, built-in tools."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.telegram.normalise import NORMALISER
from gateway.providers.telegram.oauth import OAUTH
from gateway.providers.telegram.tools import TOOLS
from gateway.providers.telegram.webhook import VERIFIER

PROVIDER = Provider(
    id="telegram",
    name="Telegram",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("credentials",),
)
