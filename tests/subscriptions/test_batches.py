"""``deliver_many``: one queue job per fan-out batch. Items it must not attempt (settled, stale)
are skipped one by one, an item it cannot load continues as a job of its own, and an event batch
sends the deliveries of all its events together."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.events.tasks import process_event_batch
from gateway.kit.crypto import FieldContext
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import Event
from gateway.models.base import utcnow
from gateway.subscriptions import repository
from gateway.subscriptions.tasks import deliver, deliver_many
from tests.conftest import JobRunner, TenantCtx
from tests.subscriptions.support import Reply, Subscriber, deliveries, make_event, subscribe


class SentJobs:
    """Every job the runtime's queue is asked to send, as ``(function, args)``; the queue (the
    tier's own) still sends them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []


@pytest.fixture
def recording_queue(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> SentJobs:
    queue = runtime.queue
    assert queue is not None
    record = SentJobs()
    send = queue.enqueue

    async def recording_enqueue(function: str, *args: Any, **options: Any) -> bool:
        record.sent.append((function, args))
        return await send(function, *args, **options)

    monkeypatch.setattr(queue, "enqueue", recording_enqueue)
    return record


@pytest.mark.usefixtures("policy")
async def test_batch_skips_settled_and_stale_items_and_attempts_the_rest(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/batch", ["*"])
    events = [(await make_event(runtime, tenant.tenant.id, dispatch=False))[0] for _ in range(3)]
    by_event = {d["event_id"]: d["id"] for d in await deliveries(client, tenant, sub["id"])}
    settled, fresh, stale = (by_event[e.id] for e in events)
    assert await deliver({"runtime": runtime, "job_id": settled}, settled) == "succeeded"

    # ``stale.4`` is not the job that owns the next attempt of ``stale`` (that is ``stale``)
    outcome = await deliver_many({"runtime": runtime}, [settled, fresh, f"{stale}.4"])
    assert outcome == {"skipped": 2, "succeeded": 1}
    received = [r.webhook_id for r in subscriber.at("/batch")]
    assert received == [events[0].id, events[1].id]
    states = {d["id"]: d["status"] for d in await deliveries(client, tenant, sub["id"])}
    assert states == {settled: "succeeded", fresh: "succeeded", stale: "pending"}


@pytest.mark.usefixtures("policy")
async def test_items_the_batch_cannot_load_continue_as_their_own_jobs(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
    recording_queue: SentJobs,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/outage", ["*"])
    subscriber.script("/outage", Reply(status=200))
    events = [(await make_event(runtime, tenant.tenant.id, dispatch=False))[0] for _ in range(2)]
    ids = sorted(d["id"] for d in await deliveries(client, tenant, sub["id"]))
    real = repository.delivery_contexts
    calls = 0

    async def down_once(conn: Any, wanted: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise sa.exc.OperationalError("SELECT", {}, ConnectionRefusedError())
        return await real(conn, wanted)

    monkeypatch.setattr(repository, "delivery_contexts", down_once)
    assert await deliver_many({"runtime": runtime}, ids) == {"retried": 2}
    assert subscriber.at("/outage") == []
    assert sorted(args[0] for function, args in recording_queue.sent) == ids
    assert {function for function, _ in recording_queue.sent} == {"deliver"}

    await job_runner.drain()  # the single jobs wait out a 1-2 s backoff
    assert sorted(r.webhook_id for r in subscriber.at("/outage")) == sorted(e.id for e in events)
    rows = await deliveries(client, tenant, sub["id"])
    assert all(d["status"] == "succeeded" and d["attempt_count"] == 1 for d in rows)


async def _pending_event(runtime: Runtime, tenant_id: str) -> str:
    """An inbox row the event processor will claim (a gateway-made, already-typed event)."""
    event_id = new_id("evt")
    raw = json.dumps({"n": event_id}).encode()
    async with runtime.sessionmaker() as session:
        session.add(
            Event(
                id=event_id,
                tenant_id=tenant_id,
                provider="gateway",
                provider_event_id=event_id,
                type="message.received",
                status="pending",
                payload_enc=runtime.keyring.encrypt(
                    raw, FieldContext("events", "payload_enc", event_id, tenant_id)
                ),
                data={},
                received_at=utcnow(),
            )
        )
        await session.commit()
    return event_id


@pytest.mark.usefixtures("policy")
async def test_an_event_batch_sends_its_deliveries_in_one_job(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    recording_queue: SentJobs,
) -> None:
    subs = [await subscribe(client, tenant, subscriber, p, ["message.*"]) for p in ("/x", "/y")]
    event_ids = [await _pending_event(runtime, tenant.tenant.id) for _ in range(5)]

    assert await process_event_batch({"runtime": runtime}, event_ids) == {"processed": 5}
    [(function, (items,))] = recording_queue.sent
    assert function == "deliver_many"
    assert len(items) == 10
    await job_runner.drain()
    for path, sub in zip(("/x", "/y"), subs, strict=True):
        received = subscriber.at(path)
        assert sorted(r.webhook_id for r in received) == sorted(event_ids)
        assert all(r.verified_with == [sub["secret"]] for r in received)
    assert len(recording_queue.sent) == 1  # nothing needed a job of its own
