"""Sandbox OAuth 2.0 (the authorization server in ``gateway.sandbox``, mounted under /sandbox).

- Authorize ``/sandbox/oauth/authorize``: consent page; PKCE **S256 required**, ``redirect_uri``
  must be exactly this gateway's ``/oauth/sandbox/callback``; space-separated scopes.
- Token ``/sandbox/oauth/token``: form body, client credentials via HTTP Basic (RFC 6749 §2.3.1),
  codes single-use (5 min), refresh tokens single-use and rotated; reusing one revokes the family.
- Revocation ``/sandbox/oauth/revoke`` (RFC 7009): revokes the whole grant.

The endpoints below name the default public base; ``catalogue.service.provider_base_url`` rebases
them onto ``GATEWAY_PUBLIC_BASE_URL`` (or a ``GATEWAY_PROVIDER_BASE_URLS`` override). The token
response carries the sandbox workspace and the app's user id; the API base the connection's tools
call is where the token came from (``api_base`` in the connection's account).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import httpx

from gateway.providers.oauth import (
    OAuthSpec,
    TokenSet,
    parse_rfc6749_token_response,
    read_json_object,
)

DEFAULT_BASE: Final = "http://127.0.0.1:8000"
AUTHORIZE_PATH: Final = "/sandbox/oauth/authorize"
TOKEN_PATH: Final = "/sandbox/oauth/token"
REVOKE_PATH: Final = "/sandbox/oauth/revoke"
API_PATH: Final = "/sandbox/api"

#: Scope → what the consent page tells the user it allows.
SCOPES: Final[dict[str, str]] = {
    "messages:read": "Read the messages of your sandbox conversations",
    "messages:write": "Send messages to your sandbox conversations as the app",
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_sandbox_token_response(response: httpx.Response, /, *, now: datetime) -> TokenSet:
    """RFC 6749 token response plus the sandbox's ``workspace`` and ``bot_user_id``."""
    tokens = parse_rfc6749_token_response(response, now=now)
    body = read_json_object(response)
    workspace = body.get("workspace")
    account: dict[str, str] = {}
    if isinstance(workspace, dict):
        for key, target in (("id", "workspace_id"), ("name", "workspace_name")):
            if value := _text(workspace.get(key)):
                account[target] = value
    if bot_user_id := _text(body.get("bot_user_id")):
        account["bot_user_id"] = bot_user_id
    try:
        url = response.request.url
    except RuntimeError:  # a response built without a request (tests)
        url = None
    if url is not None and url.path.endswith(TOKEN_PATH):
        root = str(url.copy_with(query=None, fragment=None))[: -len(TOKEN_PATH)]
        account["api_base"] = root + API_PATH
    tokens.account = account
    return tokens


SANDBOX_OAUTH = OAuthSpec(
    authorization_url=DEFAULT_BASE + AUTHORIZE_PATH,
    token_url=DEFAULT_BASE + TOKEN_PATH,
    revocation_url=DEFAULT_BASE + REVOKE_PATH,
    default_scopes=tuple(SCOPES),
    scope_separator=" ",
    pkce=True,
    token_auth_method="client_secret_basic",
    token_body_format="form",
    refresh_supported=True,
    revocation_style="rfc7009",
    token_parser=parse_sandbox_token_response,
)

OAUTH: OAuthSpec | None = SANDBOX_OAUTH
"""The provider-registry hook: the sandbox's OAuth capability."""
