"""The ``process_event`` protocol: once-only under duplicate jobs, retries with backoff, dead
letters visible in the API, recovery of crashed claims, and the connection's bot identity."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.events import processing, repository
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import Connection
from gateway.models.base import utcnow
from tests.conftest import JobRunner, TenantCtx
from tests.providers.webhooks import signing
from tests.providers.webhooks.signing import json_bytes
from tests.webhooks.support import (
    SLACK_SECRET,
    create_endpoint,
    endpoint_events,
    golden,
    now,
    receiver_path,
    send,
    settle,
    state_of,
)


async def _stored_event(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    *,
    payload: dict[str, Any] | None = None,
    **endpoint_extra: Any,
) -> dict[str, Any]:
    """Create a Slack endpoint, deliver one event and wait for its batch to commit."""
    endpoint = await create_endpoint(
        client, tenant, "slack", {"signing_secret": SLACK_SECRET}, **endpoint_extra
    )
    body = json_bytes(payload or golden("slack/message_im"))
    response = await send(
        client, receiver_path(endpoint), signing.sign_slack(SLACK_SECRET, body, now())
    )
    assert response.status_code == 200
    await state_of(runtime).wait_idle()
    [event] = await endpoint_events(client, tenant, endpoint["id"])
    return event


async def _get(client: httpx.AsyncClient, tenant: TenantCtx, event_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/events/{event_id}", headers=tenant.headers)
    assert response.status_code == 200
    event: dict[str, Any] = response.json()
    return event


async def test_duplicate_jobs_process_an_event_once(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    job_runner: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fanned_out: list[str] = []

    async def record_fan_out(session: Any, event: Any, enabled: Any = None) -> int:
        fanned_out.append(event.id)
        return 0

    monkeypatch.setattr(processing, "fan_out", record_fan_out)
    event = await _stored_event(client, tenant, runtime)
    outcomes = await asyncio.gather(
        *(processing.process_event(runtime, event["id"]) for _ in range(4))
    )
    await job_runner.drain()  # the batch job queued at ingest finds nothing left to do

    assert sorted(o.status for o in outcomes).count("processed") <= 1
    assert fanned_out == [event["id"]]
    assert (await _get(client, tenant, event["id"]))["status"] == "processed"


async def test_transient_failures_retry_then_dead_letter(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    job_runner: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    async def failing_fan_out(session: Any, event: Any, enabled: Any = None) -> int:
        calls.append(event.id)
        raise RuntimeError("subscriber store exploded")

    monkeypatch.setattr(processing, "fan_out", failing_fan_out)
    monkeypatch.setattr(runtime.settings, "event_max_attempts", 2)
    event = await _stored_event(client, tenant, runtime)

    await settle(runtime, job_runner)  # first try fails, the retry (after backoff) fails too

    dead = await _get(client, tenant, event["id"])
    assert dead["status"] == "dead"
    assert dead["attempts"] == 2
    assert dead["last_error"] == "RuntimeError: subscriber store exploded"
    assert dead["type"] is None  # nothing of the failed transaction was kept
    assert calls == [event["id"], event["id"]]
    listed = await client.get("/v1/events", params={"status": "dead"}, headers=tenant.headers)
    assert event["id"] in listed.text

    # A replay gets a fresh attempt budget and, with the fault gone, succeeds.
    monkeypatch.setattr(processing, "fan_out", _no_fan_out)
    assert (
        await client.post(f"/v1/events/{event['id']}/replay", headers=tenant.headers)
    ).status_code == 202
    await settle(runtime, job_runner)
    assert (await _get(client, tenant, event["id"]))["status"] == "processed"


async def _no_fan_out(session: Any, event: Any, enabled: Any = None) -> int:
    return 0


async def test_a_crashed_claim_is_taken_over_after_its_lease(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    job_runner: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker claimed the row and died: the row is ``processing`` with a lease. Nothing may
    take it before the lease ends; after it, the sweeper's job finishes it."""
    monkeypatch.setattr(processing, "fan_out", _no_fan_out)
    event = await _stored_event(client, tenant, runtime)
    await job_runner.drain()
    stale_until = utcnow() + timedelta(seconds=60)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE events SET status = 'processing', attempts = 1, processed_at = NULL, "
                "lease_until = :until WHERE id = :id"
            ),
            {"id": event["id"], "until": stale_until},
        )

    assert (await processing.process_event(runtime, event["id"])).status == "skipped"
    assert event["id"] not in await _stale_ids(runtime, utcnow())
    assert event["id"] in await _stale_ids(runtime, stale_until + timedelta(seconds=1))

    async with runtime.engine.begin() as conn:  # the lease runs out
        await conn.execute(
            sa.text("UPDATE events SET lease_until = :past WHERE id = :id"),
            {"id": event["id"], "past": utcnow() - timedelta(seconds=1)},
        )
    assert await processing.requeue_stale(runtime) >= 1
    await job_runner.drain()

    recovered = await _get(client, tenant, event["id"])
    assert recovered["status"] == "processed"
    assert recovered["attempts"] == 2


async def _stale_ids(runtime: Runtime, moment: datetime) -> list[str]:
    async with runtime.sessionmaker() as session:
        return await repository.stale_event_ids(session, moment, limit=10_000)


async def test_linked_connection_identifies_the_bots_own_messages(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, job_runner: JobRunner
) -> None:
    own_message = golden("slack/message_posted_by_own_app")
    async with runtime.sessionmaker() as session:
        connection = Connection(
            id=new_id("con"),
            tenant_id=tenant.tenant.id,
            provider="slack",
            auth_kind="oauth2",
            account={"bot_user_id": "U0BOT00001", "bot_id": "B0BOT00001", "app_id": "A123ABC456"},
        )
        session.add(connection)
        await session.commit()

    linked = await _stored_event(
        client, tenant, runtime, payload=own_message, connection_id=connection.id
    )
    unlinked = await _stored_event(client, tenant, runtime, payload=own_message)
    await settle(runtime, job_runner)

    linked_event = await _get(client, tenant, linked["id"])
    assert linked_event["connection_id"] == connection.id
    assert linked_event["data"]["is_bot_echo"] is True
    assert (await _get(client, tenant, unlinked["id"]))["data"]["is_bot_echo"] is False


async def test_a_batch_is_processed_in_two_transactions_and_a_bad_event_does_not_sink_it(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, job_runner: JobRunner
) -> None:
    """Three stored events, one of them with a payload that no longer decrypts: one claim and
    one processing transaction for the batch, the two good events processed and fanned out,
    the bad one dead-lettered on its own (one more transaction), no retry for anyone."""
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    for i in range(3):
        body = json_bytes({**golden("slack/message_im"), "event_id": f"EvBATCH{i}"})
        delivery = signing.sign_slack(SLACK_SECRET, body, now())
        assert (await send(client, receiver_path(endpoint), delivery)).status_code == 200
    await settle(runtime, job_runner)
    ids = sorted(e["id"] for e in await endpoint_events(client, tenant, endpoint["id"]))
    async with runtime.engine.begin() as conn:  # back to the inbox; the middle one corrupted
        await conn.execute(
            sa.text(
                "UPDATE events SET status = 'pending', attempts = 0, type = NULL, "
                "processed_at = NULL WHERE endpoint_id = :endpoint"
            ),
            {"endpoint": endpoint["id"]},
        )
        await conn.execute(
            sa.text("UPDATE events SET payload_enc = 'enc1:nokey:AAAA' WHERE id = :id"),
            {"id": ids[1]},
        )
    commits: list[int] = []

    def count_commit(conn: Any) -> None:
        commits.append(1)

    sa.event.listen(runtime.engine.sync_engine, "commit", count_commit)
    try:
        outcomes = await processing.process_batch(runtime, ids, [])
    finally:
        sa.event.remove(runtime.engine.sync_engine, "commit", count_commit)

    assert {i: o.status for i, o in outcomes.items()} == {
        ids[0]: "processed",
        ids[1]: "dead",
        ids[2]: "processed",
    }
    assert len(commits) == 3  # claim, process + fan out, dead-letter the bad one
    for event_id, status in zip(ids, ("processed", "dead", "processed"), strict=True):
        stored = await _get(client, tenant, event_id)
        assert stored["status"] == status
        assert (stored["type"] is not None) is (status == "processed")
    assert "decrypt" in (await _get(client, tenant, ids[1]))["last_error"]
