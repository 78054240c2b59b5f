"""Tenant and API-key lifecycle.

An API key reads ``gwk_<prefix>_<secret>``: the 12-character prefix finds the row, the 256-bit
secret is checked against a SHA-256 hash with a constant-time compare. A hash of a high-entropy
secret needs no slow KDF; the plaintext key exists only in the one response that creates it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.errors import Conflict, InvalidApiKey, NotFound
from gateway.kit.ids import new_id
from gateway.models import ApiKey, Tenant
from gateway.models.base import utcnow
from gateway.tenants import repository
from gateway.tenants.auth_cache import CurrentTenant

KEY_PREFIX = "gwk"


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str

    def __repr__(self) -> str:
        return f"IssuedKey(id={self.api_key.id!r}, plaintext=***)"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_tenant(session: AsyncSession, name: str) -> Tenant:
    if await repository.get_tenant_by_name(session, name) is not None:
        raise Conflict(f"tenant {name!r} already exists", code="tenant_exists")
    tenant = Tenant(id=new_id("ten"), name=name)
    session.add(tenant)
    await session.flush()
    return tenant


async def create_api_key(
    session: AsyncSession, tenant: Tenant | CurrentTenant, label: str | None = None
) -> IssuedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        id=new_id("key"), tenant_id=tenant.id, prefix=prefix, key_hash=_hash(secret), label=label
    )
    session.add(row)
    await session.flush()
    return IssuedKey(row, f"{KEY_PREFIX}_{prefix}_{secret}")


async def revoke_api_key(session: AsyncSession, key_id: str) -> ApiKey:
    row = await repository.get_api_key(session, key_id)
    if row is None:
        raise NotFound("API key not found", code="api_key_not_found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return row


async def authenticate(session: AsyncSession, presented: str) -> Tenant:
    """The tenant owning ``presented``; :class:`InvalidApiKey` if missing, wrong or revoked."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        raise InvalidApiKey()
    row = await repository.get_api_key_by_prefix(session, parts[1])
    expected = row.key_hash if row is not None else _hash("no-such-key")
    matches = hmac.compare_digest(expected, _hash(parts[2]))
    if row is None or not matches:
        raise InvalidApiKey()
    if row.revoked_at is not None:
        raise InvalidApiKey("API key has been revoked", code="api_key_revoked")
    tenant = await repository.get_tenant(session, row.tenant_id)
    if tenant is None:
        raise InvalidApiKey()
    return tenant
