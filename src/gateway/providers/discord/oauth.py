"""Discord OAuth2 (providers.md §2.3, discord/discord-api-docs ``developers/topics/oauth2.mdx``).

- Authorize ``https://discord.com/oauth2/authorize`` with space (``%20``) separated scopes and
  ``prompt=consent`` [V].
- Token ``https://discord.com/api/oauth2/token`` and revoke ``…/token/revoke`` accept **only**
  ``application/x-www-form-urlencoded``; client auth Basic or body (we use Basic) [V].
- ``bot`` scope adds a ``guild`` object, ``webhook.incoming`` a ``webhook`` object whose ``token``
  (and ``url``) are credentials [V]. Revoking either token revokes the whole authorization [V].
- PKCE is **off**: Discord documents PKCE for public clients (Social SDK, mobile/native); the web
  flow is a confidential client authenticating with its secret (``account-linking-on-web.mdx``).
  Whether the token endpoint also accepts PKCE from confidential clients is not documented [?].
- Whether a refresh invalidates the previous refresh token is not documented [?]; the caller
  treats every refresh as a rotation anyway (O5/O6).
"""

from __future__ import annotations

from datetime import datetime

import httpx

from gateway.providers.oauth import (
    OAuthSpec,
    TokenEndpointUnavailable,
    TokenSet,
    optional_secret,
    parse_rfc6749_token_response,
    retry_after_seconds,
)

DISCORD_AUTHORIZE_URL = "https://discord.com/oauth2/authorize"
DISCORD_TOKEN_URL = "https://discord.com/api/oauth2/token"
DISCORD_REVOKE_URL = "https://discord.com/api/oauth2/token/revoke"


def _rate_limited(response: httpx.Response) -> TokenEndpointUnavailable:
    retry_after = retry_after_seconds(response)
    if retry_after is None:
        try:
            body = response.json()
        except ValueError:
            body = None
        value = body.get("retry_after") if isinstance(body, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            retry_after = float(value)
    return TokenEndpointUnavailable(http_status=429, retry_after=retry_after)


def parse_discord_token_response(response: httpx.Response, /, *, now: datetime) -> TokenSet:
    """RFC 6749 response plus Discord's ``guild`` and ``webhook`` objects."""
    if response.status_code == 429:
        raise _rate_limited(response)
    tokens = parse_rfc6749_token_response(response, now=now)
    body = response.json()
    guild = body.get("guild")
    if isinstance(guild, dict):
        for key in ("id", "name"):
            if isinstance(guild.get(key), str):
                tokens.account[f"guild_{key}"] = guild[key]
    webhook = body.get("webhook")
    if isinstance(webhook, dict):
        for key in ("id", "channel_id", "guild_id", "name"):
            if isinstance(webhook.get(key), str):
                tokens.account[f"webhook_{key}"] = webhook[key]
        if token := optional_secret(webhook.get("token")):
            tokens.extra_secrets["webhook_token"] = token
        if url := optional_secret(webhook.get("url")):
            tokens.extra_secrets["webhook_url"] = url  # embeds the webhook token
    return tokens


DISCORD_OAUTH = OAuthSpec(
    authorization_url=DISCORD_AUTHORIZE_URL,
    token_url=DISCORD_TOKEN_URL,
    revocation_url=DISCORD_REVOKE_URL,
    default_scopes=("identify", "guilds"),
    scope_separator=" ",
    pkce=False,
    token_auth_method="client_secret_basic",
    token_body_format="form",
    extra_authorize_params={"prompt": "consent"},
    refresh_supported=True,
    revocation_style="rfc7009",
    token_parser=parse_discord_token_response,
)

OAUTH: OAuthSpec | None = DISCORD_OAUTH
"""The provider-registry hook: Discord's OAuth capability."""
