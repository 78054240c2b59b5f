"""Event → fan_out → deliver, end to end against a real loopback subscriber that verifies every
request with the ``standardwebhooks`` library."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.kit.runtime import Runtime
from gateway.subscriptions.policy import RETRY_SCHEDULE, DeliveryPolicy
from gateway.subscriptions.tasks import deliver
from tests.conftest import JobRunner, TenantCtx
from tests.subscriptions.support import (
    Reply,
    Subscriber,
    deliveries,
    make_endpoint,
    make_event,
    subscribe,
)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _wait(attempt: dict[str, Any]) -> int:
    """Seconds from an attempt to the next one it scheduled (the attempt itself takes ms)."""
    return round((_ts(attempt["next_attempt_at"]) - _ts(attempt["attempted_at"])).total_seconds())


@pytest.mark.usefixtures("policy")
async def test_event_is_delivered_signed_with_the_unified_shape(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/one", ["message.*"])
    payload = {"event": {"type": "message", "text": "héllo", "user": "U1"}, "n": [1, 2]}
    data = {
        "conversation": {"id": "C9", "type": "channel"},
        "sender": {"id": "U1", "name": "Ann"},
        "text": "héllo",
    }
    event, created = await make_event(
        runtime, tenant.tenant.id, payload=payload, data=data, connection_id="con_1"
    )
    assert created == 1
    await job_runner.drain()

    [received] = await subscriber.wait_for("/one", 1)
    assert received.verified_with == [sub["secret"]]
    headers = received.headers
    assert headers["webhook-id"] == event.id
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"].startswith("v1,")
    assert abs(int(headers["webhook-timestamp"]) - datetime.now().timestamp()) < 60
    body = received.json
    assert body == {
        "id": event.id,
        "type": "message.received",
        "provider": "slack",
        "endpoint_id": None,
        "connection_id": "con_1",
        "provider_event_id": event.provider_event_id,
        "occurred_at": body["occurred_at"],
        "received_at": body["received_at"],
        "data": data,
        "raw": payload,
    }
    assert abs(_ts(body["received_at"]) - event.received_at) < timedelta(milliseconds=1)

    [delivery] = await deliveries(client, tenant, sub["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["event_id"] == event.id
    assert delivery["event_type"] == "message.received"
    assert delivery["attempt_count"] == 1
    assert delivery["next_attempt_at"] is None
    [attempt] = delivery["attempts"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["status_code"] == 200
    assert attempt["response_snippet"] == "ok"
    assert attempt["duration_ms"] > 0


@pytest.mark.usefixtures("policy")
async def test_one_event_three_subscriptions_three_deliveries(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    subs = [
        await subscribe(client, tenant, subscriber, "/a", ["message.*"]),
        await subscribe(client, tenant, subscriber, "/b", ["*"]),
        await subscribe(client, tenant, subscriber, "/c", ["message.received", "reaction.added"]),
    ]
    await subscribe(client, tenant, subscriber, "/no-type", ["reaction.*"])
    await subscribe(client, tenant, subscriber, "/no-provider", ["*"], providers=["telegram"])
    disabled = await subscribe(client, tenant, subscriber, "/disabled", ["*"], enabled=False)
    assert disabled["enabled"] is False

    event, created = await make_event(runtime, tenant.tenant.id)
    assert created == 3
    await job_runner.drain()

    for path, sub in zip(("/a", "/b", "/c"), subs, strict=True):
        [received] = subscriber.at(path)
        assert received.webhook_id == event.id
        assert received.verified_with == [sub["secret"]], path
        [delivery] = await deliveries(client, tenant, sub["id"])
        assert delivery["status"] == "succeeded"
    for path in ("/no-type", "/no-provider", "/disabled"):
        assert subscriber.at(path) == []
    assert len(subscriber.received) == 3


@pytest.mark.usefixtures("policy")
async def test_provider_endpoint_and_connection_event_filters(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    endpoint = await make_endpoint(runtime, tenant.tenant.id, "lark")
    other_endpoint = await make_endpoint(runtime, tenant.tenant.id, "lark")
    await subscribe(client, tenant, subscriber, "/feishu", ["*"], providers=["feishu"])
    await subscribe(client, tenant, subscriber, "/endpoint", ["message.*"], endpoint_ids=[endpoint])
    await subscribe(client, tenant, subscriber, "/connections", ["connection.*"])

    on_endpoint, _ = await make_event(
        runtime, tenant.tenant.id, provider="lark", endpoint_id=endpoint
    )
    elsewhere, _ = await make_event(
        runtime, tenant.tenant.id, provider="lark", endpoint_id=other_endpoint
    )
    slack, _ = await make_event(runtime, tenant.tenant.id, provider="slack")
    connected, created = await make_event(
        runtime,
        tenant.tenant.id,
        type="connection.created",
        provider="telegram",
        connection_id="con_x",
        payload={"connection_id": "con_x", "status": "active"},
        data={},
    )
    assert created == 1
    await job_runner.drain()

    assert {r.webhook_id for r in subscriber.at("/feishu")} == {on_endpoint.id, elsewhere.id}
    assert [r.webhook_id for r in subscriber.at("/endpoint")] == [on_endpoint.id]
    [conn] = subscriber.at("/connections")
    assert conn.webhook_id == connected.id
    assert conn.verified_with
    assert conn.json["type"] == "connection.created"
    assert conn.json["connection_id"] == "con_x"
    assert slack.id not in {r.webhook_id for r in subscriber.received}


async def test_failing_subscriber_walks_the_schedule_to_dead_letter_then_retry(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    policy: DeliveryPolicy,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/down", ["*"])
    subscriber.script("/down", Reply(status=500, body="boom"))
    event, _ = await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()

    received = subscriber.at("/down")
    assert len(received) == len(RETRY_SCHEDULE) + 1 == 8
    assert {r.webhook_id for r in received} == {event.id}
    assert all(r.verified_with == [sub["secret"]] for r in received)

    [delivery] = await deliveries(client, tenant, sub["id"])
    assert delivery["status"] == "dead"
    assert delivery["attempt_count"] == 8
    assert delivery["next_attempt_at"] is None
    assert delivery["last_status_code"] == 500
    assert delivery["last_error"] == "HTTP 500"
    attempts = delivery["attempts"]
    assert [a["number"] for a in attempts] == list(range(1, 9))
    assert all(a["status_code"] == 500 and a["outcome"] == "failed" for a in attempts)
    assert all(a["response_snippet"] == "boom" and a["duration_ms"] > 0 for a in attempts)
    waits = [_wait(a) for a in attempts[:-1]]
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert attempts[-1]["next_attempt_at"] is None
    assert (await deliveries(client, tenant, sub["id"], status="pending")) == []
    assert len(await deliveries(client, tenant, sub["id"], status="dead")) == 1

    # the subscriber recovers; a manual retry sends the same event again, once
    subscriber.script("/down", Reply(status=204, body=""))
    r = await client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=tenant.headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    await job_runner.drain()
    [after] = await deliveries(client, tenant, sub["id"])
    assert after["status"] == "succeeded"
    assert after["attempt_count"] == 9
    assert after["attempts"][-1]["status_code"] == 204
    ninth = subscriber.at("/down")[8]
    assert ninth.webhook_id == event.id
    assert ninth.verified_with == [sub["secret"]]
    assert len(subscriber.at("/down")) == 9


@pytest.mark.usefixtures("policy")
async def test_manual_retry_that_fails_is_dead_again(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/gone-for-good", ["*"])
    subscriber.script("/gone-for-good", Reply(status=502))
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()
    [dead] = await deliveries(client, tenant, sub["id"])
    r = await client.post(f"/v1/deliveries/{dead['id']}/retry", headers=tenant.headers)
    assert r.status_code == 202
    await job_runner.drain()
    [after] = await deliveries(client, tenant, sub["id"])
    assert after["status"] == "dead"
    assert after["attempt_count"] == 9
    assert len(subscriber.at("/gone-for-good")) == 9


@pytest.mark.usefixtures("policy")
async def test_410_gone_disables_subscription_and_keeps_events_for_replay(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/gone", ["*"])
    subscriber.script("/gone", Reply(status=410, body="gone"))
    first, _ = await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()

    assert len(subscriber.at("/gone")) == 1  # no retries after 410
    [delivery] = await deliveries(client, tenant, sub["id"])
    assert delivery["status"] == "dead"
    assert delivery["attempt_count"] == 1
    assert "410" in delivery["last_error"]
    shown = (await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.headers)).json()
    assert shown["enabled"] is False
    assert "410" in shown["disabled_reason"]
    assert shown["disabled_at"]

    # while disabled: the event is stored, nothing is delivered, retry/replay refuse
    later, created = await make_event(runtime, tenant.tenant.id)
    assert created == 0
    await job_runner.drain()
    assert len(subscriber.at("/gone")) == 1
    refused = await client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "subscription_disabled"
    since = (first.received_at - timedelta(seconds=1)).isoformat()
    not_now = await client.post(
        f"/v1/subscriptions/{sub['id']}/replay", json={"since": since}, headers=tenant.headers
    )
    assert not_now.status_code == 409
    assert not_now.json()["code"] == "subscription_disabled"

    # re-enabled, the subscriber is back: replay delivers both, nothing vanished
    subscriber.script("/gone", Reply(status=200))
    enabled = await client.patch(
        f"/v1/subscriptions/{sub['id']}", json={"enabled": True}, headers=tenant.headers
    )
    assert enabled.json()["enabled"] is True
    r = await client.post(
        f"/v1/subscriptions/{sub['id']}/replay", json={"since": since}, headers=tenant.headers
    )
    assert r.status_code == 202, r.text
    assert r.json()["event_ids"] == [first.id, later.id]
    await job_runner.drain()
    replayed = subscriber.at("/gone")[1:]
    assert sorted(x.webhook_id for x in replayed) == sorted([first.id, later.id])
    assert all(x.verified_with == [sub["secret"]] for x in replayed)
    statuses = {d["event_id"]: d["status"] for d in await deliveries(client, tenant, sub["id"])}
    assert statuses == {first.id: "succeeded", later.id: "succeeded"}


async def test_retry_after_is_honoured_and_bounded(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
    policy: DeliveryPolicy,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/busy", ["*"])
    subscriber.script(
        "/busy",
        Reply(status=429, headers={"Retry-After": "120"}),
        Reply(status=503, headers={"Retry-After": "9999999"}),
        Reply(status=503, headers={"Retry-After": "1"}),
        Reply(status=200),
    )
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()
    [delivery] = await deliveries(client, tenant, sub["id"])
    assert delivery["status"] == "succeeded"
    waits = [_wait(a) for a in delivery["attempts"][:-1]]
    # 120 s instead of 5 s; capped at the longest step (10 h); never earlier than the schedule
    assert waits == [120, 36000, 1800]
    assert [a["status_code"] for a in delivery["attempts"]] == [429, 503, 503, 200]


@pytest.mark.usefixtures("policy")
async def test_replay_redelivers_exactly_the_chosen_events(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    base = datetime.now().astimezone() - timedelta(hours=3)
    old, _ = await make_event(runtime, tenant.tenant.id, received_at=base)
    chosen_a, _ = await make_event(runtime, tenant.tenant.id, received_at=base + timedelta(hours=1))
    reaction, _ = await make_event(
        runtime,
        tenant.tenant.id,
        type="reaction.added",
        received_at=base + timedelta(hours=1, minutes=5),
    )
    chosen_b, _ = await make_event(
        runtime, tenant.tenant.id, received_at=base + timedelta(hours=1, minutes=10)
    )
    after_window, _ = await make_event(
        runtime, tenant.tenant.id, received_at=base + timedelta(hours=2, minutes=30)
    )
    await job_runner.drain()

    sub = await subscribe(client, tenant, subscriber, "/replay", ["message.*"])
    window = {
        "since": (base + timedelta(minutes=30)).isoformat(),
        "until": (base + timedelta(hours=2)).isoformat(),
    }
    r = await client.post(
        f"/v1/subscriptions/{sub['id']}/replay", json=window, headers=tenant.headers
    )
    assert r.status_code == 202, r.text
    assert r.json() == {"replayed": 2, "event_ids": [chosen_a.id, chosen_b.id], "truncated": False}
    await job_runner.drain()
    assert sorted(x.webhook_id for x in subscriber.at("/replay")) == sorted(
        [chosen_a.id, chosen_b.id]
    )
    assert all(x.verified_with == [sub["secret"]] for x in subscriber.received)

    # replaying again sends the same events again, with their original webhook-ids
    again = await client.post(
        f"/v1/subscriptions/{sub['id']}/replay", json=window, headers=tenant.headers
    )
    assert again.json()["event_ids"] == [chosen_a.id, chosen_b.id]
    await job_runner.drain()
    ids = [x.webhook_id for x in subscriber.at("/replay")]
    assert sorted(ids) == sorted([chosen_a.id, chosen_b.id] * 2)
    assert {old.id, reaction.id, after_window.id}.isdisjoint(ids)
    rows = await deliveries(client, tenant, sub["id"])
    assert {d["event_id"] for d in rows} == {chosen_a.id, chosen_b.id}
    assert all(d["status"] == "succeeded" and d["attempt_count"] == 2 for d in rows)

    limited = await client.post(
        f"/v1/subscriptions/{sub['id']}/replay",
        json={"since": base.isoformat(), "limit": 2},
        headers=tenant.headers,
    )
    assert limited.json()["truncated"] is True
    assert limited.json()["event_ids"] == [old.id, chosen_a.id]
    bad = await client.post(
        f"/v1/subscriptions/{sub['id']}/replay",
        json={"since": window["until"], "until": window["since"]},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_time_range"
    await job_runner.drain()


@pytest.mark.usefixtures("policy")
async def test_succeeded_delivery_is_never_sent_again_and_stale_jobs_do_nothing(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    sub = await subscribe(client, tenant, subscriber, "/idem", ["*"])
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()
    [delivery] = await deliveries(client, tenant, sub["id"])
    ctx = {"runtime": runtime, "job_id": delivery["id"], "job_try": 2}
    assert await deliver(ctx, delivery["id"]) == "skipped"
    assert await deliver({"runtime": runtime}, delivery["id"]) == "skipped"
    assert await deliver({"runtime": runtime}, "dlv_does_not_exist") == "skipped"
    assert len(subscriber.at("/idem")) == 1

    subscriber.script("/idem", Reply(status=500))
    await make_event(runtime, tenant.tenant.id, dispatch=False)
    pending = [d for d in await deliveries(client, tenant, sub["id"]) if d["status"] == "pending"]
    [fresh] = pending
    stale = {"runtime": runtime, "job_id": f"{fresh['id']}.7", "job_try": 1}
    assert await deliver(stale, fresh["id"]) == "skipped"
    assert len(subscriber.at("/idem")) == 1
    # a pending delivery is already scheduled: no manual retry on top of it
    again = await client.post(f"/v1/deliveries/{fresh['id']}/retry", headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "delivery_pending"
    # leave nothing pending behind for the periodic sweeper
    deleted = await client.delete(f"/v1/subscriptions/{sub['id']}", headers=tenant.headers)
    assert deleted.status_code == 200
    assert await deliver(stale | {"job_id": fresh["id"]}, fresh["id"]) == "skipped"


async def test_destination_refused_at_delivery_time_is_a_failed_attempt(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    job_runner: JobRunner,
    policy: DeliveryPolicy,
) -> None:
    """A URL that stopped passing the guard (allow-list changed) is refused by the shared
    client at connect time: recorded as a failed attempt, no traffic."""
    r = await client.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/unused", "event_types": ["*"]},
        headers=tenant.headers,
    )
    sid = r.json()["id"]
    async with runtime.sessionmaker() as session:
        from gateway.models import Subscription

        row = await session.get(Subscription, sid)
        assert row is not None
        row.url = "http://10.0.0.1/internal"
        await session.commit()
    await make_event(runtime, tenant.tenant.id)
    await job_runner.drain()
    [delivery] = await deliveries(client, tenant, sid)
    assert delivery["status"] == "dead"
    assert {a["error_code"] for a in delivery["attempts"]} == {"destination_blocked"}
    assert all(a["status_code"] is None for a in delivery["attempts"])
