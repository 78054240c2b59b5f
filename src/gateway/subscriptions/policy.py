"""How deliveries are attempted: retry schedule, timeouts, Retry-After, per-subscriber limits.

Retry schedule (the Svix schedule; the first attempt is immediate)::

    attempt   1     2     3      4      5    6    7     8
    after     -    5 s  5 min  30 min  2 h  5 h  10 h  10 h      (≈ 27.5 h in total)

After the 8th failed attempt the delivery is dead-lettered (status ``dead``): it stays visible
in ``GET /v1/subscriptions/{id}/deliveries`` and ``POST /v1/deliveries/{id}/retry`` sends it
again. A subscriber's ``Retry-After`` (seconds or HTTP date, on any failed response) can only
push the next attempt later, never earlier, and never past the longest step (10 h). ``410 Gone``
stops at once and disables the subscription. Any 2xx is success; everything else (3xx included:
redirects are not followed), timeouts and connection errors are failures.

The policy lives in the process's runtime (``runtime.extras``), so tests swap in zero queue
delays and a fixed clock: the *recorded* ``next_attempt_at`` still follows the real schedule.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from gateway.kit.db import PendingJob
from gateway.kit.runtime import Runtime
from gateway.models.base import utcnow

RETRY_SCHEDULE: Final[tuple[float, ...]] = (5, 300, 1800, 7200, 18000, 36000, 36000)
"""Seconds to wait after failed attempt 1, 2, …; its length + 1 is the number of attempts."""

DELIVER_TASK: Final = "deliver"
DELIVER_MANY_TASK: Final = "deliver_many"
DELIVER_MANY_CHUNK: Final = 100
"""Most per-delivery jobs one ``deliver_many`` job carries."""

_POLICY_KEY = "subscriptions.delivery_policy"
_LIMITER_KEY = "subscriptions.subscriber_limiter"
_BATCH_SLOTS_KEY = "subscriptions.batch_slots"


@dataclass(frozen=True)
class DeliveryPolicy:
    """Knobs of the delivery engine. ``defer_scale`` multiplies queue delays (tests: 0).

    ``batch_concurrency`` bounds the attempts of all ``deliver_many`` jobs of this process
    running at once (an item waits for a turn, then for its subscriber's slot): without it,
    ``max_jobs`` batches of ``DELIVER_MANY_CHUNK`` would all contend for the same subscriber's
    few slots and most would give up and re-queue themselves.
    """

    retry_delays: tuple[float, ...] = RETRY_SCHEDULE
    timeout_seconds: float = 15.0
    snippet_read_bytes: int = 4096
    snippet_chars: int = 1024
    per_subscription_concurrency: int = 16
    batch_concurrency: int = 64
    slot_wait_seconds: float = 0.25
    busy_requeue_seconds: float = 1.0
    defer_scale: float = 1.0
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1

    @property
    def max_delay(self) -> float:
        return max(self.retry_delays, default=0.0)

    def next_delay(self, remaining: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt, given how many attempts this run has left.

        None when none are left (the delivery dies). ``remaining`` counts down from
        ``len(retry_delays)`` after the first attempt, so a replayed delivery walks the whole
        schedule again.
        """
        if remaining <= 0 or not self.retry_delays:
            return None
        index = min(max(0, len(self.retry_delays) - remaining), len(self.retry_delays) - 1)
        delay = self.retry_delays[index]
        if retry_after is not None:
            delay = min(max(delay, retry_after), self.max_delay)
        return delay

    def queue_defer(self, delay: float) -> float:
        return max(0.0, delay * self.defer_scale)


def deliver_job_id(delivery_id: str, job_seq: int) -> str:
    """The queue job id allowed to attempt a delivery: the delivery id, then ``{id}.{seq}``."""
    return delivery_id if job_seq == 0 else f"{delivery_id}.{job_seq}"


def split_deliver_job_id(job_id: str) -> tuple[str, int]:
    """``(delivery id, job_seq)`` of a per-delivery job id (the inverse of ``deliver_job_id``)."""
    delivery_id, _, seq = job_id.partition(".")
    return delivery_id, int(seq) if seq.isdigit() else 0


def deliver_job(delivery_id: str, job_seq: int, defer_seconds: float | None = None) -> PendingJob:
    return PendingJob(
        DELIVER_TASK,
        (delivery_id,),
        job_id=deliver_job_id(delivery_id, job_seq),
        defer_seconds=defer_seconds or None,
    )


def deliver_many_job_id(job_ids: Sequence[str]) -> str:
    """A digest of the per-delivery job ids (in any order): the same batch sent twice is one
    queue job while the first exists."""
    digest = hashlib.blake2b("\n".join(sorted(job_ids)).encode(), digest_size=16).hexdigest()
    return f"dlvb_{digest}"


def deliver_many_jobs(job_ids: Iterable[str]) -> list[PendingJob]:
    """``deliver_many`` jobs (chunks of ``DELIVER_MANY_CHUNK``) running these per-delivery jobs.

    Each item is the id of the job that owns the delivery's next attempt (``deliver_job_id``):
    the delivery id itself for a first attempt, so a stale item is skipped exactly like a stale
    ``deliver`` job.
    """
    ids = list(dict.fromkeys(job_ids))
    chunks = [ids[i : i + DELIVER_MANY_CHUNK] for i in range(0, len(ids), DELIVER_MANY_CHUNK)]
    return [
        PendingJob(DELIVER_MANY_TASK, (chunk,), job_id=deliver_many_job_id(chunk))
        for chunk in chunks
    ]


def coalesce_delivery_jobs(jobs: Sequence[PendingJob]) -> list[PendingJob]:
    """Merge the undeferred ``deliver_many`` jobs among ``jobs`` into as few as possible.

    For callers that commit several fan-outs before dispatching (an event batch job): one queue
    job per ``DELIVER_MANY_CHUNK`` deliveries instead of one per event. Other jobs pass through.
    """
    merged: list[str] = []
    others: list[PendingJob] = []
    for job in jobs:
        if job.function == DELIVER_MANY_TASK and not job.defer_seconds:
            merged.extend(job.args[0])
        else:
            others.append(job)
    return [*deliver_many_jobs(merged), *others]


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - now).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


@dataclass
class _Slot:
    semaphore: asyncio.Semaphore
    users: int = 0


class SubscriberLimiter:
    """At most ``limit`` deliveries in flight to one subscription, in this process.

    A job that finds its subscriber saturated waits briefly, then gives its worker slot back and
    re-queues itself (see ``delivery``): one slow subscriber occupies at most ``limit`` slots, so
    the others keep flowing. Per process, by design: N workers allow N * limit.
    """

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def in_flight(self, key: str) -> int:
        slot = self._slots.get(key)
        return 0 if slot is None else slot.users

    @asynccontextmanager
    async def hold(self, key: str, limit: int, wait: float) -> AsyncIterator[bool]:
        """Yield True holding a slot for ``key``, or False if none freed up within ``wait``."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(asyncio.Semaphore(max(1, limit)))
        slot.users += 1
        acquired = False
        try:
            if not slot.semaphore.locked():
                await slot.semaphore.acquire()
                acquired = True
            elif wait > 0:
                try:
                    async with asyncio.timeout(wait):
                        await slot.semaphore.acquire()
                    acquired = True
                except TimeoutError:
                    acquired = False
            yield acquired
        finally:
            if acquired:
                slot.semaphore.release()
            slot.users -= 1
            if slot.users == 0 and self._slots.get(key) is slot:
                del self._slots[key]


def delivery_policy(runtime: Runtime) -> DeliveryPolicy:
    """The process's delivery policy (built from settings on first use)."""
    policy = runtime.extras.get(_POLICY_KEY)
    if not isinstance(policy, DeliveryPolicy):
        policy = DeliveryPolicy(
            per_subscription_concurrency=runtime.settings.delivery_concurrency_per_subscription
        )
        runtime.extras[_POLICY_KEY] = policy
    return policy


def set_delivery_policy(runtime: Runtime, policy: DeliveryPolicy) -> DeliveryPolicy:
    """Replace the process's policy (tests, benchmarks); returns the previous one."""
    previous = delivery_policy(runtime)
    runtime.extras[_POLICY_KEY] = policy
    return previous


def subscriber_limiter(runtime: Runtime) -> SubscriberLimiter:
    limiter = runtime.extras.get(_LIMITER_KEY)
    if not isinstance(limiter, SubscriberLimiter):
        limiter = SubscriberLimiter()
        runtime.extras[_LIMITER_KEY] = limiter
    return limiter


def batch_slots(runtime: Runtime, policy: DeliveryPolicy) -> asyncio.Semaphore:
    """The process-wide turns of ``deliver_many`` items (``policy.batch_concurrency``)."""
    slots = runtime.extras.get(_BATCH_SLOTS_KEY)
    size = max(1, policy.batch_concurrency)
    if not isinstance(slots, _BatchSlots) or slots.size != size:
        slots = runtime.extras[_BATCH_SLOTS_KEY] = _BatchSlots(size)
    return slots.semaphore


@dataclass
class _BatchSlots:
    size: int
    semaphore: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.semaphore = asyncio.Semaphore(self.size)
