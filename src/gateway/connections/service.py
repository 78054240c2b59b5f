"""Connections: create (credentials, OAuth, WeCom identity), list, force a refresh, disconnect.

Services flush and never commit; the request owns the transaction. Refreshes are the exception
and go through ``connections.refresh`` (their own short, row-locked transactions).
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.catalogue import service as catalogue
from gateway.catalogue.credential_kinds import credential_model
from gateway.connections import lifecycle, repository, validators
from gateway.connections.errors import ConnectionNotFound
from gateway.connections.refresh import RefreshRequest, refresh
from gateway.connections.schemas import CredentialConnectionCreate
from gateway.connections.sealing import OpenedSecrets, open_secrets, seal_secrets, wipe_secrets
from gateway.kit.errors import DecryptionFailed, GatewayError, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.pagination import PageParams
from gateway.kit.runtime import Runtime
from gateway.models import Connection
from gateway.models.base import utcnow
from gateway.providers import oauth
from gateway.providers.oauth import RevocationOutcome, TokenSet
from gateway.providers.registry import get_provider

logger = logging.getLogger(__name__)

RevocationResult = Literal["revoked", "retry", "failed", "unsupported", "skipped"]
_REVOCATION_RESULTS: dict[RevocationOutcome, RevocationResult] = {
    RevocationOutcome.REVOKED: "revoked",
    RevocationOutcome.RETRY: "retry",
    RevocationOutcome.FAILED: "failed",
    RevocationOutcome.UNSUPPORTED: "unsupported",
}
_REVOCATION_OK = ("revoked", "unsupported", "skipped")


async def get_connection(session: AsyncSession, tenant_id: str, connection_id: str) -> Connection:
    row = await repository.get(session, tenant_id, connection_id)
    if row is None:
        raise ConnectionNotFound()
    return row


async def list_connections(
    session: AsyncSession,
    tenant_id: str,
    params: PageParams,
    *,
    status: str | None = None,
    provider: str | None = None,
) -> list[Connection]:
    builtin = get_provider(provider) if provider is not None else None
    provider = builtin.id if builtin is not None else provider  # feishu → lark
    return await repository.list_page(session, tenant_id, params, status=status, provider=provider)


async def _store_new(
    session: AsyncSession,
    runtime: Runtime,
    row: Connection,
    *,
    access_token: SecretStr | None,
    refresh_token: SecretStr | None,
    extra: dict[str, SecretStr],
) -> Connection:
    seal_secrets(
        runtime.keyring, row, access_token=access_token, refresh_token=refresh_token, extra=extra
    )
    session.add(row)
    await session.flush()
    await lifecycle.transition(
        session,
        runtime.keyring,
        row,
        action="connection.connect",
        outcome="success",
        event_type=lifecycle.CONNECTION_CREATED,
        detail={"auth_kind": row.auth_kind},
    )
    return row


def _parse_credentials(provider_id: str, fields: dict[str, object]) -> BaseModel:
    """The provider's credential model; field errors never echo the submitted values."""
    model = credential_model(provider_id, fields)
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = [
            {
                "loc": ["body", "credentials", *(str(part) for part in err["loc"])],
                "msg": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise ValidationFailed(
            f"credentials do not match what {provider_id} takes", extra={"errors": errors}
        ) from None


async def create_credential_connection(
    session: AsyncSession, runtime: Runtime, tenant_id: str, body: CredentialConnectionCreate
) -> Connection:
    """Validate credentials against the platform and store them encrypted (422 if refused)."""
    provider = await catalogue.resolve_provider(session, tenant_id, body.provider)
    parsed = _parse_credentials(provider.id, body.credentials)
    checked = await validators.check(runtime, provider.id, parsed)
    tokens = checked.tokens
    row = Connection(
        id=new_id("con"),
        tenant_id=tenant_id,
        provider=provider.id,
        auth_kind=checked.auth_kind,
        label=body.label,
        scopes=list(tokens.scopes),
        account=dict(tokens.account),
        expires_at=tokens.expires_at,
        last_refreshed_at=utcnow() if tokens.expires_at else None,
    )
    return await _store_new(
        session,
        runtime,
        row,
        access_token=tokens.access_token,
        refresh_token=None,
        extra=checked.stored,
    )


async def create_oauth_connection(
    session: AsyncSession,
    runtime: Runtime,
    *,
    tenant_id: str,
    provider_id: str,
    label: str | None,
    tokens: TokenSet,
    requested_scopes: list[str],
) -> Connection:
    """Store the tokens of a completed authorization-code flow as a new connection."""
    row = Connection(
        id=new_id("con"),
        tenant_id=tenant_id,
        provider=provider_id,
        auth_kind="oauth2",
        label=label,
        scopes=list(tokens.scopes) or list(requested_scopes),
        account=dict(tokens.account),
        expires_at=tokens.expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )
    return await _store_new(
        session,
        runtime,
        row,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        extra=dict(tokens.extra_secrets),
    )


async def create_identity_connection(
    session: AsyncSession,
    runtime: Runtime,
    *,
    tenant_id: str,
    provider_id: str,
    label: str | None,
    account: dict[str, str],
    secrets: dict[str, SecretStr],
) -> Connection:
    """WeCom web auth: record *who* signed in (no access token; see docs/connect.md)."""
    row = Connection(
        id=new_id("con"),
        tenant_id=tenant_id,
        provider=provider_id,
        auth_kind="wecom_web_auth",
        label=label,
        account=dict(account),
    )
    return await _store_new(
        session, runtime, row, access_token=None, refresh_token=None, extra=secrets
    )


async def force_refresh(session: AsyncSession, runtime: Runtime, row: Connection) -> Connection:
    """Renew now, whatever the expiry (``POST /v1/connections/{id}/refresh``)."""
    fresh = await refresh(
        runtime,
        tenant_id=row.tenant_id,
        connection_id=row.id,
        request=RefreshRequest("forced"),
        caller_session=session,
    )
    return fresh.connection


async def _revoke_at_provider(
    session: AsyncSession, runtime: Runtime, row: Connection, secrets: OpenedSecrets
) -> RevocationResult:
    if row.auth_kind != "oauth2" or secrets.access_token is None:
        return "skipped"
    try:
        provider = await catalogue.resolve_provider(session, row.tenant_id, row.provider)
        spec = catalogue.oauth_spec(runtime.settings, provider)
        if spec.revocation_url is None:
            return "unsupported"
        client = await catalogue.resolve_client(session, runtime.keyring, row.tenant_id, provider)
        # Revoking the refresh token ends the whole grant (RFC 7009 §2.1); Slack's auth.revoke
        # authenticates with the access token itself.
        use_refresh = spec.revocation_style != "slack" and secrets.refresh_token is not None
        token = secrets.refresh_token if use_refresh else secrets.access_token
        assert token is not None
        outcome = await oauth.revoke(
            runtime.http,
            spec,
            client_id=client.client_id,
            client_secret=client.client_secret,
            token=token,
            token_type_hint="refresh_token" if use_refresh else "access_token",
        )
    except oauth.TokenEndpointUnavailable:
        return "retry"
    except GatewayError as exc:
        logger.warning("revocation of connection %s failed: %s", row.id, exc.code)
        return "failed"
    return _REVOCATION_RESULTS[outcome]


async def revoke_connection(
    session: AsyncSession, runtime: Runtime, tenant_id: str, connection_id: str
) -> tuple[Connection, RevocationResult]:
    """Revoke at the provider where supported, then delete the ciphertexts whatever it said."""
    row = await repository.lock(session, tenant_id, connection_id)  # no refresh runs meanwhile
    if row is None:
        raise ConnectionNotFound()
    if row.status == "revoked":
        return row, "skipped"
    try:
        secrets = open_secrets(runtime.keyring, row)
    except DecryptionFailed:
        secrets = OpenedSecrets()
    result = await _revoke_at_provider(session, runtime, row, secrets)
    wipe_secrets(row)
    now = utcnow()
    row.status, row.revoked_at, row.updated_at = "revoked", now, now
    row.version += 1
    await session.flush()
    await lifecycle.transition(
        session,
        runtime.keyring,
        row,
        action="connection.revoke",
        outcome="success" if result in ("revoked", "unsupported", "skipped") else "failure",
        error_code=None
        if result in ("revoked", "unsupported", "skipped")
        else f"revocation_{result}",
        event_type=lifecycle.CONNECTION_REVOKED,
        detail={"provider_revocation": result},
    )
    return row, result
