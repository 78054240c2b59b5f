"""The sandbox's OAuth 2.0 authorization server (RFC 6749, RFC 7636 S256, RFC 7009, RFC 9207).

    GET  /sandbox/oauth/authorize   check_request → consent page (form + consent token + cookie)
    POST /sandbox/oauth/authorize   check_request again, check_consent → approve (code) / deny
    POST /sandbox/oauth/token       authenticate_client → exchange_code | refresh
    POST /sandbox/oauth/revoke      authenticate_client → revoke (the whole grant)

Rules it enforces (and tests prove): the client is an OAuth client registered for ``sandbox``;
``redirect_uri`` is exactly this gateway's ``/oauth/sandbox/callback``, at authorize and again at
the token endpoint; PKCE S256 is required; a code lives five minutes and is used once (a second
exchange revokes what the first one got); refresh tokens are single-use and rotate, and a reused
one revokes its whole family. Codes and tokens are random and stored as SHA-256 hashes only.

The sandbox workspace being connected is the gateway tenant whose connect flow is in flight
(found through the hashed ``state``): a real platform knows its signed-in user; the sandbox knows
the tenant that opened the link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import unquote_plus

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.errors import DecryptionFailed
from gateway.kit.ids import new_id
from gateway.kit.settings import Settings
from gateway.models import SYSTEM_OWNER, SandboxAuthorizationCode, SandboxGrant, SandboxToken
from gateway.providers.oauth import pkce_challenge
from gateway.providers.sandbox.oauth import SCOPES
from gateway.sandbox import repository

CODE_TTL: Final = timedelta(minutes=5)
ACCESS_TOKEN_TTL: Final = timedelta(hours=1)
REFRESH_TOKEN_TTL: Final = timedelta(days=30)
APP_NAME: Final = "Integration Gateway"
_PKCE_VALUE: Final = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def callback_uri(settings: Settings) -> str:
    """The one redirect URI the sandbox accepts: this gateway's callback for ``sandbox``."""
    return f"{settings.resolved_public_base_url}/oauth/sandbox/callback"


def issuer(settings: Settings) -> str:
    """RFC 9207 ``iss``: the gateway's origin, which the callback compares with its own."""
    return settings.resolved_public_base_url


# --------------------------------------------------------------------------- authorize


class AuthorizeRefused(Exception):
    """The authorization request is refused. ``redirect`` False: the client or redirect URI
    cannot be trusted, so the user sees an error page instead of being sent anywhere."""

    def __init__(self, error: str, description: str, *, redirect: bool) -> None:
        super().__init__(description)
        self.error, self.description, self.redirect = error, description, redirect


@dataclass(frozen=True)
class ConsentRequest:
    """A checked authorization request and who it is for."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str
    tenant_id: str
    workspace_name: str
    client_owner: str

    def fields(self) -> dict[str, str]:
        """The request parameters the consent form carries back (and the token signs)."""
        return {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }


async def check_request(
    session: AsyncSession, settings: Settings, params: Mapping[str, str], now: datetime
) -> ConsentRequest:
    """Validate an authorization request (RFC 6749 §4.1.1, §4.1.2.1; RFC 7636 §4.3)."""
    client_id = params.get("client_id", "")
    clients = await repository.clients_with_id(session, client_id) if client_id else []
    if not clients:
        raise AuthorizeRefused("invalid_client", "unknown client_id", redirect=False)
    if params.get("redirect_uri") != callback_uri(settings):
        raise AuthorizeRefused(
            "invalid_redirect_uri",
            "redirect_uri is not the one registered for this client",
            redirect=False,
        )
    if params.get("response_type") != "code":
        raise AuthorizeRefused(
            "unsupported_response_type", "response_type must be code", redirect=True
        )
    challenge = params.get("code_challenge", "")
    if params.get("code_challenge_method") != "S256" or len(challenge) != 43:
        raise AuthorizeRefused(
            "invalid_request", "PKCE is required: code_challenge with method S256", redirect=True
        )
    scopes = tuple(params.get("scope", "").split()) or tuple(SCOPES)
    if unknown := sorted(set(scopes) - SCOPES.keys()):
        raise AuthorizeRefused("invalid_scope", f"unknown scope {unknown[0]!r}", redirect=True)
    state = params.get("state", "")
    tenant_id = (
        await repository.pending_flow_tenant(session, secret_hash(state), now) if state else None
    )
    if tenant_id is None:
        raise AuthorizeRefused(
            "unknown_flow",
            "this request does not belong to a connect flow in progress on this gateway",
            redirect=False,
        )
    owners = {row.owner for row in clients}
    owner = tenant_id if tenant_id in owners else SYSTEM_OWNER if SYSTEM_OWNER in owners else None
    if owner is None:
        raise AuthorizeRefused(
            "invalid_client", "client not valid for this workspace", redirect=False
        )
    name = await repository.tenant_name(session, tenant_id) or tenant_id
    return ConsentRequest(
        client_id=client_id,
        redirect_uri=callback_uri(settings),
        scopes=tuple(dict.fromkeys(scopes)),
        state=state,
        code_challenge=challenge,
        tenant_id=tenant_id,
        workspace_name=name,
        client_owner=owner,
    )


def _consent_where(browser_nonce: str, request: ConsentRequest) -> FieldContext:
    return FieldContext("sandbox_consent", "form", secret_hash(browser_nonce), request.tenant_id)


def _fields_digest(request: ConsentRequest) -> str:
    return secret_hash(json.dumps(request.fields(), sort_keys=True))


def new_browser_nonce() -> str:
    """The consent cookie's value: names this browser (its hash binds the consent token)."""
    return secrets.token_urlsafe(32)


def consent_token(
    keyring: Keyring, browser_nonce: str, request: ConsentRequest, now: datetime, ttl: int
) -> str:
    """An AES-GCM token over the request's parameters, bound to this browser's consent cookie:
    only the page this browser was shown can post a decision for exactly these parameters."""
    expires = int(now.timestamp()) + ttl
    payload = json.dumps({"p": _fields_digest(request), "exp": expires})
    return keyring.encrypt(payload, _consent_where(browser_nonce, request))


def consent_token_valid(
    keyring: Keyring, token: str, browser_nonce: str, request: ConsentRequest, now: datetime
) -> bool:
    try:
        payload = json.loads(keyring.decrypt(token, _consent_where(browser_nonce, request)))
    except (DecryptionFailed, ValueError):
        return False
    if not isinstance(payload, dict):
        return False
    fresh = isinstance(payload.get("exp"), int) and payload["exp"] > now.timestamp()
    return fresh and hmac.compare_digest(str(payload.get("p")), _fields_digest(request))


async def approve(session: AsyncSession, request: ConsentRequest, now: datetime) -> str:
    """Issue a code for an approved request; returns the code (only its hash is stored)."""
    code = "sbx_ac_" + secrets.token_urlsafe(32)
    session.add(
        SandboxAuthorizationCode(
            id=new_id("sbc"),
            tenant_id=request.tenant_id,
            code_hash=secret_hash(code),
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            scopes=list(request.scopes),
            code_challenge=request.code_challenge,
            expires_at=now + CODE_TTL,
        )
    )
    await session.flush()
    return code


# --------------------------------------------------------------------------- token endpoint


class OAuthProtocolError(Exception):
    """An RFC 6749 §5.2 error answer (400, or 401 for client authentication)."""

    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status_code = error, description, status_code


@dataclass(frozen=True)
class AuthenticatedClient:
    client_id: str
    owners: frozenset[str]  # the owners of the registrations whose secret matched


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (unquote_plus(user), unquote_plus(password)) if sep else None


async def authenticate_client(
    session: AsyncSession, keyring: Keyring, authorization: str | None, form: Mapping[str, str]
) -> AuthenticatedClient:
    """RFC 6749 §2.3.1: HTTP Basic (preferred) or ``client_id``/``client_secret`` in the body,
    not both. The secret is compared in constant time with each registration's."""
    in_body = "client_secret" in form
    basic = _basic_credentials(authorization) if authorization else None
    if basic is not None and in_body:
        raise OAuthProtocolError("invalid_request", "use one client authentication method")
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    owners: set[str] = set()
    for row in await repository.clients_with_id(session, client_id) if client_id else []:
        where = FieldContext("oauth_clients", "client_secret_enc", row.id, row.owner)
        try:
            expected = keyring.decrypt(row.client_secret_enc, where)
        except DecryptionFailed:
            continue
        if secret and hmac.compare_digest(expected.encode(), secret.encode()):
            owners.add(row.owner)
    if not owners:
        raise OAuthProtocolError("invalid_client", "client authentication failed", 401)
    return AuthenticatedClient(client_id, frozenset(owners))


def _may_use(client: AuthenticatedClient, tenant_id: str) -> bool:
    """A system client serves every workspace; a tenant's own client only its tenant's."""
    return SYSTEM_OWNER in client.owners or tenant_id in client.owners


async def _issue(
    session: AsyncSession, grant: SandboxGrant, workspace_name: str, now: datetime
) -> dict[str, object]:
    access, refresh = "sbx_at_" + secrets.token_urlsafe(32), "sbx_rt_" + secrets.token_urlsafe(32)
    for kind, value, ttl in (
        ("access", access, ACCESS_TOKEN_TTL),
        ("refresh", refresh, REFRESH_TOKEN_TTL),
    ):
        session.add(
            SandboxToken(
                id=new_id("sbt"),
                tenant_id=grant.tenant_id,
                grant_id=grant.id,
                kind=kind,
                token_hash=secret_hash(value),
                expires_at=now + ttl,
            )
        )
    await session.flush()
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(ACCESS_TOKEN_TTL.total_seconds()),
        "refresh_token": refresh,
        "scope": " ".join(grant.scopes),
        "workspace": {"id": grant.tenant_id, "name": workspace_name},
        "bot_user_id": bot_user_id(grant),
    }


def bot_user_id(grant: SandboxGrant) -> str:
    """The connected app's user id in the workspace (stable across refreshes)."""
    return "app_" + grant.id.removeprefix("sbg_")


async def exchange_code(
    session: AsyncSession,
    client: AuthenticatedClient,
    form: Mapping[str, str],
    workspace_names: Mapping[str, str],
    now: datetime,
) -> tuple[dict[str, object] | None, OAuthProtocolError | None]:
    """``grant_type=authorization_code``. Returns (token response, None) or (None, error); an
    error is returned, not raised, so the revocation a reused code causes is committed."""
    code, verifier = form.get("code", ""), form.get("code_verifier", "")
    if not code or not form.get("redirect_uri"):
        return None, OAuthProtocolError("invalid_request", "code and redirect_uri are required")
    row = await repository.code_by_hash(session, secret_hash(code))
    if row is None or row.client_id != client.client_id or not _may_use(client, row.tenant_id):
        return None, OAuthProtocolError("invalid_grant", "unknown authorization code")
    if not await repository.mark_code_used(session, row, now):
        if row.grant_id is not None:  # RFC 6749 §4.1.2: revoke what the first use obtained
            await repository.revoke_grant(session, row.tenant_id, row.grant_id, "code_reuse", now)
        return None, OAuthProtocolError("invalid_grant", "authorization code already used")
    if row.expires_at <= now:
        return None, OAuthProtocolError("invalid_grant", "authorization code expired")
    if form.get("redirect_uri") != row.redirect_uri:
        return None, OAuthProtocolError("invalid_grant", "redirect_uri does not match")
    if not _PKCE_VALUE.fullmatch(verifier) or not hmac.compare_digest(
        pkce_challenge(verifier), row.code_challenge
    ):
        return None, OAuthProtocolError("invalid_grant", "code_verifier does not match")
    grant = SandboxGrant(
        id=new_id("sbg"), tenant_id=row.tenant_id, client_id=row.client_id, scopes=row.scopes
    )
    session.add(grant)
    row.grant_id = grant.id
    await session.flush()
    name = workspace_names.get(row.tenant_id, row.tenant_id)
    return await _issue(session, grant, name, now), None


async def refresh(
    session: AsyncSession,
    client: AuthenticatedClient,
    form: Mapping[str, str],
    workspace_names: Mapping[str, str],
    now: datetime,
) -> tuple[dict[str, object] | None, OAuthProtocolError | None]:
    """``grant_type=refresh_token``: single use, rotated; a reused token revokes its family."""
    presented = form.get("refresh_token", "")
    if not presented:
        return None, OAuthProtocolError("invalid_request", "refresh_token is required")
    token = await repository.token_by_hash(session, secret_hash(presented))
    grant = await repository.get_grant(session, token.tenant_id, token.grant_id) if token else None
    if token is None or token.kind != "refresh" or grant is None:
        return None, OAuthProtocolError("invalid_grant", "unknown refresh token")
    if grant.client_id != client.client_id or not _may_use(client, grant.tenant_id):
        return None, OAuthProtocolError("invalid_grant", "unknown refresh token")
    if grant.revoked_at is not None:
        return None, OAuthProtocolError("invalid_grant", "the authorization was revoked")
    if not await repository.mark_token_rotated(session, token, now):
        await repository.revoke_grant(session, grant.tenant_id, grant.id, "refresh_reuse", now)
        return None, OAuthProtocolError(
            "invalid_grant", "refresh token already used; the authorization is revoked"
        )
    if token.expires_at <= now:
        return None, OAuthProtocolError("invalid_grant", "refresh token expired")
    if requested := form.get("scope", "").split():
        if not set(requested) <= set(grant.scopes):
            return None, OAuthProtocolError("invalid_scope", "scope exceeds the grant")
    name = workspace_names.get(grant.tenant_id, grant.tenant_id)
    return await _issue(session, grant, name, now), None


async def token_tenant(session: AsyncSession, form: Mapping[str, str]) -> str | None:
    """The tenant a token request is about (to look up its workspace name), if known."""
    if form.get("grant_type") == "authorization_code" and form.get("code"):
        row = await repository.code_by_hash(session, secret_hash(form["code"]))
        return row.tenant_id if row else None
    if form.get("refresh_token"):
        token = await repository.token_by_hash(session, secret_hash(form["refresh_token"]))
        return token.tenant_id if token else None
    return None


async def revoke(
    session: AsyncSession, client: AuthenticatedClient, token_value: str, now: datetime
) -> None:
    """RFC 7009: revoke the grant behind an access or refresh token of this client. Unknown
    tokens (and other clients' tokens) are ignored: the answer is the same either way."""
    token = await repository.token_by_hash(session, secret_hash(token_value))
    if token is None:
        return
    grant = await repository.get_grant(session, token.tenant_id, token.grant_id)
    if (
        grant is not None
        and grant.client_id == client.client_id
        and _may_use(client, grant.tenant_id)
    ):
        await repository.revoke_grant(session, grant.tenant_id, grant.id, "revoked", now)
