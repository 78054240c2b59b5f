"""In-process cache of receiving endpoints (decrypted, parsed configs) for the ingest hot path.

Entries live ``ttl`` seconds; after that the row is re-read and, when its ``updated_at`` is
unchanged, the parsed configs are reused (no decrypt). PATCH/DELETE in this process invalidate
the entry once their transaction committed; other processes see a change within ``ttl``.
Unknown endpoint ids are never cached (no memory growth from random URLs); the size is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.models import WebhookEndpoint
from gateway.providers.base import Provider
from gateway.webhooks.service import EndpointConfigs


@dataclass(frozen=True, slots=True)
class ReceivingEndpoint:
    """What the receiver needs to verify and store a delivery for one endpoint."""

    id: str
    tenant_id: str
    provider: Provider
    connection_id: str | None
    enabled: bool
    configs: EndpointConfigs
    updated_at: datetime
    previous_valid_until: float | None  # unix seconds, compared with the injected clock


Fetch = Callable[[str], Awaitable[WebhookEndpoint | None]]
Build = Callable[[WebhookEndpoint], ReceivingEndpoint]


class EndpointCache:
    def __init__(
        self, fetch: Fetch, build: Build, *, ttl: float = 5.0, max_entries: int = 10_000
    ) -> None:
        self._fetch = fetch
        self._build = build
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, ReceivingEndpoint]] = {}
        self._loading: dict[str, asyncio.Task[ReceivingEndpoint | None]] = {}

    async def get(self, endpoint_id: str) -> ReceivingEndpoint | None:
        """The endpoint (enabled or not), or None if no such row exists."""
        hit = self._entries.get(endpoint_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        task = self._loading.get(endpoint_id)
        if task is None:
            stale = hit[1] if hit is not None else None
            task = asyncio.get_running_loop().create_task(self._load(endpoint_id, stale))
            self._loading[endpoint_id] = task
            task.add_done_callback(lambda done: self._forget(endpoint_id, done))
        # Shielded: one caller going away must not cancel the load the others wait for.
        return await asyncio.shield(task)

    def _forget(self, endpoint_id: str, task: asyncio.Task[ReceivingEndpoint | None]) -> None:
        if self._loading.get(endpoint_id) is task:
            del self._loading[endpoint_id]
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure is not logged as lost

    async def _load(
        self, endpoint_id: str, stale: ReceivingEndpoint | None
    ) -> ReceivingEndpoint | None:
        row = await self._fetch(endpoint_id)
        if row is None:
            self._entries.pop(endpoint_id, None)
            return None
        if stale is not None and stale.updated_at == row.updated_at:
            entry = stale
        else:
            entry = self._build(row)
        current = asyncio.current_task()
        if self._loading.get(endpoint_id) is current:  # not invalidated meanwhile
            if len(self._entries) >= self._max_entries and endpoint_id not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[endpoint_id] = (time.monotonic() + self._ttl, entry)
        return entry

    def invalidate(self, endpoint_id: str) -> None:
        """Drop the entry; a load already running will not store its (older) result."""
        self._entries.pop(endpoint_id, None)
        self._loading.pop(endpoint_id, None)
