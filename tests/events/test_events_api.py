"""``/v1/events``: filters, pagination, the unified shape with decrypted ``raw``, tenant
isolation and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.events import processing
from gateway.kit.runtime import Runtime
from tests.conftest import JobRunner, TenantCtx
from tests.webhooks.support import (
    SCHEMES_BY_NAME,
    create_endpoint,
    now,
    receiver_path,
    send,
    settle,
)

SLACK = SCHEMES_BY_NAME["slack"]
TELEGRAM = SCHEMES_BY_NAME["telegram"]


async def _list(client: httpx.AsyncClient, tenant: TenantCtx, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/events", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


@pytest.fixture
async def two_events(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, job_runner: JobRunner
) -> dict[str, dict[str, Any]]:
    """One processed Slack message and one processed Telegram message for ``tenant``."""
    endpoints = {}
    for scheme in (SLACK, TELEGRAM):
        endpoint = await create_endpoint(client, tenant, scheme.provider, scheme.config)
        response = await send(client, receiver_path(endpoint), scheme.deliver(scheme.body, now()))
        assert response.status_code == 200
        endpoints[scheme.provider] = endpoint
    await settle(runtime, job_runner)
    return endpoints


async def test_filters_and_pagination(
    client: httpx.AsyncClient, tenant: TenantCtx, two_events: dict[str, dict[str, Any]]
) -> None:
    everything = await _list(client, tenant)
    assert {e["provider"] for e in everything["data"]} == {"slack", "telegram"}
    assert all("raw" not in e for e in everything["data"])  # only in the single-event view

    slack_only = await _list(client, tenant, provider="slack")
    assert [e["provider"] for e in slack_only["data"]] == ["slack"]
    by_endpoint = await _list(client, tenant, endpoint_id=two_events["telegram"]["id"])
    assert [e["provider"] for e in by_endpoint["data"]] == ["telegram"]
    assert len((await _list(client, tenant, type="message.received"))["data"]) == 2
    assert (await _list(client, tenant, type="reaction.added"))["data"] == []
    assert len((await _list(client, tenant, status="processed"))["data"]) == 2
    assert (await _list(client, tenant, status="dead"))["data"] == []

    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert len((await _list(client, tenant, since=hour_ago, until=in_an_hour))["data"]) == 2
    assert (await _list(client, tenant, since=in_an_hour))["data"] == []
    assert (await _list(client, tenant, until=hour_ago))["data"] == []

    first = await _list(client, tenant, limit=1)
    second = await _list(client, tenant, limit=1, cursor=first["next_cursor"])
    assert first["data"][0]["id"] > second["data"][0]["id"]
    assert second["next_cursor"] is None

    bad_status = await client.get("/v1/events?status=lost", headers=tenant.headers)
    assert bad_status.status_code == 422


async def test_event_detail_is_the_unified_shape(
    client: httpx.AsyncClient, tenant: TenantCtx, two_events: dict[str, dict[str, Any]]
) -> None:
    [summary] = (await _list(client, tenant, provider="slack"))["data"]
    event = (await client.get(f"/v1/events/{summary['id']}", headers=tenant.headers)).json()
    assert event["type"] == "message.received"
    assert event["endpoint_id"] == two_events["slack"]["id"]
    assert event["provider_event_id"] == "Ev0PV52K21"
    assert event["data"]["conversation"] == {"id": "D024BE91L", "type": "direct"}
    assert event["data"]["sender"]["id"] == "U2147483697"
    assert event["data"]["text"] == "Hello hello can you hear me?"
    assert event["raw"]["event_id"] == "Ev0PV52K21"
    assert event["occurred_at"].startswith("2012-12-14T20:38:43")
    assert event["status"] == "processed"
    assert event["last_error"] is None


async def test_other_tenants_event_is_404(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    other_tenant: TenantCtx,
    two_events: dict[str, dict[str, Any]],
) -> None:
    event_id = (await _list(client, tenant))["data"][0]["id"]
    response = await client.get(f"/v1/events/{event_id}", headers=other_tenant.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"
    replay = await client.post(f"/v1/events/{event_id}/replay", headers=other_tenant.headers)
    assert replay.status_code == 404
    assert event_id not in (await client.get("/v1/events", headers=other_tenant.headers)).text
    assert (await client.get("/v1/events/evt_nope", headers=tenant.headers)).status_code == 404


async def test_replay_runs_processing_and_fan_out_again(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    job_runner: JobRunner,
    two_events: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fanned_out: list[str] = []

    async def record_fan_out(session: Any, event: Any) -> int:
        fanned_out.append(event.id)
        return 0

    monkeypatch.setattr(processing, "fan_out", record_fan_out)
    [event] = (await _list(client, tenant, provider="telegram"))["data"]

    response = await client.post(f"/v1/events/{event['id']}/replay", headers=tenant.headers)
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    await settle(runtime, job_runner)

    assert fanned_out == [event["id"]]
    again = (await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)).json()
    assert again["status"] == "processed"
    assert again["type"] == "message.received"
    assert again["attempts"] == 1
