"""Lark / Feishu provider: webhook verifier, normaliser, OAuth spec, built-in tools."""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.lark.normalise import NORMALISER
from gateway.providers.lark.oauth import OAUTH
from gateway.providers.lark.tools import TOOLS
from gateway.providers.lark.webhook import VERIFIER

PROVIDER = Provider(
    id="lark",
    name="Lark / Feishu",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("oauth2", "credentials"),
    aliases=("feishu",),
)
