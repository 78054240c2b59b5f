"""DingTalk app-credential token for credential connections (providers.md §5.4).

``POST https://api.dingtalk.com/v1.0/oauth2/accessToken`` ``{"appKey","appSecret"}`` →
``{"accessToken","expireIn"}`` [V, dingtalk-stream-sdk-python ``get_access_token``]. Failures use
HTTP status + ``{"code","message"}`` [D]; any 4xx means the key/secret pair was refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.providers.credentials import CredentialTokenSpec, fetch_credential_token, json_post
from gateway.providers.oauth import TokenSet, rebase_url, reveal

DINGTALK_APP_TOKEN_URL = "https://api.dingtalk.com/v1.0/oauth2/accessToken"


def _refusal(response: httpx.Response, body: Mapping[str, Any]) -> tuple[object, object] | None:
    """Any 4xx, or a ``code`` without a token, is a refusal."""
    if response.is_success and not (body.get("code") and "accessToken" not in body):
        return None
    return body.get("code"), body.get("message")


_APP_TOKEN = CredentialTokenSpec(
    platform="DingTalk",
    token_type="app",
    refusal=_refusal,
    access_key="accessToken",
    expires_key="expireIn",
)


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
    url = rebase_url(DINGTALK_APP_TOKEN_URL, base_url)
    request = json_post(url, {"appKey": app_key, "appSecret": secret})
    account = {"app_key": app_key}
    return await fetch_credential_token(
        client, _APP_TOKEN, request, secret=secret, account=account, now=now
    )
