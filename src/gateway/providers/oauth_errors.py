"""Typed errors of the OAuth / credential layer (re-exported by ``gateway.providers.oauth``).

All rooted at ``gateway.kit.errors.GatewayError``::

    OAuthTokenError (502, oauth_token_error)        the token endpoint gave us no usable tokens
    ├── InvalidGrant (400, oauth_invalid_grant)      code / refresh token invalid, expired, revoked
    │                                                or reused → connection needs_reauth (O7)
    ├── InvalidClient (502, oauth_invalid_client)    client id/secret refused → needs_reauth + alert
    ├── TokenRequestRejected (502, oauth_request_rejected)   other refusals (invalid_scope, …)
    ├── TokenResponseInvalid (502, oauth_token_response_invalid)  unparseable / no access token
    └── TokenEndpointUnavailable (503, oauth_token_endpoint_unavailable)
                                                     5xx, 429, timeout, network: keep credentials
                                                     and back off (``retry_after`` when known)
    ValidationFailed (422)
    └── InvalidCredentials (422, invalid_credentials)  a credential connection was refused;
                                                       ``reason`` = the platform's code/message

Messages carry at most the platform's machine error code (filtered by :func:`safe_code`), never
a token, a secret, an ``error_description`` or a raw body (O9).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.kit.errors import GatewayError, ValidationFailed

_SAFE_CODE = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")


def safe_code(value: object) -> str | None:
    """A platform error code if it looks like one (short, no spaces), else None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if _SAFE_CODE.fullmatch(text) else None


class OAuthTokenError(GatewayError):
    """Base: the token endpoint refused or failed the request. Never carries token values."""

    status_code = 502
    code = "oauth_token_error"
    title = "The provider's token endpoint refused the request"

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_error: object = None,
        http_status: int | None = None,
    ) -> None:
        self.provider_error = safe_code(provider_error)
        self.http_status = http_status
        extra: dict[str, Any] = {}
        if self.provider_error is not None:
            extra["provider_error"] = self.provider_error
        if http_status is not None:
            extra["provider_status"] = http_status
        if message is None and self.provider_error is not None:
            message = f"{self.title} ({self.provider_error})"
        super().__init__(message, extra=extra)


class InvalidGrant(OAuthTokenError):
    """The code or refresh token is invalid, expired, revoked or was already used."""

    status_code = 400
    code = "oauth_invalid_grant"
    title = "The authorization grant is invalid, expired or revoked"


class InvalidClient(OAuthTokenError):
    """The provider refused our client id / secret (misconfigured OAuth client)."""

    code = "oauth_invalid_client"
    title = "The provider rejected the OAuth client credentials"


class TokenRequestRejected(OAuthTokenError):
    """Any other explicit refusal (invalid_scope, unsupported_grant_type, platform codes)."""

    code = "oauth_request_rejected"
    title = "The provider rejected the token request"


class TokenResponseInvalid(OAuthTokenError):
    """The response could not be parsed or held no access token."""

    code = "oauth_token_response_invalid"
    title = "The token endpoint returned an unusable response"


class TokenEndpointUnavailable(OAuthTokenError):
    """Transient: 5xx, 429, timeout or network failure. Keep credentials and back off."""

    status_code = 503
    code = "oauth_token_endpoint_unavailable"
    title = "The provider's token endpoint is unavailable; retry later"

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_error: object = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider_error=provider_error, http_status=http_status)


class InvalidCredentials(ValidationFailed):
    """A credential connection (bot token, app key/secret, corp id/secret) was refused.

    ``reason`` is the platform's own code/message, built with :func:`platform_reason` so the
    submitted secret can never be echoed back.
    """

    code = "invalid_credentials"
    title = "The platform rejected these credentials"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{self.title}: {reason}", extra={"reason": reason})


def platform_reason(*parts: object, mask: Iterable[str] = ()) -> str:
    """A short printable reason from platform codes/messages; values in ``mask`` become ***."""
    text = " ".join(str(p) for p in parts if p is not None and p != "")
    for secret in mask:
        if secret:
            text = text.replace(secret, "***")
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return text[:200] or "unknown"
