"""WeCom (企业微信) web auth: not OAuth 2.0, modelled honestly (providers.md §6.3).

- Authorize (inside the WeCom client) ``https://open.weixin.qq.com/connect/oauth2/authorize?
  appid=CORPID&redirect_uri=…&response_type=code&scope=snsapi_base&state=…&agentid=…
  #wechat_redirect`` → ``redirect_uri?code=…&state=…`` (code single use, 5 min) [D]. Build it
  with ``build_authorization_url(WECOM_OAUTH, client_id=corp_id, …,
  extra_params={"agentid": agent_id})``; parameters come out in the documented order.
- There is no token endpoint: the code is exchanged, with the app's **corp access token**
  (``credentials.fetch_wecom_corp_token``), at ``GET /cgi-bin/auth/getuserinfo`` for an
  *identity* (member ``userid`` [+ ``user_ticket``] or non-member ``openid``/``external_userid``),
  not a token set → :func:`exchange_wecom_code`.
- Errors are ``errcode`` in an HTTP 200 body [D]: 40029 invalid code; 40014/42001/40001 bad or
  expired corp token (refetch it and retry once, as wechatpy does); -1 busy, 45009 rate limit.
- No PKCE, no refresh, no revocation [D].
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from gateway.providers.oauth import (
    InvalidCredentials,
    InvalidGrant,
    OAuthSpec,
    OAuthTokenError,
    TokenEndpointUnavailable,
    TokenRequestRejected,
    TokenResponseInvalid,
    fetch_credential_json,
    optional_secret,
    rebase_url,
    reveal,
)

WECOM_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
WECOM_GETUSERINFO_URL = "https://qyapi.weixin.qq.com/cgi-bin/auth/getuserinfo"

WECOM_TRANSIENT_ERRCODES = frozenset({-1, 45009})
_CORP_TOKEN_ERRCODES = frozenset({40001, 40014, 41001, 42001})


class CorpTokenRejected(OAuthTokenError):
    """The corp access token was invalid or expired: refetch it, then retry once."""

    code = "wecom_corp_token_rejected"
    title = "WeCom rejected the corp access token"


@dataclass(frozen=True, slots=True)
class WeComIdentity:
    """Who completed WeCom web auth. ``user_ticket`` (snsapi_privateinfo only) is a secret."""

    user_id: str | None = None
    open_id: str | None = None
    external_user_id: str | None = None
    user_ticket: SecretStr | None = None

    def as_account(self) -> dict[str, str]:
        """Non-secret identity fields for ``TokenSet.account`` / connection metadata."""
        fields = {
            "userid": self.user_id,
            "openid": self.open_id,
            "external_userid": self.external_user_id,
        }
        return {key: value for key, value in fields.items() if value}


def raise_for_wecom_errcode(errcode: object, *, http_status: int) -> None:
    """Raise the typed error for a non-zero ``errcode`` of a corp-token-authenticated call."""
    if errcode in (0, None):
        return
    if errcode in WECOM_TRANSIENT_ERRCODES:
        raise TokenEndpointUnavailable(provider_error=errcode, http_status=http_status)
    if errcode == 40029:
        raise InvalidGrant(provider_error=errcode, http_status=http_status)
    if errcode in _CORP_TOKEN_ERRCODES:
        raise CorpTokenRejected(provider_error=errcode, http_status=http_status)
    raise TokenRequestRejected(provider_error=errcode, http_status=http_status)


async def exchange_wecom_code(
    client: httpx.AsyncClient,
    *,
    corp_access_token: SecretStr | str,
    code: str,
    base_url: str | None = None,
) -> WeComIdentity:
    """Exchange a web-auth ``code`` for the user's identity (``/cgi-bin/auth/getuserinfo``)."""
    token = reveal(corp_access_token)
    request = httpx.Request(
        "GET",
        rebase_url(WECOM_GETUSERINFO_URL, base_url),
        params={"access_token": token, "code": code},
    )
    try:
        response, body = await fetch_credential_json(client, request, mask=(token,))
    except InvalidCredentials:  # a non-JSON 4xx: WeCom normally answers errors with HTTP 200
        raise CorpTokenRejected() from None
    raise_for_wecom_errcode(body.get("errcode"), http_status=response.status_code)

    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) and value else None

    identity = WeComIdentity(
        user_id=text("userid") or text("UserId"),
        open_id=text("openid") or text("OpenId"),
        external_user_id=text("external_userid"),
        user_ticket=optional_secret(body.get("user_ticket")),
    )
    if not (identity.user_id or identity.open_id):
        raise TokenResponseInvalid("WeCom getuserinfo returned no user identity")
    return identity


WECOM_OAUTH = OAuthSpec(
    authorization_url=WECOM_AUTHORIZE_URL,
    token_url=WECOM_GETUSERINFO_URL,
    default_scopes=("snsapi_base",),
    pkce=False,
    token_auth_method="client_secret_post",
    token_body_format="form",
    client_id_param="appid",
    refresh_supported=False,
    revocation_style="none",
    flow="wecom_web_auth",
    url_fragment="wechat_redirect",
)

OAUTH: OAuthSpec | None = WECOM_OAUTH
"""The provider-registry hook: WeCom web auth (``flow="wecom_web_auth"``)."""
