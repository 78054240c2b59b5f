"""Mock OAuth 2.0 authorization server, in-process (``httpx.ASGITransport``) or on a loopback port.

Each style serves the provider's production paths, so ``SPEC.rebased(base_url)`` targets it:

    style     authorize                        token                             revoke
    rfc6749   /authorize                       /token                            /revoke
    slack     /oauth/v2/authorize              /api/oauth.v2.access              /api/auth.revoke
    discord   /oauth2/authorize                /api/oauth2/token                 …/token/revoke
    lark      /open-apis/authen/v1/authorize   /open-apis/authen/v2/oauth/token  -
    dingtalk  /oauth2/auth                     /v1.0/oauth2/userAccessToken      -

Behaviour: authorize auto-consents and 302s back with ``code`` (DingTalk ``authCode``) + ``state``;
the token endpoint checks client auth (exactly one method), PKCE S256, the byte-identical
``redirect_uri`` and single-use codes; refresh tokens rotate and **reusing an old one revokes the
whole token family** (RFC 9700 §4.14.2), as does reusing a code. Answers use the style's shape:
Slack HTTP 200 + ``ok:false`` and ``authed_user``; Lark ``{"code":0,…}``; DingTalk camelCase.
Wire shapes (and the caveat on Lark/DingTalk error codes) live in ``oauth_wire``.

Cross-process inspection/control: ``GET /_mock/state``, ``POST /_mock/fail_next``
(``{"status":503,"count":1,"delay":0,"retry_after":null}``), ``POST /_mock/expire_access_tokens``,
``GET /_mock/whoami`` (Bearer → 200 if active, else 401). Run in its own process with
``MOCK_OAUTH_STYLE=slack uvicorn --factory tests.mocks.oauth_server:create_app_from_env``.

State is in memory behind a ``threading.Lock``: no critical section awaits, so the lock is held
for microseconds and is safe both between coroutines and between a server thread and a test.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.mocks.oauth_wire import (
    CAMEL,
    FORM,
    PROFILES,
    Failure,
    IssuedToken,
    Outcome,
    Style,
    TokenCall,
    basic_credentials,
    error_response,
    injected_response,
    parse_body,
    s256,
    success_body,
)

CODE_TTL_SECONDS = 300.0


@dataclass
class _Family:
    client_id: str
    scopes: tuple[str, ...]
    user_scopes: tuple[str, ...] = ()


@dataclass
class _Code:
    family: str
    redirect_uri: str
    challenge: str | None
    issued_at: float
    used: bool = False


class MockAuthServer:
    """The mock server: ``.app`` is the ASGI app; the other attributes are inspection state."""

    def __init__(
        self,
        style: Style,
        *,
        client_id: str = "mock-client-id",
        client_secret: str = "mock-client-secret",
        access_token_ttl: int = 3600,
        refresh_token_ttl: int | None = None,
        rotate_refresh_tokens: bool = True,
        require_pkce: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.style, self.profile = style, PROFILES[style]
        self.client_id, self.client_secret = client_id, client_secret
        self.access_token_ttl, self.refresh_token_ttl = access_token_ttl, refresh_token_ttl
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.require_pkce, self.clock = require_pkce, clock
        self.token_calls: list[TokenCall] = []
        self.revocation_calls = 0
        self.issued: list[IssuedToken] = []
        self.revoked: set[str] = set()
        self._tokens: dict[str, IssuedToken] = {}
        self._codes: dict[str, _Code] = {}
        self._families: dict[str, _Family] = {}
        self._revoked_families: set[str] = set()
        self._failures: list[Failure] = []
        self._denials: list[str] = []
        self._lock = threading.Lock()
        routes = [
            Route(self.profile.authorize, self._authorize, methods=["GET"]),
            Route(self.profile.token, self._token, methods=["POST"]),
            Route("/_mock/state", self._state, methods=["GET"]),
            Route("/_mock/fail_next", self._fail_next_route, methods=["POST"]),
            Route("/_mock/expire_access_tokens", self._expire_route, methods=["POST"]),
            Route("/_mock/whoami", self._whoami, methods=["GET"]),
        ]
        if self.profile.revoke:
            routes.append(Route(self.profile.revoke, self._revoke, methods=["POST"]))
        self.app = Starlette(routes=routes)

    # ------------------------------------------------------------------ control & inspection

    def fail_next(
        self,
        status: int = 503,
        *,
        count: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` token/revocation calls with ``status`` (after ``delay`` s)."""
        with self._lock:
            self._failures.append(Failure(status, count, delay, retry_after, body))

    def deny_next_authorization(self, error: str = "access_denied") -> None:
        """Make the next authorize request redirect back with ``error`` instead of a code."""
        with self._lock:
            self._denials.append(error)

    def expire_access_tokens(self) -> None:
        """Expire every access token issued so far (refresh tokens stay valid)."""
        with self._lock:
            for token in self._tokens.values():
                if token.kind in ("access", "user_access"):
                    token.expires_at = self.clock() - 1

    def is_active(self, token: str) -> bool:
        """Whether ``token`` would be accepted now (not expired, revoked or spent)."""
        with self._lock:
            return self._active(token)

    def calls(self, grant_type: str) -> int:
        """How many token-endpoint calls carried ``grant_type``."""
        return sum(1 for call in self.token_calls if call.grant_type == grant_type)

    def snapshot(self) -> dict[str, Any]:
        """Counters for cross-process tests (``GET /_mock/state``)."""
        with self._lock:
            return {
                "style": self.style,
                "token_calls": len(self.token_calls),
                "code_exchanges": self.calls("authorization_code"),
                "refresh_calls": self.calls("refresh_token"),
                "invalid_grants": sum(c.outcome == "error:invalid_grant" for c in self.token_calls),
                "revocation_calls": self.revocation_calls,
                "issued": len(self.issued),
                "revoked": len(self.revoked),
                "revoked_families": len(self._revoked_families),
            }

    # ------------------------------------------------------------------ state helpers (locked)

    def _active(self, value: str) -> bool:
        token = self._tokens.get(value)
        if token is None or token.used or token.family in self._revoked_families:
            return False
        return token.expires_at is None or self.clock() < token.expires_at

    def _revoke_family(self, family: str) -> None:
        self._revoked_families.add(family)
        self.revoked.update(t.value for t in self._tokens.values() if t.family == family)

    def _mint(
        self,
        kind: Literal["access", "refresh", "user_access", "webhook"],
        family: str,
        ttl: int | None,
        prefix: str,
    ) -> IssuedToken:
        token = IssuedToken(
            value=prefix + secrets.token_urlsafe(24),
            kind=kind,
            family=family,
            expires_at=None if ttl is None else self.clock() + ttl,
        )
        self._tokens[token.value] = token
        self.issued.append(token)
        return token

    def _take_failure(self) -> Failure | None:
        with self._lock:
            if not self._failures:
                return None
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            return failure

    # ------------------------------------------------------------------ authorize

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client_id", status_code=400)
        if not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("redirect_uri is required", status_code=400)
        state = query.get("state")

        def back(params: dict[str, str]) -> Response:
            if state is not None:
                params["state"] = state
            joiner = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(redirect_uri + joiner + urlencode(params), status_code=302)

        challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
        with self._lock:
            denial = self._denials.pop(0) if self._denials else None
        if denial:
            return back({"error": denial})
        if self.style != "slack" and query.get("response_type") != "code":
            return back({"error": "unsupported_response_type"})
        if (challenge and method != "S256") or (self.require_pkce and not challenge):
            return back({"error": "invalid_request"})
        scopes = tuple(s for s in query.get("scope", "").split(self.profile.separator) if s)
        user_scopes = tuple(s for s in query.get("user_scope", "").split(",") if s)
        code, family = secrets.token_urlsafe(24), secrets.token_hex(8)
        with self._lock:
            self._families[family] = _Family(self.client_id, scopes, user_scopes)
            self._codes[code] = _Code(family, redirect_uri, challenge, self.clock())
        return back({self.profile.code_param: code})

    # ------------------------------------------------------------------ token endpoint

    async def _token(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        params = parse_body(await request.body(), content_type, self.profile.bodies)
        if self.style == "dingtalk" and params is not None:
            params = {CAMEL.get(key, key): value for key, value in params.items()}
        basic = basic_credentials(request.headers.get("authorization", ""))
        has_body_secret = params is not None and "client_secret" in params
        auth = {(True, True): "both", (True, False): "basic", (False, True): "body"}.get(
            (basic is not None, has_body_secret), "none"
        )
        grant_type = (params or {}).get("grant_type")
        if grant_type is None and self.style == "slack" and "code" in (params or {}):
            grant_type = "authorization_code"  # Slack treats grant_type as optional
        call = TokenCall(grant_type, auth, content_type)
        with self._lock:
            self.token_calls.append(call)
        if failure := self._take_failure():
            call.outcome = f"injected:{failure.status}"
            return await injected_response(failure)
        if params is None:
            outcome = Outcome("invalid_request", f"content type {content_type!r} not accepted")
        else:
            with self._lock:
                outcome = self._grant(params, basic, grant_type)
        call.outcome = "issued" if outcome.kind == "ok" else f"error:{outcome.kind}"
        if outcome.kind != "ok":
            return error_response(self.style, outcome, grant_type)
        body = success_body(
            self.style,
            outcome.payload,
            expires_in=self.access_token_ttl,
            refresh_expires_in=self.refresh_token_ttl,
        )
        return JSONResponse(body)

    def _grant(
        self, params: dict[str, str], basic: tuple[str, str] | None, grant_type: str | None
    ) -> Outcome:
        if basic is not None and "client_secret" in params:
            return Outcome("invalid_request", "more than one client authentication method")
        client_id, secret = basic or (params.get("client_id"), params.get("client_secret"))
        if client_id != self.client_id:
            return Outcome("invalid_client", "unknown client", slack_error="invalid_client_id")
        if secret is None or not hmac.compare_digest(secret, self.client_secret):
            return Outcome("invalid_client", "bad client secret", slack_error="bad_client_secret")
        if grant_type == "authorization_code":
            return self._exchange(params)
        if grant_type == "refresh_token":
            return self._refresh(params)
        return Outcome("unsupported_grant_type", "", slack_error="invalid_grant_type")

    def _exchange(self, params: dict[str, str]) -> Outcome:
        code = self._codes.get(params.get("code", ""))
        if code is None:
            return Outcome("invalid_grant", "unknown code", slack_error="invalid_code")
        if code.used:  # RFC 6749 §4.1.2: revoke what the code produced
            self._revoke_family(code.family)
            return Outcome("invalid_grant", "code already used", slack_error="invalid_code")
        code.used = True
        if self.clock() - code.issued_at > CODE_TTL_SECONDS:
            return Outcome("invalid_grant", "code expired", slack_error="invalid_code")
        # DingTalk's token API has no redirect_uri parameter; everyone else must echo it exactly.
        if self.style != "dingtalk" and params.get("redirect_uri") != code.redirect_uri:
            return Outcome("invalid_grant", "redirect_uri mismatch", slack_error="bad_redirect_uri")
        verifier = params.get("code_verifier")
        if code.challenge is not None and (not verifier or s256(verifier) != code.challenge):
            return Outcome("invalid_grant", "PKCE verification failed", slack_error="invalid_code")
        if code.challenge is None and verifier:
            return Outcome("invalid_grant", "code_verifier without code_challenge")
        return Outcome("ok", payload=self._issue(code.family, initial=True))

    def _refresh(self, params: dict[str, str]) -> Outcome:
        token = self._tokens.get(params.get("refresh_token", ""))
        slack = "invalid_refresh_token"
        if token is None or token.kind != "refresh":
            return Outcome("invalid_grant", "unknown refresh token", slack_error=slack)
        if token.family in self._revoked_families:
            return Outcome("invalid_grant", "refresh token revoked", slack_error=slack)
        if token.used:  # RFC 9700 §4.14.2 reuse detection: kill the whole family
            self._revoke_family(token.family)
            return Outcome("invalid_grant", "refresh token reused", slack_error=slack)
        if token.expires_at is not None and self.clock() >= token.expires_at:
            return Outcome("invalid_grant", "refresh token expired", slack_error=slack)
        if self.rotate_refresh_tokens:
            token.used = True
        return Outcome("ok", payload=self._issue(token.family, initial=False))

    def _issue(self, family_id: str, *, initial: bool) -> dict[str, Any]:
        family = self._families[family_id]
        slack = self.style == "slack"
        access = self._mint("access", family_id, self.access_token_ttl, "xoxb-" if slack else "at-")
        payload: dict[str, Any] = {"access_token": access.value, "scopes": family.scopes}
        offline = self.style != "lark" or "offline_access" in family.scopes
        if offline and (initial or self.rotate_refresh_tokens):
            refresh = self._mint("refresh", family_id, self.refresh_token_ttl, "rt-")
            payload["refresh_token"] = refresh.value
        if initial and family.user_scopes:
            user = self._mint("user_access", family_id, self.access_token_ttl, "xoxp-")
            payload["user_access_token"] = user.value
            payload["user_scopes"] = family.user_scopes
        if initial and "webhook.incoming" in family.scopes:
            payload["webhook_token"] = self._mint("webhook", family_id, None, "wh-").value
        return payload

    # ------------------------------------------------------------------ revocation & admin

    async def _revoke(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        params = parse_body(await request.body(), content_type, frozenset({FORM})) or {}
        with self._lock:
            self.revocation_calls += 1
        if failure := self._take_failure():
            return await injected_response(failure)
        if self.style == "slack":  # auth.revoke authenticates with the token itself
            header = request.headers.get("authorization", "")
            token = header[7:] if header.lower().startswith("bearer ") else params.get("token", "")
            with self._lock:
                active = self._active(token)
                if active:
                    self._revoke_family(self._tokens[token].family)
            if active:
                return JSONResponse({"ok": True, "revoked": True})
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        basic = basic_credentials(request.headers.get("authorization", ""))
        client_id, secret = basic or (params.get("client_id"), params.get("client_secret"))
        if client_id != self.client_id or not hmac.compare_digest(secret or "", self.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if "token" not in params:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        with self._lock:  # RFC 7009 §2.2: unknown or invalid tokens still get a 200
            if (known := self._tokens.get(params["token"])) is not None:
                self._revoke_family(known.family)
        return Response(status_code=200)

    async def _whoami(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if not self.is_active(token):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"active": True, "family": self._tokens[token].family})

    async def _state(self, request: Request) -> Response:
        return JSONResponse(self.snapshot())

    async def _fail_next_route(self, request: Request) -> Response:
        spec = json.loads(await request.body() or b"{}")
        self.fail_next(
            int(spec.get("status", 503)),
            count=int(spec.get("count", 1)),
            delay=float(spec.get("delay", 0.0)),
            retry_after=spec.get("retry_after"),
        )
        return Response(status_code=204)

    async def _expire_route(self, request: Request) -> Response:
        self.expire_access_tokens()
        return Response(status_code=204)


# ---------------------------------------------------------------------- factories


def create_mock_oauth_server(style: Style, **options: Any) -> MockAuthServer:
    """A fresh mock authorization server of ``style`` (options: see ``MockAuthServer``)."""
    return MockAuthServer(style, **options)


def create_app_from_env() -> Starlette:
    """uvicorn ``--factory`` entry point for separate-process tests.

    ``MOCK_OAUTH_STYLE`` (default rfc6749), ``MOCK_OAUTH_CLIENT_ID``, ``MOCK_OAUTH_CLIENT_SECRET``,
    ``MOCK_OAUTH_ACCESS_TTL`` (seconds), ``MOCK_OAUTH_REQUIRE_PKCE`` (``1`` to require it).
    """
    style = os.environ.get("MOCK_OAUTH_STYLE", "rfc6749")
    if style not in PROFILES:
        raise ValueError(f"MOCK_OAUTH_STYLE must be one of {sorted(PROFILES)}")
    server = MockAuthServer(
        cast(Style, style),
        client_id=os.environ.get("MOCK_OAUTH_CLIENT_ID", "mock-client-id"),
        client_secret=os.environ.get("MOCK_OAUTH_CLIENT_SECRET", "mock-client-secret"),
        access_token_ttl=int(os.environ.get("MOCK_OAUTH_ACCESS_TTL", "3600")),
        require_pkce=os.environ.get("MOCK_OAUTH_REQUIRE_PKCE") == "1",
    )
    return server.app
