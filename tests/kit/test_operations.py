"""Operations endpoints and the database-down path."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from gateway.app import create_app
from gateway.kit.crypto import generate_key_line
from gateway.kit.settings import Settings
from tests.conftest import TenantCtx


async def test_health_ready_metrics(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    await client.get("/v1/me", headers=tenant.headers)
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'gateway_http_requests_total{method="GET",route="/v1/me",status="200"}' in metrics.text


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 16


async def test_database_down_gives_503_not_500(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        encryption_keys=SecretStr(generate_key_line()),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            ready = await c.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["database"] == "unavailable"
            r = await c.get("/v1/me", headers={"Authorization": "Bearer gwk_aaaa_bbbb"})
            assert r.status_code == 503
            assert r.json()["code"] == "database_unavailable"
            assert r.headers["retry-after"] == "5"
