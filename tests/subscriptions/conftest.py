"""Fixtures of the subscriptions tests: a loopback subscriber and a delivery policy whose queue
delays are zero (the recorded schedule stays the real one) and whose clock tests can move."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from gateway.kit.runtime import Runtime
from gateway.models.base import utcnow
from gateway.subscriptions.policy import DeliveryPolicy, set_delivery_policy
from tests.subscriptions.support import Subscriber, running_subscriber


class MovableClock:
    """Wall-clock time plus an offset that tests advance to make time pass."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    async with running_subscriber() as server:
        yield server


@pytest.fixture
def policy(runtime: Runtime, clock: MovableClock) -> Iterator[DeliveryPolicy]:
    """Zero queue delays, short slot waits, a movable clock; restored afterwards."""
    fast = DeliveryPolicy(
        defer_scale=0.0,
        slot_wait_seconds=0.05,
        busy_requeue_seconds=0.05,
        clock=clock,
    )
    previous = set_delivery_policy(runtime, fast)
    yield fast
    set_delivery_policy(runtime, previous)


@pytest.fixture
def set_policy(runtime: Runtime, policy: DeliveryPolicy) -> object:
    """Adjust the test policy: ``set_policy(per_subscription_concurrency=2)``."""

    def apply(**changes: object) -> DeliveryPolicy:
        updated = replace(policy, **changes)  # type: ignore[arg-type]
        set_delivery_policy(runtime, updated)
        return updated

    return apply
