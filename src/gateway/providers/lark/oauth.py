"""Lark / Feishu user OAuth (providers.md §4.3).

- Authorize ``https://accounts.feishu.cn/open-apis/authen/v1/authorize`` with ``client_id``,
  space-separated ``scope``, ``state`` and PKCE S256 [D].
- Token ``https://open.feishu.cn/open-apis/authen/v2/oauth/token``: JSON body with
  ``client_id``/``client_secret`` in the body (what lark-oapi's device flow posts) [D/V-source].
  Response ``access_token, expires_in, refresh_token, refresh_token_expires_in, token_type,
  scope`` plus ``code`` (0 on success); ``refresh_token*`` only when ``offline_access`` was
  granted, which is why it is in the default scopes [D].
- Refresh tokens are single-use: "原 refresh_token 立即失效" [D] → the caller must persist the
  rotated one before using it (O5/O6).
- Errors: RFC 6749 ``error`` strings alongside a numeric ``code`` [D]; we map on ``error`` and
  fall back to the numeric code as an opaque ``provider_error`` (the code table is not verified).
- Not covered [?]: the v3 endpoint ``accounts.feishu.cn/oauth/v3/token`` (same params, said to
  replace v2), Lark-international hosts (``open.larksuite.com``; authorize host unverified), and
  revocation (no endpoint found). Use ``OAuthSpec.rebased`` to target other hosts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from gateway.providers.oauth import (
    OAuthSpec,
    TokenRequestRejected,
    TokenResponseInvalid,
    TokenSet,
    raise_for_oauth_error,
    read_json_object,
    token_set_from_payload,
)

LARK_AUTHORIZE_URL = "https://accounts.feishu.cn/open-apis/authen/v1/authorize"
LARK_TOKEN_URL = "https://open.feishu.cn/open-apis/authen/v2/oauth/token"


def parse_lark_token_response(response: httpx.Response, /, *, now: datetime) -> TokenSet:
    """Parse ``/authen/v2/oauth/token`` (``{"code":0,...}`` success or RFC ``error``)."""
    body = read_json_object(response)
    if body.get("error"):
        raise_for_oauth_error(body["error"], http_status=response.status_code)
    code = body.get("code", 0)
    if code != 0:
        raise TokenRequestRejected(provider_error=code, http_status=response.status_code)
    if not response.is_success:
        raise TokenResponseInvalid(http_status=response.status_code)
    # Some deployments wrap the token fields in "data" (lark-oapi device_flow tolerates both).
    payload: dict[str, Any] = body
    if "access_token" not in body and isinstance(body.get("data"), dict):
        payload = body["data"]
    return token_set_from_payload(payload, now=now, scope_separator=" ")


LARK_OAUTH = OAuthSpec(
    authorization_url=LARK_AUTHORIZE_URL,
    token_url=LARK_TOKEN_URL,
    default_scopes=("offline_access",),
    scope_separator=" ",
    pkce=True,
    token_auth_method="client_secret_post",
    token_body_format="json",
    refresh_supported=True,
    revocation_style="none",
    token_parser=parse_lark_token_response,
)

OAUTH: OAuthSpec | None = LARK_OAUTH
"""The provider-registry hook: Lark/Feishu's OAuth capability."""
