"""Test helpers: a real loopback subscriber that verifies every delivery with the
``standardwebhooks`` library, and direct creation of unified events (as the receive pipeline
leaves them) followed by the real ``fan_out``."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.kit.crypto import FieldContext
from gateway.kit.db import take_pending_jobs
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import Event, WebhookEndpoint
from gateway.models.base import utcnow
from gateway.subscriptions.fanout import fan_out
from tests.conftest import TenantCtx


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: asyncio.Event | None = None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[str]
    received_at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class Subscriber:
    """An aiohttp server on 127.0.0.1. Each path has the secrets it trusts and a script of
    replies (the last one repeats). Every request is verified with ``standardwebhooks``;
    ``verified_with`` lists the secrets that verified it (an unverifiable request is recorded
    with none, and tests assert on that)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.secrets: dict[str, list[str]] = defaultdict(list)
        self.scripts: dict[str, deque[Reply]] = {}
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.arrived = asyncio.Condition()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def trust(self, path: str, secret: str) -> None:
        self.secrets[path].append(secret)

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = deque(replies)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.at(path)) >= count), timeout
            )
        return self.at(path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = request.path
        verified = []
        for secret in self.secrets.get(path, []):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified.append(secret)
        record = Received(path, headers, body, verified, asyncio.get_running_loop().time())
        self.in_flight[path] += 1
        self.max_in_flight[path] = max(self.max_in_flight[path], self.in_flight[path])
        try:
            async with self.arrived:
                self.received.append(record)
                self.arrived.notify_all()
            script = self.scripts.get(path)
            reply = Reply()
            if script:
                reply = script.popleft() if len(script) > 1 else script[0]
            if reply.hang is not None:
                await reply.hang.wait()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
        finally:
            self.in_flight[path] -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def running_subscriber() -> AsyncIterator[Subscriber]:
    subscriber = Subscriber()
    await subscriber.start()
    try:
        yield subscriber
    finally:
        await subscriber.stop()


async def subscribe(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    subscriber: Subscriber,
    path: str,
    event_types: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Create a subscription through the API and let the subscriber trust its secret."""
    body = {"url": subscriber.url(path), "event_types": event_types or ["*"], **extra}
    response = await client.post("/v1/subscriptions", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    subscriber.trust(path, created["secret"])
    return created


DEFAULT_PAYLOAD: dict[str, Any] = {"event": {"type": "message", "text": "hello"}}


async def make_event(
    runtime: Runtime,
    tenant_id: str,
    *,
    type: str = "message.received",
    provider: str = "slack",
    endpoint_id: str | None = None,
    connection_id: str | None = None,
    payload: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    received_at: datetime | None = None,
    dispatch: bool = True,
) -> tuple[Event, int]:
    """Store a processed unified event, fan it out in the same transaction, commit, and send
    the queued jobs (unless ``dispatch`` is False: a "lost jobs" situation)."""
    event_id = new_id("evt")
    raw = json.dumps(payload if payload is not None else DEFAULT_PAYLOAD).encode()
    now = utcnow()
    event = Event(
        id=event_id,
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        connection_id=connection_id,
        provider=provider,
        provider_event_id=f"pe-{secrets.token_hex(6)}",
        raw_type="message",
        type=type,
        status="processed",
        payload_enc=runtime.keyring.encrypt(
            raw, FieldContext("events", "payload_enc", event_id, tenant_id)
        ),
        data=data if data is not None else {"conversation": {"id": "C1", "type": "channel"}},
        received_at=received_at or now,
        occurred_at=received_at or now,
        processed_at=now,
    )
    async with runtime.sessionmaker() as session:
        session.add(event)
        await session.flush()
        created = await fan_out(session, event)
        await session.commit()
        jobs = take_pending_jobs(session)
    if dispatch:
        await runtime.dispatch(jobs)
    return event, created


async def make_endpoint(runtime: Runtime, tenant_id: str, provider: str = "slack") -> str:
    endpoint_id = new_id("whe")
    async with runtime.sessionmaker() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id,
                tenant_id=tenant_id,
                provider=provider,
                config_enc=runtime.keyring.encrypt(
                    "{}", FieldContext("webhook_endpoints", "config_enc", endpoint_id, tenant_id)
                ),
            )
        )
        await session.commit()
    return endpoint_id


async def deliveries(
    client: httpx.AsyncClient, tenant: TenantCtx, subscription_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/v1/subscriptions/{subscription_id}/deliveries", params=params, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data
