"""``GET /v1/audit``: the tenant's trail, newest first, filterable, paginated, tenant-scoped."""

from __future__ import annotations

import asyncio

import httpx

from gateway.audit import service as audit
from gateway.kit.runtime import Runtime
from tests.conftest import TenantCtx


async def test_audit_lists_records_newest_first_with_filters(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx, runtime: Runtime
) -> None:
    async with runtime.sessionmaker() as session:
        for i in range(3):
            await asyncio.sleep(0.002)  # ids order by millisecond
            await audit.record(
                session,
                tenant.tenant.id,
                "connection.refresh",
                "failure" if i == 2 else "success",
                provider="discord",
                connection_id="con_a",
                error_code="oauth_token_endpoint_unavailable" if i == 2 else None,
            )
        await asyncio.sleep(0.002)
        await audit.record(session, tenant.tenant.id, "oauth_client.set", "success")
        await audit.record(session, other_tenant.tenant.id, "oauth_client.set", "success")
        await session.commit()

    page = (await client.get("/v1/audit?limit=2", headers=tenant.headers)).json()
    assert [r["action"] for r in page["data"]] == ["oauth_client.set", "connection.refresh"]
    assert page["data"][1]["error_code"] == "oauth_token_endpoint_unavailable"
    rest = await client.get(
        f"/v1/audit?limit=2&cursor={page['next_cursor']}", headers=tenant.headers
    )
    assert len(rest.json()["data"]) == 2
    assert rest.json()["next_cursor"] is None

    filtered = await client.get(
        "/v1/audit?connection_id=con_a&action=connection.refresh", headers=tenant.headers
    )
    assert len(filtered.json()["data"]) == 3
    theirs = (await client.get("/v1/audit", headers=other_tenant.headers)).json()["data"]
    assert len(theirs) == 1


async def test_audit_requires_an_api_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/audit")).status_code == 401
