"""SSRF guard on custom tools (reliability N1-N4, F12): refused at import, refused again when
the call connects, and a loopback listener records 0 connections when loopback is not allowed.

Loopback traffic only: non-loopback private and metadata addresses are proven refused at the
vetting layer (import-time ``vet_url``); nothing is ever sent to them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.kit.settings import Settings
from tests.conftest import TenantCtx
from tests.tools.mock_api import Reply, mock_api
from tests.tools.support import create_toolset, fixture_text, invoke, variant_app

pytestmark = pytest.mark.usefixtures("tool_env")

REFUSED_EVERYWHERE = [
    "http://10.0.0.5/api",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:169.254.169.254]/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://0.0.0.0/",
    "http://0x7f.1/",  # loopback spelled in hex: non-canonical, refused even when allowed
    "http://017700000001/",
    "http://2130706433/",
    "http://a@127.0.0.1/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
]


async def _import(client: httpx.AsyncClient, tenant: TenantCtx, server_url: str) -> httpx.Response:
    return await client.post(
        "/v1/toolsets",
        json={"name": "ssrf", "openapi": fixture_text("tasks.json"), "server_url": server_url},
        headers=tenant.headers,
    )


@pytest.mark.parametrize("server_url", REFUSED_EVERYWHERE)
async def test_private_metadata_and_odd_destinations_are_refused_at_import(
    server_url: str, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    response = await _import(client, tenant, server_url)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "destination_blocked"
    listed = await client.get("/v1/toolsets", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_a_documents_own_server_is_vetted_too(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    document = fixture_text("tasks.json").replace(
        "https://tasks.example.com/api/{version}", "http://169.254.169.254/{version}"
    )
    response = await client.post(
        "/v1/toolsets", json={"name": "meta", "openapi": document}, headers=tenant.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, "destination_blocked")


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with the allow-list off, as in production."""
    async with variant_app(settings, outbound_allowlist="") as client:
        yield client


async def test_with_the_allow_list_off_loopback_is_refused_at_import(
    guarded: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async with mock_api() as api:
        for url in (api.url, f"http://[::1]:{api.port}", f"http://[::ffff:127.0.0.1]:{api.port}"):
            response = await _import(guarded, tenant, url)
            assert (response.status_code, response.json()["code"]) == (422, "destination_blocked")
    assert api.connections == 0


# ``localhost.`` and DNS tricks (mixed answers, rebinding) are covered with stub resolvers at
# the client (tests/kit/test_http_client.py); here the system resolver answers ``localhost``.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_with_the_allow_list_off_calls_to_loopback_make_zero_connections(
    host: str, client: httpx.AsyncClient, guarded: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    async with mock_api() as api:
        # Stored by the development app (loopback allowed), then invoked where it is not.
        toolset = await create_toolset(
            client, tenant.headers, server_url=f"http://{host}:{api.port}"
        )
        response = await invoke(guarded, tenant.headers, f"{toolset['name']}.getHealth", {})
    result = response.json()
    assert response.status_code == 200, response.text
    assert result["ok"] is False
    assert result["error"]["code"] == "destination_blocked"
    assert result["attempts"] == 1
    assert api.connections == 0
    assert api.requests == []


async def test_redirects_are_not_followed(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    redirect = Reply(302, None, {"Location": "http://169.254.169.254/latest/meta-data"})
    async with mock_api(lambda r: redirect) as api:
        toolset = await create_toolset(client, tenant.headers, server_url=api.url)
        response = await invoke(client, tenant.headers, f"{toolset['name']}.getHealth", {})
    result = response.json()
    assert (result["ok"], result["status_code"]) == (False, 302)
    assert result["error"]["platform_code"] == "http_302"
    assert len(api.requests) == 1
