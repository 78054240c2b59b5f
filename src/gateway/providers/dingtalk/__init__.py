"""DingTalk provider: webhook verifier, normaliser, OAuth spec, built-in tools."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.dingtalk.normalise import NORMALISER
from gateway.providers.dingtalk.oauth import OAUTH
from gateway.providers.dingtalk.tools import TOOLS
from gateway.providers.dingtalk.webhook import VERIFIER

PROVIDER = Provider(
    id="dingtalk",
    name="DingTalk",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("oauth2", "credentials"),
)
