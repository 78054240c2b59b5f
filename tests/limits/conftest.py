"""Limits fixtures: an app of its own whose limiter runs on a clock the test moves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.app import create_app
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.limits import service


class FakeClock:
    """Unix time that only moves when told to (starts at the real time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def set_limits(runtime: Runtime, tenant_id: str, **changes: int | None) -> None:
    """Store overrides the way the CLI does, and drop this process's cached copy."""
    async with runtime.sessionmaker() as session:
        await service.set_tenant_limits(session, tenant_id, changes)  # type: ignore[arg-type]
        await session.commit()
    service.limits_state(runtime).forget(tenant_id)


@pytest.fixture(scope="module")
async def limited_app(settings: Settings, migrated: None) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
def limited_runtime(limited_app: FastAPI) -> Runtime:
    runtime: Runtime = limited_app.state.runtime
    return runtime


@pytest.fixture
def clock(limited_runtime: Runtime) -> FakeClock:
    fake = FakeClock()
    service.limits_state(limited_runtime).limiter.clock = fake
    return fake


@pytest.fixture
async def limited_client(limited_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
