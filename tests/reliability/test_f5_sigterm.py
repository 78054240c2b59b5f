"""F5 (PostgreSQL + Redis tier): a real ``gateway worker`` gets SIGTERM while a delivery is in
flight.

The promise under test (docs/reliability.md): subscribers get at-least-once delivery with a
stable ``webhook-id``, and a delivery is sent again only when the previous attempt was not
acknowledged. The subscriber holds the first POST open; SIGTERM makes arq cancel the job
(``CancelledError``) and leave it queued, the worker exits 0 at once, and nothing is recorded for
the cut attempt. A fresh worker runs the same job (try 2): the subscriber gets the same
``webhook-id`` again, answers 200, and that acknowledged attempt is the only one recorded.

Also here: a worker that stops because Redis went away (not a signal) lets every job in flight
record its attempt before the process exits.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.kit.queue import ArqQueue
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from tests.conftest import PG_URL, TenantCtx, make_tenant
from tests.reliability.services import (
    GatewayProcess,
    PrivateRedis,
    gateway_env,
    private_settings,
    scratch_database,
)
from tests.subscriptions.support import (
    Reply,
    deliveries,
    make_event,
    running_subscriber,
    subscribe,
)

DELIVERY_TASKS = {"deliver", "deliver_many"}

#: What an orchestrator waits between SIGTERM and SIGKILL (``docker stop``'s default).
GRACE_SECONDS = 10.0


@pytest.fixture
async def f5_settings(private_redis: PrivateRedis, tmp_path: Path) -> AsyncIterator[Settings]:
    assert PG_URL, "F5 runs on the PostgreSQL tier"
    async with scratch_database(PG_URL) as url:
        yield private_settings("f5", url, private_redis, tmp_path)


@pytest.fixture
async def f5_app(f5_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    app = create_app(f5_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://f5") as client:
            yield client, app.state.runtime


def worker_process(settings: Settings, log_path: Path) -> GatewayProcess:
    assert settings.encryption_keys is not None
    assert settings.redis_url is not None
    env = gateway_env(
        database_url=settings.resolved_database_url,
        redis_url=settings.redis_url,
        queue_name=settings.queue_name,
        encryption_keys=settings.encryption_keys.get_secret_value(),
        outbound_allowlist="127.0.0.0/8",
        data_dir=str(log_path.parent),
        log_level="INFO",
        log_json="false",
    )
    return GatewayProcess(["worker"], env, log_path)


async def _settled(
    client: httpx.AsyncClient, tenant: TenantCtx, subscription_id: str, timeout: float = 15.0
) -> dict[str, Any]:
    """The delivery once its attempt is recorded (polling the API, as a user would)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        [delivery] = await deliveries(client, tenant, subscription_id)
        if delivery["status"] != "pending" or asyncio.get_running_loop().time() > deadline:
            return delivery
        await asyncio.sleep(0.1)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_sigterm_mid_delivery_exits_cleanly_and_the_job_reruns_once(
    f5_settings: Settings, f5_app: tuple[httpx.AsyncClient, Runtime], tmp_path: Path
) -> None:
    client, runtime = f5_app
    tenant = await make_tenant(runtime)
    release = asyncio.Event()
    async with running_subscriber() as subscriber:
        sub = await subscribe(client, tenant, subscriber, "/held", ["*"])
        subscriber.script("/held", Reply(hang=release), Reply(status=200))

        first = worker_process(f5_settings, tmp_path / "worker-1.log")
        first.start()
        try:
            event, _ = await make_event(runtime, tenant.tenant.id)
            await subscriber.wait_for("/held", 1, timeout=30)
            code, took = await asyncio.to_thread(first.stop, signal.SIGTERM, 3 * GRACE_SECONDS)
        finally:
            first.kill()
            release.set()  # the subscriber's late 200 goes to a closed connection
        assert code == 0, first.log()[-4000:]
        assert took < GRACE_SECONDS, f"shutdown took {took:.1f}s"
        assert "cancelled, will be run again" in first.log()

        # No partial effect: the cut attempt is not recorded, the delivery still waits.
        [pending] = await deliveries(client, tenant, sub["id"])
        assert (pending["status"], pending["attempt_count"]) == ("pending", 0)

        second = worker_process(f5_settings, tmp_path / "worker-2.log")
        second.start()
        try:
            received = await subscriber.wait_for("/held", 2, timeout=30)
            done = await _settled(client, tenant, sub["id"])
            code, _ = await asyncio.to_thread(second.stop, signal.SIGTERM, 3 * GRACE_SECONDS)
        finally:
            second.kill()
        assert code == 0, second.log()[-4000:]

    assert [r.webhook_id for r in received] == [event.id, event.id]
    assert all(r.verified_with == [sub["secret"]] for r in received)
    # One acknowledged attempt, recorded once; nothing was sent a third time.
    assert (done["status"], done["attempt_count"]) == ("succeeded", 1)
    assert len(subscriber.at("/held")) == 2
    # The cut job itself ran again (try 2), rather than a new job being made up.
    assert isinstance(runtime.queue, ArqQueue)
    results = await runtime.queue.redis.all_job_results()
    runs = [(r.job_try, r.success) for r in results if r.function in DELIVERY_TASKS]
    assert runs == [(2, True)], results


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
async def test_worker_losing_redis_records_its_jobs_in_flight_before_exiting(
    f5_settings: Settings,
    f5_app: tuple[httpx.AsyncClient, Runtime],
    private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:
    """Redis goes away while two deliveries are in flight. arq's poll loop fails and the
    process exits (a supervisor restarts it), but only once both attempts are recorded: one
    job failing its queue bookkeeping first must not cut the other between POST and record,
    which would make the sweeper send that event a second time."""
    client, runtime = f5_app
    tenant = await make_tenant(runtime)
    held, quick = asyncio.Event(), asyncio.Event()
    async with running_subscriber() as subscriber:
        slow_sub = await subscribe(client, tenant, subscriber, "/held", ["message.*"])
        fast_sub = await subscribe(client, tenant, subscriber, "/quick", ["reaction.*"])
        subscriber.script("/held", Reply(hang=held))
        subscriber.script("/quick", Reply(hang=quick))

        worker = worker_process(f5_settings, tmp_path / "worker.log")
        worker.start()
        try:
            await make_event(runtime, tenant.tenant.id, type="message.received")
            await make_event(runtime, tenant.tenant.id, type="reaction.added")
            await subscriber.wait_for("/held", 1, timeout=30)
            await subscriber.wait_for("/quick", 1, timeout=30)
            await asyncio.to_thread(private_redis.stop)
            quick.set()  # this job ends now and cannot tell Redis
            # Observed over a window: the worker must still be waiting for the held attempt.
            exited_early = await asyncio.to_thread(_exits_within, worker, 3.0)
            held.set()
            exited = await asyncio.to_thread(_exits_within, worker, 3 * GRACE_SECONDS)
        finally:
            worker.kill()
            held.set()
            quick.set()
            if private_redis.process is None:
                await asyncio.to_thread(private_redis.start)

    assert not exited_early, worker.log()[-4000:]
    assert exited, "the worker did not exit once its jobs were done"
    for sub in (slow_sub, fast_sub):
        [delivery] = await deliveries(client, tenant, sub["id"])
        assert (delivery["status"], delivery["attempt_count"]) == ("succeeded", 1)
    assert len(subscriber.received) == 2


def _exits_within(process: GatewayProcess, seconds: float) -> bool:
    assert process.process is not None
    try:
        process.process.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    return True
