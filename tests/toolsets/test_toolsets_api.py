"""``/v1/toolsets``: import, list, get, delete; secrets stay write-only."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from gateway.kit.runtime import Runtime
from tests.conftest import TenantCtx
from tests.tools.support import create_toolset, fixture_text, invoke, make_connection

SECRET = "tk_live_0000aaaa1111bbbb2222"


@pytest.mark.parametrize(
    "openapi",
    [
        pytest.param(lambda: fixture_text("tasks.json"), id="json-text"),
        pytest.param(lambda: fixture_text("tasks.yaml"), id="yaml-text"),
        pytest.param(lambda: json.loads(fixture_text("tasks.json")), id="object"),
    ],
)
async def test_import_from_json_yaml_or_an_object(
    openapi: object, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    created = await create_toolset(
        client,
        tenant.headers,
        name="tasks-api",
        openapi=openapi(),  # type: ignore[operator]
    )
    assert created["name"] == "tasks-api"
    assert created["title"] == "Tasks API"
    assert created["openapi_version"] == "3.0.3"
    assert created["server_url"] == "https://tasks.example.com/api/v1"  # variables substituted
    assert created["tools"] == sorted(
        f"tasks-api.{op}"
        for op in ("createTask", "deleteTask", "getHealth", "getTask", "listTasks", "updateTask")
    )
    assert [s["path"] for s in created["skipped"]] == [
        "/paths/~1projects~1{projectId}~1tasks~1{taskId}~1attachments/post"
    ]


async def test_secrets_are_write_only(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    created = await create_toolset(
        client, tenant.headers, auth={"type": "basic", "username": "bot", "password": SECRET}
    )
    fetched = await client.get(f"/v1/toolsets/{created['id']}", headers=tenant.headers)
    listed = await client.get("/v1/toolsets", headers=tenant.headers)
    for response in (fetched, listed):
        assert response.status_code == 200
        assert SECRET not in response.text
        assert "bot" not in response.text
    assert fetched.json()["auth"] == {
        "type": "basic",
        "in": None,
        "name": None,
        "connection_id": None,
    }
    async with runtime.engine.connect() as conn:
        from sqlalchemy import text

        stored = (
            await conn.execute(
                text("SELECT auth_secret_enc FROM toolsets WHERE id = :id"), {"id": created["id"]}
            )
        ).scalar_one()
    assert stored.startswith("enc1:")
    assert SECRET not in stored


async def test_list_pages_newest_first_and_only_this_tenant(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    names = [f"page-{i}" for i in range(3)]
    for name in names:
        await create_toolset(client, tenant.headers, name=name)
    await create_toolset(client, other_tenant.headers, name="page-x")
    first = (await client.get("/v1/toolsets?limit=2", headers=tenant.headers)).json()
    second = (
        await client.get(
            f"/v1/toolsets?limit=2&cursor={first['next_cursor']}", headers=tenant.headers
        )
    ).json()
    assert [t["name"] for t in first["data"] + second["data"]] == names[::-1]
    assert second["next_cursor"] is None
    assert len(first["data"][0]["tools"]) == 6


async def test_delete_removes_the_tools(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    created = await create_toolset(client, tenant.headers)
    tool = f"{created['name']}.getHealth"
    assert (await client.get(f"/v1/tools/{tool}", headers=tenant.headers)).status_code == 200
    foreign = await client.delete(f"/v1/toolsets/{created['id']}", headers=other_tenant.headers)
    assert foreign.status_code == 404
    deleted = await client.delete(f"/v1/toolsets/{created['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/v1/toolsets/{created['id']}", headers=tenant.headers)
    ).status_code == 404
    assert (await client.get(f"/v1/tools/{tool}", headers=tenant.headers)).status_code == 404
    assert (await invoke(client, tenant.headers, tool, {})).status_code == 404
    # The name is free again, and the new toolset's tools are the ones served.
    again = await create_toolset(
        client, tenant.headers, name=created["name"], server_url="https://other.example.com"
    )
    fetched = await client.get(f"/v1/toolsets/{again['id']}", headers=tenant.headers)
    assert fetched.json()["server_url"] == "https://other.example.com"


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"name": "slack"}, 422, "toolset_name_reserved"),
        ({"name": "message"}, 422, "toolset_name_reserved"),
        ({"name": "Bad_Name"}, 422, "validation_failed"),
        ({"server_url": "/relative"}, 422, "server_url_required"),
        ({"server_url": "https://api.example.com/?q=1"}, 422, "invalid_server_url"),
        (
            {"auth": {"type": "oauth_connection", "connection_id": "con_nope"}},
            404,
            "connection_not_found",
        ),
        (
            {"auth": {"type": "api_key", "scheme": "BasicAuth", "value": "k"}},
            422,
            "auth_incomplete",
        ),
        (
            {
                "openapi": {"openapi": "3.0.0", "info": {}, "paths": {"/x": {"get": {}}}},
                "server_url": "https://api.example.com",
                "auth": {"type": "api_key", "value": "k"},
            },
            422,
            "auth_incomplete",
        ),
        ({"openapi": "openapi: 3.0.0\npaths: {}\n"}, 422, "invalid_openapi"),
    ],
)
async def test_bad_requests_are_refused_before_anything_is_stored(
    changes: dict[str, object],
    status: int,
    code: str,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
) -> None:
    body = {"name": "refused", "openapi": fixture_text("tasks.json"), **changes}
    response = await client.post("/v1/toolsets", json=body, headers=tenant.headers)
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert (await client.get("/v1/toolsets", headers=tenant.headers)).json()["data"] == []


async def test_an_invalid_document_is_a_422_listing_each_problem(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    document = yaml.safe_load(fixture_text("tasks.yaml"))
    document["paths"]["/projects/{projectId}/tasks"]["get"]["parameters"].append(
        {"$ref": "#/components/parameters/Nope"}
    )
    document["paths"]["/health"]["get"]["operationId"] = "getTask"
    response = await client.post(
        "/v1/toolsets", json={"name": "broken", "openapi": document}, headers=tenant.headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_openapi"
    assert {e["path"] for e in body["errors"]} == {
        "/paths/~1projects~1{projectId}~1tasks/get/parameters/4/$ref",
        "/paths/~1projects~1{projectId}~1tasks~1{taskId}/get/operationId",
    }


async def test_duplicate_name_is_a_conflict(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    await create_toolset(client, tenant.headers, name="dup")
    again = await client.post(
        "/v1/toolsets",
        json={"name": "dup", "openapi": fixture_text("tasks.json")},
        headers=tenant.headers,
    )
    assert (again.status_code, again.json()["code"]) == (409, "toolset_exists")


async def test_oauth_connection_binding_shows_the_connection(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    connection_id = await make_connection(runtime, tenant.tenant.id, "tasks-oauth", "tok-123456")
    created = await create_toolset(
        client, tenant.headers, auth={"type": "oauth_connection", "connection_id": connection_id}
    )
    assert created["auth"] == {
        "type": "oauth_connection",
        "in": None,
        "name": None,
        "connection_id": connection_id,
    }
