"""Private PostgreSQL and Redis instances that a test may stop and start at will, a database of
its own on the shared PostgreSQL server, and real ``gateway`` OS processes.

Stopping the shared services inside a test would break every other test, so outage tests run
against their own instances on free loopback ports, torn down afterwards.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from gateway.kit.crypto import generate_key_line
from gateway.kit.db import create_engine
from gateway.kit.migrations import upgrade
from gateway.kit.settings import Settings
from tests.conftest import _create_pg_database, _drop_pg_database
from tests.reliability.conftest import free_port


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL server binary {name} not found")
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class PrivatePostgres:
    port: int
    datadir: Path
    _root: Path = field(repr=False)

    @classmethod
    def create(cls) -> PrivatePostgres:
        root = Path(tempfile.mkdtemp(prefix="gwpg-"))
        datadir = root / "data"
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(datadir),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        pg = cls(free_port(), datadir, root)
        pg.start()
        return pg

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "-l",
                    str(self._root / "log"),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
            timeout=60,
        )

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


@dataclass
class PrivateRedis:
    port: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls) -> PrivateRedis:
        redis = cls(free_port())
        redis.start()
        return redis

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def flushall(self) -> None:
        self.command("FLUSHALL")

    def command(self, *args: str) -> str:
        """Run one command with ``redis-cli``; its raw reply."""
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout.strip()


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A migrated database of its own on the shared PostgreSQL server, dropped afterwards.

    Worker processes run the sweepers over the whole database: a database of its own keeps
    them away from rows other tests left behind (and those tests' rows away from them).
    """
    url = await _create_pg_database(server_url)
    try:
        engine = create_engine(Settings(database_url=url))
        try:
            await upgrade(engine, Settings(database_url=url))
        finally:
            await engine.dispose()
        yield url
    finally:
        await _drop_pg_database(server_url, url)


def gateway_env(**values: str) -> dict[str, str]:
    """This environment without any ``GATEWAY_*`` variable, plus ``GATEWAY_<NAME>`` values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({f"GATEWAY_{name.upper()}": value for name, value in values.items()})
    return env


@dataclass
class GatewayProcess:
    """One ``gateway serve`` / ``gateway worker`` OS process, started as an operator would;
    its output goes to a log file that failing tests print."""

    args: list[str]
    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli.main", *self.args],
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def exited(self) -> int | None:
        """The exit code once the process ended, else None."""
        return None if self.process is None else self.process.poll()

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0
    ) -> tuple[int, float]:
        """Send ``sig`` and wait: (exit code, seconds it took). Kills it if it outlives
        ``timeout`` and reports the kill as exit code -9."""
        assert self.process is not None
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            code = -9
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_healthy(base_url: str, process: GatewayProcess, timeout: float = 60.0) -> None:
    """Until ``GET /healthz`` answers 200; raises if the process dies or never gets there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.exited() is not None:
            raise RuntimeError(f"gateway exited during start-up:\n{process.log()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gateway did not become healthy:\n{process.log()[-4000:]}")


def private_settings(
    name: str, database_url: str, redis: PrivateRedis, data_dir: Path, **extra: Any
) -> Settings:
    """Settings for an app or worker on a scratch database and a private Redis (its own queue
    name and encryption key; loopback allowed for the test's subscriber)."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis.url,
        queue_name=f"{name}:{secrets.token_hex(4)}",
        encryption_keys=SecretStr(generate_key_line(name)),
        outbound_allowlist="127.0.0.0/8",
        **extra,
    )
