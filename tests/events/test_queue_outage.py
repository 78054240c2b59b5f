"""Queue down during ingest: deliveries are still acknowledged (they are committed), and the
sweeper completes every one of them, exactly once, when a queue is back.

The ingesting app's Redis URL points at a closed port, so every enqueue fails; the sweeper then
runs against the real queue of the test tier (Redis + a burst arq worker on the Redis tier,
the in-process dispatcher on the SQLite tier) over the same database.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from gateway.app import create_app
from gateway.events import processing
from gateway.events.states import PENDING_GRACE_SECONDS
from gateway.kit.runtime import Runtime
from gateway.models.base import utcnow
from tests.conftest import JobRunner, TenantCtx
from tests.providers.webhooks import signing
from tests.providers.webhooks.signing import json_bytes
from tests.webhooks.support import (
    SLACK_SECRET,
    create_endpoint,
    endpoint_events,
    now,
    receiver_path,
    send,
)


async def _ingest_with_queue_down(runtime: Runtime, path: str, count: int) -> list[int]:
    settings = runtime.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            bodies = [
                json_bytes(
                    {
                        "type": "event_callback",
                        "event_id": f"Ev0OUTAGE{i}",
                        "event": {"type": "message", "text": f"m{i}", "channel": "C1", "ts": "1.0"},
                    }
                )
                for i in range(count)
            ]
            responses = await asyncio.gather(
                *(send(client, path, signing.sign_slack(SLACK_SECRET, b, now())) for b in bodies)
            )
    return [r.status_code for r in responses]


async def _sweep_until_processed(
    runtime: Runtime,
    job_runner: JobRunner,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    endpoint_id: str,
) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    for _ in range(5):  # bounded: other tests may have left stale rows ahead of ours
        later = utcnow() + timedelta(seconds=PENDING_GRACE_SECONDS + 1)
        await processing.requeue_stale(runtime, now=later)
        await job_runner.drain()
        events = await endpoint_events(client, tenant, endpoint_id)
        if all(e["status"] == "processed" for e in events):
            break
    return events


async def test_queue_down_at_ingest_still_acknowledges_and_the_sweeper_completes(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, job_runner: JobRunner
) -> None:
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})

    statuses = await _ingest_with_queue_down(runtime, receiver_path(endpoint), 20)

    assert statuses == [200] * 20
    stored = await endpoint_events(client, tenant, endpoint["id"])
    assert len(stored) == 20
    assert {e["status"] for e in stored} == {"pending"}

    events = await _sweep_until_processed(runtime, job_runner, client, tenant, endpoint["id"])

    assert len(events) == 20
    assert {e["status"] for e in events} == {"processed"}
    assert {e["attempts"] for e in events} == {1}  # each processed exactly once
    assert {e["type"] for e in events} == {"message.received"}
