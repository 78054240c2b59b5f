"""The provider catalogue: built-in providers plus the tenant's custom OAuth providers.

Also the one place that knows where a provider's endpoints are: a provider's OAuth spec, its
credential/API hosts and its tools' API base can be redirected to a mock or sandbox with
``GATEWAY_PROVIDER_BASE_URLS`` (``{"slack": "http://127.0.0.1:9999"}``; scheme and host are
replaced, paths kept). That map is for development and tests only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit import service as audit
from gateway.catalogue import repository
from gateway.catalogue.schemas import CustomProviderCreate
from gateway.kit.crypto import Keyring
from gateway.kit.errors import (
    Conflict,
    DecryptionFailed,
    NotFound,
    OAuthClientMissing,
    ValidationFailed,
)
from gateway.kit.ids import new_id
from gateway.kit.settings import Settings
from gateway.kit.ssrf import EgressPolicy, vet_url
from gateway.models import SYSTEM_OWNER, CustomProvider, OAuthClient
from gateway.oauth_clients import service as oauth_clients
from gateway.oauth_clients.service import ResolvedClient
from gateway.providers.base import Provider
from gateway.providers.dingtalk import tools as dingtalk_tools
from gateway.providers.discord import tools as discord_tools
from gateway.providers.lark import tools as lark_tools
from gateway.providers.oauth import OAuthSpec, custom_spec, rebase_url
from gateway.providers.registry import all_providers, get_provider
from gateway.providers.slack import tools as slack_tools
from gateway.providers.telegram import tools as telegram_tools
from gateway.providers.wecom import tools as wecom_tools

# The platform API base each provider's built-in tools compose their URLs from.
_TOOLS_API_BASE: Final[dict[str, str]] = {
    "slack": slack_tools.API_BASE,
    "discord": discord_tools.API_BASE,
    "telegram": telegram_tools.API_BASE,
    "lark": lark_tools.API_BASE,
    "dingtalk": dingtalk_tools.API_BASE,
    "wecom": wecom_tools.API_BASE,
}


# Providers served by this gateway itself: their endpoints live under the public base URL.
_SELF_HOSTED: Final = frozenset({"sandbox"})


class ProviderNotFound(NotFound):
    code = "provider_not_found"
    title = "No such provider"


class OAuthClientUnreadable(OAuthClientMissing):
    """The stored client secret does not decrypt (its key was removed): as good as missing."""

    code = "oauth_client_unreadable"
    title = "The stored OAuth client secret cannot be decrypted; set the client again"


class ProviderHasNoOAuth(ValidationFailed):
    code = "provider_has_no_oauth"
    title = "This provider has no OAuth flow"


@dataclass(frozen=True)
class ResolvedProvider:
    """A provider as seen by one tenant: built in, or the tenant's own custom provider."""

    id: str  # canonical id (aliases resolved)
    name: str
    builtin: Provider | None = None
    custom: CustomProvider | None = None

    @property
    def oauth(self) -> OAuthSpec | None:
        if self.builtin is not None:
            return self.builtin.oauth
        assert self.custom is not None
        return custom_spec_of(self.custom)

    @property
    def issuer(self) -> str | None:
        return self.custom.issuer if self.custom is not None else None


def custom_spec_of(row: CustomProvider) -> OAuthSpec:
    return custom_spec(
        authorization_url=row.authorization_url,
        token_url=row.token_url,
        revocation_url=row.revocation_url,
        scopes=row.scopes,
        scope_separator=row.scope_separator,
        pkce=row.pkce,
        token_auth_method="client_secret_post"
        if row.token_auth_method == "client_secret_post"
        else "client_secret_basic",
        extra_authorize_params=row.extra_authorize_params,
    )


# --------------------------------------------------------------------------- endpoints


def provider_base_url(settings: Settings, provider_id: str) -> str | None:
    """The configured mock/sandbox base for a built-in provider (id or alias), else None."""
    overrides = settings.provider_base_urls
    if provider_id == "sandbox" and "sandbox" not in overrides:  # served by this gateway
        return settings.resolved_public_base_url
    if not overrides:
        return None
    provider = get_provider(provider_id)
    keys = (provider.id, *provider.aliases) if provider is not None else (provider_id,)
    return next((overrides[k] for k in keys if k in overrides), None)


def oauth_spec(settings: Settings, provider: ResolvedProvider) -> OAuthSpec:
    """The provider's OAuth spec, rebased onto its mock/sandbox when one is configured."""
    spec = provider.oauth
    if spec is None:
        raise ProviderHasNoOAuth(f"{provider.id} has no OAuth flow; use POST /v1/connections")
    base = provider_base_url(settings, provider.id) if provider.builtin is not None else None
    return spec.rebased(base) if base else spec


def tools_base_url(settings: Settings, provider_id: str) -> str | None:
    """The API base the provider's tools should call instead of the platform (mock/sandbox)."""
    base = provider_base_url(settings, provider_id)
    default = _TOOLS_API_BASE.get(provider_id)
    if base is None or default is None:
        return None
    return rebase_url(default, base)


# --------------------------------------------------------------------------- resolution


async def resolve_provider(
    session: AsyncSession, tenant_id: str, provider_id: str
) -> ResolvedProvider:
    """A built-in provider (aliases resolved) or the tenant's custom one; else 404."""
    builtin = get_provider(provider_id)
    if builtin is not None:
        return ResolvedProvider(id=builtin.id, name=builtin.name, builtin=builtin)
    row = await repository.get_custom(session, tenant_id, provider_id)
    if row is None:
        raise ProviderNotFound(f"Unknown provider {provider_id!r}")
    return ResolvedProvider(id=row.provider_id, name=row.name, custom=row)


async def list_providers(session: AsyncSession, tenant_id: str) -> list[ResolvedProvider]:
    builtins = [ResolvedProvider(id=p.id, name=p.name, builtin=p) for p in all_providers()]
    customs = [
        ResolvedProvider(id=row.provider_id, name=row.name, custom=row)
        for row in await repository.list_custom(session, tenant_id)
    ]
    return builtins + customs


async def register_custom_provider(
    session: AsyncSession, egress: EgressPolicy, tenant_id: str, body: CustomProviderCreate
) -> ResolvedProvider:
    """Store a custom OAuth provider; its URLs must pass the egress policy (SSRF guard)."""
    if get_provider(body.id) is not None:
        raise Conflict(f"{body.id!r} is a built-in provider", code="provider_exists")
    spec_row = CustomProvider(
        id=new_id("cpr"),
        tenant_id=tenant_id,
        provider_id=body.id,
        name=body.name,
        authorization_url=body.authorization_url,
        token_url=body.token_url,
        revocation_url=body.revocation_url,
        issuer=body.issuer,
        scopes=list(body.scopes),
        scope_separator=body.scope_separator,
        pkce=body.pkce,
        token_auth_method=body.token_auth_method,
        extra_authorize_params=dict(body.extra_authorize_params),
    )
    custom_spec_of(spec_row)  # ValidationFailed for malformed URLs, scopes or parameters
    for url in (body.authorization_url, body.token_url, body.revocation_url):
        if url is not None:
            vet_url(url, egress)
    if await repository.get_custom(session, tenant_id, body.id) is not None:
        raise Conflict(f"provider {body.id!r} already exists", code="provider_exists")
    session.add(spec_row)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent registration won; the request rolls back
        raise Conflict(f"provider {body.id!r} already exists", code="provider_exists") from None
    await audit.record(session, tenant_id, "provider.register", "success", provider=body.id)
    return ResolvedProvider(id=spec_row.provider_id, name=spec_row.name, custom=spec_row)


# --------------------------------------------------------------------------- OAuth clients


async def resolve_client(
    session: AsyncSession, keyring: Keyring, tenant_id: str, provider: ResolvedProvider
) -> ResolvedClient:
    """The tenant's own client, else the system client (built-in providers only); else 409."""
    try:
        client = await oauth_clients.resolve(
            session, keyring, tenant_id=tenant_id, provider=provider.id
        )
    except DecryptionFailed:
        raise OAuthClientUnreadable() from None
    if provider.custom is not None and client.source != "tenant":
        raise OAuthClientMissing(
            f"Set this tenant's client with PUT /v1/providers/{provider.id}/oauth-client"
        )
    return client


async def get_effective_client(
    session: AsyncSession, tenant_id: str, provider: ResolvedProvider
) -> tuple[OAuthClient, str]:
    """The client row that a flow would use and its source; 404 when there is none."""
    owners = [(tenant_id, "tenant")]
    if provider.builtin is not None:
        owners.append((SYSTEM_OWNER, "system"))
    for owner, source in owners:
        row = await oauth_clients.get_client(session, owner=owner, provider=provider.id)
        if row is not None:
            return row, source
    raise NotFound(f"No OAuth client for {provider.id!r}", code="oauth_client_not_found")


async def set_tenant_client(
    session: AsyncSession,
    keyring: Keyring,
    tenant_id: str,
    provider: ResolvedProvider,
    *,
    client_id: str,
    client_secret: SecretStr,
    scopes: list[str],
) -> OAuthClient:
    if provider.oauth is None:
        raise ProviderHasNoOAuth(f"{provider.id} has no OAuth flow")
    row = await oauth_clients.set_client(
        session,
        keyring,
        owner=tenant_id,
        provider=provider.id,
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes,
    )
    await audit.record(session, tenant_id, "oauth_client.set", "success", provider=provider.id)
    return row


async def delete_tenant_client(
    session: AsyncSession, tenant_id: str, provider: ResolvedProvider
) -> None:
    if not await oauth_clients.delete_client(session, owner=tenant_id, provider=provider.id):
        raise NotFound(
            f"No OAuth client of yours for {provider.id!r}", code="oauth_client_not_found"
        )
    await audit.record(session, tenant_id, "oauth_client.delete", "success", provider=provider.id)
