"""F7 (PostgreSQL tier: needs the server binaries): PostgreSQL stops for a while.

Every request during the outage gets 503 (never a 2xx or a 500), readiness fails, and the
same app serves again once the database is back — no restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.kit.crypto import generate_key_line
from gateway.kit.db import create_engine
from gateway.kit.migrations import upgrade
from gateway.kit.settings import Settings
from tests.conftest import make_tenant
from tests.reliability.services import PrivatePostgres


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres.create()
    yield pg
    pg.destroy()


@pytest.fixture
async def outage_client(
    private_pg: PrivatePostgres, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=private_pg.url,
        encryption_keys=SecretStr(generate_key_line("f7")),
    )
    engine = create_engine(settings)
    await upgrade(engine, settings)
    await engine.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ctx = await make_tenant(app.state.runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, ctx.headers


@pytest.mark.slow
@pytest.mark.postgres
async def test_outage_gives_503_and_recovers_without_restart(
    private_pg: PrivatePostgres, outage_client: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, headers = outage_client
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    private_pg.stop()
    try:
        # Routes that need the database (authentication alone may be served from the
        # per-process key cache, so /v1/me can legitimately keep answering).
        statuses = [
            (await client.get("/v1/api-keys", headers=headers)).status_code for _ in range(20)
        ] + [
            (await client.post("/v1/api-keys", json={}, headers=headers)).status_code
            for _ in range(10)
        ]
        assert set(statuses) == {503}, statuses
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["database"] == "unavailable"
    finally:
        private_pg.start()
    for _ in range(50):
        if (await client.get("/readyz")).status_code == 200:
            break
    assert (await client.get("/v1/api-keys", headers=headers)).status_code == 200
