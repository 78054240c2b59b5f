"""Renewing a connection's token, exactly once at a time across coroutines and processes.

    caller ─► coalesced(connection)                      one task per connection per process
              └─► mark ``refreshing`` (own txn, visible in GET /v1/connections/{id})
              └─► lock txn: row lock ─► re-read ─► still needed? ─► token endpoint
                                                  └ no: use the row as it is now
                   ─► store new tokens (old refresh token kept if none came back)
                   ─► COMMIT, which releases the lock: the rotated refresh token is durable
                      before anyone uses the new access token (O5, O6)

Outcomes: ``invalid_grant``/``invalid_client``/refused app credentials first re-read the row — a
changed token means another refresher won, not a dead grant — then mark ``needs_reauth`` (O7).
Token-endpoint 5xx/timeouts keep the credentials, record ``last_error_code`` and back off for
:data:`UNAVAILABLE_BACKOFF` (a forced refresh ignores the back-off). A ciphertext that does not
open means ``needs_reauth``, never a 500 (S4).

State changes that accompany an error are committed before the error is raised. On SQLite, a
caller that has already written in its session holds the database's only write lock, so the
refresh then runs inside the caller's transaction (committed when the caller commits).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.catalogue import service as catalogue
from gateway.connections import lifecycle, repository, validators
from gateway.connections.errors import (
    ConnectionNeedsReauth,
    ConnectionNotFound,
    ConnectionNotRefreshable,
)
from gateway.connections.locking import coalesced, holds_sqlite_write_lock, lock_sessionmaker
from gateway.connections.sealing import OpenedSecrets, open_secrets, seal_secrets
from gateway.kit.db import take_pending_jobs, transaction
from gateway.kit.errors import DecryptionFailed, GatewayError
from gateway.kit.metrics import CONNECTION_REFRESHES
from gateway.kit.runtime import Runtime
from gateway.models import Connection
from gateway.models.base import utcnow
from gateway.providers import oauth
from gateway.providers.oauth import (
    InvalidClient,
    InvalidCredentials,
    InvalidGrant,
    TokenEndpointUnavailable,
    TokenSet,
)

logger = logging.getLogger(__name__)

#: A token this close to expiry is renewed before use.
EXPIRY_SKEW: Final = timedelta(seconds=60)
#: After a token-endpoint outage, automatic refreshes of the connection wait this long.
UNAVAILABLE_BACKOFF: Final = timedelta(seconds=30)

_GRANT_REFUSED = (InvalidGrant, InvalidClient, InvalidCredentials)


@dataclass(frozen=True)
class RefreshRequest:
    """Why a refresh is wanted; decides, on the locked row, whether it is still needed."""

    reason: Literal["forced", "expiring", "rejected"]
    valid_until: datetime | None = None  # expiring: enough if the token lives past this
    rejected_access_token: str | None = None  # rejected: enough if the token is another one

    def satisfied_by(self, row: Connection, secrets: OpenedSecrets) -> bool:
        if self.reason == "rejected":
            current = secrets.access_token
            return current is not None and current.get_secret_value() != (
                self.rejected_access_token
            )
        if self.reason == "expiring":
            assert self.valid_until is not None
            return row.expires_at is None or row.expires_at > self.valid_until
        return False


@dataclass(frozen=True)
class Fresh:
    """The connection after a refresh (or after finding one was not needed)."""

    connection: Connection
    secrets: OpenedSecrets
    refreshed: bool


class _CommitThenRaise(Exception):
    """Carries an error whose accompanying state change must be committed first."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.code)
        self.error = error


def refreshable(row: Connection, secrets: OpenedSecrets) -> bool:
    """Whether the gateway can renew this connection's token by itself."""
    if row.auth_kind == "credentials":
        return True
    return row.auth_kind == "oauth2" and secrets.refresh_token is not None


async def refresh(
    runtime: Runtime,
    *,
    tenant_id: str,
    connection_id: str,
    request: RefreshRequest,
    caller_session: AsyncSession | None = None,
) -> Fresh:
    """Renew the connection's token if ``request`` still needs it (single-flight)."""
    if caller_session is not None and await holds_sqlite_write_lock(caller_session):
        try:
            return await _refresh_locked(caller_session, runtime, tenant_id, connection_id, request)
        except _CommitThenRaise as pending:
            raise pending.error from None

    async def work() -> Fresh:
        return await _refresh_in_own_transactions(runtime, tenant_id, connection_id, request)

    return await coalesced(runtime, f"{tenant_id}:{connection_id}", work)


async def mark_needs_reauth(
    runtime: Runtime,
    *,
    tenant_id: str,
    connection_id: str,
    error_code: str,
    caller_session: AsyncSession | None = None,
) -> None:
    """Move a usable connection to ``needs_reauth`` (audit + event), committed on its own."""
    if caller_session is not None and await holds_sqlite_write_lock(caller_session):
        await _mark_locked(caller_session, runtime, tenant_id, connection_id, error_code)
        return
    async with transaction(lock_sessionmaker(runtime)) as session:
        await _mark_locked(session, runtime, tenant_id, connection_id, error_code)
    await runtime.dispatch(take_pending_jobs(session))


async def _mark_locked(
    session: AsyncSession, runtime: Runtime, tenant_id: str, connection_id: str, code: str
) -> None:
    row = await repository.lock(session, tenant_id, connection_id)
    if row is None:
        raise ConnectionNotFound()
    if row.status in repository.USABLE_STATUSES:
        await _needs_reauth(session, runtime, row, code)


async def _refresh_in_own_transactions(
    runtime: Runtime, tenant_id: str, connection_id: str, request: RefreshRequest
) -> Fresh:
    maker = lock_sessionmaker(runtime)
    async with transaction(maker) as session:
        await repository.mark_refreshing(session, tenant_id, connection_id)
    async with maker() as session:
        try:
            fresh = await _refresh_locked(session, runtime, tenant_id, connection_id, request)
        except _CommitThenRaise as pending:
            await session.commit()
            await runtime.dispatch(take_pending_jobs(session))
            raise pending.error from None
        except BaseException:
            session.info.pop("pending_jobs", None)
            await session.rollback()
            raise
        await session.commit()
    await runtime.dispatch(take_pending_jobs(session))
    return fresh


def _settle(row: Connection) -> None:
    """Undo the visible ``refreshing`` mark when this attempt changes nothing else."""
    if row.status == "refreshing":
        row.status = "active"


async def _refresh_locked(
    session: AsyncSession,
    runtime: Runtime,
    tenant_id: str,
    connection_id: str,
    request: RefreshRequest,
) -> Fresh:
    row = await repository.lock(session, tenant_id, connection_id)
    if row is None:
        raise ConnectionNotFound()
    if row.status not in repository.USABLE_STATUSES:
        raise ConnectionNeedsReauth(f"Connection is {row.status}; connect the account again")
    try:
        secrets = open_secrets(runtime.keyring, row)
    except DecryptionFailed:
        await _needs_reauth(session, runtime, row, DecryptionFailed.code)
        raise _CommitThenRaise(ConnectionNeedsReauth()) from None
    if request.satisfied_by(row, secrets):
        _settle(row)
        return Fresh(row, secrets, refreshed=False)
    if not refreshable(row, secrets):
        _settle(row)
        if request.reason == "forced":
            raise _CommitThenRaise(ConnectionNotRefreshable())
        await _needs_reauth(session, runtime, row, "token_expired")
        raise _CommitThenRaise(ConnectionNeedsReauth())
    now = utcnow()
    if (
        request.reason != "forced"
        and row.last_error_code == TokenEndpointUnavailable.code
        and row.updated_at > now - UNAVAILABLE_BACKOFF
    ):
        _settle(row)
        wait = (row.updated_at + UNAVAILABLE_BACKOFF - now).total_seconds()
        raise _CommitThenRaise(TokenEndpointUnavailable(retry_after=max(1.0, wait)))
    try:
        tokens = await _new_tokens(session, runtime, row, secrets)
    except _GRANT_REFUSED as exc:
        CONNECTION_REFRESHES.labels(row.provider, "refused").inc()
        if (won := await _lost_race(session, runtime, row, secrets)) is not None:
            _settle(won.connection)
            return won
        await _needs_reauth(session, runtime, row, exc.code)
        raise _CommitThenRaise(ConnectionNeedsReauth()) from None
    except GatewayError as exc:
        CONNECTION_REFRESHES.labels(row.provider, "failed").inc()
        row.status, row.last_error_code, row.updated_at = "active", exc.code, now
        await lifecycle.transition(
            session,
            runtime.keyring,
            row,
            action="connection.refresh",
            outcome="failure",
            error_code=exc.code,
        )
        raise _CommitThenRaise(exc) from None
    CONNECTION_REFRESHES.labels(row.provider, "refreshed").inc()
    fresh_secrets = _store(runtime, row, tokens, secrets, now)
    await session.flush()
    await lifecycle.transition(
        session,
        runtime.keyring,
        row,
        action="connection.refresh",
        outcome="success",
        event_type=lifecycle.CONNECTION_REFRESHED,
    )
    return Fresh(row, fresh_secrets, refreshed=True)


async def _new_tokens(
    session: AsyncSession, runtime: Runtime, row: Connection, secrets: OpenedSecrets
) -> TokenSet:
    """Ask the provider for a new token: OAuth refresh grant, or re-fetch the app token."""
    if row.auth_kind != "oauth2":
        return await validators.recheck(
            runtime, row.provider, secrets.extra_values(), secrets.access_token
        )
    provider = await catalogue.resolve_provider(session, row.tenant_id, row.provider)
    spec = catalogue.oauth_spec(runtime.settings, provider)
    client = await catalogue.resolve_client(session, runtime.keyring, row.tenant_id, provider)
    assert secrets.refresh_token is not None
    tokens = await oauth.refresh(
        runtime.http,
        spec,
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=secrets.refresh_token,
    )
    return tokens.keeping_refresh_token(secrets.refresh_token)


def _store(
    runtime: Runtime, row: Connection, tokens: TokenSet, old: OpenedSecrets, now: datetime
) -> OpenedSecrets:
    extra = dict(old.extra)
    extra.update(tokens.extra_secrets)
    seal_secrets(
        runtime.keyring,
        row,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        extra=extra,
    )
    row.expires_at = tokens.expires_at
    row.refresh_expires_at = tokens.refresh_expires_at or row.refresh_expires_at
    if tokens.scopes:
        row.scopes = list(tokens.scopes)
    if tokens.account:
        row.account = {**row.account, **tokens.account}
    row.status, row.last_error_code = "active", None
    row.last_refreshed_at = row.updated_at = now
    row.version += 1
    return OpenedSecrets(tokens.access_token, tokens.refresh_token, extra)


def _same(a: OpenedSecrets, b: OpenedSecrets) -> bool:
    def plain(s: OpenedSecrets) -> tuple[str | None, str | None]:
        return (
            s.access_token.get_secret_value() if s.access_token else None,
            s.refresh_token.get_secret_value() if s.refresh_token else None,
        )

    return plain(a) == plain(b) and a.extra_values() == b.extra_values()


async def _lost_race(
    session: AsyncSession, runtime: Runtime, row: Connection, sent: OpenedSecrets
) -> Fresh | None:
    """After a refused grant, re-read the row: if its tokens changed, another refresher won
    the race and the refusal was about the old token, not a dead grant (O6)."""
    current = await repository.get(session, row.tenant_id, row.id, fresh=True)
    if current is None or current.status not in repository.USABLE_STATUSES:
        return None
    try:
        now_stored = open_secrets(runtime.keyring, current)
    except DecryptionFailed:
        return None
    if _same(now_stored, sent):
        return None
    logger.info("connection %s: refused grant was a lost refresh race", row.id)
    return Fresh(current, now_stored, refreshed=False)


async def _needs_reauth(
    session: AsyncSession, runtime: Runtime, row: Connection, code: str
) -> None:
    logger.warning("connection %s (%s) needs re-authorisation: %s", row.id, row.provider, code)
    row.status, row.last_error_code, row.updated_at = "needs_reauth", code, utcnow()
    await session.flush()
    await lifecycle.transition(
        session,
        runtime.keyring,
        row,
        action="connection.needs_reauth",
        outcome="failure",
        error_code=code,
        event_type=lifecycle.CONNECTION_NEEDS_REAUTH,
    )
