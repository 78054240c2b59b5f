"""``POST /v1/tools/{name}/invoke`` is served by a plain ASGI route for plainly valid requests
and by the documented FastAPI operation for everything else: a client must not be able to tell
which one answered, and every malformed request still gets FastAPI's own answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from gateway.tools.router import INVOKE_PATH
from tests.conftest import TenantCtx
from tests.tools.mock_api import Recorded, Reply, mock_api
from tests.tools.support import create_toolset

pytestmark = pytest.mark.usefixtures("tool_env")

API_KEY = "tk_live_0a1b2c3d4e5f60718293"


class DocumentedSpy:
    """Counts the requests the raw route hands to the documented operation."""

    def __init__(self, documented: Any) -> None:
        self.documented = documented
        self.calls = 0

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await self.documented.handle(scope, receive, send)


@pytest.fixture
def documented(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> DocumentedSpy:
    (route,) = [r for r in app.router.routes if getattr(r, "path", None) == INVOKE_PATH][:1]
    raw = route.app  # type: ignore[attr-defined]
    spy = DocumentedSpy(raw._documented)
    monkeypatch.setattr(raw, "_documented", spy)
    return spy


def task(request: Recorded) -> Reply:
    return Reply(body={"id": 7, "path": request.path, "sent": request.json()})


def comparable(response: httpx.Response) -> dict[str, Any]:
    """What a client reads, without what differs on every call."""
    body = response.json()
    body.pop("invocation_id")
    body.pop("duration_ms")
    return {
        "status": response.status_code,
        "content-type": response.headers["content-type"],
        "request-id": "x-request-id" in response.headers,
        "body": body,
    }


async def test_both_routes_answer_a_valid_invoke_alike(
    client: httpx.AsyncClient, tenant: TenantCtx, documented: DocumentedSpy
) -> None:
    async with mock_api(task) as api:
        toolset = await create_toolset(
            client,
            tenant.headers,
            server_url=f"{api.url}/api/v1",
            auth={"type": "api_key", "value": API_KEY},
        )
        url = f"/v1/tools/{toolset['name']}.createTask/invoke"
        payload = json.dumps(
            {"parameters": {"projectId": "OPS", "body": {"title": "Renew", "labels": []}}}
        ).encode()
        raw = await client.post(
            url, content=payload, headers={**tenant.headers, "Content-Type": "application/json"}
        )
        assert documented.calls == 0
        # ``+json`` is JSON to FastAPI but not to the raw route: the documented one answers.
        fallback = await client.post(
            url,
            content=payload,
            headers={**tenant.headers, "Content-Type": "application/vnd.api+json"},
        )
        assert documented.calls == 1
        logged = await client.get(
            f"/v1/invocations/{raw.json()['invocation_id']}", headers=tenant.headers
        )
    assert comparable(raw) == comparable(fallback)
    assert raw.json()["output"]["sent"] == {"title": "Renew", "labels": []}
    assert len(api.requests) == 2
    assert logged.status_code == 200  # the raw route's call is in the invocation log
    assert logged.json()["tool"] == f"{toolset['name']}.createTask"


@pytest.mark.parametrize(
    ("case", "status", "code", "detail"),
    [
        ("malformed json", 400, "malformed_json", None),
        ("parameters not an object", 422, "validation_failed", ["body", "parameters"]),
        ("no content type", 415, "unsupported_media_type", None),
        ("text content type", 415, "unsupported_media_type", None),
        ("empty body", 422, "validation_failed", ["body"]),
        ("idempotency key too long", 422, "validation_failed", ["header", "Idempotency-Key"]),
        ("name too long", 422, "validation_failed", ["path", "name"]),
    ],
)
async def test_malformed_requests_get_the_documented_operations_answers(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    documented: DocumentedSpy,
    case: str,
    status: int,
    code: str,
    detail: list[str] | None,
) -> None:
    json_type = {"Content-Type": "application/json"}
    name, content, headers = "nope.op", b'{"parameters": {}}', {**tenant.headers, **json_type}
    if case == "malformed json":
        content = b'{"parameters": '
    elif case == "parameters not an object":
        content = b'{"parameters": 3}'
    elif case == "no content type":
        headers = dict(tenant.headers)
    elif case == "text content type":
        headers = {**tenant.headers, "Content-Type": "text/plain"}
    elif case == "empty body":
        content = b""
    elif case == "idempotency key too long":
        headers["Idempotency-Key"] = "k" * 256
    elif case == "name too long":
        name = "a" * 121
    response = await client.post(f"/v1/tools/{name}/invoke", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    if detail is not None:
        assert [e["loc"] for e in problem["errors"]] == [detail]
    assert documented.calls == 1


async def test_authentication_comes_before_validation_on_both_routes(
    client: httpx.AsyncClient, documented: DocumentedSpy
) -> None:
    wrong = {"Authorization": "Bearer gwk_nope_nope", "Content-Type": "application/json"}
    served = await client.post("/v1/tools/nope.op/invoke", content=b"{}", headers=wrong)
    handed_over = await client.post(
        "/v1/tools/nope.op/invoke", content=b'{"parameters": 3}', headers=wrong
    )
    for response in (served, handed_over):
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"] == "Bearer"
    missing = await client.post("/v1/tools/nope.op/invoke", json={})
    assert missing.status_code == 401
    assert documented.calls == 1  # only the invalid body was handed over


async def test_errors_after_authentication_are_problems_from_the_raw_route(
    client: httpx.AsyncClient, tenant: TenantCtx, documented: DocumentedSpy
) -> None:
    unknown = await client.post(
        "/v1/tools/nope.op/invoke", json={"parameters": {}}, headers=tenant.headers
    )
    bad_key = await client.post(
        "/v1/tools/nope.op/invoke",
        json={"parameters": {}},
        headers={**tenant.headers, "Idempotency-Key": "tab\there"},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "tool_not_found")
    assert (bad_key.status_code, bad_key.json()["code"]) == (400, "invalid_idempotency_key")
    assert unknown.json()["instance"] == "/v1/tools/nope.op/invoke"
    assert documented.calls == 0


async def test_other_methods_are_refused_with_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tools/nope.op/invoke")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
