"""Drive the sandbox the way a browser and an application do (cookie-keeping httpx clients)."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from gateway.providers.oauth import pkce_pair
from tests.conftest import TenantCtx

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def form_fields(page: str) -> dict[str, str]:
    """The hidden fields of the consent form."""
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def start_flow(browser: httpx.AsyncClient, tenant: TenantCtx) -> str:
    """Create a connect link and open it: returns the sandbox authorize URL it redirects to."""
    link = await browser.post(
        "/v1/connections/sandbox/authorize", json={"label": "sandbox"}, headers=tenant.headers
    )
    assert link.is_success, (link.status_code, link.text)
    start = await browser.get(link.json()["authorization_url"])
    assert start.status_code == 302, start.text
    return start.headers["location"]


async def approve(browser: httpx.AsyncClient, authorize_url: str, decision: str = "approve") -> str:
    """Open the consent page and press a button: returns the redirect location."""
    page = await browser.get(authorize_url)
    assert page.status_code == 200, page.text
    fields = form_fields(page.text) | {"decision": decision}
    answer = await browser.post("/sandbox/oauth/authorize", data=fields)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


async def connect(browser: httpx.AsyncClient, tenant: TenantCtx) -> str:
    """The whole connect flow through the gateway; returns the new connection's id."""
    callback = await approve(browser, await start_flow(browser, tenant))
    done = await browser.get(callback)
    assert done.status_code == 200, done.text
    found = re.search(r"<code>(con_[0-9a-z]+)</code>", done.text)
    assert found, done.text
    return found.group(1)


async def own_code(
    browser: httpx.AsyncClient, tenant: TenantCtx, *, scope: str | None = None
) -> tuple[str, str, dict[str, str]]:
    """A code for a PKCE pair of our own (the gateway's flow only supplies a live ``state``):
    returns ``(code, verifier, authorize params)`` for calling the token endpoint directly."""
    params = query_of(await start_flow(browser, tenant))
    verifier, challenge = pkce_pair()
    params["code_challenge"] = challenge
    if scope is not None:
        params["scope"] = scope
    location = await approve(browser, "/sandbox/oauth/authorize?" + urlencode(params))
    return query_of(location)["code"], verifier, params


async def set_tenant_client(http: httpx.AsyncClient, tenant: TenantCtx) -> tuple[str, str]:
    """Give the tenant its own sandbox OAuth client; returns ``(client_id, client_secret)``."""
    client_id, secret = f"client-{tenant.tenant.id}", secrets.token_urlsafe(24)
    answer = await http.put(
        "/v1/providers/sandbox/oauth-client",
        json={"client_id": client_id, "client_secret": secret},
        headers=tenant.headers,
    )
    assert answer.status_code in (200, 201), answer.text
    return client_id, secret


async def wait_for_event(
    http: httpx.AsyncClient, tenant: TenantCtx, endpoint_id: str, webhook_id: str
) -> dict[str, Any]:
    """The event stored for a sandbox delivery, once processed (bounded wait)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = await http.get(
            "/v1/events", params={"endpoint_id": endpoint_id}, headers=tenant.headers
        )
        for event in listed.json()["data"]:
            if event["provider_event_id"] == webhook_id and event["status"] == "processed":
                return dict(event)
        await asyncio.sleep(0.05)
    raise AssertionError(f"event {webhook_id} was not processed in time")
