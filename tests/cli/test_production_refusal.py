"""Production refuses to start on a dangerous configuration: one line, exit ≠ 0, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.kit.crypto import generate_key_line

GOOD = {
    "GATEWAY_ENV": "production",
    "GATEWAY_ENCRYPTION_KEYS": generate_key_line("prod1"),
    "GATEWAY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
    "GATEWAY_PUBLIC_BASE_URL": "https://gateway.example.com",
    "GATEWAY_REDIS_URL": "redis://127.0.0.1:1/0",
}


def _serve(
    env_overrides: dict[str, str | None], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GOOD)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["GATEWAY_DATA_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("overrides", "mentions"),
    [
        ({"GATEWAY_ENCRYPTION_KEYS": None}, "GATEWAY_ENCRYPTION_KEYS"),
        ({"GATEWAY_DATABASE_URL": "sqlite+aiosqlite:///x.db"}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_DATABASE_URL": None}, "GATEWAY_DATABASE_URL"),
        ({"GATEWAY_PUBLIC_BASE_URL": None}, "GATEWAY_PUBLIC_BASE_URL"),
        ({"GATEWAY_ENCRYPTION_KEYS": "k1:not-base64!"}, "key"),
    ],
)
def test_refuses_with_one_line(
    overrides: dict[str, str | None], mentions: str, tmp_path: Path
) -> None:
    proc = _serve(overrides, tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert mentions in lines[0]
    assert not (tmp_path / "dev-encryption-keys").exists()
