"""WeCom corp access token for credential connections (providers.md §6.3).

``GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`` →
``{"errcode":0,"errmsg":"ok","access_token":"…","expires_in":7200}`` [D]. One token per app
secret; cache it (frequent calls are throttled) and expect early invalidation. Errors are
``errcode`` in an HTTP 200 body: -1 (busy) and 45009 (rate limit) are transient, anything else
(e.g. 40001 invalid secret, 40013 invalid corpid) means the credentials were refused.
The secret must travel in the query string (WeCom's design); it is masked in every reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.providers.credentials import CredentialTokenSpec, fetch_credential_token
from gateway.providers.oauth import TokenEndpointUnavailable, TokenSet, rebase_url, reveal
from gateway.providers.wecom.oauth import WECOM_TRANSIENT_ERRCODES

WECOM_GETTOKEN_URL = "https://qyapi.weixin.qq.com/cgi-bin/gettoken"


def _refusal(response: httpx.Response, body: Mapping[str, Any]) -> tuple[object, object] | None:
    """A non-zero ``errcode`` (or a non-2xx) is a refusal, except the transient ones (busy, rate
    limited), which mean: try again later."""
    errcode = body.get("errcode", 0)
    if errcode in WECOM_TRANSIENT_ERRCODES:
        raise TokenEndpointUnavailable(provider_error=errcode, http_status=response.status_code)
    if errcode == 0 and response.is_success:
        return None
    return errcode, body.get("errmsg")


_CORP_TOKEN = CredentialTokenSpec(platform="WeCom", token_type="corp", refusal=_refusal)


async def fetch_wecom_corp_token(
    client: httpx.AsyncClient,
    *,
    corp_id: str,
    corp_secret: SecretStr | str,
    now: datetime | None = None,
    base_url: str | None = None,
) -> TokenSet:
    """Validate a corp id/secret by fetching the corp ``access_token`` (no refresh token).

    Raises InvalidCredentials (reason = ``errcode`` + ``errmsg``) or TokenEndpointUnavailable.
    """
    secret = reveal(corp_secret)
    params = {"corpid": corp_id, "corpsecret": secret}
    request = httpx.Request("GET", rebase_url(WECOM_GETTOKEN_URL, base_url), params=params)
    return await fetch_credential_token(
        client, _CORP_TOKEN, request, secret=secret, account={"corp_id": corp_id}, now=now
    )
