"""The operator CLI against a fresh SQLite file (in-process runner; exit codes and the
stdout/stderr split are what an operator sees)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app as cli_app
from gateway.kit.crypto import generate_key_line


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATA_DIR=str(data),
        GATEWAY_ENCRYPTION_KEYS=generate_key_line("cli1"),
        GATEWAY_LOG_LEVEL="WARNING",
    )
    return env


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def gateway(env: dict[str, str], *args: str) -> Outcome:
    gateway_env = {k: v for k, v in env.items() if k.startswith("GATEWAY_")}
    cleared = {k: None for k in os.environ if k.startswith("GATEWAY_") and k not in gateway_env}
    result = CliRunner().invoke(cli_app, list(args), env={**cleared, **gateway_env})
    return Outcome(result.exit_code, result.stdout, result.stderr)


def test_db_upgrade_and_current(cli_env: dict[str, str]) -> None:
    up = gateway(cli_env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    cur = gateway(cli_env, "db", "current")
    assert cur.returncode == 0
    assert "up to date" in cur.stdout


def test_tenant_and_api_keys(cli_env: dict[str, str]) -> None:
    gateway(cli_env, "db", "upgrade")
    made = gateway(cli_env, "tenants", "create", "acme", "--json")
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    assert body["tenant_id"].startswith("ten_")
    assert body["api_key"].startswith("gwk_")
    dup = gateway(cli_env, "tenants", "create", "acme")
    assert dup.returncode == 2
    assert "already exists" in dup.stderr
    extra = json.loads(gateway(cli_env, "api-keys", "create", "--tenant", "acme", "--json").stdout)
    revoked = gateway(cli_env, "api-keys", "revoke", extra["id"])
    assert revoked.returncode == 0
    assert gateway(cli_env, "api-keys", "revoke", "key_nope").returncode == 2


def test_oauth_client_set_list_delete(cli_env: dict[str, str]) -> None:
    gateway(cli_env, "db", "upgrade")
    params = json.dumps({"client_id": "111.222", "client_secret": "cli-secret-xyz"})
    ok = gateway(cli_env, "oauth-client", "set", "--provider", "slack", "--client-params", params)
    assert ok.returncode == 0, ok.stderr
    listed = gateway(cli_env, "oauth-client", "list")
    assert "slack" in listed.stdout
    assert "111.222" in listed.stdout
    assert "cli-secret-xyz" not in listed.stdout + listed.stderr
    db_bytes = (Path(cli_env["GATEWAY_DATA_DIR"]) / "gateway.db").read_bytes()
    assert b"cli-secret-xyz" not in db_bytes
    assert gateway(cli_env, "oauth-client", "delete", "--provider", "slack").returncode == 0
    assert "no system OAuth clients" in gateway(cli_env, "oauth-client", "list").stdout


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "JSON object"),
        ('{"client_id": "x"}', "client_secret"),
        ('{"client_id": "x", "client_secret": "y", "scopes": "a b"}', "scopes"),
    ],
)
def test_oauth_client_bad_params_exit_2(cli_env: dict[str, str], params: str, message: str) -> None:
    r = gateway(cli_env, "oauth-client", "set", "--provider", "slack", "--client-params", params)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_keys_generate_prints_a_usable_line_last(cli_env: dict[str, str]) -> None:
    r = gateway(cli_env, "keys", "generate")
    assert r.returncode == 0
    last = r.stdout.strip().splitlines()[-1]
    kid, b64 = last.split(":", 1)
    assert kid
    assert len(b64) == 44


def test_keys_rotate_and_status(cli_env: dict[str, str]) -> None:
    gateway(cli_env, "db", "upgrade")
    params = json.dumps({"client_id": "a", "client_secret": "b"})
    gateway(cli_env, "oauth-client", "set", "--provider", "discord", "--client-params", params)
    env = dict(
        cli_env,
        GATEWAY_ENCRYPTION_KEYS=generate_key_line("cli2")
        + ","
        + cli_env["GATEWAY_ENCRYPTION_KEYS"],
    )
    before = gateway(env, "keys", "status")
    assert "cli1\t1 rows\tin use" in before.stdout
    rotated = gateway(env, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "cli1\t0 rows\tretirable" in rotated.stdout
    assert "cli2\t1 rows\tprimary" in rotated.stdout


def test_doctor_reports_and_exits(cli_env: dict[str, str], tmp_path: Path) -> None:
    cli_env = dict(cli_env, GATEWAY_DATA_DIR=str(tmp_path))
    gateway(cli_env, "db", "upgrade")
    healthy = gateway(cli_env, "doctor")
    assert healthy.returncode == 0, healthy.stdout
    assert "✓ migrations: up to date" in healthy.stdout
    assert "✓ encryption keys" in healthy.stdout
    broken = gateway(dict(cli_env, GATEWAY_REDIS_URL="redis://127.0.0.1:1/0"), "doctor")
    assert broken.returncode == 1
    assert "✗ queue: Redis unreachable" in broken.stdout
    assert "→ check GATEWAY_REDIS_URL" in broken.stdout
