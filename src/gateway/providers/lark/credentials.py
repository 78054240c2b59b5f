"""Lark / Feishu self-built-app token for credential connections (providers.md §4.3).

``POST https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal`` with JSON
``{"app_id","app_secret"}`` → ``{"code":0,"msg":"ok","tenant_access_token":"t-…","expire":7200}``
(note ``expire``, not ``expires_in``) [D]. Any non-zero ``code`` means the app id/secret pair was
refused; the reason keeps Lark's ``code`` and ``msg``. Store apps (``app_access_token`` +
``tenant_key``) and the JWT ``accounts.feishu.cn/oauth/v3/token`` variant are not covered.
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

LARK_TENANT_TOKEN_URL = "https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal"


async def fetch_lark_tenant_token(
    client: httpx.AsyncClient,
    *,
    app_id: str,
    app_secret: SecretStr | str,
    now: datetime | None = None,
    base_url: str | None = None,
) -> TokenSet:
    """Validate an app id/secret by fetching a ``tenant_access_token`` (≤ 2 h).

    ``base_url`` may point at Lark international (``https://open.larksuite.com``) or a mock.
    Raises InvalidCredentials (reason = Lark's ``code`` and ``msg``) or TokenEndpointUnavailable.
    """
    secret = reveal(app_secret)
    request = httpx.Request(
        "POST",
        rebase_url(LARK_TENANT_TOKEN_URL, base_url),
        json={"app_id": app_id, "app_secret": secret},
        headers={"Accept": "application/json"},
    )
    issued_at = now or utc_now()
    response, body = await fetch_credential_json(client, request, mask=(secret,))
    if body.get("code") != 0 or not response.is_success:
        raise InvalidCredentials(platform_reason(body.get("code"), body.get("msg"), mask=(secret,)))
    try:
        tokens = token_set_from_payload(
            body, now=issued_at, access_key="tenant_access_token", expires_key="expire"
        )
    except TokenResponseInvalid:
        raise TokenResponseInvalid("Lark response has no tenant_access_token") from None
    tokens.token_type = "tenant"
    tokens.account["app_id"] = app_id
    return tokens
