"""Standard Webhooks signing (cross-checked with the ``standardwebhooks`` library), the retry
schedule, ``Retry-After`` parsing and the per-subscriber limiter."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.kit.runtime import Runtime
from gateway.subscriptions.policy import (
    RETRY_SCHEDULE,
    DeliveryPolicy,
    SubscriberLimiter,
    coalesce_delivery_jobs,
    deliver_job,
    deliver_job_id,
    deliver_many_job_id,
    deliver_many_jobs,
    parse_retry_after,
    split_deliver_job_id,
)
from gateway.subscriptions.signing import generate_secret, secret_key, sign, webhook_headers
from gateway.subscriptions.store import Coalescer


def test_signature_verifies_with_standardwebhooks_and_binds_every_part() -> None:
    secret = generate_secret()
    body = '{"id":"evt_1","text":"h\\u00e9llo é"}'.encode()
    now = int(time.time())
    headers = webhook_headers("evt_1", now, body, [secret_key(secret)])
    assert Webhook(secret).verify(body, headers) == {"id": "evt_1", "text": "héllo é"}
    assert headers["webhook-signature"] == Webhook(secret).sign(
        "evt_1", datetime.fromtimestamp(now, UTC), body.decode()
    )
    tampered = [
        (body + b" ", headers),
        (body, {**headers, "webhook-id": "evt_2"}),
        (body, {**headers, "webhook-timestamp": str(now + 1)}),
    ]
    for data, hdrs in tampered:
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(data, hdrs)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_rotation_overlap_sends_one_signature_per_secret() -> None:
    old, new = generate_secret(), generate_secret()
    body = b'{"a":1}'
    now = int(time.time())
    headers = webhook_headers("evt_9", now, body, [secret_key(new), secret_key(old)])
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_secrets_are_random_256_bit_whsec() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b
    assert a.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 32
    for bad in ("abc", "whsec_", "whsec_***"):
        with pytest.raises(ValueError, match="secret"):
            secret_key(bad)
    assert sign("m", 1, b"x", []) == ""


def test_schedule_is_the_documented_one() -> None:
    policy = DeliveryPolicy()
    assert RETRY_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert policy.max_attempts == 8
    delays = [policy.next_delay(policy.max_attempts - n) for n in range(1, 9)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert sum(RETRY_SCHEDULE) / 3600 == pytest.approx(27.5, abs=0.1)
    # Retry-After only ever pushes later, bounded by the longest step
    assert policy.next_delay(7, retry_after=60) == 60
    assert policy.next_delay(7, retry_after=1) == 5
    assert policy.next_delay(7, retry_after=10**9) == 36000
    assert policy.next_delay(0, retry_after=60) is None
    # a replayed delivery (more attempts left than the schedule has steps) starts from the top
    assert policy.next_delay(50) == 5
    assert DeliveryPolicy(defer_scale=0).queue_defer(300) == 0
    assert policy.queue_defer(300) == 300


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(" 0 ", now) == 0
    assert parse_retry_after("Wed, 25 Nov 2026 12:02:00 GMT", now) == 120
    assert parse_retry_after("Wed, 25 Nov 2026 11:00:00 GMT", now) == 0
    for bad in (None, "", "soon", "-5", "1.5", "١٢"):
        assert parse_retry_after(bad, now) is None


def test_job_ids_name_the_owner_of_the_next_attempt() -> None:
    assert deliver_job_id("dlv_1", 0) == "dlv_1"
    assert deliver_job_id("dlv_1", 3) == "dlv_1.3"
    job = deliver_job("dlv_1", 2, 0.0)
    assert (job.function, job.args, job.job_id, job.defer_seconds) == (
        "deliver",
        ("dlv_1",),
        "dlv_1.2",
        None,
    )
    assert deliver_job("dlv_1", 1, 5.0).defer_seconds == 5.0
    assert split_deliver_job_id("dlv_1") == ("dlv_1", 0)
    assert split_deliver_job_id("dlv_1.3") == ("dlv_1", 3)


def test_batches_are_chunked_and_named_by_their_content() -> None:
    ids = [f"dlv_{n:03}" for n in range(250)]
    jobs = deliver_many_jobs([*ids, ids[0]])  # a duplicate item is sent once
    assert [len(job.args[0]) for job in jobs] == [100, 100, 50]
    assert [i for job in jobs for i in job.args[0]] == ids
    assert {job.function for job in jobs} == {"deliver_many"}
    # the same batch (in any order) is the same queue job; a different batch is another one
    assert jobs[0].job_id == deliver_many_job_id(list(reversed(ids[:100])))
    assert len({job.job_id for job in jobs}) == 3
    assert deliver_many_jobs([]) == []


def test_fan_outs_committed_together_share_batches() -> None:
    per_event = [deliver_many_jobs([f"dlv_{n}a", f"dlv_{n}b"]) for n in range(60)]
    retry = deliver_job("dlv_x", 2, 5.0)
    other = deliver_many_jobs(["dlv_late"])[0]
    deferred = type(other)(other.function, other.args, other.job_id, 3.0)
    merged = coalesce_delivery_jobs([*(j for jobs in per_event for j in jobs), retry, deferred])
    batches = [j for j in merged if j.function == "deliver_many" and not j.defer_seconds]
    assert [len(j.args[0]) for j in batches] == [100, 20]
    assert [item for j in batches for item in j.args[0]] == [
        f"dlv_{n}{x}" for n in range(60) for x in "ab"
    ]
    assert retry in merged
    assert deferred in merged


async def test_limiter_caps_in_flight_per_key_and_gives_up_after_wait() -> None:
    limiter = SubscriberLimiter()
    peak = 0
    active = 0
    outcomes: list[bool] = []

    async def one(key: str, hold: float, wait: float) -> None:
        nonlocal peak, active
        async with limiter.hold(key, 2, wait) as acquired:
            outcomes.append(acquired)
            if acquired and key == "slow":
                active += 1
                peak = max(peak, active)
                await asyncio.sleep(hold)
                active -= 1

    started = asyncio.get_running_loop().time()
    await asyncio.gather(
        *(one("slow", 0.2, 0.05) for _ in range(6)), *(one("fast", 0, 0.05) for _ in range(6))
    )
    assert peak == 2
    assert outcomes.count(True) == 8
    assert outcomes.count(False) == 4
    assert asyncio.get_running_loop().time() - started < 1
    assert limiter.in_flight("slow") == 0
    assert limiter.in_flight("fast") == 0


async def test_coalescer_answers_every_submitter_under_staggered_load(runtime: Runtime) -> None:
    """Items arriving while flush tasks start and end (the delivery engine's steady state) are
    all answered: none waits for a flush that will never come."""
    import random

    async def echo(_conn: object, items: list[int]) -> list[int]:
        await asyncio.sleep(0)
        return items

    for inflight in (1, 2):
        coalescer: Coalescer[int, int] = Coalescer(
            runtime.engine, echo, autocommit=True, max_inflight=inflight
        )

        async def submitter(n: int, c: Coalescer[int, int] = coalescer) -> int:
            for _ in range(random.randint(0, 6)):
                await asyncio.sleep(0)
            return await c.submit(n)

        for _ in range(20):
            results = await asyncio.wait_for(asyncio.gather(*(submitter(n) for n in range(40))), 5)
            assert results == list(range(40))
