"""Webhook flood control on the live ingest path: verified deliveries beyond the endpoint's
ceiling get 429 with Retry-After (platforms retry); unsigned junk never spends the budget."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.kit.metrics import QUOTA_EXCEEDED
from gateway.kit.runtime import Runtime
from gateway.limits import service as limits_service
from gateway.webhooks.ingest import ingest_state
from tests.conftest import TenantCtx
from tests.providers.webhooks import signing
from tests.providers.webhooks.signing import json_bytes
from tests.webhooks.support import SLACK_SECRET, create_endpoint, now, receiver_path, send


def _slack_event(event_id: str) -> bytes:
    return json_bytes(
        {
            "type": "event_callback",
            "event_id": event_id,
            "team_id": "T1",
            "event": {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": "1.2"},
        }
    )


async def _limit(runtime: Runtime, tenant_id: str, rps: int) -> None:
    async with runtime.sessionmaker() as session:
        await limits_service.set_tenant_limits(session, tenant_id, {"webhook_rps": rps})  # type: ignore[arg-type]
        await session.commit()
    limits_service.limits_state(runtime).forget(tenant_id)


async def test_verified_flood_gets_429_and_junk_does_not_count(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    await _limit(runtime, tenant.tenant.id, 3)
    endpoint: dict[str, Any] = await create_endpoint(
        client, tenant, "slack", {"signing_secret": SLACK_SECRET}
    )
    path = receiver_path(endpoint)
    at = now()
    junk = signing.sign_slack("not-the-secret", _slack_event("EvJUNK"), at)
    for _ in range(20):
        assert (await send(client, path, junk)).status_code == 401
    statuses = []
    for i in range(6):
        delivery = signing.sign_slack(SLACK_SECRET, _slack_event(f"EvFLOOD{i}"), at)
        response = await send(client, path, delivery)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["code"] == "webhook_rate_limited"
            assert int(response.headers["retry-after"]) >= 1
    assert statuses[:3] == [200, 200, 200], statuses  # the junk spent none of the budget
    assert 429 in statuses[3:]


async def test_daily_events_quota_refuses_new_events_and_duplicates_do_not_count(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session:
        await limits_service.set_tenant_limits(session, tenant.tenant.id, {"events_per_day": 3})
        await session.commit()
    limits_service.limits_state(runtime).forget(tenant.tenant.id)
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    path = receiver_path(endpoint)
    state = ingest_state(runtime)
    assert state is not None
    refused_before = QUOTA_EXCEEDED.labels("events")._value.get()
    at = now()

    async def deliver(event_id: str) -> httpx.Response:
        response = await send(
            client, path, signing.sign_slack(SLACK_SECRET, _slack_event(event_id), at)
        )
        await state.wait_idle()  # the count is taken after the commit, off the request path
        return response

    statuses = [(await deliver(e)).status_code for e in ("EvQ1", "EvQ1", "EvQ1", "EvQ2", "EvQ3")]
    assert statuses == [200] * 5  # two duplicates among them: stored 3, counted 3

    refused = await deliver("EvQ4")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert (problem["code"], problem["limit"], problem["used"]) == ("quota_exceeded", 3, 3)
    assert int(refused.headers["retry-after"]) > 0
    assert QUOTA_EXCEEDED.labels("events")._value.get() == refused_before + 1

    stored = (await client.get("/v1/events", headers=tenant.headers)).json()["data"]
    assert sorted(e["provider_event_id"] for e in stored) == ["EvQ1", "EvQ2", "EvQ3"]
    limits = (await client.get("/v1/limits", headers=tenant.headers)).json()
    assert limits["events_per_day"]["used"] == 3
    assert limits["events_per_day"]["remaining"] == 0

    # Another tenant's endpoint is not affected by this tenant's quota.
    theirs = await create_endpoint(client, other_tenant, "slack", {"signing_secret": SLACK_SECRET})
    other = signing.sign_slack(SLACK_SECRET, _slack_event("EvQ4"), at)
    assert (await send(client, receiver_path(theirs), other)).status_code == 200
