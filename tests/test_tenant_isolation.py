"""Tenant isolation, route by route: another tenant's ids are 404 everywhere, lists never show
another tenant's rows, and nothing another tenant tries changes what the owner sees.

The sweep iterates the app's routes, so a new route is covered automatically or fails
``test_every_route_is_classified`` until it is given its probe (or a reason in
``NOT_TENANT_SCOPED``).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from gateway.kit.ids import new_id
from gateway.kit.problems import PROBLEM_MEDIA_TYPE
from gateway.kit.runtime import Runtime
from gateway.models import SandboxMessage, ToolInvocation
from gateway.sandbox.store import store_of
from tests.conftest import TenantCtx
from tests.subscriptions.support import make_event

Route = tuple[str, str]  # (method, path template)

# Routes that hold no tenant resource, with the reason. Everything else must have a probe.
NOT_TENANT_SCOPED: dict[Route, str] = {
    ("GET", "/openapi.json"): "the API description",
    ("HEAD", "/openapi.json"): "the API description",
    ("GET", "/docs"): "documentation page",
    ("HEAD", "/docs"): "documentation page",
    ("GET", "/docs/oauth2-redirect"): "documentation page",
    ("HEAD", "/docs/oauth2-redirect"): "documentation page",
    ("GET", "/redoc"): "documentation page",
    ("HEAD", "/redoc"): "documentation page",
    ("GET", "/healthz"): "process liveness",
    ("GET", "/readyz"): "process readiness",
    ("GET", "/metrics"): "process metrics by route template (checked for A's ids below)",
    ("GET", "/webhooks/{provider}/{endpoint_id}"): "platform-facing receiver: authenticated by "
    "the endpoint's own signature secret, not a tenant key (tests/webhooks)",
    ("POST", "/webhooks/{provider}/{endpoint_id}"): "platform-facing receiver (see GET)",
    ("HEAD", "/webhooks/{provider}/{endpoint_id}"): "platform-facing receiver (see GET)",
    ("GET", "/oauth/{provider}/start"): "browser leg: bound to a one-time link, not a key; "
    "`provider` names a platform (tests/oauth_flow)",
    ("GET", "/oauth/{provider}/callback"): "browser leg: bound to the state and the browser "
    "cookie (tests/oauth_flow)",
    ("GET", "/sandbox/oauth/authorize"): "sandbox authorization server: OAuth client "
    "authentication, grants bound to the tenant of the flow (tests/sandbox)",
    ("POST", "/sandbox/oauth/authorize"): "sandbox authorization server (see GET)",
    ("POST", "/sandbox/oauth/token"): "sandbox authorization server (see GET)",
    ("POST", "/sandbox/oauth/revoke"): "sandbox authorization server (see GET)",
    ("POST", "/sandbox/api/messages"): "sandbox chat API: a sandbox access token names its "
    "workspace (tests/sandbox)",
    # Authenticated, but with nothing of another tenant to name: creates and self views.
    ("GET", "/v1/me"): "the caller's own tenant (listed below: no A data)",
    ("GET", "/v1/limits"): "the caller's own limits (listed below: no A data)",
    ("POST", "/v1/api-keys"): "creates the caller's own key",
    ("POST", "/v1/providers"): "creates the caller's own provider (ids are per tenant)",
    ("POST", "/v1/connections"): "creates the caller's own connection",
    ("POST", "/v1/subscriptions"): "creates the caller's own subscription",
    ("POST", "/v1/toolsets"): "creates the caller's own toolset (probed with A's connection)",
    ("POST", "/v1/webhook-endpoints"): "creates the caller's own endpoint (probed with A's "
    "connection)",
    ("POST", "/sandbox/api/simulate"): "names the endpoint in the body (probed with A's)",
}

# List routes: B must never see A's rows; A must see them (so the probe can fail).
LISTS: dict[str, str] = {
    "/v1/api-keys": "key",
    "/v1/providers": "provider",
    "/v1/connections": "connection",
    "/v1/audit": "oauth_client_audit",
    "/v1/subscriptions": "subscription",
    "/v1/webhook-endpoints": "endpoint",
    "/v1/events": "event",
    "/v1/tools": "tool",
    "/v1/toolsets": "toolset",
    "/v1/invocations": "invocation",
    "/sandbox/api/messages": "message",
}

TOOLSET_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "isolation", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/ping": {"get": {"operationId": "ping", "responses": {"200": {"description": "ok"}}}}
    },
}


@dataclass
class Owned:
    """Tenant A's resources and the strings that must never reach tenant B."""

    tenant: TenantCtx
    ids: dict[str, str]
    secrets: list[str]

    @property
    def markers(self) -> list[str]:
        return [self.tenant.tenant.id, *self.ids.values(), *self.secrets]

    def path_value(self, name: str) -> str:
        kind = {
            "key_id": "key",
            "provider_id": "provider",
            "provider": "provider",
            "connection_id": "connection",
            "subscription_id": "subscription",
            "delivery_id": "delivery",
            "endpoint_id": "endpoint",
            "event_id": "event",
            "name": "tool",
            "toolset_id": "toolset",
            "invocation_id": "invocation",
        }[name]
        return self.ids[kind]


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def _tenant_a_resources(
    client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx
) -> Owned:
    """One of each resource, created through the API where the API creates it."""
    h = tenant.headers
    tag = secrets.token_hex(3)
    ids: dict[str, str] = {}
    secret_values: list[str] = []

    keys = await client.get("/v1/api-keys", headers=h)
    ids["key"] = keys.json()[0]["id"]

    provider = await _created(
        await client.post(
            "/v1/providers",
            json={
                "id": f"acme-{tag}",
                "name": "Acme",
                "authorization_url": "http://127.0.0.1:9/authorize",
                "token_url": "http://127.0.0.1:9/token",
            },
            headers=h,
        )
    )
    ids["provider"] = provider["id"]
    client_id = f"a-client-{tag}"
    client_secret = f"a-client-secret-{tag}"
    secret_values += [client_id, client_secret]
    await _created(
        await client.put(
            f"/v1/providers/{provider['id']}/oauth-client",
            json={"client_id": client_id, "client_secret": client_secret},
            headers=h,
        )
    )
    audit = await client.get("/v1/audit", headers=h)
    ids["oauth_client_audit"] = audit.json()["data"][0]["id"]

    api_key = f"a-api-key-{tag}"
    secret_values.append(api_key)
    connection = await _created(
        await client.post(
            "/v1/connections",
            json={"provider": "github", "credentials": {"api_key": api_key}},
            headers=h,
        )
    )
    ids["connection"] = connection["id"]

    endpoint = await _created(
        await client.post(
            "/v1/webhook-endpoints",
            json={"provider": "sandbox", "config": {}, "description": f"a-endpoint-{tag}"},
            headers=h,
        )
    )
    ids["endpoint"] = endpoint["id"]

    subscription = await _created(
        await client.post(
            "/v1/subscriptions",
            json={"url": f"http://127.0.0.1:9/a-hook-{tag}", "event_types": ["*"]},
            headers=h,
        )
    )
    ids["subscription"] = subscription["id"]
    secret_values.append(subscription["secret"])

    # An event as the receive pipeline leaves it, fanned out to A's subscription. Its jobs are
    # not sent: the delivery stays pending, so nothing but B's calls could change it.
    event, fanned_out = await make_event(
        runtime, tenant.tenant.id, endpoint_id=endpoint["id"], dispatch=False
    )
    assert fanned_out == 1
    ids["event"] = event.id
    deliveries = await client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=h)
    ids["delivery"] = deliveries.json()["data"][0]["id"]

    toolset = await _created(
        await client.post(
            "/v1/toolsets",
            json={"name": f"iso{tag}", "openapi": TOOLSET_DOCUMENT},
            headers=h,
        )
    )
    ids["toolset"] = toolset["id"]
    ids["tool"] = toolset["tools"][0]

    invocation = ToolInvocation(
        id=new_id("inv"),
        tenant_id=tenant.tenant.id,
        tool=ids["tool"],
        toolset_id=toolset["id"],
        outcome="error",
        error_code="connect_error",
    )
    message = SandboxMessage(
        id=new_id("sbm"),
        tenant_id=tenant.tenant.id,
        conversation="general",
        text=f"a-message-{tag}",
        sender_id="u1",
        sender_name="Ann",
        sender_kind="user",
    )
    async with runtime.sessionmaker() as session:
        session.add(invocation)
        await session.commit()
    async with store_of(runtime).sessionmaker() as sandbox:
        sandbox.add(message)
        await sandbox.commit()
    ids["invocation"] = invocation.id
    ids["message"] = message.id
    secret_values.append(message.text)
    return Owned(tenant, ids, secret_values)


def _routes(app: FastAPI) -> list[Route]:
    out = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            out.append((method, str(route.path)))
    return out


def _path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


# A valid body per parameterised route, so that only the ownership check can refuse it.
BODIES: dict[Route, dict[str, Any]] = {
    ("PUT", "/v1/providers/{provider_id}/oauth-client"): {
        "client_id": "b-client",
        "client_secret": "b-secret",
    },
    ("POST", "/v1/connections/{provider}/authorize"): {},
    ("PATCH", "/v1/subscriptions/{subscription_id}"): {"enabled": False, "description": "b"},
    ("POST", "/v1/subscriptions/{subscription_id}/rotate-secret"): {},
    ("POST", "/v1/subscriptions/{subscription_id}/replay"): {"since": "2000-01-01T00:00:00Z"},
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"enabled": False, "description": "b"},
    ("POST", "/v1/tools/{name}/invoke"): {"parameters": {}},
}


@pytest.fixture
async def owned(client: httpx.AsyncClient, runtime: Runtime, tenant: TenantCtx) -> Owned:
    return await _tenant_a_resources(client, runtime, tenant)


def _assert_nothing_of(owned: Owned, response: httpx.Response) -> None:
    """No id or secret of A in the answer, except what B itself sent (a problem's
    ``instance`` echoes the path)."""
    sent = str(response.request.url) + response.request.content.decode()
    leaked = [m for m in owned.markers if m in response.text and m not in sent]
    assert not leaked, f"{response.request.method} {response.request.url.path} shows {leaked}"


async def _snapshot(client: httpx.AsyncClient, owned: Owned) -> dict[str, Any]:
    """What A sees of each resource (JSON of its single views)."""
    i, h = owned.ids, owned.tenant.headers
    views = {
        "provider": f"/v1/providers/{i['provider']}",
        "oauth_client": f"/v1/providers/{i['provider']}/oauth-client",
        "connection": f"/v1/connections/{i['connection']}",
        "subscription": f"/v1/subscriptions/{i['subscription']}",
        "endpoint": f"/v1/webhook-endpoints/{i['endpoint']}",
        "event": f"/v1/events/{i['event']}",
        "tool": f"/v1/tools/{i['tool']}",
        "toolset": f"/v1/toolsets/{i['toolset']}",
        "invocation": f"/v1/invocations/{i['invocation']}",
        "keys": "/v1/api-keys",
    }
    out: dict[str, Any] = {}
    for name, path in views.items():
        response = await client.get(path, headers=h)
        assert response.status_code == 200, f"{path}: {response.text}"
        out[name] = response.json()
    deliveries = await client.get(f"/v1/subscriptions/{i['subscription']}/deliveries", headers=h)
    out["deliveries"] = sorted(d["id"] for d in deliveries.json()["data"])
    return out


def test_every_route_is_classified(app: FastAPI) -> None:
    unclassified = [
        route
        for route in _routes(app)
        if route not in NOT_TENANT_SCOPED
        and not _path_params(route[1])
        and not (route[0] == "GET" and route[1] in LISTS)
    ]
    assert not unclassified, f"classify these routes in {__name__}: {unclassified}"
    stale = [route for route in NOT_TENANT_SCOPED if route not in _routes(app)]
    assert not stale, f"routes gone from the app: {stale}"


async def test_another_tenants_ids_are_404_on_every_route(
    app: FastAPI, client: httpx.AsyncClient, owned: Owned, other_tenant: TenantCtx
) -> None:
    before = await _snapshot(client, owned)
    probed = []
    for method, path in _routes(app):
        names = _path_params(path)
        if not names or (method, path) in NOT_TENANT_SCOPED:
            continue
        url = path.format(**{name: owned.path_value(name) for name in names})
        body = BODIES.get((method, path))
        response = await client.request(method, url, headers=other_tenant.headers, json=body)
        assert response.status_code == 404, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, f"{method} {path}"
        _assert_nothing_of(owned, response)
        probed.append((method, path))
    assert len(probed) >= 25, probed  # every id-taking operation, not a lucky few

    # Ids named in a body rather than the path.
    i, b = owned.ids, other_tenant.headers
    by_body = [
        await client.post(
            "/v1/webhook-endpoints",
            json={"provider": "sandbox", "config": {}, "connection_id": i["connection"]},
            headers=b,
        ),
        await client.post(
            "/v1/tools/sandbox.send_message/invoke",
            json={
                "connection_id": i["connection"],
                "parameters": {"conversation": "general", "text": "hi"},
            },
            headers=b,
        ),
        await client.post(
            "/v1/toolsets",
            json={
                "name": "b-toolset",
                "openapi": TOOLSET_DOCUMENT,
                "auth": {"type": "oauth_connection", "connection_id": i["connection"]},
            },
            headers=b,
        ),
        await client.post(
            "/sandbox/api/simulate",
            json={"endpoint_id": i["endpoint"], "conversation": "general", "text": "b"},
            headers=b,
        ),
    ]
    for response in by_body:
        assert response.status_code == 404, f"{response.request.url.path}: {response.text}"
        _assert_nothing_of(owned, response)

    assert await _snapshot(client, owned) == before


async def test_lists_never_show_another_tenants_rows(
    app: FastAPI, client: httpx.AsyncClient, owned: Owned, other_tenant: TenantCtx
) -> None:
    for path, kind in LISTS.items():
        mine = await client.get(path, headers=owned.tenant.headers)
        assert mine.status_code == 200, f"{path}: {mine.text}"
        assert owned.ids[kind] in mine.text, f"A does not see its own {kind} in {path}"
    # Every parameterless GET, lists and the rest, as B: nothing of A.
    for method, path in _routes(app):
        if method != "GET" or _path_params(path):
            continue
        response = await client.get(path, headers=other_tenant.headers)
        assert response.status_code == 200 or path not in LISTS, f"{path}: {response.text}"
        assert response.status_code < 500, path
        _assert_nothing_of(owned, response)
    # Filters naming A's rows find nothing for B either.
    i, b = owned.ids, other_tenant.headers
    filtered = [
        ("/v1/events", {"endpoint_id": i["endpoint"]}),
        ("/v1/audit", {"connection_id": i["connection"]}),
        ("/v1/connections", {"provider": "github"}),
        ("/v1/invocations", {"tool": i["tool"]}),
        ("/sandbox/api/messages", {"conversation": "general"}),
    ]
    for path, params in filtered:
        response = await client.get(path, params=params, headers=b)
        assert response.status_code == 200, f"{path}: {response.text}"
        assert response.json()["data"] == [], path
