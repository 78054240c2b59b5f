"""Telegram bot-token validation for credential connections (providers.md §3.2, §3.3).

``GET https://api.telegram.org/bot<token>/getMe`` → ``{"ok":true,"result":{"id","is_bot",
"first_name","username",…}}``; a bad token answers ``{"ok":false,"error_code":401,
"description":"Unauthorized"}`` [D/S]. The Bot API carries the token in the URL path, which we
cannot avoid; we therefore check its shape first (so it cannot alter the path) and never let an
httpx error, whose text may include the URL, escape (see ``send_token_request``).
"""

from __future__ import annotations

import re

import httpx
from pydantic import SecretStr

from gateway.providers.oauth import (
    InvalidCredentials,
    TokenSet,
    fetch_credential_json,
    platform_reason,
    reveal,
)

TELEGRAM_API_BASE = "https://api.telegram.org"
# "<bot id>:<secret>" as issued by @BotFather; the secret part is URL-safe base64-ish.
_BOT_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")


async def fetch_telegram_bot_identity(
    client: httpx.AsyncClient,
    *,
    bot_token: SecretStr | str,
    base_url: str | None = None,
) -> TokenSet:
    """Validate a bot token with ``getMe``; the TokenSet holds the token (it never expires).

    ``account`` gets ``bot_id``, ``username`` and ``first_name``. Raises InvalidCredentials
    (reason = Telegram's ``error_code`` and ``description``) or TokenEndpointUnavailable.
    """
    token = reveal(bot_token)
    if not _BOT_TOKEN.fullmatch(token):
        raise InvalidCredentials("malformed bot token (expected <bot id>:<secret>)")
    base = (base_url or TELEGRAM_API_BASE).rstrip("/")
    request = httpx.Request("GET", f"{base}/bot{token}/getMe")
    response, body = await fetch_credential_json(client, request, mask=(token,))
    result = body.get("result")
    if body.get("ok") is not True or not isinstance(result, dict):
        code, description = body.get("error_code", response.status_code), body.get("description")
        raise InvalidCredentials(platform_reason(code, description, mask=(token,)))
    account = {"bot_id": str(result.get("id", ""))}
    for key in ("username", "first_name"):
        if isinstance(result.get(key), str):
            account[key] = result[key]
    return TokenSet(access_token=SecretStr(token), token_type="bot", account=account)
