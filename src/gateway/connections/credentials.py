"""Credentials for acting on a platform: THE interface the tools domain calls.

    creds = await tool_credentials(session, runtime, tenant_id=t, connection_id=c)
    ... call the platform with creds.access_token ...
    on ProviderTokenExpired:
        creds = await refresh_after_rejection(session, runtime, tenant_id=t, connection_id=c,
                                              rejected_access_token=<the token that was refused>)
        ... retry once ...
    on ProviderAuthRevoked:
        await mark_needs_reauth(session, runtime, tenant_id=t, connection_id=c,
                                error_code=<stable code>)

Both functions read through ``session`` and never commit it: a needed refresh runs in its own
short transaction under the connection's row lock (see ``connections.refresh``), so call them
*before* writing in ``session`` (on SQLite, a session that has already written holds the only
write lock; the refresh then joins that transaction instead, and your commit persists it).

Errors: ``ConnectionNotFound`` (404, also for another tenant's connection),
``ConnectionNeedsReauth`` (409 ``connection_needs_reauth``: status ``needs_reauth``/``revoked``,
or the refresh was refused), ``ConnectionHasNoToken`` (409, WeCom web-auth identities),
``TokenEndpointUnavailable`` (503, only when the current token is already unusable).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.catalogue.service import tools_base_url
from gateway.connections import repository
from gateway.connections.errors import (
    ConnectionHasNoToken,
    ConnectionNeedsReauth,
    ConnectionNotFound,
)
from gateway.connections.refresh import (
    EXPIRY_SKEW,
    Fresh,
    RefreshRequest,
    refresh,
    refreshable,
)
from gateway.connections.refresh import (
    mark_needs_reauth as _mark_needs_reauth,
)
from gateway.connections.sealing import OpenedSecrets, open_secrets
from gateway.kit.errors import DecryptionFailed, GatewayError
from gateway.kit.runtime import Runtime
from gateway.models import Connection
from gateway.models.base import utcnow
from gateway.providers.tools import ToolCredentials

__all__ = [
    "ConnectionHasNoToken",
    "ConnectionNeedsReauth",
    "ConnectionNotFound",
    "mark_needs_reauth",
    "refresh_after_rejection",
    "tool_credentials",
]


def _build(runtime: Runtime, row: Connection, secrets: OpenedSecrets) -> ToolCredentials:
    if secrets.access_token is None:
        raise ConnectionNeedsReauth("The connection holds no access token")
    extra = {
        key: str(value)
        for key, value in row.account.items()
        if isinstance(value, str | int) and not isinstance(value, bool)
    }
    extra["auth_kind"] = row.auth_kind
    return ToolCredentials(
        access_token=secrets.access_token,
        extra=extra,
        base_url=tools_base_url(runtime.settings, row.provider),
    )


async def _load(
    session: AsyncSession, runtime: Runtime, tenant_id: str, connection_id: str
) -> tuple[Connection, OpenedSecrets]:
    row = await repository.get(session, tenant_id, connection_id, fresh=True)
    if row is None:
        raise ConnectionNotFound()
    if row.status not in repository.USABLE_STATUSES:
        raise ConnectionNeedsReauth(f"Connection is {row.status}; connect the account again")
    if row.auth_kind == "wecom_web_auth":
        raise ConnectionHasNoToken()
    try:
        return row, open_secrets(runtime.keyring, row)
    except DecryptionFailed:
        await _mark_needs_reauth(
            runtime,
            tenant_id=tenant_id,
            connection_id=connection_id,
            error_code=DecryptionFailed.code,
            caller_session=session,
        )
        raise ConnectionNeedsReauth("The stored credentials cannot be decrypted") from None


async def tool_credentials(
    session: AsyncSession, runtime: Runtime, *, tenant_id: str, connection_id: str
) -> ToolCredentials:
    """Decrypted credentials of the tenant's connection, renewed first if (nearly) expired.

    A renewal that fails transiently while the current token is still valid returns the current
    token. ``extra`` holds non-secret metadata (``agent_id``, ``robot_code``, ``bot_user_id``, …);
    ``base_url`` is set when the provider is pointed at a mock/sandbox.
    """
    row, secrets = await _load(session, runtime, tenant_id, connection_id)
    now = utcnow()
    if row.expires_at is None or row.expires_at > now + EXPIRY_SKEW:
        return _build(runtime, row, secrets)
    if not refreshable(row, secrets) and row.expires_at > now:
        return _build(runtime, row, secrets)  # cannot renew; usable until it actually expires
    request = RefreshRequest("expiring", valid_until=now + EXPIRY_SKEW)
    try:
        fresh: Fresh = await refresh(
            runtime,
            tenant_id=tenant_id,
            connection_id=connection_id,
            request=request,
            caller_session=session,
        )
    except ConnectionNeedsReauth:
        raise
    except GatewayError:
        if row.expires_at > now:
            return _build(runtime, row, secrets)
        raise
    return _build(runtime, fresh.connection, fresh.secrets)


async def refresh_after_rejection(
    session: AsyncSession,
    runtime: Runtime,
    *,
    tenant_id: str,
    connection_id: str,
    rejected_access_token: str,
) -> ToolCredentials:
    """The provider refused ``rejected_access_token`` as expired: renew once and return the new
    credentials. If the stored token is already another one (someone renewed it meanwhile), that
    one is returned without calling the provider; concurrent callers share one renewal."""
    row, secrets = await _load(session, runtime, tenant_id, connection_id)
    current = secrets.access_token
    if current is not None and current.get_secret_value() != rejected_access_token:
        return _build(runtime, row, secrets)
    fresh = await refresh(
        runtime,
        tenant_id=tenant_id,
        connection_id=connection_id,
        request=RefreshRequest("rejected", rejected_access_token=rejected_access_token),
        caller_session=session,
    )
    return _build(runtime, fresh.connection, fresh.secrets)


async def mark_needs_reauth(
    session: AsyncSession,
    runtime: Runtime,
    *,
    tenant_id: str,
    connection_id: str,
    error_code: str,
) -> None:
    """The provider says the credential is dead for good (revoked, uninstalled): record it.

    Committed in its own transaction (audit record + ``connection.needs_reauth`` event), so it
    sticks even when the caller's request then fails. ``NotFound`` for another tenant's id.
    """
    await _mark_needs_reauth(
        runtime,
        tenant_id=tenant_id,
        connection_id=connection_id,
        error_code=error_code,
        caller_session=session,
    )
