"""Secrets never reach the logs: API keys, client secrets, tokens in messages or URLs."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from pydantic import SecretStr

from gateway.kit.logging import JsonFormatter, redact, request_id_var
from gateway.kit.runtime import Runtime
from gateway.oauth_clients import service as client_service
from tests.conftest import TenantCtx


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("token xoxb-1234567890-abcdefghij leaked", "xoxb-1234567890-abcdefghij"),
        ("GET https://api.telegram.org/bot123456:ABCdefGHIjklMNOpqr/getMe", "ABCdefGHIjklMNOpqr"),
        ("Authorization: Bearer gwk_abc_def123456789", "def123456789"),
        ("refresh_token=rt-SECRET-1&x=1", "rt-SECRET-1"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ],
)
def test_redaction_masks_token_shapes(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_json_formatter_includes_request_id_and_redacts() -> None:
    token = request_id_var.set("req123")
    try:
        record = logging.makeLogRecord(
            {
                "msg": "calling with %s",
                "args": ("xoxp-999999999-secretvalue",),
                "levelno": 20,
                "levelname": "INFO",
                "name": "t",
            }
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req123"
    assert "secretvalue" not in line["msg"]


async def test_known_secrets_never_appear_in_captured_logs(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    client_secret = "cs-known-fixture-secret-0451"
    caplog.set_level(logging.DEBUG)
    async with runtime.sessionmaker() as session:
        await client_service.set_client(
            session,
            runtime.keyring,
            owner=tenant.tenant.id,
            provider="slack",
            client_id="cid",
            client_secret=SecretStr(client_secret),
        )
        await session.commit()
    created = (await client.post("/v1/api-keys", json={}, headers=tenant.headers)).json()
    await client.get("/v1/me", headers={"Authorization": f"Bearer {created['api_key']}x"})
    await client.get("/v1/me", headers=tenant.headers)
    formatter = JsonFormatter()
    captured = "\n".join(formatter.format(r) for r in caplog.records) + caplog.text
    for secret in (client_secret, created["api_key"], tenant.api_key):
        assert secret not in captured
