"""A short-lived, per-process cache of authenticated API keys.

Authenticating a key costs two primary-key reads; on hot routes (tool invocation) that is most
of the gateway's own work. Entries are keyed by a SHA-256 of the presented key (the plaintext is
never kept) and live ``ttl`` seconds. Revoking through this process clears the cache at once;
another replica honours a revocation within ``ttl`` seconds.

An entry is the request's :class:`CurrentTenant` itself: immutable, so the requests of one key
share it safely (building a mapped ``Tenant`` per request cost ~25 us of ORM instrumentation).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from gateway.models import Tenant


@dataclass(frozen=True, slots=True)
class CurrentTenant:
    """The tenant an API key authenticated: what routes read (``id``; ``name`` and
    ``created_at`` for ``/v1/tenants/me``), detached from any session and immutable."""

    id: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> CurrentTenant:
        return cls(tenant.id, tenant.name, tenant.created_at)


class ApiKeyCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[CurrentTenant, float]] = {}

    @staticmethod
    def _key(presented: str) -> str:
        return hashlib.sha256(presented.encode()).hexdigest()

    def get(self, presented: str) -> CurrentTenant | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(self._key(presented))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, presented: str, tenant: CurrentTenant) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[self._key(presented)] = (tenant, time.monotonic() + self.ttl)

    def invalidate_all(self) -> None:
        self._entries.clear()
