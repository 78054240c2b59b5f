"""Production refuses to start on a dangerous configuration: one line, exit ≠ 0, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app as cli_app
from gateway.kit.crypto import generate_key_line

GOOD = {
    "GATEWAY_ENV": "production",
    "GATEWAY_ENCRYPTION_KEYS": generate_key_line("prod1"),
    "GATEWAY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    "GATEWAY_PUBLIC_BASE_URL": "https://gateway.example.com",
    "GATEWAY_REDIS_URL": "redis://127.0.0.1:1/0",
}


def _env(overrides: dict[str, str | None], tmp_path: Path) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GATEWAY_")}
    env.update(GOOD)
    env.update(overrides)
    env["GATEWAY_DATA_DIR"] = str(tmp_path)
    return env


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"GATEWAY_ENCRYPTION_KEYS": None}, "GATEWAY_ENCRYPTION_KEYS"),
        ({"GATEWAY_DATABASE_URL": "sqlite+aiosqlite:///x.db"}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": None}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_PUBLIC_BASE_URL": None}, "GATEWAY_PUBLIC_BASE_URL"),
        ({"GATEWAY_REDIS_URL": None}, "GATEWAY_REDIS_URL"),
        ({"GATEWAY_ENCRYPTION_KEYS": "k1:not-base64!"}, "key"),
        ({"GATEWAY_MAX_BODY_BYTES": "tiny"}, "GATEWAY_MAX_BODY_BYTES"),
    ],
)
def test_refuses_with_one_line(
    overrides: dict[str, str | None], mentions: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--port", "1"], env=_env(overrides, tmp_path))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert mentions in lines[0]
    assert not (tmp_path / "dev-encryption-keys").exists()


def test_real_process_exits_without_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in _env({"GATEWAY_ENCRYPTION_KEYS": None}, tmp_path).items() if v}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}, **env}
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip().startswith("error: GATEWAY_ENCRYPTION_KEYS is required")
