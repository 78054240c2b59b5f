"""The whole path: a signed platform webhook → ingest → process_event (normalise, fan_out) →
deliver → the subscriber, which verifies the Standard Webhooks signature."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.kit.runtime import Runtime
from tests.conftest import JobRunner, TenantCtx
from tests.subscriptions.support import Subscriber, deliveries, subscribe
from tests.webhooks.support import (
    SCHEMES_BY_NAME,
    create_endpoint,
    endpoint_events,
    now,
    receiver_path,
    send,
    settle,
)


@pytest.mark.usefixtures("policy")
async def test_platform_webhook_reaches_the_subscriber_as_a_unified_event(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    subscriber: Subscriber,
    job_runner: JobRunner,
) -> None:
    scheme = SCHEMES_BY_NAME["slack"]
    endpoint = await create_endpoint(client, tenant, scheme.provider, scheme.config)
    messages = await subscribe(client, tenant, subscriber, "/messages", ["message.*"])
    await subscribe(client, tenant, subscriber, "/reactions", ["reaction.*"])
    other = await subscribe(
        client, tenant, subscriber, "/elsewhere", ["*"], endpoint_ids=[endpoint["id"]]
    )

    response = await send(client, receiver_path(endpoint), scheme.deliver(scheme.body, now()))
    assert response.status_code == scheme.ack_status, response.text
    await settle(runtime, job_runner)
    await job_runner.drain()

    [stored] = await endpoint_events(client, tenant, endpoint["id"])
    [received] = await subscriber.wait_for("/messages", 1)
    assert received.verified_with == [messages["secret"]]
    assert received.webhook_id == stored["id"]
    body = received.json
    assert body["type"] == scheme.expected_type == "message.received"
    assert body["provider"] == "slack"
    assert body["endpoint_id"] == endpoint["id"]
    assert body["raw"] == json.loads(scheme.body)
    assert body["data"]["conversation"]["id"]
    assert body["data"]["text"] == json.loads(scheme.body)["event"]["text"]
    assert subscriber.at("/reactions") == []
    [also] = subscriber.at("/elsewhere")
    assert also.webhook_id == stored["id"]
    assert also.verified_with == [other["secret"]]
    [delivery] = await deliveries(client, tenant, messages["id"])
    assert delivery["status"] == "succeeded"
