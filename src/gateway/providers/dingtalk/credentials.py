"""DingTalk app-credential token for credential connections (providers.md §5.4).

``POST https://api.dingtalk.com/v1.0/oauth2/accessToken`` ``{"appKey","appSecret"}`` →
``{"accessToken","expireIn"}`` [V, dingtalk-stream-sdk-python ``get_access_token``]. Failures use
HTTP status + ``{"code","message"}`` [D]; any 4xx means the key/secret pair was refused.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from pydantic import SecretStr

from gateway.providers.oauth import (
    InvalidCredentials,
    TokenResponseInvalid,
    TokenSet,
    fetch_credential_json,
    platform_reason,
    rebase_url,
    reveal,
    token_set_from_payload,
    utc_now,
)

DINGTALK_APP_TOKEN_URL = "https://api.dingtalk.com/v1.0/oauth2/accessToken"


async def fetch_dingtalk_app_token(
    client: httpx.AsyncClient,
    *,
    app_key: str,
    app_secret: SecretStr | str,
    now: datetime | None = None,
    base_url: str | None = None,
) -> TokenSet:
    """Validate an app key/secret by fetching an app access token.

    Raises InvalidCredentials (reason = DingTalk's code/message) or TokenEndpointUnavailable.
    """
    secret = reveal(app_secret)
    request = httpx.Request(
        "POST",
        rebase_url(DINGTALK_APP_TOKEN_URL, base_url),
        json={"appKey": app_key, "appSecret": secret},
        headers={"Accept": "application/json"},
    )
    issued_at = now or utc_now()
    response, body = await fetch_credential_json(client, request, mask=(secret,))
    if not response.is_success or (body.get("code") and "accessToken" not in body):
        reason = platform_reason(body.get("code"), body.get("message"), mask=(secret,))
        raise InvalidCredentials(reason)
    try:
        tokens = token_set_from_payload(
            body, now=issued_at, access_key="accessToken", expires_key="expireIn"
        )
    except TokenResponseInvalid:
        raise TokenResponseInvalid("DingTalk response has no accessToken") from None
    tokens.token_type = "app"
    tokens.account["app_key"] = app_key
    return tokens
