"""The sandbox platform's chat API and webhook sender, and its first-start provisioning.

    POST /sandbox/api/messages   an app posts (sandbox access token, ``messages:write``)
    GET  /sandbox/api/messages   an app (``messages:read``) or the tenant (API key) reads
    POST /sandbox/api/simulate   a person posts: the message is stored, and the sandbox sends
                                 the event, signed with the endpoint's secret (Standard
                                 Webhooks), to the endpoint's public URL through
                                 ``runtime.http`` (the path a real platform's delivery takes)

Sandbox rows go through the sandbox session (``store.py``); the gateway's own rows (tenant's
endpoint, OAuth clients) through the gateway session; services flush, never commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from datetime import datetime
from typing import Any, Final

import httpx
from pydantic import SecretStr
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.db import DB_UNAVAILABLE_ERRORS
from gateway.kit.errors import (
    Conflict,
    DecryptionFailed,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import SYSTEM_OWNER, SandboxGrant, SandboxMessage
from gateway.oauth_clients import service as oauth_clients
from gateway.providers.sandbox.oauth import SCOPES
from gateway.providers.standard.webhook import StandardWebhookConfig
from gateway.sandbox import authorization, repository
from gateway.sandbox.schemas import (
    SandboxMessageCreate,
    SandboxMessageOut,
    SandboxSender,
    SimulateRequest,
    SimulateResult,
)
from gateway.sandbox.signers import json_bytes, sign_standard
from gateway.webhooks import repository as endpoints
from gateway.webhooks.service import endpoint_url, load_configs

logger = logging.getLogger(__name__)

SYSTEM_CLIENT_ID: Final = "gateway-sandbox"
#: The sandbox waits this long for the gateway to acknowledge a simulated delivery.
DELIVERY_TIMEOUT_SECONDS: Final = 10.0
_RESPONSE_SNIPPET: Final = 2000


class SandboxTokenInvalid(Unauthorized):
    code = "invalid_token"
    title = "The sandbox access token is invalid, expired or revoked"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "The access token lacks the scope this call needs"


class EndpointNotSandbox(ValidationFailed):
    code = "endpoint_not_sandbox"
    title = "The webhook endpoint does not receive sandbox events"


def _bearer_challenge(error: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="sandbox", error="{error}"'}


async def authenticate_token(session: AsyncSession, token: str, now: datetime) -> SandboxGrant:
    """The grant behind a live access token; 401 ``invalid_token`` / ``token_expired``."""
    row = await repository.token_by_hash(session, authorization.secret_hash(token))
    if row is None or row.kind != "access":
        raise SandboxTokenInvalid(headers=_bearer_challenge("invalid_token"))
    if row.expires_at <= now:
        raise SandboxTokenInvalid(
            "the access token has expired; refresh it",
            code="token_expired",
            headers=_bearer_challenge("invalid_token"),
        )
    grant = await repository.get_grant(session, row.tenant_id, row.grant_id)
    if grant is None or grant.revoked_at is not None:
        raise SandboxTokenInvalid(
            "the authorization was revoked", headers=_bearer_challenge("invalid_token")
        )
    return grant


def require_scope(grant: SandboxGrant, scope: str) -> None:
    if scope not in grant.scopes:
        raise InsufficientScope(
            f"this call needs the {scope!r} scope",
            headers={
                "WWW-Authenticate": f'Bearer realm="sandbox", error="insufficient_scope", '
                f'scope="{scope}"'
            },
        )


def message_out(row: SandboxMessage) -> SandboxMessageOut:
    kind = "app" if row.sender_kind == "app" else "user"
    return SandboxMessageOut(
        id=row.id,
        conversation=row.conversation,
        thread_id=row.thread_id,
        text=row.text,
        sender=SandboxSender(id=row.sender_id, name=row.sender_name, kind=kind),
        created_at=row.created_at,
    )


async def post_app_message(
    session: AsyncSession, grant: SandboxGrant, body: SandboxMessageCreate
) -> SandboxMessage:
    """A connected app posts to a conversation of its workspace."""
    require_scope(grant, "messages:write")
    row = SandboxMessage(
        id=new_id("sbm"),
        tenant_id=grant.tenant_id,
        conversation=body.conversation,
        thread_id=body.thread_id,
        text=body.text,
        sender_id=authorization.bot_user_id(grant),
        sender_name=authorization.APP_NAME,
        sender_kind="app",
        grant_id=grant.id,
    )
    session.add(row)
    await session.flush()
    return row


def _event_payload(tenant_id: str, tenant_name: str, row: SandboxMessage) -> dict[str, Any]:
    return {
        "id": new_id("sbe"),
        "type": "message.created",
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "workspace": {"id": tenant_id, "name": tenant_name},
        "message": {
            "id": row.id,
            "conversation": row.conversation,
            "conversation_type": "channel",
            "thread_id": row.thread_id,
            "text": row.text,
            "user": {"id": row.sender_id, "name": row.sender_name, "is_bot": False},
        },
    }


def _answer(response: httpx.Response) -> Any:
    text = response.text[:_RESPONSE_SNIPPET]
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


async def simulate(
    session: AsyncSession,
    sandbox_session: AsyncSession,
    runtime: Runtime,
    tenant_id: str,
    body: SimulateRequest,
) -> SimulateResult:
    """A person posts ``body.text``; the sandbox delivers the event to the tenant's endpoint.

    The delivery is sent before the message row is written, so no sandbox write lock is held
    while the gateway ingests it. A delivery that fails is reported, not raised: the message
    was posted on the platform either way.
    """
    endpoint = await endpoints.get_tenant_endpoint(session, tenant_id, body.endpoint_id)
    if endpoint is None:
        raise NotFound("webhook endpoint not found", code="webhook_endpoint_not_found")
    if endpoint.provider != "sandbox":
        raise EndpointNotSandbox(f"endpoint {endpoint.id} receives {endpoint.provider} events")
    try:
        config = load_configs(runtime.keyring, endpoint).current
    except (DecryptionFailed, ValueError):
        raise Conflict(
            "the endpoint's stored config cannot be read", code="endpoint_config_unreadable"
        ) from None
    if not isinstance(config, StandardWebhookConfig):
        raise EndpointNotSandbox(f"endpoint {endpoint.id} has no Standard Webhooks secret")
    row = SandboxMessage(
        id=new_id("sbm"),
        tenant_id=tenant_id,
        conversation=body.conversation,
        thread_id=body.thread_id,
        text=body.text,
        sender_id=body.user.id,
        sender_name=body.user.name,
        sender_kind="user",
    )
    name = await repository.tenant_name(session, tenant_id) or tenant_id
    payload = _event_payload(tenant_id, name, row)
    delivery = sign_standard(
        config.secret.get_secret_value(), payload["id"], int(time.time()), json_bytes(payload)
    )
    status_code: int | None = None
    answer: Any = None
    try:
        response = await runtime.http.post(
            endpoint_url(runtime.settings, endpoint),
            content=delivery.body,
            headers=delivery.headers,
            timeout=DELIVERY_TIMEOUT_SECONDS,
        )
        status_code, answer = response.status_code, _answer(response)
    except httpx.HTTPError as exc:
        answer = f"delivery failed: {type(exc).__name__}"
        logger.warning("sandbox delivery failed", extra={"error": type(exc).__name__})
    delivered = status_code is not None and 200 <= status_code < 300
    event_id = None
    if delivered:
        # A new transaction: on SQLite this request's snapshot predates the delivery's commit.
        async with runtime.sessionmaker() as fresh:
            event_id = await repository.stored_event_id(
                fresh, tenant_id, endpoint.id, payload["id"]
            )
    sandbox_session.add(row)
    await sandbox_session.flush()
    return SimulateResult(
        webhook_id=payload["id"],
        delivered=delivered,
        status_code=status_code,
        response=answer,
        event_id=event_id,
        message=message_out(row),
    )


async def try_provision(runtime: Runtime) -> bool:
    """``provision_system_client``; False (logged) when the database is unreachable."""
    try:
        await provision_system_client(runtime)
    except DB_UNAVAILABLE_ERRORS as exc:
        logger.warning("sandbox OAuth client not provisioned yet: %s", type(exc).__name__)
        return False
    return True


async def provision_when_reachable(runtime: Runtime, retry_seconds: float = 5.0) -> None:
    """Retry provisioning until the database answers (started after a failed first try)."""
    while not await try_provision(runtime):
        await asyncio.sleep(retry_seconds)


async def provision_system_client(runtime: Runtime) -> bool:
    """Development first start: register the system OAuth client for ``sandbox`` (random
    secret, encrypted) so the connect flow works with zero setup. True if one was created."""
    async with runtime.sessionmaker() as session:
        if await oauth_clients.get_client(session, owner=SYSTEM_OWNER, provider="sandbox"):
            return False
        try:
            await oauth_clients.set_client(
                session,
                runtime.keyring,
                owner=SYSTEM_OWNER,
                provider="sandbox",
                client_id=SYSTEM_CLIENT_ID,
                client_secret=SecretStr(secrets.token_urlsafe(32)),
                scopes=list(SCOPES),
            )
            await session.commit()
        except IntegrityError:  # another process provisioned it first
            await session.rollback()
            return False
    logger.info("provisioned the system OAuth client for the sandbox platform")
    return True
