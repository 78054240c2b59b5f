"""Declarative OAuth 2.0 capability shared by every provider (no DB, no web framework).

A provider declares an :class:`OAuthSpec`; the connect/refresh services combine it with the pure
builders here and the three thin async wrappers (:func:`exchange_code`, :func:`refresh`,
:func:`revoke`), which are the only place where httpx transport errors are mapped.

This module is the public import point. The error tree lives in ``oauth_errors``, token sets and
response parsing in ``oauth_tokens``, the spec and request builders in ``oauth_spec`` (split only
to keep files small); everything is re-exported here.
Layering: ``oauth_errors`` → ``oauth_tokens`` → ``oauth_spec`` → ``oauth`` → ``<p>/oauth.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.providers.oauth_errors import (
    InvalidClient,
    InvalidCredentials,
    InvalidGrant,
    OAuthTokenError,
    TokenEndpointUnavailable,
    TokenRequestRejected,
    TokenResponseInvalid,
    platform_reason,
    safe_code,
)
from gateway.providers.oauth_spec import (
    GrantType,
    OAuthFlow,
    OAuthSpec,
    RevocationStyle,
    TokenAuthMethod,
    TokenBodyFormat,
    basic_auth_header,
    build_authorization_url,
    build_token_request,
    custom_spec,
    parse_token_response,
    pkce_challenge,
    pkce_pair,
    rebase_url,
    reveal,
    utc_now,
)
from gateway.providers.oauth_tokens import (
    TokenParser,
    TokenSet,
    aware_utc,
    expiry,
    optional_secret,
    parse_rfc6749_token_response,
    raise_for_oauth_error,
    read_json_object,
    retry_after_seconds,
    split_scopes,
    token_set_from_payload,
)

__all__ = [
    "GrantType",
    "InvalidClient",
    "InvalidCredentials",
    "InvalidGrant",
    "OAuthFlow",
    "OAuthSpec",
    "OAuthTokenError",
    "RevocationOutcome",
    "RevocationStyle",
    "TokenAuthMethod",
    "TokenBodyFormat",
    "TokenEndpointUnavailable",
    "TokenParser",
    "TokenRequestRejected",
    "TokenResponseInvalid",
    "TokenSet",
    "aware_utc",
    "basic_auth_header",
    "build_authorization_url",
    "build_revocation_request",
    "build_token_request",
    "classify_revocation_response",
    "custom_spec",
    "exchange_code",
    "expiry",
    "fetch_credential_json",
    "optional_secret",
    "parse_rfc6749_token_response",
    "parse_token_response",
    "pkce_challenge",
    "pkce_pair",
    "platform_reason",
    "raise_for_oauth_error",
    "read_json_object",
    "rebase_url",
    "refresh",
    "retry_after_seconds",
    "reveal",
    "revoke",
    "safe_code",
    "send_token_request",
    "split_scopes",
    "token_set_from_payload",
    "utc_now",
]

# --------------------------------------------------------------------------- revocation


class RevocationOutcome(StrEnum):
    """Result of a revocation attempt (O8). Local ciphertext is deleted regardless."""

    REVOKED = "revoked"  # done, including "token was already invalid"
    RETRY = "retry"  # 5xx / 429 / rate limited: try again later
    FAILED = "failed"  # refused for another reason; retrying will not help
    UNSUPPORTED = "unsupported"  # the provider has no revocation endpoint


_SLACK_ALREADY_DEAD = frozenset(
    {"invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed"}
)


def build_revocation_request(
    spec: OAuthSpec,
    *,
    client_id: str,
    client_secret: SecretStr | str,
    token: SecretStr | str,
    token_type_hint: str | None = None,
    base_url: str | None = None,
) -> httpx.Request | None:
    """RFC 7009 form POST (client auth as for the token endpoint), Slack ``auth.revoke`` with a
    Bearer header, or None when the provider cannot revoke."""
    if spec.revocation_url is None or spec.revocation_style == "none":
        return None
    url = rebase_url(spec.revocation_url, base_url)
    if spec.revocation_style == "slack":
        return httpx.Request("POST", url, headers={"Authorization": f"Bearer {reveal(token)}"})
    fields = {"token": reveal(token)}
    if token_type_hint:
        fields["token_type_hint"] = token_type_hint
    headers = {"Accept": "application/json"}
    if spec.token_auth_method == "client_secret_basic":
        headers["Authorization"] = basic_auth_header(client_id, reveal(client_secret))
    else:
        fields |= {"client_id": client_id, "client_secret": reveal(client_secret)}
    return httpx.Request("POST", url, data=fields, headers=headers)


def classify_revocation_response(
    response: httpx.Response, style: RevocationStyle = "rfc7009"
) -> RevocationOutcome:
    """RFC 7009 §2.2: 200 = revoked (also for an invalid token), 503/5xx/429 = retry later."""
    status = response.status_code
    if status >= 500 or status == 429:
        return RevocationOutcome.RETRY
    if style != "slack":
        return RevocationOutcome.REVOKED if response.is_success else RevocationOutcome.FAILED
    try:
        body = response.json()
    except ValueError:
        return RevocationOutcome.FAILED
    if not isinstance(body, dict):
        return RevocationOutcome.FAILED
    if body.get("ok") is True or body.get("error") in _SLACK_ALREADY_DEAD:
        return RevocationOutcome.REVOKED
    return (
        RevocationOutcome.RETRY if body.get("error") == "ratelimited" else RevocationOutcome.FAILED
    )


# --------------------------------------------------------------------------- async wrappers


async def send_token_request(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    """Send through ``client``; every httpx transport failure → TokenEndpointUnavailable.

    Gateway errors raised by the shared client factory (``DestinationBlocked`` for a custom
    provider URL refused by the egress policy, ``ResponseTooLarge``) are not transient and pass
    through unchanged.
    """
    try:
        return await client.send(request)
    except httpx.HTTPError as exc:
        # ``from None``: the httpx error may print a URL that holds a credential.
        message = f"token endpoint unreachable ({type(exc).__name__})"
        raise TokenEndpointUnavailable(message) from None


async def fetch_credential_json(
    client: httpx.AsyncClient, request: httpx.Request, *, mask: Sequence[str] = ()
) -> tuple[httpx.Response, dict[str, Any]]:
    """Send a credential-check request and return the response with its JSON object body.

    For the credential fetchers (bot token, app key/secret, corp secret): transport failures,
    5xx and 429 → TokenEndpointUnavailable; a non-JSON 4xx → InvalidCredentials("HTTP <status>");
    a non-JSON 2xx → TokenResponseInvalid. Platform-level errors are left to the caller.
    """
    response = await send_token_request(client, request)
    status = response.status_code
    if status >= 500 or status == 429:
        retry_after = retry_after_seconds(response)
        raise TokenEndpointUnavailable(http_status=status, retry_after=retry_after)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return response, body
    if 400 <= status < 500:
        raise InvalidCredentials(platform_reason(f"HTTP {status}", mask=mask))
    raise TokenResponseInvalid("credential endpoint did not return a JSON object")


async def _request_tokens(
    client: httpx.AsyncClient, spec: OAuthSpec, request: httpx.Request, *, now: datetime | None
) -> TokenSet:
    """Send a token-endpoint request and parse the token set; expiries count from ``now``
    (default: just before sending)."""
    issued_at = now or utc_now()
    return parse_token_response(spec, await send_token_request(client, request), now=issued_at)


async def exchange_code(
    client: httpx.AsyncClient,
    spec: OAuthSpec,
    *,
    client_id: str,
    client_secret: SecretStr | str,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
    now: datetime | None = None,
    base_url: str | None = None,
) -> TokenSet:
    """Exchange an authorization code (``redirect_uri`` byte-identical to the authorize one)."""
    request = build_token_request(
        spec,
        client_id=client_id,
        client_secret=client_secret,
        grant="authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=code_verifier,
        base_url=base_url,
    )
    return await _request_tokens(client, spec, request, now=now)


async def refresh(
    client: httpx.AsyncClient,
    spec: OAuthSpec,
    *,
    client_id: str,
    client_secret: SecretStr | str,
    refresh_token: SecretStr | str,
    now: datetime | None = None,
    base_url: str | None = None,
) -> TokenSet:
    """Use a refresh token. A result without ``refresh_token`` means: keep the old one (O6)."""
    request = build_token_request(
        spec,
        client_id=client_id,
        client_secret=client_secret,
        grant="refresh_token",
        refresh_token=refresh_token,
        base_url=base_url,
    )
    return await _request_tokens(client, spec, request, now=now)


async def revoke(
    client: httpx.AsyncClient,
    spec: OAuthSpec,
    *,
    client_id: str,
    client_secret: SecretStr | str,
    token: SecretStr | str,
    token_type_hint: str | None = None,
    base_url: str | None = None,
) -> RevocationOutcome:
    """Revoke at the provider; transport failures raise TokenEndpointUnavailable (= retry)."""
    request = build_revocation_request(
        spec,
        client_id=client_id,
        client_secret=client_secret,
        token=token,
        token_type_hint=token_type_hint,
        base_url=base_url,
    )
    if request is None:
        return RevocationOutcome.UNSUPPORTED
    response = await send_token_request(client, request)
    return classify_revocation_response(response, spec.revocation_style)
