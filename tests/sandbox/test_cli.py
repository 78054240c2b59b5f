"""The daily-work CLI against a running gateway: ``webhooks send``, ``events tail``,
``connections list`` (in-process runner in a worker thread: each command runs its own event
loop, as it does in a terminal)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from gateway.cli.main import app as cli_app
from gateway.kit.settings import Settings
from tests.conftest import TenantCtx
from tests.sandbox.live import LiveGateway
from tests.sandbox.support import connect


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli_env(settings: Settings, live_gateway: LiveGateway) -> dict[str, str]:
    keys = settings.encryption_keys
    assert keys is not None
    return {
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "GATEWAY_ENCRYPTION_KEYS": keys.get_secret_value(),
        "GATEWAY_PUBLIC_BASE_URL": live_gateway.base_url,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }


async def gateway(env: dict[str, str], *args: str) -> Outcome:
    cleared = {k: None for k in os.environ if k.startswith("GATEWAY_") and k not in env}

    def _invoke() -> Outcome:
        result = CliRunner().invoke(cli_app, list(args), env={**cleared, **env})
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return await asyncio.to_thread(_invoke)


@pytest.fixture
async def http(live_gateway: LiveGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_gateway.base_url, timeout=30) as client:
        yield client


async def _sandbox_endpoint(http: httpx.AsyncClient, tenant: TenantCtx) -> str:
    created = await http.post(
        "/v1/webhook-endpoints",
        json={"provider": "sandbox", "config": {}},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_webhooks_send_signs_posts_and_reports_the_event(
    cli_env: dict[str, str], http: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    endpoint_id = await _sandbox_endpoint(http, tenant)
    sent = await gateway(cli_env, "webhooks", "send", "--endpoint", endpoint_id)
    assert sent.code == 0, sent.stderr
    assert sent.stdout.startswith("200 OK")
    assert re.search(r"event evt_\w+  message\.received  processed", sent.stdout), sent.stdout
    assert f"/webhooks/sandbox/{endpoint_id}" in sent.stderr
    listed = await http.get(
        "/v1/events", params={"endpoint_id": endpoint_id}, headers=tenant.headers
    )
    assert [e["data"]["text"] for e in listed.json()["data"]] == [
        "Hello from the sandbox! @u_bob can you help?"
    ]


async def test_webhooks_send_twice_with_kept_ids_is_deduplicated(
    cli_env: dict[str, str], http: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    endpoint_id = await _sandbox_endpoint(http, tenant)
    args = ("webhooks", "send", "--endpoint", endpoint_id, "--sample", "reaction", "--keep-ids")
    first = await gateway(cli_env, *args)
    assert "reaction.added" in first.stdout, first.stderr
    again = await gateway(cli_env, *args, "--wait", "1")
    assert again.code == 0
    assert "duplicate" in again.stderr
    listed = await http.get(
        "/v1/events", params={"endpoint_id": endpoint_id}, headers=tenant.headers
    )
    assert len(listed.json()["data"]) == 1


async def test_webhooks_send_refuses_what_it_cannot_do(
    cli_env: dict[str, str], http: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    endpoint_id = await _sandbox_endpoint(http, tenant)
    foreign = await gateway(
        cli_env, "webhooks", "send", "--endpoint", endpoint_id, "--api-key", other_tenant.api_key
    )
    assert foreign.code == 2
    assert "does not belong" in foreign.stderr
    missing = await gateway(cli_env, "webhooks", "send", "--endpoint", "whe_nope")
    assert missing.code == 2
    assert "no webhook endpoint" in missing.stderr
    unknown = await gateway(
        cli_env, "webhooks", "send", "--endpoint", endpoint_id, "--sample", "nope"
    )
    assert unknown.code == 2
    assert "one of: member_joined, message, reaction" in unknown.stderr
    down = await gateway(
        cli_env, "webhooks", "send", "--endpoint", endpoint_id, "--url", "http://127.0.0.1:9"
    )
    assert down.code == 1
    assert "is it running?" in down.stderr


async def test_webhooks_samples_lists_every_platform(cli_env: dict[str, str]) -> None:
    listed = await gateway(cli_env, "webhooks", "samples")
    assert listed.code == 0
    platforms = {line.split()[0] for line in listed.stdout.splitlines()}
    assert {"slack", "discord", "telegram", "lark", "dingtalk", "wecom", "sandbox"} <= platforms


async def test_events_tail_prints_new_events_one_line_each(
    cli_env: dict[str, str], http: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    endpoint_id = await _sandbox_endpoint(http, tenant)
    name = tenant.tenant.name
    tail = asyncio.create_task(
        gateway(cli_env, "events", "tail", "--tenant", name, "--count", "2", "--timeout", "20")
    )
    await asyncio.sleep(1.0)  # the tail starts following before the events arrive
    for text in ("first", "second"):
        sent = await http.post(
            "/sandbox/api/simulate",
            json={"endpoint_id": endpoint_id, "conversation": "general", "text": text},
            headers=tenant.headers,
        )
        assert sent.json()["delivered"] is True
    done = await tail
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line, text in zip(lines, ("first", "second"), strict=True):
        assert f"{name}  sandbox  message.received  processed  general  Developer: {text}" in line
    typed = await gateway(
        cli_env, "events", "tail", "--tenant", name, "--history", "60", "--type", "reaction.*",
        "--timeout", "1",
    )  # fmt: skip
    assert typed.code == 0
    assert typed.stdout == ""
    bad = await gateway(cli_env, "events", "tail", "--type", "nonsense")
    assert bad.code == 2
    assert "matches no event type" in bad.stderr


async def test_connections_list_shows_status_without_tokens(
    cli_env: dict[str, str], http: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    connection_id = await connect(http, tenant)
    table = await gateway(cli_env, "connections", "list", "--tenant", tenant.tenant.name)
    assert table.code == 0, table.stderr
    assert f"{connection_id}  {tenant.tenant.name}  sandbox  active" in table.stdout
    listed = await gateway(cli_env, "connections", "list", "--tenant", tenant.tenant.name, "--json")
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["status"], r["scopes"]) for r in rows] == [
        (connection_id, "active", ["messages:read", "messages:write"])
    ]
    assert "sbx_at_" not in listed.stdout
    assert "sbx_rt_" not in listed.stdout
    nobody = await gateway(cli_env, "connections", "list", "--tenant", "no-such-tenant")
    assert nobody.code == 2
