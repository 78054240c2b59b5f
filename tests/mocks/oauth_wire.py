"""Wire shapes of the mock authorization server: per-style paths, bodies and answers.

Kept apart from ``oauth_server`` (the stateful server) so both stay small. Lark's numeric and
DingTalk's string error codes below are placeholders: the real tables were not verified, and the
clients under test key off Lark's RFC ``error`` string and DingTalk's HTTP status instead.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus

from starlette.responses import JSONResponse, PlainTextResponse, Response

Style = Literal["rfc6749", "slack", "discord", "lark", "dingtalk"]
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


@dataclass(frozen=True)
class Profile:
    """Where a style serves its endpoints and which request bodies it accepts."""

    authorize: str
    token: str
    revoke: str | None
    bodies: frozenset[str]
    code_param: str = "code"
    separator: str = " "


PROFILES: dict[str, Profile] = {
    "rfc6749": Profile("/authorize", "/token", "/revoke", frozenset({FORM})),
    "slack": Profile(
        "/oauth/v2/authorize",
        "/api/oauth.v2.access",
        "/api/auth.revoke",
        frozenset({FORM, JSON}),
        separator=",",
    ),
    "discord": Profile(
        "/oauth2/authorize", "/api/oauth2/token", "/api/oauth2/token/revoke", frozenset({FORM})
    ),
    "lark": Profile(
        "/open-apis/authen/v1/authorize",
        "/open-apis/authen/v2/oauth/token",
        None,
        frozenset({JSON}),
    ),
    "dingtalk": Profile(
        "/oauth2/auth",
        "/v1.0/oauth2/userAccessToken",
        None,
        frozenset({JSON}),
        code_param="authCode",
    ),
}
# DingTalk camelCase wire names → the neutral snake_case names used inside the server.
CAMEL = {
    "clientId": "client_id",
    "clientSecret": "client_secret",
    "grantType": "grant_type",
    "refreshToken": "refresh_token",
    "code": "code",
}
LARK_CODES = {
    "invalid_request": 20001,
    "invalid_client": 20002,
    "invalid_grant": 20003,
    "unsupported_grant_type": 20004,
}


@dataclass
class TokenCall:
    """One token-endpoint request as the server saw it (no secrets recorded)."""

    grant_type: str | None
    client_auth: str  # "basic" | "body" | "both" | "none"
    content_type: str
    outcome: str = ""  # "issued" | "error:<kind>" | "injected:<status>"


@dataclass
class IssuedToken:
    """A token the server minted; ``used`` marks a rotated (spent) refresh token."""

    value: str
    kind: Literal["access", "refresh", "user_access", "webhook"]
    family: str
    expires_at: float | None
    used: bool = False


@dataclass
class Failure:
    """An injected failure: answer ``status`` for the next ``remaining`` calls."""

    status: int
    remaining: int
    delay: float
    retry_after: int | None
    body: dict[str, Any] | None


@dataclass
class Outcome:
    """Result of a token request: ``ok`` + neutral payload, or an RFC 6749 error."""

    kind: str  # "ok" or an RFC 6749 error code
    detail: str = ""
    slack_error: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def s256(verifier: str) -> str:
    """RFC 7636 S256 challenge, computed independently of the code under test."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def parse_body(raw: bytes, content_type: str, accepted: frozenset[str]) -> dict[str, str] | None:
    """Request parameters from a form or JSON body; None if the content type is refused."""
    if content_type not in accepted:
        return None
    if content_type == FORM:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items() if v is not None}


def basic_credentials(header: str) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1 Basic credentials (form-decoded), or None."""
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode("utf-8")
    except ValueError:
        return None
    user, sep, password = decoded.partition(":")
    return (unquote_plus(user), unquote_plus(password)) if sep else None


async def injected_response(failure: Failure) -> Response:
    """The response of an injected failure, after its delay."""
    if failure.delay:
        await asyncio.sleep(failure.delay)
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    if failure.body is not None:
        return JSONResponse(failure.body, status_code=failure.status, headers=headers)
    return PlainTextResponse("injected failure", status_code=failure.status, headers=headers)


def success_body(
    style: str, payload: dict[str, Any], *, expires_in: int, refresh_expires_in: int | None
) -> dict[str, Any]:
    """The style's success shape for the neutral ``payload`` built by ``MockAuthServer``."""
    scopes: tuple[str, ...] = payload["scopes"]
    refresh = payload.get("refresh_token")
    if style == "dingtalk":
        body: dict[str, Any] = {"accessToken": payload["access_token"], "expireIn": expires_in}
        if refresh:
            body["refreshToken"] = refresh
        if "corpid" in scopes:
            body["corpId"] = "dingmockcorp"
        return body
    body = {"access_token": payload["access_token"], "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    if style == "slack":
        body |= {
            "ok": True,
            "token_type": "bot",
            "scope": ",".join(scopes),
            "bot_user_id": "UMOCKBOT",
            "app_id": "AMOCKAPP",
            "team": {"id": "TMOCK", "name": "Mock Team"},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        user: dict[str, Any] = {"id": "UMOCKUSER"}
        if "user_access_token" in payload:
            user |= {
                "scope": ",".join(payload["user_scopes"]),
                "access_token": payload["user_access_token"],
                "token_type": "user",
            }
        body["authed_user"] = user
        return body
    body |= {"token_type": "Bearer", "scope": " ".join(scopes)}
    if style == "lark":
        body["code"] = 0
        if refresh and refresh_expires_in is not None:
            body["refresh_token_expires_in"] = refresh_expires_in
    if style == "discord" and "bot" in scopes:
        body["guild"] = {"id": "1000000000000000001", "name": "Mock Guild"}
    if style == "discord" and "webhook_token" in payload:
        webhook_id = "1000000000000000002"
        body["webhook"] = {
            "id": webhook_id,
            "token": payload["webhook_token"],
            "channel_id": "1000000000000000003",
            "url": f"https://discord.com/api/webhooks/{webhook_id}/{payload['webhook_token']}",
        }
    return body


def error_response(style: str, outcome: Outcome, grant_type: str | None) -> Response:
    """The style's error shape for an RFC 6749 error ``outcome.kind``."""
    kind, detail = outcome.kind, outcome.detail
    status = 401 if kind == "invalid_client" else 400
    if style == "slack":  # errors are HTTP 200 + ok:false
        return JSONResponse({"ok": False, "error": outcome.slack_error or "invalid_arguments"})
    if style == "lark":
        code = LARK_CODES.get(kind, 20000)
        body = {"code": code, "error": kind, "error_description": detail}
        return JSONResponse(body, status_code=status)
    if style == "dingtalk":
        names = {
            "invalid_client": "invalidClientSecret",
            "invalid_grant": "invalidRefreshToken"
            if grant_type == "refresh_token"
            else "invalidAuthCode",
        }
        code_name = names.get(kind, "invalidParameter")
        body_ding = {"code": code_name, "message": detail, "requestid": secrets.token_hex(8)}
        return JSONResponse(body_ding, status_code=status)
    return JSONResponse({"error": kind, "error_description": detail}, status_code=status)
