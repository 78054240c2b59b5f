"""Shared helpers for the tools, toolsets and invocations tests.

``tool_env`` swaps two router dependencies for the duration of a test: the credential source
(a stand-in for the connect domain that reads the ``connections`` row the test inserted and
"refreshes" to a token the test chose) and the retry policy's sleep (recorded, not slept, so a
Retry-After of 5 s costs nothing; tests that need real waiting opt out with ``real_sleep``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlmodel import col, select

from gateway.app import create_app
from gateway.kit.crypto import FieldContext
from gateway.kit.errors import Conflict, NotFound
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import Connection, Event
from gateway.providers.tools import ToolCredentials
from gateway.tools.credential_source import get_credential_source
from gateway.tools.invoke import RetryPolicy
from gateway.tools.router import get_retry_policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"


def token_context(row_id: str, tenant_id: str) -> FieldContext:
    return FieldContext("connections", "access_token_enc", row_id, tenant_id)


async def make_connection(
    runtime: Runtime,
    tenant_id: str,
    provider: str,
    token: str,
    *,
    account: dict[str, Any] | None = None,
    status: str = "active",
) -> str:
    """A connection row with an encrypted access token, as the connect domain stores it."""
    connection_id = new_id("con")
    async with runtime.sessionmaker() as session:
        session.add(
            Connection(
                id=connection_id,
                tenant_id=tenant_id,
                provider=provider,
                auth_kind="oauth2",
                status=status,
                account=account or {},
                access_token_enc=runtime.keyring.encrypt(
                    token, token_context(connection_id, tenant_id)
                ),
            )
        )
        await session.commit()
    return connection_id


async def make_event(
    runtime: Runtime,
    tenant_id: str,
    provider: str,
    *,
    data: dict[str, Any] | None,
    raw: dict[str, Any],
    connection_id: str | None = None,
    endpoint_id: str | None = None,
) -> str:
    """A stored, processed event row (payload encrypted the way ingest stores it)."""
    event_id = new_id("evt")
    async with runtime.sessionmaker() as session:
        session.add(
            Event(
                id=event_id,
                tenant_id=tenant_id,
                endpoint_id=endpoint_id,
                connection_id=connection_id,
                provider=provider,
                provider_event_id=secrets.token_hex(8),
                type="message.received",
                status="processed",
                payload_enc=runtime.keyring.encrypt(
                    json.dumps(raw), FieldContext("events", "payload_enc", event_id, tenant_id)
                ),
                data=data,
            )
        )
        await session.commit()
    return event_id


@dataclass
class FakeCredentialSource:
    """Stand-in for ``gateway.connections.credentials`` with the same two functions."""

    runtime: Runtime
    next_tokens: dict[str, str] = field(default_factory=dict)
    refresh_calls: list[tuple[str, str]] = field(default_factory=list)
    revoked: list[tuple[str, str]] = field(default_factory=list)

    async def _row(self, session: Any, tenant_id: str, connection_id: str) -> Connection:
        result = await session.execute(
            select(Connection).where(
                col(Connection.id) == connection_id, col(Connection.tenant_id) == tenant_id
            )
        )
        row: Connection | None = result.scalar_one_or_none()
        if row is None:
            raise NotFound("no such connection", code="connection_not_found")
        if row.status == "needs_reauth":
            raise Conflict("re-authorize the connection", code="connection_needs_reauth")
        return row

    def _credentials(self, row: Connection, token: str) -> ToolCredentials:
        extra = {k: str(v) for k, v in row.account.items()}
        return ToolCredentials(access_token=SecretStr(token), extra=extra)

    async def tool_credentials(
        self, session: Any, runtime: Runtime, *, tenant_id: str, connection_id: str
    ) -> ToolCredentials:
        row = await self._row(session, tenant_id, connection_id)
        assert row.access_token_enc is not None
        token = runtime.keyring.decrypt(row.access_token_enc, token_context(row.id, tenant_id))
        return self._credentials(row, token)

    async def refresh_after_rejection(
        self,
        session: Any,
        runtime: Runtime,
        *,
        tenant_id: str,
        connection_id: str,
        rejected_access_token: str,
    ) -> ToolCredentials:
        self.refresh_calls.append((connection_id, rejected_access_token))
        row = await self._row(session, tenant_id, connection_id)
        new = self.next_tokens.get(connection_id)
        if new is None:
            row.status = "needs_reauth"
            await session.flush()
            raise Conflict("re-authorize the connection", code="connection_needs_reauth")
        row.access_token_enc = runtime.keyring.encrypt(new, token_context(row.id, tenant_id))
        await session.flush()
        return self._credentials(row, new)

    async def mark_needs_reauth(
        self,
        session: Any,
        runtime: Runtime,
        *,
        tenant_id: str,
        connection_id: str,
        error_code: str,
    ) -> None:
        self.revoked.append((connection_id, error_code))


@dataclass
class ToolEnv:
    credentials: FakeCredentialSource
    waits: list[float]


@pytest.fixture
def tool_env(app: FastAPI, runtime: Runtime) -> Iterator[ToolEnv]:
    env = ToolEnv(FakeCredentialSource(runtime), [])

    async def record(seconds: float) -> None:
        env.waits.append(seconds)

    app.dependency_overrides[get_credential_source] = lambda: env.credentials
    app.dependency_overrides[get_retry_policy] = lambda: RetryPolicy(sleep=record)
    try:
        yield env
    finally:
        app.dependency_overrides.pop(get_credential_source, None)
        app.dependency_overrides.pop(get_retry_policy, None)


@pytest.fixture
def real_sleep(app: FastAPI, tool_env: ToolEnv) -> None:
    """Undo the recorded sleep of ``tool_env``: waits really happen."""
    app.dependency_overrides.pop(get_retry_policy, None)


@contextmanager
def platform_mock() -> Iterator[respx.MockRouter]:
    """respx over every httpx client (the gateway's aiohttp-backed one too); the test client's
    requests to the app pass through."""
    with respx.mock(using="httpx", assert_all_called=False) as mock:
        mock.route(host="testserver").pass_through()
        yield mock


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


async def create_toolset(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    body.setdefault("name", f"ts{secrets.token_hex(3)}")
    body.setdefault("openapi", fixture_text("tasks.json"))
    response = await client.post("/v1/toolsets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def invoke(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str,
    parameters: dict[str, Any],
    *,
    connection_id: str | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"parameters": parameters}
    if connection_id is not None:
        body["connection_id"] = connection_id
    extra = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return await client.post(f"/v1/tools/{name}/invoke", json=body, headers={**headers, **extra})


@asynccontextmanager
async def variant_app(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database with some settings changed, and a client for it."""
    application = create_app(settings.model_copy(update=changes))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
