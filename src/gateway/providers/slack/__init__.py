"""Slack provider: webhook verifier, normaliser, OAuth spec, built-in tools."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.slack.normalise import NORMALISER
from gateway.providers.slack.oauth import OAUTH
from gateway.providers.slack.tools import TOOLS
from gateway.providers.slack.webhook import VERIFIER

PROVIDER = Provider(
    id="slack",
    name="Slack",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("oauth2",),
)
