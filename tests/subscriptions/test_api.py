"""Subscription management: create/read/update/delete, validation, SSRF, tenant isolation,
secret hygiene and rotation."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from gateway.kit.runtime import Runtime
from gateway.kit.ssrf import EgressPolicy
from gateway.models import Subscription
from tests.conftest import TenantCtx
from tests.subscriptions.support import Subscriber, make_endpoint, subscribe


async def test_create_returns_secret_once(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    r = await client.post(
        "/v1/subscriptions",
        json={
            "url": "http://127.0.0.1:9/hook",
            "event_types": ["message.*", "reaction.added"],
            "providers": ["slack", "telegram"],
            "description": "bot",
        },
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    assert created["id"].startswith("sub_")
    assert created["event_types"] == ["message.*", "reaction.added"]
    assert created["providers"] == ["slack", "telegram"]
    assert created["endpoint_ids"] is None
    assert created["enabled"] is True
    assert created["disabled_reason"] is None

    got = await client.get(f"/v1/subscriptions/{created['id']}", headers=tenant.headers)
    listed = await client.get("/v1/subscriptions", headers=tenant.headers)
    for response in (got, listed):
        assert response.status_code == 200
        assert secret not in response.text
        assert '"secret"' not in response.text
    assert [s["id"] for s in listed.json()["data"]] == [created["id"]]

    async with runtime.sessionmaker() as session:
        stored = (
            await session.execute(
                sa.select(Subscription.secret_enc).where(Subscription.id == created["id"])  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert stored.startswith("enc1:")
    assert secret.removeprefix("whsec_") not in stored


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://127.0.0.1/h", "event_types": []}, "validation_failed"),
        ({"url": "http://127.0.0.1/h", "event_types": ["mesage.*"]}, "validation_failed"),
        ({"url": "http://127.0.0.1/h", "event_types": ["message"]}, "validation_failed"),
        (
            {"url": "http://127.0.0.1/h", "event_types": ["*"], "providers": ["Bad Id"]},
            "validation_failed",
        ),
        ({"url": "http://127.0.0.1/h", "event_types": ["*"], "secret": "x"}, "validation_failed"),
        ({"url": "http://10.1.2.3/hook", "event_types": ["*"]}, "destination_blocked"),
        (
            {"url": "http://169.254.169.254/latest/meta-data", "event_types": ["*"]},
            "destination_blocked",
        ),
        ({"url": "http://[::ffff:10.0.0.1]/h", "event_types": ["*"]}, "destination_blocked"),
        ({"url": "http://user:pw@127.0.0.1/h", "event_types": ["*"]}, "destination_blocked"),
        ({"url": "ftp://127.0.0.1/h", "event_types": ["*"]}, "destination_blocked"),
        ({"url": "not a url", "event_types": ["*"]}, "destination_blocked"),
    ],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient, tenant: TenantCtx, body: dict[str, object], code: str
) -> None:
    r = await client.post("/v1/subscriptions", json=body, headers=tenant.headers)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    listed = await client.get("/v1/subscriptions", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_loopback_refused_without_allowlist(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loopback is reachable only through the development allow-list."""
    ok = await client.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1:8080/h", "event_types": ["*"]},
        headers=tenant.headers,
    )
    assert ok.status_code == 201
    monkeypatch.setattr(runtime, "egress", EgressPolicy())
    for url in ("http://127.0.0.1:8080/h", "http://[::1]/h", "http://0x7f.1/h"):
        r = await client.post(
            "/v1/subscriptions", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert r.status_code == 422, url
        assert r.json()["code"] == "destination_blocked", url
    patched = await client.patch(
        f"/v1/subscriptions/{ok.json()['id']}",
        json={"url": "http://127.0.0.2/other"},
        headers=tenant.headers,
    )
    assert patched.status_code == 422
    assert patched.json()["code"] == "destination_blocked"
    unchanged = await client.get(f"/v1/subscriptions/{ok.json()['id']}", headers=tenant.headers)
    assert unchanged.json()["url"] == "http://127.0.0.1:8080/h"


async def test_endpoint_filter_must_name_own_endpoints(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx, runtime: Runtime
) -> None:
    mine = await make_endpoint(runtime, tenant.tenant.id)
    theirs = await make_endpoint(runtime, other_tenant.tenant.id)
    ok = await client.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1/h", "event_types": ["*"], "endpoint_ids": [mine]},
        headers=tenant.headers,
    )
    assert ok.status_code == 201
    assert ok.json()["endpoint_ids"] == [mine]
    bad = await client.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1/h", "event_types": ["*"], "endpoint_ids": [mine, theirs]},
        headers=tenant.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "unknown_endpoint"
    assert bad.json()["endpoint_ids"] == [theirs]


async def test_update_and_disable_and_delete(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    created = (
        await client.post(
            "/v1/subscriptions",
            json={"url": "http://127.0.0.1/a", "event_types": ["*"], "providers": ["slack"]},
            headers=tenant.headers,
        )
    ).json()
    sid = created["id"]
    r = await client.patch(
        f"/v1/subscriptions/{sid}",
        json={"event_types": ["message.received"], "providers": None, "enabled": False},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event_types"] == ["message.received"]
    assert body["providers"] is None
    assert body["enabled"] is False
    assert body["disabled_reason"]
    assert body["disabled_at"]
    assert body["url"] == "http://127.0.0.1/a"

    enabled = await client.patch(
        f"/v1/subscriptions/{sid}", json={"enabled": True}, headers=tenant.headers
    )
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None

    bad = await client.patch(
        f"/v1/subscriptions/{sid}", json={"event_types": ["nope.*"]}, headers=tenant.headers
    )
    assert bad.status_code == 422

    deleted = await client.delete(f"/v1/subscriptions/{sid}", headers=tenant.headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == sid
    gone = await client.get(f"/v1/subscriptions/{sid}", headers=tenant.headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "subscription_not_found"


async def test_list_is_paginated(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    ids = []
    for n in range(3):
        r = await client.post(
            "/v1/subscriptions",
            json={"url": f"http://127.0.0.1/{n}", "event_types": ["*"]},
            headers=tenant.headers,
        )
        ids.append(r.json()["id"])
    first = (await client.get("/v1/subscriptions?limit=2", headers=tenant.headers)).json()
    assert [s["id"] for s in first["data"]] == ids[::-1][:2]
    second = (
        await client.get(
            f"/v1/subscriptions?limit=2&cursor={first['next_cursor']}", headers=tenant.headers
        )
    ).json()
    assert [s["id"] for s in second["data"]] == [ids[0]]
    assert second["next_cursor"] is None


async def test_other_tenants_subscription_is_404(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    sid = (
        await client.post(
            "/v1/subscriptions",
            json={"url": "http://127.0.0.1/x", "event_types": ["*"]},
            headers=tenant.headers,
        )
    ).json()["id"]
    h = other_tenant.headers
    calls = [
        client.get(f"/v1/subscriptions/{sid}", headers=h),
        client.patch(f"/v1/subscriptions/{sid}", json={"enabled": False}, headers=h),
        client.post(f"/v1/subscriptions/{sid}/rotate-secret", headers=h),
        client.post(
            f"/v1/subscriptions/{sid}/replay", json={"since": "2020-01-01T00:00:00Z"}, headers=h
        ),
        client.get(f"/v1/subscriptions/{sid}/deliveries", headers=h),
        client.delete(f"/v1/subscriptions/{sid}", headers=h),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 404, r.request.url
        assert r.json()["code"] == "subscription_not_found"
    assert (await client.get("/v1/subscriptions", headers=h)).json()["data"] == []
    still = await client.get(f"/v1/subscriptions/{sid}", headers=tenant.headers)
    assert still.status_code == 200
    assert still.json()["enabled"] is True
    unauthenticated = await client.get(f"/v1/subscriptions/{sid}")
    assert unauthenticated.status_code == 401


async def test_rotate_secret_returns_new_secret_with_overlap(
    client: httpx.AsyncClient, tenant: TenantCtx, subscriber: Subscriber
) -> None:
    created = await subscribe(client, tenant, subscriber, "/rot")
    r = await client.post(
        f"/v1/subscriptions/{created['id']}/rotate-secret", headers=tenant.headers
    )
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    shown = await client.get(f"/v1/subscriptions/{created['id']}", headers=tenant.headers)
    assert shown.json()["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert rotated["secret"] not in shown.text

    no_overlap = await client.post(
        f"/v1/subscriptions/{created['id']}/rotate-secret",
        json={"overlap_seconds": 0},
        headers=tenant.headers,
    )
    assert no_overlap.status_code == 200
    assert no_overlap.json()["previous_secret_expires_at"] is None


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    expected = {
        ("/v1/subscriptions", "post"): "create_subscription",
        ("/v1/subscriptions", "get"): "list_subscriptions",
        ("/v1/subscriptions/{subscription_id}", "get"): "get_subscription",
        ("/v1/subscriptions/{subscription_id}", "patch"): "update_subscription",
        ("/v1/subscriptions/{subscription_id}", "delete"): "delete_subscription",
        ("/v1/subscriptions/{subscription_id}/rotate-secret", "post"): "rotate_subscription_secret",
        ("/v1/subscriptions/{subscription_id}/replay", "post"): "replay_subscription_events",
        ("/v1/subscriptions/{subscription_id}/deliveries", "get"): "list_subscription_deliveries",
        ("/v1/deliveries/{delivery_id}/retry", "post"): "retry_delivery",
    }
    for (path, method), operation_id in expected.items():
        operation = spec["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["tags"] == ["subscriptions"]
        assert operation["description"]
        assert "401" in operation["responses"]
    assert "409" in spec["paths"]["/v1/deliveries/{delivery_id}/retry"]["post"]["responses"]


async def test_replay_refuses_a_number_or_a_bare_date_as_since(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    """A Unix number or a date without a time would silently select the wrong range."""
    sid = (
        await client.post(
            "/v1/subscriptions",
            json={"url": "http://127.0.0.1/x", "event_types": ["*"]},
            headers=tenant.headers,
        )
    ).json()["id"]
    for since in (1_700_000_000, "2026-01-31"):
        r = await client.post(
            f"/v1/subscriptions/{sid}/replay", json={"since": since}, headers=tenant.headers
        )
        assert r.status_code == 422, since
        assert r.json()["errors"][0]["loc"][-1] == "since"
    ok = await client.post(
        f"/v1/subscriptions/{sid}/replay",
        json={"since": "2026-01-31T00:00:00Z"},
        headers=tenant.headers,
    )
    assert ok.status_code == 202
