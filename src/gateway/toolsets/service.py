"""Importing an OpenAPI document as a toolset, listing and deleting toolsets.

Checks, each a 4xx before anything is stored: the name is free and not a built-in namespace
(``slack``, ``message``, …); the document imports (422 listing every problem); there is an
absolute server URL and the egress policy allows it (``vet_url``: private, loopback, link-local
and metadata addresses are refused here already, and again by the HTTP client at connect time);
the auth binding is complete (an API key's header/query name comes from the document's
``securitySchemes`` unless given) and an OAuth connection belongs to the tenant.

Secrets (API key value, basic credentials) are encrypted into ``auth_secret_enc``, bound to the
toolset row; responses show the binding's type and names, never the secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.errors import Conflict, NotFound, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.kit.ssrf import EgressPolicy, vet_url
from gateway.models import CustomTool, Toolset
from gateway.models.base import utcnow
from gateway.tools.custom import toolset_secret_context
from gateway.tools.definitions import RESERVED_NAMESPACES, definition_cache
from gateway.tools.openapi_import import ImportedDocument, SecurityScheme, import_openapi
from gateway.toolsets import repository
from gateway.toolsets.schemas import (
    AuthApiKey,
    AuthBasic,
    AuthOAuthConnection,
    SkippedOperation,
    ToolsetAuthOut,
    ToolsetCreate,
    ToolsetOut,
)


async def create(
    session: AsyncSession, runtime: Runtime, tenant_id: str, body: ToolsetCreate
) -> ToolsetOut:
    if body.name in RESERVED_NAMESPACES:
        raise ValidationFailed(
            f"{body.name!r} is a built-in tool namespace", code="toolset_name_reserved"
        )
    if await repository.name_taken(session, tenant_id, body.name):
        raise Conflict(f"a toolset named {body.name!r} exists", code="toolset_exists")
    document = import_openapi(body.openapi, body.name)
    server_url = _server_url(body.server_url, document, runtime.egress)

    toolset = Toolset(
        id=new_id("tset"),
        tenant_id=tenant_id,
        name=body.name,
        title=document.title,
        openapi_version=document.openapi_version,
        server_url=server_url,
        auth_type=body.auth.type,
    )
    auth = body.auth
    secret: dict[str, str] | None = None
    if isinstance(auth, AuthApiKey):
        toolset.auth_in, toolset.auth_name = _api_key_target(auth, document.security_schemes)
        secret = {"value": auth.value.get_secret_value()}
    elif isinstance(auth, AuthBasic):
        secret = {"username": auth.username, "password": auth.password.get_secret_value()}
    elif isinstance(auth, AuthOAuthConnection):
        if not await repository.connection_exists(session, tenant_id, auth.connection_id):
            raise NotFound("no such connection", code="connection_not_found")
        toolset.connection_id = auth.connection_id
    if secret is not None:
        toolset.auth_secret_enc = runtime.keyring.encrypt(
            json.dumps(secret), toolset_secret_context(toolset.id, tenant_id)
        )
    session.add(toolset)
    try:
        await session.flush()  # before its tools: the unit of work does not order them by FK
    except IntegrityError:
        raise Conflict(f"a toolset named {body.name!r} exists", code="toolset_exists") from None
    names: list[str] = []
    for op in document.operations:
        name = f"{body.name}.{op.operation_id}"
        names.append(name)
        session.add(
            CustomTool(
                id=new_id("ctl"),
                tenant_id=tenant_id,
                toolset_id=toolset.id,
                name=name,
                operation_id=op.operation_id,
                description=op.description,
                method=op.method,
                path=op.path,
                parameters=op.parameters,
                bindings=op.bindings,
                authenticated=op.authenticated,
            )
        )
    await session.flush()
    # A toolset with this name may have been deleted moments ago: never serve its definitions.
    definition_cache(runtime).forget_namespace(tenant_id, body.name)
    skipped = [SkippedOperation(path=p.path, message=p.message) for p in document.skipped]
    return to_out(toolset, sorted(names), skipped)


async def delete(session: AsyncSession, runtime: Runtime, toolset: Toolset) -> None:
    await repository.delete(session, toolset.tenant_id, toolset.id)
    definition_cache(runtime).forget_toolset(toolset.tenant_id, toolset.id)
    toolset.updated_at = utcnow()


def to_out(
    toolset: Toolset, tools: list[str], skipped: list[SkippedOperation] | None = None
) -> ToolsetOut:
    return ToolsetOut(
        id=toolset.id,
        name=toolset.name,
        title=toolset.title,
        openapi_version=toolset.openapi_version,
        server_url=toolset.server_url,
        auth=ToolsetAuthOut(
            type=toolset.auth_type,
            location=toolset.auth_in,
            name=toolset.auth_name,
            connection_id=toolset.connection_id,
        ),
        tools=tools,
        skipped=skipped or [],
        created_at=toolset.created_at,
        updated_at=toolset.updated_at,
    )


def _server_url(override: str | None, document: ImportedDocument, egress: EgressPolicy) -> str:
    """The base URL tools call; vetted against the egress policy (early 422; the HTTP client
    checks the resolved addresses again at connect time)."""
    url = override or next(iter(document.servers), None)
    if not url:
        raise ValidationFailed(
            "the document names no server: pass server_url", code="server_url_required"
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise ValidationFailed("server_url is not a valid URL", code="invalid_server_url") from None
    if parsed.scheme:
        vet_url(parsed, egress)
    if not parsed.is_absolute_url:
        raise ValidationFailed(
            f"server URL {url[:200]!r} is relative: pass an absolute server_url",
            code="server_url_required",
        )
    if parsed.query or parsed.fragment:
        raise ValidationFailed(
            "server_url must not have a query or fragment", code="invalid_server_url"
        )
    return url.rstrip("/")


def _api_key_target(auth: AuthApiKey, schemes: Mapping[str, SecurityScheme]) -> tuple[str, str]:
    if auth.scheme is not None:
        scheme = schemes.get(auth.scheme)
        if scheme is None or scheme.type != "apiKey":
            raise ValidationFailed(
                f"the document has no apiKey security scheme {auth.scheme!r}",
                code="auth_incomplete",
            )
    else:
        scheme = next(
            (s for s in schemes.values() if s.type == "apiKey" and s.location != "cookie"), None
        )
    location = auth.location or (scheme.location if scheme else None)
    name = auth.name or (scheme.parameter if scheme else None)
    if location not in ("header", "query") or not name:
        raise ValidationFailed(
            "api_key auth needs 'in' (header or query) and 'name': the document has no apiKey "
            "security scheme to take them from",
            code="auth_incomplete",
        )
    return location, name
