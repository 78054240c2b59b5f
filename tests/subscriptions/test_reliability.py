"""At-least-once delivery under failure: a worker dying mid-delivery, lost queue jobs, slow
subscribers, timeouts, oversized answers, a database outage, secret rotation in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from arq import Retry
from standardwebhooks import Webhook

from gateway.kit.runtime import Runtime
from gateway.subscriptions import repository
from gateway.subscriptions.policy import DeliveryPolicy, deliver_many_job_id
from gateway.subscriptions.tasks import deliver, requeue_overdue
from tests.conftest import REDIS_URL, JobRunner, TenantCtx
from tests.subscriptions.conftest import MovableClock
from tests.subscriptions.support import Reply, Subscriber, deliveries, make_event, subscribe


@pytest.mark.usefixtures("policy")
async def test_delivery_interrupted_mid_request_is_redelivered_with_same_webhook_id(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    clock: MovableClock,
) -> None:
    """The job dies after the POST left and before the outcome was recorded (cancellation is
    what a SIGTERM or a lost process looks like to the coroutine): the delivery stays pending,
    the sweeper re-enqueues it, the subscriber gets the event again with the same id."""
    sub = await subscribe(client, tenant, subscriber, "/crash", ["*"])
    release = asyncio.Event()
    subscriber.script("/crash", Reply(hang=release), Reply(status=200))
    event, _ = await make_event(runtime, tenant.tenant.id, dispatch=False)
    [pending] = await deliveries(client, tenant, sub["id"])

    job = asyncio.create_task(deliver({"runtime": runtime, "job_id": pending["id"]}, pending["id"]))
    await subscriber.wait_for("/crash", 1)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    release.set()
    [still] = await deliveries(client, tenant, sub["id"])
    assert still["status"] == "pending"
    assert still["attempt_count"] == 0

    clock.advance(120)  # the production sweeper waits out a 60 s grace
    assert await requeue_overdue(runtime, grace_seconds=60) >= 1
    await job_runner.drain()
    first, second = await subscriber.wait_for("/crash", 2)
    assert first.webhook_id == second.webhook_id == event.id
    assert second.verified_with == [sub["secret"]]
    [done] = await deliveries(client, tenant, sub["id"])
    assert done["status"] == "succeeded"
    assert done["attempt_count"] == 1


@pytest.mark.usefixtures("policy")
async def test_sweeper_sends_deliveries_whose_jobs_were_lost(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    clock: MovableClock,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/lost", ["*"])
    events = [(await make_event(runtime, tenant.tenant.id, dispatch=False))[0] for _ in range(3)]
    await job_runner.drain()
    assert subscriber.at("/lost") == []
    # within the grace (a job may still be queued) the sweeper leaves them alone
    clock.advance(30)
    await requeue_overdue(runtime, grace_seconds=60)
    await job_runner.drain()
    assert subscriber.at("/lost") == []

    clock.advance(60)
    assert await requeue_overdue(runtime, grace_seconds=60) >= 3
    assert await requeue_overdue(runtime, grace_seconds=60) >= 3  # same job ids: no duplicates
    await job_runner.drain()
    received = subscriber.at("/lost")
    assert sorted(r.webhook_id for r in received) == sorted(e.id for e in events)
    assert all(d["status"] == "succeeded" for d in await deliveries(client, tenant, sub["id"]))


async def test_slow_subscriber_is_capped_and_does_not_starve_others(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    set_policy: object,
) -> None:
    set_policy(per_subscription_concurrency=2)  # type: ignore[operator]
    slow = await subscribe(client, tenant, subscriber, "/slow", ["message.*"])
    fast = await subscribe(client, tenant, subscriber, "/fast", ["reaction.*"])
    subscriber.script("/slow", Reply(delay=0.15))
    for _ in range(8):
        await make_event(runtime, tenant.tenant.id, type="message.received")
        await make_event(runtime, tenant.tenant.id, type="reaction.added")
    await job_runner.drain()

    assert len(subscriber.at("/slow")) == 8
    assert len(subscriber.at("/fast")) == 8
    assert subscriber.max_in_flight["/slow"] <= 2
    assert all(r.verified_with for r in subscriber.received)
    last_fast = max(r.received_at for r in subscriber.at("/fast"))
    last_slow = max(r.received_at for r in subscriber.at("/slow"))
    assert last_fast < last_slow
    for sub in (slow, fast):
        rows = await deliveries(client, tenant, sub["id"])
        assert all(d["status"] == "succeeded" and d["attempt_count"] == 1 for d in rows)


async def test_timeout_and_oversized_answers(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    set_policy: object,
) -> None:
    set_policy(timeout_seconds=0.1)  # type: ignore[operator]
    hanging = await subscribe(client, tenant, subscriber, "/hang", ["message.*"])
    chatty = await subscribe(client, tenant, subscriber, "/chatty", ["message.*"])
    wordy = await subscribe(client, tenant, subscriber, "/wordy", ["message.*"])
    hung = asyncio.Event()
    subscriber.script("/hang", Reply(hang=hung))
    subscriber.script("/chatty", Reply(status=200, body="x" * 100_000))
    subscriber.script("/wordy", Reply(status=500, body="é" * 1500))
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()

    hung.set()
    [timed_out] = await deliveries(client, tenant, hanging["id"])
    assert timed_out["attempts"][0]["error_code"] == "timeout"
    assert timed_out["attempts"][0]["status_code"] is None
    assert 80 < timed_out["attempts"][0]["duration_ms"] < 1500
    [big] = await deliveries(client, tenant, chatty["id"])
    assert big["status"] == "succeeded"
    assert big["attempts"][0]["response_snippet"].startswith("(response body over")
    [long] = await deliveries(client, tenant, wordy["id"])
    assert long["attempts"][0]["response_snippet"] == "é" * 1024


async def test_database_outage_makes_the_job_retry_later(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(*_: object, **__: object) -> None:
        raise sa.exc.OperationalError("SELECT", {}, ConnectionRefusedError())

    monkeypatch.setattr(repository, "delivery_contexts", unavailable)
    with pytest.raises(Retry):
        await deliver({"runtime": runtime, "job_id": "dlv_x"}, "dlv_x")


async def test_rotation_overlap_signs_with_both_secrets_in_flight(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    policy: DeliveryPolicy,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/rotating", ["*"])
    old = sub["secret"]
    rotated = await client.post(
        f"/v1/subscriptions/{sub['id']}/rotate-secret", headers=tenant.headers
    )
    new = rotated.json()["secret"]
    subscriber.trust("/rotating", new)
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()
    [during] = subscriber.at("/rotating")
    assert sorted(during.verified_with) == sorted([old, new])
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    await client.post(
        f"/v1/subscriptions/{sub['id']}/rotate-secret",
        json={"overlap_seconds": 0},
        headers=tenant.headers,
    )
    # the newest secret is unknown to the subscriber: nothing it trusts verifies any more
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()
    after = subscriber.at("/rotating")[1:]
    assert after
    assert all(r.verified_with == [] for r in after)
    assert len(after[0].headers["webhook-signature"].split(" ")) == 1
    for secret in (old, new):
        with pytest.raises(Exception, match="signature"):
            Webhook(secret).verify(after[0].body, after[0].headers)


_WORKER = """
import asyncio
from arq.worker import Worker, func
from gateway import jobs
from gateway.kit.settings import Settings
from gateway.worker import redis_settings, shutdown, startup


async def main() -> None:
    settings = Settings()
    worker = Worker(
        functions=[func(fn, name=name) for name, fn in jobs.TASKS.items()],
        redis_settings=redis_settings(settings),
        queue_name=settings.queue_name,
        on_startup=startup,
        on_shutdown=shutdown,
        job_timeout=5,
        poll_delay=0.05,
        handle_signals=False,
    )
    await worker.async_run()


asyncio.run(main())
"""


@pytest.mark.redis
@pytest.mark.usefixtures("policy")
async def test_arq_worker_killed_mid_delivery_redelivers_same_webhook_id(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    tmp_path: Path,
) -> None:
    """One event fans out to three subscribers in one ``deliver_many`` job. A real arq worker
    process is SIGKILLed after two deliveries were recorded, while the third subscriber holds
    its request; once arq's in-progress lease lapses (deleted here instead of waiting
    job_timeout + 10 s) another worker runs the same job: the unfinished delivery arrives again
    with the same ``webhook-id``, the two recorded ones are not sent again."""
    assert REDIS_URL
    killed = await subscribe(client, tenant, subscriber, "/killed", ["*"])
    done_first = [
        await subscribe(client, tenant, subscriber, path, ["*"]) for path in ("/ok1", "/ok2")
    ]
    release = asyncio.Event()
    subscriber.script("/killed", Reply(hang=release), Reply(status=200))
    settings = runtime.settings
    assert settings.encryption_keys is not None
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "GATEWAY_REDIS_URL": REDIS_URL,
        "GATEWAY_QUEUE_NAME": settings.queue_name,
        "GATEWAY_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "GATEWAY_OUTBOUND_ALLOWLIST": "127.0.0.0/8",
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER], env=env, cwd=tmp_path, stderr=subprocess.DEVNULL
    )
    try:
        event, created = await make_event(runtime, tenant.tenant.id)
        assert created == 3
        await subscriber.wait_for("/killed", 1, timeout=30)
        for sub in done_first:
            await _wait_for_status(client, tenant, sub["id"], "succeeded")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    release.set()
    [pending] = await deliveries(client, tenant, killed["id"])
    assert pending["status"] == "pending"
    assert pending["attempt_count"] == 0

    assert runtime.queue is not None
    redis = runtime.queue._redis  # type: ignore[attr-defined]
    ids = [pending["id"]] + [
        (await deliveries(client, tenant, s["id"]))[0]["id"] for s in done_first
    ]
    assert await redis.delete(f"arq:in-progress:{deliver_many_job_id(ids)}") == 1
    await job_runner.drain()
    first, second = await subscriber.wait_for("/killed", 2)
    assert first.webhook_id == second.webhook_id == event.id
    assert second.verified_with == [killed["secret"]]
    for sub in (killed, *done_first):
        [done] = await deliveries(client, tenant, sub["id"])
        assert done["status"] == "succeeded"
        assert done["attempt_count"] == 1
    assert len(subscriber.at("/ok1")) == len(subscriber.at("/ok2")) == 1


async def _wait_for_status(
    client: httpx.AsyncClient, tenant: TenantCtx, subscription_id: str, status: str
) -> None:
    """Poll the subscription's only delivery until it reaches ``status`` (10 s at most)."""
    async with asyncio.timeout(10):
        while (await deliveries(client, tenant, subscription_id))[0]["status"] != status:
            await asyncio.sleep(0.02)
