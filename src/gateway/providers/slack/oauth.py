"""Slack OAuth v2 (providers.md §1.3).

- Authorize ``https://slack.com/oauth/v2/authorize``: bot scopes in ``scope`` and user scopes in
  ``user_scope``, both **comma**-separated [V, slack_sdk AuthorizeUrlGenerator].
- Token ``https://slack.com/api/oauth.v2.access``: form body, client credentials via HTTP Basic
  (what the docs ask for and slack_sdk sends) [D/V]. Errors are **HTTP 200 + ``ok:false``**.
- Bot token top-level (``xoxb-``), user token nested in ``authed_user`` (``xoxp-``); with token
  rotation also ``expires_in`` + single-use ``refresh_token`` [V].
- Revocation ``auth.revoke`` authenticated by the token itself (Bearer) [V].
- PKCE is **off**: Slack supports it only for apps that opted in to PKCE, which irreversibly turns
  the app into a *public* client (docs.slack.dev/authentication/using-pkce, GA 2026-03-30). The
  gateway is a confidential client using client_secret_basic, so it does not send PKCE
  parameters; the state cookie (O1) and the exact redirect_uri (O3) still protect the flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import httpx
from pydantic import SecretStr

from gateway.providers.oauth import (
    InvalidClient,
    InvalidGrant,
    OAuthSpec,
    TokenEndpointUnavailable,
    TokenRequestRejected,
    TokenResponseInvalid,
    TokenSet,
    aware_utc,
    expiry,
    optional_secret,
    read_json_object,
    token_set_from_payload,
)

SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
SLACK_TOKEN_URL = "https://slack.com/api/oauth.v2.access"
SLACK_REVOKE_URL = "https://slack.com/api/auth.revoke"

# Documented oauth.v2.access errors [D]; "invalid_grant" kept for safety.
_GRANT_ERRORS = frozenset(
    {"invalid_code", "invalid_grant", "invalid_refresh_token", "bad_redirect_uri"}
)
_CLIENT_ERRORS = frozenset({"invalid_client_id", "bad_client_secret", "invalid_client"})
# Slack's global transient errors.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)


def slack_authorize_params(
    *, user_scopes: Sequence[str] = (), team: str | None = None
) -> dict[str, str]:
    """Per-connection extras for ``build_authorization_url``: ``user_scope`` and ``team``."""
    params: dict[str, str] = {}
    if user_scopes:
        params["user_scope"] = ",".join(user_scopes)
    if team:
        params["team"] = team
    return params


def _str_fields(source: object, mapping: Mapping[str, str]) -> dict[str, str]:
    """Copy string/bool fields of a JSON object into ``account`` under new names."""
    if not isinstance(source, dict):
        return {}
    out: dict[str, str] = {}
    for key, target in mapping.items():
        value = source.get(key)
        if isinstance(value, bool):
            out[target] = "true" if value else "false"
        elif isinstance(value, str) and value:
            out[target] = value
    return out


def _raise_slack_error(error: object, http_status: int) -> NoReturn:
    if error in _GRANT_ERRORS:
        raise InvalidGrant(provider_error=error, http_status=http_status)
    if error in _CLIENT_ERRORS:
        raise InvalidClient(provider_error=error, http_status=http_status)
    if error in _TRANSIENT_ERRORS:
        raise TokenEndpointUnavailable(provider_error=error, http_status=http_status)
    raise TokenRequestRejected(provider_error=error or "unknown_error", http_status=http_status)


def parse_slack_token_response(response: httpx.Response, /, *, now: datetime) -> TokenSet:
    """Parse ``oauth.v2.access`` (code exchange and rotation refresh).

    The primary token is the top-level one (bot, or user for a user-token refresh). For a
    user-scopes-only install with no top-level token, the ``authed_user`` token becomes primary.
    """
    now = aware_utc(now)
    body: dict[str, Any] = read_json_object(response)
    if body.get("ok") is not True:
        _raise_slack_error(body.get("error"), response.status_code)
    raw_user = body.get("authed_user")
    user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
    primary_is_user = "access_token" not in body and "access_token" in user
    try:
        tokens = token_set_from_payload(
            user if primary_is_user else body, now=now, scope_separator=","
        )
    except TokenResponseInvalid:
        raise TokenResponseInvalid("Slack response has no access token") from None
    if primary_is_user and tokens.token_type is None:
        tokens.token_type = "user"
    account = _str_fields(
        body,
        {
            "bot_user_id": "bot_user_id",
            "app_id": "app_id",
            "is_enterprise_install": "is_enterprise_install",
        },
    )
    account |= _str_fields(body.get("team"), {"id": "team_id", "name": "team_name"})
    account |= _str_fields(
        body.get("enterprise"), {"id": "enterprise_id", "name": "enterprise_name"}
    )
    account |= _str_fields(user, {"id": "authed_user_id", "scope": "user_scope"})
    webhook = body.get("incoming_webhook")
    account |= _str_fields(
        webhook,
        {
            "channel": "incoming_webhook_channel",
            "channel_id": "incoming_webhook_channel_id",
            "configuration_url": "incoming_webhook_configuration_url",
        },
    )
    secrets: dict[str, SecretStr] = {}
    if isinstance(webhook, dict) and (url := optional_secret(webhook.get("url"))):
        secrets["incoming_webhook_url"] = url  # the URL itself is the credential
    if not primary_is_user:
        if user_token := optional_secret(user.get("access_token")):
            secrets["user_access_token"] = user_token
        if user_refresh := optional_secret(user.get("refresh_token")):
            secrets["user_refresh_token"] = user_refresh
        if user_expiry := expiry(now, user.get("expires_in")):
            account["user_token_expires_at"] = user_expiry.isoformat()
    tokens.account = account
    tokens.extra_secrets = secrets
    return tokens


SLACK_OAUTH = OAuthSpec(
    authorization_url=SLACK_AUTHORIZE_URL,
    token_url=SLACK_TOKEN_URL,
    revocation_url=SLACK_REVOKE_URL,
    default_scopes=("app_mentions:read", "channels:history", "chat:write", "im:history"),
    scope_separator=",",
    pkce=False,
    token_auth_method="client_secret_basic",
    token_body_format="form",
    refresh_supported=True,  # only for apps with token rotation enabled
    revocation_style="slack",
    token_parser=parse_slack_token_response,
)

OAUTH: OAuthSpec | None = SLACK_OAUTH
"""The provider-registry hook: Slack's OAuth capability."""
