"""The browser flow: one-time connect link → start (state, PKCE, cookie) → callback.

    POST /v1/connections/{p}/authorize   create_link: a ConnectSession (token hashed), 10 min
    GET  /oauth/{p}/start?session=…      start: consume the session atomically, create the
                                         OAuthState (state + binding hashed, PKCE verifier
                                         encrypted), set the binding cookie, go to the provider
    GET  /oauth/{p}/callback?code&state  complete: consume the state atomically *with* its
                                         binding (cookie, provider) so nobody else can burn it,
                                         check ``iss``, exchange the code (PKCE, the same
                                         redirect_uri), store the connection

Failures after the state was found are audited and leave no connection; they are returned as
outcomes (not raised) so the request commits the consumed state and the audit record.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import service as audit
from gateway.catalogue import service as catalogue
from gateway.catalogue.service import ResolvedProvider
from gateway.connections import service as connections
from gateway.kit.crypto import FieldContext
from gateway.kit.errors import GatewayError, OAuthClientMissing, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import Connection, ConnectSession, OAuthState
from gateway.models.base import utcnow
from gateway.oauth_clients.service import ResolvedClient
from gateway.oauth_flow import repository
from gateway.oauth_flow.return_to import parse_origins, validate_return_to
from gateway.oauth_flow.schemas import AuthorizeRequest
from gateway.providers import oauth
from gateway.providers.oauth import safe_code
from gateway.providers.registry import get_provider
from gateway.providers.wecom.credentials import fetch_wecom_corp_token
from gateway.providers.wecom.oauth import exchange_wecom_code

COOKIE_NAME: Final = "gateway_oauth"
_RESERVED: Final = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge"}
    | {"code_challenge_method"}
)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _canonical(provider_path: str) -> str:
    builtin = get_provider(provider_path)
    return builtin.id if builtin is not None else provider_path


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def callback_url(runtime: Runtime, provider_path: str) -> str:
    return f"{runtime.settings.resolved_public_base_url}/oauth/{provider_path}/callback"


# --------------------------------------------------------------------------- authorize


@dataclass(frozen=True)
class AuthorizeLink:
    authorization_url: str
    expires_at: datetime
    redirect_uri: str


async def create_link(
    session: AsyncSession,
    runtime: Runtime,
    tenant_id: str,
    provider_path: str,
    body: AuthorizeRequest,
) -> AuthorizeLink:
    """Check everything the flow will need now (provider, OAuth client, return_to), then
    issue the one-time start link."""
    provider = await catalogue.resolve_provider(session, tenant_id, provider_path)
    spec = catalogue.oauth_spec(runtime.settings, provider)
    await catalogue.resolve_client(session, runtime.keyring, tenant_id, provider)
    reserved = _RESERVED | {spec.client_id_param, spec.scope_param}
    if clash := sorted(reserved & body.authorize_params.keys()):
        raise ValidationFailed(f"authorize_params may not set {clash}", code="invalid_params")
    return_to = None
    if body.return_to is not None:
        origins = parse_origins(runtime.settings.return_to_origins)
        return_to = validate_return_to(body.return_to, origins)
    token = secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(seconds=runtime.settings.oauth_state_ttl_seconds)
    session.add(
        ConnectSession(
            id=new_id("cse"),
            tenant_id=tenant_id,
            provider=provider.id,
            token_hash=_hash(token),
            return_to=return_to,
            scopes=list(body.scopes) if body.scopes is not None else None,
            authorize_params=dict(body.authorize_params),
            label=body.label,
            expires_at=expires_at,
        )
    )
    await session.flush()
    base = runtime.settings.resolved_public_base_url
    return AuthorizeLink(
        authorization_url=f"{base}/oauth/{provider_path}/start?session={token}",
        expires_at=expires_at,
        redirect_uri=callback_url(runtime, provider_path),
    )


# --------------------------------------------------------------------------- start


@dataclass(frozen=True)
class StartOutcome:
    location: str | None = None
    binding: str | None = None  # the browser-binding cookie value
    reason: str | None = None
    status_code: int = 302


async def _fail(
    session: AsyncSession,
    tenant_id: str,
    provider: str,
    reason: str,
    stage: str,
    error_code: str | None = None,
) -> None:
    await audit.record(
        session,
        tenant_id,
        "connection.connect",
        "failure",
        provider=provider,
        error_code=error_code or reason,
        detail={"stage": stage, "reason": reason},
    )


async def start(
    session: AsyncSession, runtime: Runtime, provider_path: str, session_token: str | None
) -> StartOutcome:
    now = utcnow()
    row = None
    if session_token:
        row = await repository.consume_session(session, _hash(session_token), now)
    if row is None:
        return StartOutcome(reason="invalid_session", status_code=400)
    if _canonical(provider_path) != row.provider:
        await _fail(session, row.tenant_id, row.provider, "provider_mismatch", "start")
        return StartOutcome(reason="provider_mismatch", status_code=400)
    try:
        provider = await catalogue.resolve_provider(session, row.tenant_id, row.provider)
        spec = catalogue.oauth_spec(runtime.settings, provider)
        client = await catalogue.resolve_client(session, runtime.keyring, row.tenant_id, provider)
    except OAuthClientMissing:
        await _fail(session, row.tenant_id, row.provider, "oauth_client_missing", "start")
        return StartOutcome(reason="oauth_client_missing", status_code=409)
    state, binding = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = oauth.pkce_pair() if spec.pkce else (None, None)
    redirect_uri = callback_url(runtime, provider_path)
    scopes = row.scopes if row.scopes is not None else list(client.scopes or spec.default_scopes)
    location = oauth.build_authorization_url(
        spec,
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=challenge,
        scopes=scopes,
        extra_params=row.authorize_params,
    )
    record = OAuthState(
        id=new_id("ost"),
        tenant_id=row.tenant_id,
        provider=row.provider,
        state_hash=_hash(state),
        browser_hash=_hash(binding),
        redirect_uri=redirect_uri,
        issuer=provider.issuer or _origin(spec.authorization_url),
        return_to=row.return_to,
        scopes=list(scopes),
        label=row.label,
        expires_at=now + timedelta(seconds=runtime.settings.oauth_state_ttl_seconds),
    )
    if verifier is not None:
        where = FieldContext("oauth_states", "code_verifier_enc", record.id, record.tenant_id)
        record.code_verifier_enc = runtime.keyring.encrypt(verifier, where)
    session.add(record)
    await session.flush()
    return StartOutcome(location=location, binding=binding)


# --------------------------------------------------------------------------- callback


@dataclass(frozen=True)
class CallbackOutcome:
    status_code: int
    reason: str | None = None  # None: success
    detail: str | None = None
    connection: Connection | None = None
    provider_name: str = ""
    return_to: str | None = None
    bound: bool = True  # this browser's state was consumed (its cookie has served its purpose)


def _issuer_matches(iss: str, expected: str | None) -> bool:
    return expected is not None and (iss == expected or _origin(iss) == expected)


async def complete(
    session: AsyncSession,
    runtime: Runtime,
    provider_path: str,
    params: Mapping[str, str],
    cookie: str | None,
) -> CallbackOutcome:
    state = params.get("state")
    if not state:
        return CallbackOutcome(400, "missing_state", bound=False)
    state_hash, now, provider_id = _hash(state), utcnow(), _canonical(provider_path)
    consumed = bool(cookie) and await repository.consume_state(
        session, state_hash, _hash(cookie or ""), provider_id, now
    )
    row = await repository.get_state(session, state_hash)
    if row is None:
        return CallbackOutcome(400, "invalid_state", bound=False)
    reason = None if consumed else _why_not_consumed(row, provider_id, cookie, now)
    iss = params.get("iss")
    if reason is None and iss is not None and not _issuer_matches(iss, row.issuer):
        reason = "issuer_mismatch"
    if reason is not None:
        await _fail(session, row.tenant_id, row.provider, reason, "callback")
        return CallbackOutcome(400, reason, bound=consumed)
    provider = await catalogue.resolve_provider(session, row.tenant_id, row.provider)
    if error := params.get("error"):
        reason = "access_denied" if error == "access_denied" else "authorization_error"
        code = safe_code(error) or reason
        await _fail(session, row.tenant_id, row.provider, reason, "callback", code)
        status = 403 if reason == "access_denied" else 400
        return CallbackOutcome(status, reason, code, None, provider.name, row.return_to)
    try:
        connection = await _exchange(session, runtime, row, provider, params)
    except GatewayError as exc:
        reason = "missing_code" if exc.code == "missing_code" else "exchange_failed"
        if isinstance(exc, OAuthClientMissing):
            reason = "oauth_client_missing"
        await _fail(session, row.tenant_id, row.provider, reason, "callback", exc.code)
        return CallbackOutcome(400, reason, exc.code, None, provider.name, row.return_to)
    return CallbackOutcome(200, None, None, connection, provider.name, row.return_to)


def _why_not_consumed(row: OAuthState, provider_id: str, cookie: str | None, now: datetime) -> str:
    """Why the state could not be consumed by this request (O1, O4)."""
    if row.consumed_at is not None or row.expires_at <= now:
        return "invalid_state"  # replayed, or older than the state lifetime
    if provider_id != row.provider:
        return "provider_mismatch"
    if not cookie:
        return "missing_cookie"
    return "browser_mismatch"


async def _exchange(
    session: AsyncSession,
    runtime: Runtime,
    row: OAuthState,
    provider: ResolvedProvider,
    params: Mapping[str, str],
) -> Connection:
    spec = catalogue.oauth_spec(runtime.settings, provider)
    code = params.get(spec.code_param) or params.get("code")
    if not code:
        raise ValidationFailed("no authorization code", code="missing_code")
    client = await catalogue.resolve_client(session, runtime.keyring, row.tenant_id, provider)
    if spec.flow == "wecom_web_auth":
        return await _wecom_identity(session, runtime, row, client, code)
    verifier = None
    if row.code_verifier_enc:
        where = FieldContext("oauth_states", "code_verifier_enc", row.id, row.tenant_id)
        verifier = runtime.keyring.decrypt(row.code_verifier_enc, where)
    tokens = await oauth.exchange_code(
        runtime.http,
        spec,
        client_id=client.client_id,
        client_secret=client.client_secret,
        code=code,
        redirect_uri=row.redirect_uri,
        code_verifier=verifier,
    )
    return await connections.create_oauth_connection(
        session,
        runtime,
        tenant_id=row.tenant_id,
        provider_id=row.provider,
        label=row.label,
        tokens=tokens,
        requested_scopes=row.scopes,
    )


async def _wecom_identity(
    session: AsyncSession,
    runtime: Runtime,
    row: OAuthState,
    client: ResolvedClient,
    code: str,
) -> Connection:
    """WeCom web auth yields who signed in, not a token: corp token → getuserinfo."""
    base = catalogue.provider_base_url(runtime.settings, row.provider)
    corp = await fetch_wecom_corp_token(
        runtime.http, corp_id=client.client_id, corp_secret=client.client_secret, base_url=base
    )
    identity = await exchange_wecom_code(
        runtime.http, corp_access_token=corp.access_token, code=code, base_url=base
    )
    secrets_ = {"user_ticket": identity.user_ticket} if identity.user_ticket else {}
    return await connections.create_identity_connection(
        session,
        runtime,
        tenant_id=row.tenant_id,
        provider_id=row.provider,
        label=row.label,
        account={**identity.as_account(), "corp_id": client.client_id},
        secrets=secrets_,
    )
