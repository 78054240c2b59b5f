"""API-key authentication and tenant isolation of API keys."""

from __future__ import annotations

import httpx

from tests.conftest import TenantCtx


async def test_valid_key_identifies_the_tenant(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    r = await client.get("/v1/me", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["id"] == tenant.tenant.id


async def test_missing_key_is_401_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/me")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_api_key"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_wrong_key_is_401(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    tampered = tenant.api_key[:-4] + ("aaaa" if not tenant.api_key.endswith("aaaa") else "bbbb")
    for bad in (tampered, "gwk_nope_nope", "not-a-key", "Basic abc"):
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, bad
    r = await client.get("/v1/me", headers={"Authorization": f"Basic {tenant.api_key}"})
    assert r.status_code == 401


async def test_revoked_key_is_401(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    created = await client.post("/v1/api-keys", json={"label": "ci"}, headers=tenant.headers)
    assert created.status_code == 201
    second = created.json()
    assert second["api_key"].startswith("gwk_")
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {second['api_key']}"})
    assert r.status_code == 200
    revoked = await client.delete(f"/v1/api-keys/{second['id']}", headers=tenant.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {second['api_key']}"})
    assert r.status_code == 401
    assert r.json()["code"] == "api_key_revoked"
    # the key that was not revoked keeps working
    assert (await client.get("/v1/me", headers=tenant.headers)).status_code == 200


async def test_listing_never_shows_key_material(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    r = await client.get("/v1/api-keys", headers=tenant.headers)
    assert r.status_code == 200
    secret_part = tenant.api_key.split("_", 2)[2]
    assert secret_part not in r.text
    assert all("api_key" not in k and "key_hash" not in k for k in r.json())


async def test_other_tenants_key_is_404(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    theirs = (await client.get("/v1/api-keys", headers=other_tenant.headers)).json()[0]["id"]
    r = await client.delete(f"/v1/api-keys/{theirs}", headers=tenant.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "api_key_not_found"
    # and it still works for its owner
    assert (await client.get("/v1/me", headers=other_tenant.headers)).status_code == 200


async def test_cached_key_is_refused_right_after_revocation(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    created = (await client.post("/v1/api-keys", json={}, headers=tenant.headers)).json()
    theirs = {"Authorization": f"Bearer {created['api_key']}"}
    for _ in range(3):  # warm the per-process cache
        assert (await client.get("/v1/me", headers=theirs)).status_code == 200
    await client.delete(f"/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert (await client.get("/v1/me", headers=theirs)).status_code == 401
