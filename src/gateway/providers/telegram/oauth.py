"""Telegram has no OAuth 2.0 for bots (providers.md §3.2).

Bots authenticate with the @BotFather token alone (``credentials.fetch_telegram_bot_identity``
validates it for a credential connection). "Log In With Telegram" is an OpenID Connect
authorization-code flow with PKCE for *user* login (https://core.telegram.org/bots/telegram-login;
endpoint URLs only from secondary sources [S]); it yields an ID token about a person, not a
credential the gateway can act with, so it is out of scope here.
"""

from __future__ import annotations

from gateway.providers.oauth import OAuthSpec

OAUTH: OAuthSpec | None = None
"""The provider-registry hook: Telegram has no OAuth capability."""
