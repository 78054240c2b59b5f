"""``/v1/webhook-endpoints``: validation per provider, write-only secrets, rotation, links to
connections, tenant isolation and pagination."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import Connection
from tests.conftest import TenantCtx
from tests.webhooks.support import SCHEMES, SLACK_SECRET, Scheme, create_endpoint

URL = "/v1/webhook-endpoints"


async def _connection(runtime: Runtime, tenant: TenantCtx, provider: str) -> str:
    async with runtime.sessionmaker() as session:
        row = Connection(
            id=new_id("con"),
            tenant_id=tenant.tenant.id,
            provider=provider,
            auth_kind="credentials",
            account={"bot_user_id": "U0BOT00001"},
        )
        session.add(row)
        await session.commit()
        return row.id


@pytest.mark.parametrize("scheme", SCHEMES, ids=str)
async def test_secrets_are_write_only(
    scheme: Scheme, client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    created = await create_endpoint(client, tenant, scheme.provider, scheme.config)
    listed = await client.get(URL, headers=tenant.headers)
    fetched = await client.get(f"{URL}/{created['id']}", headers=tenant.headers)
    for text in (str(created), listed.text, fetched.text):
        for secret in scheme.secret_values:
            assert secret not in text
    assert set(created["secrets_set"]) | set(created["config"]) >= {
        k for k in scheme.config if k != "mode"
    }

    async with runtime.engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    sa.text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": created["id"]}
                )
            )
            .mappings()
            .one()
        )
    for secret in scheme.secret_values:
        assert secret not in repr(dict(row))


async def test_create_returns_url_and_public_config(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    created = await create_endpoint(
        client,
        tenant,
        "generic",
        {"secret": "s3cr3t-value", "signature_header": "X-Sig", "event_type_path": "kind"},
        description="billing",
    )
    assert created["id"].startswith("whe_")
    assert created["url"] == f"http://testserver/webhooks/generic/{created['id']}"
    assert created["config"] == {
        "signature_header": "X-Sig",
        "algorithm": "sha256",
        "encoding": "hex",
        "prefix": "",
        "event_type_path": "kind",
    }
    assert created["secrets_set"] == ["secret"]
    assert created["description"] == "billing"
    assert created["enabled"] is True
    assert created["previous_config_valid_until"] is None


@pytest.mark.parametrize(
    ("provider", "config", "field"),
    [
        ("slack", {}, "signing_secret"),
        ("slack", {"signing_secret": "x", "extra": 1}, "extra"),
        ("discord", {"public_key": "not-hex"}, "public_key"),
        ("telegram", {"secret_token": "has spaces!"}, "secret_token"),
        (
            "wecom",
            {"token": "t", "encoding_aes_key": "short", "corp_id": "ww1"},
            "encoding_aes_key",
        ),
        ("generic", {"secret": "s", "signature_header": "X-Sig", "algorithm": "md5"}, "algorithm"),
    ],
)
async def test_invalid_config_is_422_naming_the_field_without_echoing_it(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, config: dict[str, Any], field: str
) -> None:
    response = await client.post(
        URL, json={"provider": provider, "config": config}, headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["loc"] == ["body", "config", field]
    for value in config.values():
        if isinstance(value, str) and len(value) > 2:
            assert value not in response.text


async def test_dingtalk_mode_requirements_are_named(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    response = await client.post(
        URL, json={"provider": "dingtalk", "config": {"mode": "robot"}}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert "app_secret" in response.json()["errors"][0]["msg"]


async def test_unknown_provider_is_422(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    response = await client.post(
        URL, json={"provider": "myspace", "config": {}}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "provider"]


async def test_connection_must_belong_to_the_tenant_and_provider(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx, runtime: Runtime
) -> None:
    config = {"signing_secret": SLACK_SECRET}
    own = await _connection(runtime, tenant, "slack")
    foreign = await _connection(runtime, other_tenant, "slack")
    telegram = await _connection(runtime, tenant, "telegram")

    linked = await create_endpoint(client, tenant, "slack", config, connection_id=own)
    assert linked["connection_id"] == own

    body = {"provider": "slack", "config": config, "connection_id": foreign}
    response = await client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "connection_not_found"

    body["connection_id"] = telegram
    response = await client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 422

    unlinked = await client.patch(
        f"{URL}/{linked['id']}", json={"connection_id": None}, headers=tenant.headers
    )
    assert unlinked.json()["connection_id"] is None


async def test_patch_merges_config_and_rotates(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    created = await create_endpoint(
        client, tenant, "generic", {"secret": "first-secret", "signature_header": "X-Sig"}
    )
    url = f"{URL}/{created['id']}"

    renamed = await client.patch(url, json={"description": "renamed"}, headers=tenant.headers)
    assert renamed.json()["description"] == "renamed"
    assert renamed.json()["previous_config_valid_until"] is None  # no config change

    rotated = await client.patch(
        url, json={"config": {"secret": "second-secret"}}, headers=tenant.headers
    )
    assert rotated.status_code == 200
    assert rotated.json()["config"]["signature_header"] == "X-Sig"  # merged, not replaced
    assert rotated.json()["previous_config_valid_until"] is not None

    cleared = await client.patch(
        url, json={"config": {"prefix": "sha256="}}, headers=tenant.headers
    )
    assert cleared.json()["config"]["prefix"] == "sha256="

    bad = await client.patch(url, json={"config": {"secret": None}}, headers=tenant.headers)
    assert bad.status_code == 422  # removing a required key
    assert bad.json()["errors"][0]["loc"] == ["body", "config", "secret"]


async def test_other_tenants_endpoint_is_404(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    created = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    url = f"{URL}/{created['id']}"
    assert (await client.get(url, headers=other_tenant.headers)).status_code == 404
    patch = await client.patch(url, json={"enabled": False}, headers=other_tenant.headers)
    assert patch.status_code == 404
    assert (await client.delete(url, headers=other_tenant.headers)).status_code == 404
    listed = await client.get(URL, headers=other_tenant.headers)
    assert created["id"] not in listed.text
    assert (await client.get(url, headers=tenant.headers)).json()["enabled"] is True


async def test_list_is_cursor_paginated(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    ids = [
        (await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET}))["id"]
        for _ in range(3)
    ]
    first = (await client.get(URL, params={"limit": 2}, headers=tenant.headers)).json()
    assert [e["id"] for e in first["data"]] == ids[::-1][:2]
    second = (
        await client.get(
            URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.headers
        )
    ).json()
    assert [e["id"] for e in second["data"]] == ids[:1]
    assert second["next_cursor"] is None


async def test_requires_an_api_key(client: httpx.AsyncClient) -> None:
    assert (await client.get(URL)).status_code == 401


async def test_openapi_documents_the_receive_operations(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    operation_ids = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert {
        "create_webhook_endpoint",
        "list_webhook_endpoints",
        "get_webhook_endpoint",
        "update_webhook_endpoint",
        "delete_webhook_endpoint",
        "receive_webhook",
        "verify_webhook_url",
        "list_events",
        "get_event",
        "replay_event",
    } <= operation_ids
