"""App/tenant/corp tokens fetched with a key and secret, for credential connections.

DingTalk, Lark and WeCom all validate a key/secret pair the same way: one request to a token
endpoint, a JSON body that is either a token or the platform's refusal, a token set marked with
its kind and the (non-secret) key. Each provider declares a :class:`CredentialTokenSpec` and builds
its request; :func:`fetch_credential_token` does the rest. Layering: ``oauth`` → this module →
``<p>/credentials.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from gateway.providers.oauth import (
    InvalidCredentials,
    TokenResponseInvalid,
    TokenSet,
    fetch_credential_json,
    platform_reason,
    token_set_from_payload,
    utc_now,
)

# (code, message) of the platform's refusal of the credentials, or None when the body is a token.
# It may raise TokenEndpointUnavailable for a platform error that means "try again later".
CredentialRefusal = Callable[[httpx.Response, Mapping[str, Any]], tuple[object, object] | None]


@dataclass(frozen=True)
class CredentialTokenSpec:
    """How one platform answers a credential token request."""

    platform: str  # for error messages
    token_type: str  # TokenSet.token_type of the result: "app", "tenant", "corp"
    refusal: CredentialRefusal
    access_key: str = "access_token"
    expires_key: str = "expires_in"


def json_post(url: str, document: Mapping[str, str]) -> httpx.Request:
    """A JSON ``POST`` that asks for a JSON answer."""
    return httpx.Request("POST", url, json=document, headers={"Accept": "application/json"})


async def fetch_credential_token(
    client: httpx.AsyncClient,
    spec: CredentialTokenSpec,
    request: httpx.Request,
    *,
    secret: str,
    account: Mapping[str, str],
    now: datetime | None = None,
) -> TokenSet:
    """Send ``request`` and turn the answer into a token set carrying ``account``.

    Transport failures, 5xx and 429 → TokenEndpointUnavailable (see ``fetch_credential_json``); a
    refusal → InvalidCredentials (reason = the platform's code and message, ``secret`` masked); a
    body without the access token → TokenResponseInvalid. Expiry counts from ``now`` (default:
    just before sending).
    """
    issued_at = now or utc_now()
    response, body = await fetch_credential_json(client, request, mask=(secret,))
    refused = spec.refusal(response, body)
    if refused is not None:
        raise InvalidCredentials(platform_reason(*refused, mask=(secret,)))
    try:
        tokens = token_set_from_payload(
            body, now=issued_at, access_key=spec.access_key, expires_key=spec.expires_key
        )
    except TokenResponseInvalid:
        message = f"{spec.platform} response has no {spec.access_key}"
        raise TokenResponseInvalid(message) from None
    tokens.token_type = spec.token_type
    tokens.account.update(account)
    return tokens
