"""Every class of bad input gets a clean problem+json 4xx: never a 500, never a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import TenantCtx


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"]
    assert body["title"]
    assert "Traceback" not in r.text
    return body  # type: ignore[no-any-return]


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404, "not_found")


async def test_wrong_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.put("/healthz"), 405, "method_not_allowed")


async def test_malformed_json(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    r = await client.post(
        "/v1/api-keys",
        content=b'{"label": ',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert_problem(r, 400, "malformed_json")


async def test_wrong_content_type(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    r = await client.post(
        "/v1/api-keys", content=b"label=x", headers={**tenant.headers, "content-type": "text/plain"}
    )
    assert_problem(r, 415, "unsupported_media_type")


async def test_validation_error_names_the_field_without_echoing_input(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    r = await client.post("/v1/api-keys", json={"label": "s3cr3t" * 40}, headers=tenant.headers)
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"][0]["loc"] == ["body", "label"]  # type: ignore[index]
    assert "s3cr3t" not in r.text


async def test_body_over_limit_by_content_length(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    r = await client.post(
        "/v1/api-keys",
        content=b"x" * (1024 * 1024 + 1),
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert_problem(r, 413, "payload_too_large")


async def test_chunked_body_over_limit_is_cut_while_streaming(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    sent = 0
    chunk = b"x" * 65536

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1024):  # would be 64 MiB in total
            sent += len(chunk)
            yield chunk

    r = await client.post(
        "/v1/api-keys",
        content=body(),
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert_problem(r, 413, "payload_too_large")
    assert sent < 4 * 1024 * 1024, "the whole body was read before answering"


@pytest.mark.parametrize("path", ["/v1/me", "/v1/api-keys"])
async def test_auth_errors_are_problems(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 401, "invalid_api_key")
