"""Discord provider: webhook verifier, normaliser, OAuth spec, built-in tools."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.discord.normalise import NORMALISER
from gateway.providers.discord.oauth import OAUTH
from gateway.providers.discord.tools import TOOLS
from gateway.providers.discord.webhook import VERIFIER

PROVIDER = Provider(
    id="discord",
    name="Discord",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("oauth2", "credentials"),
)
