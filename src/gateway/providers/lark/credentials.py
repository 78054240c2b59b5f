"""Lark / Feishu self-built-app token for credential connections (providers.md §4.3).

``POST https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal`` with JSON
``{"app_id","app_secret"}`` → ``{"code":0,"msg":"ok","tenant_access_token":"t-…","expire":7200}``
(note ``expire``, not ``expires_in``) [D]. Any non-zero ``code`` means the app id/secret pair was
refused; the reason keeps Lark's ``code`` and ``msg``. Store apps (``app_access_token`` +
``tenant_key``) and the JWT ``accounts.feishu.cn/oauth/v3/token`` variant are not covered.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.providers.credentials import CredentialTokenSpec, fetch_credential_token, json_post
from gateway.providers.oauth import TokenSet, rebase_url, reveal

LARK_TENANT_TOKEN_URL = "https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal"


def _refusal(response: httpx.Response, body: Mapping[str, Any]) -> tuple[object, object] | None:
    """Anything but ``code`` 0 in a 2xx answer is a refusal."""
    if body.get("code") == 0 and response.is_success:
        return None
    return body.get("code"), body.get("msg")


_TENANT_TOKEN = CredentialTokenSpec(
    platform="Lark",
    token_type="tenant",
    refusal=_refusal,
    access_key="tenant_access_token",
    expires_key="expire",
)


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
    request = json_post(
        rebase_url(LARK_TENANT_TOKEN_URL, base_url), {"app_id": app_id, "app_secret": secret}
    )
    return await fetch_credential_token(
        client, _TENANT_TOKEN, request, secret=secret, account={"app_id": app_id}, now=now
    )
