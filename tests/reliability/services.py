"""Private PostgreSQL and Redis instances that a test may stop and start at will.

Stopping the shared services inside a test would break every other test, so outage tests run
against their own instances on free loopback ports, torn down afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "FLUSHALL"], check=True, capture_output=True
        )
