"""WeCom corp access token for credential connections (providers.md §6.3).

``GET https://qyapi.weixin.qq.com/cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`` →
``{"errcode":0,"errmsg":"ok","access_token":"…","expires_in":7200}`` [D]. One token per app
secret; cache it (frequent calls are throttled) and expect early invalidation. Errors are
``errcode`` in an HTTP 200 body: -1 (busy) and 45009 (rate limit) are transient, anything else
(e.g. 40001 invalid secret, 40013 invalid corpid) means the credentials were refused.
The secret must travel in the query string (WeCom's design); it is masked in every reason.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from pydantic import SecretStr

from gateway.providers.oauth import (
    InvalidCredentials,
    TokenEndpointUnavailable,
    TokenResponseInvalid,
    TokenSet,
    fetch_credential_json,
    platform_reason,
    rebase_url,
    reveal,
    token_set_from_payload,
    utc_now,
)
from gateway.providers.wecom.oauth import WECOM_TRANSIENT_ERRCODES

WECOM_GETTOKEN_URL = "https://qyapi.weixin.qq.com/cgi-bin/gettoken"


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
    request = httpx.Request(
        "GET",
        rebase_url(WECOM_GETTOKEN_URL, base_url),
        params={"corpid": corp_id, "corpsecret": secret},
    )
    issued_at = now or utc_now()
    response, body = await fetch_credential_json(client, request, mask=(secret,))
    errcode = body.get("errcode", 0)
    if errcode in WECOM_TRANSIENT_ERRCODES:
        raise TokenEndpointUnavailable(provider_error=errcode, http_status=response.status_code)
    if errcode != 0 or not response.is_success:
        raise InvalidCredentials(platform_reason(errcode, body.get("errmsg"), mask=(secret,)))
    try:
        tokens = token_set_from_payload(body, now=issued_at)
    except TokenResponseInvalid:
        raise TokenResponseInvalid("WeCom response has no access_token") from None
    tokens.token_type = "corp"
    tokens.account["corp_id"] = corp_id
    return tokens
