"""Single-flight refresh across OS processes on PostgreSQL (O5; failure injection F1).

Two worker processes, 25 coroutines each, all told that the same access token expired, against
a mock authorization server that rotates refresh tokens and revokes the whole family when a
spent one is reused: exactly one token-endpoint call, fifty successes, no ``invalid_grant``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from gateway.connections.sealing import open_secrets
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import Connection
from tests.conftest import TenantCtx
from tests.connections.fixtures import MockFactory
from tests.connections.support import SlowTokenEndpoint, connect_via_flow, expire_connection

REPO = Path(__file__).resolve().parents[2]
PROCESSES, PER_PROCESS = 2, 25


def _env(settings: Settings, base: str, tmp_path: Path) -> dict[str, str]:
    assert settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_ENV": "development",
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_DATABASE_URL": settings.resolved_database_url,
        "GATEWAY_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "GATEWAY_PROVIDER_BASE_URLS": json.dumps({"discord": base}),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    return env


@pytest.mark.postgres
async def test_two_processes_fifty_refreshes_one_token_call(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    oauth_mock: MockFactory,
    tmp_path: Path,
) -> None:
    mock, base = oauth_mock(
        "discord",
        "discord",
        wrap=lambda app: SlowTokenEndpoint(app, "/api/oauth2/token", 0.3),
    )
    connection_id = await connect_via_flow(client, tenant, "discord")
    rejected = mock.issued[0].value
    mock.expire_access_tokens()
    await expire_connection(runtime, connection_id, ago_seconds=2 * 86400)

    env = _env(runtime.settings, base, tmp_path)
    args = [tenant.tenant.id, connection_id, rejected, str(PER_PROCESS)]
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.connections.refresh_worker",
            *args,
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
            assert line.strip() == b"ready", line
        for worker in workers:  # release both at once
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outputs = [await asyncio.wait_for(w.communicate(), timeout=60) for w in workers]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()

    results = []
    for stdout, stderr in outputs:
        assert stdout, stderr.decode()
        results.append(json.loads(stdout.decode().strip().splitlines()[-1]))
    assert [r["errors"] for r in results] == [[], []]
    assert sum(r["ok"] for r in results) == PROCESSES * PER_PROCESS
    tokens = {t for r in results for t in r["tokens"]}
    assert len(tokens) == 1
    assert mock.calls("refresh_token") == 1
    assert mock.snapshot()["invalid_grants"] == 0
    [token] = tokens
    assert mock.is_active(token)
    async with runtime.sessionmaker() as session:
        row = await session.get(Connection, connection_id)
        assert row is not None
        stored = open_secrets(runtime.keyring, row)
    newest_refresh = [t.value for t in mock.issued if t.kind == "refresh"][-1]
    assert stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == newest_refresh
