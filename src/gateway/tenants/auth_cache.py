"""A short-lived, per-process cache of authenticated API keys.

Authenticating a key costs two primary-key reads; on hot routes (tool invocation) that is most
of the gateway's own work. Entries are keyed by a SHA-256 of the presented key (the plaintext is
never kept) and live ``ttl`` seconds. Revoking through this process clears the cache at once;
another replica honours a revocation within ``ttl`` seconds.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime

from gateway.models import Tenant


@dataclass(frozen=True)
class _Entry:
    tenant_id: str
    name: str
    created_at: datetime
    expires: float


class ApiKeyCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, _Entry] = {}

    @staticmethod
    def _key(presented: str) -> str:
        return hashlib.sha256(presented.encode()).hexdigest()

    def get(self, presented: str) -> Tenant | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(self._key(presented))
        if entry is None or entry.expires < time.monotonic():
            return None
        # A fresh, detached instance per request: callers may not share mutable state.
        return Tenant(id=entry.tenant_id, name=entry.name, created_at=entry.created_at)

    def put(self, presented: str, tenant: Tenant) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v.expires >= now}
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
        self._entries[self._key(presented)] = _Entry(
            tenant.id, tenant.name, tenant.created_at, time.monotonic() + self.ttl
        )

    def invalidate_all(self) -> None:
        self._entries.clear()
