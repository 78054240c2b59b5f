"""The provider catalogue and custom OAuth providers."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantCtx

CUSTOM = {
    "id": "acme-crm",
    "name": "Acme CRM",
    "authorization_url": "https://auth.acme.example/authorize",
    "token_url": "https://auth.acme.example/token",
    "scopes": ["contacts.read"],
    "issuer": "https://auth.acme.example",
}


async def test_list_shows_builtins_with_their_capabilities(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    response = await client.get("/v1/providers", headers=tenant.headers)
    assert response.status_code == 200
    by_id = {p["id"]: p for p in response.json()["data"]}
    assert {"slack", "discord", "telegram", "lark", "dingtalk", "wecom"} <= by_id.keys()
    assert by_id["slack"]["kind"] == "builtin"
    assert "oauth2" in by_id["slack"]["auth_kinds"]
    assert by_id["slack"]["webhooks"] is True
    assert "slack.send_message" in by_id["slack"]["tools"]
    assert by_id["lark"]["aliases"] == ["feishu"]
    assert by_id["telegram"]["auth_kinds"] == ["credentials", "api_key"]


async def test_detail_has_oauth_webhook_schema_and_tools(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    slack = (await client.get("/v1/providers/slack", headers=tenant.headers)).json()
    assert slack["oauth"]["callback_url"] == "http://testserver/oauth/slack/callback"
    assert slack["oauth"]["pkce"] is False
    assert slack["oauth"]["revocation_supported"] is True
    schema = slack["webhook"]["config_schema"]
    assert schema["properties"]["signing_secret"]["writeOnly"] is True
    assert slack["webhook"]["secret_fields"] == ["signing_secret"]
    [tool] = [t for t in slack["tool_specs"] if t["name"] == "slack.send_message"]
    assert tool["parameters"]["type"] == "object"

    lark = (await client.get("/v1/providers/lark", headers=tenant.headers)).json()
    encrypt_key = lark["webhook"]["config_schema"]["properties"]["encrypt_key"]
    assert encrypt_key["writeOnly"] is True
    assert lark["oauth"]["pkce"] is True

    dingtalk = (await client.get("/v1/providers/dingtalk", headers=tenant.headers)).json()
    assert dingtalk["oauth"]["code_param"] == "authCode"
    creds = dingtalk["credentials"]["credentials_schema"]
    assert creds["properties"]["app_secret"]["writeOnly"] is True
    assert "writeOnly" not in creds["properties"]["app_key"]
    assert set(creds["required"]) == {"app_key", "app_secret"}


async def test_credential_only_provider_and_alias(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    telegram = (await client.get("/v1/providers/telegram", headers=tenant.headers)).json()
    assert telegram["oauth"] is None
    assert telegram["credentials"]["validated"] is True
    assert telegram["credentials"]["credentials_schema"]["properties"]["bot_token"]["writeOnly"]
    feishu = await client.get("/v1/providers/feishu", headers=tenant.headers)
    assert feishu.json()["id"] == "lark"
    github = (await client.get("/v1/providers/github", headers=tenant.headers)).json()
    assert github["credentials"]["validated"] is False
    missing = await client.get("/v1/providers/nope", headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "provider_not_found"


async def test_custom_provider_is_registered_for_its_tenant_only(
    client: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    created = await client.post("/v1/providers", json=CUSTOM, headers=tenant.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "custom"
    assert body["oauth"]["pkce"] is True
    assert body["oauth"]["issuer"] == "https://auth.acme.example"
    assert body["oauth"]["callback_url"] == "http://testserver/oauth/acme-crm/callback"

    mine = await client.get("/v1/providers", headers=tenant.headers)
    theirs = await client.get("/v1/providers", headers=other_tenant.headers)
    assert "acme-crm" in {p["id"] for p in mine.json()["data"]}
    assert "acme-crm" not in {p["id"] for p in theirs.json()["data"]}
    assert (
        await client.get("/v1/providers/acme-crm", headers=other_tenant.headers)
    ).status_code == 404

    again = await client.post("/v1/providers", json=CUSTOM, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["code"] == "provider_exists"
    elsewhere = await client.post("/v1/providers", json=CUSTOM, headers=other_tenant.headers)
    assert elsewhere.status_code == 201


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"id": "slack"}, "provider_exists"),
        ({"token_url": "http://169.254.169.254/latest/meta-data"}, "destination_blocked"),
        ({"authorization_url": "http://10.0.0.7/authorize"}, "destination_blocked"),
        ({"token_url": "ftp://auth.acme.example/token"}, "validation_failed"),
        ({"token_url": "https://user:pw@auth.acme.example/token"}, "validation_failed"),
        ({"extra_authorize_params": {"state": "fixed"}}, "validation_failed"),
        ({"id": "Bad Id"}, "validation_failed"),
        ({"unknown": 1}, "validation_failed"),
    ],
)
async def test_bad_custom_providers_are_refused(
    client: httpx.AsyncClient, tenant: TenantCtx, change: dict[str, object], code: str
) -> None:
    response = await client.post("/v1/providers", json={**CUSTOM, **change}, headers=tenant.headers)
    assert response.status_code in (409, 422)
    assert response.json()["code"] == code
