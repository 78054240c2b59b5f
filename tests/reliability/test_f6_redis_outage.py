"""F6 (PostgreSQL + Redis tier): Redis stops, comes back empty, then is flushed, all while 1,000
signed webhooks arrive at a real ``gateway serve`` process and a real ``gateway worker`` works.

Pass criteria (reliability.md): ingress stays 2xx; the sweepers complete every row: 0 lost,
0 duplicate effects. The inbox row in PostgreSQL is the source of truth; jobs are only a prompt.

Set-up: a private Redis (stopped, restarted without data, then ``FLUSHALL``), a database of its
own on the shared PostgreSQL server, a loopback subscriber subscribed to every event. The worker
runs under a restart loop, as in ``docker-compose.yml`` (``restart: unless-stopped``): arq's
worker exits when Redis goes away (arq#435), after finishing its jobs in flight, and relies on
being restarted. The inbox sweeper runs every 2 s and leases last 5 s
(``GATEWAY_SWEEPER_INTERVAL_SECONDS``, ``GATEWAY_INBOX_LEASE_SECONDS``); the delivery sweeper keeps
its fixed 30 s interval, which bounds how long the last lost delivery job can take.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.kit.runtime import Runtime, open_runtime
from gateway.kit.settings import Settings
from tests.conftest import PG_URL, make_tenant
from tests.providers.webhooks.signing import json_bytes, sign_standard
from tests.reliability.conftest import free_port
from tests.reliability.services import (
    GatewayProcess,
    PrivateRedis,
    gateway_env,
    private_settings,
    scratch_database,
    wait_healthy,
)
from tests.subscriptions.support import Subscriber, running_subscriber
from tests.webhooks.support import STANDARD_SECRET, send

WEBHOOKS = 1000
RATE_PER_SECOND = 100.0
CONCURRENCY = 16
STOP_REDIS_AT = 200  # webhooks sent when Redis is stopped
OUTAGE_SECONDS = 5.0
FLUSH_AT = 900  # webhooks sent when Redis (back, with a fresh backlog) is flushed
SWEEPER_INTERVAL_SECONDS = 2
LEASE_SECONDS = 5
SETTLE_TIMEOUT = 45.0


@dataclass
class Run:
    """What happened during one F6 run (figures for docs/reliability.md on failure or -s)."""

    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    redis_stopped_at: float = 0.0
    redis_back_at: float = 0.0
    flushed_at: float = 0.0
    queued_when_flushed: int = 0
    sent_done_at: float = 0.0
    processed_at: float = 0.0
    delivered_at: float = 0.0


@pytest.fixture
async def f6_settings(private_redis: PrivateRedis, tmp_path: Path) -> AsyncIterator[Settings]:
    assert PG_URL, "F6 runs on the PostgreSQL tier"
    async with scratch_database(PG_URL) as url:
        yield private_settings(
            "f6",
            url,
            private_redis,
            tmp_path,
            sweeper_interval_seconds=SWEEPER_INTERVAL_SECONDS,
            inbox_lease_seconds=LEASE_SECONDS,
        )


@pytest.fixture
async def f6_runtime(f6_settings: Settings) -> AsyncIterator[Runtime]:
    """Database access from the test (tenant set-up, counts); no queue of its own."""
    async with open_runtime(f6_settings, with_queue=False) as runtime:
        yield runtime


def _env(settings: Settings, log_level: str) -> dict[str, str]:
    assert settings.encryption_keys is not None
    assert settings.redis_url is not None
    return gateway_env(
        database_url=settings.resolved_database_url,
        redis_url=settings.redis_url,
        queue_name=settings.queue_name,
        encryption_keys=settings.encryption_keys.get_secret_value(),
        outbound_allowlist="127.0.0.0/8",
        data_dir=str(settings.data_dir),
        sweeper_interval_seconds=str(SWEEPER_INTERVAL_SECONDS),
        inbox_lease_seconds=str(LEASE_SECONDS),
        log_level=log_level,
        log_json="false",
    )


async def _supervise(worker: GatewayProcess, stop: asyncio.Event) -> None:
    """Restart the worker whenever it exits (``restart: unless-stopped``)."""
    while not stop.is_set():
        if worker.exited() is not None:
            worker.start()
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except TimeoutError:
            pass


async def _worker_polling(redis: PrivateRedis, queue_name: str, worker: GatewayProcess) -> None:
    """Until the worker polls the queue (its first health check is written), so the outage
    hits a running worker rather than one still starting up."""
    deadline = time.monotonic() + 60
    while redis.command("EXISTS", f"{queue_name}:health-check") != "1":
        assert worker.exited() is None, worker.log()[-4000:]
        assert time.monotonic() < deadline, "the worker never started polling"
        await asyncio.sleep(0.1)


async def _send_webhooks(
    client: httpx.AsyncClient, path: str, redis: PrivateRedis, queue_name: str, run: Run
) -> list[str]:
    """Send ``WEBHOOKS`` signed deliveries at ``RATE_PER_SECOND``; inject the Redis faults on
    the way. Returns the ``webhook-id`` of every delivery sent."""
    msg_ids = [f"msg_f6_{i:04d}_{secrets.token_hex(4)}" for i in range(WEBHOOKS)]
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        body = json_bytes(
            {"type": "message.received", "data": {"text": f"m{i}", "message_id": f"m-{i}"}}
        )
        delivery = sign_standard(STANDARD_SECRET, msg_ids[i], int(time.time()), body)
        began = time.monotonic()
        try:
            response = await send(client, path, delivery)
            run.statuses.append(response.status_code)
        except httpx.HTTPError as exc:
            run.statuses.append(-1)
            raise AssertionError(f"webhook {i}: {type(exc).__name__}") from exc
        finally:
            run.latencies.append(time.monotonic() - began)
            limit.release()

    async def redis_outage() -> None:
        run.redis_stopped_at = time.monotonic()
        await asyncio.to_thread(redis.stop)
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(redis.start)  # no persistence: it comes back empty
        run.redis_back_at = time.monotonic()

    async def flush() -> None:
        run.queued_when_flushed = int(await asyncio.to_thread(redis.command, "ZCARD", queue_name))
        run.flushed_at = time.monotonic()
        await asyncio.to_thread(redis.flushall)

    tasks: list[asyncio.Task[None]] = []
    next_at = time.monotonic()
    for i in range(WEBHOOKS):
        # Paced without catching up: a stall never turns into a burst.
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at = max(next_at, time.monotonic()) + 1 / RATE_PER_SECOND
        await limit.acquire()
        if i == STOP_REDIS_AT:
            tasks.append(asyncio.create_task(redis_outage()))
        if i == FLUSH_AT:
            tasks.append(asyncio.create_task(flush()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    run.sent_done_at = time.monotonic()
    return msg_ids


async def _counts(
    runtime: Runtime, endpoint_id: str, subscription_id: str
) -> tuple[Counter[str], Counter[tuple[str, int]]]:
    async with runtime.sessionmaker() as session:
        events = await session.execute(
            sa.text("SELECT status, count(*) FROM events WHERE endpoint_id = :e GROUP BY status"),
            {"e": endpoint_id},
        )
        deliveries = await session.execute(
            sa.text(
                "SELECT status, attempts, count(*) FROM deliveries WHERE subscription_id = :s"
                " GROUP BY status, attempts"
            ),
            {"s": subscription_id},
        )
        return (
            Counter({row[0]: row[1] for row in events}),
            Counter({(row[0], row[1]): row[2] for row in deliveries}),
        )


async def _settle(
    runtime: Runtime, endpoint_id: str, subscription_id: str, subscriber: Subscriber, run: Run
) -> tuple[Counter[str], Counter[tuple[str, int]]]:
    """Poll until every event is processed and every delivery succeeded (or time runs out)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        events, deliveries = await _counts(runtime, endpoint_id, subscription_id)
        if events["processed"] == WEBHOOKS and not run.processed_at:
            run.processed_at = time.monotonic()
        delivered = sum(n for (status, _), n in deliveries.items() if status == "succeeded")
        if delivered == WEBHOOKS and len(subscriber.received) >= WEBHOOKS:
            run.delivered_at = time.monotonic()
            return events, deliveries
        if time.monotonic() > deadline:
            return events, deliveries
        await asyncio.sleep(0.25)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_redis_outage_and_flushall_lose_nothing_and_duplicate_nothing(
    f6_settings: Settings, f6_runtime: Runtime, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    tenant = await make_tenant(f6_runtime)
    port = free_port()
    server = GatewayProcess(
        ["serve", "--port", str(port)], _env(f6_settings, "WARNING"), tmp_path / "serve.log"
    )
    worker = GatewayProcess(["worker"], _env(f6_settings, "INFO"), tmp_path / "worker.log")
    stop_supervising = asyncio.Event()
    run = Run()
    server.start()
    try:
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}", server)
        worker.start()
        await _worker_polling(private_redis, f6_settings.queue_name, worker)
        supervisor = asyncio.create_task(_supervise(worker, stop_supervising))
        async with (
            running_subscriber() as subscriber,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers=tenant.headers,
                timeout=30,
                limits=httpx.Limits(max_connections=CONCURRENCY),
            ) as client,
        ):
            created = await client.post(
                "/v1/webhook-endpoints",
                json={"provider": "standard", "config": {"secret": STANDARD_SECRET}},
            )
            assert created.status_code == 201, created.text
            endpoint = created.json()
            subscribed = await client.post(
                "/v1/subscriptions", json={"url": subscriber.url("/f6"), "event_types": ["*"]}
            )
            assert subscribed.status_code == 201, subscribed.text
            subscription = subscribed.json()
            subscriber.trust("/f6", subscription["secret"])

            msg_ids = await _send_webhooks(
                client,
                httpx.URL(endpoint["url"]).path,
                private_redis,
                f6_settings.queue_name,
                run,
            )
            events, deliveries = await _settle(
                f6_runtime, endpoint["id"], subscription["id"], subscriber, run
            )
            # Stop the worker before counting: an attempt still in flight lands (or is cut)
            # now, so a late duplicate cannot slip in after the assertions.
            stop_supervising.set()
            await supervisor
            code, _ = await asyncio.to_thread(worker.stop, signal.SIGTERM, 30)
            async with f6_runtime.sessionmaker() as session:
                stored = await session.execute(
                    sa.text("SELECT id, provider_event_id FROM events WHERE endpoint_id = :e"),
                    {"e": endpoint["id"]},
                )
                event_ids: dict[str, str] = {row[0]: row[1] for row in stored.all()}
                unfinished = await session.execute(
                    sa.text(
                        "SELECT id, job_seq, attempts, next_attempt_at FROM deliveries"
                        " WHERE subscription_id = :s AND status <> 'succeeded'"
                    ),
                    {"s": subscription["id"]},
                )
                stragglers = [tuple(row) for row in unfinished.all()]
            received = list(subscriber.received)
    finally:
        stop_supervising.set()
        worker.kill()
        server.stop()

    context = _figures(run, worker)
    assert Counter(run.statuses) == Counter({200: WEBHOOKS}), context
    # 0 lost: one inbox row per webhook sent, every one processed.
    assert sorted(event_ids.values()) == sorted(msg_ids), context
    assert events == Counter({"processed": WEBHOOKS}), (events, context)
    # 0 duplicate effects: one delivery per event, acknowledged on its first attempt, and the
    # subscriber saw each event id exactly once, signed with its secret.
    assert deliveries == Counter({("succeeded", 1): WEBHOOKS}), (deliveries, stragglers, context)
    per_id = Counter(r.webhook_id for r in received)
    assert set(per_id) == set(event_ids), context
    assert set(per_id.values()) == {1}, ([i for i, n in per_id.items() if n > 1], context)
    assert all(r.verified_with == [subscription["secret"]] for r in received)
    assert code == 0, worker.log()[-4000:]


def _figures(run: Run, worker: GatewayProcess) -> str:
    latencies = sorted(run.latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    return (
        f"outage {run.redis_back_at - run.redis_stopped_at:.1f}s; "
        f"{run.queued_when_flushed} jobs queued when flushed; "
        f"ingest p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000 if latencies else 0:.0f} ms; "
        f"all processed {run.processed_at - run.sent_done_at:.1f}s and delivered "
        f"{run.delivered_at - run.sent_done_at:.1f}s after the last webhook "
        f"({run.delivered_at - run.flushed_at:.1f}s after FLUSHALL); "
        f"worker started {worker.starts}x; "
        f"sweeps: {worker.log().count('sweeper re-enqueued')}"
    )
