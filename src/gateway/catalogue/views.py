"""Catalogue entries as API documents (built from the provider declarations, no I/O)."""

from __future__ import annotations

from gateway.catalogue.credential_kinds import (
    CREDENTIAL_KINDS,
    ApiKeyCredentials,
    write_only_schema,
)
from gateway.catalogue.schemas import (
    CredentialsInfo,
    OAuthInfo,
    ProviderDetail,
    ProviderSummary,
    ToolInfo,
    WebhookInfo,
)
from gateway.catalogue.service import ResolvedProvider
from gateway.kit.settings import Settings


def callback_url(settings: Settings, provider_id: str) -> str:
    """The exact redirect URI of this gateway for ``provider_id`` (register it at the provider)."""
    return f"{settings.resolved_public_base_url}/oauth/{provider_id}/callback"


def _auth_kinds(provider: ResolvedProvider) -> list[str]:
    kinds: list[str] = ["oauth2"]
    if provider.builtin is not None:
        kinds = [str(kind) for kind in provider.builtin.auth_kinds]
    return kinds if "api_key" in kinds else [*kinds, "api_key"]


def summary(provider: ResolvedProvider) -> ProviderSummary:
    builtin = provider.builtin
    return ProviderSummary(
        id=provider.id,
        name=provider.name,
        kind="builtin" if builtin is not None else "custom",
        aliases=list(builtin.aliases) if builtin is not None else [],
        auth_kinds=_auth_kinds(provider),
        webhooks=builtin is not None and builtin.verifier is not None,
        tools=[t.spec.name for t in builtin.tools] if builtin is not None else [],
    )


def _oauth(provider: ResolvedProvider, settings: Settings) -> OAuthInfo | None:
    spec = provider.oauth
    if spec is None:
        return None
    return OAuthInfo(
        flow=spec.flow,
        authorization_url=spec.authorization_url,
        token_url=spec.token_url if spec.flow == "oauth2" else None,
        revocation_supported=spec.revocation_url is not None,
        refresh_supported=spec.refresh_supported,
        default_scopes=list(spec.default_scopes),
        scope_separator=spec.scope_separator,
        pkce=spec.pkce,
        token_auth_method=spec.token_auth_method,
        code_param=spec.code_param,
        issuer=provider.issuer,
        callback_url=callback_url(settings, provider.id),
    )


def detail(provider: ResolvedProvider, settings: Settings) -> ProviderDetail:
    builtin = provider.builtin
    webhook = None
    if builtin is not None and builtin.verifier is not None:
        verifier = builtin.verifier
        webhook = WebhookInfo(
            config_schema=write_only_schema(verifier.config_schema, verifier.secret_fields),
            secret_fields=list(verifier.secret_fields),
        )
    kind = CREDENTIAL_KINDS.get(provider.id) if builtin is not None else None
    credentials = CredentialsInfo(
        credentials_schema=write_only_schema(kind or ApiKeyCredentials),
        validated=kind is not None,
    )
    tools = [
        ToolInfo(name=t.spec.name, description=t.spec.description, parameters=t.spec.parameters)
        for t in (builtin.tools if builtin is not None else ())
    ]
    return ProviderDetail(
        **summary(provider).model_dump(),
        oauth=_oauth(provider, settings),
        webhook=webhook,
        credentials=credentials,
        tool_specs=tools,
        docs_url=builtin.docs_url if builtin is not None else None,
    )
