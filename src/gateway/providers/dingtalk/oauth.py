"""DingTalk user OAuth (providers.md §5.3).

- Authorize ``https://login.dingtalk.com/oauth2/auth?client_id&redirect_uri&state&
  response_type=code&prompt=consent&scope=openid`` (``openid corpid`` also returns ``corpId``);
  the callback carries **``authCode``**, not ``code`` [D].
- Token ``POST https://api.dingtalk.com/v1.0/oauth2/userAccessToken``, camelCase JSON
  ``{"clientId","clientSecret","code"|"refreshToken","grantType"}`` → ``{"accessToken",
  "refreshToken","expireIn","corpId"}`` [D/V, alibabacloud-dingtalk GetUserTokenRequest].
- Errors: HTTP status + ``{"code": "<string>", "message", "requestid"}`` [D]; the concrete codes
  of this endpoint were not found, so :func:`classify_dingtalk_error` is a heuristic on the code
  name [?]. PKCE, revocation and refresh-token rotation are undocumented [?] → PKCE and
  revocation off; the caller still treats every refresh as a rotation.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from gateway.providers.oauth import (
    InvalidClient,
    InvalidGrant,
    OAuthSpec,
    OAuthTokenError,
    TokenEndpointUnavailable,
    TokenRequestRejected,
    TokenResponseInvalid,
    TokenSet,
    read_json_object,
    token_set_from_payload,
)

DINGTALK_AUTHORIZE_URL = "https://login.dingtalk.com/oauth2/auth"
DINGTALK_TOKEN_URL = "https://api.dingtalk.com/v1.0/oauth2/userAccessToken"

_GRANT_HINTS = ("authcode", "refreshtoken", "invalidcode", "code.invalid", "code.expired")
_CLIENT_HINTS = ("clientid", "clientsecret", "appkey", "appsecret", "invalidclient")
_TRANSIENT_HINTS = ("throttl", "ratelimit", "flowcontrol", "systembusy", "timeout")


def classify_dingtalk_error(code: object, http_status: int) -> OAuthTokenError:
    """Typed error for a new-API ``{"code": …}`` failure (heuristic on the code name) [?]."""
    name = code.replace("_", "").lower() if isinstance(code, str) else ""
    if any(hint in name for hint in _TRANSIENT_HINTS):
        return TokenEndpointUnavailable(provider_error=code, http_status=http_status)
    if any(hint in name for hint in _CLIENT_HINTS) or (not name and http_status == 401):
        return InvalidClient(provider_error=code, http_status=http_status)
    if any(hint in name for hint in _GRANT_HINTS):
        return InvalidGrant(provider_error=code, http_status=http_status)
    return TokenRequestRejected(provider_error=code, http_status=http_status)


def parse_dingtalk_token_response(response: httpx.Response, /, *, now: datetime) -> TokenSet:
    """Parse ``/v1.0/oauth2/userAccessToken`` (camelCase success, ``code`` on failure)."""
    body = read_json_object(response)
    if not response.is_success:
        raise classify_dingtalk_error(body.get("code"), response.status_code)
    if "accessToken" not in body and body.get("code"):
        raise classify_dingtalk_error(body.get("code"), response.status_code)
    try:
        tokens = token_set_from_payload(
            body,
            now=now,
            access_key="accessToken",
            refresh_key="refreshToken",
            expires_key="expireIn",
            refresh_expires_keys=(),
        )
    except TokenResponseInvalid:
        raise TokenResponseInvalid("DingTalk response has no accessToken") from None
    if isinstance(corp_id := body.get("corpId"), str) and corp_id:
        tokens.account["corp_id"] = corp_id
    return tokens


DINGTALK_OAUTH = OAuthSpec(
    authorization_url=DINGTALK_AUTHORIZE_URL,
    token_url=DINGTALK_TOKEN_URL,
    default_scopes=("openid", "corpid"),
    scope_separator=" ",
    pkce=False,
    token_auth_method="client_secret_post",
    token_body_format="json_camel",
    code_param="authCode",
    extra_authorize_params={"prompt": "consent"},
    refresh_supported=True,
    revocation_style="none",
    token_parser=parse_dingtalk_token_response,
)

OAUTH: OAuthSpec | None = DINGTALK_OAUTH
"""The provider-registry hook: DingTalk's OAuth capability."""
