"""Token sets and token-endpoint response parsing (re-exported by ``gateway.providers.oauth``).

Provider parsers (Slack, Discord, Lark, DingTalk) are built from the helpers here: read the JSON
object (5xx/429 → transient), map the platform's error code, then :func:`token_set_from_payload`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol

import httpx
from pydantic import SecretStr

from gateway.providers.oauth_errors import (
    InvalidClient,
    InvalidGrant,
    TokenEndpointUnavailable,
    TokenRequestRejected,
    TokenResponseInvalid,
)


@dataclass(slots=True)
class TokenSet:
    """Tokens from one token-endpoint answer. ``repr`` masks every secret (pydantic SecretStr).

    ``expires_at``/``refresh_expires_at`` are aware UTC datetimes computed from the response's
    relative lifetime and an injected ``now``. ``refresh_token`` is None when the answer carried
    none: after a refresh the caller keeps the old one (O6, :meth:`keeping_refresh_token`).
    ``account`` holds non-secret identity/metadata (team id, bot user id, corpId, …);
    ``extra_secrets`` holds further credentials (Slack user token, Discord webhook token).
    """

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    token_type: str | None = None
    account: dict[str, str] = field(default_factory=dict)
    extra_secrets: dict[str, SecretStr] = field(default_factory=dict)

    def keeping_refresh_token(self, previous: SecretStr | None) -> TokenSet:
        """This token set, with ``previous`` as refresh token if the response carried none."""
        if self.refresh_token is not None:
            return self
        return replace(self, refresh_token=previous)


class TokenParser(Protocol):
    """Turns a token-endpoint response into a :class:`TokenSet` or raises a typed error."""

    def __call__(self, response: httpx.Response, /, *, now: datetime) -> TokenSet: ...


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds when given as a number (HTTP-date forms are ignored)."""
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def read_json_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object body; 5xx/429 → unavailable, non-JSON 401 → invalid client."""
    status = response.status_code
    if status >= 500 or status == 429:
        retry_after = retry_after_seconds(response)
        raise TokenEndpointUnavailable(http_status=status, retry_after=retry_after)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    if status == 401:
        raise InvalidClient(http_status=status)
    raise TokenResponseInvalid("token endpoint did not return a JSON object", http_status=status)


def raise_for_oauth_error(error: object, *, http_status: int | None = None) -> NoReturn:
    """Map an RFC 6749 §5.2 ``error`` code to the typed error."""
    if error == "invalid_grant":
        raise InvalidGrant(provider_error=error, http_status=http_status)
    if error in ("invalid_client", "unauthorized_client"):
        raise InvalidClient(provider_error=error, http_status=http_status)
    if error in ("temporarily_unavailable", "server_error"):
        raise TokenEndpointUnavailable(provider_error=error, http_status=http_status)
    raise TokenRequestRejected(provider_error=error, http_status=http_status)


def aware_utc(now: datetime) -> datetime:
    """``now`` as UTC; naive datetimes are refused (expiry must never depend on local time)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def expiry(now: datetime, seconds: object) -> datetime | None:
    """``now + seconds`` for a numeric (or numeric string) lifetime, else None."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | str):
        return None
    try:
        value = float(seconds)
    except ValueError:
        return None
    return aware_utc(now) + timedelta(seconds=value) if value >= 0 else None


def split_scopes(value: object, separator: str) -> tuple[str, ...]:
    """Scopes from a separated string or a JSON list; anything else → ()."""
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(separator) if s.strip())
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str) and s)
    return ()


def optional_secret(value: object) -> SecretStr | None:
    """A non-empty string as SecretStr, else None."""
    return SecretStr(value) if isinstance(value, str) and value else None


def token_set_from_payload(
    payload: Mapping[str, Any],
    *,
    now: datetime,
    scope_separator: str = " ",
    access_key: str = "access_token",
    refresh_key: str = "refresh_token",
    expires_key: str = "expires_in",
    refresh_expires_keys: Sequence[str] = ("refresh_token_expires_in", "refresh_expires_in"),
) -> TokenSet:
    """Build a :class:`TokenSet` from a success payload; no access token → TokenResponseInvalid."""
    now = aware_utc(now)
    access = optional_secret(payload.get(access_key))
    if access is None:
        raise TokenResponseInvalid("token response has no access token")
    token_type = payload.get("token_type")
    refresh_lifetime = next((payload[k] for k in refresh_expires_keys if k in payload), None)
    return TokenSet(
        access_token=access,
        refresh_token=optional_secret(payload.get(refresh_key)),
        expires_at=expiry(now, payload.get(expires_key)),
        refresh_expires_at=expiry(now, refresh_lifetime),
        scopes=split_scopes(payload.get("scope"), scope_separator),
        token_type=token_type if isinstance(token_type, str) else None,
    )


def parse_rfc6749_token_response(
    response: httpx.Response, /, *, now: datetime, scope_separator: str = " "
) -> TokenSet:
    """RFC 6749 §5.1/§5.2: JSON success body, or ``{"error": …}`` (honoured on any status)."""
    body = read_json_object(response)
    if body.get("error"):
        raise_for_oauth_error(body["error"], http_status=response.status_code)
    if response.status_code == 401:
        raise InvalidClient(http_status=401)
    if not response.is_success:
        raise TokenResponseInvalid(http_status=response.status_code)
    return token_set_from_payload(body, now=now, scope_separator=scope_separator)
