"""WeCom provider: webhook verifier, normaliser, OAuth spec, built-in tools."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.wecom.normalise import NORMALISER
from gateway.providers.wecom.oauth import OAUTH
from gateway.providers.wecom.tools import TOOLS
from gateway.providers.wecom.webhook import VERIFIER

PROVIDER = Provider(
    id="wecom",
    name="WeCom",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("wecom_web_auth", "credentials"),
)
