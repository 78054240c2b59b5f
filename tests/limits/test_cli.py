"""``gateway tenants limits NAME``: an operator's override reaches the running API (through the
shared database, within the limits cache lifetime) and can be shown and reset."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass

import httpx
from typer.testing import CliRunner

from gateway.cli.main import app as cli_app
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from tests.conftest import make_tenant
from tests.limits.conftest import FakeClock


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


async def gateway(settings: Settings, *args: str) -> Outcome:
    """Run the CLI in a worker thread (it runs its own event loop) against the test database."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATABASE_URL=settings.resolved_database_url,
        GATEWAY_DATA_DIR=str(settings.data_dir),
        GATEWAY_LOG_LEVEL="WARNING",
    )
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, list(args), env=env)
    return Outcome(result.exit_code, result.stdout, result.stderr)


async def test_cli_override_takes_effect_on_the_api(
    limited_client: httpx.AsyncClient,
    limited_runtime: Runtime,
    settings: Settings,
    clock: FakeClock,
) -> None:
    ctx = await make_tenant(limited_runtime)
    name = ctx.tenant.name
    done = await gateway(settings, "tenants", "limits", name, "--rpm", "2", "--key-rpm", "0")
    assert done.code == 0, done.stderr
    assert "updated" in done.stdout

    answers = [await limited_client.get("/v1/me", headers=ctx.headers) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    retry_after = int(answers[-1].headers["retry-after"])

    # lifted by the operator: running processes pick it up once their cache has expired and the
    # client has waited the Retry-After it was given (with the old limit only 1 more would fit)
    raised = await gateway(settings, "tenants", "limits", name, "--rpm", "unlimited")
    assert raised.code == 0, raised.stderr
    assert (await limited_client.get("/v1/me", headers=ctx.headers)).status_code == 429
    clock.advance(max(settings.limits_cache_seconds, retry_after) + 0.001)
    for _ in range(5):
        r = await limited_client.get("/v1/me", headers=ctx.headers)
        assert r.status_code == 200
        assert "ratelimit-limit" not in r.headers


async def test_cli_shows_and_resets_limits(limited_runtime: Runtime, settings: Settings) -> None:
    ctx = await make_tenant(limited_runtime)
    name = ctx.tenant.name
    set_ = await gateway(
        settings, "tenants", "limits", name, "--webhook-rps", "50", "--events-per-day", "1000"
    )
    assert set_.code == 0, set_.stderr
    shown = await gateway(settings, "tenants", "limits", name, "--json")
    assert shown.code == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["tenant_id"] == ctx.tenant.id
    assert body["limits"] == {
        "api_rpm": settings.api_rate_limit_rpm,
        "api_key_rpm": settings.api_key_rate_limit_rpm,
        "webhook_rps": 50,
        "events_per_day": 1000,
        "invocations_per_day": None,
    }
    assert body["overridden"] == ["events_per_day", "webhook_rps"]
    table = await gateway(settings, "tenants", "limits", name)
    assert "webhook_rps" in table.stdout
    assert "50  tenant" in table.stdout
    assert "unlimited  default" in table.stdout

    reset = await gateway(settings, "tenants", "limits", name, "--webhook-rps", "default")
    assert reset.code == 0, reset.stderr
    body = json.loads((await gateway(settings, "tenants", "limits", name, "--json")).stdout)
    assert body["limits"]["webhook_rps"] == settings.webhook_rate_limit_rps
    assert body["overridden"] == ["events_per_day"]


async def test_cli_refuses_bad_input(limited_runtime: Runtime, settings: Settings) -> None:
    ctx = await make_tenant(limited_runtime)
    for bad in ("-1", "lots", "1.5"):
        out = await gateway(settings, "tenants", "limits", ctx.tenant.name, "--rpm", bad)
        assert out.code == 2
        assert "--rpm" in out.stderr
    missing = await gateway(settings, "tenants", "limits", "no-such-tenant-xyz")
    assert missing.code == 2
    assert "no tenant named" in missing.stderr
