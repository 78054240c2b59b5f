"""The gateway's one exception hierarchy, rendered as RFC 9457 problem+json.

    GatewayError(message, status_code, code)
    ├── BadRequest (400)             ├── NotFound (404)
    ├── Unauthorized (401)           │   └── ...domain "X not found" errors
    │   ├── InvalidApiKey            ├── Conflict (409)
    │   └── SignatureInvalid         │   └── OAuthClientMissing
    ├── Forbidden (403)              ├── PayloadTooLarge (413)
    ├── ValidationFailed (422)       ├── RateLimited (429, retry_after)
    │   └── InvalidOAuthState (400)  ├── ServiceUnavailable (503)
    └── DecryptionFailed (internal: callers turn it into a status, never a 500)

Every error carries a stable machine ``code``; messages never contain secrets.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status_code: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.title
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(GatewayError):
    status_code = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(GatewayError):
    status_code = 401
    code = "unauthorized"
    title = "Authentication required"


class InvalidApiKey(Unauthorized):
    code = "invalid_api_key"
    title = "Missing, unknown or revoked API key"


class SignatureInvalid(Unauthorized):
    code = "signature_invalid"
    title = "Webhook signature could not be verified"


class Forbidden(GatewayError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"
    title = "Not found"


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class OAuthClientMissing(Conflict):
    code = "oauth_client_missing"
    title = "No OAuth client is configured for this provider"


class InvalidOAuthState(BadRequest):
    code = "invalid_oauth_state"
    title = "OAuth state is missing, expired, already used or not bound to this browser"


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "payload_too_large"
    title = "Request body exceeds the limit"


class ValidationFailed(GatewayError):
    status_code = 422
    code = "validation_failed"
    title = "Request failed validation"


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0, **kw: Any) -> None:
        self.retry_after = retry_after
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("Retry-After", str(max(1, int(retry_after + 0.999))))
        super().__init__(message, headers=headers, **kw)


class ServiceUnavailable(GatewayError):
    status_code = 503
    code = "service_unavailable"
    title = "A backing service is unavailable; retry later"


class DecryptionFailed(GatewayError):
    """A ciphertext did not authenticate (wrong row, flipped byte, unknown key id)."""

    status_code = 500
    code = "decryption_failed"
    title = "Stored secret could not be decrypted"
