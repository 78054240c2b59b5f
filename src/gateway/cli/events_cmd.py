"""``gateway events tail``: follow new events as they are processed, one line each.

Polls the database (the command runs beside the server with the same settings). An event is
printed once it is final (``processed`` or ``dead``), so its unified type is known; one still
pending after ``PENDING_PRINT_AFTER`` is printed as it is. Polls go through the events domain's
tenant-scoped query, per tenant, newest first since a moving watermark.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import typer

from gateway.cli.common import console, database, fail, load_settings, run
from gateway.events import repository as events_repository
from gateway.events.schemas import EventFilters
from gateway.events.states import EventStatus
from gateway.kit.db import SessionMaker
from gateway.kit.pagination import PageParams
from gateway.models import Event, Tenant
from gateway.models.base import utcnow
from gateway.providers.events import is_known_pattern, matches_pattern
from gateway.providers.registry import get_provider
from gateway.tenants import repository as tenant_repo

PENDING_PRINT_AFTER: Final = timedelta(seconds=30)
_FINAL: Final = (EventStatus.PROCESSED.value, EventStatus.DEAD.value)
_BATCH: Final = 200
_TEXT_WIDTH: Final = 60

app = typer.Typer(help="Unified events.", no_args_is_help=True)


def event_line(event: Event, tenant_name: str) -> str:
    """``time  id  tenant  provider  type  status  conversation  sender: text``."""
    data = event.data or {}
    conversation = (data.get("conversation") or {}).get("id") or "-"
    sender = data.get("sender") or {}
    who = sender.get("name") or sender.get("id")
    text = " ".join(str(data.get("text") or "").split())
    if len(text) > _TEXT_WIDTH:
        text = text[: _TEXT_WIDTH - 1] + "…"
    said = f"{who}: {text}" if who and text else text or (who or "")
    stamp = event.received_at.strftime("%H:%M:%S")
    kind = event.type or event.raw_type or "-"
    return (
        f"{stamp}  {event.id}  {tenant_name}  {event.provider}  {kind}  {event.status}  "
        f"{conversation}  {said}".rstrip()
    )


@dataclass
class Follower:
    """Which events were printed; ``since`` only moves past events that are done with."""

    since: datetime
    printed: set[str] = field(default_factory=set)

    def due(self, events: list[Event], now: datetime) -> list[Event]:
        """Events to print now, oldest first; advances the watermark."""
        ready, waiting = [], []
        for event in sorted(events, key=lambda e: e.id):
            if event.id in self.printed:
                continue
            if event.status in _FINAL or now - event.received_at > PENDING_PRINT_AFTER:
                ready.append(event)
            else:
                waiting.append(event)
        self.printed.update(e.id for e in ready)
        if waiting:
            self.since = min(self.since, min(e.received_at for e in waiting))
        elif events:
            self.since = max(self.since, max(e.received_at for e in events))
        # Rows before the watermark are never fetched again: forget them.
        self.printed = {
            e.id for e in events if e.id in self.printed and e.received_at >= self.since
        }
        return ready


async def _tenants(maker: SessionMaker, name: str | None) -> list[Tenant]:
    async with maker() as session:
        if name is None:
            return await tenant_repo.list_tenants(session)
        tenant = await tenant_repo.get_tenant_by_name(session, name)
    if tenant is None:
        fail(f"no tenant named {name!r}")
    return [tenant]


async def _poll(
    maker: SessionMaker, tenant_name: str | None, provider: str | None, since: datetime
) -> list[tuple[Event, str]]:
    """Events received since ``since`` of the tenant (or of every tenant, new ones included)."""
    found: list[tuple[Event, str]] = []
    filters = EventFilters(provider=provider, since=since)
    tenants = await _tenants(maker, tenant_name)
    async with maker() as session:
        for tenant in tenants:
            rows = await events_repository.list_tenant_events(
                session, tenant.id, filters, PageParams(limit=_BATCH, cursor=None)
            )
            found.extend((row, tenant.name) for row in rows)
    return found


@app.command("tail")
def tail(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant (by name)."),
    type_pattern: str | None = typer.Option(
        None, "--type", help="Only these types: message.received, message.*, *.received …"
    ),
    provider: str | None = typer.Option(None, "--provider", help="Only this provider."),
    history: float = typer.Option(
        0, "--history", min=0, help="Also show events received in the last N seconds."
    ),
    interval: float = typer.Option(0.5, "--interval", min=0.05, help="Seconds between polls."),
    count: int = typer.Option(0, "--count", min=0, help="Stop after N events (0: never)."),
    timeout: float = typer.Option(0, "--timeout", min=0, help="Stop after N seconds (0: never)."),
) -> None:
    """Follow new events, one line each, as the gateway processes them. Ctrl-C stops."""
    if type_pattern is not None and not is_known_pattern(type_pattern):
        fail(f"--type {type_pattern!r} matches no event type")
    known = get_provider(provider) if provider else None
    if provider and known is None:
        fail(f"unknown provider {provider!r}")
    settings = load_settings()

    async def _follow() -> None:
        printed = 0
        deadline = time.monotonic() + timeout if timeout else None
        async with database(settings) as maker:
            await _tenants(maker, tenant)  # an unknown --tenant fails before following
            follower = Follower(since=utcnow() - timedelta(seconds=history))
            while deadline is None or time.monotonic() < deadline:
                rows = await _poll(maker, tenant, known.id if known else None, follower.since)
                names = {row.tenant_id: name for row, name in rows}
                for event in follower.due([row for row, _ in rows], utcnow()):
                    if type_pattern and not matches_pattern(event.type or "", type_pattern):
                        continue
                    typer.echo(event_line(event, names[event.tenant_id]))
                    printed += 1
                    if count and printed >= count:
                        return
                await asyncio.sleep(interval)

    scope = f"tenant {tenant}" if tenant else "all tenants"
    console.print(f"Following events of {scope} (Ctrl-C to stop)…", highlight=False)
    try:
        run(_follow)
    except KeyboardInterrupt:
        console.print("stopped")
