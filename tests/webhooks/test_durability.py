"""Durability rules of the receive path: nothing acknowledged before its commit, database down →
503, duplicates dropped, payloads encrypted at rest, rotated secrets valid for the overlap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.kit.crypto import generate_key_line
from gateway.kit.db import create_engine, create_sessionmaker
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.webhooks import batcher as batcher_module
from gateway.webhooks.batcher import InboxBatcher
from tests.conftest import TenantCtx
from tests.providers.webhooks import signing
from tests.providers.webhooks.signing import json_bytes
from tests.webhooks.support import (
    SLACK_SECRET,
    FakeClock,
    create_endpoint,
    endpoint_events,
    now,
    receiver_path,
    send,
    state_of,
)

CLOSED_PORT_DB = "postgresql+asyncpg://postgres@127.0.0.1:1/none"


def _slack_event(event_id: str, text: str = "hello") -> bytes:
    return json_bytes(
        {
            "type": "event_callback",
            "event_id": event_id,
            "event": {"type": "message", "text": text, "channel": "C1", "user": "U1", "ts": "1.2"},
        }
    )


def _dead_engine() -> AsyncEngine:
    settings = Settings(database_url=CLOSED_PORT_DB, encryption_keys=SecretStr(generate_key_line()))
    return create_engine(settings)


def _duplicates() -> float:
    value = REGISTRY.get_sample_value("gateway_webhooks_duplicate_total", {"provider": "slack"})
    return value or 0.0


@pytest.fixture
async def slack_endpoint(client: httpx.AsyncClient, tenant: TenantCtx) -> dict[str, Any]:
    return await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})


async def test_ten_identical_parallel_deliveries_make_one_event(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, Any]
) -> None:
    delivery = signing.sign_slack(SLACK_SECRET, _slack_event("Ev0PARALLEL"), now())
    before = _duplicates()

    responses = await asyncio.gather(
        *(send(client, receiver_path(slack_endpoint), delivery) for _ in range(10))
    )

    assert [r.status_code for r in responses] == [200] * 10
    assert len(await endpoint_events(client, tenant, slack_endpoint["id"])) == 1
    assert _duplicates() == before + 9


async def test_slack_retry_of_a_stored_event_is_acknowledged_without_a_second_row(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, Any]
) -> None:
    body = _slack_event("Ev0RETRIED")
    first = signing.sign_slack(SLACK_SECRET, body, now())
    retry = signing.sign_slack(SLACK_SECRET, body, now() + 60, retry_num=1)
    assert (await send(client, receiver_path(slack_endpoint), first)).status_code == 200
    assert (await send(client, receiver_path(slack_endpoint), retry)).status_code == 200
    assert len(await endpoint_events(client, tenant, slack_endpoint["id"])) == 1


async def test_no_answer_before_the_commit(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    slack_endpoint: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = asyncio.Event()
    real_insert = batcher_module.insert_inbox_rows

    async def held_insert(conn: Any, rows: Any) -> set[str]:
        await gate.wait()
        return await real_insert(conn, rows)

    monkeypatch.setattr(batcher_module, "insert_inbox_rows", held_insert)
    delivery = signing.sign_slack(SLACK_SECRET, _slack_event("Ev0GATED"), now())
    pending = asyncio.create_task(send(client, receiver_path(slack_endpoint), delivery))

    await asyncio.sleep(0.2)
    assert not pending.done(), "answered before the row was committed"
    assert await endpoint_events(client, tenant, slack_endpoint["id"]) == []

    gate.set()
    response = await pending
    assert response.status_code == 200
    assert len(await endpoint_events(client, tenant, slack_endpoint["id"])) == 1


async def test_commit_failure_answers_503_and_the_platform_retry_is_stored(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, Any], runtime: Runtime
) -> None:
    """The endpoint lookup works but the inbox database is unreachable: every delivery of the
    batch gets 503 and nothing is stored; the platform's retry later succeeds."""
    state = state_of(runtime)
    dead_engine = _dead_engine()
    healthy = state.inbox

    async def no_jobs(event_ids: list[str]) -> None:
        raise AssertionError("nothing was committed, so nothing may be queued")

    state.inbox = InboxBatcher(dead_engine, no_jobs)
    bodies = [_slack_event(f"Ev0DOWN{i}") for i in range(3)]
    deliveries = [signing.sign_slack(SLACK_SECRET, body, now()) for body in bodies]
    try:
        responses = await asyncio.gather(
            *(send(client, receiver_path(slack_endpoint), d) for d in deliveries)
        )
    finally:
        await state.inbox.close()
        state.inbox = healthy
        await dead_engine.dispose()

    for response in responses:
        assert response.status_code == 503
        assert response.json()["code"] == "database_unavailable"
        assert response.headers["retry-after"] == "5"
    assert await endpoint_events(client, tenant, slack_endpoint["id"]) == []

    for delivery in deliveries:
        assert (await send(client, receiver_path(slack_endpoint), delivery)).status_code == 200
    assert len(await endpoint_events(client, tenant, slack_endpoint["id"])) == 3


async def test_endpoint_lookup_failure_is_503(
    client: httpx.AsyncClient,
    slack_endpoint: dict[str, Any],
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database goes away before this process cached the endpoint: 503, not 404/500."""
    dead_engine = _dead_engine()
    state_of(runtime).endpoints.invalidate(slack_endpoint["id"])
    monkeypatch.setattr(runtime, "sessionmaker", create_sessionmaker(dead_engine))
    delivery = signing.sign_slack(SLACK_SECRET, _slack_event("Ev0LOOKUP"), now())
    try:
        response = await send(client, receiver_path(slack_endpoint), delivery)
    finally:
        await dead_engine.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


async def test_database_unreachable_is_503_never_2xx(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=CLOSED_PORT_DB,
        encryption_keys=SecretStr(generate_key_line()),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            delivery = signing.sign_slack(SLACK_SECRET, _slack_event("Ev0NODB"), now())
            response = await send(c, "/webhooks/slack/whe_01abc", delivery)
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


async def test_raw_payload_is_encrypted_at_rest(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, Any], runtime: Runtime
) -> None:
    """The raw payload exists only as ciphertext bound to its row (the unified ``data`` the
    normaliser extracts is a separate, plaintext column by design)."""
    marker = "confidential-marker-7f3a9"
    body = json_bytes(
        {
            "type": "event_callback",
            "event_id": "Ev0SECRET",
            "internal_note": marker,  # not part of the unified data
            "event": {"type": "message", "text": "hi", "channel": "C1", "user": "U1", "ts": "1.2"},
        }
    )
    delivery = signing.sign_slack(SLACK_SECRET, body, now())
    assert (await send(client, receiver_path(slack_endpoint), delivery)).status_code == 200
    [event] = await endpoint_events(client, tenant, slack_endpoint["id"])

    async with runtime.engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    sa.text("SELECT * FROM events WHERE id = :id"), {"id": event["id"]}
                )
            )
            .mappings()
            .one()
        )
    assert row["payload_enc"].startswith("enc1:")
    assert marker not in repr(dict(row))
    detail = (await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)).json()
    assert detail["raw"]["internal_note"] == marker  # the owner reads it decrypted


@pytest.fixture
def clock(runtime: Runtime) -> Iterator[FakeClock]:
    state = state_of(runtime)
    original = state.clock
    fake = FakeClock(float(now()))
    state.clock = fake
    yield fake
    state.clock = original


async def test_rotated_secret_keeps_verifying_for_the_overlap_only(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    slack_endpoint: dict[str, Any],
    runtime: Runtime,
    clock: FakeClock,
) -> None:
    path = receiver_path(slack_endpoint)
    new_secret = "rotated-signing-secret"
    patched = await client.patch(
        f"/v1/webhook-endpoints/{slack_endpoint['id']}",
        json={"config": {"signing_secret": new_secret}},
        headers=tenant.headers,
    )
    assert patched.status_code == 200
    until = datetime.fromisoformat(patched.json()["previous_config_valid_until"])
    overlap = runtime.settings.webhook_secret_overlap_seconds
    assert abs((until - datetime.now(UTC)).total_seconds() - overlap) < 60

    def signed(secret: str, event_id: str) -> signing.SignedDelivery:
        return signing.sign_slack(secret, _slack_event(event_id), int(clock.now))

    # Right after the PATCH (this process's cache was invalidated): both secrets verify.
    assert (await send(client, path, signed(new_secret, "Ev0NEW1"))).status_code == 200
    assert (await send(client, path, signed(SLACK_SECRET, "Ev0OLD1"))).status_code == 200

    clock.now = until.timestamp() - 5
    assert (await send(client, path, signed(SLACK_SECRET, "Ev0OLD2"))).status_code == 200

    clock.now = until.timestamp() + 5
    response = await send(client, path, signed(SLACK_SECRET, "Ev0OLD3"))
    assert response.status_code == 401
    assert (await send(client, path, signed(new_secret, "Ev0NEW2"))).status_code == 200
