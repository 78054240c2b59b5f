"""``GET /v1/tools``: every tool, good enough to hand to an LLM as function definitions."""

from __future__ import annotations

import re

import httpx
import pytest
from jsonschema import Draft202012Validator

from gateway.providers.registry import BUILTIN_TOOLS
from tests.conftest import TenantCtx
from tests.tools.support import create_toolset

PLATFORM_TOOLS = {
    "slack.send_message",
    "discord.send_message",
    "telegram.send_message",
    "lark.send_message",
    "dingtalk.send_message",
    "wecom.send_message",
    "message.reply",
}
BUILTINS = set(BUILTIN_TOOLS) | {"message.reply"}
LLM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


async def test_catalogue_lists_builtins_and_only_this_tenants_custom_tools(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    mine = await create_toolset(client, tenant.headers, server_url="https://api.example.com")
    theirs = await create_toolset(client, other_tenant.headers, server_url="https://x.example.com")
    response = await client.get("/v1/tools", headers=tenant.headers)
    assert response.status_code == 200
    tools = {t["name"]: t for t in response.json()["data"]}
    assert PLATFORM_TOOLS <= BUILTINS
    assert set(tools) == BUILTINS | set(mine["tools"])
    assert not set(theirs["tools"]) & set(tools)
    for tool in tools.values():
        assert len(tool["description"]) >= 10
        Draft202012Validator.check_schema(tool["parameters"])
        assert tool["parameters"]["type"] == "object"
    slack = tools["slack.send_message"]
    assert (slack["kind"], slack["provider"], slack["requires_connection"]) == (
        "builtin",
        "slack",
        True,
    )
    reply = tools["message.reply"]
    assert (reply["provider"], reply["requires_connection"]) == (None, False)
    custom = tools[f"{mine['name']}.createTask"]
    assert (custom["kind"], custom["toolset_id"]) == ("custom", mine["id"])
    assert custom["parameters"]["required"] == ["projectId", "body"]


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
async def test_llm_export_formats(fmt: str, client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    toolset = await create_toolset(client, tenant.headers, server_url="https://api.example.com")
    response = await client.get("/v1/tools", params={"format": fmt}, headers=tenant.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    if fmt == "openai":
        assert {t["type"] for t in data} == {"function"}
        entries = [(t["function"]["name"], t["function"]["parameters"]) for t in data]
    else:
        assert all(set(t) == {"name", "description", "input_schema"} for t in data)
        entries = [(t["name"], t["input_schema"]) for t in data]
    names = {name for name, _ in entries}
    assert all(LLM_NAME.match(name) for name in names)
    assert {"slack__send_message", "message__reply", f"{toolset['name']}__listTasks"} <= names


async def test_get_one_tool_by_either_spelling(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    toolset = await create_toolset(client, tenant.headers, server_url="https://api.example.com")
    for name in (f"{toolset['name']}.getTask", f"{toolset['name']}__getTask"):
        response = await client.get(f"/v1/tools/{name}", headers=tenant.headers)
        assert response.status_code == 200
        assert response.json()["name"] == f"{toolset['name']}.getTask"
    assert (await client.get("/v1/tools/wecom__send_message", headers=tenant.headers)).json()[
        "provider"
    ] == "wecom"
    hidden = await client.get(f"/v1/tools/{toolset['name']}.getTask", headers=other_tenant.headers)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "tool_not_found")


async def test_the_catalogue_needs_an_api_key(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/tools")).status_code == 401
