"""What the receiver refuses: bad or missing signatures, stale timestamps (injected clock),
unknown/disabled/deleted endpoints, provider mismatches, oversized bodies — never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.kit.runtime import Runtime
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

EVENT = json_bytes(
    {
        "type": "event_callback",
        "event_id": "Ev0REJECT1",
        "event": {"type": "message", "text": "hi", "channel": "C1", "ts": "1.1"},
    }
)


def _rejected(provider: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "gateway_webhooks_rejected_total", {"provider": provider, "reason": reason}
    )
    return value or 0.0


@pytest.fixture
def clock(runtime: Runtime) -> Iterator[FakeClock]:
    state = state_of(runtime)
    original = state.clock
    fake = FakeClock(float(now()))
    state.clock = fake
    yield fake
    state.clock = original


@pytest.fixture
async def slack_endpoint(client: httpx.AsyncClient, tenant: TenantCtx) -> dict[str, str]:
    return await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})


async def test_wrong_secret_is_401_and_counted(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, str]
) -> None:
    before = _rejected("slack", "signature_invalid")
    delivery = signing.sign_slack("not-the-secret", EVENT, now())
    response = await send(client, receiver_path(slack_endpoint), delivery)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "signature_invalid"
    assert _rejected("slack", "signature_invalid") == before + 1
    assert await endpoint_events(client, tenant, slack_endpoint["id"]) == []


async def test_one_flipped_body_bit_is_401(
    client: httpx.AsyncClient, slack_endpoint: dict[str, str]
) -> None:
    delivery = signing.sign_slack(SLACK_SECRET, EVENT, now())
    tampered = bytearray(delivery.body)
    tampered[10] ^= 0x01
    response = await send(
        client,
        receiver_path(slack_endpoint),
        signing.SignedDelivery(bytes(tampered), delivery.headers),
    )
    assert response.status_code == 401


async def test_missing_signature_headers_is_401(
    client: httpx.AsyncClient, slack_endpoint: dict[str, str]
) -> None:
    response = await client.post(receiver_path(slack_endpoint), content=EVENT)
    assert response.status_code == 401
    assert response.json()["code"] == "signature_missing"


@pytest.mark.parametrize(
    ("skew", "accepted"), [(-299, True), (299, True), (-301, False), (301, False)]
)
async def test_timestamp_window_with_injected_clock(
    client: httpx.AsyncClient,
    slack_endpoint: dict[str, str],
    clock: FakeClock,
    skew: int,
    accepted: bool,
) -> None:
    signed_at = int(clock.now)
    clock.advance(-skew)  # a request signed `skew` seconds away from the receiver's now
    body = EVENT.replace(b"Ev0REJECT1", f"Ev0SKEW{skew}".encode())
    response = await send(
        client, receiver_path(slack_endpoint), signing.sign_slack(SLACK_SECRET, body, signed_at)
    )
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 401
        assert response.json()["code"] == "timestamp_stale"


async def test_replayed_capture_after_301_seconds_is_refused(
    client: httpx.AsyncClient, slack_endpoint: dict[str, str], clock: FakeClock
) -> None:
    delivery = signing.sign_slack(
        SLACK_SECRET, EVENT.replace(b"REJECT1", b"REPLAY1"), int(clock.now)
    )
    assert (await send(client, receiver_path(slack_endpoint), delivery)).status_code == 200
    clock.advance(301)
    response = await send(client, receiver_path(slack_endpoint), delivery)
    assert response.status_code == 401
    assert response.json()["code"] == "timestamp_stale"


async def test_unknown_endpoint_is_404(client: httpx.AsyncClient) -> None:
    delivery = signing.sign_slack(SLACK_SECRET, EVENT, now())
    response = await send(client, "/webhooks/slack/whe_doesnotexist", delivery)
    assert response.status_code == 404
    assert response.json()["code"] == "webhook_endpoint_not_found"
    response = await send(client, "/webhooks/nosuchprovider/whe_doesnotexist", delivery)
    assert response.status_code == 404


async def test_provider_mismatch_is_404(
    client: httpx.AsyncClient, slack_endpoint: dict[str, str]
) -> None:
    delivery = signing.sign_slack(SLACK_SECRET, EVENT, now())
    response = await send(client, receiver_path(slack_endpoint, "discord"), delivery)
    assert response.status_code == 404
    response = await send(client, receiver_path(slack_endpoint, "feishu"), delivery)
    assert response.status_code == 404


async def test_disabled_then_deleted_endpoint_is_404(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, str]
) -> None:
    path = receiver_path(slack_endpoint)
    url = f"/v1/webhook-endpoints/{slack_endpoint['id']}"
    delivery = signing.sign_slack(SLACK_SECRET, EVENT, now())
    assert (await send(client, path, delivery)).status_code == 200

    patched = await client.patch(url, json={"enabled": False}, headers=tenant.headers)
    assert patched.status_code == 200
    assert (await send(client, path, delivery)).status_code == 404

    await client.patch(url, json={"enabled": True}, headers=tenant.headers)
    assert (await send(client, path, delivery)).status_code == 200

    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert (await send(client, path, delivery)).status_code == 404


async def test_body_over_the_limit_is_413(
    client: httpx.AsyncClient, slack_endpoint: dict[str, str], runtime: Runtime
) -> None:
    body = b"{" + b" " * runtime.settings.max_body_bytes + b"}"
    delivery = signing.sign_slack(SLACK_SECRET, body, now())
    response = await send(client, receiver_path(slack_endpoint), delivery)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_authenticated_garbage_is_400_not_500(
    client: httpx.AsyncClient, slack_endpoint: dict[str, str]
) -> None:
    delivery = signing.sign_slack(SLACK_SECRET, b"{not json", now())
    response = await send(client, receiver_path(slack_endpoint), delivery)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"


async def test_hostile_event_ids_are_stored_safely(
    client: httpx.AsyncClient, tenant: TenantCtx, slack_endpoint: dict[str, str]
) -> None:
    """A NUL, a lone surrogate or a 10 kB id must not fail a batch (and with it other tenants'
    deliveries): such ids are replaced by their digest."""
    for event_id in ("nul\\u0000id", "lone\\ud800", "x" * 10_000):
        body = b'{"type":"event_callback","event_id":"' + event_id.encode() + b'","event":{}}'
        response = await send(
            client, receiver_path(slack_endpoint), signing.sign_slack(SLACK_SECRET, body, now())
        )
        assert response.status_code == 200, response.text
    stored = await endpoint_events(client, tenant, slack_endpoint["id"])
    assert len(stored) == 3
    assert all(e["provider_event_id"].startswith("sha256:") for e in stored)
