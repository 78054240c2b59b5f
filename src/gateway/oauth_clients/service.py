"""Store, resolve and delete OAuth clients; the secret is only ever held encrypted."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.errors import OAuthClientMissing
from gateway.kit.ids import new_id
from gateway.models import SYSTEM_OWNER, OAuthClient
from gateway.models.base import utcnow
from gateway.oauth_clients import repository


@dataclass(frozen=True)
class ResolvedClient:
    client_id: str
    client_secret: SecretStr
    scopes: tuple[str, ...]
    source: str  # "tenant" | "system"


def _where(row: OAuthClient) -> FieldContext:
    return FieldContext("oauth_clients", "client_secret_enc", row.id, row.owner)


async def set_client(
    session: AsyncSession,
    keyring: Keyring,
    *,
    owner: str,
    provider: str,
    client_id: str,
    client_secret: SecretStr,
    scopes: list[str] | None = None,
) -> OAuthClient:
    row = await repository.get(session, owner, provider)
    if row is None:
        row = OAuthClient(
            id=new_id("occ"),
            owner=owner,
            provider=provider,
            client_id=client_id,
            client_secret_enc="",
            scopes=list(scopes or []),
        )
        session.add(row)
    else:
        row.client_id = client_id
        row.scopes = list(scopes or [])
        row.updated_at = utcnow()
    row.client_secret_enc = keyring.encrypt(client_secret.get_secret_value(), _where(row))
    await session.flush()
    return row


async def resolve(
    session: AsyncSession, keyring: Keyring, *, tenant_id: str, provider: str
) -> ResolvedClient:
    """The tenant's own client first, then the system client; neither → 409."""
    for owner, source in ((tenant_id, "tenant"), (SYSTEM_OWNER, "system")):
        row = await repository.get(session, owner, provider)
        if row is not None:
            secret = keyring.decrypt(row.client_secret_enc, _where(row))
            return ResolvedClient(row.client_id, SecretStr(secret), tuple(row.scopes), source)
    raise OAuthClientMissing(
        f"No OAuth client for provider {provider!r}: set one with "
        f"PUT /v1/providers/{provider}/oauth-client or `gateway oauth-client set`"
    )


async def get_client(session: AsyncSession, *, owner: str, provider: str) -> OAuthClient | None:
    return await repository.get(session, owner, provider)


async def list_clients(session: AsyncSession, *, owner: str) -> list[OAuthClient]:
    return await repository.list_for_owner(session, owner)


async def delete_client(session: AsyncSession, *, owner: str, provider: str) -> bool:
    return await repository.delete_one(session, owner, provider)
