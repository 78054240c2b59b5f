"""Sandbox provider: the gateway's built-in practice platform (``gateway.sandbox`` serves it).

A real provider module like the others (webhook verifier, normaliser, OAuth spec, tools), so a
round trip against the sandbox runs the same connect, receive and act code as Slack or Discord.
"""

from __future__ import annotations

from gateway.providers.base import Provider
from gateway.providers.sandbox.normalise import NORMALISER
from gateway.providers.sandbox.oauth import OAUTH
from gateway.providers.sandbox.tools import TOOLS
from gateway.providers.sandbox.webhook import VERIFIER

PROVIDER = Provider(
    id="sandbox",
    name="Sandbox",
    normaliser=NORMALISER,
    verifier=VERIFIER,
    oauth=OAUTH,
    tools=TOOLS,
    auth_kinds=("oauth2",),
)
